//! Network MIDI without sockets: the AppleMIDI session protocol and RTP-MIDI (RFC 6295).
//!
//! [`packet`] encodes and decodes datagrams; [`session`] is the session state machine
//! (invitations, clock sync, peers, journals) that the program's socket threads feed.

pub mod packet;
pub mod session;
