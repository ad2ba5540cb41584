//! Test helpers shared by the session's unit tests: addresses, datagrams as a Mac sends them,
//! and readers of what the session answered.

use std::net::SocketAddr;

use crate::time::Stamp;

use super::super::packet::{
    decode_command, encode_data, ClockSync, Exchange, RtpHeader, SessionCommand,
};
use super::{data_port_of, Notice, Options, Output, PeerId, Port, Session};

/// A stamp `micros` microseconds from the clock's origin.
pub(super) fn us(micros: u64) -> Stamp {
    Stamp::from_micros(micros as i64)
}

pub(super) const MAC_SSRC: u32 = 0x1111_1111;
pub(super) const OUR_SSRC: u32 = 0xAAAA_AAAA;
pub(super) const MAC_TOKEN: u32 = 0x7777_0001;

pub(super) fn addr(host: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, host], port))
}

pub(super) fn mac_control() -> SocketAddr {
    addr(10, 5004)
}

pub(super) fn mac_data() -> SocketAddr {
    addr(10, 5005)
}

pub(super) fn session() -> Session {
    Session::new("playhead", OUR_SSRC, Options::default())
}

pub(super) fn invitation(ssrc: u32, name: &str) -> Vec<u8> {
    SessionCommand::Invitation(Exchange {
        initiator_token: MAC_TOKEN,
        ssrc,
        name: Some(name.into()),
    })
    .to_bytes()
}

pub(super) fn bye(ssrc: u32) -> Vec<u8> {
    SessionCommand::End(Exchange {
        initiator_token: MAC_TOKEN,
        ssrc,
        name: None,
    })
    .to_bytes()
}

pub(super) fn clock_sync(ssrc: u32, count: u8, timestamps_100us: [u64; 3]) -> Vec<u8> {
    SessionCommand::ClockSync(ClockSync {
        ssrc,
        count,
        timestamps_100us,
    })
    .to_bytes()
}

/// The session commands among the outputs, decoded, with where they go.
pub(super) fn sent(out: &[Output]) -> Vec<(Port, SocketAddr, SessionCommand)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { port, to, bytes } => decode_command(bytes).ok().map(|c| (*port, *to, c)),
            _ => None,
        })
        .collect()
}

pub(super) fn notices(out: &[Output]) -> Vec<Notice> {
    out.iter()
        .filter_map(|o| match o {
            Output::Notice(n) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

/// The events the session parsed from the MIDI of `out`.
pub(super) fn events(out: &[Output]) -> Vec<crate::parse::MidiEvent> {
    out.iter()
        .filter_map(|o| match o {
            Output::Midi { events, .. } => Some(events.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

pub(super) fn midi(out: &[Output]) -> Vec<(PeerId, Vec<u8>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Midi { peer, bytes, .. } => Some((*peer, bytes.clone())),
            _ => None,
        })
        .collect()
}

/// Invites `s` from `control` (and the data port above it) as a Mac would.
pub(super) fn join(s: &mut Session, control: SocketAddr, ssrc: u32, now_us: u64) -> Vec<Output> {
    join_named(s, control, ssrc, "Mac", now_us)
}

/// [`join`] under the session name `name`.
pub(super) fn join_named(
    s: &mut Session,
    control: SocketAddr,
    ssrc: u32,
    name: &str,
    now_us: u64,
) -> Vec<Output> {
    let mut out = s.handle_control(control, &invitation(ssrc, name), us(now_us));
    let data = data_port_of(control).unwrap();
    out.extend(s.handle_data(data, &invitation(ssrc, name), us(now_us)));
    out
}

/// The peers' SSRCs, in the session's order.
pub(super) fn ssrcs(s: &Session) -> Vec<u32> {
    s.peers().iter().map(|p| p.id.0).collect()
}

/// True when the outputs hold a NO (on either port).
pub(super) fn refused(out: &[Output]) -> bool {
    sent(out)
        .iter()
        .any(|(_, _, c)| matches!(c, SessionCommand::Rejected(_)))
}

pub(super) fn data_packet(ssrc: u32, sequence_number: u16, commands: &[&[u8]]) -> Vec<u8> {
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
pub(super) fn packet_with_journal(
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

/// [`join_named`] for a newcomer that replaces a joined peer: its control port invitation
/// waits while the old one is probed, the probe goes unanswered, and at the deadline the
/// session answers OK; then the data port.
pub(super) fn join_after_probe(
    s: &mut Session,
    control: SocketAddr,
    ssrc: u32,
    name: &str,
    now_us: u64,
) -> Vec<Output> {
    let mut out = s.handle_control(control, &invitation(ssrc, name), us(now_us));
    let deadline = now_us + super::PROBE_US;
    out.extend(s.poll(us(deadline)));
    let data = data_port_of(control).unwrap();
    out.extend(s.handle_data(data, &invitation(ssrc, name), us(deadline)));
    out
}
