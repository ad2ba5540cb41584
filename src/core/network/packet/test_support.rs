//! Test helpers shared by the packet codecs' unit tests: sample exchanges, headers, packets and
//! journals.

use super::*;

pub(super) fn exchange(name: Option<&str>) -> Exchange {
    Exchange {
        initiator_token: 0xDEAD_BEEF,
        ssrc: 0x1234_5678,
        name: name.map(str::to_owned),
    }
}

pub(super) fn header(seq: u16) -> RtpHeader {
    RtpHeader {
        marker: false,
        sequence_number: seq,
        timestamp_100us: 0x0001_0000,
        ssrc: 0xCAFE_F00D,
    }
}

pub(super) fn commands(list: &MidiList) -> Vec<(u32, Vec<u8>)> {
    list.iter().map(|(t, b)| (t, b.to_vec())).collect()
}

pub(super) fn packet(flags_and_list: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0x80, 0x61, 0x00, 0x05, 0, 0, 0, 100, 0, 0, 0, 42];
    bytes.extend_from_slice(flags_and_list);
    bytes
}

/// A journal with a system journal holding chapters D (with an F4 and an FD field), V, Q
/// and F, as a sender would write after Start, clocks, then a Stop.
pub(super) fn journal_bytes(running: bool, clocks: u32) -> Vec<u8> {
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
