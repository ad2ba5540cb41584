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
use playhead::transport::Cue;
use playhead::transport::{ChaseSettings, FollowMode};
use playhead_testkit::FrameCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::{held_frame, wait_cue, wait_drawn, wait_headless_frame as wait_frame};

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

/// What a DAW thread of the test sent, as it sent it: when, and the song position it stood for
/// then, in video frames (25 fps). The picture is compared with this, not with the test's
/// own idea of the time, so a slow test thread does not make the player look wrong.
#[derive(Clone, Default)]
struct Sent {
    log: Arc<Mutex<Vec<(Instant, f64)>>>,
    /// Video frames per second of real time the DAW runs at.
    rate: f64,
}

impl Sent {
    fn push(&self, at: Instant, frames: f64) {
        self.log.lock().unwrap().push((at, frames));
    }

    /// The DAW's position at `t`, in video frames, from the last message sent before it.
    fn frames_at(&self, t: Instant) -> Option<f64> {
        let log = self.log.lock().unwrap();
        let i = log.partition_point(|(at, _)| *at <= t);
        let (at, frames) = log.get(i.checked_sub(1)?)?;
        Some(frames + t.duration_since(*at).as_secs_f64() * self.rate)
    }

    /// The last position sent, in video frames.
    fn last(&self) -> Option<f64> {
        self.log.lock().unwrap().last().map(|(_, f)| *f)
    }
}

/// Sends MIDI clock at `bpm` × `rate` from a thread until stopped, from song position 0 (the
/// first clock is the position itself); returns the stop flag and what it sent.
fn clock_thread(
    mut inlet: playhead::sources::MidiInlet,
    bpm: f64,
    rate: f64,
    start: Instant,
) -> (Arc<AtomicBool>, Sent) {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Sent {
        rate: 25.0 * rate,
        ..Sent::default()
    };
    let (flag, log) = (stop.clone(), sent.clone());
    std::thread::spawn(move || {
        let tick = Duration::from_secs_f64(60.0 / (bpm * 24.0) / rate);
        // Video frames of song per clock at the video's own tempo.
        let frames_per_clock = 60.0 / (bpm * 24.0) * 25.0;
        let mut next = start;
        let mut clocks = 0u64;
        while !flag.load(Ordering::Relaxed) {
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
            let at = Instant::now();
            inlet.receive(&[0xF8], at);
            log.push(at, clocks as f64 * frames_per_clock);
            clocks += 1;
            next += tick;
        }
    });
    (stop, sent)
}

#[test]
fn spp_to_bar_17_cues_the_frame_and_continue_plays_from_it() {
    let show = chase_show(Some(120.0));
    let mut midi = show.inlet("ableton");
    midi.receive(&[0xF2, 0x00, 0x02], Instant::now());
    let cued = wait_frame(&show, "the cue at bar 17", |n| n != 0);
    assert_eq!(cued, 800, "bar 17 at 120 BPM is 32 s, frame 800");
    assert_eq!(held_frame(&show), 800, "the cue holds while stopped");

    // Every frame presented from here on is kept: the test thread, woken late on a loaded
    // machine, must not take a later frame for the first.
    show.screen().keep_frames(256);
    let serial = show.screen().latest().serial;
    let start = Instant::now();
    midi.receive(&[0xFB], start);
    let (stop, _) = clock_thread(show.inlet("ableton clock"), 120.0, 1.0, start);
    wait_cue(&show, |c| *c == Cue::Play);
    wait_frame(&show, "playback past bar 17", |n| n >= 820);
    stop.store(true, Ordering::Relaxed);
    let numbers: Vec<u32> = show
        .screen()
        .kept_after(serial)
        .expect("every frame since Continue")
        .iter()
        .map(|f| {
            f.frame_number(640, 360)
                .expect("a frame code after Continue")
        })
        .collect();
    show.screen().keep_frames(0);
    // The first new picture after Continue runs on from the cue (the held frame may be drawn
    // again first; a frame that was due while the machine was busy may be skipped, one).
    let next = numbers
        .iter()
        .copied()
        .find(|&n| n != 800)
        .expect("a new picture");
    assert!(
        (801..=802).contains(&next),
        "first new frame after Continue: {next} ({numbers:?})"
    );
}

#[test]
fn a_loop_jump_while_playing_relocates() {
    let show = chase_show(Some(120.0));
    let mut midi = show.inlet("ableton");
    let start = Instant::now();
    midi.receive(&[0xF2, 0x00, 0x00, 0xFA], start);
    let (stop, _) = clock_thread(show.inlet("ableton clock"), 120.0, 1.0, start);
    wait_frame(&show, "playback", |n| n >= 25);
    // Loop back to bar 5 (SPP 64 = 8 s = frame 200) while playing.
    midi.receive(&[0xF2, 0x40, 0x00], Instant::now());
    wait_cue(&show, |c| matches!(c, Cue::Locate { play: true, .. }));
    let n = wait_frame(&show, "the jump to bar 5", |n| (195..260).contains(&n));
    assert!(n >= 200, "landed on {n}");
    wait_frame(&show, "playback after the jump", |n| {
        (215..300).contains(&n)
    });
    stop.store(true, Ordering::Relaxed);
    midi.receive(&[0xFC], Instant::now());
}

/// Quarter frames for a 25 fps timecode starting at `first_frame`, sent in real time; returns
/// the stop flag and what it sent (each frame's time code when its first quarter frame went).
fn timecode_thread(
    mut inlet: playhead::sources::MidiInlet,
    first_frame: u32,
    start: Instant,
) -> (Arc<AtomicBool>, Sent) {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Sent {
        rate: 25.0,
        ..Sent::default()
    };
    let (flag, log) = (stop.clone(), sent.clone());
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
                let at = Instant::now();
                inlet.receive(&[0xF1, ((i as u8) << 4) | *nibble as u8], at);
                if i == 0 {
                    log.push(at, f64::from(frame));
                }
                next += quarter;
            }
            frame += 2;
        }
    });
    (stop, sent)
}

/// How far the picture is from the DAW, in frames, over the frames drawn until `until` says
/// stop: each drawn frame's number against the DAW's position when it was drawn.
fn errors_against(show: &HeadlessShow, daw: &Sent, until: impl Fn(u32, usize) -> bool) -> Vec<f64> {
    let mut serial = show.screen().latest().serial;
    let mut errors = Vec::new();
    loop {
        let f = wait_drawn(show, serial, "the next frame", |_| true);
        serial = f.serial;
        let (Some(n), Some(at)) = (f.frame_number(640, 360), f.rendered_at) else {
            continue;
        };
        if let Some(want) = daw.frames_at(at) {
            errors.push(f64::from(n) - want);
        }
        if until(n, errors.len()) {
            return errors;
        }
    }
}

fn median_abs(errors: &[f64]) -> f64 {
    let mut a: Vec<f64> = errors.iter().map(|e| e.abs()).collect();
    a.sort_by(f64::total_cmp);
    a[a.len() / 2]
}

#[test]
fn timecode_from_ten_seconds_plays_from_ten_seconds_and_stops_with_it() {
    let show = chase_show(None);
    let start = Instant::now();
    let (stop, daw) = timecode_thread(show.inlet("reaper mtc"), 250, start);
    wait_cue(&show, |c| matches!(c, Cue::Locate { play: true, .. }));
    let n = wait_frame(&show, "timecode to roll the video", |n| n >= 250);
    assert!(
        n < 300,
        "rolled from frame {n}, the timecode started at 250"
    );
    // Two seconds of picture (50 frames) to settle, then one more to measure.
    let errors = errors_against(&show, &daw, |n, _| n >= 350);
    let settled = &errors[errors.len() / 3..];
    let (median, worst) = (
        median_abs(settled),
        settled.iter().fold(0.0f64, |w, e| w.max(e.abs())),
    );
    eprintln!(
        "measurement: picture against timecode over {} frames: median {median:.2}, worst {worst:.2} frames",
        settled.len()
    );
    assert!(
        median <= 3.0,
        "the picture runs {median:.1} frames away from the timecode (median)"
    );
    // The timecode stops: so does the video, where the timecode stopped (the player waits
    // a quarter of a second, about six frames, before it calls the timecode stopped).
    stop.store(true, Ordering::Relaxed);
    wait_cue(&show, |c| *c == Cue::Hold);
    let held = f64::from(held_frame(&show));
    let last = daw.last().expect("timecode sent");
    eprintln!("measurement: held frame {held}, last timecode sent at frame {last}");
    assert!(
        (last - 3.0..=last + 25.0).contains(&held),
        "the video held on frame {held}; the timecode stopped at frame {last}"
    );
}

#[test]
fn a_one_percent_fast_daw_clock_is_pulled_in_and_held() {
    let show = chase_show(Some(120.0));
    let mut midi = show.inlet("ableton");
    let start = Instant::now();
    midi.receive(&[0xF2, 0x00, 0x00, 0xFA], start);
    // The DAW's clock runs 1 % fast: its song position runs 1.01 s per second.
    let (stop, daw) = clock_thread(show.inlet("ableton clock"), 120.0, 1.01, start);
    // Twelve seconds of song to pull in, then thirty seconds (750 frames) measured.
    wait_frame(&show, "twelve seconds of song", |n| n >= 300);
    let mut first: Option<(u32, Instant)> = None;
    let mut last: (u32, Instant);
    let mut errors = Vec::new();
    let mut serial = show.screen().latest().serial;
    loop {
        let f = wait_drawn(&show, serial, "the next frame", |_| true);
        serial = f.serial;
        let (Some(n), Some(at)) = (f.frame_number(640, 360), f.rendered_at) else {
            continue;
        };
        if let Some(want) = daw.frames_at(at) {
            errors.push(f64::from(n) - want);
        }
        first.get_or_insert((n, at));
        last = (n, at);
        if n >= first.unwrap().0 + 750 {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let ((n0, t0), (n1, t1)) = (first.unwrap(), last);
    let seconds = t1.duration_since(t0).as_secs_f64();
    let video_rate = f64::from(n1 - n0) / 25.0 / seconds;
    let daw_rate = (daw.frames_at(t1).unwrap() - daw.frames_at(t0).unwrap()) / 25.0 / seconds;
    let (median, worst) = (
        median_abs(&errors),
        errors.iter().fold(0.0f64, |w, e| w.max(e.abs())),
    );
    eprintln!(
        "measurement: over {seconds:.1} s the video ran at {video_rate:.4}, the DAW at {daw_rate:.4}; \
         error median {median:.2}, worst {worst:.2} frames over {} frames; mpv speed {:.4}",
        errors.len(),
        show.mpv.get_double("speed").unwrap_or(f64::NAN)
    );
    // Without correction the video would run at 1.00 and be 10 frames behind by now.
    assert!(
        (video_rate - daw_rate).abs() < 0.003,
        "the video runs at {video_rate:.4}, the DAW at {daw_rate:.4}"
    );
    assert!(
        median <= 1.0,
        "the picture is {median:.2} frames from the DAW (median); want within one frame"
    );
    assert!(
        worst <= 12.0,
        "the picture was {worst:.2} frames from the DAW at worst"
    );
}
