//! playhead: starts a show's video on the exact frame when the DAW presses play.
//!
//! The program around the pure core. The data path, in the order bytes travel it:
//! [`sources`] (OS MIDI ports, raw devices, network MIDI with mDNS) stamp bytes on receipt
//! with the one [`clock`], parse them with the core's parser and push events into the
//! player's channel; the [`player`] thread runs the core's transport state machine and drives
//! libmpv (`playhead-mpv`); the [`screen`] (the window on the main thread, or a headless
//! software screen) draws the frames and keeps the display awake. [`preflight`] checks a show
//! before doors open, [`cli`] is the command line, [`watchdog`] ends the program loudly when
//! a thread dies or hangs, [`state_dir`] keeps what must survive a crash, and
//! [`error::Error`] is what the operator is told when the show cannot run. [`remote`] (the
//! status page) and [`osc`] read the status the player publishes and send it commands through
//! its channel, never waiting for it.
//!
//! The core's modules are re-exported under their own names (`playhead::transport` is
//! `playhead_core::transport`), so a path says which layer a type lives in only once.

pub use playhead_core::{
    arbiter, chase, ltc, outputs, parse, plan, setlist, show, stop, time, transport,
};
pub use playhead_mpv as mpv;

pub mod cli;
pub mod clock;
pub mod error;
pub mod messages;
pub mod osc;
pub mod player;
pub mod preflight;
pub mod remote;
pub mod screen;
pub mod sources;
pub mod state_dir;
pub mod test_card;
pub mod watchdog;
