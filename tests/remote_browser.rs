//! The remote status page in a real browser: headless chromium loads it from the running
//! program, sees "armed", sees "playing" when the DAW's Start arrives over network MIDI, and
//! with the token presses Stop: the frame on the (virtual) screen holds.
//!
//! Needs Debian's chromium and npm playwright-core in tests/peers (packaging/quickstart.sh
//! test installs both). `PLAYHEAD_REMOTE_SCREENSHOT=path.png` keeps a picture of the page.

mod common;

use common::{demo, Desktop, Playhead};
use playhead_testkit::peer::{Answer, ScriptedPeer};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);
const TOKEN: &str = "front-of-house-7";

/// The browser script, its stdout collected line by line.
struct Browser {
    child: Child,
    stdin: ChildStdin,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Browser {
    fn open(url: &str, screenshot: Option<&str>) -> Browser {
        let peers = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers"));
        assert!(
            peers.join("node_modules/playwright-core").is_dir(),
            "npm playwright-core is missing in tests/peers: run 'packaging/quickstart.sh test'"
        );
        assert!(
            std::path::Path::new("/usr/bin/chromium").is_file(),
            "Debian's chromium is missing: run 'packaging/quickstart.sh test'"
        );
        let mut command = Command::new("node");
        command
            .current_dir(&peers)
            .arg("remote-page.js")
            .args([url, TOKEN])
            .args(screenshot)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("run node");
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Browser {
            child,
            stdin,
            lines,
        }
    }

    /// Waits until the page has said `word`.
    fn wait_for(&mut self, word: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let lines = self.lines.lock().unwrap().clone();
            if lines.iter().any(|l| l == word) {
                return;
            }
            if let Some(e) = lines.iter().find(|l| l.starts_with("error")) {
                panic!("the browser: {e} (before '{word}'; it said {lines:?})");
            }
            assert!(
                Instant::now() < deadline,
                "the page never said '{word}': {lines:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn tell(&mut self, word: &str) {
        writeln!(self.stdin, "{word}").unwrap();
        self.stdin.flush().unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The number after `marker` in `line`, up to the first character that is not a digit.
fn number_after(line: &str, marker: &str) -> u16 {
    line.split(marker)
        .nth(1)
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after '{marker}' in '{line}'"))
}

#[test]
fn the_page_in_a_browser_follows_the_show_and_stops_it() {
    let desktop = Desktop::start(640, 360);
    let dir = common::temp_dir("remote-browser");
    let mut ph = Playhead::spawn({
        let mut c = Playhead::command_with_network();
        c.env("DISPLAY", &desktop.display)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env("XDG_RUNTIME_DIR", &dir)
            .args(["--follow", "start", "--remote", "127.0.0.1:0"])
            .args(["--remote-token", TOKEN])
            .arg(demo());
        c
    });
    let rtp_port = ph.network_port();
    let line = ph.wait_log("remote status page on http://127.0.0.1:", 20 * SECOND);
    let http_port = number_after(&line, "http://127.0.0.1:");
    ph.wait_log("armed:", 20 * SECOND);
    desktop.wait_frame("the first frame", 10 * SECOND, |n| n == 0);

    let screenshot = std::env::var("PLAYHEAD_REMOTE_SCREENSHOT").ok();
    let mut page = Browser::open(
        &format!("http://127.0.0.1:{http_port}/"),
        screenshot.as_deref(),
    );
    page.wait_for("armed", 60 * SECOND);

    // The DAW presses play over network MIDI.
    let mut daw = ScriptedPeer::new("Live", 0x0b50_0001).unwrap();
    let control = SocketAddr::from(([127, 0, 0, 1], rtp_port));
    match daw.invite(control, 5 * SECOND).expect("an answer") {
        Answer::Accepted { .. } => {}
        other => panic!("not accepted: {other:?}"),
    }
    daw.send_midi(&[&[0xF2, 0, 0], &[0xFA]]).unwrap();
    page.wait_for("playing", 30 * SECOND);
    page.wait_for("peer Live", 30 * SECOND);
    desktop.wait_frame("playback", 20 * SECOND, |n| n >= 25);

    // The technician presses Stop on the page, with the token.
    page.tell("stop");
    page.wait_for("stopped", 30 * SECOND);
    ph.wait_log(
        "remote command Stop from the remote page at 127.0.0.1",
        5 * SECOND,
    );
    let held = desktop.wait_frame("the held frame", 5 * SECOND, |n| n >= 25);
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(
            desktop.frame_on_screen(),
            Some(held),
            "Stop from the page holds the frame"
        );
    }
    if screenshot.is_some() {
        page.wait_for("screenshot", 30 * SECOND);
    }
}
