//! One local AppleMIDI session participant and its peers, as a sans-IO state machine.
//!
//! The [`Session`] owns no socket and reads no clock. The caller receives a datagram on the
//! control port (N) or the data port (N+1) and hands it in with the time it arrived
//! ([`Session::handle_control`], [`Session::handle_data`]); it calls [`Session::poll`] when
//! [`Session::next_deadline_us`] comes due. Each call returns [`Output`]s: datagrams to send,
//! MIDI messages received, notices for the operator, and log lines.
//!
//! As a responder (a Mac or rtpMIDI invites us) the session answers IN on both ports, answers
//! repeated INs again (Macs resend every second until they hear back), answers CK0 with CK1,
//! sends RS receiver feedback, and drops a peer after BY or 61 s of silence. As an initiator
//! ([`Session::connect`]) it invites, never gives up re-inviting, and keeps the clock
//! synchronisation going. A peer is its SSRC: one that restarts with a new SSRC from the same
//! address replaces its old self at once.
//!
//! When packets are lost and the next recovery journal shows that the sender's transport is
//! not what the received commands left it at (a lost Stop, a lost Start), the session makes up
//! the missing transport bytes so the video does the right thing, and says so in a notice.

use std::fmt;

use crate::time::Stamp;
use std::net::{IpAddr, SocketAddr};

use super::packet::{
    decode_command, decode_data, decode_journal, encode_data, is_session_command,
    system_transport_state, ClockSync, DataPacket, Exchange, JournalTransport, MidiList,
    ReceiverFeedback, RtpHeader, SessionCommand, SysexAssembler,
};

/// Silence after which a peer counts as gone: initiators send CK at least once a minute. MIDI
/// counts as a sign of life too: dropping a peer that is streaming clock in the middle of a show
/// would be worse than keeping a dead one a little longer.
pub const PEER_TIMEOUT_US: u64 = 61_000_000;

/// Gap between invitations while the other side has not answered.
pub const INVITE_RETRY_US: u64 = 1_000_000;

/// Gap between invitations once [`INVITE_FAST_TRIES`] went unanswered (or were refused).
pub const INVITE_SLOW_RETRY_US: u64 = 5_000_000;

/// Invitations sent a second apart before slowing down, as a Mac does.
pub const INVITE_FAST_TRIES: u32 = 12;

/// Clock synchronisations sent in quick succession after joining, so latency is known early.
pub const CLOCK_SYNC_BURST: u32 = 6;

/// Gap between the clock synchronisations of the first burst.
pub const CLOCK_SYNC_BURST_INTERVAL_US: u64 = 1_000_000;

/// Gap between clock synchronisations after the first burst; well inside the peer's timeout.
pub const CLOCK_SYNC_INTERVAL_US: u64 = 10_000_000;

/// Shortest gap between two RS receiver feedback packets to one peer.
pub const FEEDBACK_INTERVAL_US: u64 = 1_000_000;

/// Packets this far behind the newest one are late duplicates or stragglers and are dropped;
/// further behind, the sender must have restarted its sequence, and we follow it.
const LATE_WINDOW_PACKETS: u16 = 64;

/// How many refused addresses are remembered so each is reported once.
const REFUSED_MEMORY: usize = 64;

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
    /// It came back from the same address with a new SSRC (it restarted).
    Replaced,
}

/// Session events the operator (and the status display) should know about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
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
    /// One complete MIDI message from a peer (SysEx reassembled), in arrival order.
    Midi {
        /// Who sent it.
        peer: PeerId,
        /// The message, status byte first.
        bytes: Vec<u8>,
        /// When the packet carrying it was handed in, on the caller's clock.
        received_us: u64,
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

/// Who may join the session.
#[derive(Clone, Debug)]
pub enum Allow {
    /// Any address.
    Everyone,
    /// Only these hosts (any port).
    Addresses(Vec<IpAddr>),
    /// Only hosts inside these networks, each an address and a prefix length in bits
    /// (`192.168.1.0/24` is `(192.168.1.0, 24)`; a single host has 32, or 128 for IPv6).
    Networks(Vec<(IpAddr, u8)>),
    /// A caller's rule.
    Check(fn(SocketAddr) -> bool),
}

impl Allow {
    /// True when an invitation from `address` may be accepted.
    pub fn permits(&self, address: SocketAddr) -> bool {
        match self {
            Allow::Everyone => true,
            Allow::Addresses(hosts) => {
                let ip = canonical(address.ip());
                hosts.iter().any(|h| canonical(*h) == ip)
            }
            Allow::Check(rule) => rule(address),
            Allow::Networks(networks) => {
                let ip = canonical(address.ip());
                networks
                    .iter()
                    .any(|&(net, prefix_bits)| in_network(ip, canonical(net), prefix_bits))
            }
        }
    }
}

/// True when `ip` lies in the network `net`/`prefix_bits` (same address family only).
fn in_network(ip: IpAddr, net: IpAddr, prefix_bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let bits = u32::from(prefix_bits.min(32));
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let bits = u32::from(prefix_bits.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// A dual-stack socket reports IPv4 peers as `::ffff:a.b.c.d`; compare them as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Session settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Who may join.
    pub allow: Allow,
    /// Most peers at once, joined or half-way; more invitations get NO. Bounds our memory.
    pub max_peers: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            allow: Allow::Everyone,
            max_peers: 16,
        }
    }
}

/// A snapshot of one peer, for status displays.
#[derive(Clone, Debug, PartialEq, Eq)]
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
}

/// What a sequence number says about the packet that carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arrival {
    InOrder,
    /// This many packets were skipped before this one.
    AfterGap(u16),
    /// Older than or the same as one already seen: drop it.
    Late,
}

#[derive(Debug)]
struct Peer {
    id: PeerId,
    name: String,
    control: SocketAddr,
    /// Set once the peer was accepted on the data port: from then on it has joined.
    data: Option<SocketAddr>,
    /// The token of the invitation that made the session, used again in our BY.
    token: u32,
    initiated_by_us: bool,
    /// Last invitation, CK or MIDI from it; silence past [`PEER_TIMEOUT_US`] ends it.
    last_heard_us: u64,
    /// When we send our next CK0 (peers we invited only: the initiator keeps the clock).
    next_clock_sync_us: u64,
    clock_syncs_sent: u32,
    latency_us: Option<u64>,
    last_sequence: Option<u16>,
    packets_received: u64,
    packets_lost: u64,
    sequence_gaps: u64,
    late_packets: u64,
    feedback_due: bool,
    last_feedback_us: Option<u64>,
    /// Transport as the received Start/Continue/Stop left it; `None` before any.
    running: Option<bool>,
    /// Packets were lost and no journal has covered them yet.
    recovery_pending: bool,
    sysex: SysexAssembler,
}

impl Peer {
    fn new(id: PeerId, name: String, control: SocketAddr, token: u32, now_us: u64) -> Peer {
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
        }
    }

    fn arrival(&mut self, sequence: u16) -> Arrival {
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

    fn label(&self) -> String {
        format!("'{}' ({}, {})", self.name, self.control, self.id)
    }
}

/// Where an invitation we send stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum LinkPhase {
    /// Inviting on the control port.
    Control,
    /// The control port accepted; inviting on the data port.
    Data,
    /// Joined; nothing to send until the peer leaves.
    Connected,
}

/// A peer we keep inviting, for as long as the session lives.
#[derive(Debug)]
struct Link {
    control: SocketAddr,
    phase: LinkPhase,
    token: u32,
    tries: u32,
    next_us: u64,
    rejection_reported: bool,
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

fn same_host(a: SocketAddr, b: SocketAddr) -> bool {
    canonical(a.ip()) == canonical(b.ip())
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
            })
            .collect()
    }

    /// Starts inviting the participant whose control port is `to`, and keeps it in the
    /// session: re-invited every second until it answers (every 5 s after 12 tries), and again
    /// whenever it leaves or times out.
    pub fn connect(&mut self, to: SocketAddr, now: Stamp) -> Vec<Output> {
        let now_us = now_micros(now);
        let mut out = Vec::new();
        if self.links.iter().any(|l| l.control == to) {
            log(&mut out, Level::Debug, format!("already inviting {to}"));
            return out;
        }
        let token = self.next_token(now_us);
        self.links.push(Link {
            control: to,
            phase: LinkPhase::Control,
            token,
            tries: 0,
            next_us: now_us,
            rejection_reported: false,
        });
        self.run_links(now_us, &mut out);
        out
    }

    /// Handles a datagram that arrived on our control port.
    pub fn handle_control(&mut self, from: SocketAddr, bytes: &[u8], now: Stamp) -> Vec<Output> {
        let now_us = now_micros(now);
        let mut out = Vec::new();
        match decode_command(bytes) {
            Ok(command) => self.on_command(Port::Control, from, command, now_us, &mut out),
            Err(e) => log(
                &mut out,
                Level::Debug,
                format!(
                    "control port: ignored {} bytes from {from}: {e}",
                    bytes.len()
                ),
            ),
        }
        out
    }

    /// Handles a datagram that arrived on our data port: a session command or RTP-MIDI.
    pub fn handle_data(&mut self, from: SocketAddr, bytes: &[u8], now: Stamp) -> Vec<Output> {
        let now_us = now_micros(now);
        let mut out = Vec::new();
        if is_session_command(bytes) {
            match decode_command(bytes) {
                Ok(command) => self.on_command(Port::Data, from, command, now_us, &mut out),
                Err(e) => log(
                    &mut out,
                    Level::Debug,
                    format!("data port: ignored {} bytes from {from}: {e}", bytes.len()),
                ),
            }
            return out;
        }
        let mut list = std::mem::take(&mut self.scratch);
        match decode_data(bytes, &mut list) {
            Ok(packet) => self.on_midi_packet(from, &packet, &list, now_us, &mut out),
            Err(e) => log(
                &mut out,
                Level::Debug,
                format!("data port: ignored {} bytes from {from}: {e}", bytes.len()),
            ),
        }
        self.scratch = list;
        out
    }

    /// Runs the timers: peer timeouts, invitations, clock synchronisation, receiver feedback.
    pub fn poll(&mut self, now: Stamp) -> Vec<Output> {
        let now_us = now_micros(now);
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.peers.len() {
            let p = &self.peers[i];
            if now_us.saturating_sub(p.last_heard_us) >= PEER_TIMEOUT_US {
                if p.data.is_some() {
                    // It may still be there but deaf to us: tell it the session is over, so it
                    // invites afresh rather than talk to no one.
                    let bye = SessionCommand::End(Exchange {
                        initiator_token: p.token,
                        ssrc: self.ssrc,
                        name: None,
                    });
                    send(&mut out, Port::Control, p.control, bye);
                }
                self.remove_peer(i, LeaveReason::Timeout, now_us, &mut out);
            } else {
                i += 1;
            }
        }
        self.run_links(now_us, &mut out);
        self.run_clock_sync(now_us, &mut out);
        self.run_feedback(now_us, &mut out);
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
        peers.chain(links).flatten().min()
    }

    /// Sends MIDI messages (each complete, with its status byte) to every joined peer in one
    /// packet stamped `now_us`.
    pub fn send_midi(&mut self, messages: &[&[u8]], now: Stamp) -> Vec<Output> {
        let now_us = now_micros(now);
        let mut out = Vec::new();
        let commands: Vec<(u32, &[u8])> = messages.iter().map(|m| (0, *m)).collect();
        let header = RtpHeader {
            marker: false,
            sequence_number: self.send_sequence,
            timestamp_100us: (now_us / 100) as u32,
            ssrc: self.ssrc,
        };
        let mut bytes = Vec::new();
        if let Err(e) = encode_data(&header, &commands, &mut bytes) {
            log(&mut out, Level::Warn, format!("MIDI not sent: {e}"));
            return out;
        }
        self.send_sequence = self.send_sequence.wrapping_add(1);
        for p in &self.peers {
            if let Some(to) = p.data {
                out.push(Output::Send {
                    port: Port::Data,
                    to,
                    bytes: bytes.clone(),
                });
            }
        }
        out
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
        out
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

    fn on_invitation(
        &mut self,
        port: Port,
        from: SocketAddr,
        x: Exchange,
        now_us: u64,
        out: &mut Vec<Output>,
    ) {
        let name = x.name.clone().unwrap_or_default();
        if !self.options.allow.permits(from) {
            send(out, port, from, self.refusal(x.initiator_token));
            if !self.refused.contains(&from) {
                if self.refused.len() >= REFUSED_MEMORY {
                    self.refused.remove(0);
                }
                self.refused.push(from);
                out.push(Output::Notice(Notice::Refused {
                    address: from,
                    name,
                }));
            }
            return;
        }
        if x.ssrc == self.ssrc {
            send(out, port, from, self.refusal(x.initiator_token));
            log(
                out,
                Level::Warn,
                format!(
                    "refused '{name}' at {from}: it uses our own SSRC {:08x}",
                    x.ssrc
                ),
            );
            return;
        }
        let accept = SessionCommand::Accepted(self.our_exchange(x.initiator_token));
        match port {
            Port::Control => {
                if let Some(i) = self.peer_index(x.ssrc) {
                    let p = &mut self.peers[i];
                    if !same_host(p.control, from) {
                        let owner = p.label();
                        send(out, port, from, self.refusal(x.initiator_token));
                        log(
                            out,
                            Level::Warn,
                            format!("refused '{name}' at {from}: its SSRC belongs to {owner}"),
                        );
                        return;
                    }
                    // A repeated invitation (the first answer was lost or is still on its
                    // way): answer again, the same way.
                    p.control = from;
                    p.token = x.initiator_token;
                    p.last_heard_us = now_us;
                    if !name.is_empty() {
                        p.name = name;
                    }
                    send(out, port, from, accept);
                    return;
                }
                if let Some(i) = self.peers.iter().position(|p| p.control == from) {
                    // Same address, new SSRC: the peer restarted. Its old self will not be back.
                    self.remove_peer(i, LeaveReason::Replaced, now_us, out);
                }
                if self.peers.len() >= self.options.max_peers {
                    send(out, port, from, self.refusal(x.initiator_token));
                    log(
                        out,
                        Level::Warn,
                        format!(
                            "refused '{name}' at {from}: already {} peers",
                            self.peers.len()
                        ),
                    );
                    return;
                }
                let peer = Peer::new(PeerId(x.ssrc), name, from, x.initiator_token, now_us);
                log(
                    out,
                    Level::Info,
                    format!(
                        "invitation from {} accepted on the control port",
                        peer.label()
                    ),
                );
                self.peers.push(peer);
                send(out, port, from, accept);
            }
            Port::Data => {
                let Some(i) = self.peer_index(x.ssrc) else {
                    // Without the control port half we know nothing of it: it must start over.
                    send(out, port, from, self.refusal(x.initiator_token));
                    log(
                        out,
                        Level::Debug,
                        format!(
                            "refused data port invitation from {from}: no control port invitation"
                        ),
                    );
                    return;
                };
                let p = &mut self.peers[i];
                if !same_host(p.control, from) {
                    let owner = p.label();
                    send(out, port, from, self.refusal(x.initiator_token));
                    log(
                        out,
                        Level::Warn,
                        format!(
                            "refused data port invitation from {from}: its SSRC belongs to {owner}"
                        ),
                    );
                    return;
                }
                let newly_joined = p.data.is_none();
                p.data = Some(from);
                p.last_heard_us = now_us;
                let joined = Notice::PeerJoined {
                    peer: p.id,
                    name: p.name.clone(),
                    address: p.control,
                };
                send(out, port, from, accept);
                if newly_joined {
                    out.push(Output::Notice(joined));
                }
            }
        }
    }

    fn link_for_answer(&self, from: SocketAddr, token: u32) -> Option<usize> {
        self.links.iter().position(|l| {
            l.token == token && l.phase != LinkPhase::Connected && same_host(l.control, from)
        })
    }

    fn on_accepted(
        &mut self,
        port: Port,
        from: SocketAddr,
        x: Exchange,
        now_us: u64,
        out: &mut Vec<Output>,
    ) {
        let Some(li) = self.link_for_answer(from, x.initiator_token) else {
            log(out, Level::Debug, format!("stray OK from {from}"));
            return;
        };
        let name = x.name.unwrap_or_default();
        match (port, &self.links[li].phase) {
            (Port::Control, LinkPhase::Control) => {
                let already_joined = self
                    .peer_index(x.ssrc)
                    .is_some_and(|i| self.peers[i].data.is_some());
                let link = &mut self.links[li];
                if already_joined {
                    // It invited us meanwhile; that session is the one we wanted.
                    link.phase = LinkPhase::Connected;
                    return;
                }
                link.phase = LinkPhase::Data;
                link.tries = 0;
                link.next_us = now_us;
                self.run_links(now_us, out);
            }
            (Port::Data, LinkPhase::Data) => {
                let link = &mut self.links[li];
                link.phase = LinkPhase::Connected;
                link.rejection_reported = false;
                let (control, token) = (link.control, link.token);
                let i = match self.peer_index(x.ssrc) {
                    Some(i) => i,
                    None => {
                        self.peers
                            .push(Peer::new(PeerId(x.ssrc), name, control, token, now_us));
                        self.peers.len() - 1
                    }
                };
                let p = &mut self.peers[i];
                let newly_joined = p.data.is_none();
                p.data = Some(from);
                p.initiated_by_us = true;
                p.token = token;
                p.last_heard_us = now_us;
                p.next_clock_sync_us = now_us;
                p.clock_syncs_sent = 0;
                if newly_joined {
                    out.push(Output::Notice(Notice::PeerJoined {
                        peer: p.id,
                        name: p.name.clone(),
                        address: p.control,
                    }));
                }
                self.run_clock_sync(now_us, out);
            }
            _ => log(
                out,
                Level::Debug,
                format!("OK on the wrong port from {from}"),
            ),
        }
    }

    fn on_rejected(&mut self, from: SocketAddr, x: Exchange, now_us: u64, out: &mut Vec<Output>) {
        let Some(li) = self.link_for_answer(from, x.initiator_token) else {
            log(out, Level::Debug, format!("stray NO from {from}"));
            return;
        };
        let link = &mut self.links[li];
        if !link.rejection_reported {
            link.rejection_reported = true;
            out.push(Output::Notice(Notice::InvitationRejected {
                address: link.control,
                name: x.name.unwrap_or_default(),
            }));
        }
        // Never give up (the other side may change its mind), but do not insist.
        link.phase = LinkPhase::Control;
        link.tries = link.tries.max(INVITE_FAST_TRIES);
        link.next_us = now_us.saturating_add(INVITE_SLOW_RETRY_US);
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
        log(out, Level::Debug, format!("stray BY from {from}"));
    }

    fn on_clock_sync(
        &mut self,
        port: Port,
        from: SocketAddr,
        ck: ClockSync,
        now_us: u64,
        out: &mut Vec<Output>,
    ) {
        let our_ssrc = self.ssrc;
        let Some(p) = self
            .peers
            .iter_mut()
            .find(|p| p.id.0 == ck.ssrc && same_host(p.control, from))
        else {
            log(
                out,
                Level::Debug,
                format!("clock sync from unknown peer at {from}"),
            );
            return;
        };
        p.last_heard_us = now_us;
        let now_100us = now_us / 100;
        let [t1, t2, t3] = ck.timestamps_100us;
        match ck.count {
            0 => {
                let answer = ClockSync {
                    ssrc: our_ssrc,
                    count: 1,
                    timestamps_100us: [t1, now_100us, 0],
                };
                send(out, port, from, SessionCommand::ClockSync(answer));
            }
            1 => {
                p.latency_us = Some(now_100us.saturating_sub(t1).saturating_mul(50));
                let close = ClockSync {
                    ssrc: our_ssrc,
                    count: 2,
                    timestamps_100us: [t1, t2, now_100us],
                };
                send(out, port, from, SessionCommand::ClockSync(close));
            }
            _ => p.latency_us = Some(t3.saturating_sub(t1).saturating_mul(50)),
        }
    }

    fn on_midi_packet(
        &mut self,
        from: SocketAddr,
        packet: &DataPacket<'_>,
        list: &MidiList,
        now_us: u64,
        out: &mut Vec<Output>,
    ) {
        let ssrc = packet.header.ssrc;
        let Some(p) = self
            .peers
            .iter_mut()
            // The exact address the peer joined from: another program on the same host (or a
            // spoofer) naming its SSRC must not be able to disturb its sequence.
            .find(|p| p.id.0 == ssrc && p.data == Some(from))
        else {
            log(
                out,
                Level::Debug,
                format!("MIDI from {from} with SSRC {ssrc:08x}, not a joined peer"),
            );
            return;
        };
        p.last_heard_us = now_us;
        match p.arrival(packet.header.sequence_number) {
            Arrival::Late => {
                p.late_packets += 1;
                return;
            }
            Arrival::AfterGap(lost) => {
                p.sequence_gaps += 1;
                p.packets_lost += u64::from(lost);
                p.recovery_pending = true;
                // A SysEx open across the gap has lost a piece: better none than a wrong one.
                p.sysex.reset();
                out.push(Output::Notice(Notice::SequenceGap {
                    peer: p.id,
                    lost_packets: lost,
                }));
            }
            Arrival::InOrder => {}
        }
        p.packets_received += 1;
        p.feedback_due = true;
        if let Some(e) = packet.list_error {
            log(
                out,
                Level::Debug,
                format!("malformed MIDI list from {}: {e}", p.label()),
            );
        }
        if p.recovery_pending {
            if let Some(bytes) = packet.journal {
                match decode_journal(bytes) {
                    Ok(journal) => {
                        // The journal describes the stream up to the packet before this one,
                        // so it is applied before this packet's own commands.
                        p.recovery_pending = false;
                        if let Some(state) = system_transport_state(&journal) {
                            recover_transport(p, state, now_us, out);
                        }
                    }
                    Err(e) => log(
                        out,
                        Level::Debug,
                        format!("unreadable recovery journal from {}: {e}", p.label()),
                    ),
                }
            }
        }
        for (_, message) in list.iter() {
            deliver(p, message, now_us, out);
        }
    }

    /// Invitations due: first or repeated IN on the control port, then on the data port.
    fn run_links(&mut self, now_us: u64, out: &mut Vec<Output>) {
        for i in 0..self.links.len() {
            let link = &self.links[i];
            if link.phase == LinkPhase::Connected || now_us < link.next_us {
                continue;
            }
            if link.phase == LinkPhase::Data && link.tries >= INVITE_FAST_TRIES {
                // The data port never answered: begin again from the control port.
                let token = self.next_token(now_us);
                let link = &mut self.links[i];
                link.phase = LinkPhase::Control;
                link.token = token;
            }
            let invitation = SessionCommand::Invitation(self.our_exchange(self.links[i].token));
            let link = &mut self.links[i];
            let target = match link.phase {
                LinkPhase::Data => data_port_of(link.control).map(|to| (Port::Data, to)),
                _ => Some((Port::Control, link.control)),
            };
            link.tries = link.tries.saturating_add(1);
            link.next_us = now_us.saturating_add(if link.tries >= INVITE_FAST_TRIES {
                INVITE_SLOW_RETRY_US
            } else {
                INVITE_RETRY_US
            });
            match target {
                Some((port, to)) => send(out, port, to, invitation),
                None => log(
                    out,
                    Level::Warn,
                    format!("cannot invite {}: no data port above 65535", link.control),
                ),
            }
        }
    }

    /// CK0 to the peers we invited, in a quick burst after joining and then every 10 s.
    fn run_clock_sync(&mut self, now_us: u64, out: &mut Vec<Output>) {
        for p in &mut self.peers {
            let Some(to) = p.data else { continue };
            if !p.initiated_by_us || now_us < p.next_clock_sync_us {
                continue;
            }
            p.clock_syncs_sent = p.clock_syncs_sent.saturating_add(1);
            p.next_clock_sync_us =
                now_us.saturating_add(if p.clock_syncs_sent < CLOCK_SYNC_BURST {
                    CLOCK_SYNC_BURST_INTERVAL_US
                } else {
                    CLOCK_SYNC_INTERVAL_US
                });
            let ck = ClockSync {
                ssrc: self.ssrc,
                count: 0,
                timestamps_100us: [now_us / 100, 0, 0],
            };
            send(out, Port::Data, to, SessionCommand::ClockSync(ck));
        }
    }

    /// RS to peers that sent packets since the last one, at most once a second each.
    fn run_feedback(&mut self, now_us: u64, out: &mut Vec<Output>) {
        for p in &mut self.peers {
            let (Some(sequence_number), true) = (p.last_sequence, p.feedback_due) else {
                continue;
            };
            if p.last_feedback_us
                .is_some_and(|t| now_us < t.saturating_add(FEEDBACK_INTERVAL_US))
            {
                continue;
            }
            p.feedback_due = false;
            p.last_feedback_us = Some(now_us);
            let rs = ReceiverFeedback {
                ssrc: self.ssrc,
                sequence_number,
            };
            send(
                out,
                Port::Control,
                p.control,
                SessionCommand::ReceiverFeedback(rs),
            );
        }
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
            log(
                out,
                Level::Debug,
                format!(
                    "dropped half-done invitation from {} ({reason:?})",
                    p.label()
                ),
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

/// Passes one listed command on as a MIDI message, joining SysEx segments and tracking the
/// transport the way the journal reports it.
fn deliver(p: &mut Peer, message: &[u8], now_us: u64, out: &mut Vec<Output>) {
    let Some(&status) = message.first() else {
        return;
    };
    let bytes = if status == 0xF0 || status == 0xF7 {
        match p.sysex.push(message) {
            Some(whole) => whole.to_vec(),
            None => return,
        }
    } else {
        match status {
            0xFA | 0xFB => p.running = Some(true),
            0xFC => p.running = Some(false),
            _ => {}
        }
        message.to_vec()
    };
    out.push(Output::Midi {
        peer: p.id,
        bytes,
        received_us: now_us,
    });
}

/// Makes up the transport bytes lost with missing packets, when the journal shows them.
fn recover_transport(p: &mut Peer, state: JournalTransport, now_us: u64, out: &mut Vec<Output>) {
    if state.running == p.running.unwrap_or(false) {
        return;
    }
    p.running = Some(state.running);
    out.push(Output::Notice(Notice::TransportRecovered {
        peer: p.id,
        running: state.running,
        song_position_clocks: state.song_position_clocks,
    }));
    // Song Position counts sixteenth notes, 6 MIDI clocks each; a position between two
    // sixteenths is rounded down, the nearest a Song Position Pointer can say.
    let position = state.song_position_clocks.map(|clocks| {
        let sixteenths = (clocks / 6).min(0x3FFF) as u16;
        vec![0xF2, (sixteenths & 0x7F) as u8, (sixteenths >> 7) as u8]
    });
    let mut midi = |bytes: Vec<u8>| {
        out.push(Output::Midi {
            peer: p.id,
            bytes,
            received_us: now_us,
        })
    };
    if state.running {
        // Locate, then play from there: Start only when the journal puts us at the top.
        let from_top = state.song_position_clocks == Some(0);
        if let Some(spp) = position {
            midi(spp);
        }
        midi(vec![if from_top { 0xFA } else { 0xFB }]);
    } else {
        midi(vec![0xFC]);
        if let Some(spp) = position {
            midi(spp);
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
    /// A stamp `micros` microseconds from the clock's origin.
    fn us(micros: u64) -> Stamp {
        Stamp::from_micros(micros as i64)
    }

    use super::*;

    const MAC_SSRC: u32 = 0x1111_1111;
    const OUR_SSRC: u32 = 0xAAAA_AAAA;
    const MAC_TOKEN: u32 = 0x7777_0001;

    fn addr(host: u8, port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, host], port))
    }

    fn mac_control() -> SocketAddr {
        addr(10, 5004)
    }

    fn mac_data() -> SocketAddr {
        addr(10, 5005)
    }

    fn session() -> Session {
        Session::new("playhead", OUR_SSRC, Options::default())
    }

    fn invitation(ssrc: u32, name: &str) -> Vec<u8> {
        SessionCommand::Invitation(Exchange {
            initiator_token: MAC_TOKEN,
            ssrc,
            name: Some(name.into()),
        })
        .to_bytes()
    }

    fn bye(ssrc: u32) -> Vec<u8> {
        SessionCommand::End(Exchange {
            initiator_token: MAC_TOKEN,
            ssrc,
            name: None,
        })
        .to_bytes()
    }

    fn clock_sync(ssrc: u32, count: u8, timestamps_100us: [u64; 3]) -> Vec<u8> {
        SessionCommand::ClockSync(ClockSync {
            ssrc,
            count,
            timestamps_100us,
        })
        .to_bytes()
    }

    /// The session commands among the outputs, decoded, with where they go.
    fn sent(out: &[Output]) -> Vec<(Port, SocketAddr, SessionCommand)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send { port, to, bytes } => {
                    decode_command(bytes).ok().map(|c| (*port, *to, c))
                }
                _ => None,
            })
            .collect()
    }

    fn notices(out: &[Output]) -> Vec<Notice> {
        out.iter()
            .filter_map(|o| match o {
                Output::Notice(n) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }

    fn midi(out: &[Output]) -> Vec<(PeerId, Vec<u8>, u64)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Midi {
                    peer,
                    bytes,
                    received_us,
                } => Some((*peer, bytes.clone(), *received_us)),
                _ => None,
            })
            .collect()
    }

    /// Invites `s` from `control` (and the data port above it) as a Mac would.
    fn join(s: &mut Session, control: SocketAddr, ssrc: u32, now_us: u64) -> Vec<Output> {
        let mut out = s.handle_control(control, &invitation(ssrc, "Mac"), us(now_us));
        let data = data_port_of(control).unwrap();
        out.extend(s.handle_data(data, &invitation(ssrc, "Mac"), us(now_us)));
        out
    }

    fn data_packet(ssrc: u32, sequence_number: u16, commands: &[&[u8]]) -> Vec<u8> {
        let header = RtpHeader {
            marker: false,
            sequence_number,
            timestamp_100us: 1000,
            ssrc,
        };
        let list: Vec<(u32, &[u8])> = commands.iter().map(|c| (0, *c)).collect();
        let mut bytes = Vec::new();
        encode_data(&header, &list, &mut bytes).unwrap();
        bytes
    }

    /// A data packet whose recovery journal holds only chapter Q.
    fn packet_with_journal(
        ssrc: u32,
        sequence_number: u16,
        commands: &[&[u8]],
        running: bool,
        clocks: Option<u32>,
    ) -> Vec<u8> {
        let mut bytes = data_packet(ssrc, sequence_number, commands);
        bytes[12] |= 0x40; // J: a journal follows the list
        let mut q = vec![if running { 0x40 } else { 0 }];
        if let Some(c) = clocks {
            q[0] |= 0x10 | ((c >> 16) & 0x07) as u8;
            q.extend_from_slice(&(c as u16).to_be_bytes());
        }
        let checkpoint = sequence_number.wrapping_sub(4).to_be_bytes();
        bytes.extend_from_slice(&[0x40, checkpoint[0], checkpoint[1]]);
        let len = 2 + q.len();
        bytes.extend_from_slice(&[0x10, len as u8]);
        bytes.extend_from_slice(&q);
        bytes
    }

    #[test]
    fn invitation_is_accepted_on_both_ports() {
        let mut s = session();
        let out = s.handle_control(mac_control(), &invitation(MAC_SSRC, "Mac Studio"), us(0));
        let accept = SessionCommand::Accepted(Exchange {
            initiator_token: MAC_TOKEN,
            ssrc: OUR_SSRC,
            name: Some("playhead".into()),
        });
        assert_eq!(
            sent(&out),
            vec![(Port::Control, mac_control(), accept.clone())]
        );
        assert!(notices(&out).is_empty(), "not joined before the data port");

        let out = s.handle_data(mac_data(), &invitation(MAC_SSRC, "Mac Studio"), us(10));
        assert_eq!(sent(&out), vec![(Port::Data, mac_data(), accept)]);
        assert_eq!(
            notices(&out),
            vec![Notice::PeerJoined {
                peer: PeerId(MAC_SSRC),
                name: "Mac Studio".into(),
                address: mac_control(),
            }]
        );
        let peers = s.peers();
        assert_eq!(peers.len(), 1);
        assert_eq!(peers[0].data_address, Some(mac_data()));
        assert!(!peers[0].initiated_by_us);
    }

    #[test]
    fn repeated_invitations_are_answered_again_without_a_second_peer() {
        let mut s = session();
        let mut joined = 0;
        for t in 0..3 {
            let out = s.handle_control(
                mac_control(),
                &invitation(MAC_SSRC, "Mac"),
                us(t * 1_000_000),
            );
            assert!(matches!(
                sent(&out)[..],
                [(Port::Control, _, SessionCommand::Accepted(_))]
            ));
        }
        for t in 3..6 {
            let out = s.handle_data(mac_data(), &invitation(MAC_SSRC, "Mac"), us(t * 1_000_000));
            assert!(matches!(
                sent(&out)[..],
                [(Port::Data, _, SessionCommand::Accepted(_))]
            ));
            joined += notices(&out).len();
        }
        assert_eq!(joined, 1);
        assert_eq!(s.peers().len(), 1);
    }

    #[test]
    fn network_rules_admit_hosts_inside_and_refuse_the_rest() {
        let allow = Allow::Networks(vec![
            (IpAddr::from([192, 0, 2, 0]), 24),
            (IpAddr::from([198, 51, 100, 7]), 32),
            (IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]), 32),
        ]);
        let permits = |ip: IpAddr| allow.permits(SocketAddr::new(ip, 5004));
        assert!(permits(IpAddr::from([192, 0, 2, 200])));
        assert!(permits(IpAddr::from([198, 51, 100, 7])));
        assert!(!permits(IpAddr::from([198, 51, 100, 8])));
        assert!(!permits(IpAddr::from([192, 0, 3, 1])));
        assert!(permits(IpAddr::from([0x2001, 0xdb8, 1, 2, 3, 4, 5, 6])));
        assert!(!permits(IpAddr::from([0x2001, 0xdb9, 0, 0, 0, 0, 0, 1])));
        // IPv4 seen through a dual-stack socket is still IPv4.
        assert!(permits(IpAddr::from([192, 0, 2, 9]).to_canonical()));
        assert!(permits(
            std::net::Ipv4Addr::new(192, 0, 2, 9)
                .to_ipv6_mapped()
                .into()
        ));
        // Prefix 0 admits everyone of the family; out-of-range prefixes are clamped.
        let everyone = Allow::Networks(vec![(IpAddr::from([10, 0, 0, 0]), 0)]);
        assert!(everyone.permits(addr(1, 1)));
        let clamped = Allow::Networks(vec![(IpAddr::from([192, 0, 2, 1]), 99)]);
        assert!(clamped.permits(addr(1, 1)) && !clamped.permits(addr(2, 1)));

        // A session refuses outsiders with NO, and admits them once the rules change.
        let mut s = Session::new(
            "playhead",
            OUR_SSRC,
            Options {
                allow: Allow::Networks(vec![(IpAddr::from([10, 0, 0, 0]), 8)]),
                ..Options::default()
            },
        );
        let out = s.handle_control(mac_control(), &invitation(MAC_SSRC, "Mac"), us(0));
        assert!(matches!(
            sent(&out)[..],
            [(Port::Control, _, SessionCommand::Rejected(_))]
        ));
        s.set_allow(Allow::Everyone);
        let out = join(&mut s, mac_control(), MAC_SSRC, 1);
        assert_eq!(notices(&out).len(), 1);
    }

    #[test]
    fn data_port_invitation_without_control_port_is_refused() {
        let mut s = session();
        let out = s.handle_data(mac_data(), &invitation(MAC_SSRC, "Mac"), us(0));
        assert!(matches!(
            sent(&out)[..],
            [(Port::Data, _, SessionCommand::Rejected(_))]
        ));
        assert!(s.peers().is_empty());
    }

    #[test]
    fn refused_peer_gets_no_and_one_notice() {
        let options = Options {
            allow: Allow::Addresses(vec![IpAddr::from([192, 0, 2, 99])]),
            ..Options::default()
        };
        let mut s = Session::new("playhead", OUR_SSRC, options);
        let mut refused = Vec::new();
        for t in 0..12 {
            let out = s.handle_control(mac_control(), &invitation(MAC_SSRC, "Stranger"), us(t));
            assert!(matches!(
                sent(&out)[..],
                [(Port::Control, to, SessionCommand::Rejected(Exchange { initiator_token: MAC_TOKEN, ssrc: OUR_SSRC, .. }))] if to == mac_control()
            ));
            refused.extend(notices(&out));
        }
        assert_eq!(
            refused,
            vec![Notice::Refused {
                address: mac_control(),
                name: "Stranger".into()
            }]
        );
        assert!(s.peers().is_empty());

        // The allowed host, over IPv4-mapped IPv6 as a dual-stack socket reports it, gets in.
        let mapped = SocketAddr::new(
            IpAddr::V6(std::net::Ipv4Addr::new(192, 0, 2, 99).to_ipv6_mapped()),
            5004,
        );
        let out = s.handle_control(mapped, &invitation(MAC_SSRC, "Friend"), us(20));
        assert!(matches!(
            sent(&out)[..],
            [(_, _, SessionCommand::Accepted(_))]
        ));
    }

    #[test]
    fn check_rule_and_peer_limit_refuse_too() {
        fn not_host_10(a: SocketAddr) -> bool {
            a.ip() != IpAddr::from([192, 0, 2, 10])
        }
        let options = Options {
            allow: Allow::Check(not_host_10),
            max_peers: 1,
        };
        let mut s = Session::new("playhead", OUR_SSRC, options);
        let out = s.handle_control(addr(10, 5004), &invitation(1, "a"), us(0));
        assert!(matches!(
            sent(&out)[..],
            [(_, _, SessionCommand::Rejected(_))]
        ));
        assert_eq!(notices(&out).len(), 1);
        join(&mut s, addr(11, 5004), 2, 0);
        let out = s.handle_control(addr(12, 5004), &invitation(3, "b"), us(0));
        assert!(matches!(
            sent(&out)[..],
            [(_, _, SessionCommand::Rejected(_))]
        ));
        assert_eq!(s.peers().len(), 1);
    }

    #[test]
    fn clock_sync_zero_is_answered_and_two_is_accepted() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        let out = s.handle_data(
            mac_data(),
            &clock_sync(MAC_SSRC, 0, [123_456, 0, 0]),
            us(5_000_000),
        );
        assert_eq!(
            sent(&out),
            vec![(
                Port::Data,
                mac_data(),
                SessionCommand::ClockSync(ClockSync {
                    ssrc: OUR_SSRC,
                    count: 1,
                    timestamps_100us: [123_456, 50_000, 0],
                })
            )]
        );
        let out = s.handle_data(
            mac_data(),
            &clock_sync(MAC_SSRC, 2, [123_456, 50_000, 123_476]),
            us(5_002_000),
        );
        assert!(sent(&out).is_empty(), "CK2 ends the exchange");
        assert_eq!(s.peers()[0].latency_us, Some(1_000));
    }

    #[test]
    fn clock_sync_from_a_stranger_is_ignored() {
        let mut s = session();
        let out = s.handle_data(mac_data(), &clock_sync(MAC_SSRC, 0, [1, 0, 0]), us(0));
        assert!(sent(&out).is_empty());
    }

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
    fn clock_sync_keeps_a_peer_alive() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        for t in (10..=110).step_by(10) {
            s.handle_data(
                mac_data(),
                &clock_sync(MAC_SSRC, 0, [t, 0, 0]),
                us(t * 1_000_000),
            );
            assert!(notices(&s.poll(us(t * 1_000_000 + 500_000))).is_empty());
        }
        assert_eq!(s.peers().len(), 1);
        assert_eq!(s.next_deadline_us(), Some(110_000_000 + PEER_TIMEOUT_US));
    }

    #[test]
    fn midi_keeps_a_peer_alive_without_clock_sync() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        for seq in 1..=10u16 {
            let now = u64::from(seq) * 30_000_000;
            s.handle_data(mac_data(), &data_packet(MAC_SSRC, seq, &[&[0xF8]]), us(now));
            assert!(notices(&s.poll(us(now + 1))).is_empty());
        }
        assert_eq!(s.peers().len(), 1);
    }

    #[test]
    fn restarted_peer_with_new_ssrc_replaces_the_old_one_at_once() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        let new_ssrc = 0x2222_2222;
        let out = join(&mut s, mac_control(), new_ssrc, 1_000_000);
        assert_eq!(
            notices(&out),
            vec![
                Notice::PeerLeft {
                    peer: PeerId(MAC_SSRC),
                    name: "Mac".into(),
                    reason: LeaveReason::Replaced
                },
                Notice::PeerJoined {
                    peer: PeerId(new_ssrc),
                    name: "Mac".into(),
                    address: mac_control()
                },
            ]
        );
        let out = s.handle_data(
            mac_data(),
            &data_packet(MAC_SSRC, 1, &[&[0xFA]]),
            us(2_000_000),
        );
        assert!(midi(&out).is_empty(), "the old SSRC is gone");
        let out = s.handle_data(
            mac_data(),
            &data_packet(new_ssrc, 1, &[&[0xFA]]),
            us(2_000_000),
        );
        assert_eq!(midi(&out), vec![(PeerId(new_ssrc), vec![0xFA], 2_000_000)]);
    }

    #[test]
    fn midi_comes_out_in_order_with_receipt_time() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        let out = s.handle_data(
            mac_data(),
            &data_packet(
                MAC_SSRC,
                100,
                &[
                    &[0xF2, 0x20, 0x00],
                    &[0xFB],
                    &[0xF8],
                    &[0xF0, 0x7D, 0x01, 0xF0],
                ],
            ),
            us(7_000_000),
        );
        let out2 = s.handle_data(
            mac_data(),
            &data_packet(MAC_SSRC, 101, &[&[0xF7, 0x02, 0xF7], &[0xFC]]),
            us(7_000_250),
        );
        let got: Vec<_> = midi(&out).into_iter().chain(midi(&out2)).collect();
        let p = PeerId(MAC_SSRC);
        assert_eq!(
            got,
            vec![
                (p, vec![0xF2, 0x20, 0x00], 7_000_000),
                (p, vec![0xFB], 7_000_000),
                (p, vec![0xF8], 7_000_000),
                (p, vec![0xF0, 0x7D, 0x01, 0x02, 0xF7], 7_000_250),
                (p, vec![0xFC], 7_000_250),
            ]
        );
        // Running status inside a packet comes out as whole messages.
        let mut raw = data_packet(MAC_SSRC, 102, &[&[0x90, 60, 100]]);
        raw[12] += 3;
        raw.extend_from_slice(&[0x00, 62, 90]);
        let out = s.handle_data(mac_data(), &raw, us(8_000_000));
        assert_eq!(
            midi(&out),
            vec![
                (p, vec![0x90, 60, 100], 8_000_000),
                (p, vec![0x90, 62, 90], 8_000_000)
            ]
        );
    }

    #[test]
    fn sequence_gaps_are_counted_and_late_packets_dropped() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        let mut gaps = Vec::new();
        let mut played = Vec::new();
        for seq in [65_534u16, 65_535, 0, 3, 3, 2, 4, 10] {
            let note = [0x90, (seq % 128) as u8, 1];
            let out = s.handle_data(mac_data(), &data_packet(MAC_SSRC, seq, &[&note]), us(1_000));
            gaps.extend(notices(&out));
            played.extend(midi(&out).into_iter().map(|m| m.1[1]));
        }
        let p = PeerId(MAC_SSRC);
        assert_eq!(
            gaps,
            vec![
                Notice::SequenceGap {
                    peer: p,
                    lost_packets: 2
                },
                Notice::SequenceGap {
                    peer: p,
                    lost_packets: 5
                },
            ]
        );
        // 3 twice (duplicate) and 2 (late) are dropped.
        assert_eq!(played, vec![126, 127, 0, 3, 4, 10]);
        let info = &s.peers()[0];
        assert_eq!(
            (
                info.packets_received,
                info.packets_lost,
                info.sequence_gaps,
                info.late_packets
            ),
            (6, 7, 2, 2)
        );
    }

    #[test]
    fn receiver_feedback_goes_out_once_a_second_when_packets_came() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        assert!(
            sent(&s.poll(us(500_000))).is_empty(),
            "nothing received, nothing to say"
        );
        s.handle_data(
            mac_data(),
            &data_packet(MAC_SSRC, 41, &[&[0xF8]]),
            us(600_000),
        );
        s.handle_data(
            mac_data(),
            &data_packet(MAC_SSRC, 42, &[&[0xF8]]),
            us(700_000),
        );
        let rs = |seq| {
            vec![(
                Port::Control,
                mac_control(),
                SessionCommand::ReceiverFeedback(ReceiverFeedback {
                    ssrc: OUR_SSRC,
                    sequence_number: seq,
                }),
            )]
        };
        assert_eq!(sent(&s.poll(us(700_000))), rs(42));
        s.handle_data(
            mac_data(),
            &data_packet(MAC_SSRC, 43, &[&[0xF8]]),
            us(800_000),
        );
        assert!(
            sent(&s.poll(us(900_000))).is_empty(),
            "not twice within a second"
        );
        assert_eq!(s.next_deadline_us(), Some(1_700_000));
        assert_eq!(sent(&s.poll(us(1_700_000))), rs(43));
        assert!(
            sent(&s.poll(us(5_000_000))).is_empty(),
            "nothing new, nothing sent"
        );
    }

    #[test]
    fn journal_recovers_a_lost_stop_with_its_position() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        s.handle_data(mac_data(), &data_packet(MAC_SSRC, 1, &[&[0xFA]]), us(1_000));
        // Packet 2 carried the Stop and is lost; packet 3 brings a journal saying stopped at
        // clock 96 (sixteenth 16), and a Song Position of its own.
        let out = s.handle_data(
            mac_data(),
            &packet_with_journal(MAC_SSRC, 3, &[&[0xF2, 0x20, 0x00]], false, Some(96)),
            us(2_000),
        );
        let p = PeerId(MAC_SSRC);
        assert_eq!(
            notices(&out),
            vec![
                Notice::SequenceGap {
                    peer: p,
                    lost_packets: 1
                },
                Notice::TransportRecovered {
                    peer: p,
                    running: false,
                    song_position_clocks: Some(96)
                },
            ]
        );
        assert_eq!(
            midi(&out),
            vec![
                (p, vec![0xFC], 2_000),
                (p, vec![0xF2, 16, 0], 2_000),
                (p, vec![0xF2, 0x20, 0x00], 2_000),
            ]
        );
    }

    #[test]
    fn journal_recovers_a_lost_start_or_continue() {
        let p = PeerId(MAC_SSRC);
        // Lost Start at the top of the song: locate to 0 and Start.
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        s.handle_data(mac_data(), &data_packet(MAC_SSRC, 1, &[&[0xF8]]), us(1_000));
        let out = s.handle_data(
            mac_data(),
            &packet_with_journal(MAC_SSRC, 3, &[&[0xF8]], true, Some(0)),
            us(2_000),
        );
        assert_eq!(
            midi(&out),
            vec![
                (p, vec![0xF2, 0, 0], 2_000),
                (p, vec![0xFA], 2_000),
                (p, vec![0xF8], 2_000)
            ]
        );
        // Lost Continue far into the song (70 000 clocks needs the TOP bits): locate, Continue.
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        s.handle_data(mac_data(), &data_packet(MAC_SSRC, 1, &[&[0xFC]]), us(1_000));
        let out = s.handle_data(
            mac_data(),
            &packet_with_journal(MAC_SSRC, 5, &[], true, Some(70_000)),
            us(2_000),
        );
        let sixteenths = 70_000 / 6;
        assert_eq!(
            midi(&out),
            vec![
                (
                    p,
                    vec![0xF2, (sixteenths & 0x7F) as u8, (sixteenths >> 7) as u8],
                    2_000
                ),
                (p, vec![0xFB], 2_000),
            ]
        );
        // No position in the journal: Continue from wherever the last Song Position said.
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        s.handle_data(
            mac_data(),
            &data_packet(MAC_SSRC, 1, &[&[0xF2, 0, 1]]),
            us(1_000),
        );
        let out = s.handle_data(
            mac_data(),
            &packet_with_journal(MAC_SSRC, 3, &[], true, None),
            us(2_000),
        );
        assert_eq!(midi(&out), vec![(p, vec![0xFB], 2_000)]);
    }

    #[test]
    fn journal_that_agrees_or_comes_without_loss_changes_nothing() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        s.handle_data(mac_data(), &data_packet(MAC_SSRC, 1, &[&[0xFA]]), us(1_000));
        // No loss: the journal is not consulted even if it disagrees.
        let out = s.handle_data(
            mac_data(),
            &packet_with_journal(MAC_SSRC, 2, &[], false, Some(0)),
            us(2_000),
        );
        assert!(midi(&out).is_empty());
        // Loss, but the journal agrees with what we have: nothing made up.
        let out = s.handle_data(
            mac_data(),
            &packet_with_journal(MAC_SSRC, 4, &[&[0xF8]], true, Some(24)),
            us(3_000),
        );
        assert_eq!(notices(&out).len(), 1, "only the gap");
        assert_eq!(midi(&out), vec![(PeerId(MAC_SSRC), vec![0xF8], 3_000)]);
    }

    #[test]
    fn journal_in_a_later_packet_still_recovers() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        s.handle_data(mac_data(), &data_packet(MAC_SSRC, 1, &[&[0xFA]]), us(1_000));
        // The packet after the gap has no journal; the next one does.
        s.handle_data(mac_data(), &data_packet(MAC_SSRC, 3, &[]), us(2_000));
        let out = s.handle_data(
            mac_data(),
            &packet_with_journal(MAC_SSRC, 4, &[], false, None),
            us(3_000),
        );
        assert_eq!(midi(&out), vec![(PeerId(MAC_SSRC), vec![0xFC], 3_000)]);
    }

    #[test]
    fn garbage_from_one_peer_never_disturbs_another() {
        let mut s = session();
        let (a, b) = (addr(20, 5004), addr(21, 5004));
        let (a_data, b_data) = (addr(20, 5005), addr(21, 5005));
        join(&mut s, a, 0xA, 0);
        join(&mut s, b, 0xB, 0);
        // A opens a SysEx and sends rubbish; B's segments must not join A's.
        s.handle_data(a_data, &data_packet(0xA, 1, &[&[0xF0, 0x01, 0xF0]]), us(10));
        s.handle_data(b_data, &data_packet(0xB, 1, &[&[0xF7, 0x09, 0xF7]]), us(10));
        let mut rng = 0x1234_5678_9ABC_DEF0u64;
        let mut got = Vec::new();
        for i in 0..2_000u16 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let mut junk: Vec<u8> = rng.to_le_bytes().repeat(2 + (i as usize % 5));
            if i % 3 == 0 {
                // Looks like RTP-MIDI from A, with a broken list.
                junk[..2].copy_from_slice(&[0x80, 0x61]);
                junk[8..12].copy_from_slice(&0xAu32.to_be_bytes());
            }
            s.handle_data(a_data, &junk, us(20 + u64::from(i)));
            s.handle_control(a, &junk, us(20 + u64::from(i)));
            let note = [0x90, (i % 128) as u8, 64];
            got.extend(midi(&s.handle_data(
                b_data,
                &data_packet(0xB, 2 + i, &[&note]),
                us(30),
            )));
        }
        assert_eq!(got.len(), 2_000);
        assert!(got.iter().all(|m| m.0 == PeerId(0xB)));
        assert!(got
            .iter()
            .enumerate()
            .all(|(i, m)| m.1[1] == (i % 128) as u8));
        let b_info = s.peers().into_iter().find(|p| p.id == PeerId(0xB)).unwrap();
        assert_eq!((b_info.packets_lost, b_info.late_packets), (0, 0));
        // B's own SysEx still works.
        let out = s.handle_data(
            b_data,
            &data_packet(0xB, 5_000, &[&[0xF0, 0x05, 0xF7]]),
            us(40),
        );
        assert_eq!(midi(&out), vec![(PeerId(0xB), vec![0xF0, 0x05, 0xF7], 40)]);
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

    /// Two sessions wired back to back; datagrams can be dropped to imitate a bad network.
    struct Net {
        a: Session,
        b: Session,
        a_host: u8,
        b_host: u8,
        /// Events (everything but `Send`) each side produced, in order.
        a_events: Vec<Output>,
        b_events: Vec<Output>,
        /// Datagrams from A to drop: (port, command letters) while the count lasts.
        drop_from_a: Option<(Port, [u8; 2], usize)>,
        /// B is switched off: everything sent to it vanishes.
        b_down: bool,
    }

    impl Net {
        fn new() -> Net {
            Net {
                a: Session::new("initiator", 0xA0A0_A0A0, Options::default()),
                b: Session::new("responder", 0xB0B0_B0B0, Options::default()),
                a_host: 1,
                b_host: 2,
                a_events: Vec::new(),
                b_events: Vec::new(),
                drop_from_a: None,
                b_down: false,
            }
        }

        fn b_control(&self) -> SocketAddr {
            addr(self.b_host, 5004)
        }

        /// Delivers outputs of A (or B) until both sides are quiet.
        fn run(&mut self, from_a: Vec<Output>, from_b: Vec<Output>, now_us: u64) {
            let mut queue: Vec<(bool, Output)> = from_a
                .into_iter()
                .map(|o| (true, o))
                .chain(from_b.into_iter().map(|o| (false, o)))
                .collect();
            while !queue.is_empty() {
                let mut next = Vec::new();
                for (is_a, o) in queue {
                    let (port, to, bytes) = match o {
                        Output::Send { port, to, bytes } => (port, to, bytes),
                        event if is_a => {
                            self.a_events.push(event);
                            continue;
                        }
                        event => {
                            self.b_events.push(event);
                            continue;
                        }
                    };
                    let (src_host, dst_host) = if is_a {
                        (self.a_host, self.b_host)
                    } else {
                        (self.b_host, self.a_host)
                    };
                    if to.ip() != IpAddr::from([192, 0, 2, dst_host]) {
                        continue;
                    }
                    if is_a && self.b_down {
                        continue;
                    }
                    if is_a {
                        if let Some((p, letters, n)) = &mut self.drop_from_a {
                            if *p == port && bytes.get(2..4) == Some(&letters[..]) && *n > 0 {
                                *n -= 1;
                                continue;
                            }
                        }
                    }
                    let from = addr(src_host, if port == Port::Control { 5004 } else { 5005 });
                    let target = if is_a { &mut self.b } else { &mut self.a };
                    let out = match port {
                        Port::Control => target.handle_control(from, &bytes, us(now_us)),
                        Port::Data => target.handle_data(from, &bytes, us(now_us)),
                    };
                    next.extend(out.into_iter().map(|o| (!is_a, o)));
                }
                queue = next;
            }
        }

        fn poll(&mut self, now_us: u64) {
            let from_a = self.a.poll(us(now_us));
            let from_b = self.b.poll(us(now_us));
            self.run(from_a, from_b, now_us);
        }

        fn joined(events: &[Output]) -> usize {
            notices(events)
                .iter()
                .filter(|n| matches!(n, Notice::PeerJoined { .. }))
                .count()
        }
    }

    #[test]
    fn initiator_retries_then_connects_and_exchanges_clock_and_midi() {
        let mut net = Net::new();
        // The first three control port invitations are lost.
        net.drop_from_a = Some((Port::Control, *b"IN", 3));
        let out = net.a.connect(net.b_control(), us(0));
        assert!(matches!(
            sent(&out)[..],
            [(Port::Control, to, SessionCommand::Invitation(_))] if to == net.b_control()
        ));
        net.run(out, Vec::new(), 0);
        let mut now = 0;
        while Net::joined(&net.a_events) == 0 {
            now += 100_000;
            assert!(now < 10_000_000, "never connected");
            net.poll(now);
        }
        // Fourth try, one second apart.
        assert_eq!(now, 3_000_000);
        assert_eq!(Net::joined(&net.b_events), 1);
        let a_view = &net.a.peers()[0];
        assert!(a_view.initiated_by_us);
        assert_eq!(a_view.name, "responder");
        assert_eq!(net.b.peers()[0].name, "initiator");
        // The first CK exchange completed at once, both sides know the latency.
        assert_eq!(a_view.latency_us, Some(0));
        assert_eq!(net.b.peers()[0].latency_us, Some(0));

        // The clock synchronisation keeps both alive far beyond the timeout.
        while now < 300_000_000 {
            now += 500_000;
            net.poll(now);
        }
        assert_eq!(net.a.peers().len(), 1);
        assert_eq!(net.b.peers().len(), 1);
        assert!(notices(&net.a_events)
            .iter()
            .chain(notices(&net.b_events).iter())
            .all(|n| matches!(n, Notice::PeerJoined { .. })));

        // MIDI from A reaches B in order.
        let out = net.a.send_midi(&[&[0xF2, 0, 0], &[0xFA]], us(now));
        net.run(out, Vec::new(), now + 1);
        let out = net.a.send_midi(&[&[0xFC]], us(now + 2));
        net.run(out, Vec::new(), now + 3);
        let received: Vec<_> = midi(&net.b_events)
            .into_iter()
            .map(|m| (m.1, m.2))
            .collect();
        assert_eq!(
            received,
            vec![
                (vec![0xF2, 0, 0], now + 1),
                (vec![0xFA], now + 1),
                (vec![0xFC], now + 3)
            ]
        );
    }

    #[test]
    fn initiator_never_gives_up_but_slows_down() {
        let mut net = Net::new();
        net.b_down = true;
        let mut times = Vec::new();
        let out = net.a.connect(net.b_control(), us(0));
        if !sent(&out).is_empty() {
            times.push(0);
        }
        let mut now = 0;
        while now < 60_000_000 {
            now += 100_000;
            if !sent(&net.a.poll(us(now))).is_empty() {
                times.push(now / 100_000);
            }
        }
        // Twelve a second apart (0 s to 11 s), then every 5 s.
        let mut want: Vec<u64> = (0..12).map(|s| s * 10).collect();
        want.extend((1..).map(|k| 110 + 50 * k).take_while(|&t| t <= 600));
        assert_eq!(times, want);

        // B comes up: the next slow try connects.
        net.b_down = false;
        while Net::joined(&net.a_events) == 0 {
            now += 100_000;
            assert!(now < 70_000_000);
            net.poll(now);
        }
    }

    #[test]
    fn initiator_reinvites_after_bye_and_after_timeout() {
        let mut net = Net::new();
        let out = net.a.connect(net.b_control(), us(0));
        net.run(out, Vec::new(), 0);
        assert_eq!(Net::joined(&net.a_events), 1);

        // B leaves with BY (a Mac user clicking Disconnect), then comes back.
        let out = net.b.close();
        net.run(Vec::new(), out, 1_000_000);
        assert!(notices(&net.a_events).contains(&Notice::PeerLeft {
            peer: PeerId(0xB0B0_B0B0),
            name: "responder".into(),
            reason: LeaveReason::Bye
        }));
        net.poll(2_000_000);
        assert_eq!(Net::joined(&net.a_events), 2, "re-invited one second later");

        // B goes deaf: A times out 61 s after the last answered CK, then keeps inviting.
        net.b_down = true;
        let mut now = 2_000_000;
        let mut left_at = None;
        while now < 200_000_000 {
            now += 500_000;
            net.poll(now);
            if left_at.is_none()
                && notices(&net.a_events).iter().any(|n| {
                    matches!(
                        n,
                        Notice::PeerLeft {
                            reason: LeaveReason::Timeout,
                            ..
                        }
                    )
                })
            {
                left_at = Some(now);
                net.b_down = false;
            }
        }
        let left_at = left_at.expect("timed out");
        // The last CK answered was at 2 s + at most a burst interval; 61 s later it is gone.
        assert!((63_000_000..=64_000_000).contains(&left_at), "{left_at}");
        assert_eq!(Net::joined(&net.a_events), 3);
        assert_eq!(net.a.peers().len(), 1);
    }

    #[test]
    fn initiator_reports_a_refusal_once_and_keeps_asking_slowly() {
        let mut net = Net::new();
        net.b = Session::new(
            "responder",
            0xB0B0_B0B0,
            Options {
                allow: Allow::Addresses(vec![]),
                ..Options::default()
            },
        );
        let out = net.a.connect(net.b_control(), us(0));
        net.run(out, Vec::new(), 0);
        let mut now = 0;
        while now < 30_000_000 {
            now += 1_000_000;
            net.poll(now);
        }
        let rejected = notices(&net.a_events)
            .into_iter()
            .filter(|n| matches!(n, Notice::InvitationRejected { .. }))
            .count();
        assert_eq!(rejected, 1);
        let refused = notices(&net.b_events).len();
        assert_eq!(refused, 1);
        assert_eq!(Net::joined(&net.a_events), 0);
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
}
