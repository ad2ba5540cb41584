//! MIDI Time Code: exact frame arithmetic, the running code assembled from quarter frames, and
//! the mapping from timecode to video seconds.
//!
//! # Rates
//!
//! MTC carries one of four rates in two bits of the hours byte (rate code 0-3): 24, 25, 29.97
//! drop-frame and 30 fps. Drop-frame counts 30 frame labels per second but plays 30000/1001
//! frames per real second; to keep the labels close to the wall clock it skips the labels
//! `;00` and `;01` at the start of every minute except minutes divisible by ten. So a
//! drop-frame day has 2 589 408 frames, ten minutes have 17 982 and the real time of frame `n`
//! is `n × 1001 / 30000` s. `00:01:00;00` does not exist; `00:00:59;29` is followed by
//! `00:01:00;02`. MTC has no code for 29.97 non-drop: a DAW set to it sends code 3 (30 fps)
//! with the labels of 29.97, and only the real-time speed differs (0.1 %, which the drift
//! controller absorbs like any clock drift).
//!
//! Timecode is a 24-hour clock: arithmetic that leaves the day wraps at midnight, as timecode
//! generators do.
//!
//! # Quarter frames
//!
//! While the DAW plays it sends `F1 xx` four times per frame. The data byte holds a piece
//! number in bits 4-6 and a nibble of the time in bits 0-3: pieces 0-1 frames, 2-3 seconds,
//! 4-5 minutes, 6-7 hours, and piece 7 also holds the rate code in bits 1-2. Running forward
//! the pieces come 0, 1, ..., 7; running backward 7, 6, ..., 0. Eight pieces take two frames,
//! so a time is complete every other frame.
//!
//! The time carried is that of the frame at which piece 0 was sent, two frames before the
//! next piece 0: by the time the last piece arrives the DAW has moved on. The MTC
//! specification tells receivers to add two frames (subtract, running backward), and
//! [`QuarterFrameAssembler`] does so. More precisely the last piece arrives 1.75 frames after
//! piece 0, a quarter frame before the frame it names begins; xjadeo and Ardour compensate
//! 1.75 frames for the same reason. [`QuarterFrameTime::real_time_at_receipt_s`] gives that exact
//! position for the receipt time, which is what a chasing player needs.
//!
//! A missing or repeated piece breaks the sequence: the assembler drops the partial time and
//! starts again at the next piece 0 (forward) or piece 7 (backward). A full-frame message
//! (`F0 7F 7F 01 01 hh mm ss ff F7`, decoded by the parser) locates directly through
//! [`Timecode::from_full_frame`]; the caller resets the assembler then, because the quarter
//! frames that follow belong to the new position.
//!
//! # Video start
//!
//! Shows put the video's first frame at a round timecode such as `01:00:00:00`. A
//! [`VideoStart`] holds that timecode and turns any received time into video seconds
//! (negative before the start).

use std::fmt;

use super::ChaseError;

mod quarter_frame;
mod video_start;

pub use quarter_frame::{Direction, QuarterFrameAssembler, QuarterFrameTime, MAX_PIECE_GAP_S};
pub use video_start::VideoStart;

/// An MTC frame rate, with its rate code from the hours byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameRate {
    /// 24 fps, rate code 0 (film).
    Fps24,
    /// 25 fps, rate code 1 (PAL video).
    Fps25,
    /// 29.97 fps drop-frame, rate code 2 (NTSC video).
    Fps2997Drop,
    /// 30 fps non-drop, rate code 3.
    Fps30,
}

/// Frames per ten minutes at 29.97 drop-frame: 10 × 1800 minus 2 for each of 9 minutes.
const DF_FRAMES_PER_TEN_MINUTES: u64 = 17_982;
/// Frames per minute at 29.97 drop-frame, for the nine minutes that drop two labels.
const DF_FRAMES_PER_DROP_MINUTE: u64 = 1_798;

impl FrameRate {
    /// The rate for an MTC rate code (0-3).
    pub fn from_rate_code(code: u8) -> Result<Self, ChaseError> {
        match code {
            0 => Ok(FrameRate::Fps24),
            1 => Ok(FrameRate::Fps25),
            2 => Ok(FrameRate::Fps2997Drop),
            3 => Ok(FrameRate::Fps30),
            _ => Err(ChaseError::InvalidRateCode { code }),
        }
    }

    /// The MTC rate code (0-3).
    pub fn rate_code(self) -> u8 {
        match self {
            FrameRate::Fps24 => 0,
            FrameRate::Fps25 => 1,
            FrameRate::Fps2997Drop => 2,
            FrameRate::Fps30 => 3,
        }
    }

    /// Frame labels per timecode second: 24, 25, 30, 30.
    pub fn frames_per_second(self) -> u8 {
        match self {
            FrameRate::Fps24 => 24,
            FrameRate::Fps25 => 25,
            FrameRate::Fps2997Drop | FrameRate::Fps30 => 30,
        }
    }

    /// True for 29.97 drop-frame.
    pub fn is_drop_frame(self) -> bool {
        self == FrameRate::Fps2997Drop
    }

    /// Real frames per second: 24, 25, 30000/1001, 30.
    pub fn real_fps(self) -> f64 {
        match self {
            FrameRate::Fps2997Drop => 30_000.0 / 1_001.0,
            other => f64::from(other.frames_per_second()),
        }
    }

    /// Real duration of one frame in seconds.
    pub fn frame_duration_s(self) -> f64 {
        match self {
            FrameRate::Fps2997Drop => 1_001.0 / 30_000.0,
            other => 1.0 / f64::from(other.frames_per_second()),
        }
    }

    /// Frames in 24 hours of timecode (the day after which it wraps).
    pub fn frames_per_day(self) -> u64 {
        match self {
            FrameRate::Fps2997Drop => 24 * 6 * DF_FRAMES_PER_TEN_MINUTES,
            other => 86_400 * u64::from(other.frames_per_second()),
        }
    }

    /// Real seconds from frame 0 to frame `frames` (fractional frames allowed).
    fn seconds_of_frames(self, frames: f64) -> f64 {
        match self {
            // Multiply before dividing so whole frames land on the exact 1001/30000 grid.
            FrameRate::Fps2997Drop => frames * 1_001.0 / 30_000.0,
            other => frames / f64::from(other.frames_per_second()),
        }
    }
}

impl fmt::Display for FrameRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrameRate::Fps24 => "24 fps",
            FrameRate::Fps25 => "25 fps",
            FrameRate::Fps2997Drop => "29.97 fps drop-frame",
            FrameRate::Fps30 => "30 fps",
        })
    }
}

/// A SMPTE/MTC time: hours, minutes, seconds and frames at a rate. Always valid: the
/// constructors refuse times that do not exist at their rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timecode {
    hours: u8,
    minutes: u8,
    seconds: u8,
    frames: u8,
    rate: FrameRate,
}

impl Timecode {
    /// A timecode; fails for hours above 23, minutes or seconds above 59, frames at or beyond
    /// the rate, and the labels drop-frame skips.
    pub fn new(
        hours: u8,
        minutes: u8,
        seconds: u8,
        frames: u8,
        rate: FrameRate,
    ) -> Result<Self, ChaseError> {
        let invalid = |reason| ChaseError::InvalidTimecode {
            hours,
            minutes,
            seconds,
            frames,
            rate,
            reason,
        };
        if hours > 23 {
            return Err(invalid("hours run from 0 to 23"));
        }
        if minutes > 59 {
            return Err(invalid("minutes run from 0 to 59"));
        }
        if seconds > 59 {
            return Err(invalid("seconds run from 0 to 59"));
        }
        if frames >= rate.frames_per_second() {
            return Err(invalid("frames must be below the frame rate"));
        }
        if rate.is_drop_frame() && seconds == 0 && frames < 2 && !minutes.is_multiple_of(10) {
            return Err(invalid(
                "drop-frame skips frames 0 and 1 at the start of each minute except every tenth",
            ));
        }
        Ok(Timecode {
            hours,
            minutes,
            seconds,
            frames,
            rate,
        })
    }

    /// The time of an MTC full-frame message, whose fields the parser has already split
    /// (`rate_code` from bits 5-6 of the hours byte).
    pub fn from_full_frame(
        rate_code: u8,
        hours: u8,
        minutes: u8,
        seconds: u8,
        frames: u8,
    ) -> Result<Self, ChaseError> {
        Timecode::new(
            hours,
            minutes,
            seconds,
            frames,
            FrameRate::from_rate_code(rate_code)?,
        )
    }

    /// Reads `hh:mm:ss:ff` (`;` or `.` also accepted before the frames, as drop-frame is often
    /// written) at `rate`.
    pub fn parse(text: &str, rate: FrameRate) -> Result<Self, ChaseError> {
        let syntax = || ChaseError::TimecodeSyntax {
            input: text.to_string(),
        };
        let mut fields = [0u8; 4];
        let mut count = 0;
        for part in text.trim().split([':', ';', '.']) {
            let slot = fields.get_mut(count).ok_or_else(syntax)?;
            if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            *slot = part.parse().map_err(|_| syntax())?;
            count += 1;
        }
        if count != 4 {
            return Err(syntax());
        }
        Timecode::new(fields[0], fields[1], fields[2], fields[3], rate)
    }

    /// The timecode `count` frames after `00:00:00:00` at `rate`, wrapping at 24 hours.
    pub fn from_frame_count(count: u64, rate: FrameRate) -> Self {
        let mut count = count % rate.frames_per_day();
        if rate.is_drop_frame() {
            // Put back the labels skipped so far, then split as if at 30 fps.
            let tens = count / DF_FRAMES_PER_TEN_MINUTES;
            let rest = count % DF_FRAMES_PER_TEN_MINUTES;
            let skipped_minutes = if rest < 2 {
                0
            } else {
                (rest - 2) / DF_FRAMES_PER_DROP_MINUTE
            };
            count += 18 * tens + 2 * skipped_minutes;
        }
        let fps = u64::from(rate.frames_per_second());
        // All quotients fit u8: the count is below one day.
        Timecode {
            hours: (count / (3600 * fps)) as u8,
            minutes: (count / (60 * fps) % 60) as u8,
            seconds: (count / fps % 60) as u8,
            frames: (count % fps) as u8,
            rate,
        }
    }

    /// Frames since `00:00:00:00` (drop-frame labels not counted).
    pub fn frame_count(&self) -> u64 {
        let fps = u64::from(self.rate.frames_per_second());
        let total_minutes = 60 * u64::from(self.hours) + u64::from(self.minutes);
        let nominal = (total_minutes * 60 + u64::from(self.seconds)) * fps + u64::from(self.frames);
        if self.rate.is_drop_frame() {
            nominal - 2 * (total_minutes - total_minutes / 10)
        } else {
            nominal
        }
    }

    /// Real seconds since `00:00:00:00` at the start of this frame (drop-frame: `frames ×
    /// 1001 / 30000`).
    pub fn real_time_s(&self) -> f64 {
        self.rate.seconds_of_frames(self.frame_count() as f64)
    }

    /// The frame that contains the instant `time_s` after `00:00:00:00` at `rate`. Fails for
    /// NaN, negative times and times of a day or more. An instant a hair before a frame starts
    /// (float rounding of that frame's own time) counts as that frame.
    pub fn from_real_time_s(time_s: f64, rate: FrameRate) -> Result<Self, ChaseError> {
        let frames = (time_s * rate.real_fps() + 1e-6).floor();
        // NaN compares false with everything, so it is tested first.
        if time_s.is_nan()
            || time_s < 0.0
            || frames.is_nan()
            || frames >= rate.frames_per_day() as f64
        {
            return Err(ChaseError::SecondsOutOfRange { seconds: time_s });
        }
        Ok(Timecode::from_frame_count(frames as u64, rate))
    }

    /// This timecode moved by `frames` (negative for earlier), wrapping at midnight.
    pub fn add_frames(&self, frames: i64) -> Self {
        let day = self.rate.frames_per_day() as i128;
        let count = (self.frame_count() as i128 + i128::from(frames)).rem_euclid(day);
        Timecode::from_frame_count(count as u64, self.rate)
    }

    /// Hours, 0-23.
    pub fn hours(&self) -> u8 {
        self.hours
    }

    /// Minutes, 0-59.
    pub fn minutes(&self) -> u8 {
        self.minutes
    }

    /// Seconds, 0-59.
    pub fn seconds(&self) -> u8 {
        self.seconds
    }

    /// Frames within the second, 0 up to the rate.
    pub fn frames(&self) -> u8 {
        self.frames
    }

    /// The frame rate.
    pub fn rate(&self) -> FrameRate {
        self.rate
    }
}

impl fmt::Display for Timecode {
    /// `hh:mm:ss:ff`, or `hh:mm:ss;ff` for drop-frame (the usual convention).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if self.rate.is_drop_frame() { ';' } else { ':' };
        write!(
            f,
            "{:02}:{:02}:{:02}{sep}{:02}",
            self.hours, self.minutes, self.seconds, self.frames
        )
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Every rate, for the tests of this folder.
    pub(super) const RATES: [FrameRate; 4] = [
        FrameRate::Fps24,
        FrameRate::Fps25,
        FrameRate::Fps2997Drop,
        FrameRate::Fps30,
    ];

    /// A timecode that is valid at `rate`.
    pub(super) fn tc(h: u8, m: u8, s: u8, f: u8, rate: FrameRate) -> Timecode {
        Timecode::new(h, m, s, f, rate).unwrap()
    }

    #[test]
    fn drop_frame_known_values() {
        let df = FrameRate::Fps2997Drop;
        assert_eq!(tc(0, 0, 59, 29, df).frame_count(), 1799);
        assert_eq!(tc(0, 1, 0, 2, df).frame_count(), 1800);
        assert_eq!(tc(0, 2, 0, 2, df).frame_count(), 3598);
        assert_eq!(tc(0, 10, 0, 0, df).frame_count(), 17_982);
        assert_eq!(tc(0, 10, 0, 1, df).frame_count(), 17_983);
        assert_eq!(tc(0, 11, 0, 2, df).frame_count(), 17_982 + 1800);
        assert_eq!(tc(1, 0, 0, 0, df).frame_count(), 107_892);
        assert_eq!(
            tc(23, 59, 59, 29, df).frame_count(),
            df.frames_per_day() - 1
        );
        assert_eq!(tc(0, 0, 59, 29, df).add_frames(1), tc(0, 1, 0, 2, df));
        assert_eq!(tc(0, 1, 0, 2, df).add_frames(-1), tc(0, 0, 59, 29, df));
        assert_eq!(tc(0, 9, 59, 29, df).add_frames(1), tc(0, 10, 0, 0, df));
        // One hour of drop-frame is 3.6 ms short of an hour of real time.
        assert!((tc(1, 0, 0, 0, df).real_time_s() - 3599.9964).abs() < 1e-9);
        assert_eq!(tc(0, 0, 1, 0, df).real_time_s(), 30.0 * 1001.0 / 30000.0);
        assert_eq!(tc(1, 0, 0, 0, df).to_string(), "01:00:00;00");
    }

    #[test]
    fn drop_frame_labels_that_do_not_exist() {
        let df = FrameRate::Fps2997Drop;
        for (m, f) in [(1, 0), (1, 1), (9, 0), (59, 1)] {
            let err = Timecode::new(0, m, 0, f, df).unwrap_err();
            assert!(err.to_string().contains("drop-frame skips"), "{err}");
        }
        for (m, f) in [(0, 0), (10, 0), (10, 1), (1, 2), (20, 1)] {
            assert!(Timecode::new(0, m, 0, f, df).is_ok());
        }
        // Not skipped at other rates, nor at second 1 of a minute.
        assert!(Timecode::new(0, 1, 0, 0, FrameRate::Fps30).is_ok());
        assert!(Timecode::new(0, 1, 1, 0, df).is_ok());
    }

    #[test]
    fn every_frame_of_the_day_round_trips() {
        for rate in RATES {
            let day = rate.frames_per_day();
            let stride = if rate.is_drop_frame() { 1 } else { 7 };
            let mut last_seconds = -1.0;
            for count in (0..day).step_by(stride) {
                let t = Timecode::from_frame_count(count, rate);
                assert!(
                    Timecode::new(t.hours(), t.minutes(), t.seconds(), t.frames(), rate).is_ok(),
                    "{t} at {rate}"
                );
                assert_eq!(t.frame_count(), count, "{t}");
                let s = t.real_time_s();
                assert!(s > last_seconds);
                last_seconds = s;
                if count % 1009 == 0 {
                    assert_eq!(Timecode::from_real_time_s(s, rate).unwrap(), t);
                    let mid = s + rate.frame_duration_s() / 2.0;
                    assert_eq!(Timecode::from_real_time_s(mid, rate).unwrap(), t);
                }
            }
            assert_eq!(Timecode::from_frame_count(day, rate).frame_count(), 0);
        }
    }

    #[test]
    fn validation_and_parsing() {
        let r25 = FrameRate::Fps25;
        assert!(Timecode::new(24, 0, 0, 0, r25).is_err());
        assert!(Timecode::new(0, 60, 0, 0, r25).is_err());
        assert!(Timecode::new(0, 0, 60, 0, r25).is_err());
        assert!(Timecode::new(0, 0, 0, 25, r25).is_err());
        assert!(Timecode::new(0, 0, 0, 24, FrameRate::Fps24).is_err());
        assert!(Timecode::new(0, 0, 0, 29, FrameRate::Fps30).is_ok());
        assert_eq!(
            Timecode::from_full_frame(1, 1, 2, 3, 4).unwrap(),
            tc(1, 2, 3, 4, r25)
        );
        assert_eq!(
            Timecode::from_full_frame(4, 1, 2, 3, 4),
            Err(ChaseError::InvalidRateCode { code: 4 })
        );
        assert_eq!(
            Timecode::parse("01:00:00:00", r25).unwrap(),
            tc(1, 0, 0, 0, r25)
        );
        assert_eq!(
            Timecode::parse(" 00:10:00;00 ", FrameRate::Fps2997Drop).unwrap(),
            tc(0, 10, 0, 0, FrameRate::Fps2997Drop)
        );
        for bad in [
            "",
            "1:2:3",
            "01:00:00:00:00",
            "aa:00:00:00",
            "01:00::00",
            "001:00:00:00",
            "+1:00:00:00",
        ] {
            assert!(
                matches!(
                    Timecode::parse(bad, r25),
                    Err(ChaseError::TimecodeSyntax { .. })
                ),
                "{bad}"
            );
        }
        assert!(Timecode::parse("01:00:00:25", r25).is_err());
        for s in [f64::NAN, -0.001, 86_400.0, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(Timecode::from_real_time_s(s, r25).is_err(), "{s}");
        }
        assert_eq!(
            Timecode::from_real_time_s(86_399.99, r25).unwrap(),
            tc(23, 59, 59, 24, r25)
        );
        assert_eq!(tc(23, 59, 59, 24, r25).add_frames(1), tc(0, 0, 0, 0, r25));
        assert_eq!(tc(0, 0, 0, 0, r25).add_frames(-1), tc(23, 59, 59, 24, r25));
        assert_eq!(tc(0, 0, 0, 0, r25).add_frames(i64::MIN).rate(), r25);
    }
}
