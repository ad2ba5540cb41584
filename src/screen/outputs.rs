//! Several outputs (`[[output]]`): each output's window drawn by a thread of its own.
//!
//! The deck on screen is decoded once and drawn by mpv once per frame, on the render thread,
//! into a picture of its own (a GL texture, in a context every output's context shares) as
//! large as the outputs need and no larger than decoded ([`crate::outputs::picture_size`]): a
//! song whose outputs show different files has them stacked side by side in that one picture
//! ([`crate::outputs::Composite`]). Each output's thread then
//! draws its rectangle of the picture into its window, fitted and centred, with its edge blend
//! (a shader: a smooth ramp through the output's gamma, [`crate::outputs::blend_factor`]), and
//! presents it at the frame's due time, later by its delay when its latency offset is smaller
//! than the largest.
//!
//! A thread per output, because a buffer swap can wait: for a monitor that was unplugged the
//! window system may hold a swap for a second or for good. Only that output waits; the others
//! play on, and when its monitor returns the output skips to the frame due then (a frame that
//! cannot be on time is skipped, never shown late).
//!
//! Timing is the single screen's ([`crate::screen::present`]): mpv hands each frame over ahead
//! of its due time, the picture is drawn at once, and presented when due. Whether a frame may
//! reach the screens at all (not one due after a Stop) is decided once per frame, by the first
//! output to present it, for all of them.

use crate::mpv::render::GlRenderContext;
use crate::mpv::Mpv;
use crate::outputs::View;
use crate::screen::present::Presenter;
use crate::screen::render_thread::RenderCommand;
use crate::screen::stage::{Drawn, Stage};
use crate::watchdog::{self, Watch};
use crossbeam_channel::{select, Receiver, Sender};
use glow::HasContext;
use glutin::context::{NotCurrentContext, NotCurrentGlContext, PossiblyCurrentContext};
use glutin::display::{Display, GlDisplay};
use glutin::surface::{GlSurface, Surface, SwapInterval, WindowSurface};
use log::{debug, error, info, warn};
use raw_window_handle::HasDisplayHandle;
use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use winit::window::Window;

/// The render thread beats at least this often.
const BEAT_INTERVAL: Duration = Duration::from_millis(250);
/// No beat for this long means mpv's drawing never returned.
const HANG_LIMIT: Duration = Duration::from_secs(3);
/// Pictures kept at most: for outputs that show frames later than the others (32 pictures
/// hold about 500 ms of difference at 60 frames a second, 1.2 s at 25), and for an output
/// whose swap is held. Past this a picture an output still holds is drawn over (said once).
const MAX_PICTURES: usize = 32;
/// Frames waiting for one output at most (its channel): the render thread never waits.
const OUTPUT_QUEUE: usize = 24;
/// An output draws its next frame as soon as it has one (mpv hands frames over ahead of
/// their due time by what drawing costs), but never more than this before it is due: a
/// frame further ahead is one of a later output's queue, drawn once the frame before it is
/// presented.
const DRAW_AHEAD: Duration = Duration::from_millis(60);
/// A frame mpv says is due further ahead than this is presented then (mpv hands frames over
/// its offset ahead, 50 ms at most; this only bounds a time stamp gone wrong).
const FURTHEST_DUE: Duration = Duration::from_millis(500);
/// An output whose swap has not returned for this long is said to be held.
const HELD_AFTER: Duration = Duration::from_secs(1);

/// One output's window, as the render thread gets it.
pub struct OutputSurface {
    pub name: String,
    pub window: Arc<Window>,
    pub surface: Surface<WindowSurface>,
    /// Its GL context, sharing the render thread's pictures.
    pub context: NotCurrentContext,
    /// How much later than the output with the largest latency offset it shows each frame.
    pub delay: Duration,
}

/// What the outputs' render thread is given to draw with.
pub struct OutputsSetup {
    pub decks: Vec<Mpv>,
    pub stage: Stage,
    pub outputs: Vec<OutputSurface>,
    pub display: Display,
    /// The render thread's context (mpv draws with it; no surface of its own).
    pub context: NotCurrentContext,
}

/// The running render thread of several outputs, and the outputs' threads.
pub struct OutputsThread {
    tx: Sender<RenderCommand>,
    thread: Option<JoinHandle<()>>,
}

impl OutputsThread {
    /// Starts the threads and waits until the renderers exist (or says why they could not).
    pub fn start(setup: OutputsSetup) -> Result<OutputsThread, String> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("render".into())
            .spawn(move || run(setup, rx, ready_tx))
            .map_err(|e| format!("cannot start the render thread: {e}"))?;
        let mut started = OutputsThread {
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

    pub fn send(&self, command: RenderCommand) {
        let _ = self.tx.send(command);
    }

    pub fn stop(&mut self) {
        let _ = self.tx.send(RenderCommand::Quit);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for OutputsThread {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A picture mpv drew, shared with the outputs while they show it.
struct Picture {
    texture: glow::Texture,
    size: (u32, u32),
}

/// The decision whether a frame reaches the screens, made once for every output.
struct Ticket {
    deck: usize,
    what: Drawn,
    stage: Stage,
    admitted: OnceLock<bool>,
}

impl Ticket {
    fn admitted(&self) -> bool {
        *self
            .admitted
            .get_or_init(|| self.stage.admit(self.deck, self.what))
    }
}

/// A frame for one output: the picture, what of it the output shows, and when.
struct Show {
    picture: Arc<Picture>,
    /// The picture's size as decoded (the views' rectangles are in its pixels); the picture
    /// itself may be drawn smaller.
    composite: (u32, u32),
    /// `None`: the picture has no views (idle content): shown whole.
    view: Option<Option<View>>,
    /// When to present it (`None`: at once).
    at: Option<Instant>,
    ticket: Arc<Ticket>,
}

enum ToOutput {
    Show(Show),
    Resize(u32, u32),
    Quit,
}

/// The outputs' costs, for the presenter: the slowest recent drawing and swap (µs).
#[derive(Default)]
struct Costs {
    draw_us: AtomicU64,
    swap_us: AtomicU64,
}

/// The render thread's GL state. Field order is drop order: the renderers are freed first,
/// with the GL context still current.
struct Gl {
    render: Vec<GlRenderContext>,
    gl: glow::Context,
    /// The pictures and the framebuffer mpv draws each into.
    pictures: Vec<(Arc<Picture>, glow::Framebuffer)>,
    /// Where mpv draws the decks off screen (a 1x1 picture nobody shows).
    scratch: Option<(glow::Texture, glow::Framebuffer)>,
    /// The picture drawn last, for choosing the next.
    last: usize,
    /// The pool ran out once (said once).
    overdrawn_said: bool,
    /// Current on this thread while it lives; dropped last.
    _context: PossiblyCurrentContext,
}

/// One output's thread.
struct OutputThread {
    name: String,
    tx: Sender<ToOutput>,
    delay: Duration,
    thread: Option<JoinHandle<()>>,
}

fn run(setup: OutputsSetup, rx: Receiver<RenderCommand>, ready: Sender<Result<(), String>>) {
    let OutputsSetup {
        decks,
        stage,
        outputs,
        display,
        context,
    } = setup;
    let costs = Arc::new(Costs::default());
    let owner = match outputs.first() {
        Some(o) => o.window.clone(),
        None => {
            let _ = ready.send(Err("the show has no output".into()));
            return;
        }
    };
    let (wake_tx, wake_rx) = crossbeam_channel::bounded::<()>(1);
    let mut gl = match make_gl(&decks, &display, context, owner, wake_tx) {
        Ok(gl) => gl,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    // The outputs' window sizes: a picture is drawn as large as they need.
    let mut windows: Vec<(u32, u32)> = outputs
        .iter()
        .map(|o| {
            let s = o.window.inner_size();
            (s.width.max(1), s.height.max(1))
        })
        .collect();
    let mut largest = largest_of(&windows);
    let mut threads: Vec<OutputThread> = Vec::new();
    for (i, output) in outputs.into_iter().enumerate() {
        match start_output(i, output, display.clone(), costs.clone(), stage.clone()) {
            Ok(t) => threads.push(t),
            Err(e) => {
                for t in &mut threads {
                    t.stop();
                }
                let _ = ready.send(Err(e));
                gl.free();
                return;
            }
        }
    }
    let heartbeat = watchdog::register("render", Watch::Beats(HANG_LIMIT));
    let _ = ready.send(Ok(()));
    info!(
        "{} outputs, each drawn by a thread of its own: {}",
        threads.len(),
        threads
            .iter()
            .map(|o| if o.delay.is_zero() {
                o.name.clone()
            } else {
                format!(
                    "{} (each frame {:.1} ms after the others)",
                    o.name,
                    o.delay.as_secs_f64() * 1000.0
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut presenter = Presenter::new(decks.clone(), None);
    let mut redraw = true;
    let mut views_seen = stage.views_version();
    loop {
        heartbeat.beat();
        select! {
            recv(wake_rx) -> _ => {}
            recv(rx) -> command => match command {
                Ok(RenderCommand::ResizeOutput(i, w, h)) => {
                    if let Some(t) = threads.get(i) {
                        let _ = t.tx.try_send(ToOutput::Resize(w, h));
                    }
                    if let Some(s) = windows.get_mut(i) {
                        *s = (w.max(1), h.max(1));
                    }
                    largest = largest_of(&windows);
                    redraw = true;
                }
                Ok(RenderCommand::Resize(..)) | Ok(RenderCommand::Redraw) => redraw = true,
                Ok(RenderCommand::Quit) | Err(_) => break,
            },
            default(BEAT_INTERVAL) => {}
        }
        let shown = stage.deck();
        // The player set what the outputs show of a picture (its files opened after its first
        // frame was drawn): the frame on screen is drawn again with it.
        let version = stage.views_version();
        if version != views_seen {
            views_seen = version;
            redraw = true;
        }
        gl.draw_off_screen(shown, &mut redraw);
        let Some(render) = gl.render.get(shown) else {
            continue;
        };
        // SAFETY: the context the renderers were made with is current on this thread for
        // its whole life (see `make_gl`).
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
        // When the frame is due: each output takes off what its own swap costs.
        let lead_at = presenter.due_within(
            &info,
            now_us,
            drawing,
            || stage.take_hold(shown, drawing),
            FURTHEST_DUE,
        );
        let views = stage.views(shown);
        let composite = views.as_ref().map_or(largest, |v| v.size);
        let sources: Vec<Option<crate::outputs::Rect>> = (0..windows.len())
            .map(|i| match &views {
                Some(v) => v.views.get(i).and_then(|v| v.source),
                None => Some(crate::outputs::Rect {
                    x: 0,
                    y: 0,
                    width: composite.0,
                    height: composite.1,
                }),
            })
            .collect();
        let size = crate::outputs::picture_size(composite, &sources, &windows);
        let picture = gl.free_picture(size);
        if let Err(e) = gl.draw_picture(shown, picture) {
            error!("{e}");
            continue;
        }
        let drawn = crate::clock::now();
        let ticket = Arc::new(Ticket {
            deck: shown,
            what,
            stage: stage.clone(),
            admitted: OnceLock::new(),
        });
        let live = stage.output_delays();
        for (i, t) in threads.iter().enumerate() {
            let delay = live
                .as_ref()
                .and_then(|d| d.get(i).copied())
                .unwrap_or(t.delay);
            let at = match lead_at {
                Some(at) => Some(at + delay),
                None if delay.is_zero() => None,
                None => Some(drawn + delay),
            };
            let _ = t.tx.try_send(ToOutput::Show(Show {
                picture: gl.pictures[picture].0.clone(),
                composite,
                view: views.as_ref().map(|v| v.views.get(i).copied()),
                at,
                ticket: ticket.clone(),
            }));
        }
        // The outputs present it; mpv may prepare the next frame now (it hands each over no
        // earlier than its offset before its due time), while this one waits for its moment:
        // drawing the next frame overlaps presenting this one.
        // SAFETY: as above.
        unsafe { gl.render[shown].report_swap() };
        let recent = |a: &AtomicU64| Duration::from_micros(a.swap(0, Ordering::Relaxed));
        presenter.measured(
            drawn - drawing + recent(&costs.draw_us),
            recent(&costs.swap_us),
        );
    }
    heartbeat.done();
    for t in &mut threads {
        t.stop();
    }
    gl.free();
    drop(gl);
}

/// The largest of the windows (a picture with no views, idle content, is drawn that size).
fn largest_of(windows: &[(u32, u32)]) -> (u32, u32) {
    windows
        .iter()
        .copied()
        .max_by_key(|(w, h)| u64::from(*w) * u64::from(*h))
        .unwrap_or((1280, 720))
}

impl OutputThread {
    fn stop(&mut self) {
        let _ = self.tx.try_send(ToOutput::Quit);
        if let Some(t) = self.thread.take() {
            // An output whose swap the window system holds (its monitor gone) may never
            // return: it is left behind rather than waited for.
            let deadline = crate::clock::now() + Duration::from_millis(500);
            while !t.is_finished() && crate::clock::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                warn!(
                    "output {}: its window does not answer; left behind",
                    self.name
                );
            }
        }
    }
}

/// Starts output `output`'s thread.
fn start_output(
    index: usize,
    output: OutputSurface,
    display: Display,
    costs: Arc<Costs>,
    stage: Stage,
) -> Result<OutputThread, String> {
    // Bounded: an output whose swap is held takes no more (the render thread never waits for
    // it); it shows the frame due once it can present again.
    let (tx, rx) = crossbeam_channel::bounded(OUTPUT_QUEUE);
    let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
    let name = output.name.clone();
    let delay = output.delay;
    let thread = std::thread::Builder::new()
        .name(format!("output {name}"))
        .spawn(move || output_thread(index, output, display, rx, ready_tx, costs, stage))
        .map_err(|e| format!("cannot start output {name}'s thread: {e}"))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(OutputThread {
            name,
            tx,
            delay,
            thread: Some(thread),
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => Err(format!("output {name}'s thread ended while starting")),
    }
}

/// Swaps of this output wait for its display's refresh when the driver paces them (X11
/// without a compositor: no tear line on the projector), measured with a few swaps; else
/// (Wayland, where the compositor presents whole frames, or a virtual screen) they do not
/// wait. The refresh interval when they wait. Each output has its own thread, so a swap that
/// waits holds only its own output.
fn choose_swaps(
    name: &str,
    window: &Window,
    surface: &Surface<WindowSurface>,
    context: &PossiblyCurrentContext,
) -> Option<Duration> {
    use raw_window_handle::RawDisplayHandle;
    let no_wait = || {
        if let Err(e) = surface.set_swap_interval(context, SwapInterval::DontWait) {
            warn!("output {name}: cannot turn off waiting for vsync: {e}");
        }
    };
    let wayland = matches!(
        window.display_handle().map(|h| h.as_raw()),
        Ok(RawDisplayHandle::Wayland(_))
    );
    if wayland
        || surface
            .set_swap_interval(context, SwapInterval::Wait(NonZeroU32::MIN))
            .is_err()
    {
        no_wait();
        return None;
    }
    let mut times = vec![Instant::now()];
    for _ in 0..6 {
        if surface.swap_buffers(context).is_err() {
            break;
        }
        times.push(Instant::now());
    }
    let mut gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).skip(1).collect();
    gaps.sort();
    let typical = gaps.get(gaps.len() / 2).copied().unwrap_or(Duration::ZERO);
    if typical >= Duration::from_millis(4) && typical <= Duration::from_millis(50) {
        info!(
            "output {name}: swaps wait for the display's refresh ({:.2} Hz), tear-free",
            1.0 / typical.as_secs_f64()
        );
        Some(typical)
    } else {
        no_wait();
        None
    }
}

/// An output's GL state, on its thread.
struct OutputGl {
    gl: glow::Context,
    program: glow::Program,
    quad: glow::Buffer,
    vao: Option<glow::VertexArray>,
    size: (u32, u32),
    surface: Surface<WindowSurface>,
    context: PossiblyCurrentContext,
}

fn output_thread(
    index: usize,
    output: OutputSurface,
    display: Display,
    rx: Receiver<ToOutput>,
    ready: Sender<Result<(), String>>,
    costs: Arc<Costs>,
    stage: Stage,
) {
    let OutputSurface {
        name,
        window,
        surface,
        context,
        ..
    } = output;
    let context = match context.make_current(&surface) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(format!(
                "output {name}: cannot use its OpenGL context: {e}"
            )));
            return;
        }
    };
    let vsync = choose_swaps(&name, &window, &surface, &context);
    // SAFETY: the context is current on this thread; glow resolves entry points through it.
    let gl =
        unsafe { glow::Context::from_loader_function_cstr(|f| display.get_proc_address(f).cast()) };
    // SAFETY: GL calls on the current context, with objects made here.
    let made = unsafe {
        make_program(&gl).and_then(|program| {
            let quad = gl.create_buffer()?;
            gl.bind_buffer(glow::ARRAY_BUFFER, Some(quad));
            let corners: [f32; 8] = [-1.0, -1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0];
            let bytes: Vec<u8> = corners.iter().flat_map(|c| c.to_ne_bytes()).collect();
            gl.buffer_data_u8_slice(glow::ARRAY_BUFFER, &bytes, glow::STATIC_DRAW);
            let vao = if gl.version().major >= 3 && !gl.version().is_embedded {
                gl.create_vertex_array().ok()
            } else {
                None
            };
            Ok((program, quad, vao))
        })
    };
    let (program, quad, vao) = match made {
        Ok(m) => m,
        Err(e) => {
            let _ = ready.send(Err(format!("output {name}: {e}")));
            return;
        }
    };
    let size = window.inner_size();
    let mut out = OutputGl {
        gl,
        program,
        quad,
        vao,
        size: (size.width.max(1), size.height.max(1)),
        surface,
        context,
    };
    let _ = ready.send(Ok(()));
    // Kept while the thread lives: a thread left behind in a held swap keeps its window.
    let _window = window;
    let urgent = crate::screen::urgent::Urgent::probe();
    let mut queue: VecDeque<Show> = VecDeque::new();
    let mut last: Option<Show> = None;
    let mut swaps: VecDeque<Duration> = VecDeque::new();
    let mut held_said = false;
    'run: loop {
        // Take what came; wait for more only when there is nothing to draw soon.
        let wait = match queue.front() {
            None => BEAT_INTERVAL,
            Some(s) => s.at.map_or(Duration::ZERO, |at| {
                (at.checked_sub(DRAW_AHEAD).unwrap_or(at))
                    .saturating_duration_since(crate::clock::now())
            }),
        };
        let first = if wait.is_zero() {
            rx.try_recv().map_err(|e| e.is_disconnected())
        } else {
            rx.recv_timeout(wait).map_err(|e| e.is_disconnected())
        };
        // The render thread is gone (it ended without saying Quit): so is this output.
        if matches!(first, Err(true)) {
            break 'run;
        }
        let first = first.ok();
        for message in first.into_iter().chain(rx.try_iter()) {
            match message {
                ToOutput::Show(s) => queue.push_back(s),
                ToOutput::Resize(w, h) => {
                    if let (Some(nw), Some(nh)) = (NonZeroU32::new(w), NonZeroU32::new(h)) {
                        out.surface.resize(&out.context, nw, nh);
                        out.size = (w, h);
                    }
                    // The same frame again, at the new size.
                    if queue.is_empty() {
                        if let Some(l) = last.take() {
                            queue.push_back(Show { at: None, ..l });
                        }
                    }
                }
                ToOutput::Quit => break 'run,
            }
        }
        let now = crate::clock::now();
        // A frame whose successor is already due is skipped: never shown late.
        while queue.len() > 1 && queue[1].at.is_none_or(|at| at <= now) {
            if let Some(skipped) = queue.pop_front() {
                // The decision is still made for it, so that a Stop's fence sees it.
                let _ = skipped.ticket.admitted();
            }
        }
        let Some(show) = queue.front() else { continue };
        if show.at.is_some_and(|at| at > now + DRAW_AHEAD) {
            continue;
        }
        let drawing = crate::clock::now();
        out.draw(show);
        // SAFETY: a GL call on this thread's current context.
        unsafe { out.gl.finish() };
        let drawn = crate::clock::now();
        // With vsync the swap shows the frame at the next refresh: asked for half a refresh
        // before the frame is due, it lands on the refresh nearest its due time. Without,
        // the swap is asked for at the due time less what it typically costs.
        let typical = match vsync {
            Some(refresh) => refresh / 2,
            None => {
                let mut v: Vec<Duration> = swaps.iter().copied().collect();
                v.sort();
                v.get(v.len() / 2).copied().unwrap_or(Duration::ZERO)
            }
        };
        urgent.begin();
        if let Some(at) = show.at {
            let at = at.checked_sub(typical).unwrap_or(at);
            let now = crate::clock::now();
            if at > now {
                std::thread::sleep(at - now);
            }
        }
        if show.ticket.admitted() {
            let presenting = crate::clock::now();
            stage.presenting(index, Some(presenting));
            if let Err(e) = out.surface.swap_buffers(&out.context) {
                warn!("output {name}: cannot show the frame: {e}");
            }
            stage.presenting(index, None);
            let swap = crate::clock::now() - presenting;
            if swap > HELD_AFTER {
                warn!(
                    "output {name}: the window system held a frame for {:.1} s (its monitor \
                     unplugged?); the other outputs played on",
                    swap.as_secs_f64()
                );
                held_said = true;
            } else if held_said {
                held_said = false;
                info!("output {name}: presenting again");
            }
            if swaps.len() == 32 {
                swaps.pop_front();
            }
            swaps.push_back(swap);
            costs
                .swap_us
                .fetch_max(swap.as_micros() as u64, Ordering::Relaxed);
            costs
                .draw_us
                .fetch_max((drawn - drawing).as_micros() as u64, Ordering::Relaxed);
        }
        urgent.done();
        last = queue.pop_front();
    }
    drop(queue);
    drop(last);
    out.free();
    debug!("output {name}: ended");
}

impl OutputGl {
    /// Draws the output's view of the frame's picture into its back buffer: its rectangle
    /// fitted into the window and centred, with its blend; black when it shows nothing.
    fn draw(&self, show: &Show) {
        let gl = &self.gl;
        let p = &show.picture;
        let (ww, wh) = self.size;
        // SAFETY: GL calls on this thread's current context, with its own objects and the
        // picture's texture (shared, finished by the render thread before it was sent).
        unsafe {
            gl.bind_framebuffer(glow::FRAMEBUFFER, None);
            gl.disable(glow::BLEND);
            gl.disable(glow::SCISSOR_TEST);
            gl.viewport(
                0,
                0,
                i32::try_from(ww).unwrap_or(1),
                i32::try_from(wh).unwrap_or(1),
            );
            gl.clear_color(0.0, 0.0, 0.0, 1.0);
            gl.clear(glow::COLOR_BUFFER_BIT);
            let (source, ramps, gamma) = match show.view {
                None => (
                    (
                        0.0,
                        0.0,
                        f64::from(show.composite.0),
                        f64::from(show.composite.1),
                    ),
                    [0.0f32; 4],
                    crate::outputs::DEFAULT_BLEND_GAMMA,
                ),
                Some(Some(View {
                    source: Some(r),
                    blend,
                })) => {
                    let (w, h) = (f64::from(r.width), f64::from(r.height));
                    (
                        (f64::from(r.x), f64::from(r.y), w, h),
                        [
                            (f64::from(blend.left) / w) as f32,
                            (f64::from(blend.right) / w) as f32,
                            (f64::from(blend.top) / h) as f32,
                            (f64::from(blend.bottom) / h) as f32,
                        ],
                        blend.gamma,
                    )
                }
                // Black: this output shows nothing of this song.
                Some(_) => return,
            };
            let (sx, sy, sw, sh) = source;
            // Fractions of the picture, whatever size it was drawn at.
            let (tw, th) = (f64::from(show.composite.0), f64::from(show.composite.1));
            // Fitted into the window, centred.
            let scale = (f64::from(ww) / sw).min(f64::from(wh) / sh);
            let (vw, vh) = ((sw * scale).round(), (sh * scale).round());
            let (vx, vy) = (
                ((f64::from(ww) - vw) / 2.0).round(),
                ((f64::from(wh) - vh) / 2.0).round(),
            );
            gl.viewport(vx as i32, vy as i32, vw as i32, vh as i32);
            gl.use_program(Some(self.program));
            gl.active_texture(glow::TEXTURE0);
            gl.bind_texture(glow::TEXTURE_2D, Some(p.texture));
            let at = |name: &str| gl.get_uniform_location(self.program, name);
            gl.uniform_1_i32(at("picture").as_ref(), 0);
            gl.uniform_4_f32(
                at("source").as_ref(),
                (sx / tw) as f32,
                (sy / th) as f32,
                (sw / tw) as f32,
                (sh / th) as f32,
            );
            gl.uniform_4_f32(at("ramps").as_ref(), ramps[0], ramps[1], ramps[2], ramps[3]);
            gl.uniform_1_f32(at("gamma").as_ref(), gamma as f32);
            if let Some(vao) = self.vao {
                gl.bind_vertex_array(Some(vao));
            }
            gl.bind_buffer(glow::ARRAY_BUFFER, Some(self.quad));
            gl.enable_vertex_attrib_array(0);
            gl.vertex_attrib_pointer_f32(0, 2, glow::FLOAT, false, 8, 0);
            gl.draw_arrays(glow::TRIANGLE_STRIP, 0, 4);
            gl.disable_vertex_attrib_array(0);
            if self.vao.is_some() {
                gl.bind_vertex_array(None);
            }
            gl.use_program(None);
        }
    }

    fn free(&self) {
        // SAFETY: GL calls on this thread's current context, deleting its own objects.
        unsafe {
            self.gl.delete_program(self.program);
            self.gl.delete_buffer(self.quad);
            if let Some(vao) = self.vao {
                self.gl.delete_vertex_array(vao);
            }
        }
    }
}

/// Makes the render thread's context current (without a surface of its own: it draws only
/// into pictures) and creates one renderer per deck, woken through `wake`.
fn make_gl(
    decks: &[Mpv],
    display: &Display,
    context: NotCurrentContext,
    owner: Arc<Window>,
    wake: Sender<()>,
) -> Result<Gl, String> {
    #[allow(unreachable_patterns)]
    let context = match context {
        NotCurrentContext::Glx(c) => c
            .make_current_surfaceless()
            .map(PossiblyCurrentContext::Glx),
        NotCurrentContext::Egl(c) => c
            .make_current_surfaceless()
            .map(PossiblyCurrentContext::Egl),
        _ => {
            return Err("several outputs need OpenGL through GLX or EGL".into());
        }
    }
    .map_err(|e| format!("cannot use the OpenGL context without a window: {e}"))?;
    // SAFETY: the context is current on this thread; glow resolves entry points through it.
    let gl = unsafe {
        glow::Context::from_loader_function_cstr(|name| display.get_proc_address(name).cast())
    };
    let mut render = Vec::new();
    for mpv in decks {
        let gl_display = display.clone();
        let owner: Rc<dyn HasDisplayHandle> = Rc::new(owner.clone());
        // SAFETY: `context` is current on this thread and stays so until it is dropped, after
        // every renderer (`Gl`'s field order); `owner` keeps the window and its connection.
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
    let mut gl = Gl {
        render,
        gl,
        pictures: Vec::new(),
        scratch: None,
        last: 0,
        overdrawn_said: false,
        _context: context,
    };
    gl.scratch = gl.new_picture((1, 1)).ok().map(|(p, fb)| (p.texture, fb));
    Ok(gl)
}

impl Gl {
    /// Decks off screen: drawn into a 1x1 picture nobody shows, because mpv holds back a
    /// loaded file's first frame (and its "ready") until that frame has been rendered once.
    fn draw_off_screen(&self, shown: usize, redraw: &mut bool) {
        let fbo = self
            .scratch
            .map_or(0, |(_, fb)| i32::try_from(fb.0.get()).unwrap_or(0));
        for (i, render) in self.render.iter().enumerate() {
            if i == shown {
                continue;
            }
            // SAFETY: the renderers' context is current on this thread; the framebuffer is
            // ours.
            unsafe {
                if render.update() {
                    if let Err(e) = render.render(fbo, 1, 1, false) {
                        warn!("{e}");
                    }
                    render.report_swap();
                    *redraw = true;
                }
            }
        }
    }

    /// A picture no output holds, of `size`; past [`MAX_PICTURES`], the one after the last
    /// drawn (an output may still hold it).
    fn free_picture(&mut self, size: (u32, u32)) -> usize {
        let free = (0..self.pictures.len()).find(|&i| Arc::strong_count(&self.pictures[i].0) == 1);
        let index = match free {
            Some(i) => i,
            None if self.pictures.len() < MAX_PICTURES => match self.new_picture(size) {
                Ok(p) => {
                    self.pictures.push((Arc::new(p.0), p.1));
                    self.pictures.len() - 1
                }
                Err(e) => {
                    warn!("{e}");
                    (self.last + 1) % self.pictures.len().max(1)
                }
            },
            None => {
                if !self.overdrawn_said {
                    self.overdrawn_said = true;
                    warn!(
                        "the outputs hold every one of {MAX_PICTURES} pictures (an output held, \
                         or offsets too far apart): a picture is drawn over while an output still \
                         holds it, and that output may skip or tear a frame"
                    );
                }
                (self.last + 1) % self.pictures.len()
            }
        };
        if self.pictures.is_empty() {
            // Nothing could be made: the draw that follows reports the error.
            return 0;
        }
        if self.pictures[index].0.size != size {
            let fb = self.pictures[index].1;
            let texture = self.pictures[index].0.texture;
            self.allocate(texture, fb, size);
            // Past MAX_PICTURES an output may still hold this texture: it draws it as it is
            // now, scaled by the fractions it was given.
            self.pictures[index].0 = Arc::new(Picture { texture, size });
        }
        self.last = index;
        index
    }

    fn new_picture(&self, size: (u32, u32)) -> Result<(Picture, glow::Framebuffer), String> {
        // SAFETY: GL calls on the current context.
        unsafe {
            let texture = self.gl.create_texture()?;
            let framebuffer = self.gl.create_framebuffer()?;
            self.allocate(texture, framebuffer, size);
            Ok((Picture { texture, size }, framebuffer))
        }
    }

    fn allocate(&self, texture: glow::Texture, framebuffer: glow::Framebuffer, size: (u32, u32)) {
        let gl = &self.gl;
        let (w, h) = (
            i32::try_from(size.0).unwrap_or(1),
            i32::try_from(size.1).unwrap_or(1),
        );
        // SAFETY: GL calls on the current context, with the picture's own objects.
        unsafe {
            gl.bind_texture(glow::TEXTURE_2D, Some(texture));
            gl.tex_image_2d(
                glow::TEXTURE_2D,
                0,
                glow::RGBA8 as i32,
                w,
                h,
                0,
                glow::RGBA,
                glow::UNSIGNED_BYTE,
                glow::PixelUnpackData::Slice(None),
            );
            for (k, v) in [
                (glow::TEXTURE_MIN_FILTER, glow::LINEAR),
                (glow::TEXTURE_MAG_FILTER, glow::LINEAR),
                (glow::TEXTURE_WRAP_S, glow::CLAMP_TO_EDGE),
                (glow::TEXTURE_WRAP_T, glow::CLAMP_TO_EDGE),
            ] {
                gl.tex_parameter_i32(glow::TEXTURE_2D, k, v as i32);
            }
            gl.bind_texture(glow::TEXTURE_2D, None);
            gl.bind_framebuffer(glow::FRAMEBUFFER, Some(framebuffer));
            gl.framebuffer_texture_2d(
                glow::FRAMEBUFFER,
                glow::COLOR_ATTACHMENT0,
                glow::TEXTURE_2D,
                Some(texture),
                0,
            );
            gl.bind_framebuffer(glow::FRAMEBUFFER, None);
        }
    }

    /// mpv draws deck `deck`'s frame into picture `picture`, finished before it returns (the
    /// outputs' contexts read it next).
    fn draw_picture(&self, deck: usize, picture: usize) -> Result<(), String> {
        let (p, fb) = self
            .pictures
            .get(picture)
            .ok_or("no picture to draw into")?;
        let (w, h) = (
            i32::try_from(p.size.0).unwrap_or(1),
            i32::try_from(p.size.1).unwrap_or(1),
        );
        let fbo = i32::try_from(fb.0.get()).unwrap_or(0);
        let render = &self.render[deck];
        // SAFETY: the renderers' context is current on this thread; the framebuffer is ours.
        unsafe { render.render(fbo, w, h, false) }.map_err(|e| e.to_string())?;
        // SAFETY: as above.
        unsafe {
            self.gl.bind_framebuffer(glow::FRAMEBUFFER, None);
            self.gl.finish();
        }
        Ok(())
    }

    fn free(&mut self) {
        // SAFETY: GL calls on the current context, deleting the thread's own objects.
        unsafe {
            for (p, fb) in self.pictures.drain(..) {
                self.gl.delete_framebuffer(fb);
                self.gl.delete_texture(p.texture);
            }
            if let Some((t, fb)) = self.scratch.take() {
                self.gl.delete_framebuffer(fb);
                self.gl.delete_texture(t);
            }
        }
    }
}

const VERTEX_120: &str = "#version 120
attribute vec2 pos;
varying vec2 uv;
void main() {
    uv = vec2(pos.x * 0.5 + 0.5, 0.5 - pos.y * 0.5);
    gl_Position = vec4(pos, 0.0, 1.0);
}
";

const VERTEX_330: &str = "#version 330 core
in vec2 pos;
out vec2 uv;
void main() {
    uv = vec2(pos.x * 0.5 + 0.5, 0.5 - pos.y * 0.5);
    gl_Position = vec4(pos, 0.0, 1.0);
}
";

const VERTEX_100: &str = "#version 100
attribute vec2 pos;
varying vec2 uv;
void main() {
    uv = vec2(pos.x * 0.5 + 0.5, 0.5 - pos.y * 0.5);
    gl_Position = vec4(pos, 0.0, 1.0);
}
";

/// The output's rectangle of the picture (`source`: x, y, width, height as fractions of the
/// picture) with its edge blend (`ramps`: left, right, top, bottom as fractions of the
/// rectangle), the same curve as [`crate::outputs::blend_factor`].
const FRAGMENT_BODY: &str = "
uniform sampler2D picture;
uniform vec4 source;
uniform vec4 ramps;
uniform float gamma;
float edge(float t) {
    t = clamp(t, 0.0, 1.0);
    float light = t * t * (3.0 - 2.0 * t);
    return pow(light, 1.0 / gamma);
}
vec4 shade(vec2 at) {
    vec4 c = TEXTURE(picture, source.xy + at * source.zw);
    float k = 1.0;
    if (ramps.x > 0.0) k *= edge(at.x / ramps.x);
    if (ramps.y > 0.0) k *= edge((1.0 - at.x) / ramps.y);
    if (ramps.z > 0.0) k *= edge(at.y / ramps.z);
    if (ramps.w > 0.0) k *= edge((1.0 - at.y) / ramps.w);
    return vec4(c.rgb * k, 1.0);
}
";

fn fragment(version: &str) -> String {
    match version {
        "330" => format!(
            "#version 330 core\n#define TEXTURE texture\nin vec2 uv;\nout vec4 color;\n{FRAGMENT_BODY}\
             void main() {{ color = shade(uv); }}\n"
        ),
        "100" => format!(
            "#version 100\nprecision highp float;\n#define TEXTURE texture2D\nvarying vec2 uv;\n\
             {FRAGMENT_BODY}void main() {{ gl_FragColor = shade(uv); }}\n"
        ),
        _ => format!(
            "#version 120\n#define TEXTURE texture2D\nvarying vec2 uv;\n{FRAGMENT_BODY}\
             void main() {{ gl_FragColor = shade(uv); }}\n"
        ),
    }
}

/// Compiles and links the output shader, trying the GLSL versions this context may take.
unsafe fn make_program(gl: &glow::Context) -> Result<glow::Program, String> {
    let versions: &[(&str, &str)] = if gl.version().is_embedded {
        &[("100", VERTEX_100)]
    } else {
        &[("120", VERTEX_120), ("330", VERTEX_330)]
    };
    let mut why = String::new();
    for (version, vertex) in versions {
        let program = gl.create_program()?;
        let mut shaders = Vec::new();
        let mut ok = true;
        for (kind, source) in [
            (glow::VERTEX_SHADER, vertex.to_string()),
            (glow::FRAGMENT_SHADER, fragment(version)),
        ] {
            let shader = gl.create_shader(kind)?;
            gl.shader_source(shader, &source);
            gl.compile_shader(shader);
            if !gl.get_shader_compile_status(shader) {
                why = gl.get_shader_info_log(shader);
                ok = false;
            }
            gl.attach_shader(program, shader);
            shaders.push(shader);
        }
        if ok {
            gl.bind_attrib_location(program, 0, "pos");
            gl.link_program(program);
            ok = gl.get_program_link_status(program);
            if !ok {
                why = gl.get_program_info_log(program);
            }
        }
        for s in shaders {
            gl.detach_shader(program, s);
            gl.delete_shader(s);
        }
        if ok {
            return Ok(program);
        }
        gl.delete_program(program);
    }
    Err(format!("cannot build the outputs' shader: {why}"))
}
