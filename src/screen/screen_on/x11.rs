//! The X server's own screen blanking: its screensaver suspended, DPMS turned off (and on again).

use super::{env_set, Outcome};
use log::{debug, info};
use x11rb::connection::{Connection as _, RequestConnection as _};
use x11rb::protocol::dpms::ConnectionExt as _;
use x11rb::protocol::screensaver::ConnectionExt as _;
use x11rb::protocol::xproto::{ConnectionExt as _, ScreenSaver};
use x11rb::rust_connection::RustConnection;

/// The X server's screensaver, suspended, and its DPMS, disabled.
pub(super) struct X11Blanking {
    conn: RustConnection,
    /// DPMS was on when playhead started: turn it on again at exit.
    dpms_was_on: bool,
    /// DPMS was found on again after playhead turned it off (a power manager): said once.
    dpms_fight_logged: bool,
}

impl X11Blanking {
    pub(super) fn start() -> (Option<X11Blanking>, Outcome, Outcome) {
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
    pub(super) fn heartbeat(&mut self) -> bool {
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

    pub(super) fn restore(self) {
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

pub(super) fn suspend_x11_saver(conn: &RustConnection) -> Outcome {
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

pub(super) fn dpms_present(conn: &RustConnection) -> bool {
    use x11rb::protocol::dpms::X11_EXTENSION_NAME;
    matches!(conn.extension_information(X11_EXTENSION_NAME), Ok(Some(_)))
}

/// Returns the outcome and whether DPMS was on before.
pub(super) fn disable_dpms(conn: &RustConnection) -> (Outcome, bool) {
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
