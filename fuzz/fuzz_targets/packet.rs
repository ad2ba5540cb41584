//! Arbitrary bytes into every network-MIDI decoder, and into a session as a stream of
//! datagrams from a few addresses on both ports: nothing may panic or read out of bounds.
//!
//! Run with `cargo +nightly fuzz run packet` from the repository root.

#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use playhead_core::network::packet::{
    decode_command, decode_data, decode_journal, system_transport_state, MidiList, SysexAssembler,
};
use playhead_core::network::session::{Options, Session};
use playhead_core::time::Stamp;

fn journal(bytes: &[u8]) {
    if let Ok(j) = decode_journal(bytes) {
        let _ = system_transport_state(&j);
        if let Some(f) = j.system.and_then(|s| s.timecode) {
            let _ = f.complete_timecode();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // The decoders, on the whole input.
    let _ = decode_command(data);
    journal(data);
    let mut list = MidiList::new();
    let mut sysex = SysexAssembler::new();
    if let Ok(packet) = decode_data(data, &mut list) {
        if let Some(j) = packet.journal {
            journal(j);
        }
        for (_, command) in list.iter() {
            assert!(!command.is_empty());
            let _ = sysex.push(command);
        }
    }

    // A session, on the input cut into datagrams: [selector, length, bytes...] repeated. The
    // selector picks the sender (4 hosts), the port, and how far the clock moves.
    let mut session = Session::new("fuzz", 0x0102_0304, Options::default());
    let mut now_us = 0i64;
    let mut rest = data;
    while let [selector, length, tail @ ..] = rest {
        let n = usize::from(*length).min(tail.len());
        let (datagram, after) = tail.split_at(n);
        rest = after;
        let host = selector & 0x03;
        let on_data_port = selector & 0x04 != 0;
        let from = SocketAddr::from(([192, 0, 2, host], 5004 + u16::from(on_data_port)));
        now_us += i64::from(selector >> 3) * 2_000_000;
        let now = Stamp::from_micros(now_us);
        if on_data_port {
            session.handle_data(from, datagram, now);
        } else {
            session.handle_control(from, datagram, now);
        }
        session.poll(now);
        let _ = session.next_deadline();
    }
    let _ = session.peers();
    let _ = session.close();
});
