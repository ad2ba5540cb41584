//! The plan of a start: which frame of the video a deck shows, and when, on the DAW's time.
//!
//! mpv starts its clock when playback (re)starts: unpausing a paused frame shows the next one a
//! frame later; a seek while playing shows the frame it lands on at once and the next a frame
//! after that (measured with the software renderer: the first frame 7-9 ms after the command,
//! the next 40-41 ms later at 25 fps). It has no "start at this time". So to show the frame
//! the DAW means at the time it means it, a start picks a frame a little ahead, the first
//! whose due time leaves room for the seek; seeks to it paused just before (the seek's time is
//! measured as the show runs, [`SeekTimer`]); and unpauses it exactly when it is due, so that
//! every frame from the next one on is on screen at its due time. The frames in between,
//! already late, are never shown: a Start delivered 30 ms late starts at the frame due now.
//!
//! A message on time (due now or within [`ON_TIME`] ago), with the frame it plays from already
//! on screen, simply unpauses, or unpauses when it is due if it is stamped ahead.
//!
//! [`plan`] says what to do; [`TimedStart`] carries a plan out step by step as time passes and
//! the deck reports where its seek landed, and says when the start's frames are the plan's
//! ([`StartPlan::showing`]: deck d shows frame k at t). The program does what it says to mpv;
//! the replay tests drive it with recorded DAW streams and a simulated deck.

use crate::time::Stamp;
use std::time::Duration;

/// A start no later than this behind its due time unpauses at once: a seek would cost more.
pub const ON_TIME: Duration = Duration::from_millis(2);

/// What a seek is taken to cost before one has been measured.
pub const FIRST_SEEK_GUESS: Duration = Duration::from_millis(20);
/// Added to the slowest recent seek: the frame must be drawn before it is due.
pub const SEEK_MARGIN: Duration = Duration::from_millis(4);
/// How many recent seeks the estimate keeps.
const SEEKS_KEPT: usize = 8;
/// A measured seek longer than this is not kept (a load, or a machine stalled). A file with a
/// keyframe every 10 s takes up to a second here, and a start must plan with that.
const SEEK_KEPT_MAX: Duration = Duration::from_millis(2500);
/// How many times a start whose seek landed after its moment is planned again (each time with
/// the seek time just measured) before it plays late rather than not at all.
pub const REPLANS_AT_MOST: u8 = 2;
/// The longest a timed start waits for its seek to land before it plays anyway.
pub const LANDING_GIVEN_UP: Duration = Duration::from_millis(2500);
/// The frame duration taken when a video does not say (or says nonsense).
const FALLBACK_FRAME_S: f64 = 1.0 / 25.0;

/// What a deck does to show the video at `position_s` at `at`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StartPlan {
    /// Seek, paused, to this video time at this moment (none: the frame on screen is it).
    pub seek: Option<(Stamp, f64)>,
    /// Unpause at this moment (now, or later).
    pub unpause_at: Stamp,
    /// The frame unpaused on (video seconds): the next one comes a frame later.
    pub from_s: f64,
    /// When the frame after it is due on the DAW's time (the first frame mpv times itself).
    pub next_due: Stamp,
    /// The video's frame duration the plan counts in (seconds).
    pub frame_s: f64,
    /// The DAW's moment for video time `position_s`.
    at: Stamp,
    position_s: f64,
}

/// "This deck shows frame `frame` (counted from 0 at video time 0) at `at`."
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Showing {
    pub frame: u64,
    pub at: Stamp,
}

impl StartPlan {
    /// When video time `video_s` is due on the DAW's time.
    pub fn due(&self, video_s: f64) -> Stamp {
        self.at.plus_secs(video_s - self.position_s)
    }

    /// The frame the plan starts on, as an index.
    pub fn first_frame(&self) -> u64 {
        frame_index(self.from_s, self.frame_s)
    }

    /// Which frame the deck shows at `t` on this plan, and since when: from the unpause the
    /// frame it starts on, then each frame from its due time on. Before the unpause, none of
    /// the plan's (the picture from before, or the frame it starts on held back from view
    /// until then).
    pub fn showing(&self, t: Stamp) -> Option<Showing> {
        if t < self.unpause_at {
            return None;
        }
        let first = self.first_frame();
        if t < self.next_due {
            return Some(Showing {
                frame: first,
                at: self.unpause_at,
            });
        }
        // Frames after the first, by their due times (a microsecond's tolerance: due times
        // are whole microseconds).
        let since = t.secs_since(self.due(self.from_s)) + 1e-6;
        let k = first + (since / self.frame_s).floor().max(1.0) as u64;
        Some(Showing {
            frame: k,
            at: self.due(k as f64 * self.frame_s),
        })
    }
}

/// The index of the frame at video time `video_s` (a hair's tolerance for floating point).
pub fn frame_index(video_s: f64, frame_s: f64) -> u64 {
    ((video_s / frame_s) + 1e-6).floor().max(0.0) as u64
}

/// A usable frame duration: `frame_s` when it is one, else 25 fps.
pub fn frame_or_default(frame_s: f64) -> f64 {
    if frame_s.is_finite() && frame_s > 0.001 {
        frame_s
    } else {
        FALLBACK_FRAME_S
    }
}

/// Plans the start of playback so that video time `position_s` is due at `at` and the video
/// runs at normal speed from there. `cued_s` is the frame paused on screen, when known;
/// `frame_s` the video's frame duration; `lead` how long a seek takes to show its frame.
pub fn plan(
    position_s: f64,
    at: Stamp,
    now: Stamp,
    cued_s: Option<f64>,
    frame_s: f64,
    lead: Duration,
) -> StartPlan {
    let frame_s = frame_or_default(frame_s);
    let due = |p: f64| at.plus_secs(p - position_s);
    let made = |seek, unpause_at, from_s: f64| StartPlan {
        seek,
        unpause_at,
        from_s,
        next_due: due(from_s + frame_s),
        frame_s,
        at,
        position_s,
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
            return made(None, due_c.max(now), shown);
        }
    }
    // The video time due once a seek started now would have landed.
    let landed_s = position_s + (now + lead).secs_since(at);
    // The first frame due then or after (a hair's tolerance for frame times in floating point).
    let k = ((landed_s / frame_s) - 1e-6).ceil().max(0.0);
    let from_s = k * frame_s;
    let unpause_at = due(from_s).max(now);
    let seek_at = (unpause_at - lead).max(now);
    // mpv shows the first frame at or after the seek's target: aim a quarter frame early.
    let target_s = (from_s - frame_s / 4.0).max(0.0);
    made(Some((seek_at, target_s)), unpause_at, from_s)
}

/// What a timed start wants done now (see [`TimedStart::step`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StartStep {
    /// Nothing before this moment.
    WaitUntil(Stamp),
    /// Seek, paused, to `target_s` now: the frame at `from_s` lands, and the screens hold it
    /// until `hold_until` (it is due then). Then step again.
    Seek {
        target_s: f64,
        from_s: f64,
        hold_until: Stamp,
    },
    /// Its moment has come and its seek has not landed: it waits, paused, and steps again
    /// when the deck says the seek landed (or soon, to look).
    AwaitLanding,
    /// Its seek landed `late` after its moment (its frame was kept off the screen), having
    /// taken `took`: plan the start again, seeking further ahead with that measured time
    /// ([`TimedStart::replanned`]).
    PlanAgain { took: Duration, late: Duration },
    /// Unpause now. `on_plan`: the frame unpaused on is the plan's, on screen, and the frames
    /// after it are due from [`StartPlan::next_due`] on (the screens time them so); false when
    /// its seek never landed or it unpauses a frame or more after its moment. `took`: how long
    /// its seek took, to be remembered ([`SeekTimer::measured`]); `gave_up`: it waited
    /// [`LANDING_GIVEN_UP`] for the seek.
    Unpause {
        on_plan: bool,
        took: Option<Duration>,
        gave_up: bool,
    },
}

/// A start on its way from its plan to its unpause.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedStart {
    pub plan: StartPlan,
    /// The video time due at `due` (the cue's).
    pub position_s: f64,
    /// When the cue was due.
    pub due: Stamp,
    /// When its seek was sent.
    pub sought_at: Option<Stamp>,
    /// How many times it was planned again.
    pub replanned: u8,
}

impl TimedStart {
    /// A start of video time `position_s` due at `due`, planned at `now` (see [`plan`]).
    pub fn new(
        position_s: f64,
        due: Stamp,
        now: Stamp,
        cued_s: Option<f64>,
        frame_s: f64,
        lead: Duration,
    ) -> TimedStart {
        TimedStart {
            plan: plan(position_s, due, now, cued_s, frame_s, lead),
            position_s,
            due,
            sought_at: None,
            replanned: 0,
        }
    }

    /// The same start planned again at `now` after [`StartStep::PlanAgain`], from nowhere
    /// known (the frame on screen is not the one to start from), with the seek time `lead`.
    pub fn replanned(&self, now: Stamp, lead: Duration) -> TimedStart {
        let mut again = TimedStart::new(
            self.position_s,
            self.due,
            now,
            None,
            self.plan.frame_s,
            lead,
        );
        again.replanned = self.replanned + 1;
        again
    }

    /// The next step at `now`. `landed`: when the deck showed the frame its seek went to (a
    /// screen took it), if it has.
    pub fn step(&mut self, now: Stamp, landed: Option<Stamp>) -> StartStep {
        if let Some((seek_at, target_s)) = self.plan.seek {
            if now < seek_at {
                return StartStep::WaitUntil(seek_at);
            }
            self.plan.seek = None;
            self.sought_at = Some(now);
            return StartStep::Seek {
                target_s,
                from_s: self.plan.from_s,
                hold_until: self.plan.unpause_at,
            };
        }
        if now < self.plan.unpause_at {
            return StartStep::WaitUntil(self.plan.unpause_at);
        }
        let mut on_plan = true;
        let mut took = None;
        let mut gave_up = false;
        if let Some(sent) = self.sought_at {
            match landed {
                Some(landed) => {
                    let t = micros(landed.micros_since(sent));
                    if landed > self.plan.unpause_at && self.replanned < REPLANS_AT_MOST {
                        return StartStep::PlanAgain {
                            took: t,
                            late: micros(landed.micros_since(self.plan.unpause_at)),
                        };
                    }
                    took = Some(t);
                }
                None if micros(now.micros_since(sent)) < LANDING_GIVEN_UP => {
                    return StartStep::AwaitLanding;
                }
                None => {
                    on_plan = false;
                    gave_up = true;
                }
            }
        }
        // Unpaused a frame or more after its moment (its seek landed late and was not planned
        // again): the plan's next frame is past, and frames shown on it would come in a rush.
        let frame = Duration::from_secs_f64(self.plan.frame_s.clamp(0.002, 1.0));
        if now > self.plan.unpause_at + frame {
            on_plan = false;
        }
        StartStep::Unpause {
            on_plan,
            took,
            gave_up,
        }
    }
}

/// A non-negative number of microseconds as a duration.
fn micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

/// How far back a deck stopped after its Stop's time must go: mpv's last frame handed over was
/// due at `last_due`, at video time `position_s`; the Stop was meant at `stop_at`. Returns the
/// number of frames that came due after the Stop and the video time of the frame due at it,
/// or none when no frame came due after it.
pub fn back_to_stop(
    stop_at: Stamp,
    last_due: Stamp,
    position_s: f64,
    frame_s: f64,
) -> Option<(u64, f64)> {
    if last_due <= stop_at {
        return None;
    }
    let frame_s = frame_or_default(frame_s);
    let frames_back = (last_due.secs_since(stop_at) / frame_s - 1e-6)
        .ceil()
        .max(1.0);
    Some((
        frames_back as u64,
        (position_s - frames_back * frame_s).max(0.0),
    ))
}

/// How long one deck's seeks take to show their frame, measured from the command to mpv's
/// playback restart (or to a screen taking the frame, for a timed start's).
#[derive(Clone, Debug, Default)]
pub struct SeekTimer {
    sent: Option<Stamp>,
    recent: Vec<Duration>,
}

impl SeekTimer {
    /// A seek was sent at `at`.
    pub fn sent(&mut self, at: Stamp) {
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
    pub fn restarted(&mut self, at: Stamp) -> Option<Duration> {
        let sent = self.sent.take()?;
        let took = micros(at.micros_since(sent));
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

    /// A moment `n` ms from the origin, 10 s in (so that moments before "now" exist).
    fn t(n: i64) -> Stamp {
        Stamp::from_micros(10_000_000 + n * 1000)
    }

    /// `a` and `b` agree to a microsecond (frame times go through floating point).
    fn same(a: Stamp, b: Stamp) -> bool {
        a.micros_since(b).abs() <= 1
    }

    #[test]
    fn on_time_from_the_cued_frame_unpauses_at_once() {
        let now = t(0);
        let p = plan(0.0, t(-1), now, Some(0.0), FRAME, ms(10));
        assert_eq!(p.seek, None);
        assert_eq!(p.unpause_at, now);
    }

    #[test]
    fn stamped_ahead_unpauses_when_due() {
        let p = plan(0.0, t(25), t(0), Some(0.0), FRAME, ms(10));
        assert_eq!(p.seek, None);
        assert_eq!(p.unpause_at, t(25));
    }

    #[test]
    fn a_deck_cued_between_frames_unpauses_when_the_frame_it_shows_is_due() {
        // Located to 5.03 s (the DAW's position plus an offset): the frame on screen is the
        // one at 5.04 s, due 10 ms after the DAW means 5.03 s.
        let p = plan(5.03, t(20), t(0), Some(5.03), FRAME, ms(10));
        assert_eq!(p.seek, None);
        assert!((p.from_s - 5.04).abs() < 1e-9);
        assert!(same(p.unpause_at, t(30)));
        // On a frame (floating point aside): that frame.
        let p = plan(0.12, t(20), t(0), Some(0.12000000001), FRAME, ms(10));
        assert!((p.from_s - 0.12).abs() < 1e-9);
        assert!(same(p.unpause_at, t(20)));
    }

    #[test]
    fn late_starts_on_the_first_frame_the_seek_can_reach() {
        // 30 ms late with a 10 ms seek: 40 ms of video are due when it lands: frame 1 (0.04 s),
        // due exactly then; seek at once, unpause when it is due.
        let p = plan(0.0, t(-30), t(0), Some(0.0), FRAME, ms(10));
        assert_eq!(p.from_s, 0.04);
        assert!(same(p.unpause_at, t(10)));
        let (seek_at, target) = p.seek.expect("a seek");
        assert!(same(seek_at, t(0)));
        assert!((target - 0.03).abs() < 1e-9);
        // 12 ms late: frame 1 is due 28 ms from now; the seek starts 10 ms before that.
        let p = plan(0.0, t(-12), t(0), Some(0.0), FRAME, ms(10));
        assert_eq!(p.from_s, 0.04);
        assert!(same(p.unpause_at, t(28)));
        assert!(same(p.seek.unwrap().0, t(18)));
    }

    #[test]
    fn a_locate_while_playing_lands_where_the_daw_will_be() {
        // The DAW was at 10 s 5 ms ago; a seek takes 30 ms: it lands at 10.035 s; the first
        // frame from there is 10.04 s, due 5 ms after landing.
        let p = plan(10.0, t(-5), t(0), None, FRAME, ms(30));
        assert!((p.from_s - 10.04).abs() < 1e-9);
        assert!(same(p.unpause_at, t(35)));
        assert!(same(p.seek.unwrap().0, t(5)));
    }

    #[test]
    fn never_before_the_top_and_nonsense_frame_times_fall_back() {
        let p = plan(-1.0, t(0), t(0), None, f64::NAN, ms(10));
        assert!(p.from_s >= 0.0);
        assert_eq!(p.frame_s, FALLBACK_FRAME_S);
        let (_, target) = p.seek.unwrap();
        assert!(target >= 0.0);
    }

    #[test]
    fn the_plan_says_which_frame_shows_when() {
        // The DAW meant video time 2.0 s at t(0); the start is 30 ms late with a 10 ms seek:
        // frame 51 (2.04 s) shows from t(40), due then, and every frame after it on its due
        // time: frame 50 + n at t(40 * n).
        let p = plan(2.0, t(0), t(30), Some(2.0), FRAME, ms(10));
        assert_eq!(p.first_frame(), 51);
        // Before the unpause the plan shows nothing of its own (the sought frame is held back).
        assert_eq!(p.showing(t(39)), None);
        assert_eq!(
            p.showing(t(40)),
            Some(Showing {
                frame: 51,
                at: t(40)
            })
        );
        assert_eq!(p.showing(t(79)).unwrap().frame, 51);
        assert_eq!(
            p.showing(t(80)),
            Some(Showing {
                frame: 52,
                at: t(80)
            })
        );
        assert_eq!(
            p.showing(t(1000)),
            Some(Showing {
                frame: 75,
                at: t(1000)
            })
        );
        assert_eq!(p.showing(t(999)).unwrap().frame, 74);
        // At 29.97 fps the due times are whole microseconds, the frames still the right ones.
        let f = 1001.0 / 30000.0;
        let p = plan(0.0, t(0), t(0), Some(0.0), f, ms(10));
        for k in 1..2000u64 {
            let due = p.due(k as f64 * f);
            assert_eq!(p.showing(due).unwrap().frame, k, "frame {k}");
            assert_eq!(
                p.showing(due - Duration::from_micros(2)).unwrap().frame,
                k - 1
            );
        }
    }

    #[test]
    fn a_timed_start_seeks_holds_and_unpauses_on_its_moment() {
        let mut s = TimedStart::new(0.0, t(-30), t(0), Some(0.0), FRAME, ms(10));
        // Seek at once, the frame at 0.04 s held until due at t(10).
        assert_eq!(
            s.step(t(0), None),
            StartStep::Seek {
                target_s: 0.03,
                from_s: 0.04,
                hold_until: s.plan.unpause_at
            }
        );
        assert_eq!(s.step(t(1), None), StartStep::WaitUntil(s.plan.unpause_at));
        // Its moment, the seek not landed: it waits, paused.
        assert_eq!(s.step(t(10), None), StartStep::AwaitLanding);
        // Landed on time (before its moment, reported now): unpause on the plan.
        assert_eq!(
            s.step(t(10), Some(t(8))),
            StartStep::Unpause {
                on_plan: true,
                took: Some(ms(8)),
                gave_up: false
            }
        );
    }

    #[test]
    fn a_seek_that_lands_late_is_planned_again_then_played_late_rather_than_never() {
        let mut s = TimedStart::new(0.0, t(-30), t(0), Some(0.0), FRAME, ms(10));
        assert!(matches!(s.step(t(0), None), StartStep::Seek { .. }));
        // The frame came 25 ms after its moment: plan again with the 35 ms it took.
        assert_eq!(
            s.step(t(35), Some(t(35))),
            StartStep::PlanAgain {
                took: ms(35),
                late: ms(25)
            }
        );
        let mut again = s.replanned(t(35), ms(39));
        assert_eq!(again.replanned, 1);
        // From t(35), 65 ms late, with a 39 ms seek: frame 3 (0.12 s), due at t(90).
        assert_eq!(again.plan.from_s, 0.12);
        assert!(same(again.plan.unpause_at, t(90)));
        assert!(matches!(again.step(t(51), None), StartStep::Seek { .. }));
        // Late again, twice: the third time it plays (off the plan: over a frame late).
        let mut third = again.replanned(t(140), ms(60));
        assert_eq!(third.replanned, REPLANS_AT_MOST);
        let unpause_at = third.plan.unpause_at;
        assert!(matches!(
            third.step(unpause_at, None),
            StartStep::Seek { .. }
        ));
        let late = unpause_at + ms(50);
        assert_eq!(
            third.step(late, Some(late)),
            StartStep::Unpause {
                on_plan: false,
                took: Some(ms(50)),
                gave_up: false
            }
        );
    }

    #[test]
    fn a_seek_that_never_lands_is_given_up_on() {
        let mut s = TimedStart::new(3.0, t(0), t(0), None, FRAME, ms(10));
        // 3.01 s is due once a seek lands: the frame at 3.04 s, due at t(40), sought at t(30).
        assert_eq!(s.step(t(0), None), StartStep::WaitUntil(t(30)));
        assert!(matches!(s.step(t(30), None), StartStep::Seek { .. }));
        let sent = s.sought_at.unwrap();
        assert_eq!(s.step(sent + ms(2000), None), StartStep::AwaitLanding);
        assert_eq!(
            s.step(sent + LANDING_GIVEN_UP, None),
            StartStep::Unpause {
                on_plan: false,
                took: None,
                gave_up: true
            }
        );
    }

    #[test]
    fn a_stop_goes_back_as_many_frames_as_came_due_after_it() {
        // The last frame handed over (at 4.12 s) was due 50 ms after the Stop: two frames
        // (4.08 s and 4.12 s) came due after it; the Stop's frame is 4.04 s.
        let (n, s) = back_to_stop(t(0), t(50), 4.12, FRAME).unwrap();
        assert_eq!(n, 2);
        assert!((s - 4.04).abs() < 1e-9);
        // Due exactly at the Stop: it stays.
        assert_eq!(back_to_stop(t(0), t(0), 4.12, FRAME), None);
        assert_eq!(back_to_stop(t(0), t(1), 0.0, FRAME), Some((1, 0.0)));
    }

    #[test]
    fn the_seek_estimate_is_the_slowest_recent_seek() {
        let mut s = SeekTimer::default();
        assert_eq!(s.lead(), FIRST_SEEK_GUESS);
        let start = t(0);
        for took in [8, 12, 9] {
            s.sent(start);
            s.restarted(start + ms(took));
        }
        assert_eq!(s.lead(), ms(12) + SEEK_MARGIN);
        // A restart with no seek sent (a load) and a stall are not kept.
        s.restarted(start + ms(100));
        s.sent(start);
        s.restarted(start + ms(3000));
        assert_eq!(s.lead(), ms(12) + SEEK_MARGIN);
        // A slow seek (a keyframe 10 s before the target) is planned with.
        s.sent(start);
        s.restarted(start + ms(900));
        assert_eq!(s.lead(), ms(900) + ms(900) / 8);
        for _ in 0..SEEKS_KEPT {
            s.sent(start);
            s.restarted(start + ms(7));
        }
        // Forgotten once eight faster ones came after it.
        assert_eq!(s.lead(), ms(7) + SEEK_MARGIN);
    }
}
