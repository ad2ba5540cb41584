//! What keeps strangers from hurting the session: peer-supplied names made safe to store and
//! print, a token bucket per source address for invitations, and a rate limit on the log lines
//! a source can cause.
//!
//! Anyone who can reach the UDP ports can send anything, from any port (and, on a LAN, from
//! any address). None of it may fill the log, the memory or the session's places.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::{log, Level, Output};

/// Longest peer name kept, in characters; longer ones are cut and end in `…`.
pub const MAX_NAME_CHARS: usize = 64;

/// Invitations one source address (IP and port) may send in a burst.
pub const INVITE_BURST: u32 = 6;

/// One more invitation is allowed from a source address this often (a Mac resends every
/// second, on each port, so a real initiator never runs dry).
pub const INVITE_REFILL_US: u64 = 250_000;

/// Log lines about one source IP per window; then they are counted, and the count is logged.
const LOG_LINES_PER_SOURCE: u32 = 5;

/// Log lines about all sources together per window.
const LOG_LINES_PER_WINDOW: u32 = 30;

/// The log limiter's window.
pub const LOG_WINDOW_US: u64 = 10_000_000;

/// Most source addresses tracked at once by either limiter; beyond that the oldest is forgotten
/// (a flood from many addresses costs bounded memory).
const TRACKED_SOURCES: usize = 1024;

/// A peer's name as the session keeps, logs and shows it: control characters (new lines,
/// escapes, NULs) become spaces and it is cut to [`MAX_NAME_CHARS`] characters.
pub fn clean_name(raw: &str) -> String {
    let mut out = String::new();
    for (n, c) in raw.chars().enumerate() {
        if n == MAX_NAME_CHARS {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// A token bucket per source address: each invitation takes a token, tokens come back at a
/// steady rate up to a burst.
#[derive(Debug, Default)]
pub(super) struct InviteLimiter {
    buckets: HashMap<SocketAddr, (u32, u64)>,
}

impl InviteLimiter {
    /// True when an invitation from `from` at `now_us` may be handled; false drops it.
    pub(super) fn admit(&mut self, from: SocketAddr, now_us: u64) -> bool {
        if !self.buckets.contains_key(&from) && self.buckets.len() >= TRACKED_SOURCES {
            // Forget the source that was refilled longest ago (it is full again by now, or
            // nearly: forgetting it only gives it its burst back).
            if let Some(oldest) = self
                .buckets
                .iter()
                .min_by_key(|(_, &(_, t))| t)
                .map(|(a, _)| *a)
            {
                self.buckets.remove(&oldest);
            }
        }
        let (tokens, since) = self.buckets.entry(from).or_insert((INVITE_BURST, now_us));
        if *tokens >= INVITE_BURST {
            *since = now_us;
        } else {
            let earned = now_us.saturating_sub(*since) / INVITE_REFILL_US;
            if earned > 0 {
                *tokens = u64::from(*tokens)
                    .saturating_add(earned)
                    .min(u64::from(INVITE_BURST)) as u32;
                *since = if *tokens >= INVITE_BURST {
                    now_us
                } else {
                    since.saturating_add(earned * INVITE_REFILL_US)
                };
            }
        }
        if *tokens == 0 {
            return false;
        }
        *tokens -= 1;
        true
    }
}

/// Lets the first few log lines about each source through per window, and a summary of how
/// many were held back.
#[derive(Debug, Default)]
pub(super) struct LogLimiter {
    window_start_us: Option<u64>,
    per_source: HashMap<IpAddr, u32>,
    total: u32,
    suppressed: u64,
}

impl LogLimiter {
    /// Logs `message` about source `ip` unless the source or everyone has had their share of
    /// this window.
    pub(super) fn log(
        &mut self,
        ip: IpAddr,
        level: Level,
        message: String,
        now_us: u64,
        out: &mut Vec<Output>,
    ) {
        if self.admit(ip, now_us, out) {
            log(out, level, message);
        }
    }

    /// True when one more line (or notice) about source `ip` may be given now; counts it.
    pub(super) fn admit(&mut self, ip: IpAddr, now_us: u64, out: &mut Vec<Output>) -> bool {
        self.roll(now_us, out);
        let known = self.per_source.contains_key(&ip);
        if !known && self.per_source.len() >= TRACKED_SOURCES {
            self.suppressed += 1;
            return false;
        }
        let n = self.per_source.entry(ip).or_insert(0);
        if *n >= LOG_LINES_PER_SOURCE || self.total >= LOG_LINES_PER_WINDOW {
            self.suppressed += 1;
            return false;
        }
        *n += 1;
        self.total += 1;
        true
    }

    /// Starts a new window when the last one is over, logging what it held back.
    pub(super) fn roll(&mut self, now_us: u64, out: &mut Vec<Output>) {
        let start = *self.window_start_us.get_or_insert(now_us);
        if now_us < start.saturating_add(LOG_WINDOW_US) {
            return;
        }
        if self.suppressed > 0 {
            log(
                out,
                Level::Warn,
                format!(
                    "{} more line(s) about invitations and unknown senders were not logged in \
                     the last {:.0} s (at most {LOG_LINES_PER_SOURCE} per address and \
                     {LOG_LINES_PER_WINDOW} in all)",
                    self.suppressed,
                    now_us.saturating_sub(start) as f64 / 1e6
                ),
            );
        }
        self.window_start_us = Some(now_us);
        self.per_source.clear();
        self.total = 0;
        self.suppressed = 0;
    }

    /// When the window ends, if lines are waiting to be counted in a summary.
    pub(super) fn deadline_us(&self) -> Option<u64> {
        (self.suppressed > 0)
            .then(|| {
                self.window_start_us
                    .map(|s| s.saturating_add(LOG_WINDOW_US))
            })
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_control_characters_and_are_cut() {
        assert_eq!(clean_name("Studio Mac"), "Studio Mac");
        assert_eq!(clean_name("a\nb\r\u{1b}[31mc\0"), "a b  [31mc ");
        let long = "é".repeat(60_000);
        let cut = clean_name(&long);
        assert_eq!(cut.chars().count(), MAX_NAME_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(clean_name(&"x".repeat(MAX_NAME_CHARS)), "x".repeat(64));
    }

    #[test]
    fn a_source_gets_a_burst_then_one_invitation_per_refill() {
        let mut l = InviteLimiter::default();
        let a: SocketAddr = "192.0.2.1:5004".parse().unwrap();
        let b: SocketAddr = "192.0.2.1:5006".parse().unwrap();
        for _ in 0..INVITE_BURST {
            assert!(l.admit(a, 0));
        }
        assert!(!l.admit(a, 1));
        assert!(l.admit(b, 1), "another port has its own bucket");
        assert!(!l.admit(a, INVITE_REFILL_US - 1));
        assert!(l.admit(a, INVITE_REFILL_US));
        assert!(!l.admit(a, INVITE_REFILL_US + 1));
        // A Mac's pace (one a second) never runs dry.
        let mut t = 10_000_000;
        for _ in 0..100 {
            t += 1_000_000;
            assert!(l.admit(a, t));
        }
    }

    #[test]
    fn log_lines_per_source_are_limited_and_summed_up() {
        let mut l = LogLimiter::default();
        let mut out = Vec::new();
        let ip: IpAddr = [192, 0, 2, 1].into();
        for i in 0..100 {
            l.log(ip, Level::Info, format!("line {i}"), i, &mut out);
        }
        assert_eq!(out.len(), LOG_LINES_PER_SOURCE as usize);
        for k in 0..200u32 {
            let other: IpAddr = [10, 0, (k >> 8) as u8, k as u8].into();
            l.log(other, Level::Info, "x".into(), 200, &mut out);
        }
        assert_eq!(out.len(), LOG_LINES_PER_WINDOW as usize);
        assert_eq!(l.deadline_us(), Some(LOG_WINDOW_US));
        l.roll(LOG_WINDOW_US, &mut out);
        match out.last() {
            Some(Output::Log { message, .. }) => {
                assert!(message.starts_with("270 more line(s)"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(l.deadline_us(), None);
    }
}
