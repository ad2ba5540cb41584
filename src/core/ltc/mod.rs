//! SMPTE linear timecode (LTC) from audio samples: the timecode that rides on an ordinary
//! audio cable from the DAW's interface.
//!
//! Pure: samples and their positions in the input's sample count go in, [`LtcFrame`]s with
//! the sample positions where each frame began and ended come out. The caller turns sample
//! positions into times on the one clock (it knows when its audio was captured).
//!
//! How the signal is read:
//!
//! - **Any level.** The decoder follows the signal's own peaks (a fast attack, a slow release)
//!   and slices it at the middle between them with a hysteresis of a fifth of the swing, so a
//!   line level, a mic level, a level that changes in the middle and a DC offset all decode;
//!   noise smaller than the hysteresis never makes a transition.
//! - **Biphase mark.** Every bit cell starts with a transition; a `1` has one more in its
//!   middle. Intervals are sorted into whole and half cells against the tracked bit period,
//!   which follows the speed of the signal (24 to 30 fps and varispeed around them).
//! - **Frames.** 80 bits end in the sync word `0011 1111 1111 1101`; the 64 bits before it
//!   hold the time in BCD. Digits out of range (noise that happened to look like a sync word)
//!   are refused.
//! - **Frame rate** from the frame's length in samples (24, 25 or 30) and the drop-frame
//!   flag (29.97 drop-frame).
//!
//! Only forward-running timecode is decoded; LTC played backwards (a reverse shuttle) shows
//! its sync word reversed and is ignored, as is anything else that is not a whole frame.

use crate::chase::timecode::{FrameRate, Timecode};

/// The sync word as it sits in bits 64-79 of a frame read in transmission order (bit 64 the
/// lowest): `0011 1111 1111 1101`.
const SYNC_WORD: u128 = 0xBFFC;

/// Bits in one LTC frame.
pub const BITS_PER_FRAME: usize = 80;

/// Slowest and fastest bit rates followed, in bits per second: 24 fps at -10 % to 30 fps at
/// +10 % (80 bits a frame).
const MIN_BIT_RATE_HZ: f64 = 80.0 * 24.0 * 0.9;
const MAX_BIT_RATE_HZ: f64 = 80.0 * 30.0 * 1.1;

/// The hysteresis around the middle level, as a fraction of the peak-to-peak swing.
const HYSTERESIS_OF_SWING: f32 = 0.2;

/// How fast the tracked peaks fall back towards the signal, in seconds (time constant): long
/// against a bit (about 0.4 ms), short against a level change someone makes at the desk.
const PEAK_RELEASE_S: f64 = 0.02;

/// Swings below this peak-to-peak amplitude (about -66 dBFS) are taken as silence.
const SILENCE_SWING: f32 = 0.001;

/// One decoded frame of linear timecode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LtcFrame {
    /// The time address the frame carries: the time at its start.
    pub timecode: Timecode,
    /// The position (in the input's samples, with a fraction) of the transition that began
    /// the frame's first bit: the moment `timecode` was true.
    pub start_sample: f64,
    /// The position of the transition that ended the frame's last bit.
    pub end_sample: f64,
    /// The frame rate the decoder measured from the frame's length, in frames per second
    /// (about 24, 25, 29.97 or 30, or off them under varispeed).
    pub measured_fps: f64,
    /// The signal's peak amplitude (half the peak-to-peak swing, 1.0 = full scale), for the
    /// operator's level check.
    pub peak_level: f32,
}

/// Counters for the operator's check and the logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LtcStats {
    /// Whole frames decoded.
    pub frames: u64,
    /// Times the bit stream broke (an interval that fits no bit, a sample gap, a bad frame).
    pub resyncs: u64,
}

/// Decodes LTC from a mono stream of samples. One per input.
#[derive(Clone, Debug)]
pub struct LtcDecoder {
    sample_rate_hz: f64,
    /// The position of the next sample expected; a different one means samples were lost.
    next_sample: Option<u64>,
    previous: f32,
    high_peak: f32,
    low_peak: f32,
    peak_release: f32,
    /// Which side of the middle the signal is on, after the hysteresis.
    high: Option<bool>,
    /// Where the signal last crossed the middle level (interpolated), in samples.
    last_middle_crossing: f64,
    /// Where the last accepted transition was.
    last_transition: Option<f64>,
    /// The bit period in samples, tracked.
    bit_period: f64,
    min_bit_period: f64,
    max_bit_period: f64,
    /// True after the first half of a `1`.
    half_bit: bool,
    /// True when the frame was completed at the middle of its last bit (a `1`): the
    /// transition that ends that bit is the next frame's start, not a bit of its own.
    ended_early: bool,
    /// Where the bit cell being read began.
    cell_start: f64,
    /// The last 80 bits, the first received in bit 0.
    bits: u128,
    /// Bits received without a break since the last frame or resync.
    run_bits: usize,
    /// Where each of the last 80 bits began, indexed by bit count modulo 80.
    bit_starts: [f64; BITS_PER_FRAME],
    bit_count: usize,
    stats: LtcStats,
}

impl LtcDecoder {
    /// A decoder for samples at `sample_rate_hz` (8 kHz and up; 44.1 and 48 kHz are usual).
    pub fn new(sample_rate_hz: u32) -> Self {
        let rate = f64::from(sample_rate_hz.max(8000));
        let min_bit_period = rate / MAX_BIT_RATE_HZ;
        let max_bit_period = rate / MIN_BIT_RATE_HZ;
        LtcDecoder {
            sample_rate_hz: rate,
            next_sample: None,
            previous: 0.0,
            high_peak: 0.0,
            low_peak: 0.0,
            peak_release: (1.0 / (rate * PEAK_RELEASE_S)) as f32,
            high: None,
            last_middle_crossing: 0.0,
            last_transition: None,
            bit_period: rate / (80.0 * 27.0),
            min_bit_period,
            max_bit_period,
            half_bit: false,
            ended_early: false,
            cell_start: 0.0,
            bits: 0,
            run_bits: 0,
            bit_starts: [0.0; BITS_PER_FRAME],
            bit_count: 0,
            stats: LtcStats::default(),
        }
    }

    /// The sample rate the decoder was made for, in Hz.
    pub fn sample_rate_hz(&self) -> f64 {
        self.sample_rate_hz
    }

    /// Counters since the decoder was made.
    pub fn stats(&self) -> LtcStats {
        self.stats
    }

    /// The signal's current peak amplitude (1.0 = full scale).
    pub fn peak_level(&self) -> f32 {
        ((self.high_peak - self.low_peak) / 2.0).max(0.0)
    }

    /// Feeds `samples`, the first of which is sample number `first_sample` of the input;
    /// calls `emit` for every frame completed, in order. A `first_sample` other than the one
    /// after the last call's samples means samples were lost: the frame being read is dropped.
    /// Samples that are not finite count as silence.
    pub fn feed(&mut self, samples: &[f32], first_sample: u64, mut emit: impl FnMut(LtcFrame)) {
        if self.next_sample.is_some_and(|n| n != first_sample) {
            self.resync();
            self.last_transition = None;
        }
        self.next_sample = Some(first_sample.saturating_add(samples.len() as u64));
        for (i, &raw) in samples.iter().enumerate() {
            let x = if raw.is_finite() {
                raw.clamp(-4.0, 4.0)
            } else {
                0.0
            };
            let position = first_sample.saturating_add(i as u64) as f64;
            self.sample(x, position, &mut emit);
        }
    }

    fn sample(&mut self, x: f32, position: f64, emit: &mut impl FnMut(LtcFrame)) {
        // Peaks: up at once, back towards the signal slowly.
        if x > self.high_peak {
            self.high_peak = x;
        } else {
            self.high_peak += (x - self.high_peak) * self.peak_release;
        }
        if x < self.low_peak {
            self.low_peak = x;
        } else {
            self.low_peak += (x - self.low_peak) * self.peak_release;
        }
        let swing = self.high_peak - self.low_peak;
        let middle = (self.high_peak + self.low_peak) / 2.0;
        let previous = self.previous;
        self.previous = x;
        if (previous - middle).signum() != (x - middle).signum() && previous != x {
            let fraction = f64::from((middle - previous) / (x - previous)).clamp(0.0, 1.0);
            self.last_middle_crossing = position - 1.0 + fraction;
        }
        if swing < SILENCE_SWING {
            if self.high.take().is_some() {
                self.resync();
                self.last_transition = None;
            }
            return;
        }
        let band = swing * HYSTERESIS_OF_SWING / 2.0;
        let now_high = match self.high {
            Some(true) if x < middle - band => false,
            Some(false) if x > middle + band => true,
            None if x > middle + band => true,
            None if x < middle - band => false,
            other => {
                self.high = other;
                return;
            }
        };
        let first = self.high.is_none();
        self.high = Some(now_high);
        if first {
            // The level has only just been found: no interval to measure yet.
            self.last_transition = Some(self.last_middle_crossing);
            self.cell_start = self.last_middle_crossing;
            return;
        }
        self.transition(self.last_middle_crossing.min(position), emit);
    }

    fn transition(&mut self, at: f64, emit: &mut impl FnMut(LtcFrame)) {
        let Some(last) = self.last_transition.replace(at) else {
            self.cell_start = at;
            return;
        };
        let interval = at - last;
        let period = self.bit_period;
        if interval > period * 1.5 || interval < period * 0.3 {
            // Fits no bit: a dropout, a glitch, or the first transitions of a new signal. A
            // long one may be the first whole bit at another speed: follow it if it fits the
            // speeds LTC runs at.
            self.resync();
            if (self.min_bit_period..=self.max_bit_period).contains(&interval) {
                self.bit_period = interval;
            } else if (self.min_bit_period..=self.max_bit_period).contains(&(interval * 2.0)) {
                self.bit_period = interval * 2.0;
            }
            self.cell_start = at;
            return;
        }
        if std::mem::take(&mut self.ended_early) && interval <= period * 0.75 {
            // The second half of the last bit, done already: the next frame starts here.
            self.cell_start = at;
            return;
        }
        if interval > period * 0.75 {
            // A whole cell: a 0.
            if self.half_bit {
                // A 1 cut in half: the pairing of half cells was wrong. Start over here.
                self.resync();
                self.cell_start = at;
                return;
            }
            self.track_period(interval);
            let start = self.cell_start;
            self.cell_start = at;
            self.bit(false, start, at, emit);
        } else if self.half_bit {
            self.half_bit = false;
            self.track_period(at - self.cell_start);
            let start = self.cell_start;
            self.cell_start = at;
            self.bit(true, start, at, emit);
        } else {
            self.half_bit = true;
            // The middle of the sync word's last bit (always a 1) already tells the frame:
            // finish it now, so the last frame before a dropout is not lost with the
            // transition that would have ended it.
            let with_one = (self.bits >> 1) | (1 << (BITS_PER_FRAME - 1));
            if self.run_bits + 1 >= BITS_PER_FRAME && (with_one >> 64) & 0xFFFF == SYNC_WORD {
                self.half_bit = false;
                self.ended_early = true;
                let start = self.cell_start;
                self.bit(true, start, at + (at - start), emit);
            }
        }
    }

    fn track_period(&mut self, cell: f64) {
        let p = self.bit_period + (cell - self.bit_period) * 0.1;
        self.bit_period = p.clamp(self.min_bit_period, self.max_bit_period);
    }

    fn resync(&mut self) {
        self.half_bit = false;
        self.ended_early = false;
        self.run_bits = 0;
        self.stats.resyncs += 1;
    }

    fn bit(&mut self, one: bool, start: f64, end: f64, emit: &mut impl FnMut(LtcFrame)) {
        self.bits = (self.bits >> 1) | (u128::from(one) << (BITS_PER_FRAME - 1));
        self.bit_starts[self.bit_count % BITS_PER_FRAME] = start;
        self.bit_count = self.bit_count.wrapping_add(1);
        self.run_bits = self.run_bits.saturating_add(1);
        if self.run_bits < BITS_PER_FRAME || (self.bits >> 64) & 0xFFFF != SYNC_WORD {
            return;
        }
        // Bit 0 of this frame is the one received 79 bits ago.
        let first = self.bit_starts[self.bit_count % BITS_PER_FRAME];
        self.run_bits = 0;
        let length = end - first;
        if length <= 0.0 {
            self.stats.resyncs += 1;
            return;
        }
        // One frame's length is known to a sample in some 1600 to 2000: the rate needs no
        // smoothing, and is right from the first frame after a change.
        let fps = self.sample_rate_hz / length;
        match decode_time(self.bits, fps) {
            Some(timecode) => {
                self.stats.frames += 1;
                emit(LtcFrame {
                    timecode,
                    start_sample: first,
                    end_sample: end,
                    measured_fps: fps,
                    peak_level: self.peak_level(),
                });
            }
            None => self.stats.resyncs += 1,
        }
    }
}

/// The frame rate of LTC running at `fps` with the drop-frame flag `drop`.
pub fn rate_for(fps: f64, drop: bool) -> FrameRate {
    if drop {
        FrameRate::Fps2997Drop
    } else if fps < 24.5 {
        FrameRate::Fps24
    } else if fps < 27.5 {
        FrameRate::Fps25
    } else {
        FrameRate::Fps30
    }
}

/// `count` bits of `bits` from bit `from` (transmission order, least significant first).
fn field(bits: u128, from: u32, count: u32) -> u8 {
    ((bits >> from) & ((1 << count) - 1)) as u8
}

/// The time address of a frame's 80 bits, at `fps`; `None` when a digit is out of range.
fn decode_time(bits: u128, fps: f64) -> Option<Timecode> {
    let digits = [
        (field(bits, 0, 4), 9),  // frame units
        (field(bits, 8, 2), 3),  // frame tens
        (field(bits, 16, 4), 9), // second units
        (field(bits, 24, 3), 5), // second tens
        (field(bits, 32, 4), 9), // minute units
        (field(bits, 40, 3), 5), // minute tens
        (field(bits, 48, 4), 9), // hour units
        (field(bits, 56, 2), 2), // hour tens
    ];
    if digits.iter().any(|&(d, max)| d > max) {
        return None;
    }
    let [f, ft, s, st, m, mt, h, ht] = digits.map(|(d, _)| d);
    let drop = field(bits, 10, 1) == 1;
    let rate = rate_for(fps, drop);
    Timecode::new(ht * 10 + h, mt * 10 + m, st * 10 + s, ft * 10 + f, rate).ok()
}

/// The 80 bits of the frame for `timecode`, in transmission order (bit 0 first, in the lowest
/// bit), with the drop-frame flag for 29.97 drop-frame, user bits zero, and the polarity bit
/// set so that every frame has an even number of zeros (SMPTE 12M), which keeps the signal
/// starting each frame with a transition the same way.
pub fn frame_bits(timecode: &Timecode) -> u128 {
    let put = |value: u8, from: u32| u128::from(value) << from;
    let (f, s, m, h) = (
        timecode.frames(),
        timecode.seconds(),
        timecode.minutes(),
        timecode.hours(),
    );
    let mut bits = put(f % 10, 0)
        | put(f / 10, 8)
        | put(s % 10, 16)
        | put(s / 10, 24)
        | put(m % 10, 32)
        | put(m / 10, 40)
        | put(h % 10, 48)
        | put(h / 10, 56)
        | (SYNC_WORD << 64);
    if timecode.rate().is_drop_frame() {
        bits |= 1 << 10;
    }
    // The polarity correction bit: bit 27 at 30 and 24 fps, bit 59 at 25 fps.
    let polarity_bit = if timecode.rate() == FrameRate::Fps25 {
        59
    } else {
        27
    };
    if bits.count_ones() % 2 == 1 {
        bits |= 1 << polarity_bit;
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_bits_decode_back_with_sync_word_and_even_zeros() {
        for (text, rate) in [
            ("23:59:59:29", FrameRate::Fps30),
            ("01:02:03:04", FrameRate::Fps25),
            ("10:20:30:23", FrameRate::Fps24),
            ("00:01:00:02", FrameRate::Fps2997Drop),
        ] {
            let tc = Timecode::parse(text, rate).unwrap();
            let bits = frame_bits(&tc);
            assert_eq!((bits >> 64) & 0xFFFF, SYNC_WORD);
            assert_eq!(bits.count_ones() % 2, 0, "{text}");
            let fps = rate.real_fps();
            assert_eq!(decode_time(bits, fps), Some(tc), "{text}");
        }
        // A digit out of range is refused: frame units 12.
        let bad = frame_bits(&Timecode::parse("00:00:00:00", FrameRate::Fps25).unwrap()) | 0x0C;
        assert_eq!(decode_time(bad, 25.0), None);
    }
}
