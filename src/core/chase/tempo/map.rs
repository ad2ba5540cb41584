//! The tempo map: the song's tempo and meter changes, positions to seconds and back, and its text form.

use super::{seconds_per_clock, MAX_BPM, MIN_BPM};
use crate::chase::position::{BarBeat, SongPosition, TimeSignature};
use crate::chase::ChaseError;

/// One entry of a tempo map: from the start of `bar` on, the song plays at `bpm` in
/// `time_signature`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TempoChange {
    /// Bar where the change takes effect, from 1.
    pub bar: u32,
    /// Tempo in quarter notes per minute.
    pub bpm: f64,
    /// Meter from this bar on.
    pub time_signature: TimeSignature,
}

impl TempoChange {
    /// A change at `bar` to `bpm` in `time_signature` (checked when the map is built).
    pub fn new(bar: u32, bpm: f64, time_signature: TimeSignature) -> Self {
        TempoChange {
            bar,
            bpm,
            time_signature,
        }
    }
}

/// A tempo map entry with where it starts, in clocks and in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Segment {
    change: TempoChange,
    start_clocks: u64,
    start_s: f64,
    seconds_per_clock: f64,
}

/// The song's tempo and meter changes; converts positions to seconds and back, exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct TempoMap {
    /// Never empty; the first starts at bar 1, clock 0, second 0.
    segments: Vec<Segment>,
}

impl TempoMap {
    /// A map from its changes. The first must be at bar 1, bars must increase strictly and
    /// every tempo must lie within [`MIN_BPM`]..=[`MAX_BPM`].
    pub fn new(changes: &[TempoChange]) -> Result<Self, ChaseError> {
        let first = changes.first().ok_or(ChaseError::EmptyTempoMap)?;
        if first.bar != 1 {
            return Err(ChaseError::TempoMapStart { bar: first.bar });
        }
        let mut segments: Vec<Segment> = Vec::with_capacity(changes.len());
        for change in changes {
            // `contains` is false for NaN, so NaN is rejected here too.
            if !(MIN_BPM..=MAX_BPM).contains(&change.bpm) {
                return Err(ChaseError::BpmOutOfRange {
                    bar: change.bar,
                    bpm: change.bpm,
                });
            }
            let (start_clocks, start_s) = match segments.last() {
                None => (0, 0.0),
                Some(prev) => {
                    if change.bar <= prev.change.bar {
                        return Err(ChaseError::TempoMapUnsorted {
                            bar: change.bar,
                            previous_bar: prev.change.bar,
                        });
                    }
                    let bars = u64::from(change.bar - prev.change.bar);
                    let clocks = bars
                        .checked_mul(prev.change.time_signature.clocks_per_bar())
                        .ok_or(ChaseError::PositionOverflow)?;
                    let start = prev
                        .start_clocks
                        .checked_add(clocks)
                        .ok_or(ChaseError::PositionOverflow)?;
                    (start, prev.start_s + clocks as f64 * prev.seconds_per_clock)
                }
            };
            segments.push(Segment {
                change: *change,
                start_clocks,
                start_s,
                seconds_per_clock: seconds_per_clock(change.bpm),
            });
        }
        Ok(TempoMap { segments })
    }

    /// One tempo and one meter for the whole song: the simple case.
    pub fn fixed(bpm: f64, time_signature: TimeSignature) -> Result<Self, ChaseError> {
        TempoMap::new(&[TempoChange::new(1, bpm, time_signature)])
    }

    /// The changes the map was built from, in bar order.
    pub fn changes(&self) -> impl Iterator<Item = TempoChange> + '_ {
        self.segments.iter().map(|s| s.change)
    }

    /// The segment in force at `clocks` (fractional clocks allowed; NaN counts as 0).
    fn segment_at_clocks(&self, clocks: f64) -> &Segment {
        let i = self
            .segments
            .partition_point(|s| s.start_clocks as f64 <= clocks);
        &self.segments[i.saturating_sub(1)]
    }

    /// The segment in force at integer `clocks`.
    fn segment_at(&self, clocks: u64) -> &Segment {
        let i = self.segments.partition_point(|s| s.start_clocks <= clocks);
        &self.segments[i.saturating_sub(1)]
    }

    /// Seconds from the song start to `position`.
    pub fn seconds_at(&self, position: SongPosition) -> f64 {
        let clocks = position.clocks();
        let seg = self.segment_at(clocks);
        // Integer difference first, so whole clocks convert without rounding drift.
        seg.start_s + (clocks - seg.start_clocks) as f64 * seg.seconds_per_clock
    }

    /// Seconds from the song start to a fractional clock count (a position between two ticks).
    /// NaN and negative counts give 0.
    pub fn seconds_at_clocks(&self, clocks: f64) -> f64 {
        if clocks.is_nan() || clocks <= 0.0 {
            return 0.0;
        }
        let seg = self.segment_at_clocks(clocks);
        seg.start_s + (clocks - seg.start_clocks as f64) * seg.seconds_per_clock
    }

    /// Clocks (fractional) from the song start to the instant `seconds` after it. NaN and
    /// negative times give 0.
    pub fn clocks_at(&self, seconds: f64) -> f64 {
        if seconds.is_nan() || seconds <= 0.0 {
            return 0.0;
        }
        let i = self.segments.partition_point(|s| s.start_s <= seconds);
        let seg = &self.segments[i.saturating_sub(1)];
        seg.start_clocks as f64 + (seconds - seg.start_s) / seg.seconds_per_clock
    }

    /// The whole clock that contains the instant `seconds` after the song start. An instant a
    /// hair before a tick (float rounding of that tick's own time) counts as the tick, so
    /// `position_at(seconds_at(p)) == p`. NaN and negative times give the song start.
    pub fn position_at(&self, seconds: f64) -> SongPosition {
        // 1e-6 clock is far below anything a clock or a frame can resolve.
        let clocks = (self.clocks_at(seconds) + 1e-6).floor();
        // `as` saturates for values beyond u64 (and infinity).
        SongPosition::from_clocks(clocks as u64)
    }

    /// Tempo in force at `position`, in BPM.
    pub fn bpm_at(&self, position: SongPosition) -> f64 {
        self.segment_at(position.clocks()).change.bpm
    }

    /// Time signature in force at `position`.
    pub fn time_signature_at(&self, position: SongPosition) -> TimeSignature {
        self.segment_at(position.clocks()).change.time_signature
    }

    /// The position of `bar` and `beat` (both from 1), following meter changes.
    pub fn position_of(&self, bar: u32, beat: u32) -> Result<SongPosition, ChaseError> {
        if bar == 0 {
            return Err(ChaseError::BarOutOfRange { bar });
        }
        let i = self.segments.partition_point(|s| s.change.bar <= bar);
        let seg = &self.segments[i.saturating_sub(1)];
        let sig = seg.change.time_signature;
        if beat == 0 || beat > u32::from(sig.numerator()) {
            return Err(ChaseError::BeatOutOfRange {
                beat,
                beats_per_bar: sig.numerator(),
            });
        }
        let clocks = u64::from(bar - seg.change.bar)
            .checked_mul(sig.clocks_per_bar())
            .and_then(|c| c.checked_add(u64::from(beat - 1) * sig.clocks_per_beat()))
            .and_then(|c| c.checked_add(seg.start_clocks))
            .ok_or(ChaseError::PositionOverflow)?;
        Ok(SongPosition::from_clocks(clocks))
    }

    /// Bar, beat and clock of `position`, following meter changes.
    pub fn bar_beat_at(&self, position: SongPosition) -> BarBeat {
        let seg = self.segment_at(position.clocks());
        let local = SongPosition::from_clocks(position.clocks() - seg.start_clocks)
            .bar_beat(seg.change.time_signature);
        BarBeat {
            bar: local.bar.saturating_add(seg.change.bar - 1),
            ..local
        }
    }
}

impl Default for TempoMap {
    /// 120 BPM in 4/4 throughout: what every DAW starts a new song with.
    fn default() -> Self {
        let change = TempoChange::new(1, 120.0, TimeSignature::FOUR_FOUR);
        TempoMap {
            segments: vec![Segment {
                change,
                start_clocks: 0,
                start_s: 0.0,
                seconds_per_clock: seconds_per_clock(change.bpm),
            }],
        }
    }
}

/// Parses "BAR=BPM[ N/D], ...": the time signature carries over until changed (4/4 at first).
pub fn parse_tempo_map(text: &str) -> Result<TempoMap, String> {
    let mut changes = Vec::new();
    let mut signature = TimeSignature::FOUR_FOUR;
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (bar, rest) = entry
            .split_once('=')
            .ok_or_else(|| format!("'{entry}' is not BAR=BPM (e.g. 33=90 or 33=90 3/4)"))?;
        let bar: u32 = bar
            .trim()
            .parse()
            .map_err(|_| format!("'{}' in '{entry}' is not a bar number", bar.trim()))?;
        let mut words = rest.split_whitespace();
        let bpm_text = words.next().unwrap_or("");
        let bpm: f64 = bpm_text
            .parse()
            .map_err(|_| format!("'{bpm_text}' in '{entry}' is not a tempo in BPM"))?;
        if let Some(sig) = words.next() {
            let (n, d) = sig
                .split_once('/')
                .ok_or_else(|| format!("'{sig}' in '{entry}' is not a time signature like 3/4"))?;
            let parse = |x: &str| {
                x.parse::<u8>()
                    .map_err(|_| format!("'{sig}' in '{entry}' is not a time signature like 3/4"))
            };
            signature = TimeSignature::new(parse(n)?, parse(d)?).map_err(|e| e.to_string())?;
        }
        if let Some(extra) = words.next() {
            return Err(format!("unexpected '{extra}' in '{entry}'"));
        }
        changes.push(TempoChange::new(bar, bpm, signature));
    }
    TempoMap::new(&changes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn four_four() -> TimeSignature {
        TimeSignature::FOUR_FOUR
    }

    fn song_map() -> TempoMap {
        TempoMap::new(&[
            TempoChange::new(1, 120.0, four_four()),
            TempoChange::new(33, 90.0, TimeSignature::new(3, 4).unwrap()),
        ])
        .unwrap()
    }

    #[test]
    fn fixed_tempo() {
        let map = TempoMap::fixed(120.0, four_four()).unwrap();
        let bar17 = SongPosition::from_spp(256).unwrap();
        assert_eq!(map.seconds_at(bar17), 32.0);
        assert_eq!(map.seconds_at(SongPosition::from_clocks(24)), 0.5);
        assert_eq!(map.position_at(32.0), bar17);
        assert_eq!(map.clocks_at(0.25), 12.0);
        assert!((map.seconds_at_clocks(12.5) - 12.5 / 48.0).abs() < 1e-15);
    }

    #[test]
    fn changes_of_tempo_and_meter() {
        let map = song_map();
        let bar33 = map.position_of(33, 1).unwrap();
        assert_eq!(bar33.clocks(), 32 * 96);
        assert_eq!(map.seconds_at(bar33), 64.0);
        // One bar of 3/4 at 90 BPM is 3 beats of 2/3 s.
        let bar34 = map.position_of(34, 1).unwrap();
        assert_eq!(bar34.clocks(), 32 * 96 + 72);
        assert!((map.seconds_at(bar34) - 66.0).abs() < 1e-12);
        assert_eq!(map.bpm_at(bar34), 90.0);
        assert_eq!(map.time_signature_at(bar33).numerator(), 3);
        assert_eq!(map.bpm_at(SongPosition::from_clocks(32 * 96 - 1)), 120.0);
        assert_eq!(
            map.bar_beat_at(map.position_of(40, 3).unwrap()),
            BarBeat {
                bar: 40,
                beat: 3,
                clocks: 0
            }
        );
        assert_eq!(
            map.bar_beat_at(SongPosition::from_clocks(32 * 96 - 1)),
            BarBeat {
                bar: 32,
                beat: 4,
                clocks: 23
            }
        );
        assert!(map.position_of(40, 4).is_err());
        assert!(map.position_of(0, 1).is_err());
        assert_eq!(map.changes().count(), 2);
    }

    #[test]
    fn round_trips_are_exact() {
        let map = TempoMap::new(&[
            TempoChange::new(1, 128.0, four_four()),
            TempoChange::new(9, 97.3, TimeSignature::new(7, 8).unwrap()),
            TempoChange::new(12, 174.0, TimeSignature::new(5, 4).unwrap()),
        ])
        .unwrap();
        for clocks in 0..20_000u64 {
            let p = SongPosition::from_clocks(clocks);
            let s = map.seconds_at(p);
            assert_eq!(map.position_at(s), p, "clock {clocks}");
            assert!((map.clocks_at(s) - clocks as f64).abs() < 1e-9);
            assert!((map.seconds_at_clocks(clocks as f64) - s).abs() < 1e-12);
            let bb = map.bar_beat_at(p);
            let back = map
                .position_of(bb.bar, bb.beat)
                .unwrap()
                .advanced(u64::from(bb.clocks));
            assert_eq!(back, p);
        }
        // Monotonic across a change, between ticks too.
        let mut last = -1.0;
        for tenth in 0..200_000 {
            let s = map.seconds_at_clocks(f64::from(tenth) / 10.0);
            assert!(s > last);
            last = s;
        }
    }

    #[test]
    fn bad_maps_are_errors_not_panics() {
        let s = four_four();
        assert_eq!(TempoMap::new(&[]), Err(ChaseError::EmptyTempoMap));
        assert_eq!(
            TempoMap::new(&[TempoChange::new(2, 120.0, s)]),
            Err(ChaseError::TempoMapStart { bar: 2 })
        );
        assert_eq!(
            TempoMap::new(&[
                TempoChange::new(1, 120.0, s),
                TempoChange::new(33, 90.0, s),
                TempoChange::new(17, 100.0, s),
            ]),
            Err(ChaseError::TempoMapUnsorted {
                bar: 17,
                previous_bar: 33
            })
        );
        assert!(
            TempoMap::new(&[TempoChange::new(1, 120.0, s), TempoChange::new(1, 90.0, s)]).is_err()
        );
        for bpm in [0.0, -120.0, 1000.0, f64::NAN, f64::INFINITY, 0.5] {
            assert!(TempoMap::fixed(bpm, s).is_err(), "{bpm}");
        }
        assert!(TempoMap::fixed(MAX_BPM, s).is_ok());
        assert!(TempoMap::fixed(MIN_BPM, s).is_ok());
        // Extreme but valid: far bars at the slowest tempo stay finite.
        let slow = TempoMap::new(&[
            TempoChange::new(1, MIN_BPM, TimeSignature::new(255, 1).unwrap()),
            TempoChange::new(u32::MAX, MAX_BPM, s),
        ])
        .unwrap();
        assert!(slow
            .seconds_at(SongPosition::from_clocks(u64::MAX))
            .is_finite());
        // Odd inputs clamp.
        let map = song_map();
        assert_eq!(map.seconds_at_clocks(f64::NAN), 0.0);
        assert_eq!(map.seconds_at_clocks(-5.0), 0.0);
        assert_eq!(map.clocks_at(f64::NAN), 0.0);
        assert_eq!(map.position_at(-1.0), SongPosition::START);
        assert_eq!(map.position_at(f64::INFINITY).clocks(), u64::MAX);
        let _ = map.seconds_at(SongPosition::from_clocks(u64::MAX));
        let _ = map.bar_beat_at(SongPosition::from_clocks(u64::MAX));
    }
}
