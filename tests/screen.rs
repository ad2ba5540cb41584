//! The whole program on a virtual X desktop (Xvfb + matchbox window manager): what the audience
//! would see, read from screenshots through the demo show's frame code.
//!
//! MIDI reaches playhead through a named pipe given as `--midi-device`, read by the same code
//! that reads a raw MIDI device; it stands in for a DAW's cable, since this machine has no MIDI
//! hardware and no ALSA sequencer.

mod common;

use common::*;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

fn wait_until(what: &str, ok: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + 20 * SECOND;
    while !ok() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn first_frame_before_start_later_frames_after_it() {
    let desktop = Desktop::start(1280, 720);
    let dir = temp_dir("screen");
    let pipe = fifo(&dir);
    let mut cmd = Playhead::command();
    cmd.env("DISPLAY", &desktop.display)
        .arg("--midi-device")
        .arg(&pipe)
        .arg(demo());
    let mut ph = Playhead::spawn(cmd);
    ph.wait_log("armed:", 20 * SECOND);
    let mut midi = MidiPipe::open(&pipe);

    // Fullscreen, paused on frame 0, and staying there.
    desktop.wait_frame("the first frame", 20 * SECOND, |n| n == 0);
    assert_eq!(
        desktop.held_frame("before Start"),
        0,
        "frame 0 must hold before Start"
    );

    // The DAW presses play from the top.
    midi.send(&[0xF2, 0x00, 0x00, 0xFA]);
    let line = ph.wait_log("Start from", 20 * SECOND);
    assert!(line.contains("-> playing"), "{line}");
    // How it was timed: at once ("N µs to mpv"), or, when the Start came a few ms late (a
    // loaded machine reading the pipe late), from the frame still due ("on screen in N ms
    // when it is due"). Either way the log says how long it took.
    assert!(
        line.contains("µs to mpv") || line.contains("when it is due"),
        "{line}"
    );
    let n = desktop.wait_frame("playback", 10 * SECOND, |n| n >= 25);
    assert!(n < 3000);

    // Stop holds the frame.
    midi.send(&[0xFC]);
    ph.wait_log("-> holding the frame", 20 * SECOND);
    let held = desktop.held_frame("after Stop");
    assert!(
        held >= n,
        "Stop must hold the frame: held {held}, was at {n}"
    );

    // SPP 0 re-arms on frame 0.
    midi.send(&[0xF2, 0x00, 0x00]);
    desktop.wait_frame("frame 0 after re-arming", 5 * SECOND, |n| n == 0);
}

#[test]
fn operator_keys_play_rewind_and_quit() {
    let desktop = Desktop::start(1280, 720);
    let mut ph = Playhead::spawn({
        let mut c = Playhead::command();
        c.env("DISPLAY", &desktop.display).arg(demo());
        c
    });
    ph.wait_log("armed:", 20 * SECOND);
    desktop.wait_frame("the first frame", 5 * SECOND, |n| n == 0);

    // f leaves fullscreen and comes back to it.
    let window = show_window_id(&desktop.display);
    assert!(
        is_fullscreen(&desktop.display, window),
        "fullscreen by default"
    );
    desktop.key("f");
    wait_until("f leaves fullscreen", || {
        !is_fullscreen(&desktop.display, window)
    });
    desktop.key("f");
    wait_until("f goes fullscreen again", || {
        is_fullscreen(&desktop.display, window)
    });

    desktop.key("space");
    desktop.wait_frame("playback after space", 10 * SECOND, |n| n >= 20);
    desktop.key("Home");
    desktop.wait_frame("frame 0 after Home", 20 * SECOND, |n| n == 0);
    assert_eq!(desktop.held_frame("after Home"), 0, "Home must arm paused");

    desktop.key("q");
    let st = ph.wait_exit(10 * SECOND).expect("q must quit");
    assert!(st.success(), "exit status {st}");
    assert!(ph.log().iter().any(|l| l.contains("quit by the operator")));
}

#[test]
fn kiosk_mode_ignores_quit_keys() {
    let desktop = Desktop::start(1280, 720);
    let mut ph = Playhead::spawn({
        let mut c = Playhead::command();
        c.env("DISPLAY", &desktop.display)
            .arg("--kiosk")
            .arg(demo());
        c
    });
    ph.wait_log("armed:", 20 * SECOND);
    desktop.wait_frame("the first frame", 5 * SECOND, |n| n == 0);
    let window = show_window_id(&desktop.display);
    assert!(is_fullscreen(&desktop.display, window));
    for key in ["q", "Escape", "f"] {
        desktop.key(key);
    }
    // The operator's play key still works; typed after the others, it is handled after
    // them, so once it has played, they were handled and did nothing.
    desktop.key("space");
    ph.wait_log("operator key TogglePlay", 20 * SECOND);
    desktop.wait_frame("playback after space", 20 * SECOND, |n| n >= 10);
    assert!(ph.is_running(), "kiosk mode must not quit on keys");
    assert!(
        is_fullscreen(&desktop.display, window),
        "f must not leave fullscreen in kiosk mode"
    );
}

fn run_to_exit(mut cmd: std::process::Command) -> (i32, String) {
    cmd.stderr(std::process::Stdio::piped());
    let out = cmd.output().expect("run playhead");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn error_line(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.starts_with("playhead: error:"))
        .unwrap_or_else(|| panic!("no 'playhead: error:' line in:\n{stderr}"))
        .to_string()
}

#[test]
fn missing_video_gives_one_line_and_exit_1() {
    let mut cmd = Playhead::command();
    cmd.arg("/no/such/show.mp4");
    let (code, stderr) = run_to_exit(cmd);
    assert_eq!(code, 1, "{stderr}");
    let line = error_line(&stderr);
    assert!(line.contains("'/no/such/show.mp4'"), "{line}");
    assert!(line.contains("check the path"), "{line}");
}

#[test]
fn corrupt_video_gives_one_line_and_exit_1() {
    let desktop = Desktop::start(640, 360);
    let dir = temp_dir("corrupt");
    let path = dir.join("broken.mov");
    std::fs::write(
        &path,
        b"this is not a video, just text in a .mov file\n".repeat(500),
    )
    .unwrap();
    let mut cmd = Playhead::command();
    cmd.env("DISPLAY", &desktop.display).arg(&path);
    let (code, stderr) = run_to_exit(cmd);
    assert_eq!(code, 1, "{stderr}");
    let line = error_line(&stderr);
    assert!(line.contains("broken.mov"), "{line}");
    assert!(line.contains("cannot play video"), "{line}");
}

#[test]
fn unknown_option_is_named() {
    let mut cmd = Playhead::command();
    cmd.arg("--frobnicate");
    let (code, stderr) = run_to_exit(cmd);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("'--frobnicate'"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn no_display_says_what_to_do() {
    let mut cmd = Playhead::command();
    cmd.env_remove("DISPLAY").arg(demo());
    let (code, stderr) = run_to_exit(cmd);
    assert_eq!(code, 1, "{stderr}");
    let line = error_line(&stderr);
    assert!(line.contains("graphical session"), "{line}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_setlist_switches_songs_on_screen_and_tab_shows_the_status() {
    let desktop = Desktop::start(1280, 720);
    let dir = temp_dir("setlist-screen");
    let encore = second_song(&dir);
    let show = dir.join("tour.playhead.toml");
    std::fs::write(
        &show,
        format!(
            "[[song]]\nvideo = \"{}\"\n[[song]]\nvideo = \"{}\"\nnumber = 9\n",
            demo().display(),
            encore.display()
        ),
    )
    .unwrap();
    let pipe = fifo(&dir);
    let mut ph = Playhead::spawn({
        let mut c = Playhead::command();
        c.env("DISPLAY", &desktop.display)
            .arg("--midi-device")
            .arg(&pipe)
            .arg(&show);
        c
    });
    ph.wait_log("armed:", 20 * SECOND);
    ph.wait_log("song 2 'encore' preloaded", 20 * SECOND);
    let mut midi = MidiPipe::open(&pipe);
    desktop.wait_frame("song 1", 5 * SECOND, |n| n == 0);

    midi.send(&[0xF3, 9]);
    ph.wait_log("song 2 'encore' selected", 20 * SECOND);
    desktop.wait_frame("the encore's first frame", 5 * SECOND, |n| n == 1000);
    midi.send(&[0xF2, 0x00, 0x00, 0xFA]);
    desktop.wait_frame("the encore playing", 10 * SECOND, |n| n > 1010);

    // Tab: the status overlay over the picture, top left; Tab again takes it away.
    midi.send(&[0xFC]);
    ph.wait_log("Stop from", 20 * SECOND);
    desktop.held_frame("after Stop");
    let corner = |px: &[u8]| -> Vec<u8> {
        (0..120)
            .flat_map(|y| px[y * 1280 * 3..y * 1280 * 3 + 500 * 3].to_vec())
            .collect()
    };
    let before = corner(&desktop.screenshot());
    desktop.key("Tab");
    ph.wait_log("status overlay shown", 20 * SECOND);
    wait_until("the overlay shows", || {
        corner(&desktop.screenshot()) != before
    });
    desktop.key("Tab");
    ph.wait_log("status overlay hidden", 20 * SECOND);
    wait_until("the overlay goes", || {
        corner(&desktop.screenshot()) == before
    });
}
