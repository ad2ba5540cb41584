//! Chase: the arithmetic and control logic that keeps the video on the DAW's position anywhere
//! in the song, not only at the start.
//!
//! Everything here is pure: no libmpv, no threads, no clock reads. Time comes in as arguments,
//! always in seconds as `f64` on the caller's one monotonic clock, and every name that holds a
//! time or a duration says so (`now_s`, `received_at_s`, `dead_band_s`). Bad input (NaN, zero or
//! negative tempo, absurd values) gives a [`ChaseError`] or is clamped, as each item documents;
//! it never panics.
//!
//! The data path, in the order a chasing caller uses it:
//!
//! - [`position`]: where the song is, musically. A [`position::SongPosition`] counts MIDI clocks
//!   (24 per quarter note) from the song start; it comes from a Song Position Pointer or from
//!   bars and beats.
//! - [`tempo`]: a [`tempo::TempoMap`] turns clocks into seconds and back across tempo and
//!   time-signature changes; a [`tempo::ClockTempoEstimator`] measures the tempo from the
//!   receipt times of MIDI clock ticks.
//! - [`timecode`]: MIDI Time Code. A [`timecode::Timecode`] and its exact frame arithmetic
//!   (drop-frame included), a [`timecode::QuarterFrameAssembler`] for the running code, and a
//!   [`timecode::VideoStart`] that maps timecode to video seconds.
//! - [`drift`]: the [`drift::DriftController`] compares the player's position with the DAW's and
//!   answers with a [`drift::Correction`] (keep, nudge the speed, seek, park, free-run); the
//!   test kit's `simulator` runs it against a simulated player and DAW over a whole show.

use std::fmt;

pub mod drift;
pub mod position;
pub mod tempo;
pub mod timecode;

/// What went wrong in the chase layer: a value from the user, the DAW or the caller that the
/// arithmetic cannot use. The message says which value and what a valid one looks like.
#[derive(Clone, Debug, PartialEq)]
pub enum ChaseError {
    /// A Song Position Pointer beyond its 14 bits (0-16383 sixteenth notes).
    SppOutOfRange { sixteenths: u32 },
    /// A time signature with a zero numerator or a denominator that is not 1, 2, 4, 8, 16 or 32.
    InvalidTimeSignature { numerator: u8, denominator: u8 },
    /// Bar 0: bars are counted from 1, as DAWs show them.
    BarOutOfRange { bar: u32 },
    /// A beat outside 1..=beats per bar.
    BeatOutOfRange { beat: u32, beats_per_bar: u8 },
    /// A position too far from the song start to count in MIDI clocks.
    PositionOverflow,
    /// A tempo map with no entry.
    EmptyTempoMap,
    /// The first tempo map entry is not at bar 1, so the song start has no tempo.
    TempoMapStart { bar: u32 },
    /// Tempo map entries not in strictly increasing bar order.
    TempoMapUnsorted { bar: u32, previous_bar: u32 },
    /// A tempo that is not a finite number of BPM within [`tempo::MIN_BPM`]..=[`tempo::MAX_BPM`].
    BpmOutOfRange { bar: u32, bpm: f64 },
    /// An MTC rate code other than 0-3.
    InvalidRateCode { code: u8 },
    /// A timecode that does not exist at its rate.
    InvalidTimecode {
        hours: u8,
        minutes: u8,
        seconds: u8,
        frames: u8,
        rate: timecode::FrameRate,
        reason: &'static str,
    },
    /// Text that is not a timecode of the form `hh:mm:ss:ff`.
    TimecodeSyntax { input: String },
    /// A time in seconds that is NaN, negative or 24 hours or more, so it has no timecode.
    SecondsOutOfRange { seconds: f64 },
    /// A quarter-frame data byte with bit 7 set (not a MIDI data byte).
    QuarterFrameData { data: u8 },
    /// A drift controller or simulator setting outside its range.
    InvalidSetting {
        name: &'static str,
        value: f64,
        expected: &'static str,
    },
}

impl fmt::Display for ChaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChaseError::SppOutOfRange { sixteenths } => write!(
                f,
                "song position pointer {sixteenths} is out of range: it has 14 bits (0-16383 sixteenth notes)"
            ),
            ChaseError::InvalidTimeSignature {
                numerator,
                denominator,
            } => write!(
                f,
                "time signature {numerator}/{denominator} is not usable: the numerator must be 1 or more \
                 and the denominator one of 1, 2, 4, 8, 16, 32"
            ),
            ChaseError::BarOutOfRange { bar } => {
                write!(f, "bar {bar} does not exist: bars are counted from 1")
            }
            ChaseError::BeatOutOfRange {
                beat,
                beats_per_bar,
            } => write!(
                f,
                "beat {beat} does not exist in a bar of {beats_per_bar} beats (beats are counted from 1)"
            ),
            ChaseError::PositionOverflow => {
                write!(f, "position is too far from the song start to count in MIDI clocks")
            }
            ChaseError::EmptyTempoMap => {
                write!(f, "the tempo map is empty: give at least the tempo at bar 1")
            }
            ChaseError::TempoMapStart { bar } => write!(
                f,
                "the tempo map starts at bar {bar}: its first entry must be at bar 1"
            ),
            ChaseError::TempoMapUnsorted { bar, previous_bar } => write!(
                f,
                "tempo map entry at bar {bar} follows one at bar {previous_bar}: \
                 entries must be in increasing bar order, one per bar"
            ),
            ChaseError::BpmOutOfRange { bar, bpm } => write!(
                f,
                "tempo {bpm} BPM at bar {bar} is out of range: use {}-{} BPM",
                tempo::MIN_BPM,
                tempo::MAX_BPM
            ),
            ChaseError::InvalidRateCode { code } => write!(
                f,
                "MTC rate code {code} is unknown: 0 = 24, 1 = 25, 2 = 29.97 drop-frame, 3 = 30 fps"
            ),
            ChaseError::InvalidTimecode {
                hours,
                minutes,
                seconds,
                frames,
                rate,
                reason,
            } => write!(
                f,
                "timecode {hours:02}:{minutes:02}:{seconds:02}{}{frames:02} does not exist at {rate}: {reason}",
                if rate.is_drop_frame() { ';' } else { ':' }
            ),
            ChaseError::TimecodeSyntax { input } => write!(
                f,
                "{input:?} is not a timecode: write hh:mm:ss:ff (or hh:mm:ss;ff for drop-frame)"
            ),
            ChaseError::SecondsOutOfRange { seconds } => write!(
                f,
                "{seconds} s has no timecode: it must be a number from 0 to just under 24 hours"
            ),
            ChaseError::QuarterFrameData { data } => write!(
                f,
                "quarter-frame data byte {data:#04x} has bit 7 set: it is not a MIDI data byte"
            ),
            ChaseError::InvalidSetting {
                name,
                value,
                expected,
            } => write!(f, "setting {name} = {value} is out of range: expected {expected}"),
        }
    }
}

impl std::error::Error for ChaseError {}
