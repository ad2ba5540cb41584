//! Keeps the show fullscreen on its screen when displays are unplugged and plugged back: a
//! projector cable pulled during the changeover, an LED processor rebooted, a monitor switched
//! off and on (which many GPUs report as an unplug).
//!
//! winit 0.30 has no event for monitors coming and going, so the event loop asks for the list
//! every [`POLL_INTERVAL`]. Asking costs next to nothing: winit keeps the list cached and
//! refreshes it when the X server or the Wayland compositor says the screens changed (on X11
//! only once `let_winit_hear_randr` has run). [`Placement`] is the pure part: given the screens before and after
//! and the screen chosen at start, where the window goes and what to log. [`ScreenWatch`] ties
//! it to the window.

use crate::clock;
use log::{info, warn};
use std::time::{Duration, Instant};
use winit::event_loop::ActiveEventLoop;
use winit::monitor::MonitorHandle;
use winit::window::{Fullscreen, Window};

/// How often the list of screens is looked at.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// A screen as the window system lists it, reduced to what tells screens apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScreenInfo {
    /// The output's name (`HDMI-1`, `eDP-1`), when the window system gives one.
    pub name: Option<String>,
    /// Top-left corner on the desktop, in pixels.
    pub position: (i32, i32),
    /// Width and height in pixels.
    pub size: (u32, u32),
}

impl ScreenInfo {
    /// The screen as the log names it.
    fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("'{n}'"),
            None => format!(
                "the unnamed screen at {},{}",
                self.position.0, self.position.1
            ),
        }
    }

    fn describe(&self) -> String {
        format!("{} {}x{}", self.label(), self.size.0, self.size.1)
    }
}

/// The screen the show belongs on, as chosen at start.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Wanted {
    name: Option<String>,
    /// Its place in the list at start, counted from 0.
    index: usize,
    /// How many screens there were at start.
    count: usize,
    /// The names of the other screens at start: never taken for the chosen one.
    others: Vec<String>,
}

/// What to do after the screens changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Put the window fullscreen on this screen (its place in the new list), or leave it
    /// where it is (`None`: it already is there, or there is no screen at all).
    pub move_to: Option<usize>,
    /// The line to log, once for this change.
    pub message: String,
    /// The show is not on its chosen screen: log as a warning.
    pub away: bool,
}

/// Which screen the show should be on, followed across changes of the screen list.
#[derive(Clone, Debug)]
pub struct Placement {
    wanted: Option<Wanted>,
    screens: Vec<ScreenInfo>,
    /// The screen the window was last put on, as it was then; `None` after it went away.
    placed_on: Option<ScreenInfo>,
    /// The chosen screen was missing at the last change.
    away: bool,
}

impl Placement {
    /// Starts from the screens found at start and the one the window went fullscreen on
    /// (`chosen`, a place in `screens`; `None` when there was none).
    pub fn new(screens: Vec<ScreenInfo>, chosen: Option<usize>) -> Placement {
        let wanted = chosen.filter(|&i| i < screens.len()).map(|index| Wanted {
            name: screens[index].name.clone(),
            index,
            count: screens.len(),
            others: (screens.iter().enumerate())
                .filter(|&(i, _)| i != index)
                .filter_map(|(_, s)| s.name.clone())
                .collect(),
        });
        let placed_on = chosen.and_then(|i| screens.get(i).cloned());
        Placement {
            wanted,
            screens,
            placed_on,
            away: false,
        }
    }

    /// Starts from the screens found at start, wanting the screen named `name`, which is not
    /// among them (an output whose monitor is not plugged in yet): the window goes there as
    /// soon as it appears.
    pub fn wanting(screens: Vec<ScreenInfo>, name: &str) -> Placement {
        Placement {
            wanted: Some(Wanted {
                name: Some(name.to_string()),
                index: usize::MAX,
                count: usize::MAX,
                others: screens.iter().filter_map(|s| s.name.clone()).collect(),
            }),
            screens,
            placed_on: None,
            away: true,
        }
    }

    /// Takes the current list of screens and which of them is the primary one. Returns
    /// `None` when nothing changed.
    pub fn update(&mut self, screens: Vec<ScreenInfo>, primary: Option<usize>) -> Option<Change> {
        if screens == self.screens {
            return None;
        }
        let what = describe_change(&self.screens, &screens);
        let wanted_here = self.find_wanted(&screens);
        let target = wanted_here.or_else(|| {
            primary
                .filter(|&p| p < screens.len())
                .or((!screens.is_empty()).then_some(0))
        });
        let away = self.wanted.is_some() && wanted_here.is_none();
        let message = match target {
            None => format!("{what}; no screen is connected: waiting for one"),
            Some(t) if away => format!(
                "{what}; the show's screen {} is not there: fullscreen on {} until it comes \
                 back",
                self.wanted_label(),
                screens[t].label()
            ),
            Some(t) if self.away => format!(
                "{what}; the show's screen is back: fullscreen on {} again",
                screens[t].label()
            ),
            Some(t) => format!(
                "{what}; the show stays fullscreen on {}",
                screens[t].label()
            ),
        };
        let move_to = target.filter(|&t| self.placed_on.as_ref() != Some(&screens[t]));
        self.placed_on = target.map(|t| screens[t].clone());
        self.screens = screens;
        self.away = away;
        Some(Change {
            move_to,
            message,
            away,
        })
    }

    /// The chosen screen's place in `screens`: by name, or, when the name is not there (the
    /// cable went back into another port) or there was none, by its place at start once as
    /// many screens are connected as then, unless that place now holds one of the other
    /// screens known at start.
    fn find_wanted(&self, screens: &[ScreenInfo]) -> Option<usize> {
        let wanted = self.wanted.as_ref()?;
        if let Some(name) = &wanted.name {
            let same = |s: &ScreenInfo| {
                s.name
                    .as_ref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            };
            if let Some(i) = screens.iter().position(same) {
                return Some(i);
            }
        }
        let at_index = screens.get(wanted.index)?;
        let another = (at_index.name.as_ref()).is_some_and(|n| wanted.others.contains(n));
        (screens.len() >= wanted.count && !another).then_some(wanted.index)
    }

    fn wanted_label(&self) -> String {
        match self.wanted.as_ref() {
            Some(Wanted {
                name: Some(name), ..
            }) => format!("'{name}'"),
            Some(w) => format!("(screen {})", w.index + 1),
            None => "(none)".into(),
        }
    }
}

/// One line saying what changed between two lists of screens.
fn describe_change(before: &[ScreenInfo], after: &[ScreenInfo]) -> String {
    let same = |a: &ScreenInfo, b: &ScreenInfo| match (&a.name, &b.name) {
        (Some(x), Some(y)) => x == y,
        _ => a.position == b.position,
    };
    let mut parts = Vec::new();
    for s in after.iter().filter(|s| !before.iter().any(|b| same(b, s))) {
        parts.push(format!("{} connected", s.describe()));
    }
    for s in before.iter().filter(|s| !after.iter().any(|a| same(a, s))) {
        parts.push(format!("{} disconnected", s.label()));
    }
    for s in after {
        if let Some(b) = before.iter().find(|b| same(b, s)) {
            if b != s {
                parts.push(format!(
                    "{} now {}x{} at {},{}",
                    s.label(),
                    s.size.0,
                    s.size.1,
                    s.position.0,
                    s.position.1
                ));
            }
        }
    }
    if parts.is_empty() {
        parts.push("screens reordered".into());
    }
    format!("screens changed: {}", parts.join(", "))
}

/// Follows the screens from the event loop and puts the window back fullscreen on the show's
/// screen. Only made when playhead starts fullscreen.
pub struct ScreenWatch {
    placement: Placement,
    kiosk: bool,
    next_poll: Instant,
    /// [`let_winit_hear_randr`] has run.
    hooked: bool,
    /// One of several outputs: while its screen is away it stays where it is rather than
    /// cover another output's screen.
    several: bool,
}

impl ScreenWatch {
    /// Starts watching; `chosen` is the monitor the window went fullscreen on.
    pub fn new(
        event_loop: &ActiveEventLoop,
        chosen: Option<&MonitorHandle>,
        kiosk: bool,
    ) -> ScreenWatch {
        let monitors: Vec<MonitorHandle> = event_loop.available_monitors().collect();
        let index = chosen.and_then(|c| monitors.iter().position(|m| m == c));
        ScreenWatch {
            placement: Placement::new(monitors.iter().map(info_of).collect(), index),
            kiosk,
            next_poll: clock::now() + POLL_INTERVAL,
            hooked: false,
            several: false,
        }
    }

    /// Watches for the screen named `name`, not there at start: the window goes fullscreen on
    /// it as soon as it is plugged in.
    pub fn wanting(event_loop: &ActiveEventLoop, name: &str, kiosk: bool) -> ScreenWatch {
        let monitors: Vec<MonitorHandle> = event_loop.available_monitors().collect();
        ScreenWatch {
            placement: Placement::wanting(monitors.iter().map(info_of).collect(), name),
            kiosk,
            next_poll: clock::now() + POLL_INTERVAL,
            hooked: false,
            several: false,
        }
    }

    /// The window is one of several outputs: it goes back to its own screen when that returns,
    /// and never onto another's.
    pub fn one_of_several(mut self) -> ScreenWatch {
        self.several = true;
        self
    }

    /// Looks at the screens when it is time; returns when to look next (for the event loop's
    /// `ControlFlow::WaitUntil`). Cheap when it is not yet time.
    pub fn poll(&mut self, event_loop: &ActiveEventLoop, window: &Window) -> Instant {
        if !self.hooked {
            self.hooked = true;
            let_winit_hear_randr(window);
        }
        let now = clock::now();
        if now < self.next_poll {
            return self.next_poll;
        }
        self.next_poll = now + POLL_INTERVAL;
        let monitors: Vec<MonitorHandle> = event_loop.available_monitors().collect();
        let primary = event_loop
            .primary_monitor()
            .and_then(|p| monitors.iter().position(|m| *m == p));
        let Some(change) = self
            .placement
            .update(monitors.iter().map(info_of).collect(), primary)
        else {
            return self.next_poll;
        };
        if change.away {
            warn!("{}", change.message);
        } else {
            info!("{}", change.message);
        }
        // Outside kiosk mode the operator may have left fullscreen on purpose (f).
        let keep_fullscreen = self.kiosk || window.fullscreen().is_some();
        if change.away && self.several {
            return self.next_poll;
        }
        if let (Some(i), true) = (change.move_to, keep_fullscreen) {
            // winit ignores a request for the fullscreen state it believes the window is
            // already in, though the window manager may have moved or shrunk it when the
            // screen went away: leave fullscreen first so that it is applied anew.
            // It is moved onto the screen first: a window manager fullscreens a window on
            // the screen it mostly covers.
            window.set_fullscreen(None);
            window.set_outer_position(monitors[i].position());
            let _ = window.request_inner_size(monitors[i].size());
            window.set_fullscreen(Some(Fullscreen::Borderless(Some(monitors[i].clone()))));
        }
        self.next_poll
    }
}

/// Makes winit's list of monitors follow the X server.
///
/// winit 0.30 caches the list and means to refresh it on RandR's ScreenChangeNotify, but it
/// reads events through Xlib, which drops the events of any extension it has not been
/// introduced to, and winit speaks RandR through x11rb, not Xlib: the list stays as it was at
/// start, whatever is plugged (winit issue 3405). `XRRQueryExtension` on winit's own display
/// introduces RandR to Xlib, after which the events reach winit. Nothing to do on Wayland.
fn let_winit_hear_randr(window: &Window) {
    use raw_window_handle::{HasDisplayHandle, RawDisplayHandle};
    let Ok(handle) = window.display_handle() else {
        return;
    };
    let RawDisplayHandle::Xlib(xlib) = handle.as_raw() else {
        return;
    };
    let Some(display) = xlib.display else { return };
    let xrandr = match x11_dl::xrandr::Xrandr::open() {
        Ok(x) => x,
        Err(e) => {
            warn!(
                "re-plugged screens will not be noticed: cannot load libXrandr ({e}); install \
                 libxrandr2"
            );
            return;
        }
    };
    let (mut event_base, mut error_base) = (0, 0);
    // SAFETY: `display` is winit's open Xlib display, alive as long as the window, and this
    // runs on the event loop's thread, which is where winit uses it. The call registers
    // RandR's event converters with Xlib and reads the extension's numbers; nothing else.
    let known = unsafe {
        (xrandr.XRRQueryExtension)(display.as_ptr().cast(), &mut event_base, &mut error_base)
    };
    if known == 0 {
        warn!("re-plugged screens will not be noticed: the X server has no RandR extension");
    }
    // Xlib now calls into libXrandr for every RandR event and at close, so the library must
    // stay loaded: x11-dl keeps what it opens in a static, never unloaded.
}

fn info_of(m: &MonitorHandle) -> ScreenInfo {
    let position = m.position();
    let size = m.size();
    ScreenInfo {
        name: m.name(),
        position: (position.x, position.y),
        size: (size.width, size.height),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_screen_named_but_absent_at_start_is_taken_when_it_appears() {
        let laptop = ScreenInfo {
            name: Some("eDP-1".into()),
            position: (0, 0),
            size: (1920, 1080),
        };
        let led = ScreenInfo {
            name: Some("DP-1".into()),
            position: (1920, 0),
            size: (1920, 1080),
        };
        let mut p = Placement::wanting(vec![laptop.clone()], "dp-1");
        let change = p.update(vec![laptop.clone(), led], Some(0)).unwrap();
        assert_eq!(change.move_to, Some(1), "{}", change.message);
        assert!(!change.away, "{}", change.message);
    }

    fn screen(name: &str, x: i32, w: u32, h: u32) -> ScreenInfo {
        ScreenInfo {
            name: Some(name.into()),
            position: (x, 0),
            size: (w, h),
        }
    }
    fn laptop() -> ScreenInfo {
        screen("eDP-1", 0, 1920, 1080)
    }
    fn projector() -> ScreenInfo {
        screen("HDMI-1", 1920, 1280, 720)
    }

    #[test]
    fn nothing_changed_nothing_to_do() {
        let mut p = Placement::new(vec![laptop(), projector()], Some(1));
        assert_eq!(p.update(vec![laptop(), projector()], Some(0)), None);
        assert_eq!(p.update(vec![laptop(), projector()], Some(0)), None);
    }

    #[test]
    fn projector_unplugged_then_back() {
        let mut p = Placement::new(vec![laptop(), projector()], Some(1));

        let gone = p.update(vec![laptop()], Some(0)).unwrap();
        assert_eq!(gone.move_to, Some(0), "on the primary meanwhile");
        assert!(gone.away);
        assert_eq!(
            gone.message,
            "screens changed: 'HDMI-1' disconnected; the show's screen 'HDMI-1' is not there: \
             fullscreen on 'eDP-1' until it comes back"
        );
        // Logged once: the same list again is no change.
        assert_eq!(p.update(vec![laptop()], Some(0)), None);

        let back = p.update(vec![laptop(), projector()], Some(0)).unwrap();
        assert_eq!(back.move_to, Some(1));
        assert!(!back.away);
        assert_eq!(
            back.message,
            "screens changed: 'HDMI-1' 1280x720 connected; the show's screen is back: \
             fullscreen on 'HDMI-1' again"
        );
    }

    #[test]
    fn found_by_name_when_it_comes_back_elsewhere_in_the_list() {
        let mut p = Placement::new(vec![laptop(), projector()], Some(1));
        p.update(vec![laptop()], Some(0));
        let back = p.update(vec![projector(), laptop()], Some(1)).unwrap();
        assert_eq!(back.move_to, Some(0));
    }

    #[test]
    fn plugged_into_another_port_found_by_its_place() {
        let mut p = Placement::new(vec![laptop(), projector()], Some(1));
        p.update(vec![laptop()], Some(0));
        let other_port = screen("DP-2", 1920, 1920, 1080);
        let back = p.update(vec![laptop(), other_port], Some(0)).unwrap();
        assert_eq!(back.move_to, Some(1));
        assert!(!back.away);
        assert!(
            back.message.contains("'DP-2' 1920x1080 connected"),
            "{}",
            back.message
        );
    }

    #[test]
    fn a_known_screen_in_the_place_is_not_taken_for_it() {
        let mut p = Placement::new(vec![laptop(), projector()], Some(1));
        p.update(vec![laptop()], Some(0));
        // A new output listed first pushes the laptop into the projector's old place.
        let c = p
            .update(vec![screen("DP-2", 1920, 1920, 1080), laptop()], Some(1))
            .unwrap();
        assert!(c.away, "{}", c.message);
        assert_eq!(c.move_to, None, "stays on the primary (the laptop)");
    }

    #[test]
    fn unnamed_screens_are_followed_by_place() {
        let unnamed = |x| ScreenInfo {
            name: None,
            position: (x, 0),
            size: (1280, 720),
        };
        let mut p = Placement::new(vec![unnamed(0), unnamed(1280)], Some(1));
        let gone = p.update(vec![unnamed(0)], None).unwrap();
        assert_eq!(gone.move_to, Some(0), "no primary known: the first screen");
        assert!(
            gone.message.contains("(screen 2) is not there"),
            "{}",
            gone.message
        );
        let back = p.update(vec![unnamed(0), unnamed(1280)], None).unwrap();
        assert_eq!(back.move_to, Some(1));
    }

    #[test]
    fn the_only_screen_unplugged_and_back() {
        let mut p = Placement::new(vec![projector()], Some(0));
        let none = p.update(vec![], None).unwrap();
        assert_eq!(none.move_to, None);
        assert!(none.away);
        assert!(none
            .message
            .ends_with("no screen is connected: waiting for one"));
        // The window was displaced meanwhile: back on the same screen means a new move.
        let back = p.update(vec![projector()], Some(0)).unwrap();
        assert_eq!(back.move_to, Some(0));
        assert!(back.message.contains("is back"), "{}", back.message);
    }

    #[test]
    fn new_resolution_of_the_show_screen_reapplies_fullscreen() {
        let mut p = Placement::new(vec![laptop(), projector()], Some(1));
        let bigger = screen("HDMI-1", 1920, 1920, 1080);
        let c = p.update(vec![laptop(), bigger], Some(0)).unwrap();
        assert_eq!(c.move_to, Some(1));
        assert!(!c.away);
        assert_eq!(
            c.message,
            "screens changed: 'HDMI-1' now 1920x1080 at 1920,0; the show stays fullscreen on \
             'HDMI-1'"
        );
    }

    #[test]
    fn another_screen_coming_and_going_leaves_the_show_alone() {
        let mut p = Placement::new(vec![laptop(), projector()], Some(1));
        let monitor = screen("DP-1", 3200, 1024, 768);
        let c = p
            .update(vec![laptop(), projector(), monitor], Some(0))
            .unwrap();
        assert_eq!(c.move_to, None, "no flicker on the show's screen");
        assert!(
            c.message.contains("'DP-1' 1024x768 connected"),
            "{}",
            c.message
        );
        let c = p.update(vec![laptop(), projector()], Some(0)).unwrap();
        assert_eq!(c.move_to, None);
        assert!(c.message.contains("'DP-1' disconnected"), "{}", c.message);
    }

    #[test]
    fn no_screen_at_start_follows_the_primary() {
        let mut p = Placement::new(vec![], None);
        let c = p.update(vec![laptop(), projector()], Some(1)).unwrap();
        assert_eq!(c.move_to, Some(1));
        assert!(!c.away);
    }
}
