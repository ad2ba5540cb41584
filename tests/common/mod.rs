//! Test harness: a virtual X desktop (Xvfb + a window manager), screenshots read as pixels,
//! keys typed through XTEST, and the playhead binary run on that desktop.
#![allow(dead_code)]

use playhead_testkit::framecode::{read_frame_number, ImageView, VideoRect};
use playhead_testkit::FrameCode;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn need(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "'{tool}' is not installed; the tests need Debian's '{package}' \
         (packaging/quickstart.sh test installs everything)"
    );
}

static NEXT_DISPLAY: AtomicU32 = AtomicU32::new(0);

/// An X server with no screen attached, and a window manager so fullscreen works.
pub struct Desktop {
    pub display: String,
    pub width: usize,
    pub height: usize,
    xvfb: Child,
    wm: Child,
}

impl Desktop {
    pub fn start(width: usize, height: usize) -> Desktop {
        need("Xvfb", "xvfb");
        need("matchbox-window-manager", "matchbox-window-manager");
        need("import", "imagemagick");
        need("xdotool", "xdotool");
        let base = 40 + (std::process::id() % 300) * 3;
        loop {
            let n = base + NEXT_DISPLAY.fetch_add(1, Ordering::SeqCst);
            if Path::new(&format!("/tmp/.X{n}-lock")).exists() {
                continue;
            }
            let display = format!(":{n}");
            let mut xvfb = Command::new("Xvfb")
                .args([
                    &display,
                    "-screen",
                    "0",
                    &format!("{width}x{height}x24"),
                    "-nolisten",
                    "tcp",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start Xvfb");
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
            let deadline = Instant::now() + Duration::from_secs(10);
            while !socket.exists() && Instant::now() < deadline {
                if let Ok(Some(_)) = xvfb.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if !socket.exists() {
                let _ = xvfb.kill();
                let _ = xvfb.wait();
                continue;
            }
            let wm = Command::new("matchbox-window-manager")
                .args(["-use_titlebar", "no", "-use_cursor", "no"])
                .env("DISPLAY", &display)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start matchbox-window-manager");
            std::thread::sleep(Duration::from_millis(300));
            return Desktop {
                display,
                width,
                height,
                xvfb,
                wm,
            };
        }
    }

    /// The whole screen as RGB pixels.
    pub fn screenshot(&self) -> Vec<u8> {
        let out = Command::new("import")
            .args([
                "-display",
                &self.display,
                "-window",
                "root",
                "-depth",
                "8",
                "rgb:-",
            ])
            .output()
            .expect("run import");
        assert!(
            out.status.success(),
            "screenshot failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.stdout.len(),
            self.width * self.height * 3,
            "screenshot size"
        );
        out.stdout
    }

    /// The demo show's frame number on screen, assuming the 640x360 video fills the screen
    /// with letterboxing as needed (fullscreen).
    pub fn frame_on_screen(&self) -> Option<u32> {
        let px = self.screenshot();
        let view = ImageView {
            pixels: &px,
            width: self.width,
            height: self.height,
            stride_bytes: self.width * 3,
            bytes_per_pixel: 3,
        };
        read_frame_number(&view, &VideoRect::fit(640, 360, self.width, self.height))
    }

    /// Waits until the frame on screen satisfies `ok`; returns it.
    pub fn wait_frame(&self, what: &str, timeout: Duration, ok: impl Fn(u32) -> bool) -> u32 {
        wait_for_frame(
            what,
            timeout,
            Duration::from_millis(50),
            || self.frame_on_screen(),
            ok,
        )
    }

    /// Types a key (xdotool key name: space, Home, q, Escape, f).
    pub fn key(&self, key: &str) {
        let st = Command::new("xdotool")
            .args(["key", key])
            .env("DISPLAY", &self.display)
            .status()
            .expect("run xdotool");
        assert!(st.success(), "xdotool key {key} failed");
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        let _ = self.wm.kill();
        let _ = self.wm.wait();
        let _ = self.xvfb.kill();
        let _ = self.xvfb.wait();
    }
}

/// The playhead binary, running, with its log collected line by line.
pub struct Playhead {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Playhead {
    /// The program with no network MIDI: tests must not open UDP 5004 (another test or a
    /// real session may hold it) nor multicast mDNS onto the machine's networks.
    pub fn command() -> Command {
        let mut c = Self::bare_command();
        c.arg("--no-rtp");
        c
    }

    /// The program with network MIDI on a free port pair (read it with
    /// [`Playhead::network_port`]) and no mDNS, so it only talks to the peers a test points at
    /// it on loopback.
    pub fn command_with_network() -> Command {
        let mut c = Self::bare_command();
        c.args(["--no-mdns", "--rtp-port", "0"]);
        c
    }

    /// The program with only the test environment set, no options.
    pub fn bare_command() -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_playhead"));
        c.env("RUST_LOG", "info")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    }

    /// The control port of the network-MIDI session, from its start-up log line.
    pub fn network_port(&mut self) -> u16 {
        let line = self.wait_log("on UDP ports ", Duration::from_secs(10));
        line.split("on UDP ports ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no port in '{line}'"))
    }

    /// How many log lines contain `needle`.
    pub fn count_log(&self, needle: &str) -> usize {
        self.log().iter().filter(|l| l.contains(needle)).count()
    }

    /// Waits until `n` log lines contain `needle`.
    pub fn wait_log_count(&mut self, needle: &str, n: usize, timeout: Duration) {
        self.wait_logged(&format!("{n} log lines with '{needle}'"), timeout, |log| {
            (log.iter().filter(|l| l.contains(needle)).count() >= n).then_some(())
        })
    }

    /// Waits until `found` finds what it looks for in the log; fails when playhead exits
    /// first or time runs out, showing the log.
    fn wait_logged<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        found: impl Fn(&[String]) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(t) = found(&self.log()) {
                return t;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                // The log reader may not have caught up with the last lines yet.
                std::thread::sleep(Duration::from_millis(50));
                if let Some(t) = found(&self.log()) {
                    return t;
                }
                panic!(
                    "playhead exited ({st}) before {what}:\n{}",
                    self.log().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {what} in time:\n{}",
                self.log().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn spawn(mut command: Command) -> Playhead {
        let mut child = command.spawn().expect("start playhead");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Playhead { child, log }
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits for a log line containing `needle`; returns it.
    pub fn wait_log(&mut self, needle: &str, timeout: Duration) -> String {
        self.wait_logged(&format!("log line with '{needle}'"), timeout, |log| {
            log.iter().find(|l| l.contains(needle)).cloned()
        })
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                // Let the log reader finish.
                std::thread::sleep(Duration::from_millis(50));
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Playhead {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh temporary directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("playhead-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Makes a named pipe that playhead reads as a raw MIDI device.
pub fn fifo(dir: &Path) -> PathBuf {
    let p = dir.join("midi.fifo");
    let st = Command::new("mkfifo").arg(&p).status().expect("mkfifo");
    assert!(st.success());
    p
}

/// The writing end of the pipe: a stand-in for a MIDI cable into a raw MIDI device.
pub struct MidiPipe(std::fs::File);

impl MidiPipe {
    /// Opens the pipe for writing; blocks until playhead has opened it for reading.
    pub fn open(fifo: &Path) -> MidiPipe {
        MidiPipe(
            std::fs::OpenOptions::new()
                .write(true)
                .open(fifo)
                .expect("open fifo"),
        )
    }

    pub fn send(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.0.write_all(bytes).expect("write midi");
        self.0.flush().unwrap();
    }
}

/// Reads all of a child's stderr.
pub fn read_all(mut r: impl Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
}

pub fn demo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/media/demo.mp4"))
}

/// A second song for setlist tests: the demo from 40 s on (its first frame carries frame code
/// 1000), cut by ffmpeg.
pub fn second_song(dir: &Path) -> PathBuf {
    let out = dir.join("encore.mp4");
    let st = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-ss", "40", "-i"])
        .arg(demo())
        .args([
            "-t",
            "6",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-an",
        ])
        .arg(&out)
        .status()
        .expect("ffmpeg (Debian package ffmpeg; packaging/quickstart.sh test installs it)");
    assert!(st.success());
    out
}

/// The frame number on a headless player's screen, from the demo show's frame code.
pub fn headless_frame(show: &playhead::screen::headless::HeadlessShow) -> Option<u32> {
    show.screen().latest().frame_number(640, 360)
}

/// Waits (up to 10 s) until the frame on a headless player's screen satisfies `ok`; returns it.
pub fn wait_headless_frame(
    show: &playhead::screen::headless::HeadlessShow,
    what: &str,
    ok: impl Fn(u32) -> bool,
) -> u32 {
    wait_for_frame(
        what,
        Duration::from_secs(10),
        Duration::from_millis(5),
        || headless_frame(show),
        ok,
    )
}

/// Reads the frame on screen with `read` every `every` until it satisfies `ok`; returns it,
/// or fails after `timeout` naming the last frame seen.
fn wait_for_frame(
    what: &str,
    timeout: Duration,
    every: Duration,
    read: impl Fn() -> Option<u32>,
    ok: impl Fn(u32) -> bool,
) -> u32 {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    loop {
        let n = read();
        if let Some(n) = n.filter(|&n| ok(n)) {
            return n;
        }
        last = n.or(last);
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last frame on screen: {last:?}"
        );
        std::thread::sleep(every);
    }
}

/// A headless player of the demo show with `options`, armed on its first frame.
pub fn headless_demo(
    options: &playhead::player::PlayerOptions,
) -> playhead::screen::headless::HeadlessShow {
    let show = playhead::screen::headless::HeadlessShow::start(&demo(), options, 640, 360)
        .expect("start the player");
    show.wait_ready(Duration::from_secs(20))
        .expect("first frame");
    show
}

/// Options for the "start" follow mode (SPP 0 arms, Start plays from frame 0, Stop holds).
pub fn start_mode() -> playhead::player::PlayerOptions {
    playhead::player::PlayerOptions {
        follow: playhead::transport::FollowMode::Start,
        ..Default::default()
    }
}

/// The show's window id on `display` (its title starts with "playhead:").
pub fn show_window_id(display: &str) -> u32 {
    let out = Command::new("xdotool")
        .args(["search", "--name", "^playhead:"])
        .env("DISPLAY", display)
        .output()
        .expect("run xdotool");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("the show's window")
}

/// Whether the window manager has the window fullscreen (`_NET_WM_STATE_FULLSCREEN` set).
pub fn is_fullscreen(display: &str, window: u32) -> bool {
    use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _};
    let (conn, _) = x11rb::connect(Some(display)).expect("connect to Xvfb");
    let (state, fullscreen) = wm_state_atoms(&conn);
    conn.get_property(false, window, state, AtomEnum::ATOM, 0, 32)
        .expect("get _NET_WM_STATE")
        .reply()
        .expect("_NET_WM_STATE")
        .value32()
        .is_some_and(|mut atoms| atoms.any(|a| a == fullscreen))
}

/// The `_NET_WM_STATE` and `_NET_WM_STATE_FULLSCREEN` atoms.
pub fn wm_state_atoms(conn: &impl x11rb::connection::Connection) -> (u32, u32) {
    use x11rb::protocol::xproto::ConnectionExt as _;
    let atom = |name: &[u8]| {
        conn.intern_atom(false, name)
            .expect("intern")
            .reply()
            .expect("atom")
            .atom
    };
    (atom(b"_NET_WM_STATE"), atom(b"_NET_WM_STATE_FULLSCREEN"))
}
