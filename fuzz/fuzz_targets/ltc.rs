//! Arbitrary audio into the LTC decoder: the bytes are read as 16-bit samples, cut into
//! chunks with gaps where the input says so, at a sample rate the input picks; nothing may
//! panic, and every frame decoded must carry a valid time.
//!
//! Run with `cargo +nightly fuzz run ltc` from the repository root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use playhead_core::ltc::LtcDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let rate_hz = [8_000, 44_100, 48_000, 96_000][usize::from(head & 3)];
    let mut decoder = LtcDecoder::new(rate_hz);
    let samples: Vec<f32> = rest
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    let chunk = usize::from(head >> 2).max(1) * 7;
    let mut position = 0u64;
    for (i, c) in samples.chunks(chunk).enumerate() {
        decoder.feed(c, position, |frame| {
            assert!(frame.timecode.hours() < 24);
            assert!(frame.end_sample >= frame.start_sample);
        });
        // Every fifth chunk leaves a gap, as lost samples would.
        position += c.len() as u64 + if i % 5 == 4 { 3 } else { 0 };
    }
});
