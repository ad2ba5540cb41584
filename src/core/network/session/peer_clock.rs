//! One peer's clock on ours: offset and drift from its CK exchanges, its RTP time stamps mapped
//! onto our clock, and the network delay and jitter its data packets show.
//!
//! A CK exchange pairs a moment on the peer's clock with a moment on ours; the pair is only as
//! good as the exchange was quick (the unknown split of the round trip between the two
//! directions is the error, at most half the round trip). So every exchange is a sample with
//! its round trip, and the estimate is a weighted straight-line fit (offset and rate) through
//! the quickest samples: a late CK barely moves it. Two crystals drift apart by up to about
//! 100 ppm, 6 ms a minute, which is why the rate is fitted too once the samples span long
//! enough to tell it from noise.
//!
//! A data packet's 32-bit 10 kHz time stamp is unwrapped against the peer time we expect at
//! receipt (so the wrap after 4.97 days passes unnoticed) and mapped through the fit. A mapped
//! time that cannot be right (no CK yet, a zero stamp, in the future, over a second old, far
//! behind the other packets) is refused, and the caller uses the receipt time.

use std::collections::VecDeque;
use std::fmt;

/// CK samples kept; at one every 10 s, the last five minutes or so.
const MAX_SAMPLES: usize = 32;

/// Samples older than this (our clock) than the newest are dropped: the drift fit is linear,
/// and crystals wander with temperature over longer spans.
const SAMPLE_MAX_AGE_US: i64 = 600_000_000;

/// A CK exchange with a longer round trip than this says nothing useful about the offset.
const MAX_ROUND_TRIP_US: i64 = 2_000_000;

/// The fit uses samples whose round trip is at most the quickest one plus this much, or plus
/// the quickest one itself when that is longer (Wi-Fi round trips of several ms).
const ROUND_TRIP_SLACK_US: i64 = 2_000;

/// Added to a sample's error bound (half its round trip) for its weight: the 100 µs
/// resolution of the time stamps and the scheduling noise of both ends.
const WEIGHT_FLOOR_US: f64 = 100.0;

/// The drift expected between two crystals before the samples say otherwise (as a fraction:
/// 100e-6 is 100 ppm).
const PRIOR_RATE: f64 = 100e-6;

/// The drift counts as known (for the status) once its standard error is this small.
const KNOWN_RATE_ERROR: f64 = 20e-6;

/// Largest believable drift between two clocks (crystals are within ±100 ppm of nominal).
const MAX_RATE: f64 = 500e-6;

/// A new sample this far (beyond its own and the best sample's half round trips) from the
/// fit means the peer's clock jumped (restarted, was set): the old samples are dropped.
const CLOCK_JUMP_US: i64 = 20_000;

/// While half the quickest CK round trip, plus the drift the samples leave unknown since the
/// newest of them, is more than this, the offset may be this far off either way: on a wired
/// network the receipt is the better time, so stamps wait for a quicker (or a fresh)
/// exchange.
pub const MAX_CLOCK_UNCERTAINTY_US: i64 = 5_000;

/// A mapped time may be this far after its receipt (the estimate's error) before it counts as
/// impossible; within it, the receipt time bounds it.
pub const FUTURE_TOLERANCE_US: i64 = 5_000;

/// A mapped time older than this at receipt is not believed: no network delivers that late
/// what a show still needs, and stamps that old are junk.
pub const MAX_DELAY_US: i64 = 1_000_000;

/// A packet this much later than the quickest recent one is suspect: the stamp most likely
/// jumped. Receipt time is no worse than what the program did before it read stamps.
pub const MAX_EXCESS_DELAY_US: i64 = 250_000;

/// The resolution of the stamps: 10 kHz.
const STAMP_RESOLUTION_US: i64 = 100;

/// Delays of recent packets kept for the base delay and jitter.
const DELAY_WINDOW: usize = 256;

/// Why a packet's time stamp was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unmapped {
    /// No usable CK exchange yet: the peer's clock is unknown.
    NoClockSync,
    /// Every CK exchange so far was slow, or the last good one is long past: the clock offset
    /// is known only to this many µs, more than [`MAX_CLOCK_UNCERTAINTY_US`].
    ImpreciseClock {
        /// Half the quickest round trip plus the unknown drift since, in µs.
        uncertainty_us: i64,
    },
    /// The stamp is zero: senders that do not keep time send that.
    ZeroStamp,
    /// The stamp maps this far after the packet's receipt.
    Future {
        /// How far ahead, in µs.
        ahead_us: i64,
    },
    /// The stamp maps this long before the packet's receipt, more than [`MAX_DELAY_US`].
    TooOld {
        /// How long before receipt, in µs.
        age_us: i64,
    },
    /// The stamp maps this much later than the quickest recent packet's, more than
    /// [`MAX_EXCESS_DELAY_US`]: the stamps jumped.
    Jumped {
        /// Delay beyond the base delay, in µs.
        excess_us: i64,
    },
}

impl fmt::Display for Unmapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unmapped::NoClockSync => write!(f, "no clock synchronisation yet"),
            Unmapped::ImpreciseClock { uncertainty_us } => write!(
                f,
                "its clock is known only to ±{:.1} ms yet",
                *uncertainty_us as f64 / 1e3
            ),
            Unmapped::ZeroStamp => write!(f, "its time stamps are zero"),
            Unmapped::Future { ahead_us } => write!(
                f,
                "a time stamp lies {:.1} ms after the packet arrived",
                *ahead_us as f64 / 1e3
            ),
            Unmapped::TooOld { age_us } => write!(
                f,
                "a time stamp lies {:.1} s before the packet arrived",
                *age_us as f64 / 1e6
            ),
            Unmapped::Jumped { excess_us } => write!(
                f,
                "a time stamp jumped {:.0} ms behind the other packets'",
                *excess_us as f64 / 1e3
            ),
        }
    }
}

/// What is known about one peer's timing, for logs and status displays.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PeerTiming {
    /// CK samples the clock estimate rests on (0: the peer's clock is unknown).
    pub clock_samples: usize,
    /// Half the quickest CK round trip plus the stamps' 100 µs resolution: the bound on the
    /// clock offset's error, in µs.
    pub clock_uncertainty_us: Option<i64>,
    /// The peer's clock rate against ours, in parts per million; `None` until the samples
    /// span long enough to tell.
    pub drift_ppm: Option<f64>,
    /// The quickest delivery among recent packets: receipt minus mapped send time, in µs.
    pub base_delay_us: Option<i64>,
    /// How much later than the base delay 95 % of recent packets came, in µs.
    pub jitter_us: Option<i64>,
    /// Commands timed by the peer's stamp.
    pub stamped_commands: u64,
    /// Commands timed by their receipt because the stamp was refused.
    pub receipt_timed_commands: u64,
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    /// Our clock, µs.
    our_us: i64,
    /// Our clock minus the peer's at that moment, µs.
    offset_us: i64,
    round_trip_us: i64,
}

#[derive(Clone, Copy, Debug)]
struct Fit {
    /// Our time the fit is centred on, µs.
    ref_us: i64,
    /// Offset (ours minus peer's) at `ref_us`, µs.
    offset_us: f64,
    /// Change of the offset (ours minus peer's) per µs of our time: minus the peer's drift.
    rate: f64,
    /// Whether `rate` is known to within [`KNOWN_RATE_ERROR`].
    rate_known: bool,
    best_round_trip_us: i64,
    /// Standard error of `rate`: how fast the offset's uncertainty grows away from the
    /// samples.
    rate_error: f64,
    /// Our time of the newest sample the fit used, µs.
    newest_us: i64,
}

impl Fit {
    fn offset_at(&self, our_us: i64) -> f64 {
        self.offset_us + self.rate * our_us.saturating_sub(self.ref_us) as f64
    }
}

/// One peer's clock on ours. Sans-IO: times in, times out, all in µs; every step is saturating
/// or wrapping, whatever the peer sends.
#[derive(Clone, Debug, Default)]
pub struct PeerClock {
    samples: VecDeque<Sample>,
    fit: Option<Fit>,
    delays_us: VecDeque<i64>,
    stamped_commands: u64,
    receipt_timed_commands: u64,
}

/// µs of a 100 µs tick count, if it fits.
fn ticks_to_us(ticks_100us: u64) -> Option<i64> {
    i64::try_from(ticks_100us).ok()?.checked_mul(100)
}

impl PeerClock {
    /// A peer whose clock is unknown yet.
    pub fn new() -> PeerClock {
        PeerClock::default()
    }

    /// One CK sample: the peer's clock read `peer_100us` at our `our_us`, known to within half
    /// of `round_trip_us`. Samples with a negative or very long round trip are ignored.
    pub fn add_sample(&mut self, peer_100us: u64, our_us: i64, round_trip_us: i64) {
        if !(0..=MAX_ROUND_TRIP_US).contains(&round_trip_us) {
            return;
        }
        let Some(peer_us) = ticks_to_us(peer_100us) else {
            return;
        };
        let sample = Sample {
            our_us,
            offset_us: our_us.saturating_sub(peer_us),
            round_trip_us,
        };
        if let Some(fit) = self.fit {
            let miss = (sample.offset_us as f64 - fit.offset_at(our_us)).abs();
            let allowed = (round_trip_us / 2)
                .saturating_add(fit.best_round_trip_us / 2)
                .saturating_add(CLOCK_JUMP_US);
            if miss > allowed as f64 {
                // The peer's clock jumped: what we knew is about another clock.
                self.samples.clear();
                self.delays_us.clear();
            }
        }
        if self.samples.len() >= MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
        while self
            .samples
            .front()
            .is_some_and(|s| our_us.saturating_sub(s.our_us) > SAMPLE_MAX_AGE_US)
        {
            self.samples.pop_front();
        }
        self.fit = fit(&self.samples);
    }

    /// A sample from an exchange where we were the responder (we answered CK0 with CK1 and
    /// got CK2 at `received_us`): `t1` and `t3` on the peer's clock, `t2` ours as we sent it,
    /// echoed by the peer. Gives two samples: the peer's midpoint against our `t2`, and the
    /// peer's `t3` against our midpoint of `t2` and the receipt.
    pub fn add_responder_exchange(&mut self, t1: u64, t2: u64, t3: u64, received_us: i64) {
        let Some(t2_us) = ticks_to_us(t2) else {
            return;
        };
        // Our own time echoed back: it must lie before the receipt, and not long before.
        let our_round_trip_us = received_us.saturating_sub(t2_us);
        if !(0..=MAX_ROUND_TRIP_US).contains(&our_round_trip_us) {
            return;
        }
        if let Some(peer_round_trip) = t3.checked_sub(t1) {
            let Some(peer_round_trip_us) = ticks_to_us(peer_round_trip) else {
                return;
            };
            self.add_sample(t1 + peer_round_trip / 2, t2_us, peer_round_trip_us);
        }
        self.add_sample(
            t3,
            t2_us.saturating_add(our_round_trip_us / 2),
            our_round_trip_us,
        );
    }

    /// A sample from an exchange where we were the initiator (we sent CK0 at our `t1`, the
    /// peer answered CK1 at its `t2`, which arrived at `received_us`).
    pub fn add_initiator_exchange(&mut self, t1: u64, t2: u64, received_us: i64) {
        let Some(t1_us) = ticks_to_us(t1) else {
            return;
        };
        let round_trip_us = received_us.saturating_sub(t1_us);
        self.add_sample(t2, t1_us.saturating_add(round_trip_us / 2), round_trip_us);
    }

    /// Whether any CK sample is in.
    pub fn is_synced(&self) -> bool {
        self.fit.is_some()
    }

    /// Whether a refusal is only the clock synchronisation not being good enough yet (a
    /// passing state every peer goes through), not the peer's stamps being junk.
    pub fn is_waiting_for_sync(why: Unmapped) -> bool {
        matches!(why, Unmapped::NoClockSync | Unmapped::ImpreciseClock { .. })
    }

    /// Our time of the peer's 32-bit 10 kHz RTP time stamp `stamp_100us`, from a packet
    /// received at our `received_us`. It may lie up to [`FUTURE_TOLERANCE_US`] after the
    /// receipt (the estimate's error): the caller bounds it by the receipt. Also counts the
    /// command as stamped or not; [`PeerClock::record_delay`] is separate because a packet's
    /// several commands share one delivery.
    pub fn map(&mut self, stamp_100us: u32, received_us: i64) -> Result<i64, Unmapped> {
        let mapped = self.try_map(stamp_100us, received_us);
        match mapped {
            Ok(_) => self.stamped_commands = self.stamped_commands.saturating_add(1),
            Err(_) => self.receipt_timed_commands = self.receipt_timed_commands.saturating_add(1),
        }
        mapped
    }

    /// [`PeerClock::map`] without counting the command: for times the caller derives, like
    /// the bound on when a lost command was meant.
    pub fn peek(&self, stamp_100us: u32, received_us: i64) -> Result<i64, Unmapped> {
        self.try_map(stamp_100us, received_us)
    }

    fn try_map(&self, stamp_100us: u32, received_us: i64) -> Result<i64, Unmapped> {
        let fit = self.fit.ok_or(Unmapped::NoClockSync)?;
        // The offset is known to half the quickest round trip at the samples, and less well
        // the longer ago they were: the drift is known only so well.
        let age_us = received_us.saturating_sub(fit.newest_us).max(0);
        let uncertainty_us =
            (fit.best_round_trip_us / 2).saturating_add((fit.rate_error * age_us as f64) as i64);
        if uncertainty_us > MAX_CLOCK_UNCERTAINTY_US {
            return Err(Unmapped::ImpreciseClock { uncertainty_us });
        }
        if stamp_100us == 0 {
            return Err(Unmapped::ZeroStamp);
        }
        let offset_now = fit.offset_at(received_us);
        // The peer's clock at receipt, as the fit has it; the stamp is the 64-bit tick count
        // nearest it that has the stamp's low 32 bits.
        let expected_us = received_us.saturating_sub(offset_now as i64);
        let expected_ticks = expected_us.div_euclid(100);
        let behind = stamp_100us.wrapping_sub(expected_ticks as u32) as i32;
        let ticks = expected_ticks.saturating_add(i64::from(behind));
        let peer_us = ticks.saturating_mul(100);
        // Between the send and the receipt the offset changes by a few ns: the receipt's
        // offset serves.
        let ours = peer_us.saturating_add(offset_now as i64);
        let delay_us = received_us.saturating_sub(ours);
        if delay_us < -FUTURE_TOLERANCE_US {
            return Err(Unmapped::Future {
                ahead_us: delay_us.saturating_neg(),
            });
        }
        if delay_us > MAX_DELAY_US {
            return Err(Unmapped::TooOld { age_us: delay_us });
        }
        if let Some(base) = self.delays_us.iter().min() {
            let excess_us = delay_us.saturating_sub(*base);
            if excess_us > MAX_EXCESS_DELAY_US {
                return Err(Unmapped::Jumped { excess_us });
            }
        }
        Ok(ours)
    }

    /// One packet's delivery: receipt minus the mapped send time of its last command (the
    /// one nearest the send), for the base delay and jitter.
    pub fn record_delay(&mut self, delay_us: i64) {
        if self.delays_us.len() >= DELAY_WINDOW {
            self.delays_us.pop_front();
        }
        self.delays_us.push_back(delay_us);
    }

    /// What is known now.
    pub fn timing(&self) -> PeerTiming {
        let mut delays: Vec<i64> = self.delays_us.iter().copied().collect();
        delays.sort_unstable();
        let base = delays.first().copied();
        let p95 = delays
            .len()
            .checked_sub(1)
            .and_then(|last| delays.get(last * 95 / 100))
            .copied();
        PeerTiming {
            clock_samples: self.samples.len(),
            clock_uncertainty_us: self
                .fit
                .map(|f| (f.best_round_trip_us / 2).saturating_add(STAMP_RESOLUTION_US)),
            drift_ppm: self.fit.filter(|f| f.rate_known).map(|f| -f.rate * 1e6),
            base_delay_us: base,
            jitter_us: base.zip(p95).map(|(b, p)| p.saturating_sub(b)),
            stamped_commands: self.stamped_commands,
            receipt_timed_commands: self.receipt_timed_commands,
        }
    }
}

/// The weighted straight line through the quickest samples.
///
/// Each sample's error is at most half its round trip, so that (plus a floor) is its standard
/// deviation in the weights. The slope is a ridge estimate: a prior of ±[`PRIOR_RATE`] pulls it
/// towards zero while the samples span too little time to say much, and lets go as they
/// spread out; so the first seconds after joining use the offset alone, and a noisy early
/// slope never throws the mapping off.
fn fit(samples: &VecDeque<Sample>) -> Option<Fit> {
    let best = samples.iter().map(|s| s.round_trip_us).min()?;
    let cutoff = best.saturating_add(best.max(ROUND_TRIP_SLACK_US));
    let used: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.round_trip_us <= cutoff)
        .collect();
    let first = used.first()?;
    // Everything relative to the first used sample, so the sums stay small and exact.
    let (o0, y0) = (first.our_us, first.offset_us);
    let points: Vec<(f64, f64, f64)> = used
        .iter()
        .map(|s| {
            let sigma_us = s.round_trip_us as f64 / 2.0 + WEIGHT_FLOOR_US;
            (
                s.our_us.saturating_sub(o0) as f64,
                s.offset_us.saturating_sub(y0) as f64,
                1.0 / (sigma_us * sigma_us),
            )
        })
        .collect();
    let total: f64 = points.iter().map(|p| p.2).sum();
    let mean_x = points.iter().map(|p| p.0 * p.2).sum::<f64>() / total;
    let mean_y = points.iter().map(|p| p.1 * p.2).sum::<f64>() / total;
    let sxx: f64 = points.iter().map(|p| p.2 * (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points
        .iter()
        .map(|p| p.2 * (p.0 - mean_x) * (p.1 - mean_y))
        .sum();
    let prior = 1.0 / (PRIOR_RATE * PRIOR_RATE);
    let rate = (sxy / (sxx + prior)).clamp(-MAX_RATE, MAX_RATE);
    let rate_error = (sxx + prior).sqrt().recip();
    Some(Fit {
        ref_us: o0.saturating_add(mean_x as i64),
        offset_us: y0 as f64 + mean_y,
        rate,
        rate_known: rate_error <= KNOWN_RATE_ERROR,
        best_round_trip_us: best,
        rate_error,
        newest_us: used.iter().map(|s| s.our_us).max().unwrap_or(o0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// A peer whose crystal runs `rate` fast against ours, its clock reading `origin_us` at our
    /// time 0.
    struct SimulatedPeer {
        origin_us: f64,
        rate: f64,
    }

    impl SimulatedPeer {
        fn ticks(&self, our_us: i64) -> u64 {
            ((self.origin_us + our_us as f64 * (1.0 + self.rate)) / 100.0).floor() as u64
        }

        fn stamp(&self, our_us: i64) -> u32 {
            self.ticks(our_us) as u32
        }
    }

    /// One responder-side exchange starting at our `at_us`, with one-way delays drawn from
    /// `rng` as a busy wireless network gives them: 0.3-1.5 ms, a quarter of them up to 30 ms
    /// later, one in ten 150 ms late. Returns when CK2 arrived.
    fn exchange(clock: &mut PeerClock, peer: &SimulatedPeer, at_us: i64, rng: &mut Rng) -> i64 {
        let mut leg = || {
            let queued = if rng.below(4) == 0 {
                rng.range(0.0, 30_000.0)
            } else {
                0.0
            };
            let late = if rng.below(10) == 0 { 150_000.0 } else { 0.0 };
            (rng.range(300.0, 1_500.0) + queued + late) as i64
        };
        let t1 = peer.ticks(at_us);
        let ck0_received = at_us + leg();
        let t2 = (ck0_received / 100) as u64;
        let ck1_received = ck0_received + leg();
        let t3 = peer.ticks(ck1_received);
        let ck2_received = ck1_received + leg();
        clock.add_responder_exchange(t1, t2, t3, ck2_received);
        ck2_received
    }

    /// Runs a show of `minutes` with CKs as a Mac sends them (a burst, then every 10 s) and a
    /// packet every 50 ms delivered 0-30 ms late; returns the mapping errors in µs, in order,
    /// with the send time of each.
    fn simulate(peer: &SimulatedPeer, minutes: i64, seed: u64) -> (PeerClock, Vec<(i64, i64)>) {
        let mut rng = Rng::seeded(seed);
        let mut clock = PeerClock::new();
        let start_us = 5_000_000;
        let end_us = start_us + minutes * 60_000_000;
        let mut next_ck_us = start_us;
        let mut cks = 0;
        let mut errors = Vec::new();
        let mut sent_us = start_us + 1_000;
        while sent_us < end_us {
            while next_ck_us <= sent_us {
                exchange(&mut clock, peer, next_ck_us, &mut rng);
                cks += 1;
                next_ck_us += if cks < 6 { 1_000_000 } else { 10_000_000 };
            }
            let received_us = sent_us + rng.range(0.0, 30_000.0) as i64;
            let mapped = match clock.map(peer.stamp(sent_us), received_us) {
                Ok(mapped) => mapped,
                // Only while every CK so far was slow; the receipt is then the time.
                Err(Unmapped::ImpreciseClock { .. }) if sent_us < start_us + 60_000_000 => {
                    sent_us += 50_000;
                    continue;
                }
                Err(e) => panic!("refused at {sent_us} µs: {e}"),
            };
            clock.record_delay(received_us - mapped);
            errors.push((sent_us, mapped.min(received_us) - sent_us));
            sent_us += 50_000;
        }
        (clock, errors)
    }

    fn worst(errors: &[(i64, i64)], from_us: i64) -> i64 {
        errors
            .iter()
            .filter(|e| e.0 >= from_us)
            .map(|e| e.1.abs())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn packets_delivered_late_map_to_their_send_time_despite_drift_and_late_cks() {
        for (seed, rate) in [(1, 100e-6), (2, -100e-6), (3, 0.0), (4, 100e-6)] {
            let peer = SimulatedPeer {
                origin_us: 3.7e11,
                rate,
            };
            let (clock, errors) = simulate(&peer, 30, seed);
            let first_minute = worst(&errors, 0);
            let settled = worst(&errors, 65_000_000);
            let mut all: Vec<i64> = errors.iter().map(|e| e.1.abs()).collect();
            all.sort_unstable();
            let median = all[all.len() / 2];
            let timing = clock.timing();
            println!(
                "rate {:+.0} ppm: error median {median} µs, worst {settled} µs after the first \
                 minute, {first_minute} µs in it; fitted drift {:?} ppm; delay {:?} µs, \
                 jitter {:?} µs",
                rate * 1e6,
                timing.drift_ppm,
                timing.base_delay_us,
                timing.jitter_us
            );
            assert!(median <= 300, "median error {median} µs");
            assert!(
                settled <= 1_000,
                "error {settled} µs after the first minute"
            );
            // In the first minute the estimate rests on few CKs (one of these runs starts
            // with a 22 ms round trip, and waits for a quicker one): half the quickest round
            // trip, plus the drift since the last good CK, bounds the error.
            assert!(
                first_minute <= 3_500,
                "error {first_minute} µs in the first minute"
            );
            let drift = timing.drift_ppm.expect("a rate after 30 minutes");
            assert!((drift - rate * 1e6).abs() < 10.0, "drift {drift} ppm");
            // The packets were 0-30 ms late: the base delay is near 0, the jitter near 28 ms.
            let base = timing.base_delay_us.unwrap();
            let jitter = timing.jitter_us.unwrap();
            assert!((-1_000..=1_500).contains(&base), "base delay {base} µs");
            assert!((25_000..=30_000).contains(&jitter), "jitter {jitter} µs");
            assert!(timing.receipt_timed_commands <= 40, "only while imprecise");
        }
    }

    #[test]
    fn the_32_bit_stamp_wraps_without_a_glitch() {
        // The peer's 10 kHz clock passes 2^32 ticks (4.97 days) a minute into the show.
        let peer = SimulatedPeer {
            origin_us: (u64::from(u32::MAX) as f64 + 1.0) * 100.0 - 65e6,
            rate: 50e-6,
        };
        let (_, errors) = simulate(&peer, 3, 9);
        assert!(peer.stamp(0) > 0xF000_0000);
        assert!(peer.stamp(180_000_000) < 0x1000_0000, "it did wrap");
        assert!(worst(&errors, 30_000_000) <= 1_000);
    }

    fn synced() -> (PeerClock, SimulatedPeer) {
        let peer = SimulatedPeer {
            origin_us: 1e10,
            rate: 0.0,
        };
        let mut clock = PeerClock::new();
        let mut rng = Rng::seeded(5);
        for i in 0..6 {
            exchange(&mut clock, &peer, 1_000_000 * i, &mut rng);
        }
        (clock, peer)
    }

    #[test]
    fn junk_stamps_are_refused_and_counted() {
        let mut clock = PeerClock::new();
        assert_eq!(clock.map(12_345, 1_000_000), Err(Unmapped::NoClockSync));
        let (mut clock, peer) = synced();
        let now_us = 10_000_000;
        assert!(clock.map(peer.stamp(now_us - 3_000), now_us).is_ok());
        clock.record_delay(3_000);
        assert_eq!(clock.map(0, now_us), Err(Unmapped::ZeroStamp));
        assert!(matches!(
            clock.map(peer.stamp(now_us + 50_000), now_us),
            Err(Unmapped::Future { ahead_us }) if (49_000..=51_000).contains(&ahead_us)
        ));
        assert!(matches!(
            clock.map(peer.stamp(now_us - 5_000_000), now_us),
            Err(Unmapped::TooOld { .. })
        ));
        assert!(matches!(
            clock.map(peer.stamp(now_us - 400_000), now_us),
            Err(Unmapped::Jumped { .. })
        ));
        // Wild values anywhere in the 32 bits never panic and are never in the future.
        let mut rng = Rng::seeded(11);
        for _ in 0..10_000 {
            let received_us = rng.range(0.0, 1e12) as i64;
            if let Ok(at) = clock.map(rng.next_u32(), received_us) {
                assert!(at <= received_us + FUTURE_TOLERANCE_US);
            }
        }
        let timing = clock.timing();
        assert_eq!(timing.stamped_commands, 1);
        assert!(timing.receipt_timed_commands >= 4);
    }

    #[test]
    fn stamps_wait_for_a_fresh_sync_when_the_drift_is_unknown_for_too_long() {
        let (mut clock, peer) = synced();
        // Six exchanges over 5 s say little about the drift: a minute on, 100 ppm could have
        // moved the offset 6 ms.
        let later_us = 65_000_000;
        assert!(matches!(
            clock.map(peer.stamp(later_us - 1_000), later_us),
            Err(Unmapped::ImpreciseClock { .. })
        ));
        assert!(clock.map(peer.stamp(9_000_000), 9_001_000).is_ok());
        // Fresh exchanges (some of them slow, as the simulated network has it) bring it back.
        let mut rng = Rng::seeded(8);
        for ago_us in [3_000_000, 2_000_000, 1_000_000] {
            exchange(&mut clock, &peer, later_us - ago_us, &mut rng);
        }
        let at = clock.map(peer.stamp(later_us - 1_000), later_us).unwrap();
        assert!((at - (later_us - 1_000)).abs() <= 1_000, "{at}");
    }

    #[test]
    fn a_clock_that_jumps_is_learned_afresh() {
        let (mut clock, mut peer) = synced();
        // The peer's clock is set back an hour (its program restarted its clock).
        peer.origin_us -= 3.6e9;
        let now_us = 20_000_000;
        assert!(clock.map(peer.stamp(now_us - 2_000), now_us).is_err());
        let mut rng = Rng::seeded(6);
        exchange(&mut clock, &peer, now_us, &mut rng);
        let later_us = now_us + 100_000;
        let at = clock.map(peer.stamp(later_us - 2_000), later_us).unwrap();
        assert!((at - (later_us - 2_000)).abs() <= 5_000, "{at}");
    }

    #[test]
    fn an_initiator_side_exchange_gives_the_offset_too() {
        let peer = SimulatedPeer {
            origin_us: 7e9,
            rate: 0.0,
        };
        let mut clock = PeerClock::new();
        // We sent CK0 at 1 s; the peer answered 1 ms later; CK1 came back 2 ms after that.
        let t2 = peer.ticks(1_001_000);
        clock.add_initiator_exchange(10_000, t2, 1_003_000);
        let at = clock.map(peer.stamp(1_500_000), 1_510_000).unwrap();
        assert!((at - 1_500_000).abs() <= 700, "{at}");
        // Echoes that cannot be ours (in the future, or garbage) are ignored.
        let mut fresh = PeerClock::new();
        fresh.add_initiator_exchange(u64::MAX, t2, 1_003_000);
        fresh.add_initiator_exchange(20_000, t2, 1_003_000);
        fresh.add_responder_exchange(1, u64::MAX, 3, 1_003_000);
        fresh.add_responder_exchange(1, 50_000, 3, 1_003_000);
        assert!(!fresh.is_synced());
    }
}
