//! The player against the real libmpv, headless: mpv's software renderer draws every frame
//! into memory and the test reads the demo show's frame code from those pixels, so each
//! assertion is about the frame that would be on screen.
//!
//! MIDI bytes go in through `MidiInlet::receive`, the entry point midir's callback uses: it
//! stands in for an OS MIDI port, which this machine does not have.

use playhead::player::PlayerOptions;
use playhead::screen::headless::{Frame, HeadlessShow};
use playhead::transport::Cue;
use playhead_testkit::FrameCode;
use std::time::{Duration, Instant};

mod common;
use common::{held_frame, redraws, wait_headless_frame as wait_for_frame};

const W: usize = 640;
const H: usize = 360;

/// A player in the "start" follow mode (the rule of playing only from the top).
fn start() -> HeadlessShow {
    common::headless_demo(&common::start_mode())
}

fn frame_number(f: &Frame) -> Option<u32> {
    f.frame_number(640, 360)
}

fn wait_cue(show: &HeadlessShow, want: Cue) {
    common::wait_cue(show, |c| *c == want);
}

#[test]
fn loads_paused_on_frame_zero() {
    let show = start();
    assert_eq!(held_frame(&show), 0);
    assert!(show.mpv.get_flag("pause").unwrap());
}

#[test]
fn a_playing_picture_is_not_taken_for_a_held_one() {
    // The hold check of these tests must see a running video move.
    let show = start();
    show.inlet("test port").receive(&[0xFA], Instant::now());
    wait_cue(&show, Cue::Play);
    wait_for_frame(&show, "playback", |n| n >= 5);
    let numbers: Vec<Option<u32>> = redraws(&show).iter().map(frame_number).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "a playing video shows later frames at each redraw: {numbers:?}"
    );
}

#[test]
fn start_plays_stop_holds_spp_zero_rearms() {
    let show = start();
    let mut midi = show.inlet("test port");
    assert_eq!(held_frame(&show), 0);

    // Ableton: SPP 0 then Start. The first frame drawn after it is the top of the video (every
    // frame presented is kept: a test thread woken late must not take a later one for it).
    show.screen().keep_frames(256);
    let serial = show.screen().latest().serial;
    midi.receive(&[0xF2, 0x00, 0x00, 0xFA], Instant::now());
    wait_cue(&show, Cue::Play);
    wait_for_frame(&show, "playback to pass frame 12", |n| n >= 12);
    let drawn = show
        .screen()
        .kept_after(serial)
        .expect("every frame since Start");
    let first = frame_number(&drawn[0]).expect("frame code");
    assert!(
        first <= 2,
        "first frame after Start was {first}, not the top"
    );
    show.screen().keep_frames(0);

    midi.receive(&[0xFC], Instant::now());
    wait_cue(&show, Cue::Hold);
    let held = held_frame(&show);
    assert!(held >= 12, "held frame {held}");
    assert!(show.mpv.get_flag("pause").unwrap());

    // Continue does not move the video in this mode: every redraw after it shows the held frame.
    midi.receive(&[0xFB], Instant::now());
    assert_eq!(held_frame(&show), held);
    midi.receive(&[0xFC], Instant::now());

    // SPP 0 re-arms: back to frame 0, paused.
    midi.receive(&[0xF2, 0x00, 0x00], Instant::now());
    wait_cue(&show, Cue::Arm);
    wait_for_frame(&show, "frame 0 after re-arming", |n| n == 0);
    assert_eq!(held_frame(&show), 0);

    // And plays from there again.
    midi.receive(&[0xFA], Instant::now());
    wait_for_frame(&show, "playback after the second Start", |n| n >= 5);
}

#[test]
fn start_without_spp_plays_from_the_top_even_after_a_locate() {
    let show = start();
    let mut midi = show.inlet("reaper");
    midi.receive(&[0xFA], Instant::now());
    wait_for_frame(&show, "playback to pass frame 30", |n| n >= 30);
    // Reaper pause at bar 9 (SPP 128 sixteenths): Stop, then SPP to where play began.
    midi.receive(&[0xFC, 0xF2, 0x00, 0x01], Instant::now());
    wait_cue(&show, Cue::Hold);
    let held = held_frame(&show);
    assert!(held >= 30);

    // Start means from the beginning: the video locates to frame 0 and plays. Every frame
    // presented from the Start on is kept, so none goes unseen: until the seek to the top
    // lands the screen may draw the held picture again (the same frame, which nobody sees
    // change), but the first different picture must be the top of the song, and no frame
    // from where it paused (after the held one) may ever appear.
    show.screen().keep_frames(256);
    let serial = show.screen().latest().serial;
    midi.receive(&[0xFA], Instant::now());
    wait_cue(&show, Cue::PlayFromTop);
    wait_for_frame(&show, "playback from the top", |n| n >= 10 && n < held);
    let numbers: Vec<u32> = show
        .screen()
        .kept_after(serial)
        .expect("every frame since Start")
        .iter()
        .map(|f| frame_number(f).expect("frame code"))
        .collect();
    eprintln!("held {held}; frames drawn from the Start on: {numbers:?}");
    let top = numbers
        .iter()
        .position(|&n| n != held)
        .expect("a frame other than the held one");
    assert!(
        numbers[top] < 10,
        "the first new picture after Start was frame {}, not the top (held {held}): {numbers:?}",
        numbers[top]
    );
    assert!(
        numbers[top..].iter().all(|&n| n < held) && numbers[top..].windows(2).all(|w| w[0] <= w[1]),
        "after Start, frames from the top in order only (held {held}): {numbers:?}"
    );
    show.screen().keep_frames(0);
}

#[test]
fn garbage_between_messages_does_not_lose_start() {
    let show = start();
    let mut midi = show.inlet("noisy cable");
    // Note-ons with running status, an unterminated SysEx, stray data, undefined status
    // bytes, and Start in the middle of an SPP.
    midi.receive(
        &[
            0x90, 0x3C, 0x40, 0x3E, 0x40, 0xF0, 0x01, 0x02, 0x33, 0xF4, 0x12, 0xF9, 0xF2, 0x00,
            0xFA, 0x00,
        ],
        Instant::now(),
    );
    wait_cue(&show, Cue::Play);
    wait_for_frame(&show, "playback after a noisy Start", |n| n >= 5);
    assert!(midi.stats().garbage_bytes >= 5);
}

fn expect_start_error(path: &std::path::Path) -> String {
    match HeadlessShow::start(path, &PlayerOptions::default(), W, H) {
        Err(e) => e,
        Ok(show) => show
            .wait_ready(Duration::from_secs(20))
            .expect_err("a bad video must not become ready"),
    }
}

#[test]
fn a_video_whose_name_is_not_utf8_plays() {
    // File names are bytes: one the OS opens must play, whatever its encoding.
    use std::os::unix::ffi::OsStrExt;
    let dir = common::temp_dir("non-utf8-name");
    let video = dir.join(std::ffi::OsStr::from_bytes(b"show-\xff\xfe.mp4"));
    std::fs::copy(common::demo(), &video).expect("copy the demo");
    let show = HeadlessShow::start(&video, &common::start_mode(), W, H).expect("start the player");
    show.wait_ready(Duration::from_secs(20))
        .expect("the renamed demo shows its first frame");
    assert_eq!(frame_number(&show.screen().latest()), Some(0));
    let mut midi = show.inlet("test port");
    midi.receive(&[0xF2, 0x00, 0x00, 0xFA], Instant::now());
    wait_cue(&show, Cue::Play);
    wait_for_frame(&show, "playback of the renamed demo", |n| n >= 5);
    drop(show);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_video_is_named_in_the_error() {
    let e = expect_start_error(std::path::Path::new("/nonexistent/show.mp4"));
    assert!(e.contains("/nonexistent/show.mp4"), "{e}");
    assert!(e.contains("No such file"), "{e}");
}

#[test]
fn corrupt_video_is_named_in_the_error() {
    let dir = std::env::temp_dir().join(format!("playhead-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("corrupt.mp4");
    let mut junk = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        junk.push(x as u8);
    }
    std::fs::write(&path, junk).unwrap();
    let e = expect_start_error(&path);
    assert!(e.contains("corrupt.mp4"), "{e}");
    assert!(e.contains("cannot play video"), "{e}");
}

#[test]
fn audio_only_file_is_refused() {
    // A valid one-second WAV file: mpv opens it, but there is no picture to show.
    let dir = std::env::temp_dir().join(format!("playhead-test-wav-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("click.wav");
    let rate: u32 = 8000;
    let data: Vec<u8> = (0..rate).map(|i| ((i % 40) * 6) as u8).collect();
    let mut wav = Vec::new();
    wav.extend(b"RIFF");
    wav.extend((36 + data.len() as u32).to_le_bytes());
    wav.extend(b"WAVEfmt ");
    wav.extend(16u32.to_le_bytes());
    wav.extend(1u16.to_le_bytes()); // PCM
    wav.extend(1u16.to_le_bytes()); // mono
    wav.extend(rate.to_le_bytes());
    wav.extend(rate.to_le_bytes()); // bytes per second
    wav.extend(1u16.to_le_bytes()); // block align
    wav.extend(8u16.to_le_bytes()); // bits
    wav.extend(b"data");
    wav.extend((data.len() as u32).to_le_bytes());
    wav.extend(&data);
    std::fs::write(&path, wav).unwrap();
    let e = expect_start_error(&path);
    assert!(e.contains("click.wav"), "{e}");
    assert!(e.contains("no video track"), "{e}");
}
