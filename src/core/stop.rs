//! What follows a Stop, in [`Stamp`]s: the show's stop behaviour once the DAW has stayed
//! stopped past the loop-jump window, and the look at whether the deck went past the Stop's
//! frame.
//!
//! A DAW's loop jump is a Stop, then a Song Position and a Continue: at once (Ableton Live) or
//! at the next sixteenth (Ardour: 250 ms at 60 BPM). So the Stop holds the frame at once, and
//! the rest of the stop behaviour (black, re-arm, idle content) waits [`JUMP_WINDOW`]: applied
//! only if the DAW is still stopped then. A pause does not take back the frame mpv had already
//! handed over, so after a hold the player looks whether the deck went past the frame due at
//! the Stop's time, and goes back to it ([`crate::plan::back_to_stop`]): for the DAW's Stop
//! at the end of the jump window (a jump's Continue may follow; a behaviour that re-arms or
//! shows the idle content changes the picture anyway, and then there is nothing to look at),
//! for any other hold (the operator's, the page's, timecode that stopped) after
//! [`STOP_FRAME_CHECK`], time for the pause to reach mpv and the frame handed over before it
//! to reach the screen.

use crate::show::StopAction;
use crate::time::Stamp;
use crate::transport::Cue;
use std::time::Duration;

/// How long the DAW must stay stopped before the stop behaviour (black, rearm, idle) applies.
pub const JUMP_WINDOW: Duration = Duration::from_millis(300);
/// How long after a hold that is not the DAW's Stop the player looks whether mpv went past
/// the frame due then (mpv hands frames over at most 50 ms ahead).
pub const STOP_FRAME_CHECK: Duration = Duration::from_millis(100);

/// The moments after a Stop, as the player meets them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StopWindow {
    /// When the stop behaviour is due, after the DAW's Stop.
    behaviour_at: Option<Stamp>,
    /// When to look at the Stop's frame, and whether the hold was the DAW's Stop.
    look_at: Option<(Stamp, bool)>,
}

/// What is due after a Stop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StopDue {
    /// The look at the Stop's frame is due: go back to it if the deck went past it (true),
    /// or leave it (false: the stop behaviour that follows changes the picture).
    pub frame: Option<bool>,
    /// The DAW stayed stopped through the jump window: apply the show's stop behaviour now.
    pub behaviour: bool,
}

impl StopWindow {
    /// The picture was held at `now`: by the DAW's Stop, timed by its message (`daw`), or
    /// by anything else.
    pub fn held(&mut self, now: Stamp, daw: bool) {
        let wait = if daw { JUMP_WINDOW } else { STOP_FRAME_CHECK };
        self.look_at = Some((now + wait, daw));
    }

    /// The DAW stopped at `now` (a Stop that held, or one that showed where a jump went):
    /// its stop behaviour waits for the jump window.
    pub fn daw_stopped(&mut self, now: Stamp) {
        self.behaviour_at = Some(now + JUMP_WINDOW);
    }

    /// The picture moved on (a start, a locate, another song): no Stop's frame to look at.
    pub fn moved_on(&mut self) {
        self.look_at = None;
    }

    /// What is due at `now`, each once. `stopped`: the DAW is still stopped (stopped, and no
    /// start waiting for its clock: a Continue waiting for its clock is a jump's end).
    pub fn due(&mut self, now: Stamp, stopped: bool, on_stop: StopAction) -> StopDue {
        let mut due = StopDue::default();
        if let Some((_, daw)) = self.look_at.filter(|(at, _)| now >= *at) {
            self.look_at = None;
            let changes_picture = matches!(on_stop, StopAction::Rearm | StopAction::Idle);
            due.frame = Some(!(daw && changes_picture));
        }
        if self.behaviour_at.is_some_and(|at| now >= at) {
            self.behaviour_at = None;
            due.behaviour = stopped;
        }
        due
    }

    /// The next moment something may be due.
    pub fn next(&self) -> Option<Stamp> {
        [self.behaviour_at, self.look_at.map(|(at, _)| at)]
            .into_iter()
            .flatten()
            .min()
    }
}

/// What a cue does to the Stop's fence: the screens keep a frame due after a Stop's time
/// off the screen (a pause does not take back the frame mpv had already handed over).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fence {
    /// A hold: frames due after its time stay off the screen.
    Raise,
    /// Still stopped, the deck sent elsewhere (jack_midi_clock sends a Song Position with its
    /// Stop): the fence stays until the new frame lands, so that the frame drawn ahead before
    /// the pause cannot reach the screen meanwhile.
    Relocate,
    /// The picture moves on (a play, a locate, a jump): no fence.
    Lift,
    /// Nothing changes (a speed change).
    Keep,
}

/// What `cue` does to the fence, `fenced` telling whether the deck's picture is fenced now.
pub fn fence_for(cue: Cue, fenced: bool) -> Fence {
    match cue {
        Cue::Hold => Fence::Raise,
        Cue::Speed { .. } => Fence::Keep,
        Cue::Locate { play: false, .. } | Cue::Arm if fenced => Fence::Relocate,
        _ => Fence::Lift,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: i64) -> Stamp {
        Stamp::from_micros(n * 1000)
    }

    #[test]
    fn the_stop_behaviour_waits_for_the_jump_window_and_applies_only_if_still_stopped() {
        let mut w = StopWindow::default();
        w.held(ms(1000), true);
        w.daw_stopped(ms(1000));
        assert_eq!(w.next(), Some(ms(1300)));
        assert_eq!(w.due(ms(1299), true, StopAction::Rearm), StopDue::default());
        assert_eq!(
            w.due(ms(1300), true, StopAction::Rearm),
            StopDue {
                frame: Some(false),
                behaviour: true
            },
            "re-armed: the frame is not looked at"
        );
        assert_eq!(
            w.due(ms(2000), true, StopAction::Rearm),
            StopDue::default(),
            "once"
        );
        assert_eq!(w.next(), None);
        // A loop jump: the Continue came within the window.
        w.held(ms(3000), true);
        w.daw_stopped(ms(3000));
        w.moved_on();
        assert_eq!(
            w.due(ms(3300), false, StopAction::Rearm),
            StopDue {
                frame: None,
                behaviour: false
            },
            "playing again: nothing"
        );
    }

    #[test]
    fn the_stops_frame_is_looked_at_when_the_behaviour_leaves_it() {
        let mut w = StopWindow::default();
        w.held(ms(0), true);
        w.daw_stopped(ms(0));
        assert_eq!(
            w.due(ms(300), true, StopAction::Hold),
            StopDue {
                frame: Some(true),
                behaviour: true
            }
        );
        // The operator's hold: looked at soon, no behaviour.
        w.held(ms(1000), false);
        assert_eq!(w.next(), Some(ms(1100)));
        assert_eq!(
            w.due(ms(1100), true, StopAction::Rearm),
            StopDue {
                frame: Some(true),
                behaviour: false
            },
            "not the DAW's Stop: its frame is looked at whatever the behaviour"
        );
    }

    #[test]
    fn a_hold_fences_a_locate_while_stopped_keeps_the_fence_a_play_lifts_it() {
        assert_eq!(fence_for(Cue::Hold, false), Fence::Raise);
        let sought = Cue::Locate {
            position_s: 12.0,
            play: false,
        };
        assert_eq!(fence_for(sought, true), Fence::Relocate);
        assert_eq!(fence_for(Cue::Arm, true), Fence::Relocate);
        assert_eq!(
            fence_for(sought, false),
            Fence::Lift,
            "not stopped: nothing to keep"
        );
        assert_eq!(fence_for(Cue::Play, true), Fence::Lift);
        assert_eq!(
            fence_for(
                Cue::Locate {
                    position_s: 12.0,
                    play: true
                },
                true
            ),
            Fence::Lift
        );
        assert_eq!(fence_for(Cue::Speed { speed: 1.01 }, true), Fence::Keep);
    }
}
