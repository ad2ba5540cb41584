//! Show files against the real libmpv and the real binary: setlist switching (the songs of the
//! preload window each held in an mpv core; see tests/preload.rs for the window itself), stop
//! behaviours, the status overlay, and `--check`.
//!
//! MIDI goes in through `MidiInlet::receive`, the entry point of every MIDI source; it stands
//! in for an OS port, which this machine does not have.

use playhead::player::{Notice, PlayerInput, PlayerOptions};
use playhead::screen::headless::HeadlessShow;
use playhead::show::Show;
use playhead::transport::FollowMode;
use playhead_testkit::FrameCode;

mod common;
use common::{
    demo, headless_frame as on_screen, second_song, temp_dir, wait_headless_frame as wait_frame,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn write_show(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("tour.playhead.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn start(show_file: &Path) -> HeadlessShow {
    let show = Show::load(show_file).expect("valid show");
    let options = PlayerOptions {
        follow: show.follow.unwrap_or(FollowMode::Chase),
        ..PlayerOptions::default()
    };
    let h = HeadlessShow::start_show(show, &options, 640, 360).expect("start");
    h.wait_ready(Duration::from_secs(20)).expect("ready");
    h
}

#[test]
fn song_select_switches_to_the_preloaded_first_frame_and_start_plays_it() {
    let dir = temp_dir("setlist");
    let encore = second_song(&dir);
    let file = write_show(
        &dir,
        &format!(
            "[[song]]\ntitle = \"Demo\"\nvideo = \"{}\"\n[[song]]\ntitle = \"Encore\"\nvideo = \"{}\"\nnumber = 9\n",
            demo().display(),
            encore.display()
        ),
    );
    let h = start(&file);
    let mut midi = h.inlet("daw");
    assert_eq!(wait_frame(&h, "song 1 armed", |n| n == 0), 0);
    // Wait until the second song is preloaded too.
    std::thread::sleep(Duration::from_millis(500));

    let t = Instant::now();
    midi.receive(&[0xF3, 9], Instant::now());
    loop {
        match h.notices.recv_timeout(Duration::from_secs(5)) {
            Ok(Notice::Switched { song: 1 }) => break,
            Ok(_) => {}
            Err(_) => panic!("no switch to song 2"),
        }
    }
    // The new song's first frame is what the screen shows now, without a load.
    let n = wait_frame(&h, "the encore's first frame", |n| n != 0);
    assert!(
        (1000..=1001).contains(&n),
        "the encore starts at frame code 1000, screen shows {n}"
    );
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "switching took {:?}",
        t.elapsed()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(on_screen(&h), Some(n), "the new song waits paused");

    midi.receive(&[0xF2, 0x00, 0x00, 0xFA], Instant::now());
    wait_frame(&h, "the encore playing", |n| n >= 1015);

    // An unknown song number changes nothing.
    midi.receive(&[0xFC, 0xF3, 42], Instant::now());
    std::thread::sleep(Duration::from_millis(300));
    assert!(on_screen(&h).unwrap() >= 1015);

    // Back to song 1: its first frame again.
    midi.receive(&[0xF3, 0], Instant::now());
    wait_frame(&h, "song 1 again", |n| n == 0);

    // The encore, played before, is back on its first frame (re-armed off screen) when
    // selected again.
    midi.receive(&[0xF3, 9], Instant::now());
    let n = wait_frame(&h, "the encore again", |n| n != 0);
    assert!((1000..=1001).contains(&n), "the encore re-armed: {n}");
}

#[test]
fn a_broken_song_is_skipped_and_the_rest_of_the_show_runs() {
    let dir = temp_dir("broken");
    std::fs::write(dir.join("broken.mp4"), b"not a video at all".repeat(100)).unwrap();
    let file = write_show(
        &dir,
        &format!(
            "[[song]]\nvideo = \"broken.mp4\"\n[[song]]\nvideo = \"{}\"\n",
            demo().display()
        ),
    );
    let h = start(&file);
    // The show moved on to the song that works.
    wait_frame(&h, "the working song", |n| n == 0);
    let mut midi = h.inlet("daw");
    midi.receive(&[0xFA], Instant::now());
    wait_frame(&h, "playback", |n| n >= 10);
    // Selecting the broken song keeps the picture.
    midi.receive(&[0xF3, 0], Instant::now());
    std::thread::sleep(Duration::from_millis(300));
    assert!(on_screen(&h).is_some_and(|n| n >= 10));
}

fn stop_show(dir: &Path, follow: &str, on_stop: &str) -> HeadlessShow {
    let file = write_show(
        dir,
        &format!(
            "follow = \"{follow}\"\non_stop = \"{on_stop}\"\n[[song]]\nvideo = \"{}\"\n",
            demo().display()
        ),
    );
    start(&file)
}

/// The frame on screen, checked to stay the same for `hold`.
fn steady_frame(h: &HeadlessShow, hold: Duration) -> Option<u32> {
    let first = on_screen(h);
    let end = Instant::now() + hold;
    while Instant::now() < end {
        assert_eq!(
            on_screen(h),
            first,
            "the picture moved while it should hold"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    first
}

fn is_black(f: &playhead::screen::headless::Frame) -> bool {
    let lit = f
        .pixels
        .chunks(4)
        .filter(|p| p[0] > 16 || p[1] > 16 || p[2] > 16)
        .count();
    f.frame_number(640, 360).is_none() && lit < 100
}

#[test]
fn stop_behaviours_hold_black_and_rearm() {
    let dir = temp_dir("stop");
    for follow in ["start", "chase"] {
        for on_stop in ["hold", "black", "rearm"] {
            let h = stop_show(&dir, follow, on_stop);
            let mut midi = h.inlet("daw");
            midi.receive(&[0xFA], Instant::now());
            wait_frame(&h, "playback", |n| n >= 20);
            // Stop, then SPP back to where play began, as Reaper does.
            midi.receive(&[0xFC], Instant::now());
            midi.receive(&[0xF2, 0x00, 0x00], Instant::now());
            std::thread::sleep(Duration::from_millis(500));
            let f = h.screen().latest();
            let what = format!("{follow} mode, on_stop = {on_stop}");
            match on_stop {
                // SPP 0 re-arms to frame 0 in both modes; "hold" shows it, paused.
                "hold" => assert_eq!(
                    steady_frame(&h, Duration::from_millis(400)),
                    Some(0),
                    "{what}"
                ),
                "black" => {
                    assert!(is_black(&f), "{what}: the picture must stay black");
                    std::thread::sleep(Duration::from_millis(400));
                    assert!(is_black(&h.screen().latest()), "{what}: still black");
                    // Play brings the picture back.
                    midi.receive(&[0xFA], Instant::now());
                    wait_frame(&h, "the picture after black", |n| n <= 30);
                }
                "rearm" => assert_eq!(
                    steady_frame(&h, Duration::from_millis(400)),
                    Some(0),
                    "{what}"
                ),
                _ => unreachable!(),
            }
        }
    }
}

#[test]
fn stop_without_a_locate_holds_the_frame() {
    let dir = temp_dir("hold");
    let h = stop_show(&dir, "chase", "hold");
    let mut midi = h.inlet("daw");
    midi.receive(&[0xFA], Instant::now());
    wait_frame(&h, "playback", |n| n >= 20);
    midi.receive(&[0xFC], Instant::now());
    std::thread::sleep(Duration::from_millis(200));
    let held = steady_frame(&h, Duration::from_millis(500)).expect("a frame");
    assert!(held >= 20, "held frame {held}");
}

#[test]
fn the_status_overlay_is_drawn_over_the_picture_when_asked() {
    let dir = temp_dir("overlay");
    let file = write_show(
        &dir,
        &format!("[[song]]\nvideo = \"{}\"\n", demo().display()),
    );
    let h = start(&file);
    std::thread::sleep(Duration::from_millis(300));
    let before = h.screen().latest();
    // The top left corner, where the overlay goes (the demo's title is centred).
    let corner = |f: &playhead::screen::headless::Frame| -> Vec<u8> {
        (0..60)
            .flat_map(|y| {
                let row = y * f.stride_bytes;
                f.pixels[row..row + 300 * 4].to_vec()
            })
            .collect()
    };
    h.tx.send(PlayerInput::ToggleOverlay).unwrap();
    let shown = h
        .screen()
        .wait_newer(before.serial, Duration::from_secs(5))
        .expect("a redraw with the overlay");
    assert_ne!(corner(&before), corner(&shown), "the overlay must show");
    assert_eq!(shown.frame_number(640, 360), Some(0), "the picture stays");
    h.tx.send(PlayerInput::ToggleOverlay).unwrap();
    let hidden = h
        .screen()
        .wait_newer(shown.serial, Duration::from_secs(5))
        .expect("a redraw without it");
    assert_eq!(corner(&before), corner(&hidden), "the overlay must go");
}

fn check(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_playhead"))
        .arg("--check")
        .arg("--no-rtp")
        .args(args)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn check_reports_a_good_show_and_each_fault() {
    let dir = temp_dir("check");
    let good = write_show(
        &dir,
        &format!("[[song]]\nvideo = \"{}\"\n", demo().display()),
    );
    let (code, out) = check(&[good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok    video 1"), "{out}");
    assert!(out.contains("640x360, 25.00 fps, 2:00"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("READY")), "{out}");

    let missing = dir.join("missing.playhead.toml");
    std::fs::write(
        &missing,
        format!(
            "[[song]]\nvideo = \"{}\"\n[[song]]\nvideo = \"gone.mp4\"\n",
            demo().display()
        ),
    )
    .unwrap();
    let (code, out) = check(&[missing.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL  video 2"), "{out}");
    assert!(out.contains("gone.mp4"), "{out}");
    assert!(out.contains("NOT READY: 1 problem"), "{out}");

    std::fs::write(dir.join("corrupt.mp4"), b"garbage".repeat(1000)).unwrap();
    let corrupt = dir.join("corrupt.playhead.toml");
    std::fs::write(&corrupt, "[[song]]\nvideo = \"corrupt.mp4\"\n").unwrap();
    let (code, out) = check(&[corrupt.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL  video 1"), "{out}");
    assert!(out.contains("cannot play video"), "{out}");

    let port = dir.join("port.playhead.toml");
    std::fs::write(
        &port,
        format!(
            "midi_ports = [\"UM-ONE\"]\n[[song]]\nvideo = \"{}\"\n",
            demo().display()
        ),
    )
    .unwrap();
    let (code, out) = check(&[port.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL  MIDI port"), "{out}");
    assert!(out.contains("'UM-ONE'"), "{out}");

    let bad = dir.join("bad.playhead.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\n\non_stop = \"fade\"\n[[song]]\nvideo = \"a.mp4\"\n",
    )
    .unwrap();
    let (code, out) = check(&[bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("line 3, on_stop"), "{out}");
    assert!(
        out.contains("\"hold\", \"black\", \"rearm\" or \"idle\""),
        "{out}"
    );
}

#[test]
fn a_show_file_mistake_stops_playhead_with_file_line_and_key() {
    let dir = temp_dir("mistake");
    let bad = dir.join("bad.playhead.toml");
    std::fs::write(&bad, "follow = \"chase\"\n\n[[song]]\nvidoe = \"a.mp4\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_playhead"))
        .arg("--no-rtp")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("playhead: error:"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("bad.playhead.toml"), "{line}");
    assert!(line.contains("line 4"), "{line}");
    assert!(line.contains("vidoe"), "{line}");
}

#[test]
fn the_show_files_settings_reach_the_running_program() {
    let dir = temp_dir("settings");
    let pipe = common::fifo(&dir);
    let file = write_show(
        &dir,
        &format!(
            "name = \"Settings\"\nfollow = \"start\"\non_stop = \"rearm\"\nmidi_devices = [\"{}\"]\n[[song]]\nvideo = \"{}\"\n",
            pipe.file_name().unwrap().to_string_lossy(),
            demo().display()
        ),
    );
    let mut c = common::Playhead::command();
    c.arg("--headless").arg(&file);
    let mut ph = common::Playhead::spawn(c);
    ph.wait_log("show 'Settings' (1 song)", 20 * SECOND_S);
    ph.wait_log("armed:", 20 * SECOND_S);
    // The MIDI device named in the show file (relative to it) is opened for reading.
    let mut midi = open_within(&pipe, 5 * SECOND_S);
    ph.wait_log(
        &format!("reading MIDI from {}", pipe.display()),
        5 * SECOND_S,
    );
    // follow = "start": a Continue leaves the video alone.
    midi.send(&[0xF2, 0x00, 0x02, 0xFB]);
    let line = ph.wait_log("Continue from", 5 * SECOND_S);
    assert!(line.contains("video unchanged"), "{line}");
    // on_stop = "rearm": Stop goes back to frame 0.
    midi.send(&[0xFA]);
    ph.wait_log("-> playing", 5 * SECOND_S);
    midi.send(&[0xFC]);
    let line = ph.wait_log("stop behaviour \"rearm\"", 5 * SECOND_S);
    assert!(line.contains("armed on frame 0"), "{line}");

    // An option typed on the command line wins over the file.
    drop(midi);
    drop(ph);
    let mut c = common::Playhead::command();
    c.args(["--headless", "--follow", "chase"]).arg(&file);
    let mut ph = common::Playhead::spawn(c);
    ph.wait_log("armed:", 20 * SECOND_S);
    let mut midi = open_within(&pipe, 5 * SECOND_S);
    midi.send(&[0xF2, 0x00, 0x02]);
    let line = ph.wait_log("SongPosition { sixteenths: 256 } from", 5 * SECOND_S);
    assert!(line.contains("paused"), "chase mode cues the frame: {line}");
}

const SECOND_S: Duration = Duration::from_secs(1);

/// Opens the pipe's writing end, failing (instead of blocking forever) when playhead does not
/// open its reading end in time.
fn open_within(pipe: &Path, timeout: Duration) -> common::MidiPipe {
    let (tx, rx) = std::sync::mpsc::channel();
    let path = pipe.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(common::MidiPipe::open(&path));
    });
    rx.recv_timeout(timeout)
        .expect("playhead did not open the show file's MIDI device")
}
