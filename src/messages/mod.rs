//! The messages between the program's threads: what the input threads (OS MIDI ports, raw
//! devices, the network-MIDI session, LTC, Link), the keyboard, the remote page and OSC send
//! the player, and the lanes they travel in. The player and the sources both import this
//! module and neither imports the other.

pub mod lanes;
pub mod stage;

use crate::arbiter::Rig;
use crate::transport::OperatorCommand;
use crossbeam_channel::Receiver;
use lanes::{ClockLane, TimedEvent};
use playhead_core::chase::timecode::Timecode;
use std::sync::Arc;
use std::time::Instant;

/// A message to the player thread.
#[derive(Clone, Debug)]
pub enum PlayerInput {
    /// A MIDI event from any source.
    Midi(TimedEvent),
    /// A command from the operator's keyboard, with the time the key was pressed.
    Operator(OperatorCommand, Instant),
    /// A frame of linear timecode from the audio input.
    Ltc(TimedTimecode),
    /// Show or hide the operator's status overlay.
    ToggleOverlay,
    /// Clock ticks wait in this source's lane (its doorbell; see [`lanes`]).
    Clocks(Arc<ClockLane>),
    /// Tests only: the player does nothing until `release` receives or its sender is dropped,
    /// as a player stuck in a slow call would.
    #[doc(hidden)]
    Stall(Receiver<()>),
    /// Tests and benchmarks: the player sends its input counters to this channel.
    #[doc(hidden)]
    Counters(crossbeam_channel::Sender<InputCounters>),
    /// A command from the remote page or OSC, with when it arrived and who sent it (for the
    /// log).
    Remote(RemoteCommand, Instant, String),
    /// A source joined (a network-MIDI peer took into the session, an OS port connected).
    SourceJoined(Arc<str>),
    /// A source left, and why (its session said goodbye, its port went away).
    SourceLeft(Arc<str>, String),
    /// Shut down.
    Quit,
}

/// What the remote page and OSC may ask of the player.
#[derive(Clone, Debug, PartialEq)]
pub enum RemoteCommand {
    /// Play from the frame on screen (nothing when already playing).
    Play,
    /// Hold the frame, then the show's stop behaviour (nothing when not playing).
    Stop,
    /// Back to the first frame, armed.
    Arm,
    /// Select the song with this index in the setlist (from 0).
    Song(usize),
    /// Black over the picture, or take it away.
    Black(bool),
    /// Show this video position, in seconds, paused (only while not playing).
    Locate(f64),
    /// Try again the songs that could not play (a file replaced or a drive plugged back).
    Reopen,
    /// This rig leads from now on (the show's `main` and `backup`).
    Lead(Rig),
    /// Show the test card (the show's own, else one added to the setlist), or go back to the
    /// song selected before it.
    TestCard(bool),
    /// Set the latency offset to this many ms (positive: the picture earlier).
    Offset(f64),
    /// Write the offset in force into the show file (`offset_ms`).
    SaveOffset,
    /// Set this output's latency offset to this many ms (`[[output]]`, by name).
    OutputOffset(String, f64),
    /// Write this output's offset into its `[[output]]` table in the show file.
    SaveOutputOffset(String),
}

/// What the player has taken in, for tests and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InputCounters {
    /// Clock ticks the transport has counted, one by one or folded.
    pub clocks_received: u64,
    /// Clock ticks that arrived folded because the player was behind.
    pub clocks_folded: u64,
    /// Folded records taken (each one step for the transport, whatever its count).
    pub folded_records: u64,
}

/// One decoded LTC frame, timed.
#[derive(Clone, Debug)]
pub struct TimedTimecode {
    /// The time address the frame carries.
    pub timecode: Timecode,
    /// When that time was true at the DAW's output: the frame's first transition, with the
    /// input's latency taken off (one clock, see [`crate::clock`]).
    pub at: Instant,
    /// When the frame was decoded (its end had arrived).
    pub received: Instant,
    /// The frame rate measured from the frame's length, frames per second.
    pub measured_fps: f64,
    /// The signal's peak level, 1.0 = full scale.
    pub peak_level: f32,
    /// The input's name, for the log.
    pub source: Arc<str>,
}
