//! The player's input lanes: a bounded channel for messages, and a clock lane per source.
//!
//! MIDI clock arrives up to hundreds of times a second per source; everything else (Start,
//! Stop, Continue, Song Position, Song Select, Program Change, timecode, operator keys, Quit)
//! is rare by comparison. If every tick were a message, a player that stalls under a clock
//! flood would queue ticks without bound and a Stop would wait behind all of them. So:
//!
//! - **Messages** travel in one bounded channel ([`INPUT_CAPACITY`] messages, made by
//!   [`input_channel`]). No clock tick is ever one of them.
//! - **Clock ticks** go into their source's [`ClockLane`]. The lane keeps up to
//!   [`LANE_TICKS`] ticks one by one, each with its receipt time; once that many wait, later
//!   ticks are *folded*: only their count and the receipt time of the latest are kept. A lane
//!   is a few dozen bytes whatever the flood, and the player takes a folded record in one
//!   step ([`crate::transport::Transport::on_clocks`]), so a Stop that follows a flood waits
//!   behind at most [`LANE_TICKS`] single ticks and one folded record per source, never
//!   behind every tick.
//! - A lane with ticks in it has exactly one doorbell ([`PlayerInput::Clocks`]) in the
//!   channel, so the player takes ticks in their place among the source's other messages.
//!   When a source sends a message while its lane holds ticks, the inlet gives later ticks a
//!   new lane (whose doorbell comes after the message): a tick is never taken before a Start
//!   that came before it, nor after a Stop that came after it. When the player keeps up (the
//!   case in every show), each tick reaches the transport alone with its own time stamp,
//!   exactly as before lanes existed; folding happens only when the player falls behind.
//!   (Order is kept within each source. Between two sources, a tick can be taken a moment
//!   before a message from the other source that arrived just before it; a show has one
//!   transport source, so this changes nothing there.)
//!
//! When the channel is full (the player is stalled with [`INPUT_CAPACITY`] messages waiting):
//! a timecode quarter frame is dropped and counted (it is a stream: the next eight rebuild the
//! time); every other message — Start, Stop, a song change — is never dropped: the sender
//! blocks until there is room, with a warning in the log after [`FULL_WARN_AFTER`]. An input
//! thread waiting on a player that is that far behind loses nothing the DAW said; dropping the
//! Stop would leave the video playing in front of the audience.

use crate::clock;
use crate::messages::PlayerInput;
use crate::parse::MidiEvent;
use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError};
use log::warn;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How many messages the player's channel holds. Generous: clock ticks do not travel in it,
/// so at the rates a DAW sends transport and timecode this is seconds of a stalled player.
pub const INPUT_CAPACITY: usize = 1024;

/// How many ticks a lane keeps one by one before it folds them: a third of a beat. A player
/// that is late by less than this still sees every tick with its own time.
pub const LANE_TICKS: usize = 8;

/// How long a sender waits on a full channel before it says so in the log.
pub const FULL_WARN_AFTER: Duration = Duration::from_millis(100);

/// The player's channel: bounded to [`INPUT_CAPACITY`] messages.
pub fn input_channel() -> (Sender<PlayerInput>, Receiver<PlayerInput>) {
    crossbeam_channel::bounded(INPUT_CAPACITY)
}

/// A parsed MIDI event with the time its bytes arrived and where they came from.
#[derive(Clone, Debug)]
pub struct TimedEvent {
    pub event: MidiEvent,
    /// When the bytes were received (monotonic clock, see [`crate::clock`]).
    pub received: Instant,
    /// When the sender meant the event, on the same clock: the network peer's time stamp or
    /// the OS backend's, mapped; `received` where there is none to trust. Never after it, but for
    /// the JACK build's OS ports: a message dated by its frame in the JACK cycle may be up to a
    /// period after the moment the cycle's callback ran.
    pub at: Instant,
    /// The source's name, e.g. the MIDI port's name.
    pub source: Arc<str>,
}

/// When one clock tick came, and when its sender meant it (both on the one clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickTime {
    /// When the bytes were received.
    pub received: Instant,
    /// When the sender meant the tick (its time stamp on our clock; the receipt time for
    /// sources without one).
    pub at: Instant,
}

/// Ticks taken out of a lane by the player, oldest first.
#[derive(Debug, Default, PartialEq)]
pub struct Ticks {
    /// Ticks kept one by one, with their own times.
    pub single: Vec<TickTime>,
    /// Ticks folded after those: how many.
    pub folded: u64,
    /// The times of the latest folded tick (`None` when none were folded).
    pub folded_latest: Option<TickTime>,
}

#[derive(Debug, Default)]
struct LaneState {
    single: VecDeque<TickTime>,
    folded: u64,
    folded_latest: Option<TickTime>,
    /// A doorbell for this lane is in the channel and the player has not taken it yet.
    doorbell_queued: bool,
}

impl LaneState {
    fn is_empty(&self) -> bool {
        self.single.is_empty() && self.folded == 0
    }
}

/// The clock ticks of one source, waiting for the player. Shared by the source's inlet (which
/// adds) and the player (which takes); each holds the lock for a few instructions.
#[derive(Debug)]
pub struct ClockLane {
    source: Arc<str>,
    state: Mutex<LaneState>,
}

impl ClockLane {
    /// An empty lane for the source called `source`.
    pub fn new(source: Arc<str>) -> Self {
        ClockLane {
            source,
            state: Mutex::new(LaneState::default()),
        }
    }

    /// The source's name.
    pub fn source(&self) -> &Arc<str> {
        &self.source
    }

    fn lock(&self) -> MutexGuard<'_, LaneState> {
        // Nothing that can panic runs under this lock; a poisoned one still holds good counts.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a tick; true when the caller must ring the doorbell (the lane was not waiting for
    /// the player already).
    fn push(&self, received: TickTime) -> bool {
        let mut s = self.lock();
        if s.folded == 0 && s.single.len() < LANE_TICKS {
            s.single.push_back(received);
        } else {
            s.folded += 1;
            s.folded_latest = Some(received);
        }
        !std::mem::replace(&mut s.doorbell_queued, true)
    }

    /// The doorbell could not be queued: the next tick (or message) tries again.
    fn doorbell_failed(&self) {
        self.lock().doorbell_queued = false;
    }

    /// True when ticks wait here with no doorbell in the channel for them.
    fn needs_doorbell(&self) -> bool {
        let s = self.lock();
        !s.doorbell_queued && !s.is_empty()
    }

    /// True when ticks wait here (with or without a doorbell).
    fn has_ticks(&self) -> bool {
        !self.lock().is_empty()
    }

    /// The player takes every waiting tick; the next tick rings again.
    pub fn take(&self) -> Ticks {
        let mut s = self.lock();
        s.doorbell_queued = false;
        Ticks {
            single: s.single.drain(..).collect(),
            folded: std::mem::take(&mut s.folded),
            folded_latest: s.folded_latest.take(),
        }
    }
}

/// An inlet's side of the lanes: where its ticks and messages go.
pub struct LaneSender {
    tx: Sender<PlayerInput>,
    lane: Arc<ClockLane>,
    /// Quarter frames dropped because the channel was full.
    dropped_quarter_frames: u64,
}

impl LaneSender {
    /// Sends into the player's channel `tx` for the source called `source`.
    pub fn new(source: Arc<str>, tx: Sender<PlayerInput>) -> Self {
        LaneSender {
            lane: Arc::new(ClockLane::new(source)),
            tx,
            dropped_quarter_frames: 0,
        }
    }

    /// A clock tick received at `received` (a source without time stamps). Never blocks.
    /// False when the player has gone.
    pub fn tick(&mut self, received: Instant) -> bool {
        self.tick_at(received, received)
    }

    /// A clock tick received at `received` that its sender meant at `at`. Never blocks.
    /// False when the player has gone.
    pub fn tick_at(&mut self, received: Instant, at: Instant) -> bool {
        if !self.lane.push(TickTime { received, at }) {
            return true;
        }
        match self.tx.try_send(PlayerInput::Clocks(self.lane.clone())) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                // The tick stays in the lane; the next tick or message rings for it.
                self.lane.doorbell_failed();
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Any other event. False when the player has gone.
    pub fn event(&mut self, event: TimedEvent) -> bool {
        // Ticks that came before this event are taken before it.
        if self.lane.needs_doorbell() && !self.send(PlayerInput::Clocks(self.lane.clone())) {
            return false;
        }
        if self.lane.has_ticks() {
            // Its doorbell is ahead of this event: later ticks must come after the event.
            self.lane = Arc::new(ClockLane::new(self.lane.source.clone()));
        }
        if let crate::parse::MidiEvent::TimecodeQuarterFrame { .. } = event.event {
            return match self.tx.try_send(PlayerInput::Midi(event)) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    self.dropped_quarter_frames += 1;
                    if self.dropped_quarter_frames.is_power_of_two() {
                        warn!(
                            "the player is behind: dropped {} timecode quarter frame(s) from {}",
                            self.dropped_quarter_frames, self.lane.source
                        );
                    }
                    true
                }
                Err(TrySendError::Disconnected(_)) => false,
            };
        }
        self.send(PlayerInput::Midi(event))
    }

    /// Sends a message that must not be lost, waiting for room if the player is that far
    /// behind. False when the player has gone.
    fn send(&self, msg: PlayerInput) -> bool {
        send_waiting(&self.tx, msg, &self.lane.source)
    }
}

/// Sends `msg` to the player, waiting for room when the channel is full (and saying so once
/// it has waited [`FULL_WARN_AFTER`]). False when the player has gone.
fn send_waiting(tx: &Sender<PlayerInput>, msg: PlayerInput, from: &str) -> bool {
    match tx.send_timeout(msg, FULL_WARN_AFTER) {
        Ok(()) => true,
        Err(SendTimeoutError::Disconnected(_)) => false,
        Err(SendTimeoutError::Timeout(msg)) => {
            let t = clock::now();
            warn!(
                "the player has {INPUT_CAPACITY} messages waiting: {from} waits for room \
                 rather than lose a message"
            );
            let sent = tx.send(msg).is_ok();
            if sent {
                warn!(
                    "the player took messages again; {from} waited {} ms more",
                    t.elapsed().as_millis()
                );
            }
            sent
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::MidiEvent;

    fn event(event: MidiEvent, received: Instant) -> TimedEvent {
        TimedEvent {
            event,
            received,
            at: received,
            source: "test".into(),
        }
    }

    #[test]
    fn ticks_fold_past_the_lane_and_ring_once() {
        let (tx, rx) = crossbeam_channel::bounded(4);
        let mut s = LaneSender::new("test".into(), tx);
        let t0 = Instant::now();
        let times: Vec<Instant> = (0..1000u64)
            .map(|i| t0 + Duration::from_micros(i * 100))
            .collect();
        for &t in &times {
            assert!(s.tick(t));
        }
        let lane = match rx.try_recv() {
            Ok(PlayerInput::Clocks(lane)) => lane,
            other => panic!("expected one doorbell, got {other:?}"),
        };
        assert!(rx.try_recv().is_err(), "one doorbell for the whole flood");
        let ticks = lane.take();
        let single: Vec<Instant> = ticks.single.iter().map(|t| t.received).collect();
        assert_eq!(single, times[..LANE_TICKS]);
        assert_eq!(ticks.folded, 1000 - LANE_TICKS as u64);
        assert_eq!(ticks.folded_latest.map(|t| t.at), times.last().copied());
        // Taken: the next tick rings again and is kept one by one.
        assert!(s.tick(t0));
        assert!(matches!(rx.try_recv(), Ok(PlayerInput::Clocks(_))));
    }

    #[test]
    fn a_message_splits_the_lane_so_order_is_kept() {
        let (tx, rx) = crossbeam_channel::bounded(16);
        let mut s = LaneSender::new("test".into(), tx);
        let t = Instant::now();
        s.tick(t);
        s.event(event(MidiEvent::Start, t));
        s.tick(t);
        s.tick(t);
        let got: Vec<PlayerInput> = rx.try_iter().collect();
        match &got[..] {
            [PlayerInput::Clocks(a), PlayerInput::Midi(e), PlayerInput::Clocks(b)] => {
                assert_eq!(e.event, MidiEvent::Start);
                assert_eq!(a.take().single.len(), 1);
                assert_eq!(b.take().single.len(), 2);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_full_channel_keeps_ticks_and_drops_only_quarter_frames() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let mut s = LaneSender::new("test".into(), tx);
        let t = Instant::now();
        s.event(event(MidiEvent::TimecodeQuarterFrame { data: 0 }, t));
        // Full: the quarter frame is dropped, the ticks wait in the lane without a doorbell.
        s.event(event(MidiEvent::TimecodeQuarterFrame { data: 1 }, t));
        s.tick(t);
        s.tick(t);
        assert_eq!(rx.len(), 1);
        assert!(matches!(rx.try_recv(), Ok(PlayerInput::Midi(_))));
        // Room again: the Stop first rings for the waiting ticks, then goes itself (the
        // player takes the doorbell meanwhile, as it would).
        let taker = std::thread::spawn(move || {
            let first = rx.recv().expect("doorbell");
            let second = rx.recv().expect("stop");
            (first, second)
        });
        assert!(s.event(event(MidiEvent::Stop, t)));
        match taker.join().expect("taker") {
            (PlayerInput::Clocks(lane), PlayerInput::Midi(e)) => {
                assert_eq!(lane.take().single.len(), 2);
                assert_eq!(e.event, MidiEvent::Stop);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(s.dropped_quarter_frames, 1);
    }
}
