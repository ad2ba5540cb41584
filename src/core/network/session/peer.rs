//! One peer as the session keeps it: who it is, where it is, when it was last heard, and
//! where its RTP sequence stands.

use std::net::SocketAddr;

use super::super::packet::SysexAssembler;
use super::peer_clock::PeerClock;
use super::PeerId;
use crate::parse::{MidiEvent, Parser};

/// Packets this far behind the newest one are late duplicates or stragglers and are dropped;
/// further behind, the sender must have restarted its sequence, and we follow it.
const LATE_WINDOW_PACKETS: u16 = 64;

/// What a sequence number says about the packet that carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Arrival {
    InOrder,
    /// This many packets were skipped before this one.
    AfterGap(u16),
    /// Older than or the same as one already seen: drop it.
    Late,
}

#[derive(Debug)]
pub(super) struct Peer {
    pub(super) id: PeerId,
    pub(super) name: String,
    pub(super) control: SocketAddr,
    /// Set once the peer was accepted on the data port: from then on it has joined.
    pub(super) data: Option<SocketAddr>,
    /// The token of the invitation that made the session, used again in our BY.
    pub(super) token: u32,
    pub(super) initiated_by_us: bool,
    /// Last invitation, CK or MIDI from it; silence past [`PEER_TIMEOUT_US`] ends it.
    pub(super) last_heard_us: u64,
    /// When we send our next CK0 (peers we invited only: the initiator keeps the clock).
    pub(super) next_clock_sync_us: u64,
    pub(super) clock_syncs_sent: u32,
    pub(super) latency_us: Option<u64>,
    pub(super) last_sequence: Option<u16>,
    pub(super) packets_received: u64,
    pub(super) packets_lost: u64,
    pub(super) sequence_gaps: u64,
    pub(super) late_packets: u64,
    pub(super) feedback_due: bool,
    pub(super) last_feedback_us: Option<u64>,
    /// Transport as the received Start/Continue/Stop left it; `None` before any.
    pub(super) running: Option<bool>,
    /// Packets were lost and no journal has covered them yet.
    pub(super) recovery_pending: bool,
    pub(super) sysex: SysexAssembler,
    /// Its messages, parsed (running status and SysEx are per peer).
    pub(super) parser: Parser,
    /// Its clock on ours, from CK exchanges, and its packets' delays.
    pub(super) clock: PeerClock,
    /// A refused time stamp was logged (once per peer: junk stamps come in every packet).
    pub(super) stamps_refusal_logged: bool,
    /// The first mapped time stamp was logged.
    pub(super) stamps_used_logged: bool,
    /// The time the last command delivered was meant, µs on our clock (`i64::MIN` before).
    pub(super) last_at_us: i64,
    /// A newcomer wants its place: it was sent a CK0 probe and must be heard to keep it.
    pub(super) probed: bool,
    /// Heard from since the probe went out.
    pub(super) answered_probe: bool,
    /// When it last proved alive while a newcomer wanted its place.
    pub(super) proven_alive_us: Option<u64>,
}

impl Peer {
    pub(super) fn new(
        id: PeerId,
        name: String,
        control: SocketAddr,
        token: u32,
        now_us: u64,
    ) -> Peer {
        Peer {
            id,
            name,
            control,
            data: None,
            token,
            initiated_by_us: false,
            last_heard_us: now_us,
            next_clock_sync_us: now_us,
            clock_syncs_sent: 0,
            latency_us: None,
            last_sequence: None,
            packets_received: 0,
            packets_lost: 0,
            sequence_gaps: 0,
            late_packets: 0,
            feedback_due: false,
            last_feedback_us: None,
            running: None,
            recovery_pending: false,
            sysex: SysexAssembler::new(),
            parser: Parser::new(),
            clock: PeerClock::new(),
            stamps_refusal_logged: false,
            stamps_used_logged: false,
            last_at_us: i64::MIN,
            probed: false,
            answered_probe: false,
            proven_alive_us: None,
        }
    }

    /// One of its messages as the session passes it on: the message, its events and how many
    /// of its bytes are not valid MIDI.
    pub(super) fn midi(&mut self, bytes: Vec<u8>, at: crate::time::Stamp) -> super::Output {
        let before = self.parser.stats().garbage_bytes;
        let mut events: Vec<MidiEvent> = Vec::new();
        self.parser.feed(&bytes, |e| events.push(e));
        super::Output::Midi {
            peer: self.id,
            bytes,
            events,
            garbage_bytes: self.parser.stats().garbage_bytes - before,
            at,
        }
    }

    /// Something (CK, MIDI, a repeated invitation) came from it now.
    pub(super) fn heard(&mut self, now_us: u64) {
        self.last_heard_us = now_us;
        if self.probed {
            self.answered_probe = true;
        }
    }

    pub(super) fn arrival(&mut self, sequence: u16) -> Arrival {
        let Some(last) = self.last_sequence else {
            self.last_sequence = Some(sequence);
            return Arrival::InOrder;
        };
        let ahead = sequence.wrapping_sub(last);
        if ahead == 0 {
            return Arrival::Late;
        }
        if ahead < 0x8000 {
            self.last_sequence = Some(sequence);
            return if ahead == 1 {
                Arrival::InOrder
            } else {
                Arrival::AfterGap(ahead - 1)
            };
        }
        if last.wrapping_sub(sequence) <= LATE_WINDOW_PACKETS {
            return Arrival::Late;
        }
        self.last_sequence = Some(sequence);
        Arrival::InOrder
    }

    pub(super) fn label(&self) -> String {
        format!("'{}' ({}, {})", self.name, self.control, self.id)
    }
}
