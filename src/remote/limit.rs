//! Rate limits for what the network can make playhead do or log: a token bucket, with the
//! time given by the caller (so tests use a clock of their own).

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
