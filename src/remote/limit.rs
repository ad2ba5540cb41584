//! Rate limits for what the network can make playhead do or log: a token bucket, with the
//! time given by the caller (so tests use a clock of their own).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// At most `burst` at once, then `per_second`; what goes over is counted.
#[derive(Clone, Debug)]
pub struct RateLimit {
    burst: f64,
    per_second: f64,
    tokens: f64,
    at: Option<Instant>,
    refused: u64,
}

impl RateLimit {
    /// A bucket that starts full.
    pub fn new(burst: u32, per_second: f64) -> RateLimit {
        RateLimit {
            burst: f64::from(burst),
            per_second,
            tokens: f64::from(burst),
            at: None,
            refused: 0,
        }
    }

    /// True when one more may go at `now`; false counts it as refused.
    pub fn allow(&mut self, now: Instant) -> bool {
        if let Some(at) = self.at {
            let elapsed = now.saturating_duration_since(at).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        }
        self.at = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.refused += 1;
            false
        }
    }

    /// How many were refused since the last call.
    pub fn take_refused(&mut self) -> u64 {
        std::mem::take(&mut self.refused)
    }
}

/// A rate limit for each sending address, and one for all of them together: one client that
/// floods uses up its own share, not everyone's.
#[derive(Clone, Debug)]
pub struct PerSource {
    each: (u32, f64),
    sources: HashMap<IpAddr, RateLimit>,
    all: RateLimit,
}

/// Addresses remembered at most; past this (forged sources, one packet each) the list starts
/// afresh.
const MAX_SOURCES: usize = 256;

impl PerSource {
    /// `each` (burst, per second) for one address, `all` for all of them.
    pub fn new(each: (u32, f64), all: (u32, f64)) -> PerSource {
        PerSource {
            each,
            sources: HashMap::new(),
            all: RateLimit::new(all.0, all.1),
        }
    }

    /// True when one more from `ip` may go at `now`.
    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.sources.len() >= MAX_SOURCES && !self.sources.contains_key(&ip) {
            self.sources.clear();
        }
        let (burst, rate) = self.each;
        let mine = self
            .sources
            .entry(ip.to_canonical())
            .or_insert_with(|| RateLimit::new(burst, rate));
        mine.allow(now) && self.all.allow(now)
    }
}

/// Log lines the network causes: a few at once, then about one a second; each line that
/// gets through says how many were left out before it.
#[derive(Clone, Debug)]
pub struct LogLimit(RateLimit);

impl Default for LogLimit {
    fn default() -> Self {
        LogLimit(RateLimit::new(10, 1.0))
    }
}

impl LogLimit {
    /// `Some(note)` when a line may be logged at `now`; the note (empty, or " (N similar
    /// lines left out)") goes at its end.
    pub fn line(&mut self, now: Instant) -> Option<String> {
        if !self.0.allow(now) {
            return None;
        }
        Some(match self.0.take_refused() {
            0 => String::new(),
            1 => " (1 similar line left out)".into(),
            n => format!(" ({n} similar lines left out)"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(3, 2.0);
        assert!((0..3).all(|_| limit.allow(t0)));
        assert!(!limit.allow(t0));
        assert!(!limit.allow(t0 + Duration::from_millis(400)));
        assert!(limit.allow(t0 + Duration::from_millis(600)));
        assert_eq!(limit.take_refused(), 2);
        assert_eq!(limit.take_refused(), 0);
        // A long pause refills to the burst, not beyond.
        let later = t0 + Duration::from_secs(100);
        assert!((0..3).all(|_| limit.allow(later)));
        assert!(!limit.allow(later));
    }

    #[test]
    fn one_flooding_source_leaves_room_for_the_others() {
        let t0 = Instant::now();
        let mut limit = PerSource::new((4, 2.0), (10, 5.0));
        let flood: IpAddr = "192.168.1.66".parse().unwrap();
        let desk: IpAddr = "192.168.1.30".parse().unwrap();
        assert_eq!((0..100).filter(|_| limit.allow(flood, t0)).count(), 4);
        assert!(limit.allow(desk, t0), "another source still gets through");
        // Many forged sources meet the limit for all.
        let taken = (0..200u8)
            .filter(|i| limit.allow(IpAddr::from([10, 0, 0, *i]), t0))
            .count();
        assert_eq!(taken, 5, "10 for all at once, 5 of them taken already");
        // Past the remembered addresses the list starts afresh, and the total still holds.
        let later = t0 + Duration::from_secs(100);
        for i in 0..=MAX_SOURCES {
            let ip = IpAddr::from([10, 1, (i / 256) as u8, (i % 256) as u8]);
            limit.allow(ip, later);
        }
        assert!(limit.sources.len() <= MAX_SOURCES);
    }

    #[test]
    fn log_lines_say_what_was_left_out() {
        let t0 = Instant::now();
        let mut log = LogLimit::default();
        let lines: Vec<_> = (0..1000).filter_map(|_| log.line(t0)).collect();
        assert_eq!(lines.len(), 10, "a flood logs a few lines");
        assert_eq!(
            log.line(t0 + Duration::from_secs(1)).as_deref(),
            Some(" (990 similar lines left out)")
        );
        assert_eq!(log.line(t0 + Duration::from_secs(2)).as_deref(), Some(""));
    }
}
