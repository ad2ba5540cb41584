//! The player thread: owns the transport state machine and drives mpv.
//!
//! It wakes on two things only: a message in its channel (MIDI events from every input,
//! operator keys) and mpv's wakeup callback. A cue from the transport becomes an mpv command at
//! once, on this thread: nothing here waits for the window, a buffer swap or the event loop.

use crate::clock;
use crate::input::TimedEvent;
use crate::chase::drift::LockState;
use crate::mpv::{EndReason, Event, Events, Format, Mpv, MpvError, PropertyValue};
use crate::transport::{ChaseSettings, Cue, FollowMode, OperatorCommand, State, Transport};
use crossbeam_channel::{select, Receiver};
use log::{debug, error, info, warn};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A message to the player thread.
#[derive(Clone, Debug)]
pub enum PlayerInput {
    /// A MIDI event from any source.
    Midi(TimedEvent),
    /// A command from the operator's keyboard, with the time the key was pressed.
    Operator(OperatorCommand, Instant),
    /// Shut down.
    Quit,
}

/// What the player tells the screen and the operator.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// The video is loaded and its first frame is ready: armed.
    Ready {
        /// Time from process start to the first frame, in milliseconds.
        since_start_ms: f64,
    },
    /// A cue was applied.
    Cued {
        cue: Cue,
        /// Time from the MIDI bytes' receipt (or the key press) until mpv had the command.
        latency: Duration,
    },
    /// The video cannot be played; playhead must stop with this message.
    Fatal(String),
}

/// Options for the mpv core that plays the show.
#[derive(Clone, Debug)]
pub struct PlayerOptions {
    /// Play the video's audio (off by default: the DAW plays the sound).
    pub audio: bool,
    /// mpv's hardware decoding mode (`no`, `auto-safe`, ...).
    pub hwdec: String,
    /// How the video follows the DAW.
    pub follow: FollowMode,
    /// Tempo, offset, timecode start and drift thresholds for [`FollowMode::Chase`].
    pub chase: ChaseSettings,
}

impl Default for PlayerOptions {
    fn default() -> Self {
        PlayerOptions {
            audio: false,
            hwdec: "no".into(),
            follow: FollowMode::Chase,
            chase: ChaseSettings::default(),
        }
    }
}

impl PlayerOptions {
    /// The transport these options describe; fails with a message when a setting is invalid.
    pub fn transport(&self) -> Result<Transport, String> {
        Transport::with_mode(self.follow, self.chase.clone()).map_err(|e| e.to_string())
    }
}

/// Creates the mpv core set up for a show: paused, exact seeks, holds the last frame at the
/// end, draws through the render API only, reads no user configuration.
pub fn create_mpv(options: &PlayerOptions) -> Result<(Mpv, Events), MpvError> {
    let audio = if options.audio { "auto" } else { "no" };
    let (mpv, events) = Mpv::new(&[
        ("config", "no"),
        ("terminal", "no"),
        ("load-scripts", "no"),
        ("osc", "no"),
        ("ytdl", "no"),
        ("input-default-bindings", "no"),
        ("input-vo-keyboard", "no"),
        ("vo", "libmpv"),
        // The render API must not hold back a frame to time it: we draw when told.
        ("video-timing-offset", "0"),
        ("idle", "yes"),
        ("keep-open", "yes"),
        ("pause", "yes"),
        ("hr-seek", "yes"),
        ("hwdec", &options.hwdec),
        ("audio", audio),
        ("sub", "no"),
    ])?;
    mpv.request_log_messages("warn")?;
    Ok((mpv, events))
}

/// Checks before anything starts that the video can at least be opened, so a typo in a path
/// gives a message at once.
pub fn check_video_file(path: &Path) -> Result<(), String> {
    match std::fs::File::open(path) {
        Ok(f) => match f.metadata() {
            Ok(m) if m.is_dir() => Err(format!(
                "video '{}' is a folder, not a file: give the path of the video file",
                path.display()
            )),
            _ => Ok(()),
        },
        Err(e) => Err(format!(
            "cannot open video '{}': {}; check the path and that the file is readable",
            path.display(),
            e
        )),
    }
}

const OBSERVE_EOF: u64 = 1;
const OBSERVE_TIME_POS: u64 = 2;
/// How often the player looks at the transport when nothing arrives: timecode that stopped,
/// a parked video whose start the DAW reaches.
const TICK: Duration = Duration::from_millis(20);

/// The player: transport + mpv, run on its own thread by [`Player::run`].
pub struct Player {
    mpv: Mpv,
    events: Events,
    video: PathBuf,
    transport: Transport,
    notify: Box<dyn Fn(Notice) + Send>,
    loaded: bool,
    ready: bool,
    failed: bool,
    lock_state: Option<LockState>,
}

impl Player {
    /// A player for `video`. `notify` is called on the player thread; it must not block.
    pub fn new(
        mpv: Mpv,
        events: Events,
        video: PathBuf,
        transport: Transport,
        notify: impl Fn(Notice) + Send + 'static,
    ) -> Player {
        Player {
            mpv,
            events,
            video,
            transport,
            notify: Box::new(notify),
            loaded: false,
            ready: false,
            failed: false,
            lock_state: None,
        }
    }

    /// Loads the video paused on its first frame, then handles input until `Quit` or until
    /// every sender is gone. The screen's render context must exist before this runs: mpv's
    /// video output attaches to it when the file loads.
    pub fn run(mut self, rx: Receiver<PlayerInput>) {
        let (wake_tx, wake_rx) = crossbeam_channel::bounded::<()>(1);
        self.events.set_wakeup(move || {
            let _ = wake_tx.try_send(());
        });
        if let Err(e) = self.mpv.observe(OBSERVE_EOF, "eof-reached", Format::Flag) {
            warn!("{e}");
        }
        if self.transport.mode() == FollowMode::Chase {
            if let Err(e) = self.mpv.observe(OBSERVE_TIME_POS, "time-pos", Format::Double) {
                warn!("{e}");
            }
        }
        let path = self.video.to_string_lossy().into_owned();
        if let Err(e) = self.mpv.command(&["loadfile", &path, "replace"]) {
            self.fatal(format!("cannot load video '{path}': {e}"));
            return;
        }
        self.drain_mpv_events();
        loop {
            select! {
                recv(rx) -> msg => match msg {
                    Ok(PlayerInput::Midi(ev)) => self.on_midi(ev),
                    Ok(PlayerInput::Operator(cmd, at)) => {
                        let cue = self.transport.on_operator(cmd);
                        if let Some(cue) = cue {
                            self.apply(cue, at, &format!("operator key {cmd:?}"));
                        }
                    }
                    Ok(PlayerInput::Quit) | Err(_) => break,
                },
                recv(wake_rx) -> _ => {
                    if !self.drain_mpv_events() {
                        break;
                    }
                }
                default(TICK) => {}
            }
            let now = clock::now();
            if let Some(cue) = self.transport.on_tick(clock::seconds_since_start(now)) {
                self.apply(cue, now, "transport");
            }
            self.report_sync_changes();
        }
        debug!("player thread ends");
    }

    fn on_midi(&mut self, ev: TimedEvent) {
        let before = self.transport.state();
        let cue = self
            .transport
            .on_midi(ev.event, clock::seconds_since_start(ev.received));
        if ev.event.is_transport() {
            let what = format!("{:?} from {}", ev.event, ev.source);
            match cue {
                Some(cue) => self.apply(cue, ev.received, &what),
                None => info!(
                    "{what} at t={:.6}s: {:?} -> {:?}, video unchanged",
                    clock::seconds_since_start(ev.received),
                    before,
                    self.transport.state()
                ),
            }
        } else if let Some(cue) = cue {
            self.apply(cue, ev.received, &format!("{:?}", ev.event));
        }
    }

    /// Turns a cue into mpv commands, now.
    fn apply(&mut self, cue: Cue, received: Instant, what: &str) {
        let result = match cue {
            Cue::Play => self.mpv.set_flag("pause", false),
            Cue::PlayFromTop => self
                .mpv
                .command(&["seek", "0", "absolute+exact"])
                .and_then(|_| self.mpv.set_flag("pause", false)),
            Cue::Hold => self.mpv.set_flag("pause", true),
            Cue::Arm => self
                .mpv
                .set_flag("pause", true)
                .and_then(|_| self.mpv.command(&["seek", "0", "absolute+exact"])),
            Cue::Locate { position_s, play } => {
                let target = format!("{position_s:.6}");
                if play {
                    self.mpv
                        .command(&["seek", &target, "absolute+exact"])
                        .and_then(|_| self.mpv.set_flag("pause", false))
                } else {
                    self.mpv
                        .set_flag("pause", true)
                        .and_then(|_| self.mpv.command(&["seek", &target, "absolute+exact"]))
                }
            }
            Cue::Speed { speed } => self.mpv.set_double("speed", speed),
        };
        let latency = clock::now().saturating_duration_since(received);
        match result {
            Ok(()) if matches!(cue, Cue::Speed { .. }) => {
                debug!("{what} -> {}", describe(cue));
            }
            Ok(()) => {
                info!(
                    "{what} received at t={:.6}s -> {} ({} µs to mpv)",
                    clock::seconds_since_start(received),
                    describe(cue),
                    latency.as_micros()
                );
                (self.notify)(Notice::Cued { cue, latency });
            }
            Err(e) => error!("{what}: could not {}: {e}", describe(cue)),
        }
    }

    /// Tells the operator when the sync changes: locked, correcting, clock lost, relocked.
    fn report_sync_changes(&mut self) {
        let now = self.transport.lock_state();
        if now == self.lock_state {
            return;
        }
        if let Some(state) = now {
            let error = self
                .transport
                .sync_error_s()
                .map(|e| format!(", error {:+.1} ms", e * 1000.0))
                .unwrap_or_default();
            let tempo = self
                .transport
                .tempo_bpm()
                .map(|b| format!(", {b:.2} BPM"))
                .unwrap_or_default();
            match state {
                LockState::FreeRunning => warn!(
                    "sync: {}: no clock or timecode from the DAW; the video plays on and locks again when it returns",
                    state.label()
                ),
                LockState::Waiting | LockState::Seeking => debug!("sync: {}", state.label()),
                _ => info!("sync: {}{tempo}{error}", state.label()),
            }
        }
        self.lock_state = now;
    }

    fn no_video_track(&self) -> String {
        format!(
            "video '{}' has no video track: give a video file (H.264 or similar in .mp4, .mkv or .mov)",
            self.video.display()
        )
    }

    /// Reports a fatal error once: the first cause is the one the operator needs.
    fn fatal(&mut self, msg: String) {
        if !self.failed {
            self.failed = true;
            error!("{msg}");
            (self.notify)(Notice::Fatal(msg));
        }
    }

    /// Handles every queued mpv event; false when mpv shut down.
    fn drain_mpv_events(&mut self) -> bool {
        while let Some(ev) = self.events.wait(0.0) {
            match ev {
                Event::Shutdown => return false,
                Event::Log {
                    prefix,
                    level,
                    text,
                } => match level.as_str() {
                    "fatal" | "error" => error!("mpv {prefix}: {text}"),
                    _ => warn!("mpv {prefix}: {text}"),
                },
                Event::FileLoaded => {
                    self.loaded = true;
                    match self.mpv.get_string("vid") {
                        Ok(v) if v != "no" && !v.is_empty() => {}
                        _ => self.fatal(self.no_video_track()),
                    }
                }
                Event::EndFile(EndReason::Error(code)) => {
                    let msg = match code {
                        MPV_ERROR_NOTHING_TO_PLAY => self.no_video_track(),
                        _ => format!(
                            "cannot play video '{}': {}; is it a video file mpv can decode? Try it with 'mpv {}'",
                            self.video.display(),
                            crate::mpv::error_string(code),
                            self.video.display()
                        ),
                    };
                    self.fatal(msg);
                }
                Event::PlaybackRestart if self.loaded && !self.ready => {
                    self.ready = true;
                    let since_start_ms = clock::seconds_since_start(clock::now()) * 1000.0;
                    info!(
                        "armed: '{}' on its first frame, {since_start_ms:.0} ms after start; waiting for the DAW",
                        self.video.display()
                    );
                    (self.notify)(Notice::Ready { since_start_ms });
                }
                Event::PropertyChange {
                    id: OBSERVE_TIME_POS,
                    value: PropertyValue::Double(position_s),
                    ..
                } => {
                    let now = clock::now();
                    let cue = self
                        .transport
                        .on_video_position(clock::seconds_since_start(now), position_s);
                    if let Some(cue) = cue {
                        self.apply(cue, now, "drift correction");
                    }
                }
                Event::PropertyChange {
                    id: OBSERVE_EOF,
                    value: PropertyValue::Flag(true),
                    ..
                } if self.transport.state() == State::Playing => {
                    info!("the video ended; holding its last frame until the DAW stops or locates");
                }
                _ => {}
            }
        }
        true
    }
}

/// mpv's error code for a file with no stream it can play (`MPV_ERROR_NOTHING_TO_PLAY`).
const MPV_ERROR_NOTHING_TO_PLAY: i32 = -16;

fn describe(cue: Cue) -> String {
    match cue {
        Cue::Arm => "armed on frame 0".into(),
        Cue::Play => "playing".into(),
        Cue::PlayFromTop => "playing from frame 0".into(),
        Cue::Hold => "holding the frame".into(),
        Cue::Locate {
            position_s,
            play: true,
        } => format!("playing from {position_s:.3} s"),
        Cue::Locate {
            position_s,
            play: false,
        } => format!("showing {position_s:.3} s, paused"),
        Cue::Speed { speed } => format!("speed {speed:.4}"),
    }
}
