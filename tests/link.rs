//! Ableton Link with a real Link peer (PyPI `aalink`, tests/peers/link-peer.py) in a network
//! namespace the test makes (only `lo`, up), so Link's multicast never leaves it: the peer
//! starts the session with start/stop sync at 100 BPM; the video's first frame change must
//! be frame 1, shown on the peer's quantized launch (never early, not a beat late), the picture must
//! follow the session's tempo, and the session's Stop must hold it. Needs root (for the
//! namespace) and the `link` build: `cargo test --features link --test link`.
//!
//! The outer test makes the namespace and runs the inner one (ignored otherwise) inside it,
//! so that the player, the Link thread and the peer all live there.
#![cfg(feature = "link")]

mod common;

use playhead::player::{Notice, PlayerOptions};
use playhead::sources::link::ClockMap;
use playhead::transport::{Cue, FollowMode};
use playhead_testkit::FrameCode;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);
const BPM: f64 = 100.0;
/// The demo's frame 1 is due this long after the start.
const FRAME_1: Duration = Duration::from_millis(40);

#[test]
fn a_link_session_starts_follows_and_stops_the_video() {
    assert!(
        common::is_root(),
        "this test makes a network namespace: run it as root, as CI does"
    );
    let exe = std::env::current_exe().unwrap();
    let status = Command::new("unshare")
        .args(["--net", "--", "sh", "-c"])
        .arg("ip link set lo up && exec \"$0\" --exact inner_link_session --ignored --nocapture")
        .arg(exe)
        .status()
        .expect("run unshare (util-linux) and ip (iproute2)");
    assert!(
        status.success(),
        "the Link session test inside the namespace failed"
    );
}

#[test]
#[ignore = "run by a_link_session_starts_follows_and_stops_the_video inside its namespace"]
fn inner_link_session() {
    let _ = env_logger::builder().is_test(true).try_init();
    let python = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/peers-venv/bin/python"
    ));
    assert!(
        python.exists(),
        "PyPI aalink is not installed: run packaging/quickstart.sh test"
    );
    let show = common::headless_demo(&PlayerOptions {
        follow: FollowMode::Chase,
        ..PlayerOptions::default()
    });
    playhead::sources::link::spawn(4.0, show.tx.clone()).expect("the Link thread");
    let mut peer = Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/peers/link-peer.py"
        ))
        .args([&BPM.to_string(), "4", "4"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the Link peer");
    let mut lines = BufReader::new(peer.stdout.take().unwrap()).lines();
    let mut next_line = || lines.next().and_then(Result::ok).unwrap_or_default();
    assert_eq!(next_line(), "joined");
    let start = next_line();
    let start_us: i64 = start
        .split_whitespace()
        .nth(1)
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no start time from the peer: '{start}'"));
    let clock = ClockMap::now(&rusty_link::AblLink::new(BPM));
    let launch = clock.instant(start_us);

    // The first frame change: frame 1, due 40 ms after the launch.
    let mut serial = show.screen().latest().serial;
    let first_change = loop {
        let f = show
            .screen()
            .wait_newer(serial, 10 * SECOND)
            .expect("the video never started");
        serial = f.serial;
        if f.frame_number(640, 360).is_some_and(|n| n != 0) {
            break f;
        }
    };
    let due = launch + FRAME_1;
    let rendered = first_change.rendered_at.expect("a render time");
    let error_ms = if rendered >= due {
        rendered.duration_since(due).as_secs_f64() * 1000.0
    } else {
        -(due.duration_since(rendered).as_secs_f64() * 1000.0)
    };
    println!("Link start: first frame change {error_ms:+.2} ms from when frame 1 was due");
    // What this test proves is that the video starts on the quantized launch: not when the
    // peer pressed play (up to a bar, 2.4 s, earlier), so never before frame 1 is due, and not
    // a beat (600 ms) late. How close to the due time it lands is a timing figure, measured
    // in a release build by the benchmark in the README; a debug build on a loaded 2-core
    // machine only bounds it loosely here.
    assert!(
        (-20.0..300.0).contains(&error_ms),
        "first frame change {error_ms:+.2} ms from when frame 1 was due after the launch"
    );
    assert_eq!(first_change.frame_number(640, 360), Some(1));

    // Three seconds in, the picture is where the session is: the tempo was followed (the
    // clock counts beats at 100 BPM; at the 120 BPM fallback it would be 20 % off).
    let three = launch + 3 * SECOND;
    std::thread::sleep(three.saturating_duration_since(Instant::now()));
    let f = show.screen().latest();
    let n = f.frame_number(640, 360).expect("a frame");
    let at = f.rendered_at.expect("a render time");
    let expected = at.saturating_duration_since(launch).as_secs_f64() * 25.0;
    assert!(
        (f64::from(n) - expected).abs() <= 3.0,
        "frame {n} on screen, the session is at frame {expected:.1}"
    );

    // The session stops: the video holds.
    assert!(next_line().starts_with("stopped"));
    let deadline = Instant::now() + 5 * SECOND;
    loop {
        match show.notices.recv_timeout(SECOND) {
            Ok(Notice::Cued { cue: Cue::Hold, .. }) => break,
            Ok(Notice::Fatal(m)) => panic!("{m}"),
            _ => assert!(
                Instant::now() < deadline,
                "no hold after the session stopped"
            ),
        }
    }
    // Every redraw asked after the Stop was handled shows one frame (common::held_frame).
    common::held_frame(&show);
    let _ = peer.wait();
}
