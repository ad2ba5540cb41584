//! Between songs: the idle loop is on screen and moving before the first Start, the song's
//! frame 0 replaces it at once on SPP 0, and it returns after Stop with on_stop = "idle". A
//! still image as a song's video is held while the song plays.
//!
//! The idle loop is the demo from 80 s (frame codes 2000 on) cut to 2 s; the still image is
//! the demo's frame 2500 as a PNG, both made by ffmpeg.

mod common;

use common::{demo, headless_frame as frame, start_mode, temp_dir, wait_headless_frame};
use playhead::screen::headless::HeadlessShow;
use playhead::show::Show;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

fn ffmpeg(args: &[&str], out: &Path) {
    let st = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .expect("ffmpeg (Debian package ffmpeg; packaging/quickstart.sh test installs it)");
    assert!(st.success());
}

/// A 2-s loop whose frame codes run from 2000.
fn idle_loop(dir: &Path) -> PathBuf {
    let out = dir.join("walkin-loop.mp4");
    let demo = demo();
    let demo = demo.to_str().unwrap();
    ffmpeg(
        &[
            "-ss",
            "80",
            "-i",
            demo,
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-an",
        ],
        &out,
    );
    out
}

fn start(text: &str, dir: &Path) -> HeadlessShow {
    let _ = env_logger::builder().is_test(true).try_init();
    let file = dir.join("show.playhead.toml");
    std::fs::write(&file, text).unwrap();
    let show = Show::load(&file).expect("the show file");
    let h = HeadlessShow::start_show(show, &start_mode(), 640, 360).expect("the player");
    h.wait_ready(20 * SECOND).expect("first frame");
    h
}

/// Waits until the idle loop is on screen and has moved on (and looped back) once.
fn wait_idle_looping(h: &HeadlessShow, what: &str) {
    let first = wait_headless_frame(h, what, |n| (2000..2060).contains(&n));
    let later = wait_headless_frame(h, &format!("{what}, moving"), |n| {
        (2000..2060).contains(&n) && n != first
    });
    // A loop comes back to its start: a frame code lower than one seen before.
    wait_headless_frame(h, &format!("{what}, looping"), |n| {
        (2000..2060).contains(&n) && n < later
    });
}

#[test]
fn the_idle_loop_plays_between_songs_and_gives_way_at_once() {
    let dir = temp_dir("idle-loop");
    let idle = idle_loop(&dir);
    let text = format!(
        "on_stop = \"idle\"\nidle = \"{}\"\n[[song]]\ntitle = \"Opener\"\nvideo = \"{}\"\n",
        idle.display(),
        demo().display()
    );
    let h = start(&text, &dir);
    wait_idle_looping(&h, "the idle loop before the first Start");
    assert!(h.status.latest().1.idle, "the status says idle");

    let mut midi = h.inlet("daw");
    let spp_at = Instant::now();
    midi.receive(&[0xF2, 0, 0], Instant::now());
    wait_headless_frame(&h, "the song's frame 0 on SPP 0", |n| n == 0);
    eprintln!(
        "SPP 0 to the song's frame 0 over the idle loop: {:.1} ms",
        spp_at.elapsed().as_secs_f64() * 1000.0
    );
    midi.receive(&[0xFA], Instant::now());
    wait_headless_frame(&h, "the song playing", |n| (25..2000).contains(&n));
    midi.receive(&[0xFC], Instant::now());
    wait_idle_looping(&h, "the idle loop after Stop");

    // The song was re-armed behind the loop: Start plays it from the top.
    midi.receive(&[0xFA], Instant::now());
    let n = wait_headless_frame(&h, "the song again from the top", |n| n < 2000);
    assert!(n < 50, "re-armed on frame 0, not where it stopped: {n}");
}

#[test]
fn a_start_replaces_the_idle_loop_with_the_song() {
    let dir = temp_dir("idle-start");
    let idle = idle_loop(&dir);
    let text = format!(
        "idle = \"{}\"\n[[song]]\nvideo = \"{}\"\n",
        idle.display(),
        demo().display()
    );
    let h = start(&text, &dir);
    wait_idle_looping(&h, "the idle loop");
    h.inlet("daw").receive(&[0xFA], Instant::now());
    let n = wait_headless_frame(&h, "the song on Start", |n| n < 2000);
    assert!(n < 25, "from its first frames: {n}");
}

#[test]
fn a_still_image_is_held_while_its_song_plays() {
    let dir = temp_dir("idle-still");
    let still = dir.join("title.png");
    let demo_path = demo();
    ffmpeg(
        &[
            "-ss",
            "100",
            "-i",
            demo_path.to_str().unwrap(),
            "-frames:v",
            "1",
        ],
        &still,
    );
    let text = format!(
        "[[song]]\ntitle = \"Title card\"\nvideo = \"{}\"\n",
        still.display()
    );
    let h = start(&text, &dir);
    wait_headless_frame(&h, "the still image", |n| n == 2500);
    h.inlet("daw").receive(&[0xFA], Instant::now());
    let deadline = Instant::now() + 5 * SECOND;
    while h.status.latest().1.state != "playing" {
        assert!(Instant::now() < deadline, "never playing");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Held through several seconds of the song: still the image, never black or gone.
    let until = Instant::now() + 3 * SECOND;
    while Instant::now() < until {
        assert_eq!(
            frame(&h),
            Some(2500),
            "the image is held while the song plays"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(h.status.latest().1.state, "playing");
}

#[test]
fn idle_content_that_cannot_play_leaves_the_song_on_screen() {
    let dir = temp_dir("idle-broken");
    let broken = dir.join("not-a-video.mp4");
    std::fs::write(&broken, b"this is not a video").unwrap();
    let text = format!(
        "on_stop = \"idle\"\nidle = \"{}\"\n[[song]]\nvideo = \"{}\"\n",
        broken.display(),
        demo().display()
    );
    let h = start(&text, &dir);
    // The song's frame 0, not an empty idle screen, once mpv has refused the file.
    let deadline = Instant::now() + 10 * SECOND;
    while h.status.latest().1.idle || frame(&h) != Some(0) {
        assert!(
            Instant::now() < deadline,
            "the song's frame 0 never came back"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut midi = h.inlet("daw");
    midi.receive(&[0xFA], Instant::now());
    wait_headless_frame(&h, "the song playing", |n| n >= 25);
    midi.receive(&[0xFC], Instant::now());
    let deadline = Instant::now() + 5 * SECOND;
    while h.status.latest().1.state != "armed" {
        assert!(Instant::now() < deadline, "on_stop = idle re-arms the song");
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_headless_frame(&h, "frame 0, not the broken idle content", |n| n == 0);
    assert!(!h.status.latest().1.idle);
}

#[test]
fn check_reports_the_idle_content() {
    let dir = temp_dir("idle-check");
    let idle = idle_loop(&dir);
    let text = format!(
        "idle = \"{}\"\n[[song]]\nvideo = \"{}\"\n[[song]]\nvideo = \"{}\"\n",
        idle.display(),
        demo().display(),
        demo().display()
    );
    let (ok, report) = check(&dir, &text);
    assert!(ok, "{report}");
    assert!(
        report.contains("ok    idle") && report.contains("walkin-loop.mp4"),
        "{report}"
    );
}

/// `playhead --check` on a show file with `text`: whether it passed, and its report.
fn check(dir: &Path, text: &str) -> (bool, String) {
    let file = dir.join("check.playhead.toml");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_playhead"))
        .args(["--check", "--no-rtp"])
        .arg(&file)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn check_fails_when_the_idle_image_is_missing() {
    let dir = temp_dir("idle-missing");
    // The show-wide idle image, and one song's own: both missing.
    let text = format!(
        "idle = \"walkin.png\"\n[[song]]\nvideo = \"{}\"\n[[song]]\nvideo = \"{}\"\nidle = \"logo.jpg\"\n",
        demo().display(),
        demo().display()
    );
    let (ok, report) = check(&dir, &text);
    assert!(!ok, "a missing idle image stops the check: {report}");
    for name in ["walkin.png", "logo.jpg"] {
        assert!(
            report
                .lines()
                .any(|l| l.contains("FAIL  idle") && l.contains(name)),
            "{name} named as missing: {report}"
        );
    }
    assert!(report.contains("NOT READY: 2 problems"), "{report}");
}

#[test]
fn a_song_that_cannot_load_shows_the_idle_loop_and_start_leaves_it_there() {
    use playhead::player::Notice;
    let dir = temp_dir("idle-unloadable");
    let idle = idle_loop(&dir);
    let text = format!(
        "idle = \"{}\"\n[[song]]\ntitle = \"Opener\"\nvideo = \"{}\"\n\
         [[song]]\ntitle = \"Gone\"\nvideo = \"gone.mp4\"\nnumber = 5\n",
        idle.display(),
        demo().display()
    );
    let h = start(&text, &dir);
    let mut midi = h.inlet("daw");
    midi.receive(&[0xFA], Instant::now());
    wait_headless_frame(&h, "the opener playing", |n| (25..2000).contains(&n));
    midi.receive(&[0xFC], Instant::now());
    midi.receive(&[0xF3, 5], Instant::now());
    common::notices_until(&h, "the song that cannot play", |n| {
        matches!(n, Notice::CannotPlay { song: 1, .. })
    });
    // The idle loop, not the opener's picture.
    wait_idle_looping(&h, "the idle loop for the song that cannot load");
    let (_, st) = h.status.latest();
    assert!(st.idle, "{st:?}");
    assert!(
        st.song_error
            .as_deref()
            .is_some_and(|e| e.contains("gone.mp4")),
        "{st:?}"
    );
    // Start plays nothing: the loop stays.
    midi.receive(&[0xFA], Instant::now());
    common::notices_until(&h, "the Start refused", |n| {
        matches!(n, Notice::CannotPlay { song: 1, .. })
    });
    wait_idle_looping(&h, "the idle loop after Start");
    assert!(h.status.latest().1.idle);
}
