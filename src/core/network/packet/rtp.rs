//! RTP-MIDI data packets (RFC 6295): the RTP header and the MIDI command list, decoded into
//! complete MIDI messages and encoded from them.

use std::fmt;

use super::{be_u16, be_u32};

/// RTP payload type of RTP-MIDI as AppleMIDI and rtpMIDI send it.
pub const RTP_PAYLOAD_TYPE_MIDI: u8 = 0x61;

/// Size of an RTP header with no CSRC list and no extension.
pub const RTP_HEADER_BYTES: usize = 12;

/// Longest MIDI list the command section header can declare (12-bit LEN).
pub const MAX_MIDI_LIST_BYTES: usize = 0x0FFF;

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
/// a [`SysexAssembler`](super::SysexAssembler) to get whole messages. Realtime bytes embedded in a SysEx are listed as
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

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;

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
}
