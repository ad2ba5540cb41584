//! Musical position: where the song is, counted the way MIDI transport counts it.
//!
//! MIDI clock runs at 24 ticks per quarter note whatever the time signature, and the Song
//! Position Pointer (`F2 lsb msb`) counts sixteenth notes (6 clocks each) in 14 bits. So the
//! finest position a DAW can tell us is one clock, and a [`SongPosition`] is a whole number of
//! clocks from the song start. Bars and beats are the user's way of naming the same thing: bar 17
//! beat 1 in 4/4 is 16 bars of 96 clocks, which is SPP 256.
//!
//! Tempo (BPM) always counts quarter notes, as DAWs and MIDI clock do; a time signature only
//! decides how many clocks make a beat and a bar. Seconds come from a
//! [`TempoMap`](super::tempo::TempoMap).

use super::ChaseError;

/// MIDI clock ticks per quarter note (`F8` rate), fixed by the MIDI 1.0 specification.
pub const CLOCKS_PER_QUARTER_NOTE: u64 = 24;

/// MIDI clock ticks per sixteenth note: the unit of the Song Position Pointer.
pub const CLOCKS_PER_SIXTEENTH: u64 = 6;

/// Largest Song Position Pointer value: 14 bits of sixteenth notes (1024 bars of 4/4).
pub const SPP_MAX_SIXTEENTHS: u16 = 0x3FFF;

/// A time signature: `numerator` beats per bar, each beat a `1/denominator` note.
///
/// The denominator is limited to 1..=32 because a beat must be a whole number of MIDI clocks
/// (a 64th note would be 1.5 clocks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimeSignature {
    numerator: u8,
    denominator: u8,
}

impl TimeSignature {
    /// Common time, the default of every DAW.
    pub const FOUR_FOUR: TimeSignature = TimeSignature {
        numerator: 4,
        denominator: 4,
    };

    /// A time signature; fails unless `numerator >= 1` and `denominator` is 1, 2, 4, 8, 16 or 32.
    pub fn new(numerator: u8, denominator: u8) -> Result<Self, ChaseError> {
        let denominator_ok = matches!(denominator, 1 | 2 | 4 | 8 | 16 | 32);
        if numerator == 0 || !denominator_ok {
            return Err(ChaseError::InvalidTimeSignature {
                numerator,
                denominator,
            });
        }
        Ok(TimeSignature {
            numerator,
            denominator,
        })
    }

    /// Beats per bar (the upper number).
    pub fn numerator(self) -> u8 {
        self.numerator
    }

    /// The note value of one beat (the lower number).
    pub fn denominator(self) -> u8 {
        self.denominator
    }

    /// MIDI clocks in one beat: 24 for a quarter note, 12 for an eighth.
    pub fn clocks_per_beat(self) -> u64 {
        // A whole note is 4 quarters of 24 clocks.
        4 * CLOCKS_PER_QUARTER_NOTE / u64::from(self.denominator)
    }

    /// MIDI clocks in one bar: 96 in 4/4, 72 in 3/4, 72 in 6/8.
    pub fn clocks_per_bar(self) -> u64 {
        u64::from(self.numerator) * self.clocks_per_beat()
    }
}

impl Default for TimeSignature {
    fn default() -> Self {
        TimeSignature::FOUR_FOUR
    }
}

/// A position named the way a DAW shows it: bar and beat counted from 1, plus the clocks into
/// that beat (0 on the beat).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BarBeat {
    /// Bar number, from 1.
    pub bar: u32,
    /// Beat within the bar, from 1.
    pub beat: u32,
    /// MIDI clocks after the beat, 0 up to (clocks per beat - 1).
    pub clocks: u32,
}

/// A position in the song, in MIDI clocks from the song start (24 per quarter note).
///
/// Whole clocks, because that is the resolution of the transport: SPP moves in sixteenths and
/// each `F8` adds one clock. A position between two ticks is a fractional clock count passed
/// as `f64` to [`TempoMap::seconds_at_clocks`](crate::chase::tempo::TempoMap::seconds_at_clocks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SongPosition {
    clocks: u64,
}

impl SongPosition {
    /// The song start (SPP 0, bar 1 beat 1).
    pub const START: SongPosition = SongPosition { clocks: 0 };

    /// The position `clocks` MIDI clocks after the song start.
    pub fn from_clocks(clocks: u64) -> Self {
        SongPosition { clocks }
    }

    /// The position a Song Position Pointer names; fails beyond its 14 bits (the parser never
    /// yields such a value, a hand-made one might).
    pub fn from_spp(sixteenths: u16) -> Result<Self, ChaseError> {
        if sixteenths > SPP_MAX_SIXTEENTHS {
            return Err(ChaseError::SppOutOfRange {
                sixteenths: u32::from(sixteenths),
            });
        }
        Ok(SongPosition {
            clocks: u64::from(sixteenths) * CLOCKS_PER_SIXTEENTH,
        })
    }

    /// The position of `bar` and `beat` (both from 1) in a song with one time signature
    /// throughout. For songs whose meter changes use [`TempoMap::position_of`](crate::chase::tempo::TempoMap::position_of).
    pub fn from_bar_beat(
        bar: u32,
        beat: u32,
        signature: TimeSignature,
    ) -> Result<Self, ChaseError> {
        if bar == 0 {
            return Err(ChaseError::BarOutOfRange { bar });
        }
        if beat == 0 || beat > u32::from(signature.numerator()) {
            return Err(ChaseError::BeatOutOfRange {
                beat,
                beats_per_bar: signature.numerator(),
            });
        }
        // Cannot overflow: u32 bars times at most 255 * 96 clocks fits in u64.
        let clocks = u64::from(bar - 1) * signature.clocks_per_bar()
            + u64::from(beat - 1) * signature.clocks_per_beat();
        Ok(SongPosition { clocks })
    }

    /// MIDI clocks from the song start.
    pub fn clocks(self) -> u64 {
        self.clocks
    }

    /// Whole sixteenth notes from the song start (rounded down).
    pub fn sixteenths(self) -> u64 {
        self.clocks / CLOCKS_PER_SIXTEENTH
    }

    /// The Song Position Pointer a DAW would send for this position: the sixteenth it falls in,
    /// or `None` beyond SPP's 14 bits.
    pub fn spp(self) -> Option<u16> {
        u16::try_from(self.sixteenths())
            .ok()
            .filter(|&s| s <= SPP_MAX_SIXTEENTHS)
    }

    /// Bar, beat and clock in a song with one time signature throughout.
    pub fn bar_beat(self, signature: TimeSignature) -> BarBeat {
        let per_bar = signature.clocks_per_bar();
        let per_beat = signature.clocks_per_beat();
        let in_bar = self.clocks % per_bar;
        BarBeat {
            // Saturates only past 4 billion bars, which no song reaches.
            bar: u32::try_from(self.clocks / per_bar + 1).unwrap_or(u32::MAX),
            beat: (in_bar / per_beat + 1) as u32,
            clocks: (in_bar % per_beat) as u32,
        }
    }

    /// This position `clocks` later, saturating instead of overflowing.
    pub fn advanced(self, clocks: u64) -> Self {
        SongPosition {
            clocks: self.clocks.saturating_add(clocks),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spp_and_bars_agree() {
        let four_four = TimeSignature::FOUR_FOUR;
        let bar17 = SongPosition::from_bar_beat(17, 1, four_four).unwrap();
        assert_eq!(bar17, SongPosition::from_spp(256).unwrap());
        assert_eq!(bar17.clocks(), 256 * 6);
        assert_eq!(bar17.spp(), Some(256));
        assert_eq!(
            bar17.bar_beat(four_four),
            BarBeat {
                bar: 17,
                beat: 1,
                clocks: 0
            }
        );
        let b = SongPosition::from_bar_beat(2, 3, four_four).unwrap();
        assert_eq!(b.clocks(), 96 + 48);
        assert_eq!(b.advanced(5).bar_beat(four_four).clocks, 5);
    }

    #[test]
    fn spp_limits() {
        assert!(SongPosition::from_spp(SPP_MAX_SIXTEENTHS).is_ok());
        assert_eq!(
            SongPosition::from_spp(0x4000),
            Err(ChaseError::SppOutOfRange { sixteenths: 0x4000 })
        );
        assert_eq!(SongPosition::from_clocks(6 * 16384).spp(), None);
        assert_eq!(SongPosition::from_clocks(6 * 16383 + 5).spp(), Some(16383));
        assert_eq!(
            SongPosition::from_clocks(u64::MAX).advanced(10).clocks(),
            u64::MAX
        );
    }

    #[test]
    fn other_meters() {
        let three_four = TimeSignature::new(3, 4).unwrap();
        let six_eight = TimeSignature::new(6, 8).unwrap();
        assert_eq!(three_four.clocks_per_bar(), 72);
        assert_eq!(six_eight.clocks_per_bar(), 72);
        assert_eq!(six_eight.clocks_per_beat(), 12);
        let p = SongPosition::from_bar_beat(3, 4, six_eight).unwrap();
        assert_eq!(p.clocks(), 2 * 72 + 3 * 12);
        assert_eq!(
            p.bar_beat(six_eight),
            BarBeat {
                bar: 3,
                beat: 4,
                clocks: 0
            }
        );
        assert_eq!(TimeSignature::new(7, 32).unwrap().clocks_per_beat(), 3);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(TimeSignature::new(0, 4).is_err());
        assert!(TimeSignature::new(4, 3).is_err());
        assert!(TimeSignature::new(4, 64).is_err());
        assert!(TimeSignature::new(4, 0).is_err());
        let s = TimeSignature::FOUR_FOUR;
        assert_eq!(
            SongPosition::from_bar_beat(0, 1, s),
            Err(ChaseError::BarOutOfRange { bar: 0 })
        );
        assert!(SongPosition::from_bar_beat(1, 0, s).is_err());
        assert!(SongPosition::from_bar_beat(1, 5, s).is_err());
        let far = SongPosition::from_bar_beat(u32::MAX, 4, TimeSignature::new(255, 1).unwrap());
        assert!(far.is_ok());
    }
}
