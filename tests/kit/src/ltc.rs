//! An LTC encoder for the tests: timecode frames to audio samples, as a DAW's LTC output
//! would send them, with the level, the rise time and the noise a cable and an input give.

use playhead_core::chase::timecode::Timecode;
use playhead_core::ltc::{frame_bits, BITS_PER_FRAME};
use playhead_core::rng::Rng;

/// Writes LTC into a stream of samples, frame after frame.
#[derive(Clone, Debug)]
pub struct LtcEncoder {
    sample_rate_hz: f64,
    /// The signal's peak amplitude (1.0 = full scale).
    pub amplitude: f32,
    /// White noise added, peak amplitude.
    pub noise: f32,
    /// A one-pole low-pass on the edges, as an output stage and a cable give: the fraction of
    /// the way to the new level covered per sample (1.0 = a perfect square wave).
    pub edge_per_sample: f32,
    /// Position of the next bit boundary, in samples (fractional).
    position: f64,
    /// Samples written so far.
    written: u64,
    level: f32,
    filtered: f32,
    rng: Rng,
}

impl LtcEncoder {
    /// An encoder at `sample_rate_hz` with a clean line-level signal (-6 dBFS peak).
    pub fn new(sample_rate_hz: u32) -> Self {
        LtcEncoder {
            sample_rate_hz: f64::from(sample_rate_hz),
            amplitude: 0.5,
            noise: 0.0,
            edge_per_sample: 0.6,
            position: 0.0,
            written: 0,
            level: 1.0,
            filtered: 0.0,
            rng: Rng::seeded(0x17C),
        }
    }

    /// The sample number the next frame starts at (with a fraction).
    pub fn position(&self) -> f64 {
        self.position
    }

    /// Appends one frame of `timecode` lasting `1/fps` s to `out`; returns the sample
    /// position at which the frame began.
    pub fn frame(&mut self, timecode: &Timecode, fps: f64, out: &mut Vec<f32>) -> f64 {
        let start = self.position;
        let bits = frame_bits(timecode);
        let cell = self.sample_rate_hz / (fps * BITS_PER_FRAME as f64);
        for i in 0..BITS_PER_FRAME {
            let one = (bits >> i) & 1 == 1;
            let begin = self.position;
            self.level = -self.level;
            if one {
                self.render_until(begin + cell / 2.0, out);
                self.level = -self.level;
            }
            self.render_until(begin + cell, out);
            self.position = begin + cell;
        }
        start
    }

    /// Appends `duration_s` of silence (a dropout); the next frame starts after it.
    pub fn silence(&mut self, duration_s: f64, out: &mut Vec<f32>) {
        let saved = self.amplitude;
        self.amplitude = 0.0;
        let until = self.position + duration_s * self.sample_rate_hz;
        self.render_until(until, out);
        self.position = until;
        self.amplitude = saved;
    }

    /// Writes samples up to (not including) sample position `until` at the current level.
    fn render_until(&mut self, until: f64, out: &mut Vec<f32>) {
        while (self.written as f64) < until {
            let target = self.level * self.amplitude;
            self.filtered += (target - self.filtered) * self.edge_per_sample;
            let noise = if self.noise > 0.0 {
                self.rng.symmetric() as f32 * self.noise
            } else {
                0.0
            };
            out.push(self.filtered + noise);
            self.written += 1;
        }
    }
}
