//! The window's render thread: all OpenGL drawing, on a thread of its own.
//!
//! The main thread makes the window, the GL context and the surface, then hands the context
//! (not current anywhere) and the surface to this thread, which makes the context current and
//! keeps it so until it ends. Here each frame is drawn as soon as mpv hands it over, ahead of
//! its due time, and presented when it is due ([`crate::screen::present`]). A buffer swap that
//! waits (for vsync, or for a compositor that holds frames back) waits here, never in the
//! winit event loop, the player or transport handling.
//!
//! Swaps wait for vsync on X11 when the driver does (measured at start: swaps paced at the
//! display's refresh), so a projector without a compositor shows no tear line. On Wayland the
//! compositor presents every frame whole, so swaps never wait there: a hidden window's swap
//! would otherwise block until it is shown again.

use crate::mpv::render::GlRenderContext;
use crate::mpv::Mpv;
use crate::screen::present::Presenter;
use crate::screen::stage::Stage;
use crate::watchdog::{self, Watch};
use crossbeam_channel::{select, Receiver, Sender};
use glutin::context::{NotCurrentContext, NotCurrentGlContext, PossiblyCurrentContext};
use glutin::display::{Display, GlDisplay};
use glutin::surface::{GlSurface, Surface, SwapInterval, WindowSurface};
use log::{error, info, warn};
use raw_window_handle::{HasDisplayHandle, RawDisplayHandle};
use std::ffi::c_void;
use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use winit::window::Window;

/// The render thread beats at least this often.
const BEAT_INTERVAL: Duration = Duration::from_millis(250);
/// No beat for this long means a swap or a render call never returned: the picture is frozen.
const HANG_LIMIT: Duration = Duration::from_secs(3);
/// Swaps timed at start to tell whether they wait for vsync.
const PROBE_SWAPS: usize = 6;

/// What the main thread tells the render thread.
#[derive(Debug)]
pub enum RenderCommand {
    /// The window's size changed (pixels).
    Resize(u32, u32),
    /// Draw the picture again (another deck went on screen, the window was exposed).
    Redraw,
    /// An output's window changed size (several outputs: its index, pixels).
    ResizeOutput(usize, u32, u32),
    /// Free the renderers and end.
    Quit,
}

/// The running render thread.
pub struct RenderThread {
    tx: Sender<RenderCommand>,
    thread: Option<JoinHandle<()>>,
}

/// What the render thread is given to draw with.
pub struct RenderSetup {
    pub decks: Vec<Mpv>,
    pub stage: Stage,
    pub window: Arc<Window>,
    pub display: Display,
    pub context: NotCurrentContext,
    pub surface: Surface<WindowSurface>,
}

impl RenderThread {
    /// Starts the thread and waits until its renderers exist (or says why they could not).
    pub fn start(setup: RenderSetup) -> Result<RenderThread, String> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("render".into())
            .spawn(move || run(setup, rx, ready_tx))
            .map_err(|e| format!("cannot start the render thread: {e}"))?;
        let mut started = RenderThread {
            tx,
            thread: Some(thread),
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(started),
            Ok(Err(e)) => {
                started.stop();
                Err(e)
            }
            Err(_) => {
                started.stop();
                Err("the render thread ended while starting".into())
            }
        }
    }

    /// Passes `command` on (nothing when the thread has ended).
    pub fn send(&self, command: RenderCommand) {
        let _ = self.tx.send(command);
    }

    /// Ends the thread, its renderers freed with their GL context current.
    pub fn stop(&mut self) {
        let _ = self.tx.send(RenderCommand::Quit);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RenderThread {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `glFinish`: waits until the GL has drawn everything asked of it, so that the cost of drawing
/// is paid before the wait for the due time, not inside the swap.
type GlFinish = unsafe extern "system" fn();

/// The GL state of the thread. Field order is drop order: the renderers are freed first, with
/// the GL context still current (their creation contract).
struct Gl {
    render: Vec<GlRenderContext>,
    finish: Option<GlFinish>,
    surface: Surface<WindowSurface>,
    context: PossiblyCurrentContext,
}

fn run(setup: RenderSetup, rx: Receiver<RenderCommand>, ready: Sender<Result<(), String>>) {
    let RenderSetup {
        decks,
        stage,
        window,
        display,
        context,
        surface,
    } = setup;
    let (wake_tx, wake_rx) = crossbeam_channel::bounded::<()>(1);
    let gl = match make_gl(&decks, &window, &display, context, surface, wake_tx) {
        Ok(gl) => gl,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let heartbeat = watchdog::register("render", Watch::Beats(HANG_LIMIT));
    let wayland = matches!(
        window.display_handle().map(|h| h.as_raw()),
        Ok(RawDisplayHandle::Wayland(_))
    );
    let vsync = choose_swaps(&gl, wayland);
    let _ = ready.send(Ok(()));
    let mut presenter = Presenter::new(decks.clone(), vsync);
    let urgent = crate::screen::urgent::Urgent::probe();
    let size = window.inner_size();
    let mut size = (size.width.max(1), size.height.max(1));
    let mut redraw = true;
    loop {
        heartbeat.beat();
        select! {
            recv(wake_rx) -> _ => {}
            recv(rx) -> command => match command {
                Ok(RenderCommand::Resize(w, h)) => {
                    if let (Some(nw), Some(nh)) = (NonZeroU32::new(w), NonZeroU32::new(h)) {
                        gl.surface.resize(&gl.context, nw, nh);
                        size = (w, h);
                    }
                    redraw = true;
                }
                Ok(RenderCommand::Redraw) | Ok(RenderCommand::ResizeOutput(..)) => redraw = true,
                Ok(RenderCommand::Quit) | Err(_) => break,
            },
            default(BEAT_INTERVAL) => {}
        }
        let shown = stage.deck();
        // Decks off screen: drawn to a 1x1 corner and overdrawn, because mpv holds back a
        // loaded file's first frame (and its "ready") until that frame has been rendered once.
        for (i, render) in gl.render.iter().enumerate() {
            if i == shown {
                continue;
            }
            // SAFETY: the context the renderers were made with is current on this thread for
            // its whole life (see `make_gl`); framebuffer 0 is the window's.
            unsafe {
                if render.update() {
                    if let Err(e) = render.render(0, 1, 1, true) {
                        warn!("{e}");
                    }
                    render.report_swap();
                    redraw = true;
                }
            }
        }
        let Some(render) = gl.render.get(shown) else {
            continue;
        };
        // SAFETY: as above.
        let new_frame = unsafe { render.update() };
        if !new_frame && !redraw {
            continue;
        }
        redraw = false;
        let info = render.next_frame_info();
        let drawing = crate::clock::now();
        let now_us = decks[shown].time_us();
        let run = decks[shown].runs();
        let info = stage.retime(shown, run, info, now_us, drawing);
        presenter.behind(stage.shift(shown, run).unwrap_or_default());
        let what = super::present::drawn(&info, now_us, drawing);
        let present_at =
            presenter.present_at(&info, now_us, drawing, || stage.take_hold(shown, drawing));
        let (w, h) = (
            i32::try_from(size.0).unwrap_or(i32::MAX),
            i32::try_from(size.1).unwrap_or(i32::MAX),
        );
        // SAFETY: as above.
        if let Err(e) = unsafe { render.render(0, w, h, true) } {
            error!("{e}");
            continue;
        }
        if let Some(finish) = gl.finish {
            // SAFETY: a GL 1.0 entry point of the current context, taking nothing.
            unsafe { finish() };
        }
        let drawn = crate::clock::now();
        urgent.begin();
        presenter.wait_until(present_at);
        // A frame due after the deck's Stop is drawn (mpv waits for that) but never shown.
        if !stage.admit(shown, what) {
            // Not shown, but reported at once: mpv's video output waits for the swap (up to
            // 200 ms, its core with it).
            urgent.done();
            // SAFETY: as above.
            unsafe { render.report_swap() };
            continue;
        }
        let presenting = crate::clock::now();
        if let Err(e) = gl.surface.swap_buffers(&gl.context) {
            warn!("cannot show the frame: {e}");
        }
        let presented = crate::clock::now();
        urgent.done();
        // SAFETY: as above.
        unsafe { render.report_swap() };
        presenter.measured(drawn - drawing, presented - presenting);
    }
    heartbeat.done();
    drop(gl);
}

/// Makes the context current here and creates one renderer per deck, woken through `wake`.
fn make_gl(
    decks: &[Mpv],
    window: &Arc<Window>,
    display: &Display,
    context: NotCurrentContext,
    surface: Surface<WindowSurface>,
    wake: Sender<()>,
) -> Result<Gl, String> {
    let context = context
        .make_current(&surface)
        .map_err(|e| format!("cannot use the OpenGL context: {e}"))?;
    // SAFETY: resolving a GL 1.0 entry point of the current context; a null pointer is kept
    // as None, and a non-null one has the signature GL gives glFinish.
    let finish = unsafe {
        let p = display.get_proc_address(c"glFinish");
        (!p.is_null()).then(|| std::mem::transmute::<*const c_void, GlFinish>(p))
    };
    let mut render = Vec::new();
    for mpv in decks {
        let gl_display = display.clone();
        let owner: Rc<dyn HasDisplayHandle> = Rc::new(window.clone());
        // SAFETY: `context` was made current on this thread just above and stays current
        // until it is dropped, after every renderer (`Gl`'s field order; on an error here,
        // `render` drops before `context`); the window keeps its X11 or Wayland connection
        // open while it lives, and `owner` keeps the window.
        let mut r = unsafe {
            GlRenderContext::new(
                mpv,
                move |name| gl_display.get_proc_address(name) as *const _,
                Some(owner),
            )
        }
        .map_err(|e| e.to_string())?;
        r.set_update_callback(wake.clone());
        render.push(r);
    }
    Ok(Gl {
        render,
        finish,
        surface,
        context,
    })
}

/// Sets how swaps wait, and returns the refresh interval when they wait for vsync.
fn choose_swaps(gl: &Gl, wayland: bool) -> Option<Duration> {
    let no_wait = || {
        if let Err(e) = gl
            .surface
            .set_swap_interval(&gl.context, SwapInterval::DontWait)
        {
            warn!("cannot turn off waiting for vsync: {e}");
        }
    };
    if wayland {
        no_wait();
        info!("Wayland: the compositor presents each frame whole; swaps do not wait");
        return None;
    }
    let one = NonZeroU32::MIN;
    if let Err(e) = gl
        .surface
        .set_swap_interval(&gl.context, SwapInterval::Wait(one))
    {
        no_wait();
        warn!(
            "no vsync ({e}): frames are presented at their due time, but without a \
             compositor the picture may tear"
        );
        return None;
    }
    // Time a few swaps: paced at a refresh interval, they wait for vsync.
    let mut times = Vec::with_capacity(PROBE_SWAPS + 1);
    times.push(Instant::now());
    for _ in 0..PROBE_SWAPS {
        if gl.surface.swap_buffers(&gl.context).is_err() {
            break;
        }
        times.push(Instant::now());
    }
    let mut gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).skip(1).collect();
    gaps.sort();
    let typical = gaps.get(gaps.len() / 2).copied().unwrap_or(Duration::ZERO);
    if typical >= Duration::from_millis(4) && typical <= Duration::from_millis(50) {
        info!(
            "vsync: swaps wait for the display's refresh ({:.2} Hz); each frame is presented on \
             the refresh nearest its due time, tear-free",
            1.0 / typical.as_secs_f64()
        );
        Some(typical)
    } else {
        no_wait();
        info!(
            "this display does not pace swaps (no vsync, as on a virtual screen): frames are \
             presented at their due time"
        );
        None
    }
}
