//! Each frame on screen at its due time, not at its due time plus the cost of drawing it.
//!
//! mpv hands a frame to the render API `video-timing-offset` seconds before it is due, and
//! says when it is due (`MPV_RENDER_PARAM_NEXT_FRAME_INFO`). A screen's render thread draws
//! it at once, without waiting inside mpv (`MPV_RENDER_PARAM_BLOCK_FOR_TARGET_TIME` = 0),
//! waits until the frame is due less what presenting it costs, presents it, and tells mpv
//! (`report_swap`). The [`Presenter`] keeps the recent costs of drawing and of presenting and
//! sets mpv's offset to what they need plus a margin, so the frame is ready in time on this
//! machine at this size: a software renderer at 1280x720 needs about 15 ms, at 640x360 about 5.
//!
//! With vsync (swaps that wait for the display's refresh, tear-free), a swap shows the frame at
//! the next refresh: the swap is asked for half a refresh before the frame is due, so that it
//! lands on the refresh nearest its due time. Without vsync (Xvfb, or Wayland, where the
//! compositor presents and nothing tears), the swap is asked for at the due time less its cost.
//!
//! Redraws (the same frame again: an overlay changed, the window was resized) are presented at
//! once, and so are frames with no due time (the first after a seek), unless the player holds
//! them: a frame sought ahead of a timed start is held until it is due
//! ([`crate::screen::stage::Stage::take_hold`]).

use crate::mpv::render::FrameInfo;
use crate::mpv::Mpv;
use crate::screen::stage::Drawn;
use log::{debug, info, warn};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How many recent costs are kept: the slowest of them counts.
const COSTS_KEPT: usize = 32;
/// Costs measured before the offset is first adapted.
const COSTS_BEFORE_ADAPTING: usize = 6;
/// Added to the slowest recent cost: the frame must be ready before its due time.
const MARGIN: Duration = Duration::from_millis(2);
/// mpv's offset before anything was measured: enough for a software renderer at 720p.
const FIRST_OFFSET: Duration = Duration::from_millis(20);
/// Never more than this ahead (mpv's own default): a frame drawn further ahead would hold the
/// one before it back.
const MAX_OFFSET: Duration = Duration::from_millis(50);
/// A frame is never waited for longer than the offset and this.
const MAX_WAIT_BEYOND_OFFSET: Duration = Duration::from_millis(10);
/// A frame the player holds is never held longer than this. A start planned with a slow
/// seek (a file with keyframes far apart) may have its frame early by more than mpv waits
/// for a swap (200 ms): mpv then notes it in its verbose log and goes on, paused.
const MAX_HOLD: Duration = Duration::from_millis(1000);
/// A growth of the offset smaller than this is not passed to mpv.
const OFFSET_STEP: Duration = Duration::from_millis(1);
/// The offset shrinks only when it is this much more than needed, and at most this often.
const SHRINK_STEP: Duration = Duration::from_millis(3);
const SHRINK_EVERY: Duration = Duration::from_secs(5);

/// What a screen is about to draw, for [`crate::screen::stage::Stage::admit`]: a new frame with
/// its due time (from `info`, asked at `now`, which is `now_us` on mpv's clock), or a redraw.
pub fn drawn(info: &FrameInfo, now_us: i64, now: Instant) -> Drawn {
    if !info.present || info.redraw {
        return Drawn::Redraw;
    }
    Drawn::New {
        due: info.due_in_us(now_us).map(|us| {
            let d = Duration::from_micros(us.unsigned_abs());
            if us >= 0 {
                now + d
            } else {
                now.checked_sub(d).unwrap_or(now)
            }
        }),
        drawn: now,
    }
}

/// Times frames for one screen and keeps mpv's hand-over offset fitted to this machine.
pub struct Presenter {
    /// The cores drawn on this screen: each gets the offset.
    cores: Vec<Mpv>,
    draw_costs: VecDeque<Duration>,
    present_costs: VecDeque<Duration>,
    /// The offset mpv was last given.
    offset: Duration,
    /// The display's refresh interval, when swaps wait for it.
    vsync: Option<Duration>,
    /// Frames presented on time, and late (after their due time by more than a millisecond).
    on_time: u64,
    late: u64,
    /// When the offset last changed after the first measurements.
    last_change: Option<Instant>,
    /// How much earlier than mpv's due times the deck on screen's frames are presented (a
    /// timed start's run kept on its plan, [`crate::screen::stage::Stage::retime`]): mpv must hand
    /// them over that much earlier too.
    behind: Duration,
}

impl Presenter {
    /// A presenter for a screen showing `cores`; `vsync` is the refresh interval when buffer
    /// swaps wait for the display's refresh.
    pub fn new(cores: Vec<Mpv>, vsync: Option<Duration>) -> Presenter {
        let mut p = Presenter {
            cores,
            draw_costs: VecDeque::new(),
            present_costs: VecDeque::new(),
            offset: Duration::ZERO,
            vsync,
            on_time: 0,
            late: 0,
            last_change: None,
            behind: Duration::ZERO,
        };
        p.set_offset(FIRST_OFFSET + vsync.map_or(Duration::ZERO, |v| v / 2));
        p
    }

    /// When to present the frame mpv describes with `info` (asked at `now`, which is `now_us`
    /// on mpv's clock): `None` for at once. `hold` is asked for a new frame mpv gives no due
    /// time (the frame a seek landed on): the moment the player wants it shown, if it does.
    pub fn present_at(
        &self,
        info: &FrameInfo,
        now_us: i64,
        now: Instant,
        hold: impl FnOnce() -> Option<Instant>,
    ) -> Option<Instant> {
        let due = self.due_at(info, now_us, now, hold)?;
        // The typical cost, not the slowest: a frame is as often early as late by the
        // difference, where the slowest would make most frames early.
        let early = match self.vsync {
            Some(refresh) => refresh / 2,
            None => typical(&self.present_costs),
        };
        Some(due.checked_sub(early).unwrap_or(due))
    }

    /// When the frame mpv describes with `info` is due on screen (as [`Presenter::present_at`],
    /// before taking off what presenting costs): for screens that time their own swaps.
    pub fn due_at(
        &self,
        info: &FrameInfo,
        now_us: i64,
        now: Instant,
        hold: impl FnOnce() -> Option<Instant>,
    ) -> Option<Instant> {
        // mpv hands a frame over `offset` ahead of its due time: a frame claiming to be due
        // much later than that is not one to wait for (mpv gives up waiting for the swap after
        // 200 ms and would run on without us).
        self.due_within(
            info,
            now_us,
            now,
            hold,
            self.offset + MAX_WAIT_BEYOND_OFFSET,
        )
    }

    /// [`Presenter::due_at`] for screens that tell mpv a frame was presented as soon as they
    /// have it (they keep the frame until it is due, so mpv never waits on them): a frame due
    /// up to `limit` ahead is presented when due, not earlier. A hold is never longer than
    /// MAX_HOLD.
    pub fn due_within(
        &self,
        info: &FrameInfo,
        now_us: i64,
        now: Instant,
        hold: impl FnOnce() -> Option<Instant>,
        limit: Duration,
    ) -> Option<Instant> {
        if !info.present || info.redraw {
            return None;
        }
        let due_in_us = info.due_in_us(now_us).filter(|d| *d > 0);
        let seek_frame_us = crate::screen::stage::SEEK_FRAME_DUE.as_micros() as i64;
        if due_in_us.is_none_or(|d| d <= seek_frame_us) {
            // A seek's frame: mpv gives it no due time, or (now and then, paused) one of
            // about now. One held for a timed start waits for its moment, or (late) is not
            // presented at all.
            if let Some(h) = hold() {
                return (h > now).then(|| h.min(now + MAX_HOLD));
            }
        }
        Some((now + Duration::from_micros(due_in_us?.unsigned_abs())).min(now + limit))
    }

    /// Waits until `at` (none: returns at once), then says how the frame stood against it.
    pub fn wait_until(&mut self, at: Option<Instant>) {
        let Some(at) = at else { return };
        let now = crate::clock::now();
        if now < at {
            std::thread::sleep(at - now);
            self.on_time += 1;
        } else if now - at > Duration::from_millis(1) {
            self.late += 1;
            if self.late.is_power_of_two() {
                debug!(
                    "a frame was ready {:.1} ms after it was to be presented ({} late, {} on \
                     time so far)",
                    (now - at).as_secs_f64() * 1000.0,
                    self.late,
                    self.on_time
                );
            }
        }
    }

    /// A frame took `draw` to draw and `present` to present (not counting the wait between):
    /// the offset follows the slowest recent costs.
    pub fn measured(&mut self, draw: Duration, present: Duration) {
        push(&mut self.draw_costs, draw);
        push(&mut self.present_costs, present);
        if self.draw_costs.len() < COSTS_BEFORE_ADAPTING {
            return;
        }
        let wanted = slowest(&self.draw_costs)
            + slowest(&self.present_costs)
            + self.vsync.map_or(Duration::ZERO, |v| v / 2)
            + MARGIN
            // Ahead of the time the frame is presented at, which is `behind` before mpv's.
            + self.behind;
        let wanted = wanted.min(MAX_OFFSET);
        let now = crate::clock::now();
        // Grow at once (frames would be late); shrink only by a few ms at a time, and rarely:
        // each change makes mpv's video output reconfigure.
        let grow = wanted >= self.offset + OFFSET_STEP;
        let shrink = wanted + SHRINK_STEP <= self.offset
            && self
                .last_change
                .is_none_or(|t| now.saturating_duration_since(t) >= SHRINK_EVERY);
        if grow || shrink {
            self.last_change = Some(now);
            self.set_offset(wanted);
        }
    }

    /// The frames about to be drawn are presented `behind` earlier than mpv's due times (the
    /// offset grows by as much, within MAX_OFFSET).
    pub fn behind(&mut self, behind: Duration) {
        self.behind = behind.min(MAX_OFFSET);
    }

    /// The offset mpv hands frames over with now.
    pub fn offset(&self) -> Duration {
        self.offset
    }

    fn set_offset(&mut self, offset: Duration) {
        let first = self.offset.is_zero();
        self.offset = offset;
        for core in &self.cores {
            // Never a synchronous call here: mpv's core may be waiting for this very thread
            // to draw (a video output control waits for the render thread), and a set that
            // waits for the core would stall both until mpv's 200 ms timeout.
            if let Err(e) = core.set_double_async("video-timing-offset", offset.as_secs_f64()) {
                warn!("cannot have mpv hand frames over ahead of time: {e}");
            }
        }
        let ms = offset.as_secs_f64() * 1000.0;
        if first {
            debug!("frames are drawn {ms:.1} ms ahead of their due time until measured");
        } else {
            info!(
                "frames are drawn {ms:.1} ms ahead of their due time (drawing takes up to \
                 {:.1} ms, presenting {:.1} ms)",
                slowest(&self.draw_costs).as_secs_f64() * 1000.0,
                slowest(&self.present_costs).as_secs_f64() * 1000.0
            );
        }
    }
}

fn push(costs: &mut VecDeque<Duration>, cost: Duration) {
    if costs.len() == COSTS_KEPT {
        costs.pop_front();
    }
    costs.push_back(cost);
}

fn typical(costs: &VecDeque<Duration>) -> Duration {
    let mut sorted: Vec<Duration> = costs.iter().copied().collect();
    sorted.sort();
    sorted
        .get(sorted.len() / 2)
        .copied()
        .unwrap_or(Duration::ZERO)
}

fn slowest(costs: &VecDeque<Duration>) -> Duration {
    costs.iter().max().copied().unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(target_time: i64) -> FrameInfo {
        FrameInfo {
            present: true,
            target_time,
            ..FrameInfo::default()
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_frame_is_presented_when_due_less_what_presenting_costs() {
        let mut p = Presenter::new(Vec::new(), None);
        let now = Instant::now();
        let now_us = 1_000_000_000;
        assert_eq!(
            p.present_at(&info(now_us + 12_000), now_us, now, || None),
            Some(now + ms(12))
        );
        for _ in 0..COSTS_BEFORE_ADAPTING {
            p.measured(ms(14), ms(3));
        }
        // One slow present moves the offset, not the typical presentation time.
        p.measured(ms(10), ms(6));
        assert_eq!(
            p.present_at(&info(now_us + 12_000), now_us, now, || None),
            Some(now + ms(9))
        );
        // What mpv is told: the slowest drawing and presenting, and the margin.
        assert_eq!(p.offset(), ms(14) + ms(6) + MARGIN);
    }

    #[test]
    fn redraws_overdue_and_timeless_frames_go_at_once() {
        let p = Presenter::new(Vec::new(), None);
        let now = Instant::now();
        let now_us = 1_000_000_000;
        let mut redraw = info(now_us + 12_000);
        redraw.redraw = true;
        assert_eq!(
            p.present_at(&redraw, now_us, now, || Some(now + ms(5))),
            None
        );
        assert_eq!(p.present_at(&info(now_us - 1), now_us, now, || None), None);
        assert_eq!(p.present_at(&info(0), now_us, now, || None), None);
        assert_eq!(
            p.present_at(&FrameInfo::default(), now_us, now, || None),
            None
        );
    }

    #[test]
    fn a_held_frame_waits_for_its_moment() {
        let p = Presenter::new(Vec::new(), None);
        let now = Instant::now();
        let now_us = 1_000_000_000;
        assert_eq!(
            p.present_at(&info(0), now_us, now, || Some(now + ms(30))),
            Some(now + ms(30))
        );
        // A hold already past, or a frame with its own due time, is not held.
        assert_eq!(p.present_at(&info(0), now_us, now, || Some(now)), None);
        assert_eq!(
            p.present_at(&info(now_us + 5_000), now_us, now, || Some(now + ms(30))),
            Some(now + ms(5))
        );
    }

    #[test]
    fn no_frame_waits_past_what_mpv_would_wait_for() {
        let p = Presenter::new(Vec::new(), None);
        let now = Instant::now();
        let now_us = 1_000_000_000;
        assert_eq!(
            p.present_at(&info(now_us + 5_000_000), now_us, now, || None),
            Some(now + FIRST_OFFSET + MAX_WAIT_BEYOND_OFFSET)
        );
        assert_eq!(
            p.present_at(&info(0), now_us, now, || Some(now + Duration::from_secs(3))),
            Some(now + MAX_HOLD)
        );
    }

    #[test]
    fn with_vsync_the_swap_is_asked_for_half_a_refresh_early() {
        let refresh = Duration::from_micros(16_667);
        let mut p = Presenter::new(Vec::new(), Some(refresh));
        let now = Instant::now();
        let now_us = 1_000_000_000;
        assert_eq!(
            p.present_at(&info(now_us + 20_000), now_us, now, || None),
            Some(now + ms(20) - refresh / 2)
        );
        for _ in 0..COSTS_BEFORE_ADAPTING {
            p.measured(ms(5), ms(1));
        }
        assert_eq!(p.offset(), ms(6) + refresh / 2 + MARGIN);
    }

    #[test]
    fn the_offset_is_bounded() {
        let mut p = Presenter::new(Vec::new(), None);
        for _ in 0..COSTS_BEFORE_ADAPTING {
            p.measured(ms(200), ms(1));
        }
        assert_eq!(p.offset(), MAX_OFFSET);
    }
}
