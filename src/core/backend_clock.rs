//! An OS MIDI backend's event time stamps on our clock, its origin unknown.
//!
//! midir hands every message a time stamp in µs from an origin of the backend's own (ALSA's
//! queue start, JACK's frame clock). The origin is found from the messages themselves: a
//! message cannot have been stamped after we received it, so (receipt − stamp) is at least the
//! origin's offset, and its smallest value over the messages is the offset plus the quickest
//! delivery, a few µs. The offset creeps up by a bound on the two clocks' drift between
//! messages, so a backend clock that runs slow against ours is followed too.

use crate::time::Stamp;

/// How fast the offset may creep up between two messages: beyond any two crystals' drift
/// (±100 ppm), as parts of the time passed.
const DRIFT_ALLOWANCE: f64 = 300e-6;

/// A stamp that maps this long before its receipt means the backend's clock jumped back
/// (restarted): the origin is learnt afresh, from this message.
const MAX_DELAY_US: i64 = 1_000_000;

/// Maps one backend's stamps onto our clock; one per connection (each may have its origin).
#[derive(Clone, Debug, Default)]
pub struct BackendClock {
    /// Our clock minus the backend's, µs, and when it was last lowered (our clock).
    offset: Option<(i64, Stamp)>,
}

impl BackendClock {
    /// A backend whose origin is unknown yet.
    pub fn new() -> BackendClock {
        BackendClock::default()
    }

    /// When the message the backend stamped `stamp_us` and we received at `received` was
    /// meant, on our clock; never after `received`. A backend that stamps 0 gets the receipt.
    pub fn map(&mut self, stamp_us: u64, received: Stamp) -> Stamp {
        let Ok(stamp_us) = i64::try_from(stamp_us) else {
            return received;
        };
        if stamp_us == 0 {
            return received;
        }
        let candidate_us = received.micros().saturating_sub(stamp_us);
        let offset_us = match self.offset {
            Some((offset_us, since)) => {
                let crept_us =
                    (received.micros_since(since).max(0) as f64 * DRIFT_ALLOWANCE) as i64;
                let allowed_us = offset_us.saturating_add(crept_us);
                if candidate_us <= allowed_us {
                    // As quick as the quickest, or quicker: this is the origin now.
                    self.offset = Some((candidate_us, received));
                    candidate_us
                } else if candidate_us.saturating_sub(allowed_us) > MAX_DELAY_US {
                    self.offset = Some((candidate_us, received));
                    candidate_us
                } else {
                    allowed_us
                }
            }
            None => {
                self.offset = Some((candidate_us, received));
                candidate_us
            }
        };
        Stamp::from_micros(stamp_us.saturating_add(offset_us)).min(received)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn stamps_map_to_their_event_time_whatever_the_delivery_delay() {
        // The backend's origin is 7 s after ours, its clock 100 ppm slow; messages are
        // delivered 0.05-3 ms after their event, now and then 20 ms (a busy system).
        let mut clock = BackendClock::new();
        let mut rng = Rng::seeded(3);
        let mut worst_us = 0;
        for i in 0..200_000i64 {
            let event_us = 10_000_000 + i * 5_000;
            let stamp_us = ((event_us - 7_000_000) as f64 * (1.0 - 100e-6)) as u64;
            let late = if rng.below(50) == 0 { 20_000.0 } else { 0.0 };
            let received_us = event_us + (rng.range(50.0, 3_000.0) + late) as i64;
            let at = clock.map(stamp_us, Stamp::from_micros(received_us));
            assert!(at.micros() <= received_us);
            if i > 10 {
                worst_us = worst_us.max((at.micros() - event_us).abs());
            }
        }
        assert!(worst_us <= 1_000, "worst error {worst_us} µs");
    }

    #[test]
    fn zero_stamps_and_jumps_fall_back_to_receipt() {
        let mut clock = BackendClock::new();
        let t = |us| Stamp::from_micros(us);
        assert_eq!(clock.map(0, t(5_000)), t(5_000));
        assert_eq!(clock.map(1_000, t(10_000)), t(10_000));
        assert_eq!(clock.map(2_000, t(11_500)), t(11_000));
        // The backend restarted its clock: a stamp far in the past is learnt afresh.
        assert_eq!(clock.map(10, t(9_000_000)), t(9_000_000));
        assert_eq!(clock.map(1_010, t(9_001_200)), t(9_001_000));
        assert_eq!(clock.map(u64::MAX, t(9_002_000)), t(9_002_000));
    }
}
