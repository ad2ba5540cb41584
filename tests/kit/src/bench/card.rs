//! `playhead-bench --test-card`: when the test card's flashes appear on screen.

use super::rigs::{changes, line};
use super::timing::{ms, Rig};
use playhead_core::test_card::{Flash, TestCard};
use playhead_testkit::peer::DawClock;
use std::path::Path;
use std::time::{Duration, Instant};

/// The latency offsets the card is measured with: none (the Start's frame is on screen,
/// armed, and simply unpauses) and 30 ms (the start is 30 ms late for the output: a seek
/// ahead, held, unpaused on time).
const OFFSETS_MS: [f64; 2] = [0.0, 30.0];

pub const METHOD: &str = "method: the release program shows its built-in test card \
(`--test-card`, 120 BPM: 60 frames a second, a flash from each beat's frame) fullscreen on a \
virtual X screen (Xvfb 1280x720 unless --screen-size says otherwise, matchbox, Mesa's software OpenGL) with --offset-ms 0, and \
again with --offset-ms 30, its network-MIDI session on loopback. A scripted DAW joins, synchronises its clock with 8 CK \
exchanges (and again before each trial) and per trial arms it (SPP 0) and sends Start stamped \
with the moment t it meant it. A poller reads the card's frame code off the screen every \
0.5 ms. The flash of beat b (b = 1..8, the card's frame 30b) is due at t + b x 500 ms - the \
offset; the error is when that frame appeared minus that. No MIDI clock is sent.";

pub fn run(exe: &Path, trials: u32, size: (u16, u16)) -> Result<(), String> {
    println!("screen {}x{}", size.0, size.1);
    for offset_ms in OFFSETS_MS {
        flashes(exe, trials, offset_ms, size)?;
    }
    println!("{}", playhead_testkit::onscreen::poller_priority());
    Ok(())
}

fn flashes(exe: &Path, trials: u32, offset_ms: f64, size: (u16, u16)) -> Result<(), String> {
    let card = TestCard::new(120.0, playhead::chase::position::TimeSignature::FOUR_FOUR);
    let clock = DawClock::new(77_000_000, 30e-6);
    let offset = format!("{offset_ms}");
    let mut rig = Rig::start_with(
        exe,
        Path::new(playhead_core::test_card::TEST_CARD),
        560,
        size,
        &["--offset-ms", &offset],
        "test card",
        &clock,
    )?;
    let (mut beats, mut downbeats) = (Vec::new(), Vec::new());
    let mut missed = 0;
    for _ in 0..trials {
        // Armed on the frame the offset makes the song's start.
        rig.arm_on(&clock, (offset_ms / 1000.0 * card.fps()).round() as u32)?;
        let meant = Instant::now();
        rig.send(&clock, meant, &[&[0xFA]])?;
        let last = 8 * card.frames_per_beat();
        if !rig
            .poller
            .wait_for(Duration::from_secs(10), |n| n.is_some_and(|n| n > last))
        {
            return Err("the card did not play through 8 beats".into());
        }
        let seen = changes(&rig.poller.seen_since(meant));
        for b in 1..=8u32 {
            let frame = b * card.frames_per_beat();
            let Some((_, at)) = seen.iter().find(|(n, _)| *n == frame) else {
                missed += 1;
                continue;
            };
            let due_ms = f64::from(b) * card.beat_s() * 1000.0 - offset_ms;
            let error = ms(*at, meant) - due_ms;
            match card.flash(u64::from(frame)) {
                Flash::Downbeat => downbeats.push(error),
                _ => beats.push(error),
            }
        }
    }
    let all: Vec<f64> = beats.iter().chain(&downbeats).copied().collect();
    println!(
        "{}",
        line(
            &format!("offset {offset_ms} ms: flash vs its beat - offset"),
            &all,
            "ms"
        )
    );
    println!("{}", line("  of which downbeats", &downbeats, "ms"));
    println!(
        "  flashes never shown (their frame skipped): {missed} of {}",
        trials * 8
    );
    Ok(())
}
