//! The whole program on Wayland: a headless weston compositor started by the test, playhead
//! drawing through EGL into its window. weston's headless screenshots cannot be read back here,
//! so this test checks what the log says: armed on the first frame, Start plays, Stop holds,
//! and the event loop keeps answering (a blocking buffer swap would freeze it).
//!
//! MIDI goes in through a named pipe read as a raw MIDI device, standing in for a DAW's cable.

mod common;

use common::{demo, fifo, temp_dir, MidiPipe, Playhead};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

struct Weston {
    child: Child,
    runtime_dir: std::path::PathBuf,
    socket: String,
}

impl Weston {
    fn start() -> Weston {
        let runtime_dir = temp_dir("wayland-runtime");
        let mut perms = std::fs::metadata(&runtime_dir).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
        std::fs::set_permissions(&runtime_dir, perms).unwrap();
        let socket = format!("playhead-test-{}", std::process::id());
        let child = Command::new("weston")
            .args([
                "--backend=headless-backend.so",
                "--width=1280",
                "--height=720",
                "--shell=kiosk-shell.so",
                "--use-pixman",
                "--idle-time=0",
            ])
            .arg(format!("--socket={socket}"))
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("weston (Debian package weston; packaging/quickstart.sh test installs it)");
        let path = runtime_dir.join(&socket);
        let deadline = Instant::now() + 10 * SECOND;
        while !path.exists() {
            assert!(Instant::now() < deadline, "weston did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Weston {
            child,
            runtime_dir,
            socket,
        }
    }
}

impl Drop for Weston {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn plays_and_holds_on_wayland() {
    let weston = Weston::start();
    let dir = temp_dir("wayland");
    let pipe = fifo(&dir);
    let mut cmd = Playhead::command();
    cmd.env_remove("DISPLAY")
        .env("WAYLAND_DISPLAY", &weston.socket)
        .env("XDG_RUNTIME_DIR", &weston.runtime_dir)
        .args(["--follow", "start", "--midi-device"])
        .arg(&pipe)
        .arg(demo());
    let mut ph = Playhead::spawn(cmd);
    ph.wait_log("armed:", 20 * SECOND);
    let mut midi = MidiPipe::open(&pipe);
    midi.send(&[0xF2, 0x00, 0x00, 0xFA]);
    let line = ph.wait_log("Start from", 20 * SECOND);
    assert!(line.contains("-> playing"), "{line}");
    std::thread::sleep(SECOND);
    midi.send(&[0xFC]);
    ph.wait_log("-> holding the frame", 20 * SECOND);
    // Still answering after a second of drawing: re-arm, then play again.
    midi.send(&[0xF2, 0x00, 0x00, 0xFA]);
    ph.wait_log("-> armed on frame 0", 20 * SECOND);
    assert!(ph.is_running());
    let problems: Vec<String> = ph
        .log()
        .into_iter()
        .filter(|l| l.contains("playhead::screen") && (l.contains("ERROR") || l.contains("cannot")))
        .collect();
    assert!(problems.is_empty(), "{problems:?}");
}
