//! Test harness: a virtual X desktop (Xvfb + a window manager), screenshots read as pixels,
//! keys typed through XTEST, and the playhead binary run on that desktop.
#![allow(dead_code)]

#[cfg(feature = "jack")]
pub mod jack;

use playhead_testkit::framecode::{read_frame_number, ImageView, VideoRect};
use playhead_testkit::FrameCode;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
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

/// An X server with no screen attached, and a window manager so fullscreen works (the test
/// kit's virtual screen, with the tools these tests drive it with checked first).
pub struct Desktop {
    pub display: String,
    pub width: usize,
    pub height: usize,
    _screen: playhead_testkit::onscreen::VirtualScreen,
}

impl Desktop {
    pub fn start(width: usize, height: usize) -> Desktop {
        need("Xvfb", "xvfb");
        need("matchbox-window-manager", "matchbox-window-manager");
        need("import", "imagemagick");
        need("xdotool", "xdotool");
        let base = 40 + (std::process::id() % 300) * 3;
        let screen = playhead_testkit::onscreen::VirtualScreen::start(
            base,
            u16::try_from(width).expect("a screen width"),
            u16::try_from(height).expect("a screen height"),
        )
        .expect("a virtual X screen");
        Desktop {
            display: screen.display.clone(),
            width,
            height,
            _screen: screen,
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

    /// Waits until the frame on screen has stayed the same over screenshots spanning at
    /// least `HOLD_OBSERVED` (a playing video changes its frame code every 40 ms), and returns
    /// it; fails after 20 s, naming the frames seen.
    pub fn held_frame(&self, what: &str) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen: Vec<Option<u32>> = Vec::new();
        let mut run: Option<(u32, Instant, usize)> = None;
        loop {
            let n = self.frame_on_screen();
            let now = Instant::now();
            seen.push(n);
            run = match (run, n) {
                (Some((held, since, reads)), Some(n)) if n == held => {
                    Some((held, since, reads + 1))
                }
                (_, Some(n)) => Some((n, now, 1)),
                (_, None) => None,
            };
            if let Some((held, since, reads)) = run {
                if reads >= 3 && now.duration_since(since) >= HOLD_OBSERVED {
                    return held;
                }
            }
            assert!(
                now < deadline,
                "the picture never held still ({what}); frames read: {seen:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
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

/// How long a held picture is watched before it counts as held: a playing video would show
/// 12 new frames meanwhile.
pub const HOLD_OBSERVED: Duration = Duration::from_millis(500);

/// The playhead binary, running, with its log collected line by line.
pub struct Playhead {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    /// The thread reading the log; it ends when playhead's stderr closes.
    reader: Option<std::thread::JoinHandle<()>>,
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

    /// The program with only the test environment set, no options. Its state folder (the
    /// network-MIDI session table) is a fresh temporary one: a test never reads what another
    /// left, nor writes in the home folder.
    pub fn bare_command() -> Command {
        static SPAWNED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let state = std::env::temp_dir().join(format!(
            "playhead-test-state-{}-{}",
            std::process::id(),
            SPAWNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut c = Command::new(env!("CARGO_BIN_EXE_playhead"));
        c.env("PLAYHEAD_STATE_DIR", state);
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

    /// The port of the remote status page (`--remote 127.0.0.1:0`), from its start-up line.
    pub fn remote_port(&mut self) -> u16 {
        let line = self.wait_log(
            "remote status page on http://127.0.0.1:",
            Duration::from_secs(20),
        );
        line.split("http://127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .and_then(|p| p.parse().ok())
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
                self.finish_log();
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
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Playhead {
            child,
            log,
            reader: Some(reader),
        }
    }

    /// After playhead has exited: waits until the reader has every line of its log.
    fn finish_log(&mut self) {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
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
                self.finish_log();
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

/// Waits (up to 20 s) until the frame on a headless player's screen satisfies `ok`; returns it.
pub fn wait_headless_frame(
    show: &playhead::screen::headless::HeadlessShow,
    what: &str,
    ok: impl Fn(u32) -> bool,
) -> u32 {
    wait_for_frame(
        what,
        Duration::from_secs(20),
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

/// Whether the operator's status overlay is drawn on a headless frame: its white text in the
/// top left corner, where the demo show has only its dark background.
pub fn overlay_shown(f: &playhead::screen::headless::Frame) -> bool {
    let lit = (0..50)
        .flat_map(|y| {
            let row = y * f.stride_bytes;
            f.pixels[row..row + 150 * 4].chunks(4)
        })
        .filter(|p| p[0] > 150 && p[1] > 150 && p[2] > 150)
        .count();
    lit >= 20
}

/// Waits (up to 20 s) for the first frame drawn after `serial` that satisfies `ok`.
pub fn wait_drawn(
    show: &playhead::screen::headless::HeadlessShow,
    serial: u64,
    what: &str,
    ok: impl Fn(&playhead::screen::headless::Frame) -> bool,
) -> playhead::screen::headless::Frame {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = serial;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let f = show
            .screen()
            .wait_newer(last, left)
            .unwrap_or_else(|| panic!("timed out waiting for {what}"));
        if ok(&f) {
            return f;
        }
        last = f.serial;
    }
}

/// Frames drawn on a headless player's screen after every input sent to it so far has been
/// handled: the status overlay is shown and hidden again, a few times, and each frame returned
/// is the first one drawn with the overlay as just asked, so mpv had every earlier command
/// before drawing it. They span at least [`HOLD_OBSERVED`] and the overlay ends hidden.
pub fn redraws(
    show: &playhead::screen::headless::HeadlessShow,
) -> Vec<playhead::screen::headless::Frame> {
    use playhead::player::PlayerInput;
    let mut last = show.screen().latest().serial;
    let mut frames: Vec<playhead::screen::headless::Frame> = Vec::new();
    let mut shown = false;
    loop {
        show.tx
            .send(PlayerInput::ToggleOverlay)
            .expect("the player runs");
        shown = !shown;
        let frame = wait_drawn(
            show,
            last,
            if shown {
                "a redraw with the status overlay"
            } else {
                "a redraw without the status overlay"
            },
            |f| overlay_shown(f) == shown,
        );
        last = frame.serial;
        frames.push(frame);
        let span = frames
            .last()
            .and_then(|l| l.rendered_at)
            .zip(frames[0].rendered_at)
            .map(|(l, f)| l.duration_since(f))
            .unwrap_or_default();
        if !shown && frames.len() >= 4 && span >= HOLD_OBSERVED {
            return frames;
        }
        // Spread the redraws out: a playing video moves on between them.
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The frame a headless player holds: every redraw after all input so far was handled shows
/// the same frame (see [`redraws`]). Fails when the picture moves or has no frame code.
pub fn held_frame(show: &playhead::screen::headless::HeadlessShow) -> u32 {
    // A Stop's frame is final once the player has looked whether mpv went past it (at the
    // end of the loop-jump window for the DAW's Stop) and its seek back, if any, has landed.
    let deadline = Instant::now() + Duration::from_secs(20);
    while show.stage.stop_settling() {
        assert!(Instant::now() < deadline, "a Stop never settled");
        std::thread::sleep(Duration::from_millis(5));
    }
    let numbers: Vec<Option<u32>> = redraws(show)
        .iter()
        .map(|f| f.frame_number(640, 360))
        .collect();
    let first = numbers[0].expect("a frame code on screen");
    assert!(
        numbers.iter().all(|n| *n == Some(first)),
        "the picture moved while it should hold: frames {numbers:?}"
    );
    first
}

/// Waits (up to 20 s) for the player's notice that `want` accepts; returns it with every
/// notice before it, in order. Fails on a fatal notice.
pub fn notices_until(
    show: &playhead::screen::headless::HeadlessShow,
    what: &str,
    want: impl Fn(&playhead::player::Notice) -> bool,
) -> Vec<playhead::player::Notice> {
    use playhead::player::Notice;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match show.notices.recv_timeout(left) {
            Ok(Notice::Fatal(m)) => panic!("fatal while waiting for {what}: {m}"),
            Ok(n) => {
                let done = want(&n);
                seen.push(n);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!("no {what}; notices meanwhile: {seen:?}"),
        }
    }
}

/// Waits (up to 20 s) for the cue `want` accepts; returns it with the latency the player
/// measured from the bytes' receipt until mpv had the command.
pub fn wait_cue(
    show: &playhead::screen::headless::HeadlessShow,
    want: impl Fn(&playhead::transport::Cue) -> bool,
) -> (playhead::transport::Cue, Duration) {
    use playhead::player::Notice;
    let seen = notices_until(
        show,
        "the cue",
        |n| matches!(n, Notice::Cued { cue, .. } if want(cue)),
    );
    match seen.last() {
        Some(Notice::Cued { cue, latency }) => (*cue, *latency),
        _ => unreachable!(),
    }
}

/// The process's resident memory, from /proc/self/status, in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

/// True when the tests run as root (network namespaces need it; CI runs as root).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A TCP connection to `to` from the local address `source`: any 127.x.y.z is loopback, so a
/// test can be many machines (the remote counts connections per address).
pub fn connect_from(source: std::net::Ipv4Addr, to: std::net::SocketAddr) -> std::net::TcpStream {
    let std::net::SocketAddr::V4(to) = to else {
        panic!("IPv4 only")
    };
    let sockaddr = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor this function owns; the addresses live on
    // the stack for the calls' duration.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let from = sockaddr(source, 0);
        let rc = libc::bind(fd, (&from as *const libc::sockaddr_in).cast(), len);
        assert_eq!(rc, 0, "bind {source}: {}", std::io::Error::last_os_error());
        let dest = sockaddr(*to.ip(), to.port());
        let rc = libc::connect(fd, (&dest as *const libc::sockaddr_in).cast(), len);
        assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
        std::os::fd::FromRawFd::from_raw_fd(fd)
    }
}

/// One HTTP request from the local address `source`, answered: status code and body.
pub fn http_from(
    source: std::net::Ipv4Addr,
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
) -> (u16, String) {
    let mut s = connect_from(source, addr);
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: playhead\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (code, body)
}
