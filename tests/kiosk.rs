//! Show-machine behaviour on a virtual X desktop: the screen kept on (the X server's screensaver
//! held off, the desktop's D-Bus inhibitors taken and given back) and the show put back
//! fullscreen when its screen is unplugged and plugged back.
//!
//! What Xvfb can and cannot stand in for:
//! - Its MIT-SCREEN-SAVER extension is real: with a 1 s timeout the screensaver comes on, and
//!   the tests read its state through the extension. It draws nothing visible, so screenshots
//!   cannot show it.
//! - It has no DPMS extension: turning DPMS off and back on is not tested here (playhead logs
//!   "no DPMS" as nothing to do, which the screensaver test checks).
//! - Its RandR has one output, "screen". `xrandr --output screen --off` unplugs it (the
//!   output stays but drives nothing, as with a cable pulled) and `--auto` plugs it back. A
//!   second monitor cannot be added, so moving to the primary screen meanwhile and finding the
//!   show's screen by name among several are unit-tested in `src/kiosk.rs`.
//! - The desktop is a private `dbus-daemon` with fake `org.freedesktop.ScreenSaver` and
//!   `org.gnome.SessionManager` services served by this test through zbus.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use x11rb::connection::Connection as _;
use x11rb::protocol::screensaver::{ConnectionExt as _, State};
use x11rb::protocol::xproto::{ClientMessageEvent, ConnectionExt as _, EventMask};

const SECOND: Duration = Duration::from_secs(1);

/// The program with no session bus of the machine's own: what it finds is what the test gives.
fn command_on(desktop: &Desktop, dir: &Path) -> Command {
    let mut c = Playhead::command();
    c.env("DISPLAY", &desktop.display)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("XDG_RUNTIME_DIR", dir);
    c
}

fn run(tool: &str, args: &[&str], display: &str) -> std::process::Output {
    Command::new(tool)
        .args(args)
        .env("DISPLAY", display)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {tool}: {e}; packaging/quickstart.sh test installs what the tests need"
            )
        })
}

/// The X server's screensaver state, read through MIT-SCREEN-SAVER.
fn saver_state(display: &str) -> State {
    let (conn, screen) = x11rb::connect(Some(display)).expect("connect to Xvfb");
    let root = conn.setup().roots[screen].root;
    let info = conn
        .screensaver_query_info(root)
        .expect("query screensaver")
        .reply()
        .expect("screensaver reply");
    State::from(info.state)
}

#[test]
fn x11_screensaver_held_off_while_playhead_runs() {
    let desktop = Desktop::start(640, 360);
    let dir = temp_dir("screensaver");
    // A screensaver that comes on after 1 s idle.
    assert!(run("xset", &["s", "1", "1"], &desktop.display)
        .status
        .success());
    wait_until(
        "the simulation: Xvfb's screensaver comes on when idle",
        20 * SECOND,
        || saver_state(&desktop.display) == State::ON,
    );
    run("xset", &["s", "reset"], &desktop.display);

    let mut ph = Playhead::spawn({
        let mut c = command_on(&desktop, &dir);
        c.arg(demo());
        c
    });
    let line = ph.wait_log("screen blanking off", 20 * SECOND);
    assert!(
        line.contains("INFO") && line.ends_with("screen blanking off: X11 screensaver suspended"),
        "Xvfb has the screensaver but no DPMS and there is no session bus: {line}"
    );
    ph.wait_log("armed:", 20 * SECOND);
    desktop.wait_frame("the first frame", 20 * SECOND, |n| n == 0);
    // Idle for three timeouts: the screensaver must stay off. (The time is what is tested
    // here: a longer wait on a slow machine only makes the check stricter.)
    std::thread::sleep(3 * SECOND);
    assert_ne!(saver_state(&desktop.display), State::ON);
    assert_eq!(desktop.frame_on_screen(), Some(0));

    desktop.key("q");
    let st = ph.wait_exit(10 * SECOND).expect("q must quit");
    assert!(st.success(), "exit status {st}");
    // Given back: idle again, the screensaver comes on.
    wait_until(
        "the screensaver works again once playhead has quit",
        20 * SECOND,
        || saver_state(&desktop.display) == State::ON,
    );
    assert!(
        !ph.log()
            .iter()
            .any(|l| l.contains("WARN") && l.contains("blank")),
        "{:#?}",
        ph.log()
    );
}

/// `systemctl stop` (SIGTERM) gives the screen back as quitting does: the X screensaver works
/// again once playhead has gone, and the exit status is 0.
#[test]
fn sigterm_gives_the_screensaver_back() {
    let desktop = Desktop::start(640, 360);
    let dir = temp_dir("sigterm-screensaver");
    assert!(run("xset", &["s", "1", "1"], &desktop.display)
        .status
        .success());
    let mut ph = Playhead::spawn({
        let mut c = command_on(&desktop, &dir);
        c.arg(demo());
        c
    });
    ph.wait_log("screen blanking off", 20 * SECOND);
    ph.wait_log("armed:", 20 * SECOND);
    desktop.wait_frame("the first frame", 5 * SECOND, |n| n == 0);
    let st = Command::new("kill")
        .args(["-TERM", &ph.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(st.success());
    let st = ph
        .wait_exit(10 * SECOND)
        .expect("SIGTERM must end playhead");
    assert!(st.success(), "exit status {st}: {:#?}", ph.log());
    assert!(
        ph.log()
            .iter()
            .any(|l| l.contains("SIGTERM received: stopping the show")),
        "{:#?}",
        ph.log()
    );
    // The release ran (DPMS turned on again where it was on, the desktop's inhibitors let
    // go): a SIGKILL would not say this.
    assert!(
        ph.log()
            .iter()
            .any(|l| l.ends_with("screen blanking given back")),
        "{:#?}",
        ph.log()
    );
    // And the X server's screensaver works again: with a 1 s timeout and nobody at the keys,
    // it comes on.
    run("xset", &["s", "reset"], &desktop.display);
    let deadline = std::time::Instant::now() + 20 * SECOND;
    while saver_state(&desktop.display) != State::ON {
        assert!(
            std::time::Instant::now() < deadline,
            "the screensaver must work again once playhead has gone"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A private session bus, gone when dropped.
struct SessionBus {
    daemon: Child,
    address: String,
}

impl SessionBus {
    fn start(dir: &Path) -> SessionBus {
        let config = dir.join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                dir.join("bus").display()
            ),
        )
        .unwrap();
        let mut daemon = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run dbus-daemon: the tests need Debian's 'dbus-daemon'");
        let mut address = String::new();
        BufReader::new(daemon.stdout.take().unwrap())
            .read_line(&mut address)
            .expect("dbus-daemon address");
        let address = address.trim().to_string();
        assert!(!address.is_empty(), "dbus-daemon printed no address");
        SessionBus { daemon, address }
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

type Calls = Arc<Mutex<Vec<String>>>;

/// A desktop's screensaver service that records what it is asked, or refuses.
struct FakeScreenSaver {
    calls: Calls,
    refuse: bool,
}

#[zbus::interface(name = "org.freedesktop.ScreenSaver")]
impl FakeScreenSaver {
    #[zbus(name = "Inhibit")]
    fn inhibit(&self, app: &str, reason: &str) -> zbus::fdo::Result<u32> {
        if self.refuse {
            return Err(zbus::fdo::Error::AccessDenied(
                "inhibiting is not allowed on this desk".into(),
            ));
        }
        self.calls
            .lock()
            .unwrap()
            .push(format!("Inhibit {app}: {reason}"));
        Ok(17)
    }

    #[zbus(name = "UnInhibit")]
    fn un_inhibit(&self, cookie: u32) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("UnInhibit {cookie}"));
    }
}

/// GNOME's session manager, as far as inhibiting goes.
struct FakeSessionManager {
    calls: Calls,
}

#[zbus::interface(name = "org.gnome.SessionManager")]
impl FakeSessionManager {
    #[zbus(name = "Inhibit")]
    fn inhibit(&self, app: &str, _xid: u32, _reason: &str, flags: u32) -> u32 {
        self.calls
            .lock()
            .unwrap()
            .push(format!("Inhibit {app} flags {flags}"));
        99
    }

    #[zbus(name = "Uninhibit")]
    fn uninhibit(&self, cookie: u32) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("Uninhibit {cookie}"));
    }
}

fn serve<I: zbus::object_server::Interface>(
    bus: &SessionBus,
    name: &str,
    path: &str,
    iface: I,
) -> zbus::blocking::Connection {
    zbus::blocking::connection::Builder::address(bus.address.as_str())
        .map(|b| b.method_timeout(5 * SECOND))
        .and_then(|b| b.name(name))
        .and_then(|b| b.serve_at(path, iface))
        .and_then(|b| b.build())
        .expect("serve the fake desktop service")
}

fn wait_calls(calls: &Calls, n: usize) -> Vec<String> {
    let deadline = Instant::now() + 10 * SECOND;
    loop {
        let now = calls.lock().unwrap().clone();
        if now.len() >= n || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn desktop_inhibitors_taken_and_given_back() {
    let desktop = Desktop::start(640, 360);
    let dir = temp_dir("dbus-inhibit");
    let bus = SessionBus::start(&dir);
    let fdo_calls = Calls::default();
    let gnome_calls = Calls::default();
    let _fdo = serve(
        &bus,
        "org.freedesktop.ScreenSaver",
        "/org/freedesktop/ScreenSaver",
        FakeScreenSaver {
            calls: fdo_calls.clone(),
            refuse: false,
        },
    );
    let _gnome = serve(
        &bus,
        "org.gnome.SessionManager",
        "/org/gnome/SessionManager",
        FakeSessionManager {
            calls: gnome_calls.clone(),
        },
    );

    let mut ph = Playhead::spawn({
        let mut c = command_on(&desktop, &dir);
        c.env("DBUS_SESSION_BUS_ADDRESS", &bus.address).arg(demo());
        c
    });
    let line = ph.wait_log("screen blanking off", 20 * SECOND);
    assert!(
        line.ends_with(
            "screen blanking off: X11 screensaver suspended, org.freedesktop.ScreenSaver \
             inhibited, org.gnome.SessionManager idle inhibited"
        ),
        "{line}"
    );
    assert_eq!(
        fdo_calls.lock().unwrap().as_slice(),
        ["Inhibit playhead: playing a show: the screen must stay on"]
    );
    // 8: the session is not idle (no screensaver, no automatic suspend).
    assert_eq!(
        gnome_calls.lock().unwrap().as_slice(),
        ["Inhibit playhead flags 8"]
    );

    ph.wait_log("armed:", 20 * SECOND);
    desktop.key("q");
    let st = ph.wait_exit(10 * SECOND).expect("q must quit");
    assert!(st.success(), "exit status {st}");
    assert_eq!(wait_calls(&fdo_calls, 2)[1..], ["UnInhibit 17"]);
    assert_eq!(wait_calls(&gnome_calls, 2)[1..], ["Uninhibit 99"]);
}

#[test]
fn a_refusing_desktop_is_a_warning_that_says_what_to_do() {
    let desktop = Desktop::start(640, 360);
    let dir = temp_dir("dbus-refuse");
    let bus = SessionBus::start(&dir);
    let _fdo = serve(
        &bus,
        "org.freedesktop.ScreenSaver",
        "/org/freedesktop/ScreenSaver",
        FakeScreenSaver {
            calls: Calls::default(),
            refuse: true,
        },
    );
    let mut ph = Playhead::spawn({
        let mut c = command_on(&desktop, &dir);
        c.env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .arg("--kiosk")
            .arg(demo());
        c
    });
    let line = ph.wait_log("the screen may blank", 20 * SECOND);
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains(
            "org.freedesktop.ScreenSaver refused to inhibit: \
             org.freedesktop.DBus.Error.AccessDenied: inhibiting is not allowed on this desk"
        ),
        "{line}"
    );
    assert!(
        line.contains("in force: X11 screensaver suspended"),
        "{line}"
    );
    assert!(line.contains("xset s off -dpms"), "{line}");
    // The show goes on.
    ph.wait_log("armed:", 20 * SECOND);
    desktop.wait_frame("the first frame", 20 * SECOND, |n| n == 0);
}

/// The show's window: id and geometry (x, y, width, height) as the X server has it.
fn show_window(display: &str) -> (u32, (i32, i32, u32, u32)) {
    let out = run("xdotool", &["search", "--name", "^playhead:"], display);
    let id: u32 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("the show's window");
    let out = run(
        "xdotool",
        &["getwindowgeometry", "--shell", &id.to_string()],
        display,
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |k: &str| -> i64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {text}"))
    };
    (
        id,
        (
            field("X") as i32,
            field("Y") as i32,
            field("WIDTH") as u32,
            field("HEIGHT") as u32,
        ),
    )
}

/// What a desktop's window manager may do to a fullscreen window whose screen went away:
/// take it out of fullscreen. (matchbox then still fills the screen with it, as it does with
/// every window, so the test reads the window manager's state rather than the geometry.)
fn take_out_of_fullscreen(display: &str, window: u32) {
    let (conn, screen) = x11rb::connect(Some(display)).expect("connect to Xvfb");
    let root = conn.setup().roots[screen].root;
    let (state, fullscreen) = wm_state_atoms(&conn);
    // _NET_WM_STATE_REMOVE = 0; source indication 1 (an application).
    let message = ClientMessageEvent::new(32, window, state, [0, fullscreen, 0, 1, 0]);
    conn.send_event(
        false,
        root,
        EventMask::SUBSTRUCTURE_REDIRECT | EventMask::SUBSTRUCTURE_NOTIFY,
        message,
    )
    .expect("send");
    conn.flush().expect("flush");
}

fn wait_until(what: &str, timeout: Duration, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn unplugged_screen_gets_the_show_back_fullscreen_when_plugged_back() {
    let desktop = Desktop::start(640, 360);
    let dir = temp_dir("replug");
    let mut ph = Playhead::spawn({
        let mut c = command_on(&desktop, &dir);
        c.arg("--kiosk").arg(demo());
        c
    });
    ph.wait_log("armed:", 20 * SECOND);
    desktop.wait_frame("the first frame", 20 * SECOND, |n| n == 0);
    let (window, full) = show_window(&desktop.display);
    assert_eq!(full, (0, 0, 640, 360), "fullscreen at start");
    assert!(is_fullscreen(&desktop.display, window));

    // The cable pulled. (xrandr complains that the screen cannot shrink to nothing, and
    // turns the output off all the same.)
    run("xrandr", &["--output", "screen", "--off"], &desktop.display);
    let line = ph.wait_log("'screen' disconnected", 20 * SECOND);
    assert!(
        line.contains("WARN") && line.contains("no screen is connected: waiting for one"),
        "{line}"
    );
    // Asked again until it shows: the window manager may still be busy with the unplug.
    let deadline = Instant::now() + 10 * SECOND;
    while is_fullscreen(&desktop.display, window) {
        assert!(
            Instant::now() < deadline,
            "the test could not take the window out of fullscreen"
        );
        take_out_of_fullscreen(&desktop.display, window);
        std::thread::sleep(Duration::from_millis(300));
    }

    // Plugged back.
    let out = run(
        "xrandr",
        &["--output", "screen", "--auto"],
        &desktop.display,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = ph.wait_log("the show's screen is back", 20 * SECOND);
    assert!(line.contains("fullscreen on 'screen' again"), "{line}");
    wait_until("the show is fullscreen again", 20 * SECOND, || {
        is_fullscreen(&desktop.display, window) && show_window(&desktop.display).1 == full
    });
    // The picture fills the screen again, still armed on frame 0.
    desktop.wait_frame("the first frame, fullscreen", 20 * SECOND, |n| n == 0);
    assert_eq!(ph.count_log("screens changed"), 2, "{:#?}", ph.log());
    assert!(ph.is_running());
}
