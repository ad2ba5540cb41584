//! The screens' side of the stage: what every output shows, kept from the player's cues.
//!
//! The player sends its cues ([`StageCue`]) and goes on; every screen thread (the window's
//! render thread, the outputs' threads, a headless run's software screens, the remote's
//! thumbnails) reads the one [`Stage`], which takes in the cues waiting before it answers, so
//! a Stop's fence cued a moment ago already decides whether the frame about to be presented
//! may be. What the screens measure goes back on the player's board
//! ([`crate::messages::stage::Reports`]).

use super::retime::Retimes;
use crate::messages::stage::{DeckViews, Reports, StageCue, StageCues};
use crate::mpv::render::FrameInfo;
use crossbeam_channel::Receiver;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The frame a screen has drawn, as [`Stage::admit`] is asked about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drawn {
    /// A new frame mpv handed over, due at `due` (`None`: the frame a seek landed on, which
    /// mpv gives no due time), drawn at `drawn`.
    New {
        due: Option<Instant>,
        drawn: Instant,
    },
    /// The same frame again (an overlay changed, the window was resized).
    Redraw,
}

/// A new frame due this soon after it is drawn, or sooner, may be a seek's: mpv gives the
/// frame a seek lands on no due time, or (now and then, paused) one of about the moment it
/// hands it over, while a frame of normal playback is handed over further ahead (by the
/// drawing and presenting costs and a margin).
pub const SEEK_FRAME_DUE: Duration = Duration::from_millis(2);

impl Drawn {
    /// A new frame that may be a seek's (see [`SEEK_FRAME_DUE`]).
    pub fn may_be_sought(&self) -> bool {
        match *self {
            Drawn::New { due, drawn } => due.is_none_or(|d| d <= drawn + SEEK_FRAME_DUE),
            Drawn::Redraw => false,
        }
    }
}

/// A new stage: the player's side and the screens'.
pub fn channel() -> (StageCues, Stage) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let reports = Arc::new(Reports::default());
    let stage = Stage {
        inner: Arc::new(Mutex::new(Inner {
            rx,
            deck: 0,
            holds: Vec::new(),
            late: Vec::new(),
            fences: Vec::new(),
            views: Vec::new(),
            views_changed: 0,
            delays: None,
            retimes: Retimes::default(),
        })),
        reports: reports.clone(),
    };
    (StageCues::new(tx, reports), stage)
}

/// What the screens show, as cued: cheap to clone, one for every screen thread.
#[derive(Clone, Debug)]
pub struct Stage {
    inner: Arc<Mutex<Inner>>,
    reports: Arc<Reports>,
}

#[derive(Debug)]
struct Inner {
    rx: Receiver<StageCue>,
    deck: usize,
    /// (deck, not to be presented before, the hold's id).
    holds: Vec<(usize, Instant, u64)>,
    /// Decks whose held frame came after its moment: it is not presented (late), and the
    /// player plans the start again.
    late: Vec<usize>,
    fences: Vec<Fence>,
    views: Vec<(usize, DeckViews)>,
    views_changed: usize,
    delays: Option<Vec<Duration>>,
    retimes: Retimes,
}

/// A stopped deck's fence.
#[derive(Clone, Copy, Debug)]
struct Fence {
    deck: usize,
    /// The Stop's time.
    at: Instant,
    /// A frame due after it was kept off the screen: mpv is on it.
    passed: bool,
    /// The player sought back to the Stop's frame: the next new frame is that one.
    sought_back: bool,
    /// The player sent the stopped deck elsewhere at this time: a frame drawn since is the
    /// seek's, whatever its due time.
    relocated: Option<Instant>,
    /// The player has looked whether mpv went past the Stop's frame (and sought back if so).
    settled: bool,
}

impl Inner {
    /// Takes in the cues the player sent since.
    fn catch_up(&mut self) {
        while let Ok(cue) = self.rx.try_recv() {
            self.apply(cue);
        }
    }

    fn apply(&mut self, cue: StageCue) {
        match cue {
            StageCue::Show { deck } => self.deck = deck,
            StageCue::Hold { deck, until, id } => {
                self.holds.retain(|(d, ..)| *d != deck);
                // A late mark stays: the frame it is for may still be on its way to `admit`
                // (drawn, not yet presented) when the player plans again.
                self.holds.extend(until.map(|t| (deck, t, id)));
            }
            StageCue::Run {
                deck,
                run,
                next_due,
                frame,
            } => self.retimes.expect(deck, run, next_due, frame),
            StageCue::ForgetRun { deck } => self.retimes.forget(deck),
            StageCue::Fence { deck, at } => {
                self.fences.retain(|f| f.deck != deck);
                self.fences.push(Fence {
                    deck,
                    at,
                    passed: false,
                    sought_back: false,
                    relocated: None,
                    settled: false,
                });
            }
            StageCue::Settle { deck, sought_back } => {
                if let Some(f) = self.fences.iter_mut().find(|f| f.deck == deck) {
                    f.settled = true;
                    f.sought_back = sought_back;
                    if !sought_back {
                        f.passed = false;
                    }
                }
            }
            StageCue::Relocate { deck, at } => {
                if let Some(f) = self.fences.iter_mut().find(|f| f.deck == deck) {
                    f.settled = true;
                    f.sought_back = false;
                    f.relocated = Some(at);
                }
            }
            StageCue::Unfence => self.fences.clear(),
            StageCue::Views { deck, views } => {
                self.views.retain(|(d, _)| *d != deck);
                self.views.extend(views.map(|v| (deck, v)));
                self.views_changed += 1;
            }
            StageCue::Delays(delays) => self.delays = Some(delays),
        }
    }
}

impl Stage {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.catch_up();
        inner
    }

    /// The index of the deck on screen.
    pub fn deck(&self) -> usize {
        self.lock().deck
    }

    /// The frame mpv describes with `info` for deck `deck` (whose mpv core has begun `run`
    /// runs, [`crate::mpv::Mpv::runs`]), asked at `now` (`now_us` on mpv's clock), with its due
    /// time on the start's plan rather than on the moment mpv carried out the unpause: see
    /// [`super::retime`]. Every screen asks this of every frame before timing it; the run's
    /// first frame's measure goes to the player.
    pub fn retime(
        &self,
        deck: usize,
        run: u64,
        info: FrameInfo,
        now_us: i64,
        now: Instant,
    ) -> FrameInfo {
        let mut inner = self.lock();
        let pending = inner.retimes.pending_run(deck);
        let info = inner.retimes.retime(deck, run, info, now_us, now);
        if let Some(r) = pending.filter(|r| inner.retimes.pending_run(deck) != Some(*r)) {
            self.reports
                .shift(deck, r, inner.retimes.measured_us(deck, r));
        }
        info
    }

    /// How much later than the plan mpv times deck `deck`'s frames in its run `run` (`None`
    /// while a timed start's first frame has yet to say).
    pub fn shift(&self, deck: usize, run: u64) -> Option<Duration> {
        let us = self
            .lock()
            .retimes
            .shift_us(deck, run, crate::clock::now())?;
        Some(Duration::from_micros(us.max(0).unsigned_abs()))
    }

    /// What the outputs show of deck `deck`'s picture (`None`: all of it on each).
    pub fn views(&self, deck: usize) -> Option<DeckViews> {
        self.lock()
            .views
            .iter()
            .find(|(d, _)| *d == deck)
            .map(|(_, v)| v.clone())
    }

    /// How many times the views changed: a screen that saw another count draws again.
    pub fn views_version(&self) -> usize {
        self.lock().views_changed
    }

    /// The outputs' delays behind the slowest screen, as set live (`None`: as at start).
    pub fn output_delays(&self) -> Option<Vec<Duration>> {
        self.lock().delays.clone()
    }

    /// Output `output` is presenting a frame since `since` (`None`: done).
    pub fn presenting(&self, output: usize, since: Option<Instant>) {
        self.reports.presenting(output, since);
    }

    /// Until when deck `deck`'s frame (a seek's, just drawn at `now`) is to be held back, if
    /// it is; the hold is used up, and its landing reported. A hold whose moment has passed
    /// gives none, and the frame is then not admitted ([`Stage::admit`]): shown now, it would
    /// be late.
    pub fn take_hold(&self, deck: usize, now: Instant) -> Option<Instant> {
        let mut inner = self.lock();
        let i = inner.holds.iter().position(|(d, ..)| *d == deck)?;
        let (_, until, id) = inner.holds.swap_remove(i);
        self.reports.landed(deck, id, now);
        if until <= now {
            inner.late.push(deck);
            return None;
        }
        Some(until)
    }

    /// A Stop whose frame may still change: not yet looked at by the player, or its seek back
    /// not landed. What is on screen then is not yet what the Stop holds.
    pub fn stop_settling(&self) -> bool {
        self.lock()
            .fences
            .iter()
            .any(|f| !f.settled || f.sought_back)
    }

    /// Asked by a screen for each frame of deck `deck` it has drawn, when it is about to
    /// present it (after waiting for its due time, in which the Stop may have come): whether
    /// to present it.
    /// Not a new frame due after the deck's Stop, nor (once one was kept back) a redraw, which
    /// would show that frame: the screen keeps the frame it has until the player's seek back
    /// to the Stop's frame lands.
    pub fn admit(&self, deck: usize, drawn: Drawn) -> bool {
        let mut inner = self.lock();
        if let Drawn::New { due, .. } = drawn {
            if let Some(i) = inner.late.iter().position(|d| *d == deck) {
                // A timed start's frame that came after its moment: kept off the screen.
                inner.late.swap_remove(i);
                return false;
            }
            self.reports.due(deck, due);
        }
        let Some(fence) = inner.fences.iter_mut().find(|f| f.deck == deck) else {
            return true;
        };
        let sought = drawn.may_be_sought();
        match drawn {
            Drawn::New { drawn, .. }
                if fence.sought_back || (sought && fence.relocated.is_some_and(|r| drawn >= r)) =>
            {
                fence.sought_back = false;
                fence.relocated = None;
                fence.passed = false;
                true
            }
            Drawn::New { due: Some(due), .. } if due > fence.at => {
                fence.passed = true;
                false
            }
            Drawn::New { due: Some(_), .. } => true,
            Drawn::New { due: None, .. } => {
                fence.passed = false;
                true
            }
            Drawn::Redraw => !fence.passed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{channel, Drawn};
    use std::time::{Duration, Instant};

    #[test]
    fn a_stopped_deck_shows_no_frame_due_after_its_stop() {
        let (mut cues, s) = channel();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let new = |due: u64| Drawn::New {
            due: Some(ms(due)),
            drawn: t0,
        };
        assert!(s.admit(0, new(40)), "no Stop: every frame");
        cues.fence(0, ms(60));
        assert!(s.admit(0, new(50)), "due before the Stop");
        assert!(s.admit(1, new(90)), "another deck");
        assert!(s.admit(0, Drawn::Redraw), "a redraw of the Stop's frame");
        assert!(!s.admit(0, new(90)), "due after the Stop");
        assert!(!s.admit(0, Drawn::Redraw), "a redraw would show that frame");
        assert_eq!(cues.last_due(0), Some(ms(90)), "reported to the player");
        assert_eq!(cues.fenced_at(0), Some(ms(60)));
        assert!(s.stop_settling(), "not looked at yet");
        cues.settle(0, true);
        assert!(s.stop_settling(), "the seek back has not landed");
        assert!(!s.admit(0, Drawn::Redraw), "not before the seek back lands");
        assert!(
            s.admit(0, new(95)),
            "the frame of the seek back, whatever its due time"
        );
        assert!(s.admit(0, Drawn::Redraw), "and its redraws");
        assert!(!s.stop_settling(), "landed");
        assert!(!s.admit(0, new(100)), "still stopped");
        let sought = Drawn::New {
            due: None,
            drawn: t0,
        };
        assert!(s.admit(0, sought), "a seek's frame");
        assert!(s.admit(0, Drawn::Redraw), "and its redraws");
        assert_eq!(cues.last_due(0), None);
        // Sent elsewhere while stopped: the frame kept back stays off until the seek lands.
        cues.fence(2, ms(300));
        assert!(!s.admit(2, new(305)), "due after the Stop");
        cues.relocate(2, ms(301));
        assert!(!s.stop_settling(), "nothing to seek back to");
        assert!(!s.admit(2, Drawn::Redraw), "the frame kept back, redrawn");
        let before = Drawn::New {
            due: Some(ms(345)),
            drawn: ms(300),
        };
        assert!(
            !s.admit(2, before),
            "the next one mpv had drawn before the locate"
        );
        let ahead = Drawn::New {
            due: Some(ms(360)),
            drawn: ms(320),
        };
        assert!(
            !s.admit(2, ahead),
            "a frame of playback handed over after the locate was sent (before the pause)"
        );
        let landed = Drawn::New {
            due: Some(ms(331)),
            drawn: ms(330),
        };
        assert!(
            s.admit(2, landed),
            "the locate's frame, due about when it came"
        );
        assert!(s.admit(2, Drawn::Redraw), "and its redraws");
        cues.fence(1, ms(200));
        assert!(!s.admit(1, new(210)));
        cues.settle(1, false);
        assert!(
            s.admit(1, Drawn::Redraw),
            "nothing to seek back to: redraws as before"
        );
        cues.unfence();
        assert_eq!(cues.fenced_at(0), None);
        assert!(s.admit(0, new(130)), "playing again");
    }

    #[test]
    fn a_held_frame_that_comes_after_its_moment_is_kept_off_the_screen() {
        let (mut cues, s) = channel();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let sought = |at: u64| Drawn::New {
            due: None,
            drawn: ms(at),
        };
        cues.hold(0, Some(ms(100)));
        assert_eq!(s.take_hold(0, ms(50)), Some(ms(100)), "on time: held");
        assert_eq!(cues.landed(0), Some(ms(50)), "reported to the player");
        assert!(s.admit(0, sought(50)));
        cues.hold(0, Some(ms(200)));
        assert_eq!(cues.landed(0), None, "a new hold: not landed yet");
        assert_eq!(s.take_hold(0, ms(230)), None, "after its moment");
        assert_eq!(cues.landed(0), Some(ms(230)));
        // The player plans again before the screen got to present that frame.
        cues.hold(0, Some(ms(400)));
        assert_eq!(cues.landed(0), None, "the landing was the hold before's");
        assert!(
            !s.admit(0, sought(230)),
            "the late frame stays off the screen"
        );
        assert_eq!(s.take_hold(0, ms(300)), Some(ms(400)));
        assert!(s.admit(0, sought(300)), "the new seek's frame, on time");
        assert!(s.admit(1, sought(300)), "another deck is not held");
        cues.hold(0, None);
        assert_eq!(s.take_hold(0, ms(500)), None, "lifted");
        assert_eq!(cues.landed(0), None);
    }

    #[test]
    fn the_deck_on_screen_and_the_views_follow_the_cues_in_order() {
        let (mut cues, s) = channel();
        assert_eq!(s.deck(), 0);
        let version = s.views_version();
        cues.show(2);
        let views = crate::messages::stage::DeckViews {
            size: (3840, 1080),
            views: Vec::new(),
        };
        cues.set_views(2, Some(views.clone()));
        assert_eq!((s.deck(), cues.shown()), (2, 2));
        assert_eq!(s.views(2), Some(views));
        assert_ne!(s.views_version(), version, "the screens draw again");
        cues.set_output_delays(vec![Duration::from_millis(20), Duration::ZERO]);
        assert_eq!(
            s.output_delays(),
            Some(vec![Duration::from_millis(20), Duration::ZERO])
        );
        s.presenting(1, Some(Instant::now() - Duration::from_secs(2)));
        assert!(cues.output_held(1, Duration::from_secs(1)));
        assert!(!cues.output_held(0, Duration::from_secs(1)));
    }

    #[test]
    fn a_runs_measure_reaches_the_player() {
        let (mut cues, s) = channel();
        let now = Instant::now();
        let now_us = 1_000_000_000;
        let frame = |target_time: i64| crate::mpv::render::FrameInfo {
            present: true,
            redraw: false,
            repeat: false,
            target_time,
        };
        cues.expect_run(
            0,
            7,
            now + Duration::from_millis(40),
            Duration::from_millis(40),
        );
        assert_eq!(cues.shift(0, 7, now), None, "not known before the frame");
        assert_eq!(
            cues.shift(0, 7, now + Duration::from_millis(600)),
            Some(Duration::ZERO),
            "no screen said in time"
        );
        let first = s.retime(0, 7, frame(now_us + 52_000), now_us, now);
        assert_eq!(first.target_time, now_us + 40_000);
        assert_eq!(cues.shift(0, 7, now), Some(Duration::from_millis(12)));
        assert_eq!(s.shift(0, 7), Some(Duration::from_millis(12)));
        assert_eq!(cues.shift(0, 8, now), Some(Duration::ZERO), "another run");
        // A run left on mpv's times (a first frame most of a frame late) says so at once.
        cues.expect_run(
            1,
            3,
            now + Duration::from_millis(40),
            Duration::from_millis(40),
        );
        s.retime(1, 3, frame(now_us + 78_000), now_us, now);
        assert_eq!(cues.shift(1, 3, now), Some(Duration::ZERO));
    }
}
