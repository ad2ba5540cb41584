//! playhead-core: the pure part of playhead. Bytes and times in, events and cues out.
//!
//! The data path, in the order bytes travel it: [`parse`] turns MIDI bytes into events; the
//! [`network`] session turns AppleMIDI/RTP-MIDI datagrams into MIDI bytes and answers; the
//! [`transport`] state machine turns events into [`transport::Cue`]s for the player, using
//! [`chase`] (song position, tempo, timecode, drift) to follow the DAW anywhere in a song;
//! [`ltc`] decodes linear timecode from audio samples; [`show`] is the show model and its file
//! format. [`plan`] says which frame a deck shows when for a start, and [`stop`] what follows
//! a Stop and when; [`setlist`] which deck holds which song. [`time`] is the one way to say "when"; [`backend_clock`] puts an OS MIDI backend's
//! event stamps on that clock. [`wire`] bounds and decodes what the operator's remote reads
//! from the network (OSC datagrams, HTTP request heads).
//!
//! What it does not do: read a clock, open a socket or a file (but for [`show::Show::load`]),
//! start a thread, draw, or talk to libmpv. The `playhead` program does all of that around it.

pub mod arbiter;
pub mod backend_clock;
pub mod chase;
pub mod ltc;
pub mod network;
pub mod outputs;
pub mod parse;
pub mod plan;
pub mod rng;
pub mod setlist;
pub mod show;
pub mod stop;
pub mod test_card;
pub mod time;
pub mod transport;
pub mod wire;
