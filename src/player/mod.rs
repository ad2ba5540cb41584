//! The player thread: owns the transport state machine and drives mpv.
//!
//! The decisions are the core's: the transport's cues, which source leads ([`crate::arbiter`]),
//! the plan of a start ([`plan`]), what follows a Stop ([`stop`]), which deck holds which song
//! and what covers its picture ([`setlist`]). This module carries them out on mpv and the
//! screens: this file takes the inputs (MIDI, timecode, the arbiter's decisions, the
//! remote) and applies cues; [`starts`] starts on the plan and follows a Stop, [`songs`] puts
//! the setlist on the decks, [`media`] makes the cores and reads what mpv says, [`report`]
//! tells the operator, [`offsets`] changes and saves latency offsets.
//!
//! It wakes on two things only: a message in its channel (MIDI events from every input,
//! operator keys) and mpv's wakeup callback. A cue from the transport becomes an mpv command at
//! once, on this thread: nothing here waits for the window, a buffer swap or the event loop.
//! Clock ticks reach it through per-source lanes rather than one message each ([`lanes`]).

mod decks;
mod media;
mod offsets;
mod report;
mod songs;
mod starts;
pub mod status;

use crate::arbiter::{Arbiter, Decision, Rig, Verdict};
use crate::chase::drift::LockState;
use crate::clock;
use crate::messages::lanes::{ClockLane, TimedEvent};
use crate::messages::stage::{DeckViews, StageCues};
pub use crate::messages::{lanes, InputCounters, PlayerInput, RemoteCommand};
use crate::mpv::{EndReason, Event, Events, Format, Mpv, MpvError, PropertyValue};
use crate::parse::MidiEvent;
use crate::plan::{self, StartStep};
use crate::setlist;
use crate::show::{Preload, Selection, Show, StopAction};
use crate::stop::{self, StopWindow, JUMP_WINDOW};
use crate::transport::{ChaseSettings, Cue, FollowMode, OperatorCommand, State, Transport};
use crate::watchdog::{self, Watch};
use crossbeam_channel::{select, Receiver};
use decks::{deck_count, Deck, Media, UNLOAD_SETTLE};
use log::{debug, error, info, warn};
use status::{SongRef, StatusBoard, StatusSnapshot};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use media::{check_video_file, create_decks, create_mpv, CORE_OPTIONS};
pub use offsets::{write_offset, write_output_offset};

/// `at` made earlier by `seconds` (later when negative); `at` itself when that is not a time.
fn shift_earlier(at: Instant, seconds: f64) -> Instant {
    let Ok(by) = Duration::try_from_secs_f64(seconds.abs()) else {
        return at;
    };
    if seconds >= 0.0 {
        at.checked_sub(by).unwrap_or(at)
    } else {
        at.checked_add(by).unwrap_or(at)
    }
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
    /// A song off screen is loaded and held on its first frame: the preload window reached it.
    Preloaded { song: usize },
    /// A song that was not preloaded was selected and its first frame is on screen now
    /// (`Switched` follows), `took` after it was selected.
    LoadedOnDemand { song: usize, took: Duration },
    /// The video cannot be played; playhead must stop with this message.
    Fatal(String),
    /// Something the operator must see during the show (a video that ended before its
    /// container said, or stopped decoding): also on the status page, the overlay and the log.
    Warning(String),
    /// The selected song cannot play (why): the screen shows black, or the idle content, and
    /// the DAW's Start plays nothing. Sent when it is selected and for each play refused.
    CannotPlay { song: usize, why: String },
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
    /// The test card, ready to play, added to the setlist when the operator calls it up and
    /// the show has none ([`crate::test_card::spare_card`]).
    pub spare_card: Option<crate::show::Song>,
}

impl Default for PlayerOptions {
    fn default() -> Self {
        PlayerOptions {
            audio: false,
            hwdec: "no".into(),
            follow: FollowMode::Chase,
            chase: ChaseSettings::default(),
            spare_card: None,
        }
    }
}

const OBSERVE_EOF: u64 = 1;
const OBSERVE_TIME_POS: u64 = 2;
const OBSERVE_FPS: u64 = 3;
const OBSERVE_TIMING_OFFSET: u64 = 4;
const OBSERVE_DURATION: u64 = 5;
/// How often the player looks at the transport when nothing arrives: timecode that stopped,
/// a parked video whose start the DAW reaches.
const TICK: Duration = Duration::from_millis(20);
/// How often the status overlay is refreshed while shown.
const OVERLAY_REFRESH: Duration = Duration::from_millis(250);
/// How often the status snapshot is published when nothing the operator sees at a glance
/// changed (the position moves, the message ages).
const PUBLISH_INTERVAL: Duration = Duration::from_millis(200);
/// How often the status goes to the log.
const STATUS_LOG_INTERVAL: Duration = Duration::from_secs(30);
/// mpv OSD overlay ids: the black picture (on_stop = "black") and the operator's status.
const OVERLAY_BLACK: &str = "1";
const OVERLAY_STATUS: &str = "2";

/// A picture's width and height in pixels.
type Size = (u32, u32);

/// The player: transport + the decks, run on its own thread by [`Player::run`].
pub struct Player {
    show: Show,
    decks: Vec<Deck>,
    /// The selected song (its index in the setlist), and the deck that holds it.
    current: usize,
    deck: usize,
    /// Why each song cannot play, once known, and whether that was said.
    song_failed: Vec<Option<String>>,
    failure_reported: Vec<bool>,
    /// What the screens show: the cues sent them, and what they report back.
    stage: StageCues,
    options: PlayerOptions,
    transport: Transport,
    notify: Box<dyn Fn(Notice) + Send>,
    fatal_sent: bool,
    announced_ready: bool,
    lock_state: Option<LockState>,
    overlay_shown: bool,
    /// The black and the idle content over the song's picture (the core's
    /// [`setlist::Cover`]).
    cover: setlist::Cover,
    /// Problems with the media found during the show (a video that ended early), for the
    /// status page and the overlay; each said once.
    media_warnings: Vec<String>,
    /// The selected song that cannot play, once the screen has gone black for it.
    blank_for: Option<usize>,
    /// The song whose decoding errors were said (once until another song is selected).
    decode_warned: Option<usize>,
    last_overlay: Instant,
    last_status_log: Instant,
    /// Remote commands logged: a burst, then 25 a second, above what OSC lets through (32 at
    /// once, 20 a second), so that only a flood from the page is counted rather than listed.
    remote_log: crate::remote::limit::RateLimit,
    last_event: Option<(String, Instant)>,
    /// The video position of the deck on screen, as mpv last reported it.
    position_s: Option<f64>,
    /// Clock ticks that arrived folded (the player was behind), and in how many records.
    clocks_folded: u64,
    folded_records: u64,
    /// The song selected while it was not loaded yet: when it was selected. The picture of
    /// the deck on screen stays until its first frame is ready.
    selected_unloaded_at: Option<Instant>,
    /// A Start or Continue waiting for the clock after it (the song starts on that clock), as
    /// the log names it.
    start_waiting_for_clock: Option<String>,
    /// Where the last transport message came from.
    last_source: Option<String>,
    /// Which source leads: the show's main and backup rigs.
    arbiter: Arbiter,
    /// The source of the main's Stop the arbiter holds.
    held_stop_source: Option<Arc<str>>,
    /// The snapshot for the remote, and when and of what it was last published.
    board: Arc<StatusBoard>,
    last_publish: Instant,
    published_key: Option<PublishedKey>,
    /// The deck that loops the idle content (the last one, when the show has idle content),
    /// and the file it holds.
    idle_deck: Option<usize>,
    idle_loaded: Option<std::path::PathBuf>,
    /// Idle content mpv could not play: never shown again (the song's picture is, instead).
    idle_broken: Option<std::path::PathBuf>,
    /// A start planned for its due time (see [`plan`]): a seek and an unpause to come.
    timed: Option<TimedStart>,
    /// A start waiting for a seek in flight to land before it is planned.
    waiting: Option<WaitingStart>,
    /// After a timed start: mpv's reports of the frame it started from (the sought frame, on
    /// screen already) are not news for the drift controller, which would take them for
    /// frames handed over ahead of time.
    started_from_s: Option<f64>,
    /// What follows a Stop and when: the stop behaviour after the loop-jump window, the look
    /// at the Stop's frame (the core's [`crate::stop`]).
    stops: StopWindow,
    /// The time of the Stop being applied, when its message said (else it is when it came).
    hold_at: Option<Instant>,
    /// The song selected when the operator called up the test card, to go back to.
    before_card: Option<usize>,
}

/// A start waiting for its moment, on deck `deck`: the core's plan and its steps
/// ([`plan::TimedStart`]), carried out on the deck's mpv.
#[derive(Clone, Debug)]
struct TimedStart {
    deck: usize,
    run: plan::TimedStart,
    /// What it starts, to plan it again when its seek lands too late.
    cue: Cue,
    received: Instant,
    what: String,
    /// When mpv said its seek was done (a screen holding the frame makes that as late as the
    /// hold): the landing when no screen told the sought frame apart.
    restarted_at: Option<Instant>,
}

impl TimedStart {
    fn plan(&self) -> &plan::StartPlan {
        &self.run.plan
    }
}
/// How often the player looks whether a late seek has landed.
const LANDING_POLL: Duration = Duration::from_millis(2);

/// A start that waits for a seek in flight to land before it is planned.
#[derive(Clone, Debug)]
struct WaitingStart {
    cue: Cue,
    /// Where it plays from, whatever the seek does.
    position_s: f64,
    due: Instant,
    received: Instant,
    what: String,
    deck: usize,
    give_up_at: Instant,
}

/// What, changed, is published at once (other changes wait for [`PUBLISH_INTERVAL`]).
type PublishedKey = (State, usize, bool, bool, Option<Instant>);

impl Player {
    /// A player for a whole show, with the decks (cores) from [`create_decks`].
    /// `notify` is called on the player thread; it must not block. Fails when the first song's
    /// settings make no transport.
    pub fn for_show(
        show: Show,
        cores: Vec<(Mpv, Events)>,
        options: PlayerOptions,
        stage: StageCues,
        notify: impl Fn(Notice) + Send + 'static,
    ) -> Result<Player, String> {
        let decks: Vec<Deck> = cores
            .into_iter()
            .map(|(mpv, events)| Deck::new(mpv, events))
            .collect();
        if decks.is_empty() {
            return Err("the show has no deck to play on".into());
        }
        let now = clock::now();
        let songs = show.songs.len();
        let idle_deck = (decks.len() > deck_count(&show)).then(|| decks.len() - 1);
        let show_rigs = show.rigs.clone();
        let mut player = Player {
            show,
            decks,
            current: 0,
            deck: 0,
            song_failed: vec![None; songs],
            failure_reported: vec![false; songs],
            stage,
            transport: Transport::new(),
            options,
            notify: Box::new(notify),
            fatal_sent: false,
            announced_ready: false,
            lock_state: None,
            overlay_shown: false,
            cover: setlist::Cover::default(),
            media_warnings: Vec::new(),
            blank_for: None,
            decode_warned: None,
            last_overlay: now,
            last_status_log: now,
            remote_log: crate::remote::limit::RateLimit::new(40, 25.0),
            last_event: None,
            position_s: None,
            clocks_folded: 0,
            folded_records: 0,
            selected_unloaded_at: None,
            start_waiting_for_clock: None,
            last_source: None,
            arbiter: Arbiter::new(show_rigs, JUMP_WINDOW.as_secs_f64()),
            held_stop_source: None,
            board: Arc::new(StatusBoard::default()),
            last_publish: now,
            published_key: None,
            idle_deck,
            idle_loaded: None,
            idle_broken: None,
            timed: None,
            waiting: None,
            started_from_s: None,
            stops: StopWindow::default(),
            hold_at: None,
            before_card: None,
        };
        player.stage.show(0);
        player.transport = player.transport_for(0)?;
        Ok(player)
    }

    /// Where the player publishes its status (for the remote page and OSC).
    pub fn status_board(&self) -> Arc<StatusBoard> {
        self.board.clone()
    }

    /// The same player, reporting to `notify` instead.
    pub fn with_notify(mut self, notify: impl Fn(Notice) + Send + 'static) -> Player {
        self.notify = Box::new(notify);
        self
    }

    /// The transport for song `i`: the show's follow mode with the song's tempo and timecode.
    fn transport_for(&self, i: usize) -> Result<Transport, String> {
        let mut settings = self.options.chase.clone();
        if let Some(song) = self.show.songs.get(i) {
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
        &self.decks[self.deck].mpv
    }

    /// Loads the songs of the preload window paused on their first frame (the first song
    /// first), then handles input until `Quit` or until every sender is gone. The screen's render contexts must exist
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
            if let Err(e) = deck
                .mpv
                .observe(OBSERVE_FPS, "container-fps", Format::Double)
            {
                warn!("{e}");
            }
            // The length the container gives: a video whose picture ends well before it is cut
            // short or damaged.
            if let Err(e) = deck
                .mpv
                .observe(OBSERVE_DURATION, "duration", Format::Double)
            {
                warn!("{e}");
            }
            // How far ahead of its due time the screen takes each frame (see
            // crate::screen::present): `time-pos` runs that far ahead of the picture.
            if let Err(e) =
                deck.mpv
                    .observe(OBSERVE_TIMING_OFFSET, "video-timing-offset", Format::Double)
            {
                warn!("{e}");
            }
        }
        // The first song first, into the deck on screen; then its neighbours.
        if let Err(e) = self.decks[0].load(0, Media::of(&self.show, 0)) {
            self.song_failed[0] = Some(e);
        }
        self.update_window();
        self.check_failures();
        if self.show.songs.len() > 1 {
            info!(
                "show '{}': {} songs, selected by {}, {} held ready",
                self.show.name,
                self.show.songs.len(),
                match self.show.selection {
                    Selection::SongSelect => "Song Select".to_string(),
                    Selection::ProgramChange { channel } =>
                        format!("Program Change on channel {}", channel + 1),
                },
                describe_preload(self.show.preload)
            );
        }
        self.drain_mpv_events();
        let mut quit = false;
        loop {
            heartbeat.beat();
            if let Some(fault) = fault {
                if self.announced_ready {
                    fault.strike();
                }
            }
            let now = clock::now();
            let wait = self
                .next_timed(now)
                .into_iter()
                .chain(
                    self.transport
                        .start_deadline()
                        .map(|at| clock::instant(at).saturating_duration_since(now)),
                )
                .fold(TICK, Duration::min);
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
                    Ok(PlayerInput::Clocks(lane)) => self.on_clocks(&lane),
                    Ok(PlayerInput::Remote(cmd, at, origin)) => self.on_remote(cmd, at, &origin),
                    Ok(PlayerInput::Stall(release)) => {
                        warn!("player stalled on request (a test)");
                        let _ = release.recv();
                    }
                    Ok(PlayerInput::Counters(reply)) => {
                        let _ = reply.try_send(InputCounters {
                            clocks_received: self.transport.clocks_received(),
                            clocks_folded: self.clocks_folded,
                            folded_records: self.folded_records,
                        });
                    }
                    Ok(PlayerInput::SourceJoined(source)) => {
                        let now = clock::now();
                        if let Some(d) = self.arbiter.on_joined(&source, clock::stamp(now)) {
                            self.on_decision(d, now);
                        }
                    }
                    Ok(PlayerInput::SourceLeft(source, why)) => {
                        let now = clock::now();
                        if let Some(d) = self.arbiter.on_left(&source, &why, clock::stamp(now)) {
                            self.on_decision(d, now);
                        }
                    }
                    Ok(PlayerInput::Quit) | Err(_) => {
                        quit = true;
                        break;
                    }
                },
                recv(wake_rx) -> _ => {
                    if !self.drain_mpv_events() {
                        break;
                    }
                }
                default(wait) => {}
            }
            let now = clock::now();
            if self.waiting.as_ref().is_some_and(|w| now >= w.give_up_at) {
                debug!("a seek in flight has not landed yet: planning the start without it");
                self.resume_waiting();
            }
            if let Some(d) = self.arbiter.on_tick(clock::stamp(now)) {
                self.on_decision(d, now);
            }
            if let Some((cue, at)) = self.transport.late_start(clock::stamp(now)) {
                // No clock followed the Start: timed from the Start itself, late by the wait.
                let what = format!(
                    "{}, no clock after it",
                    self.start_waiting_for_clock
                        .take()
                        .unwrap_or_else(|| "Start".into())
                );
                self.last_event = Some((what.clone(), now));
                if !self.start_on_time(cue, clock::instant(at), now, &what) {
                    self.apply(cue, now, &what);
                }
            }
            self.run_timed(now);
            self.after_stop_window(now);
            if let Some(cue) = self.transport.on_tick(clock::stamp(now)) {
                self.apply(cue, now, "the DAW's timecode stopping");
                if cue == Cue::Hold {
                    self.last_event = Some(("timecode stopped".into(), now));
                    // The timecode stopped: the DAW stopped.
                    self.after_stop(now);
                }
            }
            self.settle_unloads();
            self.report_sync_changes();
            if self.overlay_shown && now.duration_since(self.last_overlay) >= OVERLAY_REFRESH {
                self.refresh_overlay();
            }
            self.publish_status(now);
            if now.duration_since(self.last_status_log) >= STATUS_LOG_INTERVAL {
                self.last_status_log = now;
                info!("status: {}", self.status().join(" | "));
            }
        }
        debug!("player thread ends");
        // Told to quit: done. mpv gone underneath it: the heartbeat drops unfinished and the
        // watchdog ends playhead, so that it comes back armed.
        if quit {
            heartbeat.done();
        }
    }

    fn on_midi(&mut self, ev: TimedEvent) {
        let now = clock::now();
        let (decision, verdict) = self.arbiter.on_midi(
            &ev.source,
            &ev.event,
            clock::stamp(ev.at),
            clock::stamp(now),
        );
        if let Some(
            d @ Decision::MainLeads {
                after_message: true,
                ..
            },
        ) = decision
        {
            // The backup's Stop, the show's: obeyed, then the main leads.
            self.obey_midi(ev);
            self.on_decision(d, now);
            return;
        }
        if let Some(d) = decision {
            self.on_decision(d, now);
        }
        match verdict {
            Verdict::Obey => {}
            Verdict::Watch => {
                if ev.event.is_transport() {
                    let rig = if self.arbiter.leading() == Rig::Main {
                        "backup"
                    } else {
                        "main"
                    };
                    info!(
                        "{:?} from {} (the {rig} rig): watched, the {} rig leads",
                        ev.event,
                        ev.source,
                        self.arbiter.leading().label()
                    );
                }
                return;
            }
            Verdict::Held => {
                info!(
                    "{:?} from {} (the main rig): held until the backup stops too (up to \
                     {} ms; if it plays on, this is the main failing, not a stop)",
                    ev.event,
                    ev.source,
                    JUMP_WINDOW.as_millis()
                );
                self.held_stop_source = Some(ev.source.clone());
                return;
            }
            // MIDI clock and transport lead Link (the priority in the README).
            Verdict::Yield => return,
        }
        self.obey_midi(ev);
    }

    /// What the arbiter decided: a held Stop stands, the backup leads, the main leads again.
    fn on_decision(&mut self, decision: Decision, now: Instant) {
        match decision {
            Decision::Stop { at } => {
                let source = self
                    .held_stop_source
                    .take()
                    .unwrap_or_else(|| Arc::from("the main rig"));
                info!("the Stop from {source} stands: the backup stopped too");
                self.obey_midi(TimedEvent {
                    event: MidiEvent::Stop,
                    received: now,
                    at: clock::instant(at).min(now),
                    source,
                });
            }
            Decision::Failover {
                to,
                cause,
                position,
                offset_ms,
            } => {
                self.held_stop_source = None;
                let from = if to == Rig::Main {
                    Rig::Backup
                } else {
                    Rig::Main
                };
                let offset = offset_ms.map_or_else(
                    || "its offset from the other unknown".to_string(),
                    |o| {
                        format!(
                            "{o:+.1} ms from the {} rig (the correction it needs)",
                            from.label()
                        )
                    },
                );
                let sync = self
                    .transport
                    .sync_error_s()
                    .map(|e| format!("; the video was {:+.1} ms from the DAW", e * 1000.0))
                    .unwrap_or_default();
                let playing = if position.running {
                    "playing"
                } else {
                    "stopped"
                };
                let text = if cause == crate::arbiter::FailCause::Operator {
                    format!(
                        "the operator made the {} rig lead: it is {playing}, {offset}",
                        to.label()
                    )
                } else {
                    format!(
                        "failover: the {} rig failed ({cause}); the {} rig leads now: it is \
                         {playing}, {offset}{sync}",
                        from.label(),
                        to.label(),
                    )
                };
                if cause == crate::arbiter::FailCause::Operator {
                    info!("{text}");
                } else {
                    warn!("{text}");
                }
                self.arbiter.note_failover(text.clone());
                self.last_event = Some((text.clone(), now));
                self.follow_leader(position, now, &text);
            }
            Decision::MainLeads { position, .. } => {
                info!("the main rig leads again (the show stopped and it is there)");
                self.follow_leader(position, now, "the main rig leading again");
            }
        }
    }

    /// The transport follows the rig that leads now, from where it stands.
    fn follow_leader(&mut self, position: crate::arbiter::RigPosition, now: Instant, what: &str) {
        let cue = self.transport.take_over(
            position.running,
            position.clocks,
            position.clock_at,
            position.awaiting_first_clock,
            clock::stamp(now),
        );
        if let Some(cue) = cue {
            self.apply(cue, now, what);
            if cue == Cue::Hold {
                self.after_stop(now);
            }
        }
    }

    /// Passes a MIDI event to the transport (the arbiter let it through).
    fn obey_midi(&mut self, ev: TimedEvent) {
        if setlist::leaves_idle(&ev.event) {
            self.leave_idle(&format!("{:?} from {}", ev.event, ev.source));
        }
        if let Some(song) = self.show.song_for(&ev.event) {
            self.select(song, &format!("{:?} from {}", ev.event, ev.source));
            return;
        }
        let before = self.transport.state();
        let recovered = self.transport.clocks_recovered();
        let cue = self.transport.on_midi_received(
            ev.event,
            clock::stamp(ev.at),
            clock::stamp(ev.received),
        );
        let lost = self.transport.clocks_recovered();
        if lost > recovered && (lost.is_power_of_two() || lost - recovered > 1) {
            info!(
                "{}: {} MIDI clock(s) never came (the clocks around them came on tempo); \
                 counted, so the position stays right ({lost} since start)",
                ev.source,
                lost - recovered
            );
        }
        let mut what = format!("{:?} from {}", ev.event, ev.source);
        if matches!(
            ev.event,
            MidiEvent::Start | MidiEvent::Continue | MidiEvent::SongPosition { .. }
        ) && self.transport.start_deadline().is_some()
        {
            // The song starts on the clock after it: cued there meanwhile (a Song Position
            // while the song runs: it plays on until that clock, which jumps).
            debug!("{what}: the song starts on the clock after it");
            self.start_waiting_for_clock = Some(what.clone());
            self.last_event = Some((what.clone(), ev.received));
            self.last_source = Some(ev.source.to_string());
            if let Some(cue) = cue {
                self.apply(cue, ev.received, &what);
            }
            return;
        }
        if self.transport.start_deadline().is_none() {
            if let Some(start) = self.start_waiting_for_clock.take() {
                if cue.is_some() && matches!(ev.event, MidiEvent::Clock) {
                    what = format!("{start}, on the clock after it");
                }
            }
        }
        if !ev.event.is_transport() && cue.is_none() {
            // Clock and timecode that change nothing are not news.
            return;
        }
        self.last_event = Some((what.clone(), ev.received));
        self.last_source = Some(ev.source.to_string());
        if cue == Some(Cue::Hold) {
            self.hold_at = Some(ev.at);
        }
        // In the start mode the video's first frame is due at the Start, made earlier by the
        // latency offset like every frame of the chase.
        let due = match cue {
            Some(Cue::Play | Cue::PlayFromTop) if self.transport.mode() == FollowMode::Start => {
                shift_earlier(ev.at, self.options.chase.offset_s)
            }
            _ => ev.at,
        };
        match cue {
            Some(cue) if self.start_on_time(cue, due, ev.received, &what) => {}
            Some(cue) => self.apply(cue, ev.received, &what),
            None => info!(
                "{what} at t={:.6}s: {:?} -> {:?}, video unchanged",
                clock::seconds_since_start(ev.received),
                before,
                self.transport.state()
            ),
        }
        // A Stop that cues where the DAW jumped to just before (its Song Position's clock never
        // came) is a Stop too.
        let stopped_at_jump = matches!(ev.event, MidiEvent::Stop)
            && matches!(cue, Some(Cue::Locate { play: false, .. }));
        if cue == Some(Cue::Hold) || stopped_at_jump {
            // Held at once; the rest of the stop behaviour waits to see whether this Stop is a
            // loop jump's.
            self.stops.daw_stopped(clock::stamp(clock::now()));
        }
    }

    /// Takes the ticks waiting in `lane`: one by one with their own times as they came, then
    /// the folded ones (if the player fell behind) in one step.
    fn on_clocks(&mut self, lane: &ClockLane) {
        let ticks = lane.take();
        for tick in ticks.single {
            self.on_midi(TimedEvent {
                event: MidiEvent::Clock,
                received: tick.received,
                at: tick.at,
                source: lane.source().clone(),
            });
        }
        let Some(latest) = ticks.folded_latest.filter(|_| ticks.folded > 0) else {
            return;
        };
        let now = clock::now();
        let (decision, verdict) = self.arbiter.on_folded_clocks(
            lane.source(),
            ticks.folded,
            clock::stamp(latest.at),
            clock::stamp(now),
        );
        if let Some(d) = decision {
            self.on_decision(d, now);
        }
        if verdict != Verdict::Obey {
            return;
        }
        self.clocks_folded += ticks.folded;
        self.folded_records += 1;
        if self.folded_records.is_power_of_two() {
            warn!(
                "the player fell behind: {} clock ticks from {} taken at once ({} in all); \
                 the tempo estimate restarts from the latest",
                ticks.folded,
                lane.source(),
                self.clocks_folded
            );
        }
        if let Some(cue) = self
            .transport
            .on_clocks(ticks.folded, clock::stamp(latest.at))
        {
            // A start on the clock is timed from the clock, as for a single one.
            let what = format!("clock from {}", lane.source());
            if !self.start_on_time(cue, latest.at, latest.received, &what) {
                self.apply(cue, latest.received, &what);
            }
        }
    }

    /// A frame of LTC: the song whose timecode range it is in comes on screen first (one LTC
    /// track drives a whole setlist), then the transport chases it.
    fn on_ltc(&mut self, tc: crate::messages::TimedTimecode) {
        if self.arbiter.has_rigs() {
            let now = clock::now();
            let (decision, verdict) =
                self.arbiter
                    .on_ltc(&tc.source, clock::stamp(tc.at), clock::stamp(now));
            if let Some(d) = decision {
                self.on_decision(d, now);
            }
            if verdict != Verdict::Obey {
                return;
            }
        }
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
            // The transport gives where the DAW is when the frame was decoded.
            if !self.start_on_time(cue, tc.received, tc.received, &what) {
                self.apply(cue, tc.received, &what);
            }
            if cue == Cue::Hold {
                self.after_stop(tc.received);
            }
        }
    }

    /// A command from the remote page or OSC, logged with its origin.
    fn on_remote(&mut self, cmd: RemoteCommand, at: Instant, origin: &str) {
        if self.remote_log.allow(at) {
            match self.remote_log.take_refused() {
                0 => info!("remote command {cmd:?} from {origin}"),
                n => info!("remote command {cmd:?} from {origin} ({n} more not logged)"),
            }
        }
        let what = format!("remote {cmd:?} from {origin}");
        // The page shows it as the last transport message, like the DAW's.
        self.last_event = Some((what.clone(), at));
        self.last_source = Some(origin.to_string());
        let state = self.transport.state();
        match cmd {
            RemoteCommand::Play | RemoteCommand::Stop => {
                let playing = state == State::Playing;
                if playing != (cmd == RemoteCommand::Play) {
                    self.set_black(false);
                    if let Some(cue) = self.transport.on_operator(OperatorCommand::TogglePlay) {
                        self.apply(cue, at, &what);
                    }
                    if playing {
                        self.after_stop(at);
                    }
                } else {
                    info!(
                        "{what}: already {}",
                        if playing { "playing" } else { "not playing" }
                    );
                }
            }
            RemoteCommand::Arm => {
                self.set_black(false);
                if let Some(cue) = self.transport.on_operator(OperatorCommand::Rewind) {
                    self.apply(cue, at, &what);
                }
            }
            RemoteCommand::Song(i) if i < self.show.songs.len() => self.select(i, &what),
            RemoteCommand::TestCard(on) => self.test_card(on, &what),
            RemoteCommand::Offset(ms) => {
                let before = self.options.chase.offset_s * 1000.0;
                // With outputs: every output moves by as much, keeping their differences.
                for o in &mut self.show.outputs {
                    o.offset_ms = Some(o.offset_ms.unwrap_or(before) + ms - before);
                }
                self.options.chase.offset_s = ms / 1000.0;
                self.transport.set_offset_s(ms / 1000.0);
                info!(
                    "{what}: latency offset {before:+.1} ms -> {ms:+.1} ms{}",
                    match (self.transport.mode(), self.transport.state()) {
                        (FollowMode::Start, State::Playing) => " (from the next Start)",
                        (FollowMode::Chase, State::Playing) =>
                            " (the drift correction moves the picture onto it)",
                        _ => "",
                    }
                );
            }
            RemoteCommand::SaveOffset => self.save_offset(&what),
            RemoteCommand::OutputOffset(name, ms) => self.output_offset(&name, ms, &what),
            RemoteCommand::SaveOutputOffset(name) => self.save_output_offset(&name, &what),
            RemoteCommand::Song(i) => warn!(
                "{what}: there is no song {} (the setlist has {})",
                i + 1,
                self.show.songs.len()
            ),
            RemoteCommand::Black(on) => {
                self.set_black(on);
                if !on {
                    info!("{what}: the picture is back");
                }
            }
            RemoteCommand::Locate(_) if state == State::Playing => {
                warn!("{what}: not while playing; stop first")
            }
            RemoteCommand::Locate(position_s) if position_s.is_finite() => {
                let position_s = position_s.max(0.0);
                self.apply(
                    Cue::Locate {
                        position_s,
                        play: false,
                    },
                    at,
                    &what,
                );
            }
            RemoteCommand::Locate(_) => warn!("{what}: not a position"),
            RemoteCommand::Reopen => self.reopen_failed(&what),
            RemoteCommand::Lead(rig) => {
                if !self.arbiter.has_rigs() {
                    info!("{what}: the show has no main and backup rigs (main, backup)");
                } else if let Some(d) = self.arbiter.switch_to(rig, clock::stamp(at)) {
                    self.on_decision(d, at);
                } else {
                    info!("{what}: the {} rig leads already", rig.label());
                }
            }
        }
        self.publish_status(clock::now());
    }

    /// Turns a cue into mpv commands, now.
    fn apply(&mut self, cue: Cue, received: Instant, what: &str) {
        let hold_at = self.hold_at.take();
        if self.song_failed[self.current].is_some() {
            self.refuse(cue, what);
            return;
        }
        match stop::fence_for(cue, self.stage.fenced_at(self.deck).is_some()) {
            stop::Fence::Raise => {
                let at = hold_at.unwrap_or(received);
                self.stage.fence(self.deck, at);
                self.stops
                    .held(clock::stamp(clock::now()), hold_at.is_some());
            }
            stop::Fence::Keep => {}
            stop::Fence::Relocate => {
                self.stage.relocate(self.deck, clock::now());
                self.stops.moved_on();
            }
            stop::Fence::Lift => {
                self.stage.unfence();
                self.stops.moved_on();
            }
        }
        if !matches!(cue, Cue::Speed { .. }) {
            // Another cue overrides a start still waiting for its time.
            self.cancel_start();
            self.started_from_s = None;
            let deck = &mut self.decks[self.deck];
            deck.cued_s = match cue {
                Cue::Arm => Some(0.0),
                Cue::Locate {
                    position_s,
                    play: false,
                } => Some(position_s),
                _ => None,
            };
            if matches!(
                cue,
                Cue::Arm | Cue::PlayFromTop | Cue::Locate { .. } | Cue::Jump { .. }
            ) {
                deck.seeks.sent(clock::stamp(clock::now()));
            }
            if let Cue::Arm | Cue::PlayFromTop | Cue::Locate { .. } | Cue::Jump { .. } = cue {
                deck.sought_s = Some(match cue {
                    Cue::Locate { position_s, .. } | Cue::Jump { position_s, .. } => position_s,
                    _ => 0.0,
                });
                // Its end, if it reaches one, is this seek's.
                deck.at_end = false;
            }
        }
        if cue.plays() {
            self.lift_black();
        }
        if cue.plays() || matches!(cue, Cue::Arm | Cue::Locate { .. }) {
            self.leave_idle(what);
        }
        let mpv = self.mpv();
        let result = match cue {
            Cue::Play => mpv.set_flag_async("pause", false),
            Cue::PlayFromTop => mpv
                .command_async(&["seek", "0", "absolute+exact"])
                .and_then(|_| mpv.set_flag_async("pause", false)),
            Cue::Hold => mpv.set_flag_async("pause", true),
            Cue::Arm => mpv
                .set_flag_async("pause", true)
                .and_then(|_| mpv.command_async(&["seek", "0", "absolute+exact"])),
            Cue::Locate { position_s, play } => {
                let target = seek_target(position_s, self.decks[self.deck].frame_s);
                if play {
                    mpv.command_async(&["seek", &target, "absolute+exact"])
                        .and_then(|_| mpv.set_flag_async("pause", false))
                } else {
                    mpv.set_flag_async("pause", true)
                        .and_then(|_| mpv.command_async(&["seek", &target, "absolute+exact"]))
                }
            }
            Cue::Speed { speed } => mpv.set_double_async("speed", speed),
            Cue::Jump { position_s, speed } => mpv
                .set_double_async("speed", speed)
                .and_then(|_| {
                    let target = seek_target(position_s, self.decks[self.deck].frame_s);
                    mpv.command_async(&["seek", &target, "absolute+exact"])
                })
                .and_then(|_| mpv.set_flag_async("pause", false)),
            Cue::Resume { speed } => mpv
                .set_double_async("speed", speed)
                .and_then(|_| mpv.set_flag_async("pause", false)),
        };
        let latency = clock::now().saturating_duration_since(received);
        if result.is_ok()
            && matches!(cue, Cue::Play | Cue::Resume { .. })
            && self.decks[self.deck].at_end
        {
            // Played where there is nothing more to play: mpv says no more about it.
            self.video_ended(self.deck);
        }
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

    pub(crate) fn no_video_track(video: &Path) -> String {
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
            self.show.songs[self.current].video.display()
        );
        (self.notify)(Notice::Ready { since_start_ms });
        // Before the first Start the audience sees the walk-in loop, not frame 0.
        self.show_idle();
    }
}

/// `a - b` in milliseconds, either sign.
/// The seek target that shows the first frame starting at or after `position_s`, the frame
/// [`plan::plan`] takes a cued deck to show. mpv shows the first frame whose time is no more
/// than 5 ms before the target: sent to the position itself, a frame starting up to 5 ms before
/// it was shown instead (a locate to 19.125 s showed the frame at 19.12 s at 25 fps, and the
/// start from it came a whole frame late). Aimed a quarter frame before that frame, the frame
/// before it is always skipped.
fn seek_target(position_s: f64, frame_s: Option<f64>) -> String {
    let Some(frame_s) = frame_s.filter(|f| f.is_finite() && *f > 0.001) else {
        return format!("{:.6}", position_s.max(0.0));
    };
    let k = ((position_s / frame_s) - 1e-6).ceil().max(0.0);
    format!("{:.6}", (k * frame_s - frame_s / 4.0).max(0.0))
}

fn signed_ms(a: Instant, b: Instant) -> f64 {
    if a >= b {
        a.duration_since(b).as_secs_f64() * 1000.0
    } else {
        -(b.duration_since(a).as_secs_f64() * 1000.0)
    }
}

fn describe_preload(preload: Preload) -> String {
    match preload {
        Preload::All => "every song".into(),
        Preload::Neighbours(n) => format!(
            "{n} song{} on each side of the one on screen",
            if n == 1 { "" } else { "s" }
        ),
    }
}

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

#[cfg(test)]
mod tests {
    use super::{media::is_media_error, seek_target};

    #[test]
    fn a_seek_aims_a_quarter_frame_before_the_frame_it_shows() {
        // 19.125 s at 25 fps: the frame at 19.16 s is shown (the plan's convention), aimed at
        // 19.15 s so that the frame at 19.12 s (5 ms before the position) is skipped.
        assert_eq!(seek_target(19.125, Some(0.04)), "19.150000");
        // On a frame's start: that frame.
        assert_eq!(seek_target(2.0, Some(0.04)), "1.990000");
        assert_eq!(seek_target(0.0, Some(0.04)), "0.000000");
        // No frame rate known: the position itself.
        assert_eq!(seek_target(19.125, None), "19.125000");
    }

    #[test]
    fn decoding_errors_are_taken_from_the_songs_own_core_only() {
        // What mpv said while playing a file cut short, and one with a broken index.
        assert!(is_media_error(
            "lavf",
            "warn",
            "error reading packet: Invalid data found when processing input.",
            true
        ));
        assert!(is_media_error(
            "vd",
            "warn",
            "Error while decoding frame!",
            true
        ));
        // Another deck's, or FFmpeg's (which reach whichever core), or not an error.
        assert!(!is_media_error(
            "vd",
            "warn",
            "Error while decoding frame!",
            false
        ));
        assert!(!is_media_error(
            "ffmpeg/video",
            "error",
            "h264: Invalid NAL unit size",
            true
        ));
        assert!(!is_media_error("vo/libmpv", "error", "render error", true));
        assert!(!is_media_error(
            "vd",
            "warn",
            "Using software decoding.",
            true
        ));
    }

    #[test]
    fn the_offset_is_written_into_the_show_file_keeping_its_comments() {
        let dir = std::env::temp_dir().join(format!("playhead-offset-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("show.playhead.toml");
        std::fs::write(
            &file,
            "# the tour\nname = \"Tour\"\noffset_ms = 60   # projector\n\n[[song]]\nvideo = \"a.mp4\"\n",
        )
        .unwrap();
        super::write_offset(&file, 72.5).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("offset_ms = 72.5   # projector"), "{text}");
        assert!(text.starts_with("# the tour\n"), "{text}");
        super::write_offset(&file, -40.0).unwrap();
        let show = crate::show::Show::load(&file).unwrap();
        assert_eq!(show.offset_ms, Some(-40.0));
        // A file without the key gets it.
        std::fs::write(&file, "[[song]]\nvideo = \"a.mp4\"\n").unwrap();
        super::write_offset(&file, 33.0).unwrap();
        assert_eq!(
            crate::show::Show::load(&file).unwrap().offset_ms,
            Some(33.0)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_outputs_offset_is_written_into_its_own_table() {
        let dir =
            std::env::temp_dir().join(format!("playhead-output-offset-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("show.playhead.toml");
        std::fs::write(
            &file,
            "offset_ms = 30 # projectors\n\
             [[output]]\nname = \"left\"\n\
             [[output]]\nname = \"led\"\noffset_ms = 80 # the LED processor\n\
             [[song]]\nvideo = \"a.mp4\"\n",
        )
        .unwrap();
        super::write_output_offset(&file, "led", 92.5).unwrap();
        super::write_output_offset(&file, "left", 31.0).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.contains("offset_ms = 92.5 # the LED processor"),
            "{text}"
        );
        assert!(text.contains("offset_ms = 30 # projectors"), "{text}");
        let show = crate::show::Show::parse(&text, &file).unwrap();
        assert_eq!(show.outputs[0].offset_ms, Some(31.0));
        assert_eq!(show.outputs[1].offset_ms, Some(92.5));
        assert_eq!(show.offset_ms, Some(30.0));
        let e = super::write_output_offset(&file, "wall", 1.0).unwrap_err();
        assert!(e.contains("no [[output]] named \"wall\""), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
