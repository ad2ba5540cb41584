//! DNS-SD (mDNS) advertisement and browsing, between two playhead processes inside a network
//! namespace the test makes: multicast there reaches only its own loopback, never the
//! machine's networks. Needs root (for the namespace), as on CI.

mod common;

use common::Playhead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

/// A network namespace with only `lo`, up, held open by a sleeping process.
struct Namespace(Child);

impl Namespace {
    fn new() -> Namespace {
        let child = Command::new("unshare")
            .args(["--net", "sleep", "300"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run unshare (util-linux)");
        let ns = Namespace(child);
        // unshare execs sleep once the namespace exists.
        let deadline = Instant::now() + 20 * SECOND;
        while std::fs::read_to_string(format!("/proc/{}/comm", ns.0.id()))
            .map_or(true, |c| c.trim() != "sleep")
        {
            assert!(Instant::now() < deadline, "unshare --net did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        let st = ns.command("ip").args(["link", "set", "lo", "up"]).status();
        assert!(
            st.is_ok_and(|s| s.success()),
            "cannot bring up lo in the namespace (needs iproute2)"
        );
        ns
    }

    /// `program` run inside the namespace.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/proc/{}/ns/net", self.0.id()))
            .arg("--")
            .arg(program);
        c
    }

    /// Wraps a prepared playhead command so it runs inside the namespace.
    fn playhead(&self, args: &[&str]) -> Playhead {
        let template = Playhead::bare_command();
        let mut c = self.command(template.get_program());
        c.args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Playhead::spawn(c)
    }
}

impl Namespace {
    /// A headless playhead on the demo show in the namespace, advertising the session `name`
    /// on free ports.
    fn session(&self, name: &str) -> Playhead {
        let demo = common::demo();
        self.playhead(&[
            "--headless",
            "--rtp-port",
            "0",
            "--session-name",
            name,
            demo.to_str().expect("a UTF-8 path to the demo"),
        ])
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn two_sessions_advertise_and_see_each_other_over_mdns() {
    if !common::is_root() {
        eprintln!("skipped: making a network namespace needs root");
        return;
    }
    let ns = Namespace::new();
    let demo = common::demo();
    let demo = demo.to_str().unwrap();
    let mut front = ns.session("Front of House");
    let front_port = front.network_port();
    front.wait_log("advertising session 'Front of House'", 20 * SECOND);
    let mut video = ns.session("Video");
    let video_port = video.network_port();

    // Each lists the other, with the control port a DAW would connect to.
    let line = video.wait_log("session 'Front of House' seen", 20 * SECOND);
    assert!(line.contains(&format!("port {front_port}")), "{line}");
    let line = front.wait_log("session 'Video' seen", 20 * SECOND);
    assert!(line.contains(&format!("port {video_port}")), "{line}");
    // Neither lists itself.
    assert_eq!(front.count_log("session 'Front of House' seen"), 0);

    // The preflight check lists the sessions it sees on the network.
    let out = ns
        .command(Playhead::bare_command().get_program())
        .args(["--check", "--rtp-port", "0", demo])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run playhead --check");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("network-MIDI sessions seen:")
            && report.contains("'Front of House'")
            && report.contains("'Video'"),
        "{report}"
    );
}

/// `systemctl stop` sends SIGTERM: the session must leave other machines' lists at once (an
/// mDNS goodbye), not linger there until its record expires, and playhead exits 0.
#[test]
fn sigterm_withdraws_the_advertised_session() {
    if !common::is_root() {
        eprintln!("skipped: making a network namespace needs root");
        return;
    }
    let ns = Namespace::new();
    let mut watcher = ns.session("Watcher");
    watcher.network_port();
    let mut stage = ns.session("Stage Left");
    stage.network_port();
    stage.wait_log("armed:", 30 * SECOND);
    watcher.wait_log("session 'Stage Left' seen", 10 * SECOND);

    let st = Command::new("kill")
        .args(["-TERM", &stage.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(st.success());
    let st = stage
        .wait_exit(10 * SECOND)
        .expect("SIGTERM must end playhead");
    assert!(st.success(), "exit status {st}: {:#?}", stage.log());
    // The goodbye, not the record's expiry (minutes): the watcher hears it while it runs.
    watcher.wait_log("session 'Stage Left' is no longer advertised", 10 * SECOND);
}
