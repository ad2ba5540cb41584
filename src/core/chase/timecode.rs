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

/// Which way the running timecode goes, told by the order of quarter-frame pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Pieces 0 to 7: time advances (play).
    Forward,
    /// Pieces 7 to 0: time goes back (reverse play, scrub).
    Backward,
}

/// A complete time assembled from eight quarter frames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuarterFrameTime {
    /// The time the DAW is at: the carried time plus two frames (minus two running backward),
    /// as the MTC specification prescribes.
    pub timecode: Timecode,
    /// Direction the pieces came in.
    pub direction: Direction,
    /// Receipt time of the last piece, on the caller's clock.
    pub received_at_s: f64,
}

impl QuarterFrameTime {
    /// The exact DAW position, in timecode seconds, at `received_at_s`: the last piece arrives
    /// a quarter frame before [`Self::timecode`] begins (1.75 frames after the carried time),
    /// so this is a quarter frame earlier than `timecode.real_time_s()` (later, running backward).
    pub fn real_time_at_receipt_s(&self) -> f64 {
        let quarter_s = self.timecode.rate().frame_duration_s() / 4.0;
        match self.direction {
            Direction::Forward => self.timecode.real_time_s() - quarter_s,
            Direction::Backward => self.timecode.real_time_s() + quarter_s,
        }
    }
}

/// Longest pause between two quarter frames of one sequence. At 24 fps pieces are 10.4 ms
/// apart; 100 ms (about ten pieces) means the stream stopped, so a partial time is stale.
pub const MAX_PIECE_GAP_S: f64 = 0.1;

/// Assembles MTC quarter frames into complete times. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct QuarterFrameAssembler {
    nibbles: [u8; 8],
    /// Direction and length of the sequence in progress, if any.
    sequence: Option<(Direction, u8)>,
    last_piece: u8,
    last_received_s: Option<f64>,
    broken_sequences: u64,
}

impl QuarterFrameAssembler {
    /// An assembler waiting for a piece 0 or 7.
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops any partial time. Call it on a full-frame message and when the transport stops.
    pub fn reset(&mut self) {
        self.sequence = None;
        self.last_received_s = None;
    }

    /// Sequences dropped because a piece was missing, out of order or late; for diagnostics.
    pub fn broken_sequences(&self) -> u64 {
        self.broken_sequences
    }

    /// Takes the data byte of one `F1` message and its receipt time. Returns the complete time
    /// when this piece finishes one, `Ok(None)` while assembling, and an error for a byte with
    /// bit 7 set or a complete time that does not exist at its rate (both also restart the
    /// assembly). A piece with a non-finite receipt time is dropped and restarts the assembly.
    pub fn push(
        &mut self,
        data: u8,
        received_at_s: f64,
    ) -> Result<Option<QuarterFrameTime>, ChaseError> {
        if data & 0x80 != 0 {
            self.break_sequence();
            return Err(ChaseError::QuarterFrameData { data });
        }
        if !received_at_s.is_finite() {
            self.break_sequence();
            self.last_received_s = None;
            return Ok(None);
        }
        let piece = (data >> 4) & 0x07;
        let late = self
            .last_received_s
            .is_some_and(|last| (received_at_s - last).abs() > MAX_PIECE_GAP_S);
        self.last_received_s = Some(received_at_s);

        let continues = match self.sequence {
            Some((Direction::Forward, _)) if !late => piece == self.last_piece + 1,
            Some((Direction::Backward, _)) if !late => {
                self.last_piece > 0 && piece == self.last_piece - 1
            }
            _ => false,
        };
        if continues {
            if let Some((_, len)) = self.sequence.as_mut() {
                *len += 1;
            }
        } else {
            self.break_sequence();
            self.sequence = match piece {
                0 => Some((Direction::Forward, 1)),
                7 => Some((Direction::Backward, 1)),
                // The middle of a sequence: wait for its start.
                _ => None,
            };
        }
        self.nibbles[usize::from(piece)] = data & 0x0F;
        self.last_piece = piece;

        let Some((direction, 8)) = self.sequence else {
            return Ok(None);
        };
        self.sequence = None;
        let n = self.nibbles;
        let carried = Timecode::new(
            n[6] | ((n[7] & 0x01) << 4),
            n[4] | ((n[5] & 0x03) << 4),
            n[2] | ((n[3] & 0x03) << 4),
            n[0] | ((n[1] & 0x01) << 4),
            FrameRate::from_rate_code((n[7] >> 1) & 0x03)?,
        )?;
        let timecode = match direction {
            Direction::Forward => carried.add_frames(2),
            Direction::Backward => carried.add_frames(-2),
        };
        Ok(Some(QuarterFrameTime {
            timecode,
            direction,
            received_at_s,
        }))
    }

    /// Counts a partial sequence that will never complete. A lone piece 0 or 7 is not counted:
    /// after a break the next 7 of a forward stream looks like the start of a backward one.
    fn break_sequence(&mut self) {
        if matches!(self.sequence, Some((_, len)) if len > 1) {
            self.broken_sequences += 1;
        }
        self.sequence = None;
    }
}

/// Where the video's frame 0 sits on the DAW's timecode, e.g. `01:00:00:00`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VideoStart {
    start: Timecode,
}

impl VideoStart {
    /// The video starts at `start`. Give it at the rate the DAW sends; if the rates differ the
    /// two are compared in real seconds (`01:00:00;00` drop-frame is 3599.9964 s, not 3600).
    pub fn new(start: Timecode) -> Self {
        VideoStart { start }
    }

    /// The timecode of the video's frame 0.
    pub fn start(&self) -> Timecode {
        self.start
    }

    /// Video seconds at `timecode` (negative before the start). Differences are taken round
    /// the 24-hour clock, the short way, so a show that starts at `23:59:00:00` keeps counting
    /// past midnight.
    pub fn video_position_s(&self, timecode: Timecode) -> f64 {
        let rate = timecode.rate();
        if rate == self.start.rate() {
            // Whole frames first: exact.
            let day = rate.frames_per_day() as i64;
            let mut frames = timecode.frame_count() as i64 - self.start.frame_count() as i64;
            if frames >= day / 2 {
                frames -= day;
            } else if frames < -day / 2 {
                frames += day;
            }
            rate.seconds_of_frames(frames as f64)
        } else {
            let day_s = rate.seconds_of_frames(rate.frames_per_day() as f64);
            let mut s = timecode.real_time_s() - self.start.real_time_s();
            if s >= day_s / 2.0 {
                s -= day_s;
            } else if s < -day_s / 2.0 {
                s += day_s;
            }
            s
        }
    }

    /// Video seconds at the receipt of the last quarter frame of `time`, the quarter-frame
    /// offset included: the value a chasing player compares with its own position.
    pub fn video_position_at_receipt_s(&self, time: &QuarterFrameTime) -> f64 {
        self.video_position_s(time.timecode)
            + (time.real_time_at_receipt_s() - time.timecode.real_time_s())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATES: [FrameRate; 4] = [
        FrameRate::Fps24,
        FrameRate::Fps25,
        FrameRate::Fps2997Drop,
        FrameRate::Fps30,
    ];

    fn tc(h: u8, m: u8, s: u8, f: u8, rate: FrameRate) -> Timecode {
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

    /// The eight data bytes that carry `t`, in piece order.
    fn pieces(t: Timecode) -> [u8; 8] {
        let hi = t.hours() >> 4 | (t.rate().rate_code() << 1);
        [
            t.frames() & 0x0F,
            0x10 | t.frames() >> 4,
            0x20 | (t.seconds() & 0x0F),
            0x30 | t.seconds() >> 4,
            0x40 | (t.minutes() & 0x0F),
            0x50 | t.minutes() >> 4,
            0x60 | (t.hours() & 0x0F),
            0x70 | hi,
        ]
    }

    /// A DAW playing forward from `start` for `frames` frames: every quarter frame with its
    /// send time, where frame `start` begins at time 0.
    fn forward_stream(start: Timecode, frames: u64) -> Vec<(u8, f64)> {
        let quarter_s = start.rate().frame_duration_s() / 4.0;
        let mut out = Vec::new();
        for pair in 0..frames / 2 {
            let carried = start.add_frames(2 * pair as i64);
            for (k, byte) in pieces(carried).into_iter().enumerate() {
                out.push((byte, (8 * pair + k as u64) as f64 * quarter_s));
            }
        }
        out
    }

    #[test]
    fn forward_quarter_frames_give_exact_positions() {
        for rate in RATES {
            let start = Timecode::parse("00:59:59:00", rate).unwrap();
            let stream = forward_stream(start, 200);
            let mut asm = QuarterFrameAssembler::new();
            let mut times = Vec::new();
            for (byte, at_s) in stream {
                if let Some(t) = asm.push(byte, at_s).unwrap() {
                    times.push(t);
                }
            }
            assert_eq!(times.len(), 100);
            for (i, t) in times.iter().enumerate() {
                assert_eq!(t.direction, Direction::Forward);
                // Carried time + 2 frames.
                assert_eq!(t.timecode, start.add_frames(2 * i as i64 + 2), "{rate}");
                // Exact position at receipt: the stream started at `start` at time 0.
                let truth_s = start.real_time_s() + t.received_at_s;
                assert!(
                    (t.real_time_at_receipt_s() - truth_s).abs() < 1e-9,
                    "{rate} {i}"
                );
            }
            assert_eq!(asm.broken_sequences(), 0);
        }
    }

    #[test]
    fn backward_quarter_frames() {
        let rate = FrameRate::Fps25;
        let start = tc(1, 0, 0, 10, rate);
        let mut asm = QuarterFrameAssembler::new();
        let mut got = Vec::new();
        let quarter_s = rate.frame_duration_s() / 4.0;
        let mut at_s = 0.0;
        for pair in 0..10 {
            let carried = start.add_frames(-2 * pair);
            for byte in pieces(carried).into_iter().rev() {
                at_s += quarter_s;
                if let Some(t) = asm.push(byte, at_s).unwrap() {
                    got.push(t);
                }
            }
        }
        assert_eq!(got.len(), 10);
        for (i, t) in got.iter().enumerate() {
            assert_eq!(t.direction, Direction::Backward);
            assert_eq!(t.timecode, start.add_frames(-2 * i as i64 - 2));
        }
    }

    #[test]
    fn missing_and_bad_pieces_restart_assembly() {
        let rate = FrameRate::Fps30;
        let start = tc(10, 20, 30, 0, rate);
        let mut stream = forward_stream(start, 8);
        // Lose piece 3 of the first time, and delay the third time's piece 5.
        stream.remove(3);
        let i = 8 + 7 + 5;
        stream[i].1 += 0.5;
        for later in &mut stream[i + 1..] {
            later.1 += 0.5;
        }
        let mut asm = QuarterFrameAssembler::new();
        let got: Vec<_> = stream
            .into_iter()
            .filter_map(|(b, t)| asm.push(b, t).unwrap())
            .collect();
        // Of four times, the first (piece lost) and the third (late piece) are dropped.
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].timecode, start.add_frames(4));
        assert_eq!(got[1].timecode, start.add_frames(8));
        assert_eq!(asm.broken_sequences(), 2);

        // A byte with bit 7 set is an error, and assembly starts again.
        let mut asm = QuarterFrameAssembler::new();
        for b in &pieces(start)[..4] {
            asm.push(*b, 0.0).unwrap();
        }
        assert_eq!(
            asm.push(0xF1, 0.0),
            Err(ChaseError::QuarterFrameData { data: 0xF1 })
        );
        for b in &pieces(start)[4..] {
            assert_eq!(asm.push(*b, 0.0), Ok(None));
        }
        // NaN receipt time: dropped, no panic.
        assert_eq!(asm.push(0x00, f64::NAN), Ok(None));

        // A time that does not exist (frame 31 at 30 fps) is reported, not assembled.
        let mut asm = QuarterFrameAssembler::new();
        let mut bytes = pieces(start);
        bytes[0] = 0x0F;
        bytes[1] = 0x11;
        let results: Vec<_> = bytes.iter().map(|b| asm.push(*b, 0.0)).collect();
        assert!(matches!(
            results[7],
            Err(ChaseError::InvalidTimecode { .. })
        ));
        // Sequences that start mid-way are waited out, then the next complete one is used.
        let mut asm = QuarterFrameAssembler::new();
        let stream = forward_stream(start, 4);
        let got: Vec<_> = stream[3..]
            .iter()
            .filter_map(|&(b, t)| asm.push(b, t).unwrap())
            .collect();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].timecode, start.add_frames(4));
    }

    #[test]
    fn video_start_maps_timecode_to_video_seconds() {
        let r25 = FrameRate::Fps25;
        let start = VideoStart::new(tc(1, 0, 0, 0, r25));
        assert_eq!(start.video_position_s(tc(1, 0, 0, 0, r25)), 0.0);
        assert_eq!(start.video_position_s(tc(1, 0, 10, 5, r25)), 10.2);
        assert_eq!(start.video_position_s(tc(0, 59, 58, 0, r25)), -2.0);
        // Across midnight.
        let late = VideoStart::new(tc(23, 59, 0, 0, r25));
        assert_eq!(late.video_position_s(tc(0, 1, 0, 0, r25)), 120.0);
        // Drop-frame: video seconds are real seconds.
        let df = FrameRate::Fps2997Drop;
        let df_start = VideoStart::new(tc(1, 0, 0, 0, df));
        let ten_min = df_start.video_position_s(tc(1, 10, 0, 0, df));
        assert!((ten_min - 17_982.0 * 1001.0 / 30_000.0).abs() < 1e-9);
        assert!((ten_min - 599.9994).abs() < 1e-9);
        // Mixed rates go through real seconds.
        let mixed = start.video_position_s(tc(1, 0, 0, 0, df));
        assert!((mixed - (3599.9964 - 3600.0)).abs() < 1e-9);

        // Quarter frames all the way to video seconds.
        let stream = forward_stream(tc(0, 59, 59, 0, r25), 100);
        let mut asm = QuarterFrameAssembler::new();
        for (byte, at_s) in stream {
            if let Some(t) = asm.push(byte, at_s).unwrap() {
                let video_s = start.video_position_at_receipt_s(&t);
                assert!((video_s - (at_s - 1.0)).abs() < 1e-9, "{video_s} at {at_s}");
            }
        }
    }
}
