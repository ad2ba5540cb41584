//! Keeps the screen on while playhead runs: a show's video must not give way to a screensaver,
//! a lock screen or a monitor in power saving half-way through the second set.
//!
//! Every way that applies is tried, since none covers every machine:
//! - the desktop's inhibitors on the D-Bus session bus: `org.freedesktop.ScreenSaver` (KDE,
//!   Xfce, LXQt, Cinnamon, MATE and others) and GNOME's `org.gnome.SessionManager` (idle
//!   inhibition, which also holds off GNOME's automatic suspend). On Wayland these are the
//!   only way; they are released when playhead exits, even when it crashes.
//! - under X11, the X server's own screensaver (suspended for as long as playhead is
//!   connected) and DPMS (display power saving: disabled, and enabled again at exit when it
//!   was on). A bare kiosk session with no desktop has nothing else.
//!
//! All of it runs on a thread of its own: a D-Bus service can be slow to answer or never
//! answer, and start-up must not wait for it. The outcome is logged in one line.

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use log::{debug, info, warn};
use std::time::Duration;
use x11rb::connection::{Connection as _, RequestConnection as _};
use x11rb::protocol::dpms::ConnectionExt as _;
use x11rb::protocol::screensaver::ConnectionExt as _;
use x11rb::protocol::xproto::{ConnectionExt as _, ScreenSaver};
use x11rb::rust_connection::RustConnection;

/// The name playhead gives the desktop when asking it to keep the screen on.
const APP_NAME: &str = "playhead";
/// The reason the desktop may show in its power settings or battery menu.
const REASON: &str = "playing a show: the screen must stay on";
/// How long a D-Bus service may take to answer before it counts as failed.
const DBUS_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the X server's idle timer is reset. Lockers that watch the idle time rather
/// than the X screensaver (xautolock, some desktops' own) then never see the machine idle;
/// mpv resets it as often.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// How long exit waits for the inhibitors to be released before leaving it to the servers,
/// which release them anyway when playhead's connections close.
const RELEASE_WAIT: Duration = Duration::from_secs(1);

/// GNOME session manager inhibit flag: the session is not considered idle.
const GNOME_INHIBIT_IDLE: u32 = 8;

/// What one way of keeping the screen on came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// In force; the text says what was done ("DPMS off").
    Done(String),
    /// Not there on this machine (no X11 display, no such D-Bus service): nothing to do.
    Absent(String),
    /// There, but it refused or failed; the text says what and why.
    Failed(String),
}

/// The outcome of every way tried, and what kind of session this is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The X server's screensaver.
    pub x11_saver: Outcome,
    /// The X server's display power saving.
    pub dpms: Outcome,
    /// `org.freedesktop.ScreenSaver` on the session bus.
    pub freedesktop: Outcome,
    /// `org.gnome.SessionManager` on the session bus.
    pub gnome: Outcome,
    /// The window is on Wayland, where the X server's settings do not reach the compositor.
    pub wayland: bool,
}

impl Report {
    /// The one line to log: `Ok` for an information line, `Err` for a warning that says what
    /// failed and what the technician can do.
    pub fn summary(&self) -> Result<String, String> {
        let all = [&self.x11_saver, &self.dpms, &self.freedesktop, &self.gnome];
        let done: Vec<&str> = texts(&all, |o| matches!(o, Outcome::Done(_)));
        let failed: Vec<&str> = texts(&all, |o| matches!(o, Outcome::Failed(_)));
        let absent: Vec<&str> = texts(&all, |o| matches!(o, Outcome::Absent(_)));
        let desktop_done =
            matches!(self.freedesktop, Outcome::Done(_)) || matches!(self.gnome, Outcome::Done(_));
        let x11 = !self.wayland && !matches!(self.x11_saver, Outcome::Absent(_));
        let advice = if x11 {
            "turn off screen blanking, the screen lock and display power saving in the \
             desktop's settings, or run `xset s off -dpms` in the session"
        } else {
            "turn off screen blanking, the screen lock and display power saving in the \
             desktop's settings"
        };
        let so_far = if done.is_empty() {
            String::new()
        } else {
            format!(" (in force: {})", done.join(", "))
        };
        if !failed.is_empty() {
            Err(format!(
                "the screen may blank during the show: {}{so_far}; {advice}",
                failed.join("; ")
            ))
        } else if done.is_empty() {
            Err(format!(
                "the screen may blank during the show: nothing here can keep it on ({}); \
                 {advice}",
                absent.join("; ")
            ))
        } else if self.wayland && !desktop_done {
            Err(format!(
                "the screen may blank during the show: on Wayland only the desktop can keep \
                 it on, and it offers no way to ask ({}){so_far}; {advice}",
                absent.join("; ")
            ))
        } else {
            Ok(format!("screen blanking off: {}", done.join(", ")))
        }
    }
}

/// The texts of the outcomes `pick` chooses, each once (two mechanisms missing for the same
/// reason, such as no session bus, say it once).
fn texts<'a>(all: &[&'a Outcome], pick: impl Fn(&Outcome) -> bool) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for o in all.iter().filter(|o| pick(o)) {
        let t = match o {
            Outcome::Done(t) | Outcome::Absent(t) | Outcome::Failed(t) => t.as_str(),
        };
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// Keeps the screen on until dropped; dropping it gives back what was changed (DPMS on again
/// if it was on) and releases the desktop's inhibitors.
///
/// DPMS is a server-wide setting: if playhead is killed without a chance to exit (SIGKILL,
/// a power cut), it stays off until the next login or `xset +dpms`. Everything else is
/// undone by the X server and the desktop when playhead's connections close.
pub struct ScreenOn {
    stop: Option<Sender<()>>,
    released: Option<Receiver<()>>,
}

/// Starts keeping the screen on, in the background: returns at once, logs the outcome when
/// known. Never fails: what cannot be done is logged as a warning.
pub fn keep_screen_on() -> ScreenOn {
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    let (released_tx, released_rx) = crossbeam_channel::bounded::<()>(1);
    let spawned = std::thread::Builder::new()
        .name("screen-on".into())
        .spawn(move || {
            hold_screen_on(stop_rx);
            let _ = released_tx.send(());
        });
    match spawned {
        Ok(_) => ScreenOn {
            stop: Some(stop_tx),
            released: Some(released_rx),
        },
        Err(e) => {
            warn!(
                "cannot keep the screen on: no thread for it ({e}); turn off screen blanking \
                 and display power saving in the desktop's settings"
            );
            ScreenOn {
                stop: None,
                released: None,
            }
        }
    }
}

impl Drop for ScreenOn {
    fn drop(&mut self) {
        // Closing the channel tells the thread to give everything back.
        self.stop.take();
        if let Some(released) = self.released.take() {
            if released.recv_timeout(RELEASE_WAIT).is_err() {
                debug!("screen-on: still releasing at exit; the servers release it on close");
            }
        }
    }
}

/// The thread's life: take hold, report, keep the idle timer reset, give back.
fn hold_screen_on(stop: Receiver<()>) {
    let (mut x11, x11_saver, dpms) = X11Blanking::start();
    let (desktop, freedesktop, gnome) = DesktopInhibitors::start();
    let report = Report {
        x11_saver,
        dpms,
        freedesktop,
        gnome,
        wayland: env_set("WAYLAND_DISPLAY"),
    };
    debug!("screen-on: {report:?}");
    match report.summary() {
        Ok(line) => info!("{line}"),
        Err(line) => warn!("{line}"),
    }
    // Until the sender is dropped: playhead is exiting.
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(HEARTBEAT) {
        if let Some(x) = x11.as_mut() {
            if !x.heartbeat() {
                x11 = None;
            }
        }
    }
    if let Some(x) = x11 {
        x.restore();
    }
    if let Some(d) = desktop {
        d.release();
    }
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// The X server's screensaver, suspended, and its DPMS, disabled.
struct X11Blanking {
    conn: RustConnection,
    /// DPMS was on when playhead started: turn it on again at exit.
    dpms_was_on: bool,
    /// DPMS was found on again after playhead turned it off (a power manager): said once.
    dpms_fight_logged: bool,
}

impl X11Blanking {
    fn start() -> (Option<X11Blanking>, Outcome, Outcome) {
        if !env_set("DISPLAY") {
            let absent = || Outcome::Absent("no X11 display".into());
            return (None, absent(), absent());
        }
        let conn = match x11rb::connect(None) {
            Ok((conn, _)) => conn,
            Err(e) => {
                let display = std::env::var("DISPLAY").unwrap_or_default();
                return (
                    None,
                    Outcome::Failed(format!("cannot reach X11 display {display}: {e}")),
                    Outcome::Absent("no X11 connection".into()),
                );
            }
        };
        let saver = suspend_x11_saver(&conn);
        let (dpms, dpms_was_on) = disable_dpms(&conn);
        let _ = conn.flush();
        let keep = matches!(saver, Outcome::Done(_)) || matches!(dpms, Outcome::Done(_));
        let x11 = keep.then_some(X11Blanking {
            conn,
            dpms_was_on,
            dpms_fight_logged: false,
        });
        (x11, saver, dpms)
    }

    /// Resets the idle timer and turns DPMS off again if something turned it on. False when
    /// the X server is gone.
    fn heartbeat(&mut self) -> bool {
        let reset = self
            .conn
            .force_screen_saver(ScreenSaver::RESET)
            .map(|c| c.ignore_error());
        if reset.is_err() || self.conn.flush().is_err() {
            debug!("screen-on: the X server is gone");
            return false;
        }
        let dpms_on = dpms_present(&self.conn)
            && self
                .conn
                .dpms_info()
                .ok()
                .and_then(|c| c.reply().ok())
                .is_some_and(|r| r.state);
        if dpms_on {
            let line = "DPMS was turned on again by another program (a power manager?); \
                        turned it off again: disable display power saving in the desktop's \
                        settings so that the two do not fight";
            if self.dpms_fight_logged {
                debug!("{line}");
            } else {
                info!("{line}");
                self.dpms_fight_logged = true;
            }
            if let Ok(c) = self.conn.dpms_disable() {
                c.ignore_error();
            }
            let _ = self.conn.flush();
        }
        true
    }

    fn restore(self) {
        if let Ok(c) = self.conn.screensaver_suspend(0) {
            c.ignore_error();
        }
        if self.dpms_was_on {
            match self.conn.dpms_enable().map(|c| c.check()) {
                Ok(Ok(())) => debug!("screen-on: DPMS on again, as it was"),
                _ => debug!("screen-on: could not turn DPMS on again"),
            }
        }
        let _ = self.conn.flush();
    }
}

fn suspend_x11_saver(conn: &RustConnection) -> Outcome {
    use x11rb::protocol::screensaver::X11_EXTENSION_NAME;
    match conn.extension_information(X11_EXTENSION_NAME) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Outcome::Absent("the X server has no MIT-SCREEN-SAVER extension".into())
        }
        Err(e) => return Outcome::Failed(format!("cannot query the X server: {e}")),
    }
    // Suspend needs version 1.1 of the extension (X.Org servers since 2007).
    match conn.screensaver_query_version(1, 1).map(|c| c.reply()) {
        Ok(Ok(v)) if (v.server_major_version, v.server_minor_version) >= (1, 1) => {}
        Ok(Ok(v)) => {
            return Outcome::Absent(format!(
                "the X server's MIT-SCREEN-SAVER extension is version {}.{}, too old to \
                 suspend",
                v.server_major_version, v.server_minor_version
            ))
        }
        Ok(Err(e)) => return Outcome::Failed(format!("cannot query the X screensaver: {e}")),
        Err(e) => return Outcome::Failed(format!("cannot query the X screensaver: {e}")),
    }
    match conn.screensaver_suspend(1).map(|c| c.check()) {
        Ok(Ok(())) => Outcome::Done("X11 screensaver suspended".into()),
        Ok(Err(e)) => Outcome::Failed(format!(
            "the X server refused to suspend its screensaver: {e}"
        )),
        Err(e) => Outcome::Failed(format!("cannot suspend the X screensaver: {e}")),
    }
}

fn dpms_present(conn: &RustConnection) -> bool {
    use x11rb::protocol::dpms::X11_EXTENSION_NAME;
    matches!(conn.extension_information(X11_EXTENSION_NAME), Ok(Some(_)))
}

/// Returns the outcome and whether DPMS was on before.
fn disable_dpms(conn: &RustConnection) -> (Outcome, bool) {
    if !dpms_present(conn) {
        return (Outcome::Absent("this display has no DPMS".into()), false);
    }
    match conn.dpms_capable().map(|c| c.reply()) {
        Ok(Ok(r)) if r.capable => {}
        Ok(Ok(_)) => {
            return (
                Outcome::Absent("the display is not DPMS-capable".into()),
                false,
            )
        }
        Ok(Err(e)) => return (Outcome::Failed(format!("cannot query DPMS: {e}")), false),
        Err(e) => return (Outcome::Failed(format!("cannot query DPMS: {e}")), false),
    }
    let was_on = match conn.dpms_info().map(|c| c.reply()) {
        Ok(Ok(r)) => r.state,
        Ok(Err(e)) => return (Outcome::Failed(format!("cannot query DPMS: {e}")), false),
        Err(e) => return (Outcome::Failed(format!("cannot query DPMS: {e}")), false),
    };
    if !was_on {
        return (Outcome::Done("DPMS already off".into()), false);
    }
    match conn.dpms_disable().map(|c| c.check()) {
        Ok(Ok(())) => (Outcome::Done("DPMS off".into()), true),
        Ok(Err(e)) => (
            Outcome::Failed(format!("the X server refused to turn DPMS off: {e}")),
            false,
        ),
        Err(e) => (Outcome::Failed(format!("cannot turn DPMS off: {e}")), false),
    }
}

/// The desktop's inhibitors held on the session bus; released by [`DesktopInhibitors::release`]
/// or when the connection closes.
struct DesktopInhibitors {
    conn: zbus::blocking::Connection,
    /// The object path that answered and the cookie to give back.
    freedesktop: Option<(&'static str, u32)>,
    gnome: Option<u32>,
}

const FDO_NAME: &str = "org.freedesktop.ScreenSaver";
/// KDE and Xfce serve the interface at both paths; some implementations only at one.
const FDO_PATHS: [&str; 2] = ["/org/freedesktop/ScreenSaver", "/ScreenSaver"];
const GNOME_NAME: &str = "org.gnome.SessionManager";
const GNOME_PATH: &str = "/org/gnome/SessionManager";

impl DesktopInhibitors {
    fn start() -> (Option<DesktopInhibitors>, Outcome, Outcome) {
        let conn = match zbus::blocking::connection::Builder::session()
            .map(|b| b.method_timeout(DBUS_TIMEOUT))
            .and_then(|b| b.build())
        {
            Ok(c) => c,
            Err(e) => {
                let none = Outcome::Absent("no D-Bus session bus".into());
                // A session bus that is announced but cannot be reached is worth a warning;
                // none at all (a bare kiosk session) is not.
                let first = if env_set("DBUS_SESSION_BUS_ADDRESS") {
                    Outcome::Failed(format!("cannot connect to the D-Bus session bus: {e}"))
                } else {
                    debug!("screen-on: no D-Bus session bus: {e}");
                    none.clone()
                };
                return (None, first, none);
            }
        };
        let (freedesktop, fdo_outcome) = inhibit_freedesktop(&conn);
        let (gnome, gnome_outcome) = inhibit_gnome(&conn);
        let held = (freedesktop.is_some() || gnome.is_some()).then_some(DesktopInhibitors {
            conn,
            freedesktop,
            gnome,
        });
        (held, fdo_outcome, gnome_outcome)
    }

    fn release(self) {
        if let Some((path, cookie)) = self.freedesktop {
            let r = self.conn.call_method(
                Some(FDO_NAME),
                path,
                Some(FDO_NAME),
                "UnInhibit",
                &(cookie,),
            );
            debug!("screen-on: {FDO_NAME} UnInhibit: {:?}", r.map(|_| ()));
        }
        if let Some(cookie) = self.gnome {
            let r = self.conn.call_method(
                Some(GNOME_NAME),
                GNOME_PATH,
                Some(GNOME_NAME),
                "Uninhibit",
                &(cookie,),
            );
            debug!("screen-on: {GNOME_NAME} Uninhibit: {:?}", r.map(|_| ()));
        }
    }
}

fn inhibit_freedesktop(
    conn: &zbus::blocking::Connection,
) -> (Option<(&'static str, u32)>, Outcome) {
    let mut last = Outcome::Absent(format!("no {FDO_NAME} on the session bus"));
    for path in FDO_PATHS {
        let reply = conn.call_method(
            Some(FDO_NAME),
            path,
            Some(FDO_NAME),
            "Inhibit",
            &(APP_NAME, REASON),
        );
        match cookie(reply, FDO_NAME) {
            Ok(c) => {
                return (
                    Some((path, c)),
                    Outcome::Done(format!("{FDO_NAME} inhibited")),
                )
            }
            // Not served at this path: try the other.
            Err(DbusFailure::NotHere(why)) => last = Outcome::Absent(why),
            Err(DbusFailure::NoService(why)) => return (None, Outcome::Absent(why)),
            Err(DbusFailure::Failed(why)) => return (None, Outcome::Failed(why)),
        }
    }
    (None, last)
}

fn inhibit_gnome(conn: &zbus::blocking::Connection) -> (Option<u32>, Outcome) {
    let reply = conn.call_method(
        Some(GNOME_NAME),
        GNOME_PATH,
        Some(GNOME_NAME),
        "Inhibit",
        &(APP_NAME, 0u32, REASON, GNOME_INHIBIT_IDLE),
    );
    match cookie(reply, GNOME_NAME) {
        Ok(c) => (
            Some(c),
            Outcome::Done(format!("{GNOME_NAME} idle inhibited")),
        ),
        Err(DbusFailure::NotHere(why) | DbusFailure::NoService(why)) => {
            (None, Outcome::Absent(why))
        }
        Err(DbusFailure::Failed(why)) => (None, Outcome::Failed(why)),
    }
}

/// Why a D-Bus inhibit call gave no cookie.
#[derive(Debug, PartialEq, Eq)]
enum DbusFailure {
    /// Nobody owns the name: this desktop does not offer the service.
    NoService(String),
    /// The name is there but not this method at this path (GNOME Shell owns
    /// org.freedesktop.ScreenSaver without Inhibit).
    NotHere(String),
    /// The service refused, failed or did not answer.
    Failed(String),
}

fn cookie(reply: zbus::Result<zbus::Message>, service: &str) -> Result<u32, DbusFailure> {
    match reply {
        Ok(m) => m
            .body()
            .deserialize::<u32>()
            .map_err(|e| DbusFailure::Failed(format!("{service} gave an odd answer: {e}"))),
        Err(zbus::Error::MethodError(name, detail, _)) => {
            Err(classify_error(service, name.as_str(), detail.as_deref()))
        }
        Err(zbus::Error::InputOutput(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
            Err(DbusFailure::Failed(format!(
                "{service} did not answer within {} s",
                DBUS_TIMEOUT.as_secs()
            )))
        }
        Err(e) => Err(DbusFailure::Failed(format!("{service} failed: {e}"))),
    }
}

/// Sorts a D-Bus error by what it means for the technician: not offered here (fine), or a
/// real failure (worth a warning).
fn classify_error(service: &str, name: &str, detail: Option<&str>) -> DbusFailure {
    let what = match detail {
        Some(d) if !d.is_empty() => format!("{name}: {d}"),
        _ => name.to_string(),
    };
    match name {
        "org.freedesktop.DBus.Error.ServiceUnknown"
        | "org.freedesktop.DBus.Error.NameHasNoOwner"
        | "org.freedesktop.DBus.Error.Spawn.ServiceNotFound" => {
            DbusFailure::NoService(format!("no {service} on the session bus"))
        }
        "org.freedesktop.DBus.Error.UnknownMethod"
        | "org.freedesktop.DBus.Error.UnknownObject"
        | "org.freedesktop.DBus.Error.UnknownInterface" => {
            DbusFailure::NotHere(format!("{service} does not offer Inhibit ({what})"))
        }
        _ => DbusFailure::Failed(format!("{service} refused to inhibit: {what}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(t: &str) -> Outcome {
        Outcome::Done(t.into())
    }
    fn absent(t: &str) -> Outcome {
        Outcome::Absent(t.into())
    }
    fn failed(t: &str) -> Outcome {
        Outcome::Failed(t.into())
    }

    fn report(x11: Outcome, dpms: Outcome, fdo: Outcome, gnome: Outcome) -> Report {
        Report {
            x11_saver: x11,
            dpms,
            freedesktop: fdo,
            gnome,
            wayland: false,
        }
    }

    #[test]
    fn everything_in_force_is_one_info_line() {
        let r = report(
            done("X11 screensaver suspended"),
            done("DPMS off"),
            done("org.freedesktop.ScreenSaver inhibited"),
            absent("no org.gnome.SessionManager on the session bus"),
        );
        assert_eq!(
            r.summary(),
            Ok("screen blanking off: X11 screensaver suspended, DPMS off, \
                org.freedesktop.ScreenSaver inhibited"
                .into())
        );
    }

    #[test]
    fn bare_x11_kiosk_without_a_desktop_is_fine() {
        let r = report(
            done("X11 screensaver suspended"),
            absent("this display has no DPMS"),
            absent("no D-Bus session bus"),
            absent("no D-Bus session bus"),
        );
        assert_eq!(
            r.summary(),
            Ok("screen blanking off: X11 screensaver suspended".into())
        );
    }

    #[test]
    fn a_refusal_is_a_warning_naming_it_and_what_worked() {
        let r = report(
            done("X11 screensaver suspended"),
            done("DPMS off"),
            failed("org.freedesktop.ScreenSaver refused to inhibit: org.freedesktop.DBus.Error.AccessDenied"),
            absent("no org.gnome.SessionManager on the session bus"),
        );
        let line = r.summary().unwrap_err();
        assert!(line.contains("AccessDenied"), "{line}");
        assert!(
            line.contains("in force: X11 screensaver suspended, DPMS off"),
            "{line}"
        );
        assert!(line.contains("xset s off -dpms"), "{line}");
        assert!(line.contains("desktop's settings"), "{line}");
    }

    #[test]
    fn nothing_available_is_a_warning() {
        let r = Report {
            x11_saver: absent("no X11 display"),
            dpms: absent("no X11 display"),
            freedesktop: absent("no D-Bus session bus"),
            gnome: absent("no D-Bus session bus"),
            wayland: false,
        };
        let line = r.summary().unwrap_err();
        assert!(line.contains("nothing here can keep it on"), "{line}");
        // No X11: xset would not help.
        assert!(!line.contains("xset"), "{line}");
    }

    #[test]
    fn wayland_needs_the_desktop() {
        // XWayland answered, but the compositor blanks the screen on its own.
        let mut r = report(
            done("X11 screensaver suspended"),
            absent("this display has no DPMS"),
            absent("no org.freedesktop.ScreenSaver on the session bus"),
            absent("no org.gnome.SessionManager on the session bus"),
        );
        r.wayland = true;
        let line = r.summary().unwrap_err();
        assert!(line.contains("on Wayland only the desktop"), "{line}");
        assert!(!line.contains("xset"), "{line}");
        r.gnome = done("org.gnome.SessionManager idle inhibited");
        assert!(r.summary().is_ok());
    }

    #[test]
    fn dbus_errors_sorted_by_meaning() {
        assert!(matches!(
            classify_error(FDO_NAME, "org.freedesktop.DBus.Error.ServiceUnknown", None),
            DbusFailure::NoService(_)
        ));
        assert!(matches!(
            classify_error(
                FDO_NAME,
                "org.freedesktop.DBus.Error.UnknownMethod",
                Some("x")
            ),
            DbusFailure::NotHere(_)
        ));
        let DbusFailure::Failed(why) = classify_error(
            FDO_NAME,
            "org.freedesktop.DBus.Error.AccessDenied",
            Some("not allowed"),
        ) else {
            panic!("a refusal must count as a failure")
        };
        assert_eq!(
            why,
            "org.freedesktop.ScreenSaver refused to inhibit: \
             org.freedesktop.DBus.Error.AccessDenied: not allowed"
        );
    }
}
