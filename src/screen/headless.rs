//! A screen with no window: mpv's software renderer draws each frame into memory.
//!
//! Used by `--headless` runs, the benchmark and the tests, where there is no display or GPU.
//! It renders exactly when mpv asks, like the window does, and presents each frame at its due
//! time the same way ([`crate::screen::present`]), so mpv's timing (and its `playback-restart`
//! event, which waits for the first frame to be drawn) behaves as on a screen.

use crate::clock;
use crate::mpv::render::SwRenderContext;
use crate::mpv::{Mpv, MpvError};
use crate::screen::present::Presenter;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One rendered picture, 4 bytes per pixel (R, G, B, unused).
#[derive(Clone, Debug)]
pub struct Frame {
    pub width: usize,
    pub height: usize,
    pub stride_bytes: usize,
    pub pixels: Vec<u8>,
    /// How many frames had been rendered when this one was: 0 means nothing yet.
    pub serial: u64,
    /// When it was presented (drawn, and then held until its due time).
    pub rendered_at: Option<Instant>,
}

struct Shared {
    frame: Mutex<Frame>,
    changed: Condvar,
    /// Every frame presented since [`SoftwareScreen::keep_frames`] asked, up to its limit.
    kept: Mutex<Kept>,
}

/// The frames a test asked the screen to keep, oldest first.
#[derive(Default)]
struct Kept {
    limit: usize,
    frames: std::collections::VecDeque<Frame>,
}

/// A render thread drawing mpv's frames into memory.
pub struct SoftwareScreen {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SoftwareScreen {
    /// Starts the render thread at `width` x `height` pixels. Returns once the render context
    /// exists, so a file loaded afterwards gets a video output.
    /// `held` is the stage the player cues and this screen's deck, when a player may hold a
    /// frame back (see [`crate::screen::stage::Stage::take_hold`]).
    pub fn start(
        mpv: &Mpv,
        width: usize,
        height: usize,
        held: Option<(crate::screen::stage::Stage, usize)>,
    ) -> Result<SoftwareScreen, MpvError> {
        // mpv wants the stride aligned to 64 bytes.
        let stride_bytes = (width * 4).div_ceil(64) * 64;
        let shared = Arc::new(Shared {
            frame: Mutex::new(Frame {
                width,
                height,
                stride_bytes,
                pixels: vec![0; stride_bytes * height],
                serial: 0,
                rendered_at: None,
            }),
            changed: Condvar::new(),
            kept: Mutex::default(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let mpv = mpv.clone();
        let (shared2, stop2) = (shared.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("render-sw".into())
            .spawn(move || {
                let mut ctx = match SwRenderContext::new(&mpv) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let (wake_tx, wake_rx) = crossbeam_channel::bounded::<()>(1);
                ctx.set_update_callback(wake_tx);
                let _ = ready_tx.send(Ok(()));
                let mut presenter = Presenter::new(vec![mpv.clone()], None);
                let mut pixels = vec![0u8; stride_bytes * height];
                while !stop2.load(Ordering::Relaxed) {
                    if wake_rx.recv_timeout(Duration::from_millis(50)).is_err() {
                        continue;
                    }
                    if !ctx.update() {
                        continue;
                    }
                    let info = ctx.next_frame_info();
                    let drawing = clock::now();
                    let now_us = mpv.time_us();
                    let info = match &held {
                        Some((screen, deck)) => {
                            let run = mpv.runs();
                            let info = screen.retime(*deck, run, info, now_us, drawing);
                            presenter.behind(screen.shift(*deck, run).unwrap_or_default());
                            info
                        }
                        None => info,
                    };
                    let what = crate::screen::present::drawn(&info, now_us, drawing);
                    let present_at = presenter.present_at(&info, now_us, drawing, || {
                        held.as_ref()
                            .and_then(|(screen, deck)| screen.take_hold(*deck, drawing))
                    });
                    if let Err(e) = ctx.render(width, height, stride_bytes, &mut pixels) {
                        log::error!("{e}");
                        continue;
                    }
                    let drawn = clock::now();
                    presenter.wait_until(present_at);
                    // A frame due after the deck's Stop is drawn (mpv waits for that) but
                    // never shown.
                    if !held
                        .as_ref()
                        .is_none_or(|(screen, deck)| screen.admit(*deck, what))
                    {
                        // Not shown, but reported at once: mpv's video output waits for the
                        // swap (up to 200 ms, its core with it).
                        ctx.report_swap();
                        continue;
                    }
                    let presenting = clock::now();
                    {
                        let mut f = shared2.frame.lock().unwrap_or_else(|p| p.into_inner());
                        f.pixels.copy_from_slice(&pixels);
                        f.serial += 1;
                        f.rendered_at = Some(clock::now());
                        let mut kept = shared2.kept.lock().unwrap_or_else(|p| p.into_inner());
                        if kept.limit > 0 {
                            if kept.frames.len() >= kept.limit {
                                kept.frames.pop_front();
                            }
                            kept.frames.push_back(f.clone());
                        }
                        drop(kept);
                        shared2.changed.notify_all();
                    }
                    ctx.report_swap();
                    presenter.measured(drawn - drawing, clock::now() - presenting);
                }
            })
            .map_err(|e| MpvError {
                code: -1,
                context: format!("start the render thread: {e}"),
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(SoftwareScreen {
                shared,
                stop,
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(MpvError {
                code: -1,
                context: "the render thread ended early".into(),
            }),
        }
    }

    /// The latest rendered frame.
    pub fn latest(&self) -> Frame {
        self.shared
            .frame
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Keeps every frame presented from now on, the last `limit` of them (0 stops keeping and
    /// forgets them), so that a test sees each one, not just the latest: whether any frame
    /// between two others showed something it must not.
    pub fn keep_frames(&self, limit: usize) {
        let mut kept = self.shared.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.limit = limit;
        kept.frames.clear();
    }

    /// The kept frames presented after `serial`, oldest first (see [`Self::keep_frames`]).
    /// Fails when some were already forgotten, so that no frame goes unseen.
    pub fn kept_after(&self, serial: u64) -> Result<Vec<Frame>, String> {
        let kept = self.shared.kept.lock().unwrap_or_else(|p| p.into_inner());
        let frames: Vec<Frame> = kept
            .frames
            .iter()
            .filter(|f| f.serial > serial)
            .cloned()
            .collect();
        match frames.first() {
            Some(f) if f.serial != serial + 1 => Err(format!(
                "frames {} to {} were not kept (limit {})",
                serial + 1,
                f.serial - 1,
                kept.limit
            )),
            _ => Ok(frames),
        }
    }

    /// Waits until a frame newer than `serial` is rendered and returns it, or `None` after
    /// `timeout`.
    pub fn wait_newer(&self, serial: u64, timeout: Duration) -> Option<Frame> {
        let deadline = clock::now() + timeout;
        let mut f = self.shared.frame.lock().unwrap_or_else(|p| p.into_inner());
        while f.serial <= serial {
            let left = deadline.checked_duration_since(clock::now())?;
            f = self
                .shared
                .changed
                .wait_timeout(f, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Some(f.clone())
    }
}

impl Drop for SoftwareScreen {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A software screen for each deck, drawing what `stage` cues.
fn software_screens(
    decks: &[Mpv],
    stage: &crate::screen::stage::Stage,
    width: usize,
    height: usize,
) -> Result<Vec<SoftwareScreen>, String> {
    decks
        .iter()
        .enumerate()
        .map(|(i, m)| {
            SoftwareScreen::start(m, width, height, Some((stage.clone(), i)))
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// `--headless`: draws the show with a software screen for each deck of `decks` (the
/// player's, whose screens are cued on `stage`) at `width` x `height`, runs `player` on its
/// own thread with the input channel `rx` (`tx` its sender), and returns when the player
/// ends, or with the fatal error it reported. `goodbye` runs first then, before the player is
/// told to quit and waited for (network-MIDI peers are told at once).
pub fn run(
    decks: &[Mpv],
    stage: crate::screen::stage::Stage,
    player: crate::player::Player,
    (tx, rx): (
        &crossbeam_channel::Sender<crate::player::PlayerInput>,
        crossbeam_channel::Receiver<crate::player::PlayerInput>,
    ),
    (width, height): (usize, usize),
    goodbye: impl FnOnce(),
) -> Result<(), String> {
    let screens = software_screens(decks, &stage, width, height)?;
    let (notice_tx, notices) = crossbeam_channel::unbounded();
    let player = player.with_notify(move |n| {
        let _ = notice_tx.send(n);
    });
    let thread = std::thread::Builder::new()
        .name("player".into())
        .spawn(move || player.run(rx))
        .map_err(|e| format!("cannot start the player thread: {e}"))?;
    let result = loop {
        match notices.recv() {
            Ok(crate::player::Notice::Fatal(msg)) => break Err(msg),
            Ok(_) => {}
            Err(_) => break Ok(()),
        }
    };
    goodbye();
    // The player first: its decks are drawn by the screens until it has let them go.
    let _ = tx.send(crate::player::PlayerInput::Quit);
    let _ = thread.join();
    drop(screens);
    result
}

/// A whole player with a software screen and no window: what the benchmark and the tests
/// run (`--headless` runs the same parts, wired by the program: [`run`]). MIDI goes in through
/// [`HeadlessShow::inlet`], exactly as from a port.
pub struct HeadlessShow {
    /// The player's input channel.
    pub tx: crossbeam_channel::Sender<crate::player::PlayerInput>,
    /// Everything the player reported, in order.
    pub notices: crossbeam_channel::Receiver<crate::player::Notice>,
    /// The first deck's mpv core (for reading properties): the first song's, until another
    /// song takes the deck.
    pub mpv: Mpv,
    /// Every deck's core, in deck order (the remote takes its thumbnails from them).
    pub decks: Vec<Mpv>,
    /// Where the player publishes its status.
    pub status: std::sync::Arc<crate::player::status::StatusBoard>,
    /// What the screens show, as the player cued it (which deck is on screen, a Stop
    /// settling).
    pub stage: crate::screen::stage::Stage,
    thread: Option<JoinHandle<()>>,
    // Dropped after the player thread has ended, see Drop.
    screens: Vec<SoftwareScreen>,
}

impl HeadlessShow {
    /// Loads `video` paused on its first frame, rendered at `width` x `height`.
    pub fn start(
        video: &std::path::Path,
        options: &crate::player::PlayerOptions,
        width: usize,
        height: usize,
    ) -> Result<HeadlessShow, String> {
        crate::player::check_video_file(video)?;
        Self::start_show(
            crate::show::Show::single(video.to_path_buf()),
            options,
            width,
            height,
        )
    }

    /// Loads the songs of `show`'s preload window paused on their first frame, each deck drawn
    /// at `width` x `height`.
    pub fn start_show(
        show: crate::show::Show,
        options: &crate::player::PlayerOptions,
        width: usize,
        height: usize,
    ) -> Result<HeadlessShow, String> {
        let cores = crate::player::create_decks(&show, options)?;
        let decks: Vec<Mpv> = cores.iter().map(|(m, _)| m.clone()).collect();
        let (cues, stage) = crate::screen::stage::channel();
        let screens = software_screens(&decks, &stage, width, height)?;
        let (tx, rx) = crate::player::lanes::input_channel();
        let (notice_tx, notices) = crossbeam_channel::unbounded();
        let player =
            crate::player::Player::for_show(show, cores, options.clone(), cues, move |n| {
                let _ = notice_tx.send(n);
            })?;
        let status = player.status_board();
        let thread = std::thread::Builder::new()
            .name("player".into())
            .spawn(move || player.run(rx))
            .map_err(|e| format!("cannot start the player thread: {e}"))?;
        Ok(HeadlessShow {
            tx,
            notices,
            mpv: decks[0].clone(),
            decks,
            status,
            stage,
            thread: Some(thread),
            screens,
        })
    }

    /// A MIDI inlet into this player, as an OS port or network peer would have.
    pub fn inlet(&self, source: &str) -> crate::sources::MidiInlet {
        crate::sources::MidiInlet::new(source, self.tx.clone())
    }

    /// The software screen showing the song on screen (what the audience would see).
    pub fn screen(&self) -> &SoftwareScreen {
        &self.screens[self.stage.deck().min(self.screens.len() - 1)]
    }

    /// The software screen of deck `i` (`None` past the last), on screen or not. While the
    /// setlist fits the preload window, deck `i` holds song `i`.
    pub fn deck_screen(&self, i: usize) -> Option<&SoftwareScreen> {
        self.screens.get(i)
    }

    /// Waits for the first frame (`Ready`) or a fatal error, up to `timeout`.
    pub fn wait_ready(&self, timeout: Duration) -> Result<f64, String> {
        let deadline = clock::now() + timeout;
        loop {
            let left = deadline
                .checked_duration_since(clock::now())
                .ok_or("the video did not show its first frame in time")?;
            match self.notices.recv_timeout(left) {
                Ok(crate::player::Notice::Ready { since_start_ms }) => {
                    // mpv reports the restart once it has asked for the first frame; wait
                    // until that frame is in memory too.
                    // The screen is asked again each time round: idle content may take the
                    // screen, or give it back, meanwhile.
                    while self
                        .screen()
                        .wait_newer(0, Duration::from_millis(50))
                        .is_none()
                    {
                        if clock::now() >= deadline {
                            return Err("the first frame was never drawn".into());
                        }
                    }
                    return Ok(since_start_ms);
                }
                Ok(crate::player::Notice::Fatal(msg)) => return Err(msg),
                Ok(_) => {}
                Err(_) => return Err("the video did not show its first frame in time".into()),
            }
        }
    }
}

impl Drop for HeadlessShow {
    fn drop(&mut self) {
        let _ = self.tx.send(crate::player::PlayerInput::Quit);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.screens.clear();
    }
}
