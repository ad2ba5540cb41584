//! The one way the core says "when": a [`Stamp`], microseconds on the program's one monotonic
//! clock.
//!
//! The program's clock (`playhead::clock`) makes stamps from `std::time::Instant`s; the core
//! never reads a clock itself. Every moment that crosses into the core is a `Stamp`: the
//! transport's inputs, the network session's, the peer and backend clock estimates. Below the
//! transport, the chase arithmetic (tempo fit, drift controller, quarter-frame timing) works
//! in `f64` seconds on the same clock (`Stamp::secs_f64`), with the unit in every name
//! (`now_s`, `received_at_s`), because it fits lines and filters through those numbers. Wire
//! formats keep their own units at the edge (RTP-MIDI's 100 µs ticks and 10 kHz time stamps
//! are converted where packets are decoded).

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// A moment on the one monotonic clock, in whole microseconds from the clock's origin (the
/// program's start). Ordered; the difference of two stamps is a signed number of microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp(i64);

impl Stamp {
    /// The clock's origin.
    pub const ZERO: Stamp = Stamp(0);

    /// The stamp `micros` microseconds from the origin.
    pub const fn from_micros(micros: i64) -> Stamp {
        Stamp(micros)
    }

    /// The stamp `seconds` from the origin, rounded to the microsecond (NaN gives the origin;
    /// values beyond the range saturate).
    pub fn from_secs_f64(seconds: f64) -> Stamp {
        if seconds.is_nan() {
            return Stamp::ZERO;
        }
        // `as` saturates for floats out of range.
        Stamp((seconds * 1e6).round() as i64)
    }

    /// Microseconds from the origin.
    pub const fn micros(self) -> i64 {
        self.0
    }

    /// Seconds from the origin, for the chase arithmetic and log lines.
    pub fn secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// Signed seconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn secs_since(self, earlier: Stamp) -> f64 {
        (self.0.saturating_sub(earlier.0)) as f64 / 1e6
    }

    /// Signed microseconds from `earlier` to `self`.
    pub fn micros_since(self, earlier: Stamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// This stamp moved by `seconds` (either way).
    pub fn plus_secs(self, seconds: f64) -> Stamp {
        Stamp::from_secs_f64(self.secs_f64() + seconds)
    }
}

impl Add<Duration> for Stamp {
    type Output = Stamp;
    fn add(self, d: Duration) -> Stamp {
        Stamp(
            self.0
                .saturating_add(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
        )
    }
}

impl Sub<Duration> for Stamp {
    type Output = Stamp;
    fn sub(self, d: Duration) -> Stamp {
        Stamp(
            self.0
                .saturating_sub(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
        )
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6} s", self.secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_keeps_microseconds_and_saturates() {
        let t = Stamp::from_secs_f64(1.5);
        assert_eq!(t.micros(), 1_500_000);
        assert_eq!((t + Duration::from_millis(2)).micros(), 1_502_000);
        assert_eq!((t - Duration::from_secs(2)).secs_f64(), -0.5);
        assert_eq!(
            Stamp::from_micros(10).secs_since(Stamp::from_micros(30)),
            -20e-6
        );
        assert_eq!(Stamp::from_secs_f64(f64::NAN), Stamp::ZERO);
        assert_eq!(Stamp::from_secs_f64(f64::INFINITY).micros(), i64::MAX);
        assert_eq!(
            Stamp::from_micros(i64::MAX) + Duration::from_secs(1),
            Stamp::from_micros(i64::MAX)
        );
        assert!(Stamp::from_micros(1) < Stamp::from_micros(2));
    }
}
