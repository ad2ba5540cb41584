//! The LTC decoder against the test kit's encoder: every frame rate, line and mic levels, a
//! level change, noise, a dropout, any chunking, and random audio (which must never panic
//! nor make timecode up).

use playhead::chase::timecode::{FrameRate, Timecode};
use playhead::ltc::{LtcDecoder, LtcFrame};
use playhead_testkit::ltc::LtcEncoder;
use proptest::prelude::*;

const RATE_HZ: u32 = 48_000;

/// `count` consecutive frames from `first` at `rate`; returns the samples and the sample
/// position each frame began at.
fn encode(
    enc: &mut LtcEncoder,
    first: &str,
    rate: FrameRate,
    count: u64,
) -> (Vec<f32>, Vec<(Timecode, f64)>) {
    let start = Timecode::parse(first, rate).unwrap();
    let mut samples = Vec::new();
    let mut starts = Vec::new();
    for i in 0..count {
        let tc = Timecode::from_frame_count(start.frame_count() + i, rate);
        let at = enc.frame(&tc, rate.real_fps(), &mut samples);
        starts.push((tc, at));
    }
    (samples, starts)
}

fn decode(samples: &[f32], chunk: usize) -> Vec<LtcFrame> {
    let mut dec = LtcDecoder::new(RATE_HZ);
    let mut out = Vec::new();
    let mut at = 0u64;
    for c in samples.chunks(chunk.max(1)) {
        dec.feed(c, at, |f| out.push(f));
        at += c.len() as u64;
    }
    out
}

/// Every frame after the first `lead_in` must be decoded, with its rate, starting within two
/// samples (42 µs) of where it was written; the last one too, though no transition follows
/// it.
fn assert_decoded(frames: &[LtcFrame], written: &[(Timecode, f64)], lead_in: usize, what: &str) {
    for (tc, at) in &written[lead_in..] {
        let f = frames
            .iter()
            .find(|f| f.timecode == *tc)
            .unwrap_or_else(|| panic!("{what}: frame {tc:?} not decoded"));
        assert!(
            (f.start_sample - at).abs() < 2.0,
            "{what}: {tc:?} began at sample {at}, decoded at {}",
            f.start_sample
        );
    }
}

/// No frame decoded that was never written.
fn assert_none_made_up(frames: &[LtcFrame], written: &[(Timecode, f64)]) {
    assert!(
        frames
            .iter()
            .all(|f| written.iter().any(|(tc, _)| *tc == f.timecode)),
        "decoded a frame never written"
    );
}

#[test]
fn every_frame_rate_is_decoded_and_detected() {
    for (rate, first) in [
        (FrameRate::Fps24, "01:00:00:00"),
        (FrameRate::Fps25, "10:59:59:20"),
        (FrameRate::Fps2997Drop, "00:00:59:20"),
        (FrameRate::Fps30, "23:59:58:00"),
    ] {
        let mut enc = LtcEncoder::new(RATE_HZ);
        let (samples, written) = encode(&mut enc, first, rate, 60);
        let frames = decode(&samples, 256);
        assert_decoded(&frames, &written, 2, &format!("{rate:?}"));
        assert_none_made_up(&frames, &written);
        assert!(frames.iter().all(|f| f.timecode.rate() == rate), "{rate:?}");
        let fps = frames.last().unwrap().measured_fps;
        assert!((fps - rate.real_fps()).abs() < 0.05, "{rate:?}: {fps}");
    }
}

#[test]
fn mic_and_line_levels_a_level_change_and_noise() {
    for (amplitude, noise) in [(0.9, 0.0), (0.003, 0.0), (0.5, 0.1), (0.01, 0.002)] {
        let mut enc = LtcEncoder::new(RATE_HZ);
        enc.amplitude = amplitude;
        enc.noise = noise;
        let (samples, written) = encode(&mut enc, "02:00:00:00", FrameRate::Fps25, 40);
        let frames = decode(&samples, 1000);
        assert_decoded(
            &frames,
            &written,
            2,
            &format!("level {amplitude}, noise {noise}"),
        );
        assert_none_made_up(&frames, &written);
    }
    // From line level down 30 dB in the middle of the show (someone pulls a fader): no more
    // than two frames lost while the decoder follows.
    let mut enc = LtcEncoder::new(RATE_HZ);
    let (mut samples, mut written) = encode(&mut enc, "02:00:00:00", FrameRate::Fps30, 30);
    enc.amplitude = 0.5 / 31.6;
    let (more, more_written) = encode(&mut enc, "02:00:01:00", FrameRate::Fps30, 30);
    samples.extend(more);
    written.extend(more_written);
    let frames = decode(&samples, 480);
    let lost = written.len() - frames.len();
    assert!(lost <= 4, "{lost} frames lost across the level change");
    assert_decoded(&frames, &written[..30], 2, "before the change");
    assert_decoded(&frames, &written[30..], 2, "after the change");
    assert_none_made_up(&frames, &written);
}

#[test]
fn a_dropout_loses_only_its_frames() {
    let mut enc = LtcEncoder::new(RATE_HZ);
    let (mut samples, written) = encode(&mut enc, "00:10:00:00", FrameRate::Fps25, 25);
    enc.silence(0.2, &mut samples);
    let (more, after) = encode(&mut enc, "00:10:01:05", FrameRate::Fps25, 25);
    samples.extend(more);
    let frames = decode(&samples, 512);
    assert_decoded(&frames, &written, 2, "before the dropout");
    assert_decoded(&frames, &after, 2, "after the dropout");
    let mut all = written.clone();
    all.extend(after);
    assert_none_made_up(&frames, &all);
}

#[test]
fn lost_samples_drop_the_frame_being_read() {
    let mut enc = LtcEncoder::new(RATE_HZ);
    let (samples, written) = encode(&mut enc, "00:00:10:00", FrameRate::Fps25, 20);
    let mut dec = LtcDecoder::new(RATE_HZ);
    let mut frames = Vec::new();
    // Half a frame's samples go missing after sample 19 200 (frame 10 of 20).
    dec.feed(&samples[..19_200], 0, |f| frames.push(f));
    dec.feed(&samples[20_160..], 20_160, |f| frames.push(f));
    assert!(frames.iter().all(|f| f.timecode != written[10].0));
    assert_decoded(&frames, &written[13..], 0, "after the gap");
    assert_none_made_up(&frames, &written);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random audio never panics the decoder, and only now and then looks like a frame.
    #[test]
    fn random_audio_is_harmless(
        samples in proptest::collection::vec(any::<f32>(), 0..20_000),
        chunk in 1usize..4096,
    ) {
        let frames = decode(&samples, chunk);
        prop_assert!(frames.len() <= 1, "{} frames from random audio", frames.len());
    }

    /// Random audio around real timecode, cut into random chunks: the timecode is decoded
    /// whatever the chunking.
    #[test]
    fn timecode_after_rubbish_in_any_chunks(
        rubbish in proptest::collection::vec(-1.0f32..1.0, 0..5_000),
        chunk in 1usize..3000,
        first in 0u64..2_000_000,
    ) {
        let mut enc = LtcEncoder::new(RATE_HZ);
        let mut samples = rubbish.clone();
        enc.silence(rubbish.len() as f64 / f64::from(RATE_HZ), &mut Vec::new());
        let (tc_samples, written) = {
            let tc = Timecode::from_frame_count(first, FrameRate::Fps25);
            let mut s = Vec::new();
            let mut w = Vec::new();
            for i in 0..12 {
                let t = tc.add_frames(i);
                let at = enc.frame(&t, 25.0, &mut s);
                w.push((t, at));
            }
            (s, w)
        };
        samples.extend(tc_samples);
        let frames = decode(&samples, chunk);
        for (tc, _) in &written[3..] {
            prop_assert!(frames.iter().any(|f| f.timecode == *tc), "{:?} missing", tc);
        }
    }
}
