//! What the player tells the screens, and what the screens tell it back.
//!
//! The player decides what every output shows; the screens (one window, several outputs, or
//! the software screens of a headless run) carry it out. Between them go cues, in order, over
//! a channel ([`StageCue`]): which deck is on screen, the frame a timed start sought and when
//! it is due ("deck d shows its sought frame at t, not before"), when the next run's first
//! frame is due on the plan, a Stop's fence, what each output shows of a picture, each
//! output's delay. The screens keep their own state from those cues ([`crate::screen::stage`]),
//! read it on every frame, and report back on a board the player reads ([`Reports`]): when a
//! held frame reached a screen, the due time of the last new frame, how late mpv timed a
//! run against its plan, and which output's present is waiting. Nothing else is shared.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What the outputs show of one deck's picture: its size as decoded (the song's files stacked
/// side by side), and each output's rectangle of it and edge blend, in the show's output
/// order. A deck with none set (idle content) is shown whole on every output.
#[derive(Clone, Debug, PartialEq)]
pub struct DeckViews {
    pub size: (u32, u32),
    pub views: Vec<crate::outputs::View>,
}

/// A cue from the player to every screen.
#[derive(Clone, Debug, PartialEq)]
pub enum StageCue {
    /// Deck `deck`'s picture is the one on screen from now on.
    Show { deck: usize },
    /// Deck `deck`'s next new frame (the frame a timed start sought) is shown at `until` and
    /// not before; a frame that reaches a screen after `until` is not shown at all (it would
    /// be late), and the player plans the start again. `None` lifts the hold. `id` names the
    /// hold in the screens' landing report.
    Hold {
        deck: usize,
        until: Option<Instant>,
        id: u64,
    },
    /// Deck `deck` is unpaused on a plan, beginning its run `run`: that run's first new frame
    /// is due at `next_due` (the frames after it one `frame` apart): the screens show the run
    /// on the plan's times rather than on mpv's (see [`crate::screen::retime`]).
    Run {
        deck: usize,
        run: u64,
        next_due: Instant,
        frame: Duration,
    },
    /// Deck `deck`'s next run is not on a plan after all.
    ForgetRun { deck: usize },
    /// Deck `deck` stopped at `at`: no frame due after then is to reach a screen.
    Fence { deck: usize, at: Instant },
    /// The player has looked at deck `deck` after its Stop: it sought back to the Stop's frame
    /// (`sought_back`: the next new frame is that one), or it did not need to or could not.
    Settle { deck: usize, sought_back: bool },
    /// Deck `deck`, stopped, was sent elsewhere at `at` and stays stopped: the frame kept back
    /// at the Stop stays off the screens until the seek's frame replaces it.
    Relocate { deck: usize, at: Instant },
    /// Playback goes on (or the picture changes on purpose): every fence is lifted.
    Unfence,
    /// What the outputs show of deck `deck`'s picture (`None`: all of it on each).
    Views {
        deck: usize,
        views: Option<DeckViews>,
    },
    /// Each output's delay behind the slowest (a latency offset changed from the remote).
    Delays(Vec<Duration>),
}

/// What the screens report back, for the player to read.
#[derive(Debug, Default)]
pub struct Reports(Mutex<Reported>);

#[derive(Debug, Default)]
struct Reported {
    /// (deck, hold id, when its held frame reached a screen).
    landed: Vec<(usize, u64, Instant)>,
    /// (deck, when the last new frame mpv handed it over was due; `None`: a seek's frame).
    dues: Vec<(usize, Option<Instant>)>,
    /// Since when each output's present has been waiting (`None`: not waiting), by output.
    presents: Vec<Option<Instant>>,
    /// (deck, run, how much later than its plan mpv times the run's frames, µs): once the
    /// run's first frame said (0 when it is left on mpv's times).
    shifts: Vec<(usize, u64, i64)>,
}

impl Reports {
    fn lock(&self) -> MutexGuard<'_, Reported> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Deck `deck`'s held frame (hold `id`) reached a screen at `at`.
    pub fn landed(&self, deck: usize, id: u64, at: Instant) {
        let mut r = self.lock();
        r.landed.retain(|(d, ..)| *d != deck);
        r.landed.push((deck, id, at));
    }

    /// mpv handed deck `deck` a new frame due at `due` (`None`: a seek's).
    pub fn due(&self, deck: usize, due: Option<Instant>) {
        let mut r = self.lock();
        match r.dues.iter_mut().find(|(d, _)| *d == deck) {
            Some(entry) => entry.1 = due,
            None => r.dues.push((deck, due)),
        }
    }

    /// Output `output` is presenting a frame since `since` (`None`: done).
    pub fn presenting(&self, output: usize, since: Option<Instant>) {
        let mut r = self.lock();
        if r.presents.len() <= output {
            r.presents.resize(output + 1, None);
        }
        r.presents[output] = since;
    }

    /// Deck `deck`'s run `run` is timed `shift_us` later than its plan.
    pub fn shift(&self, deck: usize, run: u64, shift_us: i64) {
        let mut r = self.lock();
        r.shifts.retain(|(d, ..)| *d != deck);
        r.shifts.push((deck, run, shift_us));
    }
}

/// The player's side of the stage: sends the cues, remembers what it cued (which deck is on
/// screen, the fences, the views, the holds in force, the runs planned), and reads the
/// screens' reports.
#[derive(Debug)]
pub struct StageCues {
    tx: crossbeam_channel::Sender<StageCue>,
    reports: Arc<Reports>,
    shown: usize,
    /// (deck, the Stop's time).
    fences: Vec<(usize, Instant)>,
    views: Vec<(usize, DeckViews)>,
    /// (deck, the id of its hold in force).
    holds: Vec<(usize, u64)>,
    next_hold: u64,
    /// (deck, run, when its first new frame is due on the plan).
    runs: Vec<(usize, u64, Instant)>,
}

/// A run's first frame this long after its plan is not the one expected: the run is taken as
/// on mpv's times (the screens' rule, [`crate::screen::retime`]).
pub const LARGEST_SHIFT: Duration = Duration::from_millis(500);

impl StageCues {
    /// The player's side of a stage whose screens read `tx`'s cues and write `reports`.
    pub fn new(tx: crossbeam_channel::Sender<StageCue>, reports: Arc<Reports>) -> StageCues {
        StageCues {
            tx,
            reports,
            shown: 0,
            fences: Vec::new(),
            views: Vec::new(),
            holds: Vec::new(),
            next_hold: 1,
            runs: Vec::new(),
        }
    }

    fn send(&self, cue: StageCue) {
        // No screen (they ended first, at shutdown): nothing to show it on.
        let _ = self.tx.send(cue);
    }

    /// The deck on screen, as cued.
    pub fn shown(&self) -> usize {
        self.shown
    }

    /// Deck `deck` goes on screen.
    pub fn show(&mut self, deck: usize) {
        self.shown = deck;
        self.send(StageCue::Show { deck });
    }

    /// Deck `deck`'s next new frame is not to be presented before `until`; `None` lifts it.
    pub fn hold(&mut self, deck: usize, until: Option<Instant>) {
        self.holds.retain(|(d, _)| *d != deck);
        let id = self.next_hold;
        self.next_hold += 1;
        if until.is_some() {
            self.holds.push((deck, id));
        }
        self.send(StageCue::Hold { deck, until, id });
    }

    /// When deck `deck`'s held frame reached a screen, once it has (the seek landed).
    pub fn landed(&self, deck: usize) -> Option<Instant> {
        let (_, id) = self.holds.iter().find(|(d, _)| *d == deck)?;
        self.reports
            .lock()
            .landed
            .iter()
            .find(|(d, i, _)| *d == deck && i == id)
            .map(|(.., at)| *at)
    }

    /// Deck `deck` is unpaused on a plan, beginning its run `run`: its next frame is due at
    /// `next_due`.
    pub fn expect_run(&mut self, deck: usize, run: u64, next_due: Instant, frame: Duration) {
        self.runs.retain(|(d, ..)| *d != deck);
        self.runs.push((deck, run, next_due));
        self.send(StageCue::Run {
            deck,
            run,
            next_due,
            frame,
        });
    }

    /// Deck `deck`'s next run is not on a plan after all.
    pub fn forget_run(&mut self, deck: usize) {
        self.runs.retain(|(d, ..)| *d != deck);
        self.send(StageCue::ForgetRun { deck });
    }

    /// How much later than the plan the screens show deck `deck`'s frames in its run `run`,
    /// at `now` (`None` while a timed start's first frame has yet to say).
    pub fn shift(&self, deck: usize, run: u64, now: Instant) -> Option<Duration> {
        let planned = self
            .runs
            .iter()
            .find(|(d, r, _)| *d == deck && *r == run)
            .map(|(.., at)| *at);
        let reported = self
            .reports
            .lock()
            .shifts
            .iter()
            .find(|(d, r, _)| *d == deck && *r == run)
            .map(|(.., us)| *us);
        let us = match (planned, reported) {
            (Some(_), Some(us)) => us,
            (Some(at), None) if now < at + LARGEST_SHIFT => return None,
            _ => 0,
        };
        Some(Duration::from_micros(us.max(0).unsigned_abs()))
    }

    /// Deck `deck` stopped at `at`: no frame due after then is to reach the screens.
    pub fn fence(&mut self, deck: usize, at: Instant) {
        self.fences.retain(|(d, _)| *d != deck);
        self.fences.push((deck, at));
        self.send(StageCue::Fence { deck, at });
    }

    /// See [`StageCue::Settle`].
    pub fn settle(&mut self, deck: usize, sought_back: bool) {
        self.send(StageCue::Settle { deck, sought_back });
    }

    /// See [`StageCue::Relocate`].
    pub fn relocate(&mut self, deck: usize, at: Instant) {
        self.send(StageCue::Relocate { deck, at });
    }

    /// Every fence is lifted.
    pub fn unfence(&mut self) {
        // The screens' fences are the ones cued here: none cued, none to lift.
        if self.fences.is_empty() {
            return;
        }
        self.fences.clear();
        self.send(StageCue::Unfence);
    }

    /// When deck `deck` stopped, while it stays stopped.
    pub fn fenced_at(&self, deck: usize) -> Option<Instant> {
        self.fences
            .iter()
            .find(|(d, _)| *d == deck)
            .map(|(_, at)| *at)
    }

    /// When the last new frame mpv handed deck `deck` over was due, as a screen reported it.
    pub fn last_due(&self, deck: usize) -> Option<Instant> {
        self.reports
            .lock()
            .dues
            .iter()
            .find(|(d, _)| *d == deck)
            .and_then(|(_, due)| *due)
    }

    /// What the outputs show of deck `deck`'s picture (`None`: all of it on each).
    pub fn views(&self, deck: usize) -> Option<&DeckViews> {
        self.views.iter().find(|(d, _)| *d == deck).map(|(_, v)| v)
    }

    /// Sets what the outputs show of deck `deck`'s picture.
    pub fn set_views(&mut self, deck: usize, views: Option<DeckViews>) {
        self.views.retain(|(d, _)| *d != deck);
        self.views.extend(views.clone().map(|v| (deck, v)));
        self.send(StageCue::Views { deck, views });
    }

    /// Each output's delay behind the slowest.
    pub fn set_output_delays(&mut self, delays: Vec<Duration>) {
        self.send(StageCue::Delays(delays));
    }

    /// Whether output `output`'s present has been waiting longer than `limit` (its monitor
    /// gone: the window system holds it).
    pub fn output_held(&self, output: usize, limit: Duration) -> bool {
        self.reports
            .lock()
            .presents
            .get(output)
            .copied()
            .flatten()
            .is_some_and(|since| since.elapsed() > limit)
    }
}
