//! playhead: starts a show's video on the exact frame when the DAW presses play.
//!
//! The data path, one module each: MIDI bytes arrive on [`input`] threads, are parsed by
//! [`parse`], turned into cues by the [`transport`] state machine on the [`player`] thread,
//! which drives libmpv ([`mpv`]); the main thread's [`screen`] draws the frames (or
//! [`headless`] draws them in memory). [`clock`] is the one clock every timestamp comes from.

pub mod bench;
pub mod chase;
pub mod cli;
pub mod clock;
pub mod framecode;
pub mod headless;
pub mod input;
pub mod kiosk;
pub mod mpv;
pub mod network;
pub mod parse;
pub mod player;
pub mod preflight;
pub mod screen;
pub mod screensaver;
pub mod show;
pub mod transport;
