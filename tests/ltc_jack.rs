//! LTC through a real JACK server (dummy driver, started here): a JACK client of the test
//! plays LTC written by the test kit's encoder, `--ltc jack --ltc-connect ltc-gen` connects it
//! to `playhead:ltc`, and the assertions are about the frame on a headless player's screen
//! (the demo show's frame code, 25 fps): a still locates, running timecode at 24, 25, 29.97
//! drop-frame and 30 fps plays at the timecode's time, a short dropout free-wheels, and
//! timecode that stops holds the frame. Runs with `cargo test --features jack --test ltc_jack`.
//!
//! It also measures the LTC timecode -> frame on screen error for the README: set
//! `PLAYHEAD_LTC_FIGURES=1` to print it.
#![cfg(feature = "jack")]

mod common;

use jack::{AudioOut, Client, ClientOptions, Control, Port, ProcessScope};
use playhead::chase::timecode::{FrameRate, Timecode, VideoStart};
use playhead::player::{Notice, PlayerOptions};
use playhead::screen::headless::HeadlessShow;
use playhead::sources::ltc::{spawn, LtcInput};
use playhead::transport::{Cue, FollowMode};
use playhead_testkit::ltc::LtcEncoder;
use playhead_testkit::FrameCode;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);
const RATE_HZ: u32 = 48_000;
/// The demo video's frame rate.
const VIDEO_FPS: f64 = 25.0;

/// A JACK server of the test's own, dummy driver, stopped with SIGTERM at the end.
use common::jack::Jack;

/// What the generator has played: for each cycle, the script's sample index at the cycle's
/// start and when the cycle started.
type Played = Arc<Mutex<Vec<(usize, Instant)>>>;

/// The test's LTC output: plays `script` from the moment `go` is set, silence before and
/// after.
struct Generator {
    port: Port<AudioOut>,
    script: Arc<Vec<f32>>,
    cursor: Arc<AtomicUsize>,
    go: Arc<AtomicBool>,
    played: Played,
    /// Script samples played over and over once the cursor reaches them (for `--check`).
    repeat: Arc<Mutex<Option<(usize, usize)>>>,
}

impl jack::ProcessHandler for Generator {
    fn process(&mut self, client: &Client, ps: &ProcessScope) -> Control {
        let out = self.port.as_mut_slice(ps);
        out.fill(0.0);
        if !self.go.load(Ordering::Relaxed) {
            return Control::Continue;
        }
        // When this cycle's first sample is played, on our clock (frames_to_time of the cycle's
        // first frame: the jack crate's `cycle_times` always fails with Debian 12's libjack).
        let now = Instant::now();
        let since_cycle_us = client
            .time()
            .saturating_sub(client.frames_to_time(ps.last_frame_time()));
        let cycle_start = now - Duration::from_micros(since_cycle_us);
        let mut at = self.cursor.load(Ordering::Relaxed);
        if let Ok(Some((from, to))) = self.repeat.try_lock().map(|r| *r) {
            if at >= to || at < from {
                at = from;
            }
        }
        if let Ok(mut p) = self.played.try_lock() {
            p.push((at, cycle_start));
        }
        let end = (at + out.len()).min(self.script.len());
        if at < end {
            out[..end - at].copy_from_slice(&self.script[at..end]);
        }
        self.cursor.store(at + out.len(), Ordering::Relaxed);
        Control::Continue
    }
}

/// One stretch of the script: LTC from `first` at `rate`, starting at script sample `start`.
struct Segment {
    first: Timecode,
    start_sample: f64,
    end_sample: f64,
}

/// The script: a still, then running timecode at every rate with silences between, one with
/// a dropout shorter than the free-wheel.
fn script() -> (Vec<f32>, Vec<Segment>, (f64, f64)) {
    let mut enc = LtcEncoder::new(RATE_HZ);
    let mut samples = Vec::new();
    let mut segments = Vec::new();
    enc.silence(0.3, &mut samples);
    // A still: one frame over and over, as a parked DAW sends it.
    let still = Timecode::parse("00:00:05:00", FrameRate::Fps25).unwrap();
    for _ in 0..15 {
        enc.frame(&still, 25.0, &mut samples);
    }
    enc.silence(1.0, &mut samples);
    let mut dropout = (0.0, 0.0);
    for (rate, first, level) in [
        (FrameRate::Fps24, "00:00:10:00", 0.5),
        (FrameRate::Fps25, "00:00:20:00", 0.05),
        (FrameRate::Fps2997Drop, "00:00:30:00", 0.3),
        (FrameRate::Fps30, "00:00:40:00", 0.8),
    ] {
        enc.amplitude = level;
        enc.noise = level * 0.05;
        let first = Timecode::parse(first, rate).unwrap();
        let start_sample = enc.position();
        let frames = (rate.real_fps() * 3.0) as i64;
        for i in 0..frames {
            if rate == FrameRate::Fps25 && i == 50 {
                // 150 ms without signal, then the timecode where it would be by then.
                let from = enc.position();
                enc.silence(0.16, &mut samples);
                dropout = (from, enc.position());
            }
            let tc = if rate == FrameRate::Fps25 && i >= 50 {
                first.add_frames(i + 4)
            } else {
                first.add_frames(i)
            };
            enc.frame(&tc, rate.real_fps(), &mut samples);
        }
        segments.push(Segment {
            first,
            start_sample,
            end_sample: enc.position(),
        });
        enc.silence(1.2, &mut samples);
    }
    (samples, segments, dropout)
}

/// When script sample `sample` was played.
fn played_at(played: &Played, sample: f64) -> Option<Instant> {
    let p = played.lock().unwrap();
    let &(at, start) = p.iter().rev().find(|(at, _)| (*at as f64) <= sample)?;
    Some(start + Duration::from_secs_f64((sample - at as f64) / f64::from(RATE_HZ)))
}

/// Drains the player's notices; true when a Hold came.
fn held(show: &HeadlessShow) -> bool {
    let mut hold = false;
    while let Ok(n) = show.notices.try_recv() {
        match n {
            Notice::Cued { cue: Cue::Hold, .. } => hold = true,
            Notice::Fatal(m) => panic!("{m}"),
            _ => {}
        }
    }
    hold
}

#[test]
fn ltc_through_jack_locates_chases_every_rate_free_wheels_and_stops() {
    let _ = env_logger::builder().is_test(true).try_init();
    let _jack = Jack::start("playhead-ltc-test");
    let show = common::headless_demo(&PlayerOptions {
        follow: FollowMode::Chase,
        ..PlayerOptions::default()
    });
    spawn(&LtcInput::Jack, Some("ltc-gen:".into()), show.tx.clone()).expect("the LTC input");

    let (samples, segments, dropout) = script();
    let (client, _) = Client::new("ltc-gen", ClientOptions::NO_START_SERVER).unwrap();
    let port = client.register_port("out", AudioOut::default()).unwrap();
    let cursor = Arc::new(AtomicUsize::new(0));
    let go = Arc::new(AtomicBool::new(false));
    let played: Played = Arc::new(Mutex::new(Vec::with_capacity(10_000)));
    let repeat = Arc::new(Mutex::new(None));
    let generator = client
        .activate_async(
            (),
            Generator {
                port,
                script: Arc::new(samples),
                cursor: cursor.clone(),
                go: go.clone(),
                played: played.clone(),
                repeat: repeat.clone(),
            },
        )
        .unwrap();
    // playhead connects the generator within a second of its appearing.
    let deadline = Instant::now() + 10 * SECOND;
    loop {
        let ours = generator.as_client().port_by_name("ltc-gen:out").unwrap();
        if ours.is_connected_to("playhead:ltc").unwrap_or(false) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "playhead:ltc was never connected"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    go.store(true, Ordering::Relaxed);

    // The still locates, paused.
    common::wait_headless_frame(&show, "the still at 00:00:05:00", |n| n == 125);

    let video_start = VideoStart::new(Timecode::from_frame_count(0, FrameRate::Fps30));
    let mut errors_ms = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let start_s = video_start.video_position_s(seg.first);
        let first_frame = (start_s * VIDEO_FPS) as u32;
        let what = format!("LTC from {} ({:?})", seg.first, seg.first.rate());
        common::wait_headless_frame(&show, &format!("playback of {what}"), |n| {
            n > first_frame + 5 && n < first_frame + 60
        });
        held(&show);
        // Every frame rendered from here to the segment's end is where the timecode says.
        let mut serial = show.screen().latest().serial;
        let mut in_dropout_hold = false;
        let mut segment_errors_ms = Vec::new();
        loop {
            let Some(f) = show.screen().wait_newer(serial, 2 * SECOND) else {
                panic!("{what}: the picture stopped while LTC ran");
            };
            serial = f.serial;
            let (Some(n), Some(rendered)) = (f.frame_number(640, 360), f.rendered_at) else {
                continue;
            };
            let now_sample = cursor.load(Ordering::Relaxed) as f64;
            if now_sample > seg.end_sample {
                break;
            }
            if i == 1 {
                in_dropout_hold |= held(&show);
            }
            let Some(seg_start) = played_at(&played, seg.start_sample) else {
                continue;
            };
            let expected_s = start_s + rendered.saturating_duration_since(seg_start).as_secs_f64();
            // When frame n appeared against when the timecode reached its start (n / fps),
            // positive when the picture is early. (Until 2026-12-04 this took the middle of the
            // frame, n + 1/2, which put a picture exactly on time at +20 ms.)
            let error_ms = (f64::from(n) / VIDEO_FPS - expected_s) * 1000.0;
            // From a second after the timecode started (the locate and the drift controller's
            // first correction done), every frame is within three frames of the timecode.
            let settled = played_at(&played, seg.start_sample + f64::from(RATE_HZ))
                .is_some_and(|t| rendered > t);
            assert!(
                !settled || error_ms.abs() < 120.0,
                "{what}: frame {n} on screen, timecode says {expected_s:.3} s"
            );
            let in_dropout =
                (dropout.0..dropout.1 + f64::from(RATE_HZ) * 0.5).contains(&now_sample);
            if settled && !in_dropout {
                errors_ms.push(error_ms);
                segment_errors_ms.push(error_ms);
            }
        }
        assert!(
            segment_errors_ms.len() > 20,
            "{what}: too few frames measured"
        );
        segment_errors_ms.sort_by(f64::total_cmp);
        let median = segment_errors_ms[segment_errors_ms.len() / 2];
        // Half a frame: the median frame is the one the timecode says.
        assert!(median.abs() < 20.0, "{what}: median error {median:+.1} ms");
        if std::env::var_os("PLAYHEAD_LTC_FIGURES").is_some() {
            println!(
                "{what}: median error {median:+.1} ms over {} frames",
                segment_errors_ms.len()
            );
        }
        if i == 1 {
            assert!(
                !in_dropout_hold,
                "the 160 ms dropout must free-wheel, not hold"
            );
        }
        // The timecode stops: the video holds.
        let deadline = Instant::now() + 5 * SECOND;
        while !held(&show) {
            assert!(
                Instant::now() < deadline,
                "{what}: no hold after the timecode stopped"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // Every redraw asked from now on shows one frame (common::held_frame fails if the
        // picture moves).
        common::held_frame(&show);
    }
    assert!(errors_ms.len() > 100, "{} frames measured", errors_ms.len());
    errors_ms.sort_by(f64::total_cmp);
    let median = errors_ms[errors_ms.len() / 2];
    let mut abs: Vec<f64> = errors_ms.iter().map(|e| e.abs()).collect();
    abs.sort_by(f64::total_cmp);
    let p95 = abs[abs.len() * 95 / 100];
    if std::env::var_os("PLAYHEAD_LTC_FIGURES").is_some() {
        println!(
            "LTC -> frame on screen error over {} frames: signed median {median:+.2} ms, |error| p50 {:.2} / p95 {p95:.2} / max {:.2} ms",
            errors_ms.len(),
            abs[abs.len() / 2],
            abs[abs.len() - 1]
        );
    }

    // `--check` hears the running 30 fps timecode and reports it.
    let last = segments.last().expect("segments");
    *repeat.lock().unwrap() = Some((last.start_sample as usize, last.end_sample as usize));
    let out = Command::new(env!("CARGO_BIN_EXE_playhead"))
        .args([
            "--check",
            "--no-rtp",
            "--ltc",
            "jack",
            "--ltc-connect",
            "ltc-gen:",
        ])
        .arg(common::demo())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("run playhead --check");
    let report = String::from_utf8_lossy(&out.stdout);
    let line = report
        .lines()
        .find(|l| l.contains("LTC"))
        .unwrap_or_else(|| panic!("no LTC line in the report:\n{report}"));
    assert!(
        line.contains("ok")
            && line.contains("00:00:4")
            && line.contains("at 30.00 fps")
            && line.contains("dBFS"),
        "{line}"
    );
    drop(generator);
}
