//! Frames of a timed start on the DAW's time, not on the moment mpv carried out the unpause.
//!
//! mpv times the frames of a run from when its core carried out the request that began it:
//! unpaused on frame k, it gives frame k+1 a due time one frame after it *processed* the
//! unpause. The player sends the unpause at the planned moment, but its thread and mpv's core
//! may run late on a busy machine (2 to 30 ms seen here), and every frame of the run then
//! comes that much late; the drift correction, with its dead band and its 2 % speed limit,
//! leaves it or takes seconds to pull it in.
//!
//! So the player says, as it unpauses, when the next frame is due on the DAW's time. The first
//! timed frame the screen gets after the unpause is that frame (mpv never drops it: on its own
//! clock it is not late), and the difference between mpv's due time for it and the plan's is
//! the run's shift. Every later frame of the run is presented that much earlier than mpv says,
//! and the player's position reports for the drift correction are moved by the same amount. A
//! new run (a pause, a seek, a file loaded: [`crate::mpv::Mpv::runs`]) ends the shift.

use crate::messages::stage::LARGEST_SHIFT;
use crate::mpv::render::FrameInfo;
use log::{debug, warn};
use std::time::{Duration, Instant};
/// The largest shift taken: a machine that carries out an unpause later than this is drawing
/// at its limit, and its frames could not be handed over early enough to be shown on the plan
/// (nor could several outputs keep that many pictures back): such a run stays on mpv's times.
const LARGEST_TAKEN: Duration = Duration::from_millis(20);
/// mpv may round its due times: a shift this far the other way is taken as none.
const EARLIEST_SHIFT_US: i64 = -2_000;

/// One deck's run: what the player expects of it and what was measured.
#[derive(Debug, Clone, Copy)]
struct Retime {
    deck: usize,
    /// The deck's run ([`crate::mpv::Mpv::runs`]) this is about.
    run: u64,
    /// The planned due time of the run's first timed frame, until it has come.
    expect: Option<Instant>,
    /// The video's frame duration: a shift of most of a frame is another frame's.
    frame: Duration,
    /// How much later than planned mpv's due times are, in microseconds.
    shift_us: i64,
}

/// The runs of every deck, as the player cued them and the screens measured them.
#[derive(Debug, Default)]
pub struct Retimes(Vec<Retime>);

impl Retimes {
    /// The player unpauses deck `deck`, beginning its run `run`: the run's first new frame is
    /// due at `next_due`, a frame of `frame` after the one unpaused on.
    pub fn expect(&mut self, deck: usize, run: u64, next_due: Instant, frame: Duration) {
        self.forget(deck);
        self.0.push(Retime {
            deck,
            run,
            expect: Some(next_due),
            frame,
            shift_us: 0,
        });
    }

    /// Deck `deck`'s run is not on a plan after all (the unpause could not be sent).
    pub fn forget(&mut self, deck: usize) {
        self.0.retain(|r| r.deck != deck);
    }

    /// The run of deck `deck` whose first frame is still to say how late mpv times it.
    pub fn pending_run(&self, deck: usize) -> Option<u64> {
        self.0
            .iter()
            .find(|r| r.deck == deck && r.expect.is_some())
            .map(|r| r.run)
    }

    /// How late mpv times deck `deck`'s run `run` against its plan, in µs, once measured
    /// (0: no plan, or left on mpv's times).
    pub fn measured_us(&self, deck: usize, run: u64) -> i64 {
        self.0
            .iter()
            .find(|r| r.deck == deck && r.run == run && r.expect.is_none())
            .map_or(0, |r| r.shift_us)
    }

    /// How much later than planned mpv's due times of deck `deck` are in its run `run`, at
    /// `now`: zero when the run has no plan, `None` while its first frame has yet to say (and
    /// may still: no screen draws the deck, and it is taken as zero, once it is half a second
    /// overdue).
    pub fn shift_us(&self, deck: usize, run: u64, now: Instant) -> Option<i64> {
        match self.0.iter().find(|r| r.deck == deck && r.run == run) {
            Some(Retime {
                expect: Some(e), ..
            }) if now < *e + LARGEST_SHIFT => None,
            Some(r) if r.expect.is_some() => Some(0),
            Some(r) => Some(r.shift_us),
            None => Some(0),
        }
    }

    /// The frame mpv describes with `info` (deck `deck`, in its run `run`, asked at `now`,
    /// which is `now_us` on mpv's clock), with its due time moved onto the plan.
    pub fn retime(
        &mut self,
        deck: usize,
        run: u64,
        info: FrameInfo,
        now_us: i64,
        now: Instant,
    ) -> FrameInfo {
        if !info.present || info.redraw {
            return info;
        }
        let Some(i) = self.0.iter().position(|r| r.deck == deck) else {
            return info;
        };
        if run < self.0[i].run {
            // Drawn before the run the player just began (the screen read the count first).
            return info;
        }
        if run > self.0[i].run {
            // Paused, sought or loaded since: mpv's clock began again.
            self.0.swap_remove(i);
            return info;
        }
        let Some(due_in_us) = info.due_in_us(now_us) else {
            return info;
        };
        if due_in_us <= super::stage::SEEK_FRAME_DUE.as_micros() as i64 {
            // A sought frame (no due time, or about now): not one of the run's timed frames.
            return info;
        }
        let r = &mut self.0[i];
        if r.expect.is_some_and(|e| now > e + LARGEST_SHIFT) {
            // No screen drew the run's first frame in time: a later one is not it.
            r.expect = None;
        }
        if let Some(expect) = r.expect.take() {
            let due = now + Duration::from_micros(due_in_us.unsigned_abs());
            let shift_us = if due >= expect {
                i64::try_from(due.duration_since(expect).as_micros()).unwrap_or(i64::MAX)
            } else {
                -i64::try_from(expect.duration_since(due).as_micros()).unwrap_or(i64::MAX)
            };
            // Most of a frame late is the frame after it (the first came too close to its due
            // time to be told from a sought frame), not a shift.
            let largest = LARGEST_TAKEN.min(r.frame.mul_f64(0.9));
            if shift_us >= largest.as_micros() as i64 || shift_us < EARLIEST_SHIFT_US {
                warn!(
                    "deck {}: the first frame after the start is due {:+.1} ms from its plan; \
                     left on mpv's time",
                    deck + 1,
                    shift_us as f64 / 1000.0
                );
                self.0.swap_remove(i);
                return info;
            }
            r.shift_us = shift_us.max(0);
            debug!(
                "deck {}: mpv's clock began {:.2} ms after the plan; frames shown on the plan",
                deck + 1,
                shift_us as f64 / 1000.0
            );
        }
        if r.shift_us == 0 {
            return info;
        }
        FrameInfo {
            target_time: now_us + due_in_us - r.shift_us,
            ..info
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(target_time: i64) -> FrameInfo {
        FrameInfo {
            present: true,
            redraw: false,
            repeat: false,
            target_time,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_first_frame_of_a_run_measures_the_shift_and_every_later_one_takes_it() {
        let mut r = Retimes::default();
        let now = Instant::now();
        let now_us = 1_000_000_000;
        // Planned due in 40 ms; mpv says 52 ms (its clock began 12 ms late).
        r.expect(0, 7, now + ms(40), ms(40));
        assert_eq!(r.shift_us(0, 7, now), None, "not known before the frame");
        assert_eq!(
            r.shift_us(0, 7, now + ms(600)),
            Some(0),
            "no screen said in time"
        );
        let first = r.retime(0, 7, frame(now_us + 52_000), now_us, now);
        assert_eq!(first.target_time, now_us + 40_000);
        assert_eq!(r.shift_us(0, 7, now), Some(12_000));
        // The next frame, asked 30 ms later: mpv says due in 62 ms, shown in 50.
        let later = now + ms(30);
        let next = r.retime(0, 7, frame(now_us + 92_000), now_us + 30_000, later);
        assert_eq!(next.target_time, now_us + 80_000);
        // Another deck is left alone.
        let other = r.retime(1, 7, frame(now_us + 92_000), now_us, now);
        assert_eq!(other.target_time, now_us + 92_000);
    }

    #[test]
    fn a_new_run_ends_the_shift() {
        let mut r = Retimes::default();
        let now = Instant::now();
        let now_us = 1_000_000_000;
        r.expect(0, 3, now + ms(40), ms(40));
        r.retime(0, 3, frame(now_us + 50_000), now_us, now);
        assert_eq!(r.shift_us(0, 3, now), Some(10_000));
        // Paused and started again without a plan (run 4): mpv's times as they are.
        let f = r.retime(0, 4, frame(now_us + 50_000), now_us, now);
        assert_eq!(f.target_time, now_us + 50_000);
        assert_eq!(r.shift_us(0, 4, now), Some(0));
        assert_eq!(r.shift_us(0, 3, now), Some(0), "forgotten");
    }

    #[test]
    fn sought_frames_and_redraws_do_not_measure() {
        let mut r = Retimes::default();
        let now = Instant::now();
        let now_us = 1_000_000_000;
        r.expect(0, 1, now + ms(40), ms(40));
        // The held frame (no due time) and a redraw come first.
        let held = r.retime(0, 1, frame(0), now_us, now);
        assert_eq!(held.target_time, 0);
        let redraw = FrameInfo {
            redraw: true,
            ..frame(now_us + 70_000)
        };
        assert_eq!(
            r.retime(0, 1, redraw, now_us, now).target_time,
            now_us + 70_000
        );
        // Then the run's first timed frame, 5 ms late.
        let f = r.retime(0, 1, frame(now_us + 45_000), now_us, now);
        assert_eq!(f.target_time, now_us + 40_000);
    }

    #[test]
    fn a_frame_of_the_run_before_leaves_the_expectation_alone() {
        let mut r = Retimes::default();
        let now = Instant::now();
        let now_us = 1_000_000_000;
        r.expect(0, 5, now + ms(40), ms(40));
        // Drawn by a screen that read the count (4) before the player began run 5.
        let old = r.retime(0, 4, frame(now_us + 30_000), now_us, now);
        assert_eq!(old.target_time, now_us + 30_000);
        let f = r.retime(0, 5, frame(now_us + 43_000), now_us, now);
        assert_eq!(f.target_time, now_us + 40_000);
        assert_eq!(r.shift_us(0, 5, now), Some(3_000));
    }

    #[test]
    fn a_shift_of_most_of_a_frame_is_another_frame() {
        let mut r = Retimes::default();
        let now = Instant::now();
        let now_us = 1_000_000_000;
        // The first frame after the start was skipped (too close to its due time); the one
        // after it, due a frame and 3 ms later than planned, must not set a 43 ms shift.
        r.expect(0, 1, now + ms(40), ms(40));
        let f = r.retime(0, 1, frame(now_us + 83_000), now_us, now);
        assert_eq!(f.target_time, now_us + 83_000);
        assert_eq!(r.shift_us(0, 1, now), Some(0));
        // Nor is a frame drawn half a second after its plan measured.
        r.expect(0, 2, now + ms(40), ms(40));
        let late = now + ms(600);
        let f = r.retime(0, 2, frame(now_us + 645_000), now_us + 600_000, late);
        assert_eq!(f.target_time, now_us + 645_000);
        assert_eq!(r.shift_us(0, 2, late), Some(0));
    }

    #[test]
    fn an_implausible_shift_is_not_used() {
        let mut r = Retimes::default();
        let now = Instant::now();
        let now_us = 1_000_000_000;
        // A frame a second later than planned is not the one expected.
        r.expect(0, 1, now + ms(40), ms(40));
        let f = r.retime(0, 1, frame(now_us + 1_040_000), now_us, now);
        assert_eq!(f.target_time, now_us + 1_040_000);
        assert_eq!(r.shift_us(0, 1, now), Some(0));
        // Nor is one well before the plan.
        r.expect(0, 2, now + ms(40), ms(40));
        let f = r.retime(0, 2, frame(now_us + 30_000), now_us, now);
        assert_eq!(f.target_time, now_us + 30_000);
        // 25 ms late: a machine at its limit, left on mpv's times.
        r.expect(0, 4, now + ms(40), ms(40));
        let f = r.retime(0, 4, frame(now_us + 65_000), now_us, now);
        assert_eq!(f.target_time, now_us + 65_000);
        assert_eq!(r.shift_us(0, 4, now), Some(0));
        // A hair early (mpv's rounding) counts as on time.
        r.expect(0, 3, now + ms(40), ms(40));
        let f = r.retime(0, 3, frame(now_us + 39_500), now_us, now);
        assert_eq!(f.target_time, now_us + 39_500);
        assert_eq!(r.shift_us(0, 3, now), Some(0));
    }
}
