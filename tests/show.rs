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
    demo, held_frame, notices_until, redraws, second_song, temp_dir, wait_cue,
    wait_headless_frame as wait_frame,
};
use playhead::transport::Cue;
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
    // Wait until the second song is preloaded too: its first frame is drawn, off screen.
    let preloaded = h
        .deck_screen(1)
        .expect("a screen for song 2")
        .wait_newer(0, Duration::from_secs(20))
        .expect("song 2 preloaded");
    assert_eq!(preloaded.frame_number(640, 360), Some(1000));
    assert_eq!(
        h.screen().latest().frame_number(640, 360),
        Some(0),
        "song 1 is still on screen"
    );

    midi.receive(&[0xF3, 9], Instant::now());
    notices_until(&h, "the switch to song 2", |n| {
        *n == Notice::Switched { song: 1 }
    });
    // The new song's first frame is on screen the moment the switch is made: the one drawn
    // while preloading, nothing is loaded now.
    let n = h.screen().latest().frame_number(640, 360);
    assert!(
        n.is_some_and(|n| (1000..=1001).contains(&n)),
        "the encore starts at frame code 1000, screen shows {n:?} at the switch"
    );
    assert_eq!(held_frame(&h), n.unwrap(), "the new song waits paused");

    midi.receive(&[0xF2, 0x00, 0x00, 0xFA], Instant::now());
    wait_frame(&h, "the encore playing", |n| n >= 1015);

    // An unknown song number changes nothing: the player takes it (the overlay redraws asked
    // after it come through) and no switch was made.
    midi.receive(&[0xFC, 0xF3, 42], Instant::now());
    wait_cue(&h, |c| *c == Cue::Hold);
    assert!(held_frame(&h) >= 1015, "the encore stays on screen");
    let switched: Vec<_> = h
        .notices
        .try_iter()
        .filter(|n| matches!(n, Notice::Switched { .. }))
        .collect();
    assert!(switched.is_empty(), "song 42 does not exist: {switched:?}");

    // Back to song 1: its first frame again.
    let encore = h.deck_screen(1).expect("a screen for song 2");
    let played = encore.latest().serial;
    midi.receive(&[0xF3, 0], Instant::now());
    notices_until(&h, "the switch back to song 1", |n| {
        *n == Notice::Switched { song: 0 }
    });
    wait_frame(&h, "song 1 again", |n| n == 0);

    // The encore, played before, goes back to its first frame off screen, and that is what
    // shows the moment it is selected again.
    let mut rearmed = encore
        .wait_newer(played, Duration::from_secs(20))
        .expect("the encore re-armed off screen");
    while rearmed.frame_number(640, 360) != Some(1000) {
        rearmed = encore
            .wait_newer(rearmed.serial, Duration::from_secs(20))
            .expect("the encore back on its first frame off screen");
    }
    midi.receive(&[0xF3, 9], Instant::now());
    notices_until(&h, "the switch to song 2 again", |n| {
        *n == Notice::Switched { song: 1 }
    });
    let n = h.screen().latest().frame_number(640, 360);
    assert_eq!(n, Some(1000), "the encore re-armed");
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
}

#[test]
fn a_song_that_cannot_load_shows_black_and_start_does_not_play_the_song_before() {
    // Preloaded (its failure known before it is selected), and loaded only when selected
    // (found missing then).
    for preload in ["1", "0"] {
        let dir = temp_dir(&format!("unloadable-{preload}"));
        let file = write_show(
            &dir,
            &format!(
                "preload = {preload}\n[[song]]\ntitle = \"Opener\"\nvideo = \"{}\"\n\
                 [[song]]\ntitle = \"Gone\"\nvideo = \"gone.mp4\"\nnumber = 5\n",
                demo().display()
            ),
        );
        let what = format!("preload = {preload}");
        let h = start(&file);
        let mut midi = h.inlet("daw");
        midi.receive(&[0xFA], Instant::now());
        wait_frame(&h, "the opener playing", |n| n >= 10);
        midi.receive(&[0xFC], Instant::now());
        wait_cue(&h, |c| *c == Cue::Hold);

        midi.receive(&[0xF3, 5], Instant::now());
        let seen = notices_until(&h, "the song that cannot play", |n| {
            matches!(n, Notice::CannotPlay { song: 1, .. })
        });
        match seen.last() {
            Some(Notice::CannotPlay { why, .. }) => {
                assert!(why.contains("gone.mp4"), "{what}: {why}")
            }
            _ => unreachable!(),
        }
        wait_black(&h, &format!("{what}: the song that cannot load"));
        let (_, st) = h.status.latest();
        assert_eq!(
            st.song.index, 2,
            "{what}: the status names the song selected"
        );
        let error = st.song_error.clone().unwrap_or_default();
        assert!(
            error.contains("gone.mp4"),
            "{what}: the status says why: {st:?}"
        );
        assert!(
            st.warnings.iter().any(|w| w.contains("gone.mp4")),
            "{what}: {st:?}"
        );

        // The DAW's Start plays nothing: the player refuses it, and every redraw after it is
        // black, not the opener.
        midi.receive(&[0xFA], Instant::now());
        notices_until(&h, "the Start refused", |n| {
            matches!(n, Notice::CannotPlay { song: 1, .. })
        });
        for f in redraws(&h) {
            // The overlay says why the song cannot play, over a few more lines.
            assert!(
                is_black_below(&f, 200),
                "{what}: the screen stays black after Start, frame {:?}",
                f.frame_number(640, 360)
            );
        }

        // Back to the opener: its first frame, and Start plays it.
        midi.receive(&[0xFC, 0xF3, 0], Instant::now());
        notices_until(&h, "the switch back to the opener", |n| {
            *n == Notice::Switched { song: 0 }
        });
        wait_frame(&h, "the opener again", |n| n == 0);
        assert_eq!(h.status.latest().1.song_error, None, "{what}");
        midi.receive(&[0xFA], Instant::now());
        wait_frame(&h, "the opener playing again", |n| n >= 10);
    }
}

#[test]
fn a_selected_song_that_could_not_load_comes_on_screen_once_reopened() {
    let dir = temp_dir("unloadable-reopen");
    let encore = second_song(&dir);
    let late = dir.join("late.mp4");
    let file = write_show(
        &dir,
        &format!(
            "[[song]]\nvideo = \"{}\"\n[[song]]\ntitle = \"Late\"\nvideo = \"late.mp4\"\nnumber = 5\n",
            demo().display()
        ),
    );
    let h = start(&file);
    let mut midi = h.inlet("daw");
    midi.receive(&[0xF3, 5], Instant::now());
    notices_until(&h, "the song that cannot play", |n| {
        matches!(n, Notice::CannotPlay { song: 1, .. })
    });
    wait_black(&h, "the song that cannot load");
    // The file arrives; the operator re-opens it from the page: its first frame replaces the
    // black, and Start plays it.
    std::fs::copy(&encore, &late).unwrap();
    h.tx.send(PlayerInput::Remote(
        playhead::player::RemoteCommand::Reopen,
        Instant::now(),
        "the test".into(),
    ))
    .unwrap();
    notices_until(&h, "the song on screen", |n| {
        *n == Notice::Switched { song: 1 }
    });
    wait_frame(&h, "the late song's first frame", |n| n == 1000);
    assert_eq!(h.status.latest().1.song_error, None);
    midi.receive(&[0xFA], Instant::now());
    wait_frame(&h, "the late song playing", |n| n >= 1010);
}

/// The demo's first 10 s, re-muxed with its index at the front (`+faststart`), as a finished
/// export would be.
fn faststart_video(dir: &Path) -> PathBuf {
    let out = dir.join("whole.mp4");
    let st = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-i"])
        .arg(demo())
        .args(["-t", "10", "-c", "copy", "-an", "-movflags", "+faststart"])
        .arg(&out)
        .status()
        .expect("ffmpeg (Debian package ffmpeg; packaging/quickstart.sh test installs it)");
    assert!(st.success());
    out
}

/// The 10-s video cut to its first 30 % of bytes: its index (at the front) says 10 s, its
/// frames stop near 3 s, as an unfinished copy.
fn truncated_video(dir: &Path) -> PathBuf {
    let bytes = std::fs::read(faststart_video(dir)).unwrap();
    let out = dir.join("cut.mp4");
    std::fs::write(&out, &bytes[..bytes.len() * 3 / 10]).unwrap();
    out
}

/// The 10-s video with a broken index: the sizes the index gives the last 40 % of its frames
/// are 3 bytes too large, so from 6 s on the frames are read from the wrong places.
fn index_broken_video(dir: &Path) -> PathBuf {
    let mut bytes = std::fs::read(faststart_video(dir)).unwrap();
    let at = bytes
        .windows(4)
        .position(|w| w == b"stsz")
        .expect("a sample size table");
    let word = |b: &[u8], i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap());
    assert_eq!(word(&bytes, at + 8), 0, "one size per frame");
    let count = word(&bytes, at + 12) as usize;
    for k in count * 6 / 10..count {
        let i = at + 16 + 4 * k;
        let size = word(&bytes, i) + 3;
        bytes[i..i + 4].copy_from_slice(&size.to_be_bytes());
    }
    let out = dir.join("bad-index.mp4");
    std::fs::write(&out, bytes).unwrap();
    out
}

#[test]
fn check_fails_a_truncated_video_and_one_with_a_broken_index() {
    let dir = temp_dir("check-broken-media");
    let whole = faststart_video(&dir);
    let cut = truncated_video(&dir);
    let bad_index = index_broken_video(&dir);
    let file = write_show(
        &dir,
        &format!(
            "[[song]]\nvideo = \"{}\"\n[[song]]\nvideo = \"{}\"\n[[song]]\nvideo = \"{}\"\n",
            whole.display(),
            cut.display(),
            bad_index.display()
        ),
    );
    let (code, out) = check(&[file.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("ok    video 1"),
        "the whole file passes: {out}"
    );
    let line = |n: usize| {
        out.lines()
            .find(|l| l.contains(&format!("FAIL  video {n}")))
            .unwrap_or_else(|| panic!("video {n} fails: {out}"))
            .to_string()
    };
    let cut_line = line(2);
    assert!(cut_line.contains("cut.mp4"), "{cut_line}");
    assert!(cut_line.contains("of its 10.0 s"), "{cut_line}");
    let ends_s: f64 = cut_line
        .split("ends at ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("where it ends: {cut_line}"));
    assert!((2.0..=4.5).contains(&ends_s), "{cut_line}");
    let bad_line = line(3);
    assert!(bad_line.contains("bad-index.mp4"), "{bad_line}");
    assert!(bad_line.contains("of its 10.0 s"), "{bad_line}");
    assert!(out.contains("NOT READY: 2 problems"), "{out}");
}

#[test]
fn a_video_that_ends_early_is_a_warning_when_playback_reaches_the_cut() {
    let dir = temp_dir("cut-in-show");
    for (video, cut_s) in [
        (truncated_video(&dir), 2.0..4.5),
        (index_broken_video(&dir), 4.0..7.5),
    ] {
        let name = video.file_name().unwrap().to_string_lossy().into_owned();
        let file = write_show(
            &dir,
            &format!(
                "follow = \"start\"\n[[song]]\ntitle = \"Cut\"\nvideo = \"{}\"\n",
                video.display()
            ),
        );
        let h = start(&file);
        h.inlet("daw").receive(&[0xFA], Instant::now());
        let seen = notices_until(
            &h,
            &format!("the warning for {name}"),
            |n| matches!(n, Notice::Warning(w) if w.contains("ended at")),
        );
        let Some(Notice::Warning(text)) = seen.last() else {
            unreachable!()
        };
        assert!(text.contains(&name), "{text}");
        assert!(text.contains("of its 10.0 s"), "{text}");
        let at_s: f64 = text
            .split("ended at ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("where it ended: {text}"));
        assert!(cut_s.contains(&at_s), "{text}");
        if name == "bad-index.mp4" {
            // The frames read from the wrong places do not decode: said as it happens.
            assert!(
                seen.iter().any(|n| matches!(
                    n,
                    Notice::Warning(w) if w.contains("stopped decoding") && w.contains(&name)
                )),
                "{seen:?}"
            );
        }
        // On the status page too, and in the overlay's lines.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut board = h.status.latest();
        while !board.1.warnings.iter().any(|w| w == text) {
            board = h.status.wait_newer(board.0, Duration::from_secs(1));
            assert!(
                Instant::now() < deadline,
                "no warning on the page: {:?}",
                board.1
            );
        }
    }
}

#[test]
fn a_start_past_the_cut_is_a_warning() {
    let dir = temp_dir("start-past-cut");
    let cut = truncated_video(&dir);
    // 120 BPM: a sixteenth is 0.125 s, so Song Position 48 is 6 s in, past the cut near 3 s.
    let file = write_show(
        &dir,
        &format!(
            "follow = \"chase\"\n[[song]]\nvideo = \"{}\"\nbpm = 120\n",
            cut.display()
        ),
    );
    let h = start(&file);
    let mut midi = h.inlet("daw");
    midi.receive(&[0xF2, 48, 0], Instant::now());
    wait_cue(&h, |c| matches!(c, Cue::Locate { play: false, .. }));
    // Continue and its first clock, on which the song starts (a Continue with no clock after
    // it would start 31 ms later, timed from the Continue: a frame or so further in).
    let now = Instant::now();
    midi.receive(&[0xFB], now);
    midi.receive(&[0xF8], now);
    // What mpv says on the way (the data stops: "stopped decoding"), then the end it reached
    // with no picture there.
    let seen = notices_until(
        &h,
        "the warning for a start past the cut",
        |n| matches!(n, Notice::Warning(w) if w.contains("has no picture at 6.0 s")),
    );
    for text in seen.iter().filter_map(|n| match n {
        Notice::Warning(w) => Some(w),
        _ => None,
    }) {
        assert!(
            text.contains("cut.mp4") && text.contains("of its 10.0 s"),
            "{text}"
        );
    }
}

#[test]
fn a_video_truncated_while_preloaded_is_a_warning_at_the_cut() {
    let dir = temp_dir("cut-while-loaded");
    let video = faststart_video(&dir);
    let file = write_show(
        &dir,
        &format!(
            "follow = \"start\"\n[[song]]\nvideo = \"{}\"\n",
            video.display()
        ),
    );
    let h = start(&file);
    // Armed on its first frame, then the file is cut on disk (a drive that went away, a copy
    // still being written over it).
    let len = std::fs::metadata(&video).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&video)
        .unwrap()
        .set_len(len * 3 / 10)
        .unwrap();
    h.inlet("daw").receive(&[0xFA], Instant::now());
    let seen = notices_until(
        &h,
        "the warning at the cut",
        |n| matches!(n, Notice::Warning(w) if w.contains("ended at")),
    );
    let Some(Notice::Warning(text)) = seen.last() else {
        unreachable!()
    };
    assert!(
        text.contains("whole.mp4") && text.contains("of its 10.0 s"),
        "{text}"
    );
    let (_, st) = h.status.latest();
    assert_eq!(st.state, "playing", "the DAW plays on: {st:?}");
}

#[test]
fn the_log_warns_when_a_video_freezes_before_its_end() {
    let dir = temp_dir("cut-log");
    let cut = truncated_video(&dir);
    let pipe = common::fifo(&dir);
    let file = write_show(
        &dir,
        &format!(
            "follow = \"start\"\nmidi_devices = [\"{}\"]\n[[song]]\nvideo = \"{}\"\n",
            pipe.file_name().unwrap().to_string_lossy(),
            cut.display()
        ),
    );
    let mut c = common::Playhead::command();
    c.arg("--headless").arg(&file);
    let mut ph = common::Playhead::spawn(c);
    ph.wait_log("armed:", 20 * SECOND_S);
    let mut midi = open_within(&pipe, 10 * SECOND_S);
    midi.send(&[0xFA]);
    let line = ph.wait_log("ended at", 20 * SECOND_S);
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains("cut.mp4") && line.contains("of its 10.0 s"),
        "{line}"
    );
    assert_eq!(ph.count_log("the video ended;"), 0, "not the INFO line");
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

fn is_black(f: &playhead::screen::headless::Frame) -> bool {
    let lit = f
        .pixels
        .chunks(4)
        .filter(|p| p[0] > 16 || p[1] > 16 || p[2] > 16)
        .count();
    f.frame_number(640, 360).is_none() && lit < 100
}

/// Black but for the status overlay in the top left corner: no frame code, and nothing lit
/// below the overlay's lines.
fn is_black_under_the_overlay(f: &playhead::screen::headless::Frame) -> bool {
    is_black_below(f, 120)
}

/// Black from row `row` down (the status overlay's lines above it), with no frame code.
fn is_black_below(f: &playhead::screen::headless::Frame, row: usize) -> bool {
    let lit = f.pixels[row * f.stride_bytes..]
        .chunks(4)
        .filter(|p| p[0] > 16 || p[1] > 16 || p[2] > 16)
        .count();
    f.frame_number(640, 360).is_none() && lit < 100
}

/// Waits (up to 20 s) until the screen is black.
fn wait_black(h: &HeadlessShow, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut f = h.screen().latest();
    while !is_black(&f) {
        let left = deadline.saturating_duration_since(Instant::now());
        f = h
            .screen()
            .wait_newer(f.serial, left)
            .unwrap_or_else(|| panic!("{what}: the picture never went black"));
    }
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
            wait_cue(&h, |c| *c == Cue::Hold);
            let what = format!("{follow} mode, on_stop = {on_stop}");
            match on_stop {
                // SPP 0 re-arms to frame 0 in both modes ("rearm" already did at the Stop);
                // the picture shows it, paused.
                "hold" | "rearm" => {
                    wait_frame(&h, &format!("{what}: frame 0"), |n| n == 0);
                    assert_eq!(held_frame(&h), 0, "{what}");
                }
                "black" => {
                    wait_black(&h, &what);
                    // The SPP's cue (arm in the "start" mode, a locate in chase mode) is
                    // drawn under the black, and every redraw after it is black.
                    wait_cue(&h, |c| {
                        matches!(c, Cue::Arm | Cue::Locate { play: false, .. })
                    });
                    for f in redraws(&h) {
                        assert!(
                            is_black_under_the_overlay(&f),
                            "{what}: the picture must stay black"
                        );
                    }
                    // Play brings the picture back.
                    midi.receive(&[0xFA], Instant::now());
                    wait_frame(&h, "the picture after black", |n| n <= 30);
                }
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
    wait_cue(&h, |c| *c == Cue::Hold);
    let held = held_frame(&h);
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
    let shown = common::wait_drawn(&h, before.serial, "the overlay to show", |f| {
        corner(f) != corner(&before)
    });
    assert_eq!(shown.frame_number(640, 360), Some(0), "the picture stays");
    h.tx.send(PlayerInput::ToggleOverlay).unwrap();
    common::wait_drawn(&h, shown.serial, "the overlay to go", |f| {
        corner(f) == corner(&before)
    });
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
    let mut midi = open_within(&pipe, 10 * SECOND_S);
    ph.wait_log(
        &format!("reading MIDI from {}", pipe.display()),
        10 * SECOND_S,
    );
    // follow = "start": a Continue leaves the video alone.
    midi.send(&[0xF2, 0x00, 0x02, 0xFB]);
    let line = ph.wait_log("Continue from", 10 * SECOND_S);
    assert!(line.contains("video unchanged"), "{line}");
    // on_stop = "rearm": Stop goes back to frame 0.
    midi.send(&[0xFA]);
    ph.wait_log("-> playing", 10 * SECOND_S);
    midi.send(&[0xFC]);
    let line = ph.wait_log("stop behaviour \"rearm\"", 10 * SECOND_S);
    assert!(line.contains("armed on frame 0"), "{line}");

    // An option typed on the command line wins over the file.
    drop(midi);
    drop(ph);
    let mut c = common::Playhead::command();
    c.args(["--headless", "--follow", "chase"]).arg(&file);
    let mut ph = common::Playhead::spawn(c);
    ph.wait_log("armed:", 20 * SECOND_S);
    let mut midi = open_within(&pipe, 10 * SECOND_S);
    midi.send(&[0xF2, 0x00, 0x02]);
    let line = ph.wait_log("SongPosition { sixteenths: 256 } from", 10 * SECOND_S);
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
