//! MIDI Machine Control through a real OS MIDI port (midir's JACK backend, a JACK server of
//! the test's own with the dummy driver): the whole program, headless, follows MMC Locate,
//! Play and Stop from a DAW's port, as its log says. Runs with
//! `cargo test --features jack --test mmc_os_port`.
#![cfg(feature = "jack")]

mod common;

use common::{demo, Playhead};
use midir::os::unix::VirtualOutput;
use midir::MidiOutput;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// A JACK server of the test's own (dummy driver), stopped with SIGTERM at the end.
use common::jack::Jack;

#[test]
fn mmc_from_an_os_port_locates_plays_and_stops() {
    let _jack = Jack::start("playhead-mmc-test");
    let mut daw = MidiOutput::new("logic")
        .unwrap()
        .create_virtual("mmc")
        .expect("create a JACK MIDI output port");
    let mut c = Playhead::command();
    c.args(["--headless", "--midi-port", "logic"]).arg(demo());
    let mut ph = Playhead::spawn(c);
    ph.wait_log("armed:", 20 * SECOND);
    ph.wait_log("connected MIDI port 'logic:mmc'", 10 * SECOND);

    // Locate to 00:00:10:00 at 25 fps while stopped: shown paused.
    daw.send(&[
        0xF0, 0x7F, 0x7F, 0x06, 0x44, 0x06, 0x01, 0x20, 0x00, 0x0A, 0x00, 0x00, 0xF7,
    ])
    .unwrap();
    let line = ph.wait_log("Locate", 5 * SECOND);
    assert!(line.contains("showing 10.000 s, paused"), "{line}");
    // Play: from there.
    daw.send(&[0xF0, 0x7F, 0x7F, 0x06, 0x02, 0xF7]).unwrap();
    let line = ph.wait_log("command: Play", 5 * SECOND);
    assert!(line.contains("-> playing"), "{line}");
    // Stop holds.
    daw.send(&[0xF0, 0x7F, 0x7F, 0x06, 0x01, 0xF7]).unwrap();
    let line = ph.wait_log("command: Stop", 5 * SECOND);
    assert!(line.contains("-> holding the frame"), "{line}");
}
