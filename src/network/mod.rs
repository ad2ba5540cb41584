//! Network MIDI: playhead as its own AppleMIDI / RTP-MIDI (RFC 6295) session participant, so a
//! Mac's Network MIDI or Windows rtpMIDI can connect with no other daemon.
//!
//! [`packet`] reads and writes the wire formats; [`session`] is the session state machine. Both
//! are pure (bytes and time in, packets and events out): the sockets live elsewhere.

pub mod packet;
pub mod session;
