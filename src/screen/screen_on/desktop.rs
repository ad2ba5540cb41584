//! The desktop's inhibitors on the D-Bus session bus: org.freedesktop.ScreenSaver and GNOME's
//! session manager.

use super::{env_set, Outcome, APP_NAME, DBUS_TIMEOUT, GNOME_INHIBIT_IDLE, REASON};
use log::debug;

/// The desktop's inhibitors held on the session bus; released by [`DesktopInhibitors::release`]
/// or when the connection closes.
pub(super) struct DesktopInhibitors {
    conn: zbus::blocking::Connection,
    /// The object path that answered and the cookie to give back.
    freedesktop: Option<(&'static str, u32)>,
    gnome: Option<u32>,
}

pub(super) const FDO_NAME: &str = "org.freedesktop.ScreenSaver";
/// KDE and Xfce serve the interface at both paths; some implementations only at one.
pub(super) const FDO_PATHS: [&str; 2] = ["/org/freedesktop/ScreenSaver", "/ScreenSaver"];
pub(super) const GNOME_NAME: &str = "org.gnome.SessionManager";
pub(super) const GNOME_PATH: &str = "/org/gnome/SessionManager";

impl DesktopInhibitors {
    pub(super) fn start() -> (Option<DesktopInhibitors>, Outcome, Outcome) {
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

    pub(super) fn release(self) {
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

pub(super) fn inhibit_freedesktop(
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

pub(super) fn inhibit_gnome(conn: &zbus::blocking::Connection) -> (Option<u32>, Outcome) {
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
pub(super) enum DbusFailure {
    /// Nobody owns the name: this desktop does not offer the service.
    NoService(String),
    /// The name is there but not this method at this path (GNOME Shell owns
    /// org.freedesktop.ScreenSaver without Inhibit).
    NotHere(String),
    /// The service refused, failed or did not answer.
    Failed(String),
}

pub(super) fn cookie(
    reply: zbus::Result<zbus::Message>,
    service: &str,
) -> Result<u32, DbusFailure> {
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
pub(super) fn classify_error(service: &str, name: &str, detail: Option<&str>) -> DbusFailure {
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
