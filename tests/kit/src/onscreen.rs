//! What is on a virtual X screen, and when: an Xvfb screen with a window manager (so that
//! fullscreen works), the real `playhead` program on it, and a poller reading the demo show's
//! frame code from the screen at up to 2 kHz.
//!
//! The poller asks the X server for a strip of 8 rows across the middle of the frame-code band
//! (`GetImage`, 40 KB at 1280 pixels wide) in a loop, and records each change of the frame
//! number with the time the answer came. A frame is therefore seen at most one poll interval
//! plus one `GetImage` round trip after the X server has it: well under a millisecond.

use crate::framecode::{read_frame_number_strip, ImageView, VideoRect};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, ImageFormat};

/// An Xvfb screen with matchbox-window-manager on it, or (for several monitors) Xorg with its
/// dummy video driver and openbox; both end with it.
pub struct VirtualScreen {
    /// The display name (`:N`).
    pub display: String,
    /// Its size in pixels (the whole desktop).
    pub width: u16,
    pub height: u16,
    /// Its monitors, left to right: (left edge, width, height). One for an Xvfb screen.
    pub monitors: Vec<(u16, u16, u16)>,
    xvfb: Child,
    wm: Child,
    /// Xorg's configuration and log, removed with the screen.
    dir: Option<std::path::PathBuf>,
}

/// Display numbers taken by this process so far: two screens started at once never try the
/// same one.
static NEXT_DISPLAY: AtomicU32 = AtomicU32::new(0);

impl VirtualScreen {
    /// Starts a screen of `width` x `height` on the first free display number from `first`,
    /// and returns once the window manager has taken it.
    pub fn start(first: u32, width: u16, height: u16) -> Result<VirtualScreen, String> {
        for _ in 0..200 {
            let n = first + NEXT_DISPLAY.fetch_add(1, Ordering::SeqCst);
            if display_taken(n) {
                continue;
            }
            clear_stale(n);
            let display = format!(":{n}");
            let mut xvfb = Command::new("Xvfb")
                .args([&display, "-screen", "0", &format!("{width}x{height}x24")])
                .args(["-nolisten", "tcp"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start Xvfb (Debian's xvfb): {e}"))?;
            let socket = format!("/tmp/.X11-unix/X{n}");
            let deadline = Instant::now() + Duration::from_secs(10);
            while !Path::new(&socket).exists() && Instant::now() < deadline {
                if let Ok(Some(_)) = xvfb.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if !Path::new(&socket).exists() {
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
                .map_err(|e| format!("cannot start matchbox-window-manager: {e}"))?;
            let screen = VirtualScreen {
                display,
                width,
                height,
                monitors: vec![(0, width, height)],
                xvfb,
                wm,
                dir: None,
            };
            wait_for_window_manager(&screen.display)?;
            return Ok(screen);
        }
        Err("no free X display number".into())
    }

    /// Starts a desktop of `count` monitors of `width` x `height` side by side (RandR outputs
    /// DUMMY0, DUMMY1, ... left to right), on the first free display number from `first`:
    /// Xorg with Debian's dummy video driver (`xserver-xorg-video-dummy`; Xvfb has a single
    /// RandR monitor) and openbox, which puts a fullscreen window on its own monitor. Returns
    /// once the window manager has taken it.
    pub fn start_monitors(
        first: u32,
        count: u16,
        width: u16,
        height: u16,
    ) -> Result<VirtualScreen, String> {
        for _ in 0..200 {
            let n = first + NEXT_DISPLAY.fetch_add(1, Ordering::SeqCst);
            if display_taken(n) {
                continue;
            }
            clear_stale(n);
            let display = format!(":{n}");
            let dir =
                std::env::temp_dir().join(format!("playhead-xorg-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let total = u32::from(width) * u32::from(count);
            // A mode of exactly the monitor's size (a CVT-like timing the dummy accepts). The
            // dummy refuses a pixel clock under about 11 MHz ("bad mode clock"): a small mode
            // gets a longer line instead, for a refresh still near 60 Hz.
            let (hw, vh) = (u32::from(width), u32::from(height));
            let ht = (hw + 192).max((25_000_000 / (60 * (vh + 16))).div_ceil(8) * 8);
            let conf = format!(
                "Section \"ServerFlags\"\n  Option \"AutoAddDevices\" \"false\"\n  Option \"AutoAddGPU\" \"false\"\nEndSection\n\
                 Section \"Device\"\n  Identifier \"dummy\"\n  Driver \"dummy\"\n  VideoRam 131072\nEndSection\n\
                 Section \"Monitor\"\n  Identifier \"monitor\"\n  HorizSync 5.0-1000.0\n  VertRefresh 5.0-200.0\n\
                 Modeline \"{hw}x{vh}\" {clock:.2} {hw} {hs} {he} {ht} {vh} {vs} {ve} {vt}\nEndSection\n\
                 Section \"Screen\"\n  Identifier \"screen\"\n  Device \"dummy\"\n  Monitor \"monitor\"\n  DefaultDepth 24\n\
                 SubSection \"Display\"\n    Depth 24\n    Virtual {total} {vh}\n    Modes \"{hw}x{vh}\"\n  EndSubSection\nEndSection\n",
                clock = f64::from(ht * (vh + 16) * 60) / 1e6,
                hs = hw + 32,
                he = hw + 96,
                vs = vh + 3,
                ve = vh + 8,
                vt = vh + 16,
            );
            let conf_path = dir.join("xorg.conf");
            std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
            let mut xorg = Command::new("Xorg")
                .arg(&display)
                .arg("-config")
                .arg(&conf_path)
                .args(["-noreset", "-nolisten", "tcp", "-logfile"])
                .arg(dir.join("xorg.log"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| {
                    format!("cannot start Xorg (Debian's xserver-xorg-core and xserver-xorg-video-dummy): {e}")
                })?;
            let socket = format!("/tmp/.X11-unix/X{n}");
            let deadline = Instant::now() + Duration::from_secs(20);
            while !Path::new(&socket).exists() && Instant::now() < deadline {
                if let Ok(Some(_)) = xorg.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if !Path::new(&socket).exists() || x11rb::connect(Some(&display)).is_err() {
                let _ = xorg.kill();
                let _ = xorg.wait();
                let _ = std::fs::remove_dir_all(&dir);
                continue;
            }
            let mode = format!("{hw}x{vh}");
            for i in 1..count {
                let output = format!("DUMMY{i}");
                let left_of = format!("DUMMY{}", i - 1);
                xrandr(&display, &["--addmode", &output, &mode])?;
                xrandr(
                    &display,
                    &["--output", &output, "--mode", &mode, "--right-of", &left_of],
                )?;
            }
            let wm = Command::new("openbox")
                .env("DISPLAY", &display)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start openbox (Debian's openbox): {e}"))?;
            let screen = VirtualScreen {
                display,
                width: u16::try_from(total).map_err(|_| "too wide a desktop")?,
                height,
                monitors: (0..count).map(|i| (i * width, width, height)).collect(),
                xvfb: xorg,
                wm,
                dir: Some(dir),
            };
            wait_for_window_manager(&screen.display)?;
            return Ok(screen);
        }
        Err("no free X display number".into())
    }

    /// Unplugs monitor `index` (its RandR output turned off), or plugs it back in its place.
    pub fn plug(&self, index: usize, plugged: bool) -> Result<(), String> {
        let output = format!("DUMMY{index}");
        let &(_, w, h) = self.monitors.get(index).ok_or("no such monitor")?;
        if !plugged {
            return xrandr(&self.display, &["--output", &output, "--off"]);
        }
        let mode = format!("{w}x{h}");
        let mut args = vec!["--output".to_string(), output, "--mode".into(), mode];
        if index > 0 {
            args.extend(["--right-of".into(), format!("DUMMY{}", index - 1)]);
        } else {
            args.extend(["--pos".into(), "0x0".into()]);
        }
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        xrandr(&self.display, &args)
    }
}

fn xrandr(display: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new("xrandr")
        .args(args)
        .env("DISPLAY", display)
        .output()
        .map_err(|e| format!("cannot run xrandr (Debian's x11-xserver-utils): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "xrandr {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Whether display `:n` is taken: its lock file names a process that is alive. A lock file
/// left by a server that was killed (it names a process that is gone) does not count: the
/// next server on that number removes it.
fn display_taken(n: u32) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/tmp/.X{n}-lock")) else {
        return Path::new(&format!("/tmp/.X{n}-lock")).exists();
    };
    match text.trim().parse::<i32>() {
        Ok(pid) if pid > 0 => {
            // SAFETY: kill with signal 0 only asks whether the process exists.
            let alive = unsafe { libc::kill(pid, 0) } == 0;
            alive || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
        }
        _ => true,
    }
}

/// Removes what a killed server left on display `:n` (its lock file and socket), so that the
/// wait for the new server's socket waits for the new server.
fn clear_stale(n: u32) {
    let _ = std::fs::remove_file(format!("/tmp/.X{n}-lock"));
    let _ = std::fs::remove_file(format!("/tmp/.X11-unix/X{n}"));
}

/// Waits until a window manager has announced itself on `display` (the EWMH
/// `_NET_SUPPORTING_WM_CHECK` property on the root window).
fn wait_for_window_manager(display: &str) -> Result<(), String> {
    use x11rb::protocol::xproto::AtomEnum;
    let (conn, screen) =
        x11rb::connect(Some(display)).map_err(|e| format!("cannot reach {display}: {e}"))?;
    let root = conn.setup().roots[screen].root;
    let check = conn
        .intern_atom(false, b"_NET_SUPPORTING_WM_CHECK")
        .map_err(|e| e.to_string())?
        .reply()
        .map_err(|e| e.to_string())?
        .atom;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let set = conn
            .get_property(false, root, check, AtomEnum::WINDOW, 0, 1)
            .map_err(|e| e.to_string())?
            .reply()
            .is_ok_and(|r| r.value_len > 0);
        if set {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "matchbox-window-manager did not come up on {display}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for VirtualScreen {
    fn drop(&mut self) {
        // SIGTERM first: the X server removes its lock file and socket as it ends.
        for child in [&mut self.wm, &mut self.xvfb] {
            // SAFETY: a signal to our own child process.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Whether the screen pollers got real-time priority (see [`ScreenPoller::start`]).
static POLLER_REAL_TIME: AtomicBool = AtomicBool::new(false);

/// How the screen pollers ran, for a benchmark's method: at real-time priority (they then
/// take the processor as soon as they wake, and what they time is the program's picture, not
/// their own wait for a core), or at normal priority where the system refused that.
pub fn poller_priority() -> &'static str {
    if POLLER_REAL_TIME.load(Ordering::Relaxed) {
        "the poller at real-time priority (SCHED_FIFO 10)"
    } else {
        "the poller at normal priority (real-time refused here)"
    }
}

/// Asks real-time priority for this thread; notes whether it was given.
fn real_time_priority() {
    let param = libc::sched_param { sched_priority: 10 };
    // SAFETY: a plain value and this thread's own handle.
    let ok = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if ok == 0 {
        POLLER_REAL_TIME.store(true, Ordering::Relaxed);
    }
}

/// A frame number seen on screen (`None`: no frame code, such as black) and when.
pub type Seen = (Option<u32>, Instant);

/// When each frame first appeared, in the order they did (a frame seen again later, after a
/// seek back, keeps its first appearance).
pub fn first_appearances(seen: &[Seen]) -> Vec<(u32, Instant)> {
    let mut out: Vec<(u32, Instant)> = Vec::new();
    for &(n, at) in seen {
        if let Some(n) = n {
            if !out.iter().any(|(m, _)| *m == n) {
                out.push((n, at));
            }
        }
    }
    out
}

/// Polls a screen for the frame code, from a thread of its own.
pub struct ScreenPoller {
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl ScreenPoller {
    /// Starts polling `screen` every `interval`, for a 640x360 video fitted into it. The
    /// polling thread asks for real-time priority: a poller waiting for a core on a busy
    /// machine would time its own wait, not the picture ([`poller_priority`] says whether it
    /// got it). It sleeps between reads, so it never takes a core for long.
    pub fn start(screen: &VirtualScreen, interval: Duration) -> Result<ScreenPoller, String> {
        let (width, height) = (screen.width, screen.height);
        let video = VideoRect::fit(640, 360, usize::from(width), usize::from(height));
        Self::start_in(screen, (0, width), video, interval)
    }

    /// Polls one monitor of `screen` (its index, see [`VirtualScreen::monitors`]), where the
    /// demo show's picture sits at `video` (monitor pixels).
    pub fn start_on_monitor(
        screen: &VirtualScreen,
        monitor: usize,
        video: VideoRect,
        interval: Duration,
    ) -> Result<ScreenPoller, String> {
        let &(x, width, _) = screen.monitors.get(monitor).ok_or("no such monitor")?;
        Self::start_in(screen, (x, width), video, interval)
    }

    /// Polls the columns `area` (left edge, width) of `screen`, where the picture sits at
    /// `video` (pixels of the area).
    fn start_in(
        screen: &VirtualScreen,
        area: (u16, u16),
        video: VideoRect,
        interval: Duration,
    ) -> Result<ScreenPoller, String> {
        let (conn, number) = x11rb::connect(Some(&screen.display))
            .map_err(|e| format!("cannot reach {}: {e}", screen.display))?;
        let root = conn.setup().roots[number].root;
        let (left, width) = (i16::try_from(area.0).map_err(|e| e.to_string())?, area.1);
        // 8 rows across the middle of the band (video rows 325..355).
        let rows: u16 = 8;
        let middle = video.y + 340.0 * video.height / 360.0;
        let top = (middle - f64::from(rows) / 2.0).round().max(0.0) as i16;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("screen-poller".into())
            .spawn(move || -> Result<(), String> {
                real_time_priority();
                let mut last: Option<Option<u32>> = None;
                while !stop2.load(Ordering::Relaxed) {
                    let reply = match conn
                        .get_image(ImageFormat::Z_PIXMAP, root, left, top, width, rows, !0)
                        .map_err(|e| e.to_string())?
                        .reply()
                    {
                        Ok(r) => r,
                        // The area is off the desktop (its monitor unplugged): no picture
                        // there, until it returns.
                        Err(x11rb::errors::ReplyError::X11Error(_)) => {
                            if last != Some(None) {
                                last = Some(None);
                                seen2
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .push((None, Instant::now()));
                            }
                            std::thread::sleep(Duration::from_millis(5));
                            continue;
                        }
                        Err(e) => return Err(e.to_string()),
                    };
                    let at = Instant::now();
                    let view = ImageView {
                        pixels: &reply.data,
                        width: usize::from(width),
                        height: usize::from(rows),
                        stride_bytes: usize::from(width) * 4,
                        bytes_per_pixel: 4,
                    };
                    let n = read_frame_number_strip(&view, &video, f64::from(top));
                    if last != Some(n) {
                        last = Some(n);
                        seen2
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((n, at));
                    }
                    std::thread::sleep(interval);
                }
                Ok(())
            })
            .map_err(|e| e.to_string())?;
        Ok(ScreenPoller {
            seen,
            stop,
            thread: Some(thread),
        })
    }

    /// The changes seen at or after `since`, in order.
    pub fn seen_since(&self, since: Instant) -> Vec<Seen> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let i = seen.partition_point(|(_, at)| *at < since);
        seen[i..].to_vec()
    }

    /// What is on screen now, as last seen.
    pub fn current(&self) -> Option<u32> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.last().and_then(|(n, _)| *n)
    }

    /// Waits until `ok` holds for what is on screen, up to `timeout`.
    pub fn wait_for(&self, timeout: Duration, ok: impl Fn(Option<u32>) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let now = {
                let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                seen.last().map(|(n, _)| *n)
            };
            if now.is_some_and(&ok) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }
}

impl Drop for ScreenPoller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The `playhead` program running on a screen, its log read in the background.
pub struct Program {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Program {
    /// Starts `exe` with `args` on `screen` (fullscreen), logging at info, and waits until it
    /// is armed on its first frame.
    pub fn start(exe: &Path, args: &[String], screen: &VirtualScreen) -> Result<Program, String> {
        // A state folder of its own: no session table from another run is taken back, and
        // none is left in the home folder.
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let state = std::env::temp_dir().join(format!(
            "playhead-onscreen-state-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut child = Command::new(exe)
            .args(args)
            .env("PLAYHEAD_STATE_DIR", &state)
            .env("DISPLAY", &screen.display)
            .env_remove("WAYLAND_DISPLAY")
            .env(
                "RUST_LOG",
                std::env::var("PLAYHEAD_BENCH_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                log2.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        let program = Program { child, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !program.logged("armed:") {
            if Instant::now() > deadline {
                return Err(format!(
                    "{} never armed; its log:\n{}",
                    exe.display(),
                    program.log().join("\n")
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(program)
    }

    /// True once a log line contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|l| l.contains(text))
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        // SIGTERM: the program ends its show cleanly.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
