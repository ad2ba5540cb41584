//! Network MIDI against two third-party implementations, run by the tests on loopback: the npm
//! package `rtpmidi` invites playhead as a DAW machine would and sends the transport, and the
//! PyPI package `pymidi` serves a session that playhead invites. Both are installed by
//! `packaging/quickstart.sh test` (into tests/peers/node_modules and target/peers-venv).
//!
//! The player is headless and every "the video plays" is read from the demo show's frame code
//! in the rendered frames. mDNS is off: nothing leaves 127.0.0.1.

mod common;

use common::{held_frame, wait_headless_frame as wait_frame};
use playhead::screen::headless::HeadlessShow;
use playhead::sources::network::{Network, NetworkOptions};
use playhead::transport::Cue;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

fn peers_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers"))
}

fn installed(what: &Path, package: &str) {
    assert!(
        what.exists(),
        "{} is missing: the interop tests need the third-party peer '{package}'; \
         install the test tools with 'packaging/quickstart.sh test'",
        what.display()
    );
}

/// A third-party peer process, its stdout collected line by line.
struct ThirdParty {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Arc<Mutex<Vec<String>>>,
    what: &'static str,
}

impl ThirdParty {
    fn spawn(what: &'static str, mut command: Command) -> ThirdParty {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        ThirdParty {
            stdin: child.stdin.take(),
            child,
            lines,
            what,
        }
    }

    fn count(&self, prefix: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }

    fn wait_count(&mut self, prefix: &str, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.count(prefix) < n {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "{} exited ({st}): {:?}",
                    self.what,
                    self.lines.lock().unwrap()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} never printed '{prefix}' {n} time(s): {:?}",
                self.what,
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn tell(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").expect("write to the peer");
        stdin.flush().unwrap();
    }
}

impl Drop for ThirdParty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free pair of neighbouring UDP ports on loopback with an even control port, for a
/// third-party program to bind (it is released just before, so a race is possible but rare).
fn free_port_pair() -> u16 {
    for _ in 0..200 {
        let a = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let p = a.local_addr().unwrap().port();
        if p % 2 == 1 || p == u16::MAX {
            continue;
        }
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free UDP port pair");
}

fn show() -> HeadlessShow {
    common::headless_demo(&common::start_mode())
}

fn network(
    tx: crossbeam_channel::Sender<playhead::player::PlayerInput>,
    connect: Vec<String>,
) -> Network {
    Network::start(
        &NetworkOptions {
            rtp_port: 0,
            no_mdns: true,
            session_name: Some("playhead".into()),
            rtp_connect: connect,
            ..NetworkOptions::default()
        },
        tx,
    )
    .expect("start network MIDI")
}

fn wait_cue(show: &HeadlessShow, want: impl Fn(&Cue) -> bool) {
    common::wait_cue(show, want);
}

fn wait_joined(net: &Network, name: &str, n: usize) {
    let deadline = Instant::now() + 20 * SECOND;
    loop {
        let peers = net.peers();
        let count = peers
            .iter()
            .filter(|p| p.name == name && p.data_address.is_some())
            .count();
        if count == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} joined peer(s) called '{name}': {peers:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn node_rtpmidi_invites_plays_stops_leaves_and_comes_back() {
    let script = peers_dir().join("rtpmidi-initiator.js");
    installed(&peers_dir().join("node_modules/rtpmidi"), "npm rtpmidi");
    let show = show();
    let net = network(show.tx.clone(), Vec::new());
    let mut node = ThirdParty::spawn("node rtpmidi", {
        let mut c = Command::new("node");
        c.arg(&script).arg(free_port_pair().to_string()).args([
            "127.0.0.1",
            &net.control_port().to_string(),
            "Live",
        ]);
        c
    });
    node.wait_count("connected", 1, 20 * SECOND);
    wait_joined(&net, "Live", 1);
    // It sends MIDI only after its first clock synchronisation, 1.5 s after joining.
    node.wait_count("synced", 1, 20 * SECOND);
    assert_eq!(held_frame(&show), 0);

    // Play from the top: SPP 0 + Start in one packet.
    node.tell("send f2 00 00, fa");
    wait_cue(&show, |c| matches!(c, Cue::Play | Cue::PlayFromTop));
    wait_frame(&show, "playback", |n| n >= 10);

    // Stop pauses it.
    node.tell("send fc");
    wait_cue(&show, |c| *c == Cue::Hold);
    let held = held_frame(&show);
    assert!(held >= 10, "Stop must hold the frame, held {held}");

    // The DAW machine leaves the session, then joins again and plays from the top.
    node.tell("leave");
    node.wait_count("left", 1, 20 * SECOND);
    wait_joined(&net, "Live", 0);
    node.tell("join");
    node.wait_count("connected", 2, 20 * SECOND);
    wait_joined(&net, "Live", 1);
    node.wait_count("synced", 2, 20 * SECOND);
    node.tell("send f2 00 00");
    wait_frame(&show, "frame 0 after SPP 0", |n| n == 0);
    node.tell("send fa");
    wait_frame(&show, "playback after rejoining", |n| n >= 10);
    node.tell("quit");
}

#[test]
fn playhead_invites_a_pymidi_session_and_keeps_its_clock() {
    let python = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/peers-venv/bin/python"
    ));
    installed(&python, "PyPI pymidi");
    let port = free_port_pair();
    // playhead starts inviting before the session exists: it must keep trying.
    // Stand in for the absent session on its control port until two invitations came.
    let absent = UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).expect("the free port");
    absent.set_read_timeout(Some(20 * SECOND)).unwrap();
    let (tx, _rx) = crossbeam_channel::unbounded();
    let net = network(tx, vec![format!("127.0.0.1:{port}")]);
    let mut invitations = 0;
    let mut buf = [0u8; 1500];
    while invitations < 2 {
        let (n, _) = absent
            .recv_from(&mut buf)
            .expect("playhead keeps inviting the absent session");
        if buf[..n].starts_with(&[0xFF, 0xFF, b'I', b'N']) {
            invitations += 1;
        }
    }
    drop(absent);
    let mut py = ThirdParty::spawn("pymidi server", {
        let mut c = Command::new(&python);
        c.arg(peers_dir().join("pymidi-server.py"))
            .arg(port.to_string());
        c
    });
    // pymidi reports the control port invitation; its data port answers with another SSRC
    // (its quirk), which playhead must take as the same peer.
    py.wait_count("connected playhead", 1, 20 * SECOND);
    wait_joined(&net, "pymidi", 1);
    assert_eq!(net.peers().len(), 1);
    let peer = &net.peers()[0];
    assert!(peer.initiated_by_us);
    assert_eq!(
        peer.control_address,
        SocketAddr::from(([127, 0, 0, 1], port))
    );
    // Our CK0 was answered with its CK1: the latency is known.
    let deadline = Instant::now() + 20 * SECOND;
    while net.peers()[0].latency_us.is_none() {
        assert!(
            Instant::now() < deadline,
            "no clock synchronisation with pymidi"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Leaving says goodbye to it.
    drop(net);
    py.wait_count("disconnected playhead", 1, 20 * SECOND);
}
