//! Main and backup rigs on real OS MIDI ports, through midir with JACK as the MIDI system
//! (`cargo test --features jack`; a JACK server of the test's own, the dummy driver): the main
//! rig's port is pulled mid-song and the backup's takes over. One test per file: the JACK
//! server is this process's default, set in its environment.
#![cfg(feature = "jack")]

mod common;

use common::jack::{count, daw_port, send_until, Jack};
use common::{demo, Playhead};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn a_main_rigs_port_pulled_mid_song_hands_over_to_the_backups() {
    let _jack = Jack::start("playhead-test-rigs");
    let dir = common::temp_dir("os-port-rigs");
    let show = dir.join("show.playhead.toml");
    std::fs::write(
        &show,
        format!(
            "follow = \"start\"\nmain = \"main:sync\"\nbackup = \"backup:sync\"\n\
             [[song]]\nvideo = {:?}\n",
            demo().display().to_string()
        ),
    )
    .unwrap();
    let mut main = daw_port("main", "sync");
    let mut backup = daw_port("backup", "sync");
    let mut c = Playhead::command();
    c.arg("--headless").arg(&show);
    let mut ph = Playhead::spawn(c);
    ph.wait_log("armed:", 20 * SECOND);
    ph.wait_log("connected MIDI port 'main:sync'", 20 * SECOND);
    ph.wait_log("connected MIDI port 'backup:sync'", 20 * SECOND);

    // Both play (no clock: only the port going tells that the main is gone).
    let line = send_until(&mut ph, &mut main, &[&[0xFA]], "Start from main:sync");
    assert!(line.contains("-> playing"), "{line}");
    // The backup's Start is watched, not obeyed.
    let line = send_until(
        &mut ph,
        &mut backup,
        &[&[0xFA]],
        "Start from backup:sync (the backup rig): watched",
    );
    assert!(line.contains("the main rig leads"), "{line}");
    assert_eq!(
        count(&ph, "Start from backup:sync, t="),
        0,
        "{:?}",
        ph.log()
    );

    // The main's cable is pulled: the backup leads, and the picture plays on.
    drop(main);
    ph.wait_log("MIDI port 'main:sync' disappeared", 20 * SECOND);
    let line = ph.wait_log("failover: the main rig failed", 20 * SECOND);
    assert!(line.contains("its MIDI port disappeared"), "{line}");
    assert!(
        line.contains("the backup rig leads now: it is playing"),
        "{line}"
    );
    assert_eq!(count(&ph, "holding the frame"), 0, "{:?}", ph.log());
    // The backup's Stop is obeyed now.
    let line = send_until(&mut ph, &mut backup, &[&[0xFC]], "Stop from backup:sync");
    assert!(line.contains("-> holding the frame"), "{line}");
}
