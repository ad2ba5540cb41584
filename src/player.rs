//! The player thread: owns the transport state machine and drives mpv.
//!
//! It wakes on two things only: a message in its channel (MIDI events from every input,
//! operator keys) and mpv's wakeup callback. A cue from the transport becomes an mpv command at
//! once, on this thread: nothing here waits for the window, a buffer swap or the event loop.

use crate::chase::drift::LockState;
use crate::clock;
use crate::mpv::{EndReason, Event, Events, Format, Mpv, MpvError, PropertyValue};
use crate::show::{Selection, Show, Song, StopAction};
use crate::sources::TimedEvent;
use crate::transport::{ChaseSettings, Cue, FollowMode, OperatorCommand, State, Transport};
use crate::watchdog::{self, Watch};
use crossbeam_channel::{select, Receiver};
use log::{debug, error, info, warn};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A message to the player thread.
#[derive(Clone, Debug)]
pub enum PlayerInput {
    /// A MIDI event from any source.
    Midi(TimedEvent),
    /// A command from the operator's keyboard, with the time the key was pressed.
    Operator(OperatorCommand, Instant),
    /// A frame of linear timecode from the audio input.
    Ltc(crate::sources::ltc::TimedTimecode),
    /// Show or hide the operator's status overlay.
    ToggleOverlay,
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
    /// Another song of the setlist is on screen now (its index).
    Switched { song: usize },
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
/// How often the status overlay is refreshed while shown.
const OVERLAY_REFRESH: Duration = Duration::from_millis(250);
/// How often the status goes to the log.
const STATUS_LOG_INTERVAL: Duration = Duration::from_secs(30);
/// How long after the last MIDI clock or transport message Ableton Link's are ignored.
const LINK_YIELDS_FOR: Duration = Duration::from_secs(1);
/// mpv OSD overlay ids: the black picture (on_stop = "black") and the operator's status.
const OVERLAY_BLACK: &str = "1";
const OVERLAY_STATUS: &str = "2";

/// Which deck's picture is on screen, shared with whoever draws (the window or the software
/// screen). Cheap to clone; reading it never blocks.
#[derive(Clone, Debug, Default)]
pub struct OnScreen(Arc<AtomicUsize>);

impl OnScreen {
    /// The index of the deck on screen.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self, deck: usize) {
        self.0.store(deck, Ordering::Release);
    }
}

/// Creates one mpv core per song of the show: every song is loaded and held on its first
/// frame, so switching songs shows the new picture at once.
pub fn create_decks(show: &Show, options: &PlayerOptions) -> Result<Vec<(Mpv, Events)>, String> {
    show.songs
        .iter()
        .map(|_| create_mpv(options).map_err(|e| e.to_string()))
        .collect()
}

/// One song of the setlist, loaded in its own mpv core.
struct Deck {
    song: Song,
    mpv: Mpv,
    events: Events,
    loaded: bool,
    ready: bool,
    /// Why the deck cannot play, once it is known.
    failed: Option<String>,
    failure_reported: bool,
}

/// The player: transport + the decks, run on its own thread by [`Player::run`].
pub struct Player {
    show: Show,
    decks: Vec<Deck>,
    current: usize,
    on_screen: OnScreen,
    options: PlayerOptions,
    transport: Transport,
    notify: Box<dyn Fn(Notice) + Send>,
    fatal_sent: bool,
    announced_ready: bool,
    lock_state: Option<LockState>,
    overlay_shown: bool,
    black_shown: bool,
    last_overlay: Instant,
    last_status_log: Instant,
    last_event: Option<(String, Instant)>,
    /// The video position of the deck on screen, as mpv last reported it.
    position_s: Option<f64>,
    /// When MIDI transport or clock last came from a MIDI source (not Ableton Link): MIDI
    /// leads Link, whose events are then dropped.
    last_midi_transport: Option<Instant>,
}

impl Player {
    /// A player for a whole show, with one deck (core from [`create_decks`]) per song.
    /// `notify` is called on the player thread; it must not block. Fails when the first song's
    /// settings make no transport.
    pub fn for_show(
        show: Show,
        cores: Vec<(Mpv, Events)>,
        options: PlayerOptions,
        on_screen: OnScreen,
        notify: impl Fn(Notice) + Send + 'static,
    ) -> Result<Player, String> {
        let decks: Vec<Deck> = show
            .songs
            .iter()
            .cloned()
            .zip(cores)
            .map(|(song, (mpv, events))| Deck {
                song,
                mpv,
                events,
                loaded: false,
                ready: false,
                failed: None,
                failure_reported: false,
            })
            .collect();
        let now = Instant::now();
        let mut player = Player {
            show,
            decks,
            current: 0,
            on_screen,
            transport: Transport::new(),
            options,
            notify: Box::new(notify),
            fatal_sent: false,
            announced_ready: false,
            lock_state: None,
            overlay_shown: false,
            black_shown: false,
            last_overlay: now,
            last_status_log: now,
            last_event: None,
            position_s: None,
            last_midi_transport: None,
        };
        player.on_screen.set(0);
        player.transport = player.transport_for(0)?;
        Ok(player)
    }

    /// The same player, reporting to `notify` instead.
    pub fn with_notify(mut self, notify: impl Fn(Notice) + Send + 'static) -> Player {
        self.notify = Box::new(notify);
        self
    }

    /// The transport for deck `i`: the show's follow mode with the song's tempo and timecode.
    fn transport_for(&self, i: usize) -> Result<Transport, String> {
        let mut settings = self.options.chase.clone();
        if let Some(song) = self.decks.get(i).map(|d| &d.song) {
            if settings.tempo_map.is_none() {
                settings.tempo_map = song.tempo_map.clone();
            }
            if let Some(tc) = song.timecode_start {
                settings.video_start = tc;
            }
        }
        let mut transport =
            Transport::with_mode(self.options.follow, settings).map_err(|e| e.to_string())?;
        transport.set_mmc_device(self.show.mmc_device);
        Ok(transport)
    }

    fn mpv(&self) -> &Mpv {
        &self.decks[self.current].mpv
    }

    /// Loads every song paused on its first frame (the first song first), then handles input
    /// until `Quit` or until every sender is gone. The screen's render contexts must exist
    /// before this runs: mpv's video output attaches to them when the files load.
    pub fn run(mut self, rx: Receiver<PlayerInput>) {
        // The loop below wakes at least every TICK: a player that stops beating has frozen the
        // picture, and the watchdog ends playhead so that it comes back armed.
        let heartbeat = watchdog::register("player", Watch::Beats(watchdog::DEFAULT_HANG_LIMIT));
        let fault = watchdog::InjectedFault::from_env("player");
        let (wake_tx, wake_rx) = crossbeam_channel::bounded::<()>(1);
        for deck in &mut self.decks {
            deck.events.set_wakeup(wake_tx.clone());
            if let Err(e) = deck.mpv.observe(OBSERVE_EOF, "eof-reached", Format::Flag) {
                warn!("{e}");
            }
            // Observed rather than read: reading a property waits for mpv, observing never does.
            if let Err(e) = deck
                .mpv
                .observe(OBSERVE_TIME_POS, "time-pos", Format::Double)
            {
                warn!("{e}");
            }
            // The OS's bytes, not a UTF-8 rendering: any file the OS can open plays.
            if let Err(e) = deck.mpv.load_file(&deck.song.video) {
                let path = deck.song.video.display();
                deck.failed = Some(format!("cannot load video '{path}': {e}"));
            }
        }
        self.check_failures();
        if self.decks.len() > 1 {
            info!(
                "show '{}': {} songs, selected by {}",
                self.show.name,
                self.decks.len(),
                match self.show.selection {
                    Selection::SongSelect => "Song Select".to_string(),
                    Selection::ProgramChange { channel } =>
                        format!("Program Change on channel {}", channel + 1),
                }
            );
        }
        self.drain_mpv_events();
        loop {
            heartbeat.beat();
            if let Some(fault) = fault {
                if self.announced_ready {
                    fault.strike();
                }
            }
            select! {
                recv(rx) -> msg => match msg {
                    Ok(PlayerInput::Midi(ev)) => self.on_midi(ev),
                    Ok(PlayerInput::Ltc(tc)) => self.on_ltc(tc),
                    Ok(PlayerInput::Operator(cmd, at)) => {
                        // The operator wants to see what they do.
                        self.set_black(false);
                        let cue = self.transport.on_operator(cmd);
                        if let Some(cue) = cue {
                            self.apply(cue, at, &format!("operator key {cmd:?}"));
                        }
                    }
                    Ok(PlayerInput::ToggleOverlay) => {
                        self.overlay_shown = !self.overlay_shown;
                        info!("status overlay {}", if self.overlay_shown { "shown" } else { "hidden" });
                        self.refresh_overlay();
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
            if let Some(cue) = self.transport.on_tick(clock::stamp(now)) {
                self.apply(cue, now, "the DAW's timecode stopping");
                if cue == Cue::Hold {
                    self.last_event = Some(("timecode stopped".into(), now));
                    // The timecode stopped: the DAW stopped.
                    self.after_stop(now);
                }
            }
            self.report_sync_changes();
            if self.overlay_shown && now.duration_since(self.last_overlay) >= OVERLAY_REFRESH {
                self.refresh_overlay();
            }
            if now.duration_since(self.last_status_log) >= STATUS_LOG_INTERVAL {
                self.last_status_log = now;
                info!("status: {}", self.status().join(" | "));
            }
        }
        debug!("player thread ends");
        heartbeat.done();
    }

    fn on_midi(&mut self, ev: TimedEvent) {
        if matches!(ev.event, crate::parse::MidiEvent::Clock) || ev.event.is_transport() {
            if &*ev.source != crate::sources::LINK_SOURCE {
                self.last_midi_transport = Some(ev.received);
            } else if self
                .last_midi_transport
                .is_some_and(|t| ev.received.saturating_duration_since(t) < LINK_YIELDS_FOR)
            {
                // MIDI clock and transport lead Link (the priority in the README).
                return;
            }
        }
        if let Some(song) = self.show.song_for(&ev.event) {
            self.select(song, &format!("{:?} from {}", ev.event, ev.source));
            return;
        }
        let before = self.transport.state();
        let cue = self.transport.on_midi(ev.event, clock::stamp(ev.received));
        if !ev.event.is_transport() && cue.is_none() {
            // Clock and timecode that change nothing are not news.
            return;
        }
        let what = format!("{:?} from {}", ev.event, ev.source);
        self.last_event = Some((what.clone(), ev.received));
        match cue {
            Some(cue) => self.apply(cue, ev.received, &what),
            None => info!(
                "{what} at t={:.6}s: {:?} -> {:?}, video unchanged",
                clock::seconds_since_start(ev.received),
                before,
                self.transport.state()
            ),
        }
        if cue == Some(Cue::Hold) {
            self.after_stop(ev.received);
        }
    }

    /// A frame of LTC: the song whose timecode range it is in comes on screen first (one LTC
    /// track drives a whole setlist), then the transport chases it.
    fn on_ltc(&mut self, tc: crate::sources::ltc::TimedTimecode) {
        if let Some(song) = self.show.song_for_timecode(tc.timecode) {
            if song != self.current {
                self.select(song, &format!("LTC {} from {}", tc.timecode, tc.source));
            }
        }
        let at = clock::stamp(tc.at);
        if let Some(cue) = self
            .transport
            .on_ltc(tc.timecode, at, clock::stamp(tc.received))
        {
            let what = format!("LTC {} from {}", tc.timecode, tc.source);
            self.last_event = Some((what.clone(), tc.received));
            self.apply(cue, tc.received, &what);
            if cue == Cue::Hold {
                self.after_stop(tc.received);
            }
        }
    }

    /// The show's stop behaviour, after the DAW stopped the video.
    fn after_stop(&mut self, at: Instant) {
        match self.show.on_stop {
            StopAction::Hold => {}
            StopAction::Black => self.set_black(true),
            StopAction::Rearm => {
                if let Some(cue) = self.transport.on_operator(OperatorCommand::Rewind) {
                    self.apply(cue, at, "stop behaviour \"rearm\"");
                }
            }
        }
    }

    /// Switches to deck `i`: its first frame is already decoded, so it is on screen at once.
    fn select(&mut self, i: usize, what: &str) {
        if i == self.current {
            info!(
                "{what}: song {} '{}' is already selected",
                i + 1,
                self.decks[i].song.title
            );
            return;
        }
        if let Some(why) = &self.decks[i].failed {
            error!(
                "{what}: song {} '{}' cannot play: {why}",
                i + 1,
                self.decks[i].song.title
            );
            return;
        }
        let transport = match self.transport_for(i) {
            Ok(t) => t,
            Err(e) => {
                error!("{what}: song {} '{}': {e}", i + 1, self.decks[i].song.title);
                return;
            }
        };
        let t = Instant::now();
        self.set_black(false);
        if self.overlay_shown {
            let _ = self
                .mpv()
                .command(&["osd-overlay", OVERLAY_STATUS, "none", ""]);
        }
        let old = self.current;
        self.current = i;
        self.on_screen.set(i);
        self.transport = transport;
        self.lock_state = None;
        self.position_s = None;
        (self.notify)(Notice::Switched { song: i });
        if self.decks[i].ready {
            // At start, when the first song failed after this one was already preloaded.
            self.announce_ready();
        }
        // The old deck goes back to its first frame off screen, ready for its next turn.
        // Its speed goes back to normal: the next transport for it starts from 1.0.
        let old_mpv = &self.decks[old].mpv;
        if let Err(e) = old_mpv
            .set_flag("pause", true)
            .and_then(|_| old_mpv.set_double("speed", 1.0))
            .and_then(|_| old_mpv.command(&["seek", "0", "absolute+exact"]))
        {
            warn!("could not re-arm song {}: {e}", old + 1);
        }
        info!(
            "{what}: song {} '{}' selected, armed on its first frame ({} µs)",
            i + 1,
            self.decks[i].song.title,
            t.elapsed().as_micros()
        );
        self.refresh_overlay();
    }

    /// Turns a cue into mpv commands, now.
    fn apply(&mut self, cue: Cue, received: Instant, what: &str) {
        if cue.plays() {
            self.set_black(false);
        }
        let mpv = self.mpv();
        let result = match cue {
            Cue::Play => mpv.set_flag("pause", false),
            Cue::PlayFromTop => mpv
                .command(&["seek", "0", "absolute+exact"])
                .and_then(|_| mpv.set_flag("pause", false)),
            Cue::Hold => mpv.set_flag("pause", true),
            Cue::Arm => mpv
                .set_flag("pause", true)
                .and_then(|_| mpv.command(&["seek", "0", "absolute+exact"])),
            Cue::Locate { position_s, play } => {
                let target = format!("{position_s:.6}");
                if play {
                    mpv.command(&["seek", &target, "absolute+exact"])
                        .and_then(|_| mpv.set_flag("pause", false))
                } else {
                    mpv.set_flag("pause", true)
                        .and_then(|_| mpv.command(&["seek", &target, "absolute+exact"]))
                }
            }
            Cue::Speed { speed } => mpv.set_double("speed", speed),
            Cue::Jump { position_s, speed } => mpv
                .set_double("speed", speed)
                .and_then(|_| mpv.command(&["seek", &format!("{position_s:.6}"), "absolute+exact"]))
                .and_then(|_| mpv.set_flag("pause", false)),
            Cue::Resume { speed } => mpv
                .set_double("speed", speed)
                .and_then(|_| mpv.set_flag("pause", false)),
        };
        let latency = clock::now().saturating_duration_since(received);
        match result {
            Ok(()) if matches!(cue, Cue::Speed { .. }) => {
                debug!("{what} -> {}", describe(cue));
            }
            Ok(()) => {
                info!(
                    "{what}, t={:.6}s -> {} ({} µs to mpv)",
                    clock::seconds_since_start(received),
                    describe(cue),
                    latency.as_micros()
                );
                (self.notify)(Notice::Cued { cue, latency });
            }
            Err(e) => error!("{what}: could not {}: {e}", describe(cue)),
        }
    }

    /// Shows black over the picture (or takes it away), through mpv's OSD so it reaches every
    /// kind of screen.
    fn set_black(&mut self, black: bool) {
        if black == self.black_shown {
            return;
        }
        self.black_shown = black;
        let result = if black {
            self.mpv().command(&[
                "osd-overlay",
                OVERLAY_BLACK,
                "ass-events",
                "{\\an7\\pos(0,0)\\bord0\\shad0\\1c&H000000&\\p1}m 0 0 l 10000 0 10000 10000 0 10000",
                "0",
                "720",
                "5",
            ])
        } else {
            self.mpv()
                .command(&["osd-overlay", OVERLAY_BLACK, "none", ""])
        };
        match result {
            Ok(()) if black => {
                info!("stop behaviour \"black\": the picture is black until the next play")
            }
            Ok(()) => {}
            Err(e) => warn!(
                "could not {} the black picture: {e}",
                if black { "show" } else { "remove" }
            ),
        }
    }

    /// What the operator needs to know, one item per entry.
    pub fn status(&self) -> Vec<String> {
        let deck = &self.decks[self.current];
        let mut items = vec![format!(
            "song {}/{} '{}'",
            self.current + 1,
            self.decks.len(),
            deck.song.title
        )];
        items.push(match self.transport.mode() {
            FollowMode::Chase => "chase".into(),
            FollowMode::Start => "start".into(),
        });
        items.push(
            match self.transport.state() {
                State::Armed => "armed",
                State::Playing => "playing",
                State::Stopped => "stopped",
            }
            .into(),
        );
        if let Some(pos) = self.position_s {
            let total_ms = (pos.max(0.0) * 1000.0).round() as u64;
            items.push(format!(
                "video {:02}:{:02}:{:02}.{:03}",
                total_ms / 3_600_000,
                total_ms / 60_000 % 60,
                total_ms / 1000 % 60,
                total_ms % 1000
            ));
        }
        if let Some(at) = self.transport.bar_beat() {
            items.push(format!("song bar {} beat {}", at.bar, at.beat));
        }
        if let Some(bpm) = self.transport.tempo_bpm() {
            items.push(format!("{bpm:.1} BPM"));
        }
        if let Some(state) = self.transport.lock_state() {
            let error = self
                .transport
                .sync_error_s()
                .map(|e| format!(" {:+.1} ms", e * 1000.0))
                .unwrap_or_default();
            let source = self
                .transport
                .reference()
                .map(|r| format!(" ({})", r.label()))
                .unwrap_or_default();
            items.push(format!("sync {}{source}{error}", state.label()));
        }
        match &self.last_event {
            Some((what, at)) => items.push(format!(
                "last: {what}, {:.1} s ago",
                at.elapsed().as_secs_f64()
            )),
            None => items.push("no transport message yet".into()),
        }
        items
    }

    /// Draws (or removes) the operator's status overlay on the picture.
    fn refresh_overlay(&mut self) {
        self.last_overlay = Instant::now();
        let result = if self.overlay_shown {
            let text = self
                .status()
                .iter()
                .map(|s| s.replace(['{', '}', '\\'], ""))
                .collect::<Vec<_>>()
                .join("\\N");
            self.mpv().command(&[
                "osd-overlay",
                OVERLAY_STATUS,
                "ass-events",
                &format!("{{\\an7\\fs22\\bord2\\1c&HFFFFFF&\\3c&H000000&}}{text}"),
                "0",
                "720",
                "10",
            ])
        } else {
            self.mpv()
                .command(&["osd-overlay", OVERLAY_STATUS, "none", ""])
        };
        if let Err(e) = result {
            warn!("could not draw the status overlay: {e}");
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

    /// Acts on decks that failed: a single video is fatal; in a setlist the song is skipped
    /// (and the show moves to the first song that works, if the failed one was on screen).
    fn check_failures(&mut self) {
        if self.fatal_sent {
            return;
        }
        let failed: Vec<usize> = (0..self.decks.len())
            .filter(|&i| self.decks[i].failed.is_some())
            .collect();
        if failed.is_empty() {
            return;
        }
        if failed.len() == self.decks.len() {
            self.fatal_sent = true;
            let msg = self.decks[failed[0]].failed.clone().unwrap_or_default();
            error!("{msg}");
            (self.notify)(Notice::Fatal(msg));
            return;
        }
        for &i in &failed {
            let deck = &mut self.decks[i];
            if deck.failure_reported {
                continue;
            }
            deck.failure_reported = true;
            error!(
                "song {} '{}' cannot play and will be skipped: {}",
                i + 1,
                deck.song.title,
                deck.failed.as_deref().unwrap_or_default()
            );
        }
        if self.decks[self.current].failed.is_some() {
            if let Some(good) = (0..self.decks.len()).find(|&i| self.decks[i].failed.is_none()) {
                self.select(good, "the selected song cannot play");
            }
        }
    }

    fn no_video_track(video: &Path) -> String {
        format!(
            "video '{}' has no video track: give a video file (H.264 or similar in .mp4, .mkv or .mov)",
            video.display()
        )
    }

    /// Says once that the show is armed: the deck on screen shows its first frame.
    fn announce_ready(&mut self) {
        if self.announced_ready {
            return;
        }
        self.announced_ready = true;
        let since_start_ms = clock::seconds_since_start(clock::now()) * 1000.0;
        info!(
            "armed: '{}' on its first frame, {since_start_ms:.0} ms after start; waiting for the DAW",
            self.decks[self.current].song.video.display()
        );
        (self.notify)(Notice::Ready { since_start_ms });
    }

    /// Handles every queued event of every deck; false when mpv shut down.
    fn drain_mpv_events(&mut self) -> bool {
        let mut failures = false;
        for i in 0..self.decks.len() {
            while let Some(ev) = self.decks[i].events.wait(0.0) {
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
                        let deck = &mut self.decks[i];
                        deck.loaded = true;
                        match deck.mpv.get_string("vid") {
                            Ok(v) if v != "no" && !v.is_empty() => {}
                            _ => {
                                deck.failed = Some(Self::no_video_track(&deck.song.video));
                                deck.loaded = false;
                                failures = true;
                            }
                        }
                    }
                    Event::EndFile(EndReason::Error(code)) => {
                        let deck = &mut self.decks[i];
                        let video = deck.song.video.display();
                        deck.failed = Some(match code {
                            MPV_ERROR_NOTHING_TO_PLAY => Self::no_video_track(&deck.song.video),
                            _ => format!(
                                "cannot play video '{video}': {}; is it a video file mpv can decode? Try it with 'mpv {video}'",
                                crate::mpv::error_string(code),
                            ),
                        });
                        deck.loaded = false;
                        failures = true;
                    }
                    Event::PlaybackRestart
                        if self.decks[i].loaded
                            && !self.decks[i].ready
                            && self.decks[i].failed.is_none() =>
                    {
                        self.decks[i].ready = true;
                        let since_start_ms = clock::seconds_since_start(clock::now()) * 1000.0;
                        if i == self.current {
                            self.announce_ready();
                        } else {
                            info!(
                                "song {} '{}' preloaded on its first frame ({since_start_ms:.0} ms after start)",
                                i + 1,
                                self.decks[i].song.title
                            );
                        }
                    }
                    Event::PropertyChange {
                        id: OBSERVE_TIME_POS,
                        value: PropertyValue::Double(position_s),
                        ..
                    } if i == self.current => {
                        self.position_s = Some(position_s);
                        let now = clock::now();
                        let cue = self
                            .transport
                            .on_video_position(clock::stamp(now), position_s);
                        if let Some(cue) = cue {
                            self.apply(cue, now, "drift correction");
                        }
                    }
                    Event::PropertyChange {
                        id: OBSERVE_EOF,
                        value: PropertyValue::Flag(true),
                        ..
                    } if i == self.current && self.transport.state() == State::Playing => {
                        info!("the video ended; holding its last frame until the DAW stops or locates");
                    }
                    _ => {}
                }
            }
        }
        if failures {
            self.check_failures();
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
        Cue::Jump { position_s, speed } => {
            format!("drift too large: playing from {position_s:.3} s at speed {speed:.4}")
        }
        Cue::Resume { speed } => format!("playing at speed {speed:.4}"),
    }
}
