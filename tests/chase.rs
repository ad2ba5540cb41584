//! Chase mode against the real libmpv, headless: the frame on screen is read from the demo
//! show's frame code in the software-rendered pixels. The demo show runs at 25 fps and its
//! picture is laid out at 120 BPM 4/4 (bar 17 = 32 s = frame 800).
//!
//! MIDI goes in through `MidiInlet::receive`, the entry point of every MIDI source; clock and
//! timecode are sent in real time from a thread of the test, standing in for the DAW.

use playhead::chase::position::TimeSignature;
use playhead::chase::tempo::TempoMap;
use playhead::player::PlayerOptions;
use playhead::screen::headless::HeadlessShow;
use playhead::transport::{ChaseSettings, FollowMode};
use playhead_testkit::FrameCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{headless_frame as on_screen, wait_headless_frame as wait_frame};

fn chase_show(bpm: Option<f64>) -> HeadlessShow {
    let options = PlayerOptions {
        follow: FollowMode::Chase,
        chase: ChaseSettings {
            tempo_map: bpm.map(|b| TempoMap::fixed(b, TimeSignature::FOUR_FOUR).unwrap()),
            ..ChaseSettings::default()
        },
        ..PlayerOptions::default()
    };
    common::headless_demo(&options)
}

/// Sends MIDI clock at `bpm` × `rate` from a thread until stopped; returns the stop flag.
fn clock_thread(
    mut inlet: playhead::sources::MidiInlet,
    bpm: f64,
    rate: f64,
    start: Instant,
) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let tick = Duration::from_secs_f64(60.0 / (bpm * 24.0) / rate);
        let mut next = start;
        while !flag.load(Ordering::Relaxed) {
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
            inlet.receive(&[0xF8], Instant::now());
            next += tick;
        }
    });
    stop
}

#[test]
fn spp_to_bar_17_cues_the_frame_and_continue_plays_from_it() {
    let show = chase_show(Some(120.0));
    let mut midi = show.inlet("ableton");
    midi.receive(&[0xF2, 0x00, 0x02], Instant::now());
    let cued = wait_frame(&show, "the cue at bar 17", |n| n != 0);
    assert_eq!(cued, 800, "bar 17 at 120 BPM is 32 s, frame 800");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(on_screen(&show), Some(800), "the cue holds while stopped");

    let serial = show.screen().latest().serial;
    let start = Instant::now();
    midi.receive(&[0xFB], start);
    let stop = clock_thread(show.inlet("ableton clock"), 120.0, 1.0, start);
    let next = show
        .screen()
        .wait_newer(serial, Duration::from_secs(5))
        .and_then(|f| f.frame_number(640, 360))
        .expect("a frame after Continue");
    assert!(
        (800..=801).contains(&next),
        "first frame after Continue: {next}"
    );
    wait_frame(&show, "playback past bar 17", |n| n >= 820);
    stop.store(true, Ordering::Relaxed);
}

#[test]
fn a_loop_jump_while_playing_relocates() {
    let show = chase_show(Some(120.0));
    let mut midi = show.inlet("ableton");
    let start = Instant::now();
    midi.receive(&[0xF2, 0x00, 0x00, 0xFA], start);
    let stop = clock_thread(show.inlet("ableton clock"), 120.0, 1.0, start);
    wait_frame(&show, "playback", |n| n >= 25);
    // Loop back to bar 5 (SPP 64 = 8 s = frame 200) while playing.
    midi.receive(&[0xF2, 0x40, 0x00], Instant::now());
    let n = wait_frame(&show, "the jump to bar 5", |n| (195..260).contains(&n));
    assert!(n >= 200, "landed on {n}");
    wait_frame(&show, "playback after the jump", |n| {
        (215..300).contains(&n)
    });
    stop.store(true, Ordering::Relaxed);
    midi.receive(&[0xFC], Instant::now());
}

/// Quarter frames for a 25 fps timecode starting at `first_frame`, sent in real time.
fn timecode_thread(
    mut inlet: playhead::sources::MidiInlet,
    first_frame: u32,
    start: Instant,
) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let quarter = Duration::from_secs_f64(1.0 / 100.0);
        let mut next = start;
        let mut frame = first_frame;
        while !flag.load(Ordering::Relaxed) {
            let (h, m, s, f) = (
                frame / (25 * 3600),
                frame / (25 * 60) % 60,
                frame / 25 % 60,
                frame % 25,
            );
            let pieces = [
                f & 0x0F,
                f >> 4,
                s & 0x0F,
                s >> 4,
                m & 0x0F,
                m >> 4,
                h & 0x0F,
                (h >> 4) | (1 << 1),
            ];
            for (i, nibble) in pieces.iter().enumerate() {
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                }
                inlet.receive(&[0xF1, ((i as u8) << 4) | *nibble as u8], Instant::now());
                next += quarter;
            }
            frame += 2;
        }
    });
    stop
}

#[test]
fn timecode_from_ten_seconds_plays_from_ten_seconds_and_stops_with_it() {
    let show = chase_show(None);
    let start = Instant::now();
    let stop = timecode_thread(show.inlet("reaper mtc"), 250, start);
    let n = wait_frame(&show, "timecode to roll the video", |n| n >= 250);
    let expected = 250.0 + start.elapsed().as_secs_f64() * 25.0;
    assert!(
        (f64::from(n) - expected).abs() <= 6.0,
        "frame {n}, timecode says about {expected:.0}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let n = on_screen(&show).unwrap();
    let expected = 250.0 + start.elapsed().as_secs_f64() * 25.0;
    assert!(
        (f64::from(n) - expected).abs() <= 3.0,
        "after 2 s: frame {n}, timecode says {expected:.0}"
    );
    // The timecode stops: so does the video.
    stop.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(600));
    let held = on_screen(&show).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        on_screen(&show),
        Some(held),
        "the video must stop with the timecode"
    );
}

#[test]
fn a_one_percent_fast_daw_clock_is_pulled_in_and_held() {
    let show = chase_show(Some(120.0));
    let mut midi = show.inlet("ableton");
    let start = Instant::now();
    midi.receive(&[0xF2, 0x00, 0x00, 0xFA], start);
    // The DAW's clock runs 1 % fast: its song position runs 1.01 s per second.
    let stop = clock_thread(show.inlet("ableton clock"), 120.0, 1.01, start);
    let mut worst_frames: f64 = 0.0;
    let mut samples = 0;
    while start.elapsed() < Duration::from_secs(42) {
        std::thread::sleep(Duration::from_millis(500));
        if start.elapsed() < Duration::from_secs(12) {
            continue;
        }
        let f = show.screen().latest();
        let (Some(n), Some(at)) = (f.frame_number(640, 360), f.rendered_at) else {
            continue;
        };
        let daw_frames = at.saturating_duration_since(start).as_secs_f64() * 1.01 * 25.0;
        worst_frames = worst_frames.max((f64::from(n) - daw_frames).abs());
        samples += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let speed = show.mpv.get_double("speed").unwrap();
    eprintln!("worst error {worst_frames:.2} frames over {samples} samples, speed {speed:.4}");
    assert!(
        (speed - 1.01).abs() < 0.004,
        "the player should run at the DAW's rate (1.01), runs at {speed}"
    );
    assert!(samples > 50, "only {samples} samples");
    // Without correction the video would be 0.42 s (10 frames) behind by now. A frame drawn
    // is up to one frame old when sampled, so allow one frame of that on top of one of error.
    assert!(
        worst_frames <= 2.0,
        "held within {worst_frames:.2} frames over 30 s (want at most one frame of error)"
    );
}
