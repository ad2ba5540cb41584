//! Starting on the DAW's time, not on the time a message happened to arrive.
//!
//! mpv starts its clock when playback (re)starts: unpausing a paused frame shows the next one a
//! frame later; a seek while playing shows the frame it lands on at once and the next a frame
//! after that (measured with the software renderer: the first frame 7-9 ms after the command,
//! the next 40-41 ms later at 25 fps). It has no "start at this time". So to show the frame
//! the DAW means at the time it means it, the player picks a frame a little ahead, the first
//! whose due time leaves room for the seek; seeks to it paused just before (the seek's time is
//! measured as the show runs); and unpauses it exactly when it is due, so that every frame from
//! the next one on is on screen at its due time. The frames in between, already late, are never
//! shown: a Start delivered 30 ms late starts at the frame due now.
//!
//! A message on time (due now or within [`ON_TIME`] ago), with the frame it plays from already
//! on screen, simply unpauses, or unpauses when it is due if it is stamped ahead.

use std::time::{Duration, Instant};

/// A start no later than this behind its due time unpauses at once: a seek would cost more.
pub const ON_TIME: Duration = Duration::from_millis(2);

/// What a seek is taken to cost before one has been measured.
const FIRST_SEEK_GUESS: Duration = Duration::from_millis(20);
/// Added to the slowest recent seek: the frame must be drawn before it is due.
const SEEK_MARGIN: Duration = Duration::from_millis(4);
/// How many recent seeks the estimate keeps.
const SEEKS_KEPT: usize = 8;
/// A measured seek longer than this is not kept (a load, or a machine stalled). A file with a
/// keyframe every 10 s takes up to a second here, and a start must plan with that.
const SEEK_KEPT_MAX: Duration = Duration::from_millis(2500);

/// What the player does to show the video at `position_s` at `at`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StartPlan {
    /// Seek, paused, to this video time at this moment (none: the frame on screen is it).
    pub seek: Option<(Instant, f64)>,
    /// Unpause at this moment (now, or later).
    pub unpause_at: Instant,
    /// The frame unpaused on (video seconds): the next one comes a frame later.
    pub from_s: f64,
    /// When the frame after it is due on the DAW's time (the first frame mpv times itself).
    pub next_due: Instant,
}

/// Plans the start of playback so that video time `position_s` is due at `at` (on our clock)
/// and the video runs at normal speed from there. `cued_s` is the frame paused on screen, when
/// known; `frame_s` the video's frame duration; `lead` how long a seek takes to show its frame.
pub fn plan(
    position_s: f64,
    at: Instant,
    now: Instant,
    cued_s: Option<f64>,
    frame_s: f64,
    lead: Duration,
) -> StartPlan {
    let due = |p: f64| offset(at, p - position_s);
    let frame_s = if frame_s.is_finite() && frame_s > 0.001 {
        frame_s
    } else {
        1.0 / 25.0
    };
    if let Some(c) = cued_s {
        // A deck sent to a time between two frames shows the later one (mpv shows the first
        // frame at or after where it was sent), and unpausing it shows the next a frame after
        // that: unpause when that frame is due, not when the time it was sent to is. (Taking
        // the time sent to started a locate at 5.03 s, shown as the frame at 5.04 s, 10 ms
        // early at 25 fps, and every frame after it.)
        let shown = ((c / frame_s) - 1e-6).ceil().max(0.0) * frame_s;
        let due_c = due(shown);
        if due_c + ON_TIME >= now {
            return StartPlan {
                seek: None,
                unpause_at: due_c.max(now),
                from_s: shown,
                next_due: due(shown + frame_s),
            };
        }
    }
    // The video time due once a seek started now would have landed.
    let landed_s = position_s + signed_secs(now + lead, at);
    // The first frame due then or after (a hair's tolerance for frame times in floating point).
    let k = ((landed_s / frame_s) - 1e-6).ceil().max(0.0);
    let from_s = k * frame_s;
    let unpause_at = due(from_s).max(now);
    let seek_at = unpause_at.checked_sub(lead).unwrap_or(now).max(now);
    // mpv shows the first frame at or after the seek's target: aim a quarter frame early.
    let target_s = (from_s - frame_s / 4.0).max(0.0);
    StartPlan {
        seek: Some((seek_at, target_s)),
        unpause_at,
        from_s,
        next_due: due(from_s + frame_s),
    }
}

/// `t` moved by `s` seconds (either way).
fn offset(t: Instant, s: f64) -> Instant {
    let d = Duration::from_secs_f64(s.abs().min(1e6));
    if s >= 0.0 {
        t + d
    } else {
        t.checked_sub(d).unwrap_or(t)
    }
}

/// `a - b` in seconds, either sign.
fn signed_secs(a: Instant, b: Instant) -> f64 {
    if a >= b {
        a.duration_since(b).as_secs_f64()
    } else {
        -b.duration_since(a).as_secs_f64()
    }
}

/// How long one deck's seeks take to show their frame, measured from the command to mpv's
/// playback restart.
#[derive(Clone, Debug, Default)]
pub struct SeekTimer {
    sent: Option<Instant>,
    recent: Vec<Duration>,
}

impl SeekTimer {
    /// A seek was sent at `at`.
    pub fn sent(&mut self, at: Instant) {
        self.sent = Some(at);
    }

    /// A seek was sent and has not shown its frame yet.
    pub fn in_flight(&self) -> bool {
        self.sent.is_some()
    }

    /// A file is loading: its restart is no seek's.
    pub fn forget(&mut self) {
        self.sent = None;
    }

    /// mpv restarted playback at `at` (the seek's frame is ready); returns how long the seek
    /// took, when one was being timed.
    pub fn restarted(&mut self, at: Instant) -> Option<Duration> {
        let sent = self.sent.take()?;
        let took = at.saturating_duration_since(sent);
        self.measured(took);
        Some(took)
    }

    /// A seek timed by the player took `took` (a timed start's, from the command to its frame
    /// on a screen).
    pub fn measured(&mut self, took: Duration) {
        if took > SEEK_KEPT_MAX {
            return;
        }
        if self.recent.len() == SEEKS_KEPT {
            self.recent.remove(0);
        }
        self.recent.push(took);
    }

    /// How far ahead of a frame's due time its seek must start: the slowest recent seek plus a
    /// margin (an eighth of it, at least [`SEEK_MARGIN`]: a slow seek varies with how far its
    /// target is from a keyframe), or a guess before any was measured.
    pub fn lead(&self) -> Duration {
        self.recent
            .iter()
            .max()
            .map_or(FIRST_SEEK_GUESS, |slowest| {
                *slowest + SEEK_MARGIN.max(*slowest / 8)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: f64 = 0.04;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// `a` and `b` agree to a microsecond (frame times go through floating point).
    fn same(a: Instant, b: Instant) -> bool {
        a.max(b).duration_since(a.min(b)) < Duration::from_micros(1)
    }

    #[test]
    fn on_time_from_the_cued_frame_unpauses_at_once() {
        let now = Instant::now();
        let at = now - ms(1);
        let p = plan(0.0, at, now, Some(0.0), FRAME, ms(10));
        assert_eq!(p.seek, None);
        assert_eq!(p.unpause_at, now);
    }

    #[test]
    fn stamped_ahead_unpauses_when_due() {
        let now = Instant::now();
        let p = plan(0.0, now + ms(25), now, Some(0.0), FRAME, ms(10));
        assert_eq!(p.seek, None);
        assert_eq!(p.unpause_at, now + ms(25));
    }

    #[test]
    fn a_deck_cued_between_frames_unpauses_when_the_frame_it_shows_is_due() {
        let now = Instant::now();
        // Located to 5.03 s (the DAW's position plus an offset): the frame on screen is the
        // one at 5.04 s, due 10 ms after the DAW means 5.03 s.
        let p = plan(5.03, now + ms(20), now, Some(5.03), FRAME, ms(10));
        assert_eq!(p.seek, None);
        assert!((p.from_s - 5.04).abs() < 1e-9);
        assert!(same(p.unpause_at, now + ms(30)));
        // On a frame (floating point aside): that frame.
        let p = plan(0.12, now + ms(20), now, Some(0.12000000001), FRAME, ms(10));
        assert!((p.from_s - 0.12).abs() < 1e-9);
        assert!(same(p.unpause_at, now + ms(20)));
    }

    #[test]
    fn late_starts_on_the_first_frame_the_seek_can_reach() {
        let now = Instant::now();
        let at = now - ms(30);
        // 30 ms late with a 10 ms seek: 40 ms of video are due when it lands: frame 1 (0.04 s),
        // due exactly then; seek at once, unpause when it is due.
        let p = plan(0.0, at, now, Some(0.0), FRAME, ms(10));
        assert_eq!(p.from_s, 0.04);
        assert!(same(p.unpause_at, at + ms(40)));
        let (seek_at, target) = p.seek.expect("a seek");
        assert!(same(seek_at, now));
        assert!((target - 0.03).abs() < 1e-9);
        // 12 ms late: frame 1 is due 28 ms from now; the seek starts 10 ms before that.
        let at = now - ms(12);
        let p = plan(0.0, at, now, Some(0.0), FRAME, ms(10));
        assert_eq!(p.from_s, 0.04);
        assert!(same(p.unpause_at, at + ms(40)));
        assert!(same(p.seek.unwrap().0, at + ms(30)));
    }

    #[test]
    fn a_locate_while_playing_lands_where_the_daw_will_be() {
        let now = Instant::now();
        // The DAW was at 10 s 5 ms ago; a seek takes 30 ms: it lands at 10.035 s; the first
        // frame from there is 10.04 s, due 5 ms after landing.
        let p = plan(10.0, now - ms(5), now, None, FRAME, ms(30));
        assert!((p.from_s - 10.04).abs() < 1e-9);
        assert!(same(p.unpause_at, now + ms(35)));
        assert!(same(p.seek.unwrap().0, now + ms(5)));
    }

    #[test]
    fn never_before_the_top_and_nonsense_frame_times_fall_back() {
        let now = Instant::now();
        let p = plan(-1.0, now, now, None, f64::NAN, ms(10));
        assert!(p.from_s >= 0.0);
        let (_, target) = p.seek.unwrap();
        assert!(target >= 0.0);
    }

    #[test]
    fn the_seek_estimate_is_the_slowest_recent_seek() {
        let mut t = SeekTimer::default();
        assert_eq!(t.lead(), FIRST_SEEK_GUESS);
        let start = Instant::now();
        for took in [8, 12, 9] {
            t.sent(start);
            t.restarted(start + ms(took));
        }
        assert_eq!(t.lead(), ms(12) + SEEK_MARGIN);
        // A restart with no seek sent (a load) and a stall are not kept.
        t.restarted(start + ms(100));
        t.sent(start);
        t.restarted(start + ms(3000));
        assert_eq!(t.lead(), ms(12) + SEEK_MARGIN);
        // A slow seek (a keyframe 10 s before the target) is planned with.
        t.sent(start);
        t.restarted(start + ms(900));
        assert_eq!(t.lead(), ms(900) + ms(900) / 8);
        for _ in 0..SEEKS_KEPT {
            t.sent(start);
            t.restarted(start + ms(7));
        }
        // Forgotten once eight faster ones came after it.
        assert_eq!(t.lead(), ms(7) + SEEK_MARGIN);
    }
}
