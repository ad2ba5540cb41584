//! The main thread: the winit event loop, the fullscreen window and the operator's keys.
//!
//! Drawing happens on the render thread ([`crate::screen::render_thread`]), never here, and
//! transport never waits for it: the player thread has already told mpv to play before the
//! frame is drawn. A buffer swap that waits (for vsync, or a compositor holding frames back
//! while the window is hidden) holds the render thread only; this loop keeps taking keys and
//! screen changes.

use crate::clock;
use crate::error::Error;
use crate::mpv::Mpv;
use crate::player::{Notice, PlayerInput};
use crate::screen::render_thread::{RenderCommand, RenderSetup, RenderThread};
use crate::screen::stage::Stage;
use crate::transport::OperatorCommand;
use crate::watchdog::{self, Heartbeat, Watch};
use crossbeam_channel::Sender;
use glutin::config::{Config, ConfigTemplateBuilder};
use glutin::context::ContextAttributesBuilder;
use glutin::display::{GetGlDisplay, GlDisplay};
use glutin_winit::{DisplayBuilder, GlWindow};
use log::{info, warn};
use raw_window_handle::HasWindowHandle;
use std::sync::Arc;
use winit::application::ApplicationHandler;
use winit::event::{ElementState, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop, EventLoopProxy};
use winit::keyboard::{Key, NamedKey};
use winit::monitor::MonitorHandle;
use winit::window::{Fullscreen, Window, WindowId};

/// What the other threads tell the main thread.
#[derive(Debug)]
pub enum ScreenEvent {
    /// A notice from the player.
    Player(Notice),
    /// SIGTERM or SIGINT: close the window and end the show (kiosk mode or not).
    Shutdown,
}

/// The main loop wakes at least this often when nothing happens.
const SCREEN_BEAT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// No wake-up of the main loop for this long means drawing is stuck (a buffer swap that never
/// returns): the picture is frozen, so playhead ends and is started again.
const SCREEN_HANG_LIMIT: std::time::Duration = std::time::Duration::from_secs(3);

/// How the window is shown.
#[derive(Clone, Debug)]
pub struct ScreenOptions {
    /// Start fullscreen (the default) or in a window (rehearsal).
    pub fullscreen: bool,
    /// The monitor, counted from 1 in the order the system lists them; `None` = primary.
    pub screen: Option<usize>,
    /// Stray keys cannot quit or leave fullscreen.
    pub kiosk: bool,
    /// The window title.
    pub title: String,
    /// The show's outputs (`[[output]]`), each a window of its own; empty = one window on
    /// `screen`.
    pub outputs: Vec<OutputWindow>,
}

/// One output's window, as the show file describes it.
#[derive(Clone, Debug)]
pub struct OutputWindow {
    pub name: String,
    pub monitor: Option<crate::outputs::Monitor>,
    /// How much later than the output with the largest latency offset it shows each frame.
    pub delay: std::time::Duration,
}

/// What draws: one window's render thread, or the outputs'.
enum Renderer {
    One(RenderThread),
    Outputs(crate::screen::outputs::OutputsThread),
}

impl Renderer {
    fn send(&self, command: RenderCommand) {
        match self {
            Renderer::One(r) => r.send(command),
            Renderer::Outputs(r) => r.send(command),
        }
    }

    fn stop(&mut self) {
        match self {
            Renderer::One(r) => r.stop(),
            Renderer::Outputs(r) => r.stop(),
        }
    }
}

/// Starts the player thread once the window and its renderer exist.
pub type StartPlayer = Box<dyn FnOnce(EventLoopProxy<ScreenEvent>)>;

/// The application state driven by winit.
struct App {
    decks: Vec<Mpv>,
    stage: Stage,
    options: ScreenOptions,
    player_tx: Sender<PlayerInput>,
    proxy: EventLoopProxy<ScreenEvent>,
    start_player: Option<StartPlayer>,
    /// The windows: one, or one per output (in the show's order).
    windows: Vec<Arc<Window>>,
    /// Draws to the windows; dropped (ended) before them.
    renderer: Option<Renderer>,
    fatal: Option<Error>,
    /// Put each window back on its screen when displays are re-plugged (fullscreen only).
    screens: Vec<crate::screen::kiosk::ScreenWatch>,
    /// The main thread's promise to the watchdog: it beats every time the loop wakes.
    heartbeat: Heartbeat,
}

/// Whether the environment names a display (X11 or Wayland) to open a window on.
pub fn display_is_set() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY", "WAYLAND_SOCKET"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// Opens the window and runs the event loop until the operator quits or the player fails.
/// Returns the fatal error, if any, for `main` to print.
pub fn run(
    decks: Vec<Mpv>,
    stage: Stage,
    options: ScreenOptions,
    player_tx: Sender<PlayerInput>,
    start_player: StartPlayer,
) -> Result<(), Error> {
    if !display_is_set() {
        return Err(Error::Screen(
            "no display: DISPLAY and WAYLAND_DISPLAY are not set; playhead needs a \
             graphical session (X11 or Wayland): run it from the desktop, or from a console \
             on the show machine with DISPLAY=:0"
                .into(),
        ));
    }
    let event_loop = EventLoop::<ScreenEvent>::with_user_event()
        .build()
        .map_err(|e| {
            Error::Screen(format!(
                "cannot open a window: {e}; playhead needs a graphical session (X11 or Wayland): \
                 run it from the desktop, or set DISPLAY (X11) or WAYLAND_DISPLAY"
            ))
        })?;
    let proxy = event_loop.create_proxy();
    let mut app = App {
        decks,
        stage,
        options,
        player_tx,
        proxy,
        start_player: Some(start_player),
        windows: Vec::new(),
        renderer: None,
        fatal: None,
        screens: Vec::new(),
        heartbeat: watchdog::register("screen", Watch::Beats(SCREEN_HANG_LIMIT)),
    };
    event_loop
        .run_app(&mut app)
        .map_err(|e| Error::Screen(format!("the window system failed: {e}")))?;
    let App {
        fatal, heartbeat, ..
    } = app;
    heartbeat.done();
    match fatal {
        Some(msg) => Err(msg),
        None => Ok(()),
    }
}

/// A fullscreen window on `monitor`, opened where that monitor is and as large as it: a window
/// manager fullscreens a window on the monitor it mostly covers, and places a window larger
/// than its monitor (or one placed by its own rules) on another (an output meant for a
/// 320x180 monitor, opened at 640x360, went fullscreen on the monitor beside it).
fn fullscreen_on(
    attributes: winit::window::WindowAttributes,
    monitor: Option<MonitorHandle>,
) -> winit::window::WindowAttributes {
    let attributes = match &monitor {
        Some(m) => attributes
            .with_position(m.position())
            .with_inner_size(m.size()),
        None => attributes,
    };
    attributes.with_fullscreen(Some(Fullscreen::Borderless(monitor)))
}

fn pick_monitor(event_loop: &ActiveEventLoop, screen: Option<usize>) -> Option<MonitorHandle> {
    let monitors: Vec<MonitorHandle> = event_loop.available_monitors().collect();
    for (i, m) in monitors.iter().enumerate() {
        let size = m.size();
        info!(
            "screen {}: {} {}x{}",
            i + 1,
            m.name().unwrap_or_else(|| "(unnamed)".into()),
            size.width,
            size.height
        );
    }
    match screen {
        Some(n) if n >= 1 && n <= monitors.len() => Some(monitors[n - 1].clone()),
        Some(n) => {
            warn!(
                "there is no screen {n} ({} found); using the primary screen",
                monitors.len()
            );
            event_loop.primary_monitor()
        }
        None => event_loop.primary_monitor(),
    }
}

/// The monitor output `output` goes on: by its place in the list or by its name (as the
/// system reports it, any case); the primary one, said, when it is not there.
fn pick_output_monitor(
    event_loop: &ActiveEventLoop,
    output: &OutputWindow,
) -> Option<MonitorHandle> {
    use crate::outputs::Monitor;
    let monitors: Vec<MonitorHandle> = event_loop.available_monitors().collect();
    let found = match &output.monitor {
        None => return event_loop.primary_monitor(),
        Some(Monitor::Index(n)) => monitors.get(n.wrapping_sub(1)).cloned(),
        Some(Monitor::Name(name)) => monitors
            .iter()
            .find(|m| m.name().is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .cloned(),
    };
    if found.is_none() {
        let names: Vec<String> = monitors
            .iter()
            .enumerate()
            .map(|(i, m)| {
                format!(
                    "{} {}",
                    i + 1,
                    m.name().unwrap_or_else(|| "(unnamed)".into())
                )
            })
            .collect();
        warn!(
            "output '{}': there is no {} (found: {}); it goes on the primary screen until \
             that one is plugged in",
            output.name,
            output
                .monitor
                .as_ref()
                .map_or(String::new(), |m| m.to_string()),
            names.join(", ")
        );
    }
    found.or_else(|| event_loop.primary_monitor())
}

fn choose_config(configs: Box<dyn Iterator<Item = Config> + '_>) -> Config {
    // Any config will do for video; prefer no multisampling (mpv scales the picture itself).
    let mut best: Option<Config> = None;
    for c in configs {
        use glutin::config::GlConfig;
        if best
            .as_ref()
            .is_none_or(|b| c.num_samples() < b.num_samples())
        {
            best = Some(c);
        }
    }
    match best {
        Some(c) => c,
        // glutin wants a config back and has no way to hear "none": unwind to `create_gl`,
        // which turns it into an error the operator can read. The panic hook lets this one
        // pass (see crate::watchdog).
        None => std::panic::panic_any(crate::watchdog::NoGlConfig),
    }
}

impl App {
    fn create_gl(
        &mut self,
        event_loop: &ActiveEventLoop,
    ) -> Result<(Vec<Arc<Window>>, Renderer), String> {
        if !self.options.outputs.is_empty() {
            return self.create_outputs(event_loop);
        }
        let monitor = pick_monitor(event_loop, self.options.screen);
        if self.options.fullscreen {
            self.screens = vec![crate::screen::kiosk::ScreenWatch::new(
                event_loop,
                monitor.as_ref(),
                self.options.kiosk,
            )];
        }
        let mut attributes = Window::default_attributes()
            .with_title(self.options.title.clone())
            .with_inner_size(winit::dpi::LogicalSize::new(1280.0, 720.0));
        if self.options.fullscreen {
            attributes = fullscreen_on(attributes, monitor);
        }
        let template = ConfigTemplateBuilder::new();
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            DisplayBuilder::new()
                .with_window_attributes(Some(attributes))
                .build(event_loop, template, choose_config)
        }))
        .map_err(|_| {
            "cannot set up OpenGL: the graphics driver offers no usable configuration; \
             check that Mesa's OpenGL/EGL drivers are installed (libgl1-mesa-dri, libegl1)"
                .to_string()
        })?;
        let (window, config) = built.map_err(|e| format!("cannot set up OpenGL: {e}"))?;
        let window = Arc::new(window.ok_or("the window could not be created")?);
        window.set_cursor_visible(false);
        let raw = window.window_handle().ok().map(|h| h.as_raw());
        let display = config.display();
        let context_attributes = ContextAttributesBuilder::new().build(raw);
        // SAFETY: the raw window handle belongs to `window`, which outlives the context (the
        // render thread drops the context, and ends, before the window is dropped).
        let context = unsafe { display.create_context(&config, &context_attributes) }
            .map_err(|e| format!("cannot create an OpenGL context: {e}"))?;
        let surface_attributes = window
            .build_surface_attributes(Default::default())
            .map_err(|e| format!("cannot describe the window surface: {e}"))?;
        // SAFETY: as above, the window outlives the surface.
        let surface = unsafe { display.create_window_surface(&config, &surface_attributes) }
            .map_err(|e| format!("cannot create the window surface: {e}"))?;
        let renderer = RenderThread::start(RenderSetup {
            decks: self.decks.clone(),
            stage: self.stage.clone(),
            window: window.clone(),
            display,
            context,
            surface,
        })?;
        Ok((vec![window], Renderer::One(renderer)))
    }

    /// One window per output, each fullscreen on its monitor: one render thread draws each
    /// frame once, and a thread per output (each with a GL context sharing the render
    /// thread's pictures) draws and presents that output's part.
    fn create_outputs(
        &mut self,
        event_loop: &ActiveEventLoop,
    ) -> Result<(Vec<Arc<Window>>, Renderer), String> {
        let outputs = self.options.outputs.clone();
        let mut windows = Vec::new();
        let mut config: Option<Config> = None;
        for (i, output) in outputs.iter().enumerate() {
            let monitor = pick_output_monitor(event_loop, output);
            let monitor_name = monitor
                .as_ref()
                .and_then(|m| m.name())
                .unwrap_or_else(|| "the primary screen".into());
            if self.options.fullscreen {
                let found = monitor.as_ref().is_some_and(|m| match &output.monitor {
                    Some(crate::outputs::Monitor::Name(name)) => {
                        m.name().is_some_and(|n| n.eq_ignore_ascii_case(name))
                    }
                    _ => true,
                });
                let watch = match (&output.monitor, found) {
                    // Named, and not there yet: it goes there when it is plugged in.
                    (Some(crate::outputs::Monitor::Name(name)), false) => {
                        crate::screen::kiosk::ScreenWatch::wanting(
                            event_loop,
                            name,
                            self.options.kiosk,
                        )
                    }
                    _ => crate::screen::kiosk::ScreenWatch::new(
                        event_loop,
                        monitor.as_ref(),
                        self.options.kiosk,
                    ),
                };
                self.screens.push(watch.one_of_several());
            }
            let mut attributes = Window::default_attributes()
                .with_title(format!("{} ({})", self.options.title, output.name))
                .with_inner_size(winit::dpi::LogicalSize::new(640.0, 360.0));
            if self.options.fullscreen {
                attributes = fullscreen_on(attributes, monitor);
            }
            let window = match &config {
                None => {
                    let template = ConfigTemplateBuilder::new();
                    let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        DisplayBuilder::new()
                            .with_window_attributes(Some(attributes))
                            .build(event_loop, template, choose_config)
                    }))
                    .map_err(|_| {
                        "cannot set up OpenGL: the graphics driver offers no usable \
                         configuration; check that Mesa's OpenGL/EGL drivers are installed \
                         (libgl1-mesa-dri, libegl1)"
                            .to_string()
                    })?;
                    let (window, c) = built.map_err(|e| format!("cannot set up OpenGL: {e}"))?;
                    config = Some(c);
                    window.ok_or("the window could not be created")?
                }
                Some(c) => {
                    glutin_winit::finalize_window(event_loop, attributes, c).map_err(|e| {
                        format!("cannot open the window of output '{}': {e}", output.name)
                    })?
                }
            };
            let window = Arc::new(window);
            window.set_cursor_visible(false);
            info!(
                "output {} '{}': a window on {}",
                i + 1,
                output.name,
                monitor_name
            );
            windows.push(window);
        }
        let config = config.ok_or("the show has no output")?;
        let display = config.display();
        let raw = windows[0].window_handle().ok().map(|h| h.as_raw());
        // SAFETY: the windows outlive the contexts: the render and output threads drop them,
        // and end, before the windows are dropped; an output thread whose swap the window
        // system holds for good is left behind as the process ends, its window kept by its
        // own Arc.
        let context =
            unsafe { display.create_context(&config, &ContextAttributesBuilder::new().build(raw)) }
                .map_err(|e| format!("cannot create an OpenGL context: {e}"))?;
        let mut surfaces = Vec::new();
        for (window, output) in windows.iter().zip(&outputs) {
            let attributes = window
                .build_surface_attributes(Default::default())
                .map_err(|e| format!("cannot describe the window surface: {e}"))?;
            // SAFETY: as above, the window outlives the surface.
            let surface = unsafe { display.create_window_surface(&config, &attributes) }
                .map_err(|e| format!("cannot create the window surface: {e}"))?;
            let raw = window.window_handle().ok().map(|h| h.as_raw());
            let shared = ContextAttributesBuilder::new()
                .with_sharing(&context)
                .build(raw);
            // SAFETY: as above.
            let output_context =
                unsafe { display.create_context(&config, &shared) }.map_err(|e| {
                    format!(
                        "cannot create an OpenGL context for output '{}': {e}",
                        output.name
                    )
                })?;
            surfaces.push(crate::screen::outputs::OutputSurface {
                name: output.name.clone(),
                window: window.clone(),
                surface,
                context: output_context,
                delay: output.delay,
            });
        }
        let renderer =
            crate::screen::outputs::OutputsThread::start(crate::screen::outputs::OutputsSetup {
                decks: self.decks.clone(),
                stage: self.stage.clone(),
                outputs: surfaces,
                display,
                context,
            })?;
        Ok((windows, Renderer::Outputs(renderer)))
    }

    fn render(&self, command: RenderCommand) {
        if let Some(r) = &self.renderer {
            r.send(command);
        }
    }

    fn key(&mut self, event_loop: &ActiveEventLoop, key: &Key) {
        let command = match key {
            Key::Named(NamedKey::Space) => Some(OperatorCommand::TogglePlay),
            Key::Named(NamedKey::Home) => Some(OperatorCommand::Rewind),
            Key::Named(NamedKey::Tab) => {
                let _ = self.player_tx.send(PlayerInput::ToggleOverlay);
                None
            }
            // With main and backup rigs: M makes the main lead, B the backup.
            Key::Character(c) if c.eq_ignore_ascii_case("m") || c.eq_ignore_ascii_case("b") => {
                let rig = if c.eq_ignore_ascii_case("m") {
                    crate::arbiter::Rig::Main
                } else {
                    crate::arbiter::Rig::Backup
                };
                let _ = self.player_tx.send(PlayerInput::Remote(
                    crate::player::RemoteCommand::Lead(rig),
                    crate::clock::now(),
                    format!("the operator's key {}", c.to_uppercase()),
                ));
                None
            }
            Key::Character(c) if c.eq_ignore_ascii_case("f") && !self.options.kiosk => {
                for window in &self.windows {
                    let full = window.fullscreen().is_some();
                    window.set_fullscreen(if full {
                        None
                    } else {
                        Some(Fullscreen::Borderless(window.current_monitor()))
                    });
                }
                None
            }
            Key::Character(c) if c.eq_ignore_ascii_case("q") && !self.options.kiosk => {
                info!("quit by the operator (q)");
                self.quit(event_loop);
                None
            }
            Key::Named(NamedKey::Escape) if !self.options.kiosk => {
                info!("quit by the operator (Esc)");
                self.quit(event_loop);
                None
            }
            _ => None,
        };
        if let Some(command) = command {
            let _ = self
                .player_tx
                .send(PlayerInput::Operator(command, clock::now()));
        }
    }

    fn quit(&mut self, event_loop: &ActiveEventLoop) {
        let _ = self.player_tx.send(PlayerInput::Quit);
        event_loop.exit();
    }
}

impl ApplicationHandler<ScreenEvent> for App {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if !self.windows.is_empty() {
            return;
        }
        match self.create_gl(event_loop) {
            Ok((windows, renderer)) => {
                self.windows = windows;
                self.renderer = Some(renderer);
                if let Some(start) = self.start_player.take() {
                    start(self.proxy.clone());
                }
            }
            Err(e) => {
                self.fatal = Some(Error::Screen(e));
                self.quit(event_loop);
            }
        }
    }

    fn user_event(&mut self, event_loop: &ActiveEventLoop, event: ScreenEvent) {
        match event {
            ScreenEvent::Player(Notice::Switched { .. }) => self.render(RenderCommand::Redraw),
            ScreenEvent::Player(Notice::Fatal(msg)) => {
                self.fatal = Some(Error::Player(msg));
                self.quit(event_loop);
            }
            ScreenEvent::Player(_) => {}
            ScreenEvent::Shutdown => {
                info!("stopping the show: the window closes");
                self.quit(event_loop);
            }
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, id: WindowId, event: WindowEvent) {
        match event {
            WindowEvent::RedrawRequested => self.render(RenderCommand::Redraw),
            WindowEvent::Resized(size) => {
                let output = self.windows.iter().position(|w| w.id() == id);
                match (output, self.options.outputs.is_empty()) {
                    (Some(i), false) => {
                        self.render(RenderCommand::ResizeOutput(i, size.width, size.height))
                    }
                    _ => self.render(RenderCommand::Resize(size.width, size.height)),
                }
            }
            WindowEvent::CloseRequested if self.options.kiosk => {
                info!("kiosk mode: a request to close the window was ignored");
            }
            WindowEvent::CloseRequested => {
                info!("window closed");
                self.quit(event_loop);
            }
            WindowEvent::KeyboardInput { event, .. }
                if event.state == ElementState::Pressed && !event.repeat =>
            {
                self.key(event_loop, &event.logical_key);
            }
            _ => {}
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        self.heartbeat.beat();
        // Wake at least every SCREEN_BEAT_INTERVAL, so that a quiet loop is not taken for a
        // stuck one.
        let mut next = crate::clock::now() + SCREEN_BEAT_INTERVAL;
        // winit has no event for screens coming and going: look every few seconds.
        for (watch, window) in self.screens.iter_mut().zip(&self.windows) {
            next = next.min(watch.poll(event_loop, window));
        }
        event_loop.set_control_flow(ControlFlow::WaitUntil(next));
    }

    fn exiting(&mut self, _event_loop: &ActiveEventLoop) {
        let _ = self.player_tx.send(PlayerInput::Quit);
        // The render thread frees mpv's renderers with their GL context current, and ends,
        // before the window goes.
        if let Some(mut renderer) = self.renderer.take() {
            renderer.stop();
        }
        self.windows.clear();
    }
}
