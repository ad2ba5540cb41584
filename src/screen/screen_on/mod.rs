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
mod desktop;
mod x11;

use desktop::DesktopInhibitors;
use x11::X11Blanking;

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
    info!("screen blanking given back");
}

pub(crate) fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::desktop::*;
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
