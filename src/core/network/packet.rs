//! Network MIDI wire formats: AppleMIDI session commands, RTP-MIDI data packets (RFC 6295), and
//! the parts of the recovery journal that carry the transport.
//!
//! Everything here is pure: bytes in, values out, nothing read from a socket or a clock. No
//! decoder panics or reads past its input whatever the bytes are; the tests feed every decoder
//! random and mutated buffers, and `fuzz/` does the same at scale.
//!
//! Layout of a data packet, as read here:
//!
//! ```text
//! RTP header (12 bytes: V=2, PT=0x61, sequence number, 10 kHz timestamp, SSRC)
//! command section header: B J Z P LEN (1 byte, or 2 when B=1 for a 12-bit LEN)
//! MIDI list: [delta] command, delta command, delta command ...  (LEN bytes)
//! recovery journal (when J=1): header, system journal (chapters D V Q F X), channel journals
//! ```

use std::fmt;

/// The AppleMIDI protocol version carried by IN, OK, NO and BY; the only one in use.
pub const PROTOCOL_VERSION: u32 = 2;

/// RTP payload type of RTP-MIDI as AppleMIDI and rtpMIDI send it.
pub const RTP_PAYLOAD_TYPE_MIDI: u8 = 0x61;

/// Size of an RTP header with no CSRC list and no extension.
pub const RTP_HEADER_BYTES: usize = 12;

/// Size of a CK (clock synchronisation) command.
pub const CLOCK_SYNC_BYTES: usize = 36;

/// Longest MIDI list the command section header can declare (12-bit LEN).
pub const MAX_MIDI_LIST_BYTES: usize = 0x0FFF;

/// Longest reassembled SysEx kept by a [`SysexAssembler`]; longer ones are dropped whole so a
/// peer cannot make us buffer without limit.
pub const MAX_SYSEX_BYTES: usize = 64 * 1024;

/// Every AppleMIDI session command starts with these two bytes; an RTP header never does
/// (its first byte would have version 3).
const SIGNATURE: [u8; 2] = [0xFF, 0xFF];

// ---------------------------------------------------------------------------------------------
// Session commands
// ---------------------------------------------------------------------------------------------

/// The fields shared by IN, OK, NO and BY.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// Chosen by the initiator for one invitation and echoed in every answer to it.
    pub initiator_token: u32,
    /// Synchronisation source of the sender: its identity in the session, the same on both ports.
    pub ssrc: u32,
    /// The sender's session name, when it gave one (IN and OK usually do, NO and BY usually not).
    pub name: Option<String>,
}

/// A CK clock synchronisation exchange step. The initiator sends count 0 with its time in
/// `timestamps_100us[0]`; the responder answers count 1 adding its time in `[1]`; the initiator
/// closes with count 2 adding its time in `[2]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockSync {
    /// Synchronisation source of the sender.
    pub ssrc: u32,
    /// Step of the exchange: 0, 1 or 2.
    pub count: u8,
    /// The three timestamps, in units of 100 µs on the clock of whoever wrote each one.
    pub timestamps_100us: [u64; 3],
}

/// RS receiver feedback: tells the sender which packets arrived, so it can trim its journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiverFeedback {
    /// Synchronisation source of the receiver that sends the feedback.
    pub ssrc: u32,
    /// Highest RTP sequence number received from the peer.
    pub sequence_number: u16,
}

/// One AppleMIDI session command (the packets that start `FF FF` and two letters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionCommand {
    /// `IN`: an invitation to join, sent first on the control port, then on the data port.
    Invitation(Exchange),
    /// `OK`: the invitation is accepted.
    Accepted(Exchange),
    /// `NO`: the invitation is refused.
    Rejected(Exchange),
    /// `BY`: the sender leaves the session.
    End(Exchange),
    /// `CK`: one step of a clock synchronisation exchange (data port).
    ClockSync(ClockSync),
    /// `RS`: receiver feedback (control port).
    ReceiverFeedback(ReceiverFeedback),
}

/// Why bytes are not a valid session command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// Fewer bytes than the command needs.
    TooShort {
        /// Bytes the command needs at least.
        needed: usize,
        /// Bytes there were.
        got: usize,
    },
    /// The first two bytes are not `FF FF`: probably an RTP-MIDI data packet.
    BadSignature,
    /// `FF FF` followed by two letters this implementation does not know.
    UnknownCommand([u8; 2]),
    /// An IN, OK, NO or BY with a protocol version other than 2.
    BadVersion(u32),
    /// A CK whose count is not 0, 1 or 2.
    BadClockSyncCount(u8),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::TooShort { needed, got } => {
                write!(f, "session command too short: {got} bytes, needs {needed}")
            }
            CommandError::BadSignature => write!(f, "not a session command (no FF FF signature)"),
            CommandError::UnknownCommand(c) => {
                write!(
                    f,
                    "unknown session command {:?}",
                    String::from_utf8_lossy(c)
                )
            }
            CommandError::BadVersion(v) => {
                write!(f, "session command with protocol version {v}, expected 2")
            }
            CommandError::BadClockSyncCount(c) => {
                write!(f, "clock sync with count {c}, expected 0, 1 or 2")
            }
        }
    }
}

impl std::error::Error for CommandError {}

/// True when `bytes` start like a session command rather than an RTP-MIDI packet.
pub fn is_session_command(bytes: &[u8]) -> bool {
    bytes.starts_with(&SIGNATURE)
}

/// Decodes one session command. Bytes after the fields (padding some peers add) are ignored.
pub fn decode_command(bytes: &[u8]) -> Result<SessionCommand, CommandError> {
    if bytes.len() < 4 {
        return Err(CommandError::TooShort {
            needed: 4,
            got: bytes.len(),
        });
    }
    if !is_session_command(bytes) {
        return Err(CommandError::BadSignature);
    }
    let letters = [bytes[2], bytes[3]];
    let too_short = |needed: usize| CommandError::TooShort {
        needed,
        got: bytes.len(),
    };
    match &letters {
        b"IN" | b"OK" | b"NO" | b"BY" => {
            let version = be_u32(bytes, 4).ok_or(too_short(16))?;
            let initiator_token = be_u32(bytes, 8).ok_or(too_short(16))?;
            let ssrc = be_u32(bytes, 12).ok_or(too_short(16))?;
            if version != PROTOCOL_VERSION {
                return Err(CommandError::BadVersion(version));
            }
            let exchange = Exchange {
                initiator_token,
                ssrc,
                name: decode_name(&bytes[16..]),
            };
            Ok(match &letters {
                b"IN" => SessionCommand::Invitation(exchange),
                b"OK" => SessionCommand::Accepted(exchange),
                b"NO" => SessionCommand::Rejected(exchange),
                _ => SessionCommand::End(exchange),
            })
        }
        b"CK" => {
            if bytes.len() < CLOCK_SYNC_BYTES {
                return Err(too_short(CLOCK_SYNC_BYTES));
            }
            let ssrc = be_u32(bytes, 4).ok_or(too_short(CLOCK_SYNC_BYTES))?;
            let count = bytes[8];
            if count > 2 {
                return Err(CommandError::BadClockSyncCount(count));
            }
            let mut timestamps_100us = [0u64; 3];
            for (i, t) in timestamps_100us.iter_mut().enumerate() {
                *t = be_u64(bytes, 12 + 8 * i).ok_or(too_short(CLOCK_SYNC_BYTES))?;
            }
            Ok(SessionCommand::ClockSync(ClockSync {
                ssrc,
                count,
                timestamps_100us,
            }))
        }
        b"RS" => {
            let ssrc = be_u32(bytes, 4).ok_or(too_short(12))?;
            // The sequence number sits in the upper half of a 32-bit field.
            let field = be_u32(bytes, 8).ok_or(too_short(12))?;
            Ok(SessionCommand::ReceiverFeedback(ReceiverFeedback {
                ssrc,
                sequence_number: (field >> 16) as u16,
            }))
        }
        _ => Err(CommandError::UnknownCommand(letters)),
    }
}

/// The name field: NUL-terminated text; a missing terminator is tolerated (the packet end is the
/// end), and an empty name counts as no name.
fn decode_name(bytes: &[u8]) -> Option<String> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    if end == 0 {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
}

impl SessionCommand {
    /// Appends the wire form of the command to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&SIGNATURE);
        match self {
            SessionCommand::Invitation(x)
            | SessionCommand::Accepted(x)
            | SessionCommand::Rejected(x)
            | SessionCommand::End(x) => {
                out.extend_from_slice(match self {
                    SessionCommand::Invitation(_) => b"IN",
                    SessionCommand::Accepted(_) => b"OK",
                    SessionCommand::Rejected(_) => b"NO",
                    _ => b"BY",
                });
                out.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
                out.extend_from_slice(&x.initiator_token.to_be_bytes());
                out.extend_from_slice(&x.ssrc.to_be_bytes());
                if let Some(name) = &x.name {
                    // A NUL inside the name would end it early on the other side: cut it there
                    // ourselves so what we send is what they read.
                    let bytes = name.as_bytes();
                    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                    out.extend_from_slice(&bytes[..end]);
                    out.push(0);
                }
            }
            SessionCommand::ClockSync(ck) => {
                out.extend_from_slice(b"CK");
                out.extend_from_slice(&ck.ssrc.to_be_bytes());
                out.push(ck.count);
                out.extend_from_slice(&[0, 0, 0]);
                for t in ck.timestamps_100us {
                    out.extend_from_slice(&t.to_be_bytes());
                }
            }
            SessionCommand::ReceiverFeedback(rs) => {
                out.extend_from_slice(b"RS");
                out.extend_from_slice(&rs.ssrc.to_be_bytes());
                out.extend_from_slice(&(u32::from(rs.sequence_number) << 16).to_be_bytes());
            }
        }
    }

    /// The wire form of the command in a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CLOCK_SYNC_BYTES);
        self.encode(&mut out);
        out
    }
}

fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_be_bytes(a))
}

// ---------------------------------------------------------------------------------------------
// RTP-MIDI data packets
// ---------------------------------------------------------------------------------------------

/// The RTP header fields that matter for MIDI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RtpHeader {
    /// RTP marker bit; RTP-MIDI gives it no meaning we use, but it is kept for round trips.
    pub marker: bool,
    /// Increases by one per packet (wrapping); gaps reveal lost packets.
    pub sequence_number: u16,
    /// Sender's time of the packet in 10 kHz ticks (100 µs), the AppleMIDI clock rate.
    pub timestamp_100us: u32,
    /// Synchronisation source: which participant sent the packet.
    pub ssrc: u32,
}

/// A decoded RTP-MIDI packet, apart from its MIDI commands (they go to a [`MidiList`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataPacket<'a> {
    /// The RTP header.
    pub header: RtpHeader,
    /// P flag: the first command's status byte was implied by running status in the sender's
    /// stream. It is always written out in the list, so this is informational.
    pub phantom_status: bool,
    /// The recovery journal bytes, when the J flag says one follows the MIDI list.
    pub journal: Option<&'a [u8]>,
    /// Set when the MIDI list was malformed part way; the commands before the fault are in the
    /// list, the rest of the list is skipped (the journal is still found, its offset is known).
    pub list_error: Option<ListError>,
}

/// Why bytes are not an RTP-MIDI packet at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataError {
    /// Fewer bytes than the RTP header and command section header need.
    TooShort {
        /// Bytes needed at least.
        needed: usize,
        /// Bytes there were.
        got: usize,
    },
    /// RTP version other than 2 (a session command, `FF FF`, shows up as version 3).
    BadVersion(u8),
    /// A payload type other than 0x61.
    BadPayloadType(u8),
    /// The RTP padding count is zero or larger than the payload.
    BadPadding,
    /// The command section header declares more MIDI list bytes than the packet holds.
    ListTruncated {
        /// MIDI list bytes declared.
        declared: usize,
        /// Bytes left in the packet.
        available: usize,
    },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::TooShort { needed, got } => {
                write!(f, "RTP-MIDI packet too short: {got} bytes, needs {needed}")
            }
            DataError::BadVersion(v) => write!(f, "RTP version {v}, expected 2"),
            DataError::BadPayloadType(t) => {
                write!(f, "RTP payload type {t:#04x}, expected 0x61 (MIDI)")
            }
            DataError::BadPadding => write!(f, "RTP padding count does not fit the packet"),
            DataError::ListTruncated {
                declared,
                available,
            } => write!(
                f,
                "MIDI list declares {declared} bytes but only {available} follow"
            ),
        }
    }
}

impl std::error::Error for DataError {}

/// A fault inside a MIDI list; `offset` counts bytes from the start of the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListError {
    /// A delta time longer than 4 bytes, or cut off by the end of the list.
    BadDeltaTime {
        /// Where the delta time starts.
        offset: usize,
    },
    /// A data byte where a command starts, with no running status to apply.
    MissingStatus {
        /// Where the data byte is.
        offset: usize,
    },
    /// A command cut short by the end of the list or by a status byte.
    TruncatedCommand {
        /// Where the command starts.
        offset: usize,
    },
    /// A SysEx segment with no F7, F0 or F4 to close it.
    UnterminatedSysex {
        /// Where the segment starts.
        offset: usize,
    },
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListError::BadDeltaTime { offset } => write!(f, "bad delta time at list byte {offset}"),
            ListError::MissingStatus { offset } => {
                write!(f, "data byte with no running status at list byte {offset}")
            }
            ListError::TruncatedCommand { offset } => {
                write!(f, "MIDI command cut short at list byte {offset}")
            }
            ListError::UnterminatedSysex { offset } => {
                write!(f, "SysEx segment not terminated, from list byte {offset}")
            }
        }
    }
}

impl std::error::Error for ListError {}

/// One command in a [`MidiList`]: where its bytes are and when it plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ListEntry {
    offset_100us: u32,
    start: usize,
    end: usize,
}

/// The MIDI commands of one packet, each as complete MIDI bytes (running status expanded) with
/// its time after the packet timestamp. Meant to be kept and reused from packet to packet, so
/// decoding does not allocate once its buffers have grown to the usual packet size.
///
/// SysEx segments (`F0..F0`, `F7..F0`, `F7..F7`, `F7..F4`) are listed as they came; feed them to
/// a [`SysexAssembler`] to get whole messages. Realtime bytes embedded in a SysEx are listed as
/// commands of their own, before the segment that carried them.
#[derive(Clone, Debug, Default)]
pub struct MidiList {
    bytes: Vec<u8>,
    entries: Vec<ListEntry>,
}

impl MidiList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the commands, keeping the buffers.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
    }

    /// Number of commands.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the list holds no command.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The command at `index`: its time after the packet timestamp (100 µs units) and its bytes.
    pub fn get(&self, index: usize) -> Option<(u32, &[u8])> {
        let e = self.entries.get(index)?;
        Some((e.offset_100us, self.bytes.get(e.start..e.end)?))
    }

    /// The commands in packet order, as (time after the packet timestamp in 100 µs, bytes).
    pub fn iter(&self) -> impl Iterator<Item = (u32, &[u8])> + '_ {
        self.entries
            .iter()
            .map(move |e| (e.offset_100us, &self.bytes[e.start..e.end]))
    }

    fn push(&mut self, offset_100us: u32, parts: &[&[u8]]) {
        let start = self.bytes.len();
        for p in parts {
            self.bytes.extend_from_slice(p);
        }
        self.entries.push(ListEntry {
            offset_100us,
            start,
            end: self.bytes.len(),
        });
    }
}

/// Decodes an RTP-MIDI packet: the header goes in the returned [`DataPacket`], the MIDI commands
/// into `commands` (cleared first). A malformed MIDI list is not an error: the packet is still
/// returned with the commands before the fault and [`DataPacket::list_error`] set.
pub fn decode_data<'a>(
    bytes: &'a [u8],
    commands: &mut MidiList,
) -> Result<DataPacket<'a>, DataError> {
    commands.clear();
    if bytes.len() < RTP_HEADER_BYTES + 1 {
        return Err(DataError::TooShort {
            needed: RTP_HEADER_BYTES + 1,
            got: bytes.len(),
        });
    }
    let version = bytes[0] >> 6;
    if version != 2 {
        return Err(DataError::BadVersion(version));
    }
    let padded = bytes[0] & 0x20 != 0;
    let extended = bytes[0] & 0x10 != 0;
    let csrc_count = usize::from(bytes[0] & 0x0F);
    let marker = bytes[1] & 0x80 != 0;
    let payload_type = bytes[1] & 0x7F;
    if payload_type != RTP_PAYLOAD_TYPE_MIDI {
        return Err(DataError::BadPayloadType(payload_type));
    }
    let too_short = |needed: usize| DataError::TooShort {
        needed,
        got: bytes.len(),
    };
    let header = RtpHeader {
        marker,
        sequence_number: be_u16(bytes, 2).ok_or(too_short(RTP_HEADER_BYTES))?,
        timestamp_100us: be_u32(bytes, 4).ok_or(too_short(RTP_HEADER_BYTES))?,
        ssrc: be_u32(bytes, 8).ok_or(too_short(RTP_HEADER_BYTES))?,
    };

    // AppleMIDI never sends CSRCs, extensions or padding, but RTP allows them: honour them
    // rather than read them as MIDI.
    let mut start = RTP_HEADER_BYTES + 4 * csrc_count;
    if extended {
        let words = be_u16(bytes, start + 2).ok_or(too_short(start + 4))?;
        start += 4 + 4 * usize::from(words);
    }
    let mut end = bytes.len();
    if padded {
        let pad = usize::from(bytes[end - 1]);
        if pad == 0 || pad > end.saturating_sub(start) {
            return Err(DataError::BadPadding);
        }
        end -= pad;
    }
    let payload = bytes.get(start..end).ok_or(too_short(start + 1))?;

    let flags = *payload.first().ok_or(too_short(start + 1))?;
    let long_header = flags & 0x80 != 0;
    let journal_present = flags & 0x40 != 0;
    let first_has_delta = flags & 0x20 != 0;
    let phantom_status = flags & 0x10 != 0;
    let (list_len, list_start) = if long_header {
        let low = *payload.get(1).ok_or(too_short(start + 2))?;
        ((usize::from(flags & 0x0F) << 8) | usize::from(low), 2)
    } else {
        (usize::from(flags & 0x0F), 1)
    };
    let available = payload.len() - list_start;
    if list_len > available {
        return Err(DataError::ListTruncated {
            declared: list_len,
            available,
        });
    }
    let list = &payload[list_start..list_start + list_len];
    let list_error = decode_list(list, first_has_delta, commands).err();
    let journal = if journal_present {
        Some(&payload[list_start + list_len..])
    } else {
        None
    };
    Ok(DataPacket {
        header,
        phantom_status,
        journal,
        list_error,
    })
}

/// Reads a delta time: 1 to 4 bytes, 7 bits each, most significant first, high bit set on all
/// but the last. Returns the value and the bytes used.
fn read_delta(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut value = 0u32;
    for (i, &b) in bytes.iter().take(4).enumerate() {
        value = (value << 7) | u32::from(b & 0x7F);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Data bytes that follow a channel status byte.
fn channel_data_len(status: u8) -> usize {
    match status & 0xF0 {
        0xC0 | 0xD0 => 1,
        _ => 2,
    }
}

fn decode_list(list: &[u8], first_has_delta: bool, out: &mut MidiList) -> Result<(), ListError> {
    let mut pos = 0;
    let mut first = true;
    let mut offset_100us = 0u32;
    // Running status lives only inside one packet's list: the first channel command of every
    // packet carries its status byte.
    let mut running: Option<u8> = None;
    while pos < list.len() {
        if !first || first_has_delta {
            let (delta, used) =
                read_delta(&list[pos..]).ok_or(ListError::BadDeltaTime { offset: pos })?;
            pos += used;
            offset_100us = offset_100us.saturating_add(delta);
            if pos >= list.len() {
                // A trailing delta time with no command: harmless, some senders pad this way.
                break;
            }
        }
        first = false;
        pos += decode_list_command(list, pos, offset_100us, &mut running, out)?;
    }
    Ok(())
}

/// Decodes the command starting at `list[pos]` (which exists) and returns its length in bytes.
fn decode_list_command(
    list: &[u8],
    pos: usize,
    offset_100us: u32,
    running: &mut Option<u8>,
    out: &mut MidiList,
) -> Result<usize, ListError> {
    let rest = &list[pos..];
    let status = rest[0];
    let data_bytes = |from: usize, n: usize| -> Result<&[u8], ListError> {
        let d = rest
            .get(from..from + n)
            .ok_or(ListError::TruncatedCommand { offset: pos })?;
        if d.iter().any(|&b| b >= 0x80) {
            return Err(ListError::TruncatedCommand { offset: pos });
        }
        Ok(d)
    };
    match status {
        0xF8..=0xFF => {
            // Realtime commands stand alone and leave running status alone.
            out.push(offset_100us, &[&rest[..1]]);
            Ok(1)
        }
        0x80..=0xEF => {
            let n = channel_data_len(status);
            let data = data_bytes(1, n)?;
            *running = Some(status);
            out.push(offset_100us, &[&[status], data]);
            Ok(1 + n)
        }
        0x00..=0x7F => {
            let s = running.ok_or(ListError::MissingStatus { offset: pos })?;
            let n = channel_data_len(s);
            let data = data_bytes(0, n)?;
            out.push(offset_100us, &[&[s], data]);
            Ok(n)
        }
        0xF1 | 0xF3 => {
            *running = None;
            let data = data_bytes(1, 1)?;
            out.push(offset_100us, &[&[status], data]);
            Ok(2)
        }
        0xF2 => {
            *running = None;
            let data = data_bytes(1, 2)?;
            out.push(offset_100us, &[&[status], data]);
            Ok(3)
        }
        0xF6 => {
            *running = None;
            out.push(offset_100us, &[&[status]]);
            Ok(1)
        }
        0xF4 | 0xF5 => {
            // Undefined system common: data bytes, then an F7 if the sender closes it. Nobody
            // sends these in practice; the point is to step over them without losing our place.
            *running = None;
            let n = rest[1..].iter().take_while(|&&b| b < 0x80).count();
            let mut len = 1 + n;
            if rest.get(len) == Some(&0xF7) {
                len += 1;
            }
            out.push(offset_100us, &[&rest[..len]]);
            Ok(len)
        }
        // 0xF0 and 0xF7: a SysEx, whole or one segment of it.
        _ => {
            *running = None;
            decode_sysex_segment(rest, pos, offset_100us, out)
        }
    }
}

/// A SysEx segment runs from its F0 or F7 to the first F7 (end), F0 (more to come) or F4
/// (cancelled). Realtime bytes may sit inside it, as on a DIN cable: they are listed first, as
/// their own commands, and left out of the segment's bytes.
fn decode_sysex_segment(
    rest: &[u8],
    pos: usize,
    offset_100us: u32,
    out: &mut MidiList,
) -> Result<usize, ListError> {
    let mut end = None;
    let mut realtime = 0;
    for (i, &b) in rest.iter().enumerate().skip(1) {
        match b {
            0x00..=0x7F => {}
            0xF8..=0xFF => realtime += 1,
            0xF0 | 0xF4 | 0xF7 => {
                end = Some(i + 1);
                break;
            }
            _ => return Err(ListError::UnterminatedSysex { offset: pos }),
        }
    }
    let end = end.ok_or(ListError::UnterminatedSysex { offset: pos })?;
    let segment = &rest[..end];
    if realtime == 0 {
        out.push(offset_100us, &[segment]);
        return Ok(end);
    }
    for b in segment[1..].iter().filter(|&&b| b >= 0xF8) {
        out.push(offset_100us, &[std::slice::from_ref(b)]);
    }
    let start = out.bytes.len();
    out.bytes.extend(segment.iter().filter(|&&b| b < 0xF8));
    out.entries.push(ListEntry {
        offset_100us,
        start,
        end: out.bytes.len(),
    });
    Ok(end)
}

/// Why a data packet could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// A command with no bytes.
    EmptyCommand,
    /// A command that does not start with a status byte (the encoder never uses running status).
    MissingStatus,
    /// Command times that go backwards; they must not decrease along the list.
    TimesOutOfOrder,
    /// A time step that does not fit a 4-byte delta time (2^28 ticks, about 7.5 hours).
    DeltaTooLarge,
    /// The MIDI list would exceed the 4095 bytes the command section can declare.
    ListTooLong(usize),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::EmptyCommand => write!(f, "empty MIDI command"),
            EncodeError::MissingStatus => write!(f, "MIDI command without a status byte"),
            EncodeError::TimesOutOfOrder => write!(f, "MIDI command times go backwards"),
            EncodeError::DeltaTooLarge => write!(f, "MIDI command time step too large"),
            EncodeError::ListTooLong(n) => {
                write!(f, "MIDI list of {n} bytes, at most 4095 fit a packet")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// Appends an RTP-MIDI packet (no journal) carrying `commands` to `out`. Each command is
/// (time after the packet timestamp in 100 µs, complete MIDI bytes with their status byte).
/// On error `out` is left as it was.
pub fn encode_data(
    header: &RtpHeader,
    commands: &[(u32, &[u8])],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let mut list = Vec::with_capacity(commands.iter().map(|c| c.1.len() + 1).sum());
    let mut previous_100us = 0u32;
    let first_has_delta = commands.first().is_some_and(|c| c.0 > 0);
    for (i, (offset_100us, bytes)) in commands.iter().enumerate() {
        let status = *bytes.first().ok_or(EncodeError::EmptyCommand)?;
        if status < 0x80 {
            return Err(EncodeError::MissingStatus);
        }
        if *offset_100us < previous_100us {
            return Err(EncodeError::TimesOutOfOrder);
        }
        if i > 0 || first_has_delta {
            write_delta(offset_100us - previous_100us, &mut list)?;
        }
        previous_100us = *offset_100us;
        list.extend_from_slice(bytes);
    }
    if list.len() > MAX_MIDI_LIST_BYTES {
        return Err(EncodeError::ListTooLong(list.len()));
    }
    out.push(0x80); // V=2, no padding, no extension, no CSRC
    out.push(u8::from(header.marker) << 7 | RTP_PAYLOAD_TYPE_MIDI);
    out.extend_from_slice(&header.sequence_number.to_be_bytes());
    out.extend_from_slice(&header.timestamp_100us.to_be_bytes());
    out.extend_from_slice(&header.ssrc.to_be_bytes());
    let z = if first_has_delta { 0x20 } else { 0 };
    if list.len() <= 0x0F {
        out.push(z | list.len() as u8);
    } else {
        out.push(0x80 | z | (list.len() >> 8) as u8);
        out.push(list.len() as u8);
    }
    out.extend_from_slice(&list);
    Ok(())
}

fn write_delta(delta: u32, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if delta >= 1 << 28 {
        return Err(EncodeError::DeltaTooLarge);
    }
    let mut started = false;
    for shift in [21u32, 14, 7] {
        let group = ((delta >> shift) & 0x7F) as u8;
        if started || group != 0 {
            out.push(0x80 | group);
            started = true;
        }
    }
    out.push((delta & 0x7F) as u8);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// SysEx reassembly
// ---------------------------------------------------------------------------------------------

/// Joins SysEx segments (`F0..F0` first, `F7..F0` middle, `F7..F7` last, `..F4` cancel) into
/// whole `F0..F7` messages. One per peer: segments of different peers must not mix.
///
/// A segment that arrives with no message open (its start was lost) is dropped rather than
/// passed on as a malformed message; call [`SysexAssembler::reset`] when packets were lost.
#[derive(Clone, Debug, Default)]
pub struct SysexAssembler {
    buffer: Vec<u8>,
    open: bool,
}

impl SysexAssembler {
    /// An assembler with no message open.
    pub fn new() -> Self {
        Self::default()
    }

    /// Abandons the message being assembled, if any.
    pub fn reset(&mut self) {
        self.buffer.clear();
        self.open = false;
    }

    /// True while a segmented message has started and not ended.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Takes one segment (as listed by [`MidiList`]); returns the whole message when this
    /// segment completes one. Bytes that are not a SysEx segment are ignored.
    pub fn push(&mut self, segment: &[u8]) -> Option<&[u8]> {
        let (&first, rest) = segment.split_first()?;
        let (&last, data) = rest.split_last()?;
        if first != 0xF0 && first != 0xF7 {
            return None;
        }
        if first == 0xF0 {
            // A new message starts: whatever was open is lost.
            self.reset();
            self.buffer.push(0xF0);
            self.open = true;
        } else if !self.open {
            return None;
        }
        if last == 0xF4 {
            self.reset();
            return None;
        }
        if self.buffer.len() + data.len() + 1 > MAX_SYSEX_BYTES {
            self.reset();
            return None;
        }
        self.buffer.extend_from_slice(data);
        match last {
            0xF7 => {
                self.buffer.push(0xF7);
                self.open = false;
                Some(&self.buffer)
            }
            // F0: more segments follow.
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Recovery journal
// ---------------------------------------------------------------------------------------------

/// The parts of a recovery journal (RFC 6295 appendix A and B) that playhead uses. The journal
/// in a packet describes the sender's stream up to the packet before it, from the checkpoint on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Journal {
    /// S flag: the journal only covers the loss of the single packet before this one.
    pub single_packet_loss: bool,
    /// H flag: channel journals use the enhanced chapter C encoding.
    pub enhanced_chapter_c: bool,
    /// First packet of the history the journal covers.
    pub checkpoint_sequence_number: u16,
    /// Number of channel journals that follow the system journal (not decoded).
    pub channel_journals: u8,
    /// The system journal, when present.
    pub system: Option<SystemJournal>,
}

/// The system journal chapters that carry the transport; the others are skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SystemJournal {
    /// Chapter Q: sequencer state (Start, Stop, Continue, Song Position, clocks).
    pub sequencer: Option<ChapterQ>,
    /// Chapter F: MIDI Time Code tape position.
    pub timecode: Option<ChapterF>,
}

/// Chapter Q, sequencer state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChapterQ {
    /// N flag: the most recent of Start, Continue and Stop was Start or Continue.
    pub running: bool,
    /// D flag: the song position is at a downbeat (a Clock has played since the last locate).
    pub downbeat: bool,
    /// TOP and CLOCK fields (C flag): the song position in MIDI clocks (24 per quarter note).
    pub song_position_clocks: Option<u32>,
    /// TIMETOOLS field (T flag): 24 bits about the MIDI Tick and similar timing tools.
    pub timetools: Option<u32>,
}

/// Chapter F, MIDI Time Code tape position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChapterF {
    /// Q flag: `complete` is in quarter-frame form (eight nibbles) rather than full-frame form.
    pub quarter_frames: bool,
    /// D flag: time code was running backwards.
    pub reverse: bool,
    /// POINT field: which quarter frame `partial` stops at.
    pub point: u8,
    /// COMPLETE field (C flag): the most recent complete time code.
    pub complete: Option<u32>,
    /// PARTIAL field (P flag): quarter frames of a time code still being sent.
    pub partial: Option<u32>,
}

/// A time code read from chapter F.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalTimecode {
    /// Frame rate code: 0 = 24, 1 = 25, 2 = 29.97 drop-frame, 3 = 30.
    pub rate_code: u8,
    /// Hours, 0-23.
    pub hours: u8,
    /// Minutes, 0-59.
    pub minutes: u8,
    /// Seconds, 0-59.
    pub seconds: u8,
    /// Frames within the second.
    pub frames: u8,
}

impl ChapterF {
    /// The complete time code field decoded, when there is one.
    pub fn complete_timecode(&self) -> Option<JournalTimecode> {
        let c = self.complete?;
        if self.quarter_frames {
            // MT0 (frames low nibble) is the most significant nibble, MT7 the least.
            let nibble = |i: u32| ((c >> (28 - 4 * i)) & 0x0F) as u8;
            Some(JournalTimecode {
                frames: nibble(0) | (nibble(1) & 0x01) << 4,
                seconds: nibble(2) | (nibble(3) & 0x03) << 4,
                minutes: nibble(4) | (nibble(5) & 0x03) << 4,
                hours: nibble(6) | (nibble(7) & 0x01) << 4,
                rate_code: (nibble(7) >> 1) & 0x03,
            })
        } else {
            let [hr, mn, sc, fr] = c.to_be_bytes();
            Some(JournalTimecode {
                rate_code: (hr >> 5) & 0x03,
                hours: hr & 0x1F,
                minutes: mn & 0x3F,
                seconds: sc & 0x3F,
                frames: fr & 0x1F,
            })
        }
    }
}

/// The transport as a journal's chapter Q tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalTransport {
    /// True when the sender's sequencer was playing.
    pub running: bool,
    /// Song position in MIDI clocks (24 per quarter note, 6 per Song Position unit), if sent.
    pub song_position_clocks: Option<u32>,
}

/// The transport state in a journal, when its system journal has chapter Q.
pub fn system_transport_state(journal: &Journal) -> Option<JournalTransport> {
    let q = journal.system?.sequencer?;
    Some(JournalTransport {
        running: q.running,
        song_position_clocks: q.song_position_clocks,
    })
}

/// Why bytes are not a recovery journal this decoder can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalError {
    /// Fewer bytes than the journal header or system journal header need.
    TooShort {
        /// Bytes needed at least.
        needed: usize,
        /// Bytes there were.
        got: usize,
    },
    /// The system journal LENGTH is below its own header size or past the end of the packet.
    BadSystemLength {
        /// LENGTH as declared.
        declared: usize,
        /// Bytes available for it.
        available: usize,
    },
    /// A chapter runs past the system journal LENGTH.
    ChapterOverrun {
        /// The chapter letter: 'D', 'V', 'Q' or 'F'.
        chapter: char,
    },
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::TooShort { needed, got } => {
                write!(f, "recovery journal too short: {got} bytes, needs {needed}")
            }
            JournalError::BadSystemLength {
                declared,
                available,
            } => write!(
                f,
                "system journal declares {declared} bytes, {available} available"
            ),
            JournalError::ChapterOverrun { chapter } => {
                write!(f, "system journal chapter {chapter} runs past its length")
            }
        }
    }
}

impl std::error::Error for JournalError {}

/// Decodes the journal header and the system journal's chapters Q and F, skipping the rest by
/// their lengths. Channel journals are counted, not read.
pub fn decode_journal(bytes: &[u8]) -> Result<Journal, JournalError> {
    let header = bytes.get(..3).ok_or(JournalError::TooShort {
        needed: 3,
        got: bytes.len(),
    })?;
    let flags = header[0];
    let channel_journals = if flags & 0x20 != 0 {
        (flags & 0x0F) + 1
    } else {
        0
    };
    let system = if flags & 0x40 != 0 {
        Some(decode_system_journal(&bytes[3..])?)
    } else {
        None
    };
    Ok(Journal {
        single_packet_loss: flags & 0x80 != 0,
        enhanced_chapter_c: flags & 0x10 != 0,
        checkpoint_sequence_number: u16::from_be_bytes([header[1], header[2]]),
        channel_journals,
        system,
    })
}

/// Reads forward through a chapter area, failing (not panicking) at its end.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, chapter: char) -> Result<&'a [u8], JournalError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(JournalError::ChapterOverrun { chapter })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn byte(&mut self, chapter: char) -> Result<u8, JournalError> {
        Ok(self.take(1, chapter)?[0])
    }
}

fn decode_system_journal(bytes: &[u8]) -> Result<SystemJournal, JournalError> {
    let word = be_u16(bytes, 0).ok_or(JournalError::TooShort {
        needed: 5,
        got: bytes.len() + 3,
    })?;
    let length = usize::from(word & 0x03FF);
    if length < 2 || length > bytes.len() {
        return Err(JournalError::BadSystemLength {
            declared: length,
            available: bytes.len(),
        });
    }
    let mut r = Reader {
        bytes: &bytes[2..length],
        pos: 0,
    };
    let mut system = SystemJournal::default();
    if word & 0x4000 != 0 {
        skip_chapter_d(&mut r)?;
    }
    if word & 0x2000 != 0 {
        r.take(1, 'V')?;
    }
    if word & 0x1000 != 0 {
        let h = r.byte('Q')?;
        let song_position_clocks = if h & 0x10 != 0 {
            let c = r.take(2, 'Q')?;
            Some(u32::from(h & 0x07) << 16 | u32::from(u16::from_be_bytes([c[0], c[1]])))
        } else {
            None
        };
        let timetools = if h & 0x08 != 0 {
            let t = r.take(3, 'Q')?;
            Some(u32::from(t[0]) << 16 | u32::from(t[1]) << 8 | u32::from(t[2]))
        } else {
            None
        };
        system.sequencer = Some(ChapterQ {
            running: h & 0x40 != 0,
            downbeat: h & 0x20 != 0,
            song_position_clocks,
            timetools,
        });
    }
    if word & 0x0800 != 0 {
        let h = r.byte('F')?;
        let mut field = |present: bool| -> Result<Option<u32>, JournalError> {
            if !present {
                return Ok(None);
            }
            let b = r.take(4, 'F')?;
            Ok(Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
        };
        let complete = field(h & 0x40 != 0)?;
        let partial = field(h & 0x20 != 0)?;
        system.timecode = Some(ChapterF {
            quarter_frames: h & 0x10 != 0,
            reverse: h & 0x08 != 0,
            point: h & 0x07,
            complete,
            partial,
        });
    }
    // Chapter X (SysEx) comes last and is not needed: the system journal LENGTH already bounds it.
    Ok(system)
}

/// Chapter D (simple system commands) has optional fields, some of them with their own lengths.
fn skip_chapter_d(r: &mut Reader<'_>) -> Result<(), JournalError> {
    let h = r.byte('D')?;
    // Reset, Tune Request and Song Select fields: one byte each.
    for flag in [0x40, 0x20, 0x10] {
        if h & flag != 0 {
            r.take(1, 'D')?;
        }
    }
    // F4 and F5 fields: a 2-byte header whose 10-bit LENGTH includes itself.
    for flag in [0x08, 0x04] {
        if h & flag != 0 {
            let head = r.take(2, 'D')?;
            let len = usize::from(u16::from_be_bytes([head[0], head[1]]) & 0x03FF);
            r.take(
                len.checked_sub(2)
                    .ok_or(JournalError::ChapterOverrun { chapter: 'D' })?,
                'D',
            )?;
        }
    }
    // F9 and FD fields: a 1-byte header whose 5-bit LENGTH includes itself.
    for flag in [0x02, 0x01] {
        if h & flag != 0 {
            let len = usize::from(r.byte('D')? & 0x1F);
            r.take(
                len.checked_sub(1)
                    .ok_or(JournalError::ChapterOverrun { chapter: 'D' })?,
                'D',
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(name: Option<&str>) -> Exchange {
        Exchange {
            initiator_token: 0xDEAD_BEEF,
            ssrc: 0x1234_5678,
            name: name.map(str::to_owned),
        }
    }

    #[test]
    fn invitation_wire_form_matches_the_protocol() {
        let bytes = SessionCommand::Invitation(exchange(Some("Mac"))).to_bytes();
        assert_eq!(
            bytes,
            [
                0xFF, 0xFF, b'I', b'N', 0, 0, 0, 2, 0xDE, 0xAD, 0xBE, 0xEF, 0x12, 0x34, 0x56, 0x78,
                b'M', b'a', b'c', 0
            ]
        );
    }

    #[test]
    fn session_commands_round_trip() {
        let commands = [
            SessionCommand::Invitation(exchange(Some("Session One"))),
            SessionCommand::Invitation(exchange(None)),
            SessionCommand::Accepted(exchange(Some("playhead"))),
            SessionCommand::Rejected(exchange(None)),
            SessionCommand::End(exchange(None)),
            SessionCommand::ClockSync(ClockSync {
                ssrc: 7,
                count: 1,
                timestamps_100us: [1, u64::MAX, 0x0102_0304_0506_0708],
            }),
            SessionCommand::ReceiverFeedback(ReceiverFeedback {
                ssrc: 9,
                sequence_number: 0xABCD,
            }),
        ];
        for c in commands {
            let bytes = c.to_bytes();
            assert_eq!(decode_command(&bytes), Ok(c.clone()), "{bytes:02x?}");
        }
    }

    #[test]
    fn clock_sync_is_36_bytes_and_feedback_puts_sequence_in_upper_half() {
        let ck = SessionCommand::ClockSync(ClockSync {
            ssrc: 1,
            count: 0,
            timestamps_100us: [5, 0, 0],
        })
        .to_bytes();
        assert_eq!(ck.len(), CLOCK_SYNC_BYTES);
        let rs = SessionCommand::ReceiverFeedback(ReceiverFeedback {
            ssrc: 1,
            sequence_number: 0x0102,
        })
        .to_bytes();
        assert_eq!(rs[8..], [0x01, 0x02, 0, 0]);
    }

    #[test]
    fn name_without_terminator_and_with_trailing_bytes_is_read() {
        let mut bytes = SessionCommand::Accepted(exchange(None)).to_bytes();
        bytes.extend_from_slice(b"Studio");
        assert_eq!(
            decode_command(&bytes),
            Ok(SessionCommand::Accepted(exchange(Some("Studio"))))
        );
        bytes.extend_from_slice(&[0, 0xAA, 0xBB]);
        assert_eq!(
            decode_command(&bytes),
            Ok(SessionCommand::Accepted(exchange(Some("Studio"))))
        );
    }

    #[test]
    fn name_with_a_nul_is_cut_there_on_encoding() {
        let bytes = SessionCommand::Invitation(exchange(Some("a\0b"))).to_bytes();
        assert_eq!(
            decode_command(&bytes),
            Ok(SessionCommand::Invitation(exchange(Some("a"))))
        );
    }

    #[test]
    fn command_errors_are_specific() {
        assert_eq!(
            decode_command(&[0xFF]),
            Err(CommandError::TooShort { needed: 4, got: 1 })
        );
        assert_eq!(
            decode_command(&[0x80, 0x61, 0, 0]),
            Err(CommandError::BadSignature)
        );
        assert_eq!(
            decode_command(b"\xFF\xFFZZ"),
            Err(CommandError::UnknownCommand(*b"ZZ"))
        );
        assert_eq!(
            decode_command(b"\xFF\xFFIN\0\0\0\x02\0\0"),
            Err(CommandError::TooShort {
                needed: 16,
                got: 10
            })
        );
        let mut v3 = SessionCommand::Invitation(exchange(None)).to_bytes();
        v3[7] = 3;
        assert_eq!(decode_command(&v3), Err(CommandError::BadVersion(3)));
        let mut ck = SessionCommand::ClockSync(ClockSync {
            ssrc: 1,
            count: 0,
            timestamps_100us: [0; 3],
        })
        .to_bytes();
        ck[8] = 3;
        assert_eq!(decode_command(&ck), Err(CommandError::BadClockSyncCount(3)));
        assert_eq!(
            decode_command(&ck[..35]),
            Err(CommandError::TooShort {
                needed: 36,
                got: 35
            })
        );
    }

    fn header(seq: u16) -> RtpHeader {
        RtpHeader {
            marker: false,
            sequence_number: seq,
            timestamp_100us: 0x0001_0000,
            ssrc: 0xCAFE_F00D,
        }
    }

    fn commands(list: &MidiList) -> Vec<(u32, Vec<u8>)> {
        list.iter().map(|(t, b)| (t, b.to_vec())).collect()
    }

    #[test]
    fn data_packets_round_trip() {
        let spp: &[u8] = &[0xF2, 0x10, 0x00];
        let note: &[u8] = &[0x90, 60, 100];
        let cases: Vec<Vec<(u32, &[u8])>> = vec![
            vec![],
            vec![(0, &[0xFA])],
            vec![(0, spp), (0, &[0xFB])],
            vec![(3, &[0xFC])],
            vec![
                (0, note),
                (200, &[0xF8]),
                (20_000, &[0xF8]),
                (2_000_000, &[0xFC]),
            ],
            // Long enough for the 12-bit length form.
            (0..20).map(|i| (i * 10, note)).collect(),
        ];
        let mut list = MidiList::new();
        for (n, cmds) in cases.iter().enumerate() {
            let mut bytes = Vec::new();
            encode_data(&header(n as u16), cmds, &mut bytes).unwrap();
            let packet = decode_data(&bytes, &mut list).unwrap();
            assert_eq!(packet.header, header(n as u16));
            assert_eq!(packet.journal, None);
            assert_eq!(packet.list_error, None);
            let want: Vec<(u32, Vec<u8>)> = cmds.iter().map(|(t, b)| (*t, b.to_vec())).collect();
            assert_eq!(commands(&list), want, "case {n}");
        }
    }

    #[test]
    fn lone_start_is_the_smallest_packet() {
        let mut bytes = Vec::new();
        encode_data(&header(1), &[(0, &[0xFA])], &mut bytes).unwrap();
        assert_eq!(bytes.len(), 14);
        assert_eq!(bytes[12], 0x01);
        let mut list = MidiList::new();
        decode_data(&bytes, &mut list).unwrap();
        assert_eq!(commands(&list), vec![(0, vec![0xFA])]);
    }

    fn packet(flags_and_list: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0x80, 0x61, 0x00, 0x05, 0, 0, 0, 100, 0, 0, 0, 42];
        bytes.extend_from_slice(flags_and_list);
        bytes
    }

    #[test]
    fn running_status_and_realtime_interleave() {
        // Note on, running-status note on after a delta, a clock (keeps running status), and
        // another running-status note.
        let bytes = packet(&[0x0B, 0x90, 60, 100, 0x05, 62, 90, 0x00, 0xF8, 0x01, 64, 0]);
        let mut list = MidiList::new();
        let p = decode_data(&bytes, &mut list).unwrap();
        assert_eq!(p.list_error, None);
        assert_eq!(
            commands(&list),
            vec![
                (0, vec![0x90, 60, 100]),
                (5, vec![0x90, 62, 90]),
                (5, vec![0xF8]),
                (6, vec![0x90, 64, 0]),
            ]
        );
    }

    #[test]
    fn z_flag_puts_a_delta_before_the_first_command() {
        let bytes = packet(&[0x23, 0x81, 0x00, 0xFA]);
        let mut list = MidiList::new();
        decode_data(&bytes, &mut list).unwrap();
        assert_eq!(commands(&list), vec![(128, vec![0xFA])]);
    }

    #[test]
    fn system_common_cancels_running_status() {
        let bytes = packet(&[0x07, 0x90, 60, 100, 0x00, 0xF6, 0x00, 61]);
        let mut list = MidiList::new();
        let p = decode_data(&bytes, &mut list).unwrap();
        assert_eq!(p.list_error, Some(ListError::MissingStatus { offset: 6 }));
        assert_eq!(
            commands(&list),
            vec![(0, vec![0x90, 60, 100]), (0, vec![0xF6])]
        );
    }

    #[test]
    fn malformed_list_keeps_what_came_before_and_finds_the_journal() {
        // FA, then a note cut short by a status byte; J=1 and a 3-byte empty journal follows.
        let bytes = packet(&[0x44, 0xFA, 0x00, 0x90, 0xF8, 0x00, 0x12, 0x34]);
        let mut list = MidiList::new();
        let p = decode_data(&bytes, &mut list).unwrap();
        assert_eq!(commands(&list), vec![(0, vec![0xFA])]);
        assert_eq!(
            p.list_error,
            Some(ListError::TruncatedCommand { offset: 2 })
        );
        assert_eq!(p.journal, Some(&[0x00, 0x12, 0x34][..]));
    }

    #[test]
    fn sysex_segments_are_listed_and_reassembled() {
        let first = packet(&[0x06, 0xF0, 0x7E, 0x01, 0xF8, 0x02, 0xF0]);
        let middle = packet(&[0x03, 0xF7, 0x03, 0xF0]);
        let last = packet(&[0x03, 0xF7, 0x04, 0xF7]);
        let mut list = MidiList::new();
        let mut sysex = SysexAssembler::new();
        let mut whole = Vec::new();
        let mut realtime = Vec::new();
        for p in [&first, &middle, &last] {
            decode_data(p, &mut list).unwrap();
            for (_, cmd) in list.iter() {
                if cmd[0] >= 0xF8 {
                    realtime.push(cmd[0]);
                } else if let Some(m) = sysex.push(cmd) {
                    whole.push(m.to_vec());
                }
            }
        }
        assert_eq!(realtime, vec![0xF8]);
        assert_eq!(whole, vec![vec![0xF0, 0x7E, 0x01, 0x02, 0x03, 0x04, 0xF7]]);
        assert!(!sysex.is_open());
    }

    #[test]
    fn cancelled_and_orphaned_sysex_segments_yield_nothing() {
        let mut sysex = SysexAssembler::new();
        assert_eq!(sysex.push(&[0xF0, 1, 0xF0]), None);
        assert_eq!(sysex.push(&[0xF7, 0xF4]), None);
        assert!(!sysex.is_open());
        // The start was lost: middle and end are dropped, not passed on half.
        assert_eq!(sysex.push(&[0xF7, 2, 0xF0]), None);
        assert_eq!(sysex.push(&[0xF7, 3, 0xF7]), None);
        // A whole message passes through.
        assert_eq!(
            sysex.push(&[0xF0, 0x7F, 0x7F, 0x01, 0xF7]),
            Some(&[0xF0, 0x7F, 0x7F, 0x01, 0xF7][..])
        );
    }

    #[test]
    fn oversized_sysex_is_dropped() {
        let mut sysex = SysexAssembler::new();
        let mut chunk = vec![0xF7];
        chunk.extend(std::iter::repeat_n(0x11, 4000));
        chunk.push(0xF0);
        sysex.push(&[0xF0, 0xF0]);
        for _ in 0..(MAX_SYSEX_BYTES / 4000 + 1) {
            sysex.push(&chunk);
        }
        assert!(!sysex.is_open());
        assert_eq!(sysex.push(&[0xF7, 0xF7]), None);
    }

    #[test]
    fn data_errors_are_specific() {
        let mut list = MidiList::new();
        assert_eq!(
            decode_data(&[0x80; 5], &mut list),
            Err(DataError::TooShort { needed: 13, got: 5 })
        );
        let mut v1 = packet(&[0x01, 0xFA]);
        v1[0] = 0x40;
        assert_eq!(decode_data(&v1, &mut list), Err(DataError::BadVersion(1)));
        let mut pt = packet(&[0x01, 0xFA]);
        pt[1] = 0x60;
        assert_eq!(
            decode_data(&pt, &mut list),
            Err(DataError::BadPayloadType(0x60))
        );
        assert_eq!(
            decode_data(&packet(&[0x05, 0xFA]), &mut list),
            Err(DataError::ListTruncated {
                declared: 5,
                available: 1
            })
        );
        let mut padded = packet(&[0x01, 0xFA, 0x00, 0x09]);
        padded[0] |= 0x20;
        assert_eq!(decode_data(&padded, &mut list), Err(DataError::BadPadding));
    }

    #[test]
    fn rtp_padding_csrc_and_extension_are_skipped() {
        // One CSRC, a one-word extension, then the payload, then 2 bytes of padding.
        let mut bytes = vec![0xB1, 0x61, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7];
        bytes.extend_from_slice(&[0xAA; 4]); // CSRC
        bytes.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x01, 1, 2, 3, 4]); // extension
        bytes.extend_from_slice(&[0x01, 0xFC]); // command section: Stop
        bytes.extend_from_slice(&[0x00, 0x02]); // padding
        let mut list = MidiList::new();
        let p = decode_data(&bytes, &mut list).unwrap();
        assert_eq!(p.header.ssrc, 7);
        assert_eq!(commands(&list), vec![(0, vec![0xFC])]);
    }

    #[test]
    fn encoder_refuses_what_it_cannot_write() {
        let mut out = Vec::new();
        let h = header(0);
        assert_eq!(
            encode_data(&h, &[(0, &[])], &mut out),
            Err(EncodeError::EmptyCommand)
        );
        assert_eq!(
            encode_data(&h, &[(0, &[60, 100])], &mut out),
            Err(EncodeError::MissingStatus)
        );
        assert_eq!(
            encode_data(&h, &[(5, &[0xF8]), (4, &[0xF8])], &mut out),
            Err(EncodeError::TimesOutOfOrder)
        );
        assert_eq!(
            encode_data(&h, &[(1 << 28, &[0xF8])], &mut out),
            Err(EncodeError::DeltaTooLarge)
        );
        let big = vec![0xF8u8; 4096];
        assert_eq!(
            encode_data(&h, &[(0, &big)], &mut out),
            Err(EncodeError::ListTooLong(4096))
        );
        assert!(out.is_empty());
    }

    /// A journal with a system journal holding chapters D (with an F4 and an FD field), V, Q
    /// and F, as a sender would write after Start, clocks, then a Stop.
    fn journal_bytes(running: bool, clocks: u32) -> Vec<u8> {
        let mut chapters = vec![
            // Chapter D: B (reset) and J (F4 field, 4 bytes) and Z (FD field, 2 bytes).
            0x49, 0x05, 0x00, 0x04, 0xAA, 0xBB, 0x02, 0x01, // Chapter V.
            0x03,
        ];
        // Chapter Q with CLOCK and TIMETOOLS.
        let n = if running { 0x40 } else { 0 };
        chapters.push(n | 0x20 | 0x10 | 0x08 | ((clocks >> 16) & 0x07) as u8);
        chapters.extend_from_slice(&(clocks as u16).to_be_bytes());
        chapters.extend_from_slice(&[0, 0, 0]);
        // Chapter F, full-frame form: 25 fps, 01:02:03:04.
        chapters.extend_from_slice(&[0x40, 0x21, 0x02, 0x03, 0x04]);
        // Chapter X would go here; a trailing byte stands in for it.
        chapters.push(0x99);
        let len = chapters.len() + 2;
        // Journal header: Y=1, A=1 with 2 channel journals, checkpoint 0x0102.
        let mut j = vec![0x61, 0x01, 0x02];
        j.push(0x7C | ((len >> 8) as u8 & 0x03)); // D V Q F X flags
        j.push(len as u8);
        j.extend_from_slice(&chapters);
        j.extend_from_slice(&[0xEE; 6]); // channel journals, not read
        j
    }

    #[test]
    fn journal_gives_the_sequencer_state_and_time_code() {
        let j = decode_journal(&journal_bytes(false, 0x1_2345)).unwrap();
        assert_eq!(j.checkpoint_sequence_number, 0x0102);
        assert_eq!(j.channel_journals, 2);
        let q = j.system.unwrap().sequencer.unwrap();
        assert!(!q.running && q.downbeat);
        assert_eq!(q.timetools, Some(0));
        assert_eq!(
            system_transport_state(&j),
            Some(JournalTransport {
                running: false,
                song_position_clocks: Some(0x1_2345)
            })
        );
        let f = j.system.unwrap().timecode.unwrap();
        assert_eq!(
            f.complete_timecode(),
            Some(JournalTimecode {
                rate_code: 1,
                hours: 1,
                minutes: 2,
                seconds: 3,
                frames: 4
            })
        );
        let running = decode_journal(&journal_bytes(true, 96)).unwrap();
        assert_eq!(
            system_transport_state(&running),
            Some(JournalTransport {
                running: true,
                song_position_clocks: Some(96)
            })
        );
    }

    #[test]
    fn quarter_frame_time_code_is_decoded() {
        // 30 fps (rate 3), 17:42:59:28 as eight quarter-frame nibbles MT0..MT7.
        let (fr, sc, mn, hr) = (28u32, 59u32, 42u32, 17u32);
        let nibbles = [
            fr & 0xF,
            fr >> 4,
            sc & 0xF,
            sc >> 4,
            mn & 0xF,
            mn >> 4,
            hr & 0xF,
            (hr >> 4) | (3 << 1),
        ];
        let complete = nibbles.iter().fold(0u32, |acc, n| acc << 4 | n);
        let f = ChapterF {
            quarter_frames: true,
            reverse: false,
            point: 7,
            complete: Some(complete),
            partial: None,
        };
        assert_eq!(
            f.complete_timecode(),
            Some(JournalTimecode {
                rate_code: 3,
                hours: 17,
                minutes: 42,
                seconds: 59,
                frames: 28
            })
        );
    }

    #[test]
    fn journal_without_system_part_or_chapter_q_has_no_transport() {
        let j = decode_journal(&[0x20, 0, 1, 0xEE]).unwrap();
        assert_eq!(j.system, None);
        assert_eq!(system_transport_state(&j), None);
        // System journal with only chapter V.
        let j = decode_journal(&[0x40, 0, 1, 0x20, 0x03, 0x05]).unwrap();
        assert_eq!(system_transport_state(&j), None);
    }

    #[test]
    fn journal_errors_are_specific() {
        assert_eq!(
            decode_journal(&[0x40]),
            Err(JournalError::TooShort { needed: 3, got: 1 })
        );
        assert_eq!(
            decode_journal(&[0x40, 0, 1, 0x10, 0x09, 0x00]),
            Err(JournalError::BadSystemLength {
                declared: 9,
                available: 3
            })
        );
        // Chapter Q says C=1 but the system journal ends after its header byte.
        assert_eq!(
            decode_journal(&[0x40, 0, 1, 0x10, 0x03, 0x10, 0, 0]),
            Err(JournalError::ChapterOverrun { chapter: 'Q' })
        );
        // Chapter D with an F4 field whose LENGTH is below its own header.
        assert_eq!(
            decode_journal(&[0x40, 0, 1, 0x40, 0x05, 0x08, 0x00, 0x01]),
            Err(JournalError::ChapterOverrun { chapter: 'D' })
        );
    }

    /// How deep random input got, so the robustness test can show it reached past the headers.
    #[derive(Default)]
    struct Reached {
        commands: usize,
        list_errors: usize,
        sequencer_chapters: usize,
        session_commands: usize,
        whole_sysex: usize,
    }

    fn exercise_decoders(
        bytes: &[u8],
        list: &mut MidiList,
        sysex: &mut SysexAssembler,
        reached: &mut Reached,
    ) {
        reached.session_commands += usize::from(decode_command(bytes).is_ok());
        let _ = decode_journal(bytes);
        if let Ok(p) = decode_data(bytes, list) {
            reached.list_errors += usize::from(p.list_error.is_some());
            if let Some(j) = p.journal {
                if let Ok(j) = decode_journal(j) {
                    reached.sequencer_chapters += usize::from(system_transport_state(&j).is_some());
                    if let Some(f) = j.system.and_then(|s| s.timecode) {
                        let _ = f.complete_timecode();
                    }
                }
            }
            for (_, cmd) in list.iter() {
                assert!(!cmd.is_empty());
                reached.commands += 1;
                reached.whole_sysex += usize::from(sysex.push(cmd).is_some());
            }
        }
        let _ = sysex.push(bytes);
    }

    #[test]
    fn no_decoder_panics_on_random_truncated_or_mutated_input() {
        let mut rng = crate::rng::Rng::seeded(0x9E37_79B9_7F4A_7C15);
        let mut list = MidiList::new();
        let mut sysex = SysexAssembler::new();
        let mut seeds: Vec<Vec<u8>> = vec![
            SessionCommand::Invitation(exchange(Some("seed"))).to_bytes(),
            SessionCommand::ClockSync(ClockSync {
                ssrc: 1,
                count: 2,
                timestamps_100us: [1, 2, 3],
            })
            .to_bytes(),
            SessionCommand::ReceiverFeedback(ReceiverFeedback {
                ssrc: 1,
                sequence_number: 2,
            })
            .to_bytes(),
            packet(&[0x0B, 0x90, 60, 100, 0x05, 62, 90, 0x00, 0xF8, 0x01, 64, 0]),
            packet(&[0x06, 0xF0, 0x7E, 0x01, 0xF8, 0x02, 0xF0]),
            packet(&[
                0x0A, 0xF0, 0x7F, 0x7F, 0x01, 0x01, 0x21, 0x02, 0x03, 0x04, 0xF7,
            ]),
            journal_bytes(true, 1234),
        ];
        let mut with_journal = packet(&[0x41, 0xFA]);
        with_journal.extend_from_slice(&journal_bytes(false, 7));
        seeds.push(with_journal);

        let mut reached = Reached::default();
        for round in 0..60_000 {
            let bytes: Vec<u8> = match round % 3 {
                // Pure noise, biased towards the interesting first bytes now and then.
                0 => {
                    let len = rng.below(64);
                    let mut b: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                    if len > 2 && rng.below(2) == 0 {
                        b[0] = 0x80;
                        b[1] = 0x61;
                    }
                    b
                }
                // A valid seed cut short.
                1 => {
                    let s = &seeds[rng.below(seeds.len())];
                    s[..rng.below(s.len() + 1)].to_vec()
                }
                // A valid seed with a few bytes changed, or bytes added.
                _ => {
                    let mut b = seeds[rng.below(seeds.len())].clone();
                    for _ in 0..1 + rng.below(4) {
                        let i = rng.below(b.len());
                        b[i] = rng.next_u64() as u8;
                    }
                    if rng.below(4) == 0 {
                        b.extend((0..rng.below(8)).map(|_| rng.next_u64() as u8));
                    }
                    b
                }
            };
            exercise_decoders(&bytes, &mut list, &mut sysex, &mut reached);
            // Journals are also fed after a valid packet head, so the chapter code sees them.
            let mut framed = packet(&[0x40]);
            framed.extend_from_slice(&bytes);
            exercise_decoders(&framed, &mut list, &mut sysex, &mut reached);
        }
        assert!(reached.commands > 10_000, "{}", reached.commands);
        assert!(reached.list_errors > 1_000, "{}", reached.list_errors);
        assert!(
            reached.sequencer_chapters > 1_000,
            "{}",
            reached.sequencer_chapters
        );
        assert!(
            reached.session_commands > 1_000,
            "{}",
            reached.session_commands
        );
        assert!(reached.whole_sysex > 100, "{}", reached.whole_sysex);
    }
}
