//! OS MIDI ports for real, with JACK as the MIDI system: the JACK build's own client (this
//! machine has no ALSA sequencer, and the JACK build is the one that stamps each message with
//! its frame; this file runs only with `cargo test --features jack`). The test starts its own JACK server with the dummy driver,
//! plays a DAW by opening output ports, and watches what playhead does in its log.
#![cfg(feature = "jack")]

mod common;

use common::{demo, Playhead};
use midir::MidiOutput;
use std::process::Stdio;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

use common::jack::{count, daw_port, send_until, wait_count, Jack};

/// The ports `port` is connected to, as JACK lists them (`jack_lsp -c`).
fn connections_of(port: &str) -> Vec<String> {
    let out = std::process::Command::new("jack_lsp")
        .args(["-c", port])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // The port's own line, then one indented line per connection.
    text.lines()
        .filter(|l| l.starts_with(char::is_whitespace))
        .map(|l| l.trim().to_string())
        .collect()
}

fn playhead(args: &[&str]) -> Playhead {
    let mut c = Playhead::command();
    c.arg("--headless").args(args).arg(demo());
    Playhead::spawn(c)
}

#[test]
fn ports_connect_reconnect_and_filter() {
    // One fixed name: should a run ever die without stopping its server, the next run
    // takes the stale registry entry over instead of filling the registry.
    let _jack = Jack::start("playhead-test");

    // --- --list-midi-ports ------------------------------------------------------------------
    let mut daw = daw_port("daw", "sync");
    let out = Playhead::command()
        .arg("--list-midi-ports")
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l == "daw:sync"), "{text}");

    // --- every port, reconnecting when it comes back -------------------------------------
    let mut ph = playhead(&[]);
    ph.wait_log("armed:", 20 * SECOND);
    ph.wait_log("connected MIDI port 'daw:sync'", 20 * SECOND);

    let line = send_until(
        &mut ph,
        &mut daw,
        &[&[0xF2, 0x00, 0x00], &[0xFA]],
        "Start from daw:sync",
    );
    assert!(line.contains("-> playing"), "{line}");

    // The cable is pulled: the port disappears, then comes back under the same name.
    drop(daw);
    ph.wait_log("MIDI port 'daw:sync' disappeared", 20 * SECOND);
    let mut daw = daw_port("daw", "sync");
    wait_count(&ph, "connected MIDI port 'daw:sync'", 2, 20 * SECOND);
    // Someone takes the connection away in a patchbay: playhead makes it again.
    let ours = connections_of("daw:sync");
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert!(ours[0].starts_with("playhead"), "{ours:?}");
    let status = std::process::Command::new("jack_disconnect")
        .args(["daw:sync", &ours[0]])
        .status()
        .unwrap();
    assert!(status.success());
    ph.wait_log(
        "MIDI port 'daw:sync' was disconnected from playhead; connected it again",
        20 * SECOND,
    );
    let line = send_until(&mut ph, &mut daw, &[&[0xFC]], "Stop from daw:sync");
    assert!(line.contains("-> holding the frame"), "{line}");

    // playhead's own virtual input port: a DAW (or a network-MIDI daemon) connects to it.
    let out = MidiOutput::new("rtp-daemon").unwrap();
    let port = out
        .ports()
        .into_iter()
        .find(|p| {
            let name = out.port_name(p).unwrap_or_default();
            // JACK renames a second client called "playhead" to "playhead-01".
            name.starts_with("playhead") && name.ends_with(":playhead")
        })
        .unwrap_or_else(|| {
            let names: Vec<String> = out
                .ports()
                .iter()
                .filter_map(|p| out.port_name(p).ok())
                .collect();
            panic!("no 'playhead:playhead' port among {names:?}")
        });
    let mut conn = out.connect(&port, "to-playhead").unwrap();
    let line = send_until(
        &mut ph,
        &mut conn,
        &[&[0xF2, 0x00, 0x00], &[0xFA]],
        "Start from virtual port 'playhead'",
    );
    assert!(line.contains("-> playing"), "{line}");
    // Our own ports are never connected back to ourselves.
    assert_eq!(count(&ph, "connected MIDI port 'playhead"), 0);
    drop(ph);

    // --- --midi-port picks by name ---------------------------------------------------------
    let mut synth = daw_port("synth", "out");
    let mut ph = playhead(&["--midi-port", "synth"]);
    ph.wait_log("connected MIDI port 'synth:out'", 20 * SECOND);
    // A port that matches, made now, is connected by a later scan of the ports: that scan
    // saw daw:sync too, and left it alone.
    // (JACK names the second client "synth-01".)
    let _second = daw_port("synth", "second");
    wait_count(&ph, "connected MIDI port 'synth", 2, 20 * SECOND);
    assert_eq!(
        count(&ph, "connected MIDI port 'daw:sync'"),
        0,
        "{:?}",
        ph.log()
    );
    // The filtered port's Start goes nowhere: the Start and Stop sent on the chosen port
    // after it come through, and nothing from daw:sync before them.
    daw.send(&[0xFA]).unwrap();
    send_until(&mut ph, &mut synth, &[&[0xFA]], "Start from synth:out");
    send_until(&mut ph, &mut synth, &[&[0xFC]], "Stop from synth:out");
    assert_eq!(
        count(&ph, "Start from daw:sync"),
        0,
        "filtered port reached the player"
    );
}
