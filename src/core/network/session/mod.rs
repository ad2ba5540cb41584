//! One local AppleMIDI session participant and its peers, as a sans-IO state machine.
//!
//! The [`Session`] owns no socket and reads no clock. The caller receives a datagram on the
//! control port (N) or the data port (N+1) and hands it in with the time it arrived
//! ([`Session::handle_control`], [`Session::handle_data`]); it calls [`Session::poll`] when
//! [`Session::next_deadline`] comes due. Each call returns [`Output`]s: datagrams to send,
//! MIDI messages received, notices for the operator, and log lines.
//!
//! As a responder (a Mac or rtpMIDI invites us) the session answers IN on both ports, answers
//! repeated INs again (Macs resend every second until they hear back), answers CK0 with CK1,
//! sends RS receiver feedback, and drops a peer after BY or 61 s of silence. As an initiator
//! ([`Session::connect`]) it invites, never gives up re-inviting, and keeps the clock
//! synchronisation going. A peer is its SSRC: one that restarts with a new SSRC from the same
//! address, or with the same name from the same host, replaces its old self once that one fails
//! a CK0 probe (so a forged invitation cannot push out a live peer); a full session gives a
//! newcomer the place of a half-done invitation at once, or of a peer silent for 10 s (see
//! `admission`). Invitations are rate-limited per source address and log lines per source
//! (`guard`). CK or MIDI from a sender the session does not know is answered with BY, so an
//! initiator that lost us invites again. After a restart of the program, [`Session::restore`]
//! takes back the peers [`Session::remembered`] listed, so a DAW that never noticed the crash
//! is answered at once (the caller keeps the list; the session reads no file).
//!
//! When packets are lost and the next recovery journal shows that the sender's transport is
//! not what the received commands left it at (a lost Stop, a lost Start), the session makes up
//! the missing transport bytes so the video does the right thing, and says so in a notice.
//!
//! Here: the session, its public types and the peer lifecycle (timeouts, BY, removal). Beside
//! it: `admission` (invitations we answer), `link` (invitations we send), `clock_sync`, `midi`
//! (RTP-MIDI in and out, RS feedback), `guard` (names, rate limits), `recovery` (transport
//! from the journal), `peer` (one
//! peer's state and sequence tracking), `peer_clock` (the peer's clock on ours, from the CK
//! exchanges, for the time each command was meant) and `allow` (the allow-list).

mod admission;
mod allow;
mod clock_sync;
mod guard;
mod link;
mod midi;
mod peer;
mod peer_clock;
mod recovery;
#[cfg(test)]
mod test_support;

use std::fmt;

use crate::time::Stamp;
use std::net::SocketAddr;

use super::packet::{
    decode_command, decode_data, is_session_command, Exchange, MidiList, SessionCommand,
};

pub use admission::{MAKE_ROOM_SILENCE_US, PROBE_US, PROVEN_ALIVE_US};
pub use allow::Allow;
pub use clock_sync::{CLOCK_SYNC_BURST, CLOCK_SYNC_BURST_INTERVAL_US, CLOCK_SYNC_INTERVAL_US};
pub use guard::{clean_name, INVITE_BURST, INVITE_REFILL_US, MAX_NAME_CHARS};
pub use link::{INVITE_FAST_TRIES, INVITE_RETRY_US, INVITE_SLOW_RETRY_US};
pub use midi::FEEDBACK_INTERVAL_US;
pub use peer_clock::{
    PeerClock, PeerTiming, Unmapped, FUTURE_TOLERANCE_US, MAX_CLOCK_UNCERTAINTY_US, MAX_DELAY_US,
    MAX_EXCESS_DELAY_US,
};

use admission::Contender;
use allow::same_host;
use guard::{InviteLimiter, LogLimiter};
use link::{Link, LinkPhase};
use peer::Peer;

/// Silence after which a peer counts as gone: initiators send CK at least once a minute. MIDI
/// counts as a sign of life too: dropping a peer that is streaming clock in the middle of a show
/// would be worse than keeping a dead one a little longer.
pub const PEER_TIMEOUT_US: u64 = 61_000_000;

/// A peer's identity: its RTP synchronisation source, the same on both ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u32);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// Which of the two UDP ports a datagram goes out of (and to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// The control port (5004 by convention): invitations, BY, RS.
    Control,
    /// The data port (control + 1): invitations, CK, RTP-MIDI.
    Data,
}

/// Severity of a [`Output::Log`] line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Detail for whoever debugs interoperability (stray or malformed packets).
    Debug,
    /// Normal session life.
    Info,
    /// Something the operator may need to act on.
    Warn,
}

/// Why a peer left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaveReason {
    /// It sent BY.
    Bye,
    /// Nothing heard from it (no CK, no MIDI) for [`PEER_TIMEOUT_US`].
    Timeout,
    /// It came back from the same address (IP and control port) with a new SSRC: it restarted.
    Replaced,
    /// A peer of the same name came from the same host on other ports with a new SSRC: it
    /// restarted and got new ports.
    ReplacedByName {
        /// The control address it came back from.
        address: SocketAddr,
    },
    /// An invitation with its own SSRC came from other ports of its host, and it did not
    /// answer the probe: it restarted on new ports and kept its SSRC.
    Moved {
        /// The control address it came back from.
        address: SocketAddr,
    },
    /// The session was full and it had been silent (no CK, no MIDI) longest, for at least
    /// [`Options::make_room_silence_us`]: its place went to a newcomer.
    MadeRoom {
        /// How long nothing had been heard from it.
        silent_us: u64,
        /// The control address of the peer that got the place.
        newcomer: SocketAddr,
    },
}

/// Session events the operator (and the status display) should know about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// A peer remembered from before a restart ([`Session::restore`]) is in the session again,
    /// as joined: its clock sync and MIDI are answered at once.
    PeerRestored {
        /// The peer.
        peer: PeerId,
        /// Its session name.
        name: String,
        /// Its control port address.
        address: SocketAddr,
    },
    /// A peer completed the invitation on both ports and may now send MIDI.
    PeerJoined {
        /// The peer.
        peer: PeerId,
        /// Its session name.
        name: String,
        /// Its control port address.
        address: SocketAddr,
    },
    /// A joined peer is gone.
    PeerLeft {
        /// The peer.
        peer: PeerId,
        /// Its session name.
        name: String,
        /// Why.
        reason: LeaveReason,
    },
    /// An invitation from an address the allow-list refuses was answered with NO (reported
    /// once per address, though the peer may keep asking).
    Refused {
        /// Where the invitation came from.
        address: SocketAddr,
        /// The name it gave.
        name: String,
    },
    /// A peer we invited answered NO (reported once until it accepts); we keep asking, slowly.
    InvitationRejected {
        /// The control address we invited.
        address: SocketAddr,
        /// The name it gave, if any.
        name: String,
    },
    /// Packets from a peer went missing.
    SequenceGap {
        /// The peer.
        peer: PeerId,
        /// How many packets were skipped.
        lost_packets: u16,
    },
    /// After a loss, the peer's recovery journal showed a transport state the received
    /// commands had not produced; the missing Start/Continue/Stop (and Song Position) were
    /// emitted as [`Output::Midi`] right after this notice.
    TransportRecovered {
        /// The peer.
        peer: PeerId,
        /// The transport state now in force.
        running: bool,
        /// The song position the journal gave, in MIDI clocks, if it gave one.
        song_position_clocks: Option<u32>,
    },
}

/// Something the caller must do or know, returned by every [`Session`] call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send this datagram from our `port` to `to`.
    Send {
        /// Our port to send from.
        port: Port,
        /// Destination.
        to: SocketAddr,
        /// The datagram.
        bytes: Vec<u8>,
    },
    /// One complete MIDI message from a peer (SysEx reassembled), in arrival order, with
    /// what it says.
    Midi {
        /// Who sent it.
        peer: PeerId,
        /// The message, status byte first.
        bytes: Vec<u8>,
        /// Its events, parsed by the peer's own [`crate::parse::Parser`]: none for a message
        /// playhead ignores (a note, a controller) or one that is not valid MIDI.
        events: Vec<crate::parse::MidiEvent>,
        /// How many of its bytes belong to no valid MIDI message.
        garbage_bytes: u64,
        /// When the sender meant it, on our clock: its RTP time stamp and delta time mapped
        /// through the peer's clock, never after the receipt; the receipt time when the
        /// stamp is unusable (no clock sync yet, junk) or the message was made up from a
        /// recovery journal.
        at: Stamp,
    },
    /// A session event for the operator.
    Notice(Notice),
    /// A log line.
    Log {
        /// Severity.
        level: Level,
        /// The text.
        message: String,
    },
}

/// Session settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Who may join.
    pub allow: Allow,
    /// Most peers at once, joined or half-way; more invitations get NO (unless one has been
    /// silent for `make_room_silence_us`). Bounds our memory.
    pub max_peers: usize,
    /// In a full session, a newcomer gets the place of the peer silent longest once that one
    /// has heard nothing (no CK, no MIDI) for this long; [`MAKE_ROOM_SILENCE_US`] by default.
    pub make_room_silence_us: u64,
    /// A newcomer with a new SSRC at a joined peer's address (or of its name on its host) takes
    /// its place only when the old one, sent a CK0 probe, stays silent this long;
    /// [`PROBE_US`] by default.
    pub probe_us: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            allow: Allow::Everyone,
            max_peers: 16,
            make_room_silence_us: MAKE_ROOM_SILENCE_US,
            probe_us: PROBE_US,
        }
    }
}

/// A snapshot of one peer, for status displays.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerInfo {
    /// The peer.
    pub id: PeerId,
    /// Its session name.
    pub name: String,
    /// Its control port address.
    pub control_address: SocketAddr,
    /// Its data port address, once it joined on that port.
    pub data_address: Option<SocketAddr>,
    /// True when we invited it, false when it invited us.
    pub initiated_by_us: bool,
    /// RTP-MIDI packets accepted from it.
    pub packets_received: u64,
    /// Packets it sent that never arrived, by sequence number.
    pub packets_lost: u64,
    /// Times a run of packets went missing.
    pub sequence_gaps: u64,
    /// Duplicate or out-of-order packets dropped.
    pub late_packets: u64,
    /// Half the round trip of the last clock synchronisation.
    pub latency_us: Option<u64>,
    /// Its clock and network timing (base delay, jitter, clock estimate).
    pub timing: PeerTiming,
}

/// A joined peer as it is remembered across a restart of the program (see
/// [`Session::remembered`] and [`Session::restore`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RememberedPeer {
    /// Its SSRC.
    pub ssrc: u32,
    /// Its session name.
    pub name: String,
    /// Its control port address.
    pub control: SocketAddr,
    /// Its data port address.
    pub data: SocketAddr,
    /// The token of the invitation that made the session.
    pub token: u32,
    /// True when we invited it.
    pub initiated_by_us: bool,
}

/// Most answers to unknown senders remembered, so each address is told BY at most once per
/// [`STRANGER_BYE_INTERVAL_US`].
const STRANGER_MEMORY: usize = 256;

/// Shortest gap between two BYs to one unknown sender of CK or MIDI.
pub const STRANGER_BYE_INTERVAL_US: u64 = 2_000_000;

/// A snapshot of one peer's timing, for logs and status displays.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerTimingInfo {
    /// The peer.
    pub id: PeerId,
    /// Its session name.
    pub name: String,
    /// Its control port address.
    pub control_address: SocketAddr,
    /// What its clock synchronisations and packets show.
    pub timing: PeerTiming,
}

/// One local network-MIDI participant: a name, an SSRC, and its peers.
#[derive(Debug)]
pub struct Session {
    name: String,
    ssrc: u32,
    options: Options,
    peers: Vec<Peer>,
    links: Vec<Link>,
    refused: Vec<SocketAddr>,
    /// Reused for every data packet so decoding does not allocate per packet.
    scratch: MidiList,
    token_state: u64,
    send_sequence: u16,
    /// Invitations per source address.
    invites: InviteLimiter,
    /// Log lines per source address.
    log_limit: LogLimiter,
    /// Newcomers waiting while the peers they would replace are probed.
    contenders: Vec<Contender>,
    /// Unknown senders of CK or MIDI told BY, and when.
    strangers_told: Vec<(SocketAddr, u64)>,
}

fn send(out: &mut Vec<Output>, port: Port, to: SocketAddr, command: SessionCommand) {
    out.push(Output::Send {
        port,
        to,
        bytes: command.to_bytes(),
    });
}

fn log(out: &mut Vec<Output>, level: Level, message: String) {
    out.push(Output::Log { level, message });
}

/// The data port of a peer whose control port is `control`.
fn data_port_of(control: SocketAddr) -> Option<SocketAddr> {
    let port = control.port().checked_add(1)?;
    Some(SocketAddr::new(control.ip(), port))
}

impl Session {
    /// A session called `name` (what peers show in their lists) with our synchronisation source
    /// `ssrc` (pick it at random; it must differ from every peer's).
    pub fn new(name: impl Into<String>, ssrc: u32, options: Options) -> Session {
        Session {
            name: name.into(),
            ssrc,
            options,
            peers: Vec::new(),
            links: Vec::new(),
            refused: Vec::new(),
            scratch: MidiList::new(),
            token_state: u64::from(ssrc) ^ 0x5851_F42D_4C95_7F2D,
            send_sequence: 0,
            invites: InviteLimiter::default(),
            log_limit: LogLimiter::default(),
            contenders: Vec::new(),
            strangers_told: Vec::new(),
        }
    }

    /// Our session name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Our synchronisation source.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Replaces who may join from now on (host names in an allow-list resolve late, or change).
    /// Peers already in the session stay.
    pub fn set_allow(&mut self, allow: Allow) {
        self.options.allow = allow;
        // An address refused before may be allowed now; report it afresh if it is refused again.
        self.refused.clear();
    }

    /// A snapshot of every peer, joined or half-way through its invitation.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.peers
            .iter()
            .map(|p| PeerInfo {
                id: p.id,
                name: p.name.clone(),
                control_address: p.control,
                data_address: p.data,
                initiated_by_us: p.initiated_by_us,
                packets_received: p.packets_received,
                packets_lost: p.packets_lost,
                sequence_gaps: p.sequence_gaps,
                late_packets: p.late_packets,
                latency_us: p.latency_us,
                timing: p.clock.timing(),
            })
            .collect()
    }

    /// Every joined peer's clock and network timing.
    pub fn peer_timing(&self) -> Vec<PeerTimingInfo> {
        self.peers
            .iter()
            .filter(|p| p.data.is_some())
            .map(|p| PeerTimingInfo {
                id: p.id,
                name: p.name.clone(),
                control_address: p.control,
                timing: p.clock.timing(),
            })
            .collect()
    }

    /// Handles a datagram that arrived on our control port.
    pub fn handle_control(&mut self, from: SocketAddr, bytes: &[u8], now: Stamp) -> Vec<Output> {
        let now_us = now_micros(now);
        let mut out = Vec::new();
        match decode_command(bytes) {
            Ok(command) => self.on_command(Port::Control, from, command, now_us, &mut out),
            Err(e) => self.log_about(
                from,
                Level::Debug,
                format!(
                    "control port: ignored {} bytes from {from}: {e}",
                    bytes.len()
                ),
                now_us,
                &mut out,
            ),
        }
        self.settle_contenders(now_us, &mut out);
        out
    }

    /// Handles a datagram that arrived on our data port: a session command or RTP-MIDI.
    pub fn handle_data(&mut self, from: SocketAddr, bytes: &[u8], now: Stamp) -> Vec<Output> {
        let now_us = now_micros(now);
        let mut out = Vec::new();
        if is_session_command(bytes) {
            match decode_command(bytes) {
                Ok(command) => self.on_command(Port::Data, from, command, now_us, &mut out),
                Err(e) => self.log_about(
                    from,
                    Level::Debug,
                    format!("data port: ignored {} bytes from {from}: {e}", bytes.len()),
                    now_us,
                    &mut out,
                ),
            }
            self.settle_contenders(now_us, &mut out);
            return out;
        }
        let mut list = std::mem::take(&mut self.scratch);
        match decode_data(bytes, &mut list) {
            Ok(packet) => self.on_midi_packet(from, &packet, &list, now_us, &mut out),
            Err(e) => self.log_about(
                from,
                Level::Debug,
                format!("data port: ignored {} bytes from {from}: {e}", bytes.len()),
                now_us,
                &mut out,
            ),
        }
        self.scratch = list;
        if !self.contenders.is_empty() {
            self.settle_contenders(now_us, &mut out);
        }
        out
    }

    /// Runs the timers: peer timeouts, invitations, clock synchronisation, receiver feedback.
    pub fn poll(&mut self, now: Stamp) -> Vec<Output> {
        let now_us = now_micros(now);
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.peers.len() {
            if now_us.saturating_sub(self.peers[i].last_heard_us) >= PEER_TIMEOUT_US {
                self.say_bye(i, &mut out);
                self.remove_peer(i, LeaveReason::Timeout, now_us, &mut out);
            } else {
                i += 1;
            }
        }
        self.settle_contenders(now_us, &mut out);
        self.run_links(now_us, &mut out);
        self.run_clock_sync(now_us, &mut out);
        self.run_feedback(now_us, &mut out);
        self.log_limit.roll(now_us, &mut out);
        out
    }

    /// When [`Session::poll`] should next run, on the caller's clock; `None` when no timer is
    /// set. A time at or before now means at once.
    pub fn next_deadline(&self) -> Option<Stamp> {
        self.next_deadline_us()
            .map(|us| Stamp::from_micros(i64::try_from(us).unwrap_or(i64::MAX)))
    }

    fn next_deadline_us(&self) -> Option<u64> {
        let peers = self.peers.iter().flat_map(|p| {
            let timeout = Some(p.last_heard_us.saturating_add(PEER_TIMEOUT_US));
            let clock_sync =
                (p.initiated_by_us && p.data.is_some()).then_some(p.next_clock_sync_us);
            let feedback = p.feedback_due.then(|| {
                p.last_feedback_us
                    .map_or(0, |t| t.saturating_add(FEEDBACK_INTERVAL_US))
            });
            [timeout, clock_sync, feedback]
        });
        let links = self
            .links
            .iter()
            .filter(|l| l.phase != LinkPhase::Connected)
            .map(|l| Some(l.next_us));
        let contenders = self.contenders.iter().map(|c| Some(c.deadline_us));
        peers
            .chain(links)
            .chain(contenders)
            .chain(std::iter::once(self.log_limit.deadline_us()))
            .flatten()
            .min()
    }

    /// Says BY to every peer and forgets them and every invitation; for a clean exit.
    pub fn close(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        for p in self.peers.drain(..) {
            let bye = SessionCommand::End(Exchange {
                initiator_token: p.token,
                ssrc: self.ssrc,
                name: None,
            });
            send(&mut out, Port::Control, p.control, bye);
        }
        self.links.clear();
        self.contenders.clear();
        out
    }

    /// The joined peers, as a restarted program needs them to carry on the session.
    pub fn remembered(&self) -> Vec<RememberedPeer> {
        self.peers
            .iter()
            .filter_map(|p| {
                Some(RememberedPeer {
                    ssrc: p.id.0,
                    name: p.name.clone(),
                    control: p.control,
                    data: p.data?,
                    token: p.token,
                    initiated_by_us: p.initiated_by_us,
                })
            })
            .collect()
    }

    /// Takes back peers remembered from before a restart (the program crashed, the peers did
    /// not notice), as joined, so their clock sync and MIDI are answered at once: a DAW that
    /// invited us never invites again while it believes it is connected. Call it on a fresh
    /// session made with the SSRC the peers knew. Peers that we invited are left out: the
    /// session invites those again itself ([`Session::connect`]). So are peers the allow-list
    /// refuses now, and any beyond the session's limit. A restored peer that stays silent
    /// leaves by the usual timeout.
    pub fn restore(&mut self, peers: &[RememberedPeer], now: Stamp) -> Vec<Output> {
        let now_us = now_micros(now);
        let mut out = Vec::new();
        for r in peers {
            let name = clean_name(&r.name);
            let why_not = if r.initiated_by_us {
                Some("we invited it, so we invite it again")
            } else if r.ssrc == self.ssrc {
                Some("it has our SSRC")
            } else if self.peer_index(r.ssrc).is_some() {
                Some("its SSRC is in the session already")
            } else if !self.options.allow.permits(r.control) {
                Some("--allow refuses it now")
            } else if self.peers.len() >= self.options.max_peers {
                Some("the session is full")
            } else {
                None
            };
            if let Some(why) = why_not {
                log(
                    &mut out,
                    Level::Debug,
                    format!(
                        "not restoring '{name}' ({}, {:08x}): {why}",
                        r.control, r.ssrc
                    ),
                );
                continue;
            }
            let mut p = Peer::new(PeerId(r.ssrc), name, r.control, r.token, now_us);
            p.data = Some(r.data);
            out.push(Output::Notice(Notice::PeerRestored {
                peer: p.id,
                name: p.name.clone(),
                address: p.control,
            }));
            self.peers.push(p);
        }
        out
    }

    /// A log line about something `from` sent: rate-limited per source address.
    fn log_about(
        &mut self,
        from: SocketAddr,
        level: Level,
        message: String,
        now_us: u64,
        out: &mut Vec<Output>,
    ) {
        self.log_limit.log(from.ip(), level, message, now_us, out);
    }

    /// CK or MIDI from `from` that belongs to no peer: the sender believes it is in a session
    /// with us that we do not know (we restarted and lost it, or dropped it). BY to its
    /// control port (the port below, by convention) makes an initiator that listens to BY
    /// start over and invite again; at most once per [`STRANGER_BYE_INTERVAL_US`] per
    /// address. Nothing is sent to an address a peer of the session uses: stale packets of a
    /// replaced SSRC must not end the session of the program that replaced it.
    fn tell_stranger(&mut self, from: SocketAddr, now_us: u64, out: &mut Vec<Output>) {
        if self
            .peers
            .iter()
            .any(|p| same_host(p.control, from) && (p.control == from || p.data == Some(from)))
            || self.contenders.iter().any(|c| c.from.ip() == from.ip())
        {
            return;
        }
        let control = match from.port().checked_sub(1) {
            Some(port) if port > 0 => SocketAddr::new(from.ip(), port),
            _ => return,
        };
        if self.peers.iter().any(|p| p.control == control) {
            return;
        }
        if let Some(i) = self.strangers_told.iter().position(|(a, _)| *a == control) {
            if now_us
                < self.strangers_told[i]
                    .1
                    .saturating_add(STRANGER_BYE_INTERVAL_US)
            {
                return;
            }
            self.strangers_told.remove(i);
        }
        if self.strangers_told.len() >= STRANGER_MEMORY {
            self.strangers_told.remove(0);
        }
        self.strangers_told.push((control, now_us));
        let bye = SessionCommand::End(Exchange {
            initiator_token: 0,
            ssrc: self.ssrc,
            name: None,
        });
        send(out, Port::Control, control, bye);
        self.log_about(
            from,
            Level::Info,
            format!(
                "{from} sends to a session we do not know (from before a restart?): told it BY \
                 at {control} so that it invites again"
            ),
            now_us,
            out,
        );
    }

    fn next_token(&mut self, now_us: u64) -> u32 {
        // splitmix64: tokens only need to differ between invitations, not be secret.
        self.token_state = self
            .token_state
            .wrapping_add(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(now_us);
        let mut z = self.token_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as u32
    }

    fn our_exchange(&self, initiator_token: u32) -> Exchange {
        Exchange {
            initiator_token,
            ssrc: self.ssrc,
            name: Some(self.name.clone()),
        }
    }

    fn refusal(&self, initiator_token: u32) -> SessionCommand {
        SessionCommand::Rejected(Exchange {
            initiator_token,
            ssrc: self.ssrc,
            name: None,
        })
    }

    fn peer_index(&self, ssrc: u32) -> Option<usize> {
        self.peers.iter().position(|p| p.id.0 == ssrc)
    }

    fn on_command(
        &mut self,
        port: Port,
        from: SocketAddr,
        command: SessionCommand,
        now_us: u64,
        out: &mut Vec<Output>,
    ) {
        match command {
            SessionCommand::Invitation(x) => self.on_invitation(port, from, x, now_us, out),
            SessionCommand::Accepted(x) => self.on_accepted(port, from, x, now_us, out),
            SessionCommand::Rejected(x) => self.on_rejected(from, x, now_us, out),
            SessionCommand::End(x) => self.on_end(from, x, now_us, out),
            SessionCommand::ClockSync(ck) => self.on_clock_sync(port, from, ck, now_us, out),
            // We keep no history of what we sent, so there is nothing to trim.
            SessionCommand::ReceiverFeedback(_) => {}
        }
    }

    fn on_end(&mut self, from: SocketAddr, x: Exchange, now_us: u64, out: &mut Vec<Output>) {
        if let Some(i) = self
            .peers
            .iter()
            .position(|p| p.id.0 == x.ssrc && same_host(p.control, from))
        {
            self.remove_peer(i, LeaveReason::Bye, now_us, out);
            return;
        }
        if let Some(li) = self.link_for_answer(from, x.initiator_token) {
            // It left half-way through our invitation: start over.
            self.links[li].phase = LinkPhase::Control;
            self.links[li].next_us = now_us.saturating_add(INVITE_RETRY_US);
            return;
        }
        self.log_about(
            from,
            Level::Debug,
            format!("stray BY from {from}"),
            now_us,
            out,
        );
    }

    /// BY to the joined peer at `index`, which we are about to drop while it may still be there
    /// but deaf to us: told the session is over, it invites afresh rather than talk to no one.
    fn say_bye(&self, index: usize, out: &mut Vec<Output>) {
        let Some(p) = self.peers.get(index).filter(|p| p.data.is_some()) else {
            return;
        };
        let bye = SessionCommand::End(Exchange {
            initiator_token: p.token,
            ssrc: self.ssrc,
            name: None,
        });
        send(out, Port::Control, p.control, bye);
    }

    fn remove_peer(
        &mut self,
        index: usize,
        reason: LeaveReason,
        now_us: u64,
        out: &mut Vec<Output>,
    ) {
        let p = self.peers.remove(index);
        if p.data.is_some() {
            out.push(Output::Notice(Notice::PeerLeft {
                peer: p.id,
                name: p.name.clone(),
                reason,
            }));
        } else {
            // The operator never saw it join, but should see why a place was taken from it.
            let level = match reason {
                LeaveReason::MadeRoom { .. }
                | LeaveReason::ReplacedByName { .. }
                | LeaveReason::Moved { .. } => Level::Info,
                _ => Level::Debug,
            };
            self.log_about(
                p.control,
                level,
                format!(
                    "dropped half-done invitation from {} ({reason:?})",
                    p.label()
                ),
                now_us,
                out,
            );
        }
        // A peer we keep in the session is invited again.
        for i in 0..self.links.len() {
            if self.links[i].control == p.control {
                let token = self.next_token(now_us);
                let link = &mut self.links[i];
                link.phase = LinkPhase::Control;
                link.token = token;
                link.tries = 0;
                link.next_us = now_us.saturating_add(INVITE_RETRY_US);
            }
        }
    }
}

/// The session counts in unsigned microseconds inside; the clock's origin is the program's
/// start, so a stamp before it is taken as the origin.
fn now_micros(now: Stamp) -> u64 {
    u64::try_from(now.micros()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::super::packet::ClockSync;
    use super::test_support::*;
    use super::*;

    #[test]
    fn bye_ends_the_peer() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        let out = s.handle_control(mac_control(), &bye(MAC_SSRC), us(1_000));
        assert_eq!(
            notices(&out),
            vec![Notice::PeerLeft {
                peer: PeerId(MAC_SSRC),
                name: "Mac".into(),
                reason: LeaveReason::Bye
            }]
        );
        assert!(s.peers().is_empty());
        let out = s.handle_data(mac_data(), &data_packet(MAC_SSRC, 1, &[&[0xFA]]), us(2_000));
        assert!(midi(&out).is_empty(), "no MIDI from a peer that left");
    }

    #[test]
    fn bye_from_another_host_with_the_same_ssrc_is_ignored() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        let out = s.handle_control(addr(66, 5004), &bye(MAC_SSRC), us(1_000));
        assert!(notices(&out).is_empty());
        assert_eq!(s.peers().len(), 1);
    }

    #[test]
    fn silent_peer_times_out_at_61_s_not_at_59_s() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        let out = s.poll(us(59_000_000));
        assert!(notices(&out).is_empty());
        assert_eq!(s.peers().len(), 1);
        let out = s.poll(us(61_000_000));
        assert_eq!(
            notices(&out),
            vec![Notice::PeerLeft {
                peer: PeerId(MAC_SSRC),
                name: "Mac".into(),
                reason: LeaveReason::Timeout
            }]
        );
        assert!(matches!(
            sent(&out)[..],
            [(Port::Control, to, SessionCommand::End(_))] if to == mac_control()
        ));
        assert!(s.peers().is_empty());
    }

    #[test]
    fn no_panic_on_random_traffic_and_state_stays_usable() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        let seeds = [
            invitation(5, "x"),
            bye(5),
            clock_sync(MAC_SSRC, 1, [1, 2, 3]),
            data_packet(MAC_SSRC, 9, &[&[0xF0, 1, 0xF0]]),
            packet_with_journal(MAC_SSRC, 30, &[&[0xFA]], true, Some(5)),
        ];
        let mut rng = 0xDEAD_BEEF_CAFE_F00Du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for i in 0..20_000u64 {
            let mut bytes = seeds[(next() % seeds.len() as u64) as usize].clone();
            let cut = (next() as usize) % (bytes.len() + 1);
            bytes.truncate(cut.max(1));
            for _ in 0..next() % 4 {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            let from = addr((next() % 3) as u8 + 9, 5004 + (next() % 2) as u16);
            let now = i * 10_000;
            if next() % 2 == 0 {
                s.handle_control(from, &bytes, us(now));
            } else {
                s.handle_data(from, &bytes, us(now));
            }
            s.poll(us(now));
        }
        // Whatever happened, a fresh invitation still works.
        let out = join(&mut s, addr(50, 5004), 0x5050_5050, 300_000_000);
        assert!(notices(&out).contains(&Notice::PeerJoined {
            peer: PeerId(0x5050_5050),
            name: "Mac".into(),
            address: addr(50, 5004)
        }));
    }

    #[test]
    fn close_says_bye_to_everyone() {
        let mut s = session();
        join(&mut s, addr(20, 5004), 0xA, 0);
        join(&mut s, addr(21, 5004), 0xB, 0);
        let out = s.close();
        let byes: Vec<_> = sent(&out).into_iter().map(|(p, to, _)| (p, to)).collect();
        assert_eq!(
            byes,
            vec![
                (Port::Control, addr(20, 5004)),
                (Port::Control, addr(21, 5004))
            ]
        );
        assert!(s.peers().is_empty());
        assert_eq!(s.next_deadline_us(), None);
    }

    fn remembered_mac() -> RememberedPeer {
        RememberedPeer {
            ssrc: MAC_SSRC,
            name: "Mac".into(),
            control: mac_control(),
            data: mac_data(),
            token: MAC_TOKEN,
            initiated_by_us: false,
        }
    }

    #[test]
    fn remembered_lists_joined_peers_and_restore_takes_them_back_as_joined() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        // Half-way through its invitation: not remembered.
        s.handle_control(addr(20, 5004), &invitation(0x2020, "half"), us(0));
        assert_eq!(s.remembered(), vec![remembered_mac()]);

        // The program restarts with the same SSRC and takes the Mac back.
        let mut s = session();
        let out = s.restore(&[remembered_mac()], us(5_000_000));
        assert_eq!(
            notices(&out),
            vec![Notice::PeerRestored {
                peer: PeerId(MAC_SSRC),
                name: "Mac".into(),
                address: mac_control()
            }]
        );
        assert!(sent(&out).is_empty());
        // Its clock sync is answered and its MIDI delivered at once, with no new invitation.
        let out = s.handle_data(
            mac_data(),
            &clock_sync(MAC_SSRC, 0, [7, 0, 0]),
            us(5_100_000),
        );
        assert!(matches!(
            sent(&out)[..],
            [(Port::Data, to, SessionCommand::ClockSync(ClockSync { count: 1, ssrc: OUR_SSRC, .. }))] if to == mac_data()
        ));
        let out = s.handle_data(
            mac_data(),
            &data_packet(MAC_SSRC, 40, &[&[0xF2, 0, 0], &[0xFA]]),
            us(5_200_000),
        );
        assert_eq!(
            midi(&out),
            vec![
                (PeerId(MAC_SSRC), vec![0xF2, 0, 0]),
                (PeerId(MAC_SSRC), vec![0xFA])
            ]
        );
        // A repeated invitation of the same SSRC is answered as before, with no second join.
        let out = join(&mut s, mac_control(), MAC_SSRC, 6_000_000);
        assert!(notices(&out).is_empty());
        assert_eq!(s.peers().len(), 1);
    }

    #[test]
    fn a_restored_peer_that_stays_silent_times_out() {
        let mut s = session();
        s.restore(&[remembered_mac()], us(1_000_000));
        let out = s.poll(us(1_000_000 + PEER_TIMEOUT_US));
        assert_eq!(
            notices(&out),
            vec![Notice::PeerLeft {
                peer: PeerId(MAC_SSRC),
                name: "Mac".into(),
                reason: LeaveReason::Timeout
            }]
        );
    }

    #[test]
    fn restore_leaves_out_peers_we_invited_refused_ones_and_junk_names_are_cleaned() {
        let mut s = Session::new(
            "playhead",
            OUR_SSRC,
            Options {
                allow: Allow::Addresses(vec![mac_control().ip()]),
                ..Options::default()
            },
        );
        let ours = RememberedPeer {
            initiated_by_us: true,
            ssrc: 2,
            ..remembered_mac()
        };
        let outsider = RememberedPeer {
            ssrc: 3,
            control: addr(99, 5004),
            data: addr(99, 5005),
            ..remembered_mac()
        };
        let odd = RememberedPeer {
            name: format!("a\nb{}", "z".repeat(100)),
            ..remembered_mac()
        };
        s.restore(&[ours, outsider, odd], us(0));
        let peers = s.peers();
        assert_eq!(peers.len(), 1);
        assert_eq!(peers[0].id, PeerId(MAC_SSRC));
        assert!(peers[0].name.starts_with("a b"));
        assert_eq!(peers[0].name.chars().count(), MAX_NAME_CHARS + 1);
    }

    #[test]
    fn an_unknown_sender_of_clock_sync_or_midi_is_told_bye_at_most_every_2_s() {
        let mut s = session();
        let byes = |out: &[Output]| -> Vec<SocketAddr> {
            sent(out)
                .into_iter()
                .filter(|(port, _, c)| {
                    *port == Port::Control
                        && matches!(c, SessionCommand::End(x) if x.ssrc == OUR_SSRC)
                })
                .map(|(_, to, _)| to)
                .collect()
        };
        let out = s.handle_data(mac_data(), &clock_sync(MAC_SSRC, 0, [1, 0, 0]), us(0));
        assert_eq!(byes(&out), vec![mac_control()]);
        let mut told = 0;
        for k in 1..=100u64 {
            let out = s.handle_data(
                mac_data(),
                &data_packet(MAC_SSRC, k as u16, &[&[0xF8]]),
                us(k * 30_000),
            );
            assert!(midi(&out).is_empty());
            told += byes(&out).len();
        }
        // 3 s of clock: one more BY, at 2 s.
        assert_eq!(told, 1);
        // Stale packets of an SSRC replaced at a peer's address are not answered with BY.
        join(&mut s, mac_control(), 0x4444, 4_000_000);
        let out = s.handle_data(
            mac_data(),
            &data_packet(MAC_SSRC, 999, &[&[0xF8]]),
            us(9_000_000),
        );
        assert!(byes(&out).is_empty());
    }
}
