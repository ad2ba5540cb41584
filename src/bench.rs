//! `playhead bench`: trigger latency and start-up time, measured on this machine.
//!
//! Method (printed with the results):
//! - Trigger latency: a player with a software screen (no window) loads the video. For each
//!   trigger, SPP 0 arms it, then `FA` (Start) is handed to a [`MidiInlet`] exactly as an OS
//!   MIDI port's callback would, stamped with the receipt time. We record (a) receipt -> the
//!   player's `pause=no` call to mpv returned (µs), (b) receipt -> mpv's `time-pos` moves off
//!   the armed position (polled every 100 µs, ms), (c) receipt -> a frame other than frame 0
//!   was rendered (ms; this includes up to one frame interval of the video by nature).
//! - Start-up: the program itself is started `--headless` on the video; we time from spawning
//!   it to its "armed" log line (the first frame rendered and the player waiting for the DAW).

use crate::cli::BenchArgs;
use crate::headless::HeadlessShow;
use crate::input::MidiInlet;
use crate::player::{Notice, PlayerOptions};
use crate::transport::Cue;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Percentile of a sorted slice (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(name: &str, unit: &str, mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.total_cmp(b));
    format!(
        "{name:<44} n={:<5} p50={:>9.3} {unit}  p99={:>9.3} {unit}  max={:>9.3} {unit}",
        v.len(),
        percentile(&v, 50.0),
        percentile(&v, 99.0),
        v.last().copied().unwrap_or(f64::NAN)
    )
}

fn wait_cue(show: &HeadlessShow, want: Cue) -> Result<Duration, String> {
    loop {
        match show.notices.recv_timeout(Duration::from_secs(5)) {
            Ok(Notice::Cued { cue, latency }) if cue == want => return Ok(latency),
            Ok(Notice::Fatal(m)) => return Err(m),
            Ok(_) => {}
            Err(_) => return Err(format!("no {want:?} cue within 5 s")),
        }
    }
}

/// Runs the benchmark and prints the results.
pub fn run(args: &BenchArgs) -> Result<(), String> {
    let video = args.video.clone().unwrap_or_else(crate::cli::demo_video);
    println!("playhead bench on '{}'", video.display());
    println!("{}", METHOD);

    let show = HeadlessShow::start(&video, &PlayerOptions::default(), 640, 360)?;
    show.wait_ready(Duration::from_secs(10))?;
    let mut inlet: MidiInlet = show.inlet("bench");
    let (mut told_us, mut moving_ms, mut frame_ms) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.triggers {
        inlet.receive(&[0xFC], Instant::now());
        inlet.receive(&[0xF2, 0x00, 0x00], Instant::now());
        // Arm: wait until frame 0 is on the screen again and mpv has settled.
        let _ = wait_cue(&show, Cue::Arm);
        let settle = Instant::now() + Duration::from_secs(2);
        while show.screen().latest().frame_number(640, 360) != Some(0) && Instant::now() < settle {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(60));
        let armed_pos = show.mpv.get_double("time-pos").unwrap_or(0.0);
        let serial = show.screen().latest().serial;

        let received = Instant::now();
        inlet.receive(&[0xFA], received);
        told_us.push(wait_cue(&show, Cue::Play)?.as_secs_f64() * 1e6);
        let deadline = received + Duration::from_secs(2);
        loop {
            if let Ok(p) = show.mpv.get_double("time-pos") {
                if p > armed_pos + 1e-6 {
                    moving_ms.push(received.elapsed().as_secs_f64() * 1e3);
                    break;
                }
            }
            if Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        let mut last = serial;
        while let Some(f) = show.screen().wait_newer(last, Duration::from_secs(2)) {
            last = f.serial;
            if matches!(f.frame_number(640, 360), Some(n) if n > 0) {
                if let Some(at) = f.rendered_at {
                    frame_ms.push(at.saturating_duration_since(received).as_secs_f64() * 1e3);
                }
                break;
            }
        }
    }
    drop(show);
    println!(
        "{}",
        summary("MIDI Start received -> mpv told to play", "µs", told_us)
    );
    println!(
        "{}",
        summary("MIDI Start received -> time-pos moving", "ms", moving_ms)
    );
    println!(
        "{}",
        summary("MIDI Start received -> next frame rendered", "ms", frame_ms)
    );

    let exe = std::env::current_exe().map_err(|e| format!("cannot find the program: {e}"))?;
    let mut start_ms = Vec::new();
    for _ in 0..args.starts {
        let spawned = Instant::now();
        let mut child = Command::new(&exe)
            .arg("--headless")
            .arg(&video)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains("armed:") {
                start_ms.push(spawned.elapsed().as_secs_f64() * 1e3);
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    println!(
        "{}",
        summary("process start -> armed on the first frame", "ms", start_ms)
    );
    Ok(())
}

const METHOD: &str =
    "method: software renderer at 640x360, no window; Start bytes go through the same \
MidiInlet as an OS port's callback, stamped on receipt; SPP 0 re-arms before each trigger; \
start-up spawns 'playhead --headless' and waits for its 'armed' log line.";
