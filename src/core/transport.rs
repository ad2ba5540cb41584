//! The transport state machine: what the video should do, given what the DAW said.
//!
//! Pure logic: MIDI events, operator commands and the player's position reports in, [`Cue`]s
//! for the player out. No libmpv, no clocks read here: every input carries its time
//! on the one clock (a [`crate::time::Stamp`]).
//!
//! There are two follow modes.
//!
//! # "start": play only from the top (the rule of the original rtpmidid + mpv set-up)
//!
//! ```text
//!                SPP 0 / Home key                      Start / space
//!   ┌────────┐ ─────────────────────▶ ┌───────┐ ───────────────────────▶ ┌─────────┐
//!   │Stopped │                        │ Armed │                          │ Playing │
//!   └────────┘ ◀───────────────────── └───────┘ ◀─────── SPP 0 ──┐      └─────────┘
//!     ▲   │          SPP n > 0                                   │          │
//!     │   └───────── Start: locate to frame 0 and play ───────────┼─────────▶│
//!     └──────────────────────── Stop / space ─────────────────────┴──────────┘
//! ```
//!
//! | state   | event               | next    | cue                      |
//! |---------|---------------------|---------|--------------------------|
//! | Armed   | Start               | Playing | `Play` (already on frame 0: instant) |
//! | Stopped | Start               | Playing | `PlayFromTop` (locate to 0, then play) |
//! | Playing | Start               | Playing | `PlayFromTop` (the DAW restarted the song) |
//! | Playing | Stop                | Stopped | `Hold` (pause, keep the frame) |
//! | Stopped | SPP 0               | Armed   | `Arm` (locate to frame 0, paused) |
//! | Armed   | SPP n > 0           | Stopped | none: the video stays, Start will locate |
//! | Playing | SPP n               | Playing | none: a locate while playing is not followed |
//! | any     | Continue            | same    | none: this mode plays only from the top |
//! | any     | Clock               | same    | none: counted, moves the song position while running |
//!
//! Start means "from the beginning" in the MIDI specification, and Reaper sends it with no SPP
//! before it, so a Start always plays from frame 0. Being armed only makes it instant.
//!
//! # "chase": follow the DAW anywhere in the song (the default)
//!
//! The song position (from SPP and clock, or from MIDI Time Code) is turned into a video time:
//! song position → seconds through the tempo (a tempo map, a fixed BPM, or the tempo measured
//! from the clock), plus the latency offset; or timecode − the video's start timecode, plus
//! the offset.
//!
//! | state   | event                  | next    | cue |
//! |---------|------------------------|---------|-----|
//! | stopped | SPP n                  | Stopped (Armed when n = 0) | `Locate` paused: the operator sees where the song will start |
//! | any     | Start                  | Playing | `Play` when already cued at the top, else `Locate` to the top, playing |
//! | any     | Continue               | Playing | `Play` when already cued at the song position, else `Locate` there, playing |
//! | Playing | SPP n (loop jump)      | Playing | `Locate` to n, playing |
//! | Playing | Stop                   | Stopped | `Hold` |
//! | stopped | MTC full frame         | Stopped | `Locate` paused |
//! | stopped | MTC running forward    | Playing | `Locate` to the timecode, playing |
//! | Playing | MTC stops (no quarter frame for [`TIMECODE_STOPPED_S`]) | Stopped | `Hold` |
//! | Playing | clock / timecode, video position reports | Playing | drift correction: `Speed`, `Locate`, `Hold`/`Play` (before the video start), see [`crate::chase::drift`] |
//!
//! MIDI Machine Control (addressed to 0x7F, or to the show file's `mmc_device`):
//!
//! | state   | event                  | next    | cue |
//! |---------|------------------------|---------|-----|
//! | stopped | MMC Locate             | Stopped | `Locate` paused to the timecode (through the song's timecode start, like MTC) |
//! | Playing | MMC Locate             | Playing | `Locate` to the timecode, playing |
//! | stopped | MMC Play, Deferred Play | Playing | `Play` from the frame on screen (the cue of the last locate) |
//! | Playing | MMC Stop, Pause        | Stopped | `Hold` |
//!
//! MMC carries no running position: after an MMC Play the video runs freely unless timecode
//! (MTC) arrives too, which then becomes the reference. In the "start" mode MMC Play plays
//! only when armed (like Start), Stop and Pause hold, and Locate is not followed.
//!
//! # Several sources at once
//!
//! The reference while playing is the first running of: LTC ([`Transport::on_ltc`]), MTC
//! quarter frames, MIDI clock counted from SPP. A lower source is only noted while a higher
//! one runs. When the one leading stops (LTC: nothing for the free-wheel time; MTC: nothing
//! for [`TIMECODE_STOPPED_S`]) and a lower one still runs, that one leads from its next
//! message and the drift controller carries on (no seek unless the two disagree by more than
//! the seek threshold); with none running, the video holds. MMC commands act whatever leads.
//!
//! When timecode is arriving it is the reference (it needs no tempo); otherwise the clock is.
//! When the reference stops arriving while playing, the video plays on freely ("clock lost:
//! free-running") and locks again when it returns.
//!
//! Operator keys: space plays from the frame on screen (or holds, when playing); Home arms at
//! the top.

use crate::chase::drift::{Correction, DawReference, DriftConfig, DriftController, LockState};
use crate::chase::position::SongPosition;
use crate::chase::tempo::{ClockTempoConfig, ClockTempoEstimator, TempoMap};
use crate::chase::timecode::{Direction, QuarterFrameAssembler, Timecode, VideoStart};
use crate::parse::{MachineCommand, MidiEvent};
use crate::time::Stamp;

/// With timecode as the reference, this long without a quarter frame means the DAW stopped
/// (MTC sends 96 to 120 quarter frames a second while running).
pub const TIMECODE_STOPPED_S: f64 = 0.25;

/// How long LTC may drop out while playing before playhead takes it that the DAW stopped,
/// by default: the video free-wheels on through shorter dropouts (`--ltc-freewheel-ms`).
pub const LTC_FREEWHEEL_S: f64 = 0.25;

/// Tempo assumed for a mid-song start when neither a tempo map, a fixed BPM nor the clock has
/// given one yet; corrected as soon as the clock tells.
pub const FALLBACK_BPM: f64 = 120.0;

/// How long a Start or Continue waits for the clock that follows it, in clock intervals at
/// the song's tempo, and the bounds of that wait in seconds (see [`Transport::on_midi_received`]).
const CLOCK_WAIT_INTERVALS: f64 = 1.5;
const CLOCK_WAIT_MIN_S: f64 = 0.005;
const CLOCK_WAIT_MAX_S: f64 = 0.06;

/// A Start or Continue waiting for its first clock: by the MIDI specification the song starts
/// on the first clock after it, not on the Start itself.
#[derive(Clone, Copy, Debug)]
struct PendingStart {
    /// Where the video starts (video seconds, with the offset).
    video_s: f64,
    /// When the Start or Continue came: the start falls back to it when no clock follows.
    at_s: f64,
    /// When to stop waiting for the clock.
    give_up_s: f64,
    /// The position is the song position in clocks (Start, Continue, SPP), which folded clocks
    /// move on; not an MMC locate's timecode.
    by_clock: bool,
    /// A jump while the song runs (a Song Position): no clock after it says nothing of whether
    /// this DAW sends clocks after a Start.
    jump: bool,
}

/// How the video follows the DAW.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowMode {
    /// Play only when the DAW starts from the top (SPP 0 arms, Start plays).
    Start,
    /// Follow the DAW's position anywhere in the song, with drift correction.
    Chase,
}

impl FollowMode {
    /// Every mode, with the word the command line and the show file use for it.
    pub const ALL: [(FollowMode, &'static str); 2] =
        [(FollowMode::Start, "start"), (FollowMode::Chase, "chase")];

    /// The word for this mode.
    pub fn name(self) -> &'static str {
        match self {
            FollowMode::Start => "start",
            FollowMode::Chase => "chase",
        }
    }
}

impl std::str::FromStr for FollowMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        FollowMode::ALL
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(text.trim()))
            .map(|(mode, _)| *mode)
            .ok_or_else(|| format!("'{text}' is not a follow mode: use \"chase\" or \"start\""))
    }
}

impl std::fmt::Display for FollowMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Settings of the chase mode.
#[derive(Clone, Debug)]
pub struct ChaseSettings {
    /// Tempo for song position → seconds; `None` to measure it from the MIDI clock.
    pub tempo_map: Option<TempoMap>,
    /// Shifts the video against the DAW, in seconds: positive shows the video earlier (to make
    /// up for a projector's latency), negative later.
    pub offset_s: f64,
    /// The timecode at which the video's first frame plays.
    pub video_start: Timecode,
    /// Drift-correction thresholds.
    pub drift: DriftConfig,
    /// How long LTC may drop out while playing before the video holds, in seconds.
    pub ltc_freewheel_s: f64,
}

impl Default for ChaseSettings {
    fn default() -> Self {
        ChaseSettings {
            tempo_map: None,
            offset_s: 0.0,
            video_start: Timecode::from_frame_count(0, crate::chase::timecode::FrameRate::Fps30),
            drift: DriftConfig::default(),
            ltc_freewheel_s: LTC_FREEWHEEL_S,
        }
    }
}

/// Where the video stands relative to the DAW.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Paused on the song's start, ready: Start plays at once.
    Armed,
    /// Running (or, in chase mode, waiting paused for the DAW to reach the video's start).
    Playing,
    /// Paused on some frame (after Stop, or a locate away from the top).
    Stopped,
}

/// What the player must do now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cue {
    /// Show frame 0 and stay paused.
    Arm,
    /// Start playing from the frame on screen.
    Play,
    /// Show frame 0 and start playing from it.
    PlayFromTop,
    /// Pause and keep the frame on screen.
    Hold,
    /// Show the frame at `position_s` (video seconds, never negative), then play or stay paused.
    Locate { position_s: f64, play: bool },
    /// Set the playback speed (1.0 = normal).
    Speed { speed: f64 },
    /// Drift correction: seek to `position_s` and play on at `speed`.
    Jump { position_s: f64, speed: f64 },
    /// Drift correction: unpause at `speed` (the DAW reached the video's start).
    Resume { speed: f64 },
}

impl Cue {
    /// True for the cues that set the picture moving.
    pub fn plays(&self) -> bool {
        matches!(
            self,
            Cue::Play
                | Cue::PlayFromTop
                | Cue::Locate { play: true, .. }
                | Cue::Jump { .. }
                | Cue::Resume { .. }
        )
    }
}

/// A command from the operator at the video machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorCommand {
    /// Space: play from the frame on screen, or hold when playing.
    TogglePlay,
    /// Home: back to the top and arm.
    Rewind,
}

/// Which DAW signal gives the position while playing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    /// MIDI clock counted from SPP / Start.
    Clock,
    /// MIDI Time Code.
    Timecode,
    /// Linear timecode (LTC) from an audio input.
    Ltc,
}

impl Reference {
    /// The word the overlay, the status line and `--check` use for it.
    pub fn label(self) -> &'static str {
        match self {
            Reference::Clock => "MIDI clock",
            Reference::Timecode => "MTC",
            Reference::Ltc => "LTC",
        }
    }
}

/// The chase mode's state: tempo, timecode and the drift controller.
#[derive(Clone, Debug)]
struct Chaser {
    settings: ChaseSettings,
    video_start: VideoStart,
    estimator: ClockTempoEstimator,
    /// The last tempo the clock gave, kept across stops for the next mid-song start.
    measured_bpm: Option<f64>,
    quarter_frames: QuarterFrameAssembler,
    last_quarter_frame_s: Option<f64>,
    drift: DriftController,
    reference: Option<DawReference>,
    reference_kind: Option<Reference>,
    /// Clocks received since Start/Continue: the first one marks the position itself.
    clocks_since_start: u64,
    /// Where the video is cued while stopped, in video seconds.
    cued_s: Option<f64>,
    /// Parked (paused) position while waiting for the DAW to reach the video start.
    parked_s: Option<f64>,
    /// The last LTC frame: its timecode and when it was true (its start).
    last_ltc: Option<(Timecode, f64)>,
    /// When the last LTC frame was received (its end, decoded).
    last_ltc_received_s: Option<f64>,
    /// When the last MIDI clock arrived while the DAW ran.
    last_clock_s: Option<f64>,
    /// The last clock came after a gap of this many clocks' time: lost clocks, if the next
    /// comes at the tempo from before the gap (see [`Chaser::lost_clocks`]).
    gap: Option<ClockGap>,
    /// Clocks counted that never came (a sender that skipped them, a lost packet).
    clocks_recovered: u64,
    /// A Start or Continue waiting for the clock that starts the song.
    pending: Option<PendingStart>,
    /// The DAW's last Start or Continue had no clock after it: the next is not waited on.
    starts_without_clock: bool,
}

/// The transport: the state, the DAW's song position, and counters for the operator.
#[derive(Clone, Debug)]
pub struct Transport {
    mode: FollowMode,
    state: State,
    /// True between the DAW's Start/Continue and its Stop, whatever the video does.
    daw_running: bool,
    /// The DAW's song position in MIDI clocks, when known.
    song_position_clocks: Option<u32>,
    clocks_received: u64,
    chase: Option<Box<Chaser>>,
    /// The MMC device ID this playhead answers to besides the all-call 0x7F.
    mmc_device: Option<u8>,
}

impl Default for Transport {
    fn default() -> Self {
        Self::new()
    }
}

/// The song position of a Song Position Pointer, in MIDI clocks (14 bits of sixteenths fit a
/// u32 many times over).
fn spp_clocks(sixteenths: u16) -> u32 {
    let clocks = u64::from(sixteenths) * crate::chase::position::CLOCKS_PER_SIXTEENTH;
    u32::try_from(clocks).unwrap_or(u32::MAX)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.0005
}

impl Transport {
    /// A "start"-mode transport armed on frame 0: the video is loaded paused on its first frame.
    pub fn new() -> Self {
        Transport {
            mode: FollowMode::Start,
            state: State::Armed,
            daw_running: false,
            song_position_clocks: None,
            clocks_received: 0,
            chase: None,
            mmc_device: None,
        }
    }

    /// A transport in `mode`; `settings` are used in chase mode. Fails when the drift
    /// thresholds are invalid.
    pub fn with_mode(
        mode: FollowMode,
        settings: ChaseSettings,
    ) -> Result<Self, crate::chase::ChaseError> {
        let mut t = Transport::new();
        t.mode = mode;
        if mode == FollowMode::Chase {
            let drift = DriftController::new(settings.drift)?;
            let estimator = ClockTempoEstimator::new(ClockTempoConfig::default())?;
            let mut chaser = Chaser {
                video_start: VideoStart::new(settings.video_start),
                settings,
                estimator,
                measured_bpm: None,
                quarter_frames: QuarterFrameAssembler::new(),
                last_quarter_frame_s: None,
                drift,
                reference: None,
                reference_kind: None,
                clocks_since_start: 0,
                cued_s: None,
                parked_s: None,
                last_ltc: None,
                last_ltc_received_s: None,
                last_clock_s: None,
                gap: None,
                clocks_recovered: 0,
                pending: None,
                starts_without_clock: false,
            };
            // Loaded on frame 0: that is the top only without a positive offset.
            chaser.cued_s = Some(0.0);
            if chaser.video_s_at_clocks(0) > 0.0005 {
                t.state = State::Stopped;
            }
            t.chase = Some(Box::new(chaser));
        }
        Ok(t)
    }

    /// Answers MIDI Machine Control sent to `device` as well as to the all-call 0x7F (the show
    /// file's `mmc_device`); `None` answers only the all-call.
    pub fn set_mmc_device(&mut self, device: Option<u8>) {
        self.mmc_device = device;
    }

    /// The follow mode.
    pub fn mode(&self) -> FollowMode {
        self.mode
    }

    /// Changes the latency offset (seconds, positive: the video earlier). In the chase mode a
    /// playing video moves onto it through the drift correction; a cued one at the next
    /// locate or start.
    pub fn set_offset_s(&mut self, offset_s: f64) {
        if let Some(c) = self.chase.as_mut() {
            let delta = offset_s - c.settings.offset_s;
            c.settings.offset_s = offset_s;
            if let Some(r) = c.reference.as_mut() {
                r.position_s += delta;
            }
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The DAW's song position in MIDI clocks (6 per sixteenth note), when known.
    pub fn song_position_clocks(&self) -> Option<u32> {
        self.song_position_clocks
    }

    /// MIDI clocks received so far.
    pub fn clocks_received(&self) -> u64 {
        self.clocks_received
    }

    /// MIDI clocks counted that never came (chase mode only): see [`Chaser::lost_clocks`].
    pub fn clocks_recovered(&self) -> u64 {
        self.chase.as_ref().map_or(0, |c| c.clocks_recovered)
    }

    /// What the drift controller is doing (chase mode only).
    pub fn lock_state(&self) -> Option<LockState> {
        self.chase.as_ref().map(|c| c.drift.state())
    }

    /// The DAW's song position as bar and beat, through the tempo map when there is one (4/4
    /// otherwise).
    pub fn bar_beat(&self) -> Option<crate::chase::position::BarBeat> {
        let position = SongPosition::from_clocks(u64::from(self.song_position_clocks?));
        let map = self
            .chase
            .as_ref()
            .and_then(|c| c.settings.tempo_map.as_ref());
        Some(match map {
            Some(map) => map.bar_beat_at(position),
            None => position.bar_beat(crate::chase::position::TimeSignature::FOUR_FOUR),
        })
    }

    /// The tempo in use for song positions, in BPM, when known (chase mode only).
    pub fn tempo_bpm(&self) -> Option<f64> {
        let c = self.chase.as_ref()?;
        match &c.settings.tempo_map {
            Some(map) => Some(map.bpm_at(SongPosition::from_clocks(u64::from(
                self.song_position_clocks.unwrap_or(0),
            )))),
            None => c.estimator.bpm().or(c.measured_bpm),
        }
    }

    /// The filtered sync error (DAW − video) in seconds, when the controller has one.
    pub fn sync_error_s(&self) -> Option<f64> {
        self.chase.as_ref()?.drift.filtered_error_s()
    }

    /// Which DAW signal is the position reference now.
    pub fn reference(&self) -> Option<Reference> {
        self.chase.as_ref()?.reference_kind
    }

    /// Applies a MIDI event received at `at`; returns the cue for the player, if any.
    pub fn on_midi(&mut self, event: MidiEvent, at: Stamp) -> Option<Cue> {
        self.on_midi_received(event, at, at)
    }

    /// [`Transport::on_midi`] for a message meant at `at` and received at `received`.
    ///
    /// In the chase mode a Start or Continue stamped at or before its receipt waits for the
    /// clock that follows it: by the MIDI specification the song starts on that clock, and DAWs
    /// send it anywhere from together with the Start (Live, x42's jack_midi_clock mid-song) to a
    /// JACK cycle or a whole clock interval later (jack_midi_clock from the top). The video is
    /// cued at the position at once, so the clock only has to unpause it; the start is then
    /// timed from the clock's own stamp. When no clock comes within 1.5 clock intervals at the
    /// song's tempo (5 to 60 ms), the start is timed from the Start's stamp after all
    /// ([`Transport::late_start`]), and the DAW's next Start or Continue is not waited on until
    /// it sends clock again. A Start stamped ahead (Link's launch) is timed from its stamp.
    pub fn on_midi_received(
        &mut self,
        event: MidiEvent,
        at: Stamp,
        received: Stamp,
    ) -> Option<Cue> {
        let at_s = at.secs_f64();
        if let MidiEvent::MachineControl { device, .. } = event {
            if !crate::parse::mmc_addressed_to(device, self.mmc_device) {
                return None;
            }
        }
        if self.chase.is_some() {
            return self.chase_midi(event, at_s, received.secs_f64());
        }
        self.start_mode_midi(event)
    }

    /// When a Start or Continue (or a jump while the song runs) waiting for its clock stops
    /// waiting, if one waits.
    pub fn start_deadline(&self) -> Option<Stamp> {
        let p = self.chase.as_ref()?.pending?;
        Some(Stamp::from_secs_f64(p.give_up_s))
    }

    /// A Start or Continue whose clock did not come by `now`: the cue that starts the video,
    /// and the Start's stamp, from which the start is timed.
    pub fn late_start(&mut self, now: Stamp) -> Option<(Cue, Stamp)> {
        let c = self.chase.as_mut()?;
        let p = c.pending?;
        if now.secs_f64() < p.give_up_s {
            return None;
        }
        c.pending = None;
        c.starts_without_clock |= !p.jump;
        let cue = self.go(p.video_s, true, p.at_s)?;
        Some((cue, Stamp::from_secs_f64(p.at_s)))
    }

    /// A Song Position to `clocks` (video time `video_s`) at `at_s` while the song runs: the
    /// video plays on as it is until the clock after it, which starts it from there (a Stop
    /// before that clock holds the video where it is, as the DAW's).
    fn jump_on_clock(
        &mut self,
        clocks: u32,
        video_s: f64,
        at_s: f64,
        received_s: f64,
    ) -> Option<Cue> {
        let c = self.chaser();
        if c.starts_without_clock || !c.clock_running(at_s) {
            // No clock to wait for (a DAW that sends none, or the song runs on timecode).
            return self.go(video_s, true, at_s);
        }
        let interval_s =
            c.video_s_at_clocks(clocks.saturating_add(1)) - c.video_s_at_clocks(clocks);
        let wait_s = (CLOCK_WAIT_INTERVALS * interval_s).clamp(CLOCK_WAIT_MIN_S, CLOCK_WAIT_MAX_S);
        c.pending = Some(PendingStart {
            video_s,
            at_s,
            give_up_s: at_s.max(received_s) + wait_s,
            by_clock: true,
            jump: true,
        });
        None
    }

    /// A Start or Continue to `clocks` (video time `video_s`) at `at_s`: waits for its clock,
    /// with the video cued there meanwhile (see [`Transport::on_midi_received`]).
    fn start_on_clock(
        &mut self,
        clocks: u32,
        video_s: f64,
        at_s: f64,
        received_s: f64,
        by_clock: bool,
    ) -> Option<Cue> {
        let stamped_ahead = at_s > received_s + 0.0005;
        if stamped_ahead || self.chaser().starts_without_clock {
            return self.go(video_s, true, at_s);
        }
        let c = self.chaser();
        let interval_s =
            c.video_s_at_clocks(clocks.saturating_add(1)) - c.video_s_at_clocks(clocks);
        let wait_s = (CLOCK_WAIT_INTERVALS * interval_s).clamp(CLOCK_WAIT_MIN_S, CLOCK_WAIT_MAX_S);
        c.pending = Some(PendingStart {
            video_s,
            at_s,
            // From its receipt: a Start taken late (a busy player, a stamp well before its
            // receipt) still waits for the clock queued behind it.
            give_up_s: at_s.max(received_s) + wait_s,
            by_clock,
            jump: false,
        });
        if video_s < 0.0 {
            // Parked on frame 0 until the DAW gets there: nothing to cue.
            return None;
        }
        self.go(video_s, false, at_s)
    }

    /// `count` clock ticks that the player could not take one by one (it fell behind and the
    /// inlet folded them), the last of them received at `latest`. They count and move the song
    /// position exactly as `count` single clocks would. Only the last one's receipt time is
    /// known, so the tempo estimate starts afresh from it: fitting the folded ticks as one tick
    /// would read a gap of `count` clocks as one clock and report a tempo the DAW never played.
    pub fn on_clocks(&mut self, count: u64, latest: Stamp) -> Option<Cue> {
        if count == 0 {
            return None;
        }
        let before_last = count - 1;
        self.clocks_received = self.clocks_received.saturating_add(before_last);
        if self.chase.is_none() {
            if self.daw_running {
                if let Some(p) = self.song_position_clocks.as_mut() {
                    *p = p.saturating_add(u32::try_from(before_last).unwrap_or(u32::MAX));
                }
            }
            return self.on_midi(MidiEvent::Clock, latest);
        }
        if self.daw_running && before_last > 0 {
            let c = self.chaser();
            // The first clock after Start/Continue/SPP is the position itself (see Clock).
            let moves = if c.clocks_since_start > 0 {
                before_last
            } else {
                before_last - 1
            };
            c.clocks_since_start = c.clocks_since_start.saturating_add(before_last);
            c.estimator.reset();
            if let Some(p) = self.song_position_clocks.as_mut() {
                *p = p.saturating_add(u32::try_from(moves).unwrap_or(u32::MAX));
            }
        }
        self.on_midi(MidiEvent::Clock, latest)
    }

    fn start_mode_midi(&mut self, event: MidiEvent) -> Option<Cue> {
        match event {
            MidiEvent::Start => {
                self.daw_running = true;
                self.song_position_clocks = Some(0);
                let cue = if self.state == State::Armed {
                    Cue::Play
                } else {
                    Cue::PlayFromTop
                };
                self.state = State::Playing;
                Some(cue)
            }
            MidiEvent::Stop | MidiEvent::Reset => {
                self.daw_running = false;
                if self.state == State::Playing {
                    self.state = State::Stopped;
                    Some(Cue::Hold)
                } else {
                    None
                }
            }
            MidiEvent::Continue => {
                self.daw_running = true;
                None
            }
            MidiEvent::SongPosition { sixteenths } => {
                self.song_position_clocks = Some(spp_clocks(sixteenths));
                match (self.state, sixteenths) {
                    (State::Stopped, 0) => {
                        self.state = State::Armed;
                        Some(Cue::Arm)
                    }
                    (State::Armed, 1..) => {
                        self.state = State::Stopped;
                        None
                    }
                    _ => None,
                }
            }
            MidiEvent::Clock => {
                self.count_clock();
                None
            }
            MidiEvent::MachineControl { command, .. } => match command {
                MachineCommand::Play | MachineCommand::DeferredPlay => {
                    self.daw_running = true;
                    if self.state == State::Armed {
                        self.state = State::Playing;
                        Some(Cue::Play)
                    } else {
                        None
                    }
                }
                MachineCommand::Stop | MachineCommand::Pause => {
                    self.start_mode_midi(MidiEvent::Stop)
                }
                MachineCommand::Locate { .. } => None,
            },
            MidiEvent::SongSelect { .. }
            | MidiEvent::ProgramChange { .. }
            | MidiEvent::TimecodeQuarterFrame { .. }
            | MidiEvent::TimecodeFull { .. } => None,
        }
    }

    fn count_clock(&mut self) {
        self.clocks_received += 1;
        if self.daw_running {
            if let Some(p) = self.song_position_clocks.as_mut() {
                *p = p.saturating_add(1);
            }
        }
    }

    fn chaser(&mut self) -> &mut Chaser {
        // Only called in chase mode, where `chase` is always set.
        self.chase
            .as_mut()
            .expect("chase state exists in chase mode")
    }

    /// Locate (or play in place, when the video is already cued there) at `video_s`.
    fn go(&mut self, video_s: f64, play: bool, at_s: f64) -> Option<Cue> {
        let was_cued = {
            let c = self.chaser();
            let cued = c.cued_s.is_some_and(|s| close(s, video_s.max(0.0)));
            c.drift.reset();
            c.parked_s = None;
            c.cued_s = if play { None } else { Some(video_s.max(0.0)) };
            if play {
                c.reference = Some(DawReference {
                    position_s: video_s,
                    received_at_s: at_s,
                });
                // Started (by timecode, say): no start waits for a clock any more.
                c.pending = None;
            }
            cued
        };
        if play {
            self.state = State::Playing;
            if video_s < 0.0 {
                // The DAW starts before the video does: wait on frame 0 until it gets there.
                self.chaser().parked_s = Some(0.0);
                return Some(Cue::Locate {
                    position_s: 0.0,
                    play: false,
                });
            }
            if was_cued {
                return Some(Cue::Play);
            }
        } else {
            self.state = if self.song_position_clocks == Some(0) {
                State::Armed
            } else {
                State::Stopped
            };
            if was_cued {
                return None;
            }
        }
        Some(Cue::Locate {
            position_s: video_s.max(0.0),
            play,
        })
    }

    fn hold(&mut self) -> Option<Cue> {
        let c = self.chaser();
        // Nothing starts after a hold by itself (timecode that stopped holds too).
        c.pending = None;
        c.drift.reset();
        c.reference = None;
        c.reference_kind = None;
        c.parked_s = None;
        c.cued_s = None;
        if self.state == State::Playing {
            self.state = State::Stopped;
            Some(Cue::Hold)
        } else {
            None
        }
    }

    fn chase_midi(&mut self, event: MidiEvent, at_s: f64, received_s: f64) -> Option<Cue> {
        // A newer word from the DAW replaces a start still waiting for its clock.
        let pending = if event.is_transport() {
            self.chaser().pending.take()
        } else {
            None
        };
        let was_pending = pending.is_some();
        match event {
            MidiEvent::Start => {
                self.daw_running = true;
                self.song_position_clocks = Some(0);
                let c = self.chaser();
                c.estimator.reset();
                c.clocks_since_start = 0;
                c.reference_kind.get_or_insert(Reference::Clock);
                let v = c.video_s_at_clocks(0);
                self.start_on_clock(0, v, at_s, received_s, true)
            }
            MidiEvent::Continue => {
                self.daw_running = true;
                let clocks = self.song_position_clocks.unwrap_or(0);
                let c = self.chaser();
                c.estimator.reset();
                c.clocks_since_start = 0;
                c.reference_kind.get_or_insert(Reference::Clock);
                let v = c.video_s_at_clocks(clocks);
                self.start_on_clock(clocks, v, at_s, received_s, true)
            }
            MidiEvent::Stop | MidiEvent::Reset => {
                self.daw_running = false;
                self.chaser().pending = None;
                self.chaser().estimator.reset();
                let held = self.hold();
                match pending.filter(|p| p.jump) {
                    // Stopped between a jump's Song Position and its clock: the DAW stands
                    // where it jumped to, and the picture goes there, paused.
                    Some(p) if held.is_some() => self.go(p.video_s, false, at_s).or(held),
                    _ => held,
                }
            }
            MidiEvent::SongPosition { sixteenths } => {
                let clocks = spp_clocks(sixteenths);
                self.song_position_clocks = Some(clocks);
                // A gap before a jump says nothing about the clocks after it.
                self.chaser().gap = None;
                let v = self.chaser().video_s_at_clocks(clocks);
                if self.state == State::Playing {
                    if self.chaser().timecode_running(at_s) || self.chaser().ltc_running(at_s) {
                        // Timecode leads; a song position while it runs is only noted.
                        return None;
                    }
                    // A loop jump or a locate while running: the next clock is at this position
                    // (the MIDI specification), and the video jumps on that clock, timed by it
                    // (timed by the Song Position, a recorded loop whose clock came 10 ms
                    // after it ran 8 ms early until the drift correction caught up). With no
                    // clock after it, once the wait for one is over ([`Transport::late_start`])
                    // it jumps timed by the Song Position.
                    self.chaser().clocks_since_start = 0;
                    self.jump_on_clock(clocks, v, at_s, received_s)
                } else if was_pending && self.daw_running {
                    // Between a Continue and its clock: the start waits on, from here.
                    self.chaser().clocks_since_start = 0;
                    self.start_on_clock(clocks, v, at_s, received_s, true)
                } else {
                    self.go(v, false, at_s)
                }
            }
            MidiEvent::Clock => {
                self.clocks_received += 1;
                if !self.daw_running {
                    return None;
                }
                // The first clock after a Start or Continue is when the song starts (below,
                // once the clock is counted: folded clocks move the position on first).
                let c = self.chase.as_mut()?;
                c.starts_without_clock = false;
                let pending = c.pending.take();
                // The first clock after Start/Continue/SPP is the position itself; each later
                // one is one clock further, and further still by the clocks a gap before it
                // turned out to have lost.
                if c.clocks_since_start > 0 {
                    let lost = c.lost_clocks(at_s);
                    if let Some(p) = self.song_position_clocks.as_mut() {
                        *p = p.saturating_add(1).saturating_add(lost);
                    }
                } else {
                    c.gap = None;
                }
                c.clocks_since_start += 1;
                c.last_clock_s = Some(at_s);
                if let Some(bpm) = c.estimator.tick(at_s) {
                    c.measured_bpm = Some(bpm);
                }
                if self.state == State::Playing && !c.timecode_running(at_s) && !c.ltc_running(at_s)
                {
                    let clocks = self.song_position_clocks.unwrap_or(0);
                    let received_at_s = c.estimator.latest_tick_fitted_s().unwrap_or(at_s);
                    c.reference = Some(DawReference {
                        position_s: c.video_s_at_clocks(clocks),
                        received_at_s,
                    });
                    c.reference_kind = Some(Reference::Clock);
                }
                let p = pending?;
                let v = match self.song_position_clocks.filter(|_| p.by_clock) {
                    Some(clocks) => self.chaser().video_s_at_clocks(clocks),
                    None => p.video_s,
                };
                self.go(v, true, at_s)
            }
            MidiEvent::TimecodeFull {
                rate_code,
                hours,
                minutes,
                seconds,
                frames,
            } => {
                let tc =
                    Timecode::from_full_frame(rate_code, hours, minutes, seconds, frames).ok()?;
                let c = self.chaser();
                c.quarter_frames.reset();
                let v = c.video_start.video_position_s(tc) + c.settings.offset_s;
                let playing = self.state == State::Playing;
                self.go(v, playing, at_s)
            }
            MidiEvent::TimecodeQuarterFrame { data } => {
                let c = self.chaser();
                let time = c.quarter_frames.push(data, at_s).ok()??;
                c.last_quarter_frame_s = Some(at_s);
                if time.direction != Direction::Forward {
                    return None;
                }
                let v = c.video_start.video_position_s(time.timecode)
                    + c.settings.offset_s
                    + (time.real_time_at_receipt_s() - time.timecode.real_time_s());
                if c.ltc_running(at_s) {
                    // LTC leads (the priority in the module doc): MTC is only noted.
                    return None;
                }
                c.reference_kind = Some(Reference::Timecode);
                if self.state == State::Playing {
                    let c = self.chaser();
                    c.reference = Some(DawReference {
                        position_s: v,
                        received_at_s: at_s,
                    });
                    None
                } else {
                    // Timecode running forward while the video stands: the DAW rolls.
                    self.daw_running = true;
                    self.go(v, true, at_s)
                }
            }
            MidiEvent::MachineControl { command, .. } => {
                let cue = self.chase_mmc(command, at_s);
                let located = matches!(command, MachineCommand::Locate { .. });
                let cued_s = self.chaser().cued_s;
                match cued_s {
                    Some(v)
                        if was_pending
                            && located
                            && self.daw_running
                            && self.state != State::Playing =>
                    {
                        // Between a Continue and its clock: the start waits on, from here.
                        self.chaser().clocks_since_start = 0;
                        let clocks = self.song_position_clocks.unwrap_or(0);
                        match self.start_on_clock(clocks, v, at_s, received_s, false) {
                            // Started at once (this DAW sends no clock): from the new spot.
                            Some(Cue::Play) => Some(Cue::Locate {
                                position_s: v,
                                play: true,
                            }),
                            Some(other) => Some(other),
                            None => cue,
                        }
                    }
                    _ => cue,
                }
            }
            MidiEvent::SongSelect { .. } | MidiEvent::ProgramChange { .. } => None,
        }
    }

    /// MIDI Machine Control in the chase mode (see the module's table).
    fn chase_mmc(&mut self, command: MachineCommand, at_s: f64) -> Option<Cue> {
        match command {
            MachineCommand::Locate {
                rate_code,
                hours,
                minutes,
                seconds,
                frames,
            } => {
                let tc =
                    Timecode::from_full_frame(rate_code, hours, minutes, seconds, frames).ok()?;
                let c = self.chaser();
                let v = c.video_start.video_position_s(tc) + c.settings.offset_s;
                let playing = self.state == State::Playing;
                let cue = self.go(v, playing, at_s);
                if !playing && close(v.max(0.0), 0.0) {
                    self.state = State::Armed;
                }
                cue
            }
            MachineCommand::Play | MachineCommand::DeferredPlay => {
                self.daw_running = true;
                if let Some(v) = self.chaser().cued_s {
                    return self.go(v, true, at_s);
                }
                if self.state == State::Playing {
                    return None;
                }
                // Held after a Stop: play on from the frame on screen, freely until a
                // reference arrives.
                let c = self.chaser();
                c.drift.reset();
                c.reference = None;
                c.parked_s = None;
                self.state = State::Playing;
                Some(Cue::Play)
            }
            MachineCommand::Stop | MachineCommand::Pause => {
                self.daw_running = false;
                self.hold()
            }
        }
    }

    /// A frame of linear timecode: `timecode` was true at `at` (the frame's start on the
    /// audio input, its latency taken off), and the frame was decoded at `received`.
    ///
    /// LTC is followed in the chase mode only, and leads MTC and the clock. While stopped, a
    /// frame that is not the next of the one before (a still, or the first) locates paused;
    /// two frames in a row at about real time mean the DAW rolls: play from there. While
    /// playing each frame is the drift controller's reference; when none has come for the
    /// free-wheel time, the video holds.
    pub fn on_ltc(&mut self, timecode: Timecode, at: Stamp, received: Stamp) -> Option<Cue> {
        let (at_s, received_s) = (at.secs_f64(), received.secs_f64());
        let c = self.chase.as_mut()?;
        let frame_s = timecode.rate().frame_duration_s();
        let rolling = c.last_ltc.is_some_and(|(previous, previous_at_s)| {
            previous.rate() == timecode.rate()
                && previous.add_frames(1) == timecode
                && ((at_s - previous_at_s) - frame_s).abs() < frame_s / 2.0
        });
        c.last_ltc = Some((timecode, at_s));
        c.last_ltc_received_s = Some(received_s);
        let v = c.video_start.video_position_s(timecode) + c.settings.offset_s;
        if self.state == State::Playing && (rolling || c.reference_kind == Some(Reference::Ltc)) {
            // A jump in the timecode (after a dropout, or a locate in the DAW) is left to the
            // drift controller: it seeks when the video is really off, and only then.
            c.reference = Some(DawReference {
                position_s: v,
                received_at_s: at_s,
            });
            c.reference_kind = Some(Reference::Ltc);
            return None;
        }
        if rolling {
            self.daw_running = true;
            c.reference_kind = Some(Reference::Ltc);
            // Where the DAW is now: the frame's time plus the time it took to arrive.
            return self.go(v + (received_s - at_s), true, received_s);
        }
        if self.state == State::Playing {
            // Playing on another reference: a stray LTC frame changes nothing.
            return None;
        }
        self.go(v, false, at_s)
    }

    /// The player's position report while playing: `video_s` was on screen at `now`.
    /// Returns the drift correction, if the video must change.
    pub fn on_video_position(&mut self, now: Stamp, video_s: f64) -> Option<Cue> {
        let now_s = now.secs_f64();
        if self.state != State::Playing {
            return None;
        }
        let c = self.chase.as_mut()?;
        if c.parked_s.is_some() {
            // While parked the video stands still; `on_tick` reports for it.
            return None;
        }
        let correction = c.drift.update(now_s, video_s, c.reference);
        self.apply_correction(correction)
    }

    /// Called regularly (every few tens of milliseconds) by the player: detects timecode that
    /// stopped, and lets a parked video start when the DAW reaches it.
    pub fn on_tick(&mut self, now: Stamp) -> Option<Cue> {
        let now_s = now.secs_f64();
        if self.state != State::Playing {
            return None;
        }
        let c = self.chase.as_mut()?;
        if c.reference_kind == Some(Reference::Ltc) && !c.ltc_running(now_s) {
            // LTC gone for longer than the free-wheel. The next source in the priority takes
            // over where it is (its next message is the reference); with none, the DAW
            // stopped.
            if c.timecode_running(now_s) {
                c.reference_kind = Some(Reference::Timecode);
                return None;
            }
            if self.daw_running && c.clock_running(now_s) {
                c.reference_kind = Some(Reference::Clock);
                return None;
            }
            self.daw_running = false;
            return self.hold();
        }
        if c.reference_kind == Some(Reference::Timecode)
            && c.last_quarter_frame_s
                .is_some_and(|t| now_s - t > TIMECODE_STOPPED_S)
        {
            if self.daw_running && c.clock_running(now_s) {
                c.reference_kind = Some(Reference::Clock);
                return None;
            }
            self.daw_running = false;
            return self.hold();
        }
        let parked_s = c.parked_s?;
        let correction = c.drift.update(now_s, parked_s, c.reference);
        self.apply_correction(correction)
    }

    fn apply_correction(&mut self, correction: Correction) -> Option<Cue> {
        let c = self.chaser();
        match correction {
            Correction::Keep => None,
            Correction::SetSpeed { speed } | Correction::FreeRun { speed } => {
                Some(Cue::Speed { speed })
            }
            Correction::Seek { position_s, speed } => {
                c.parked_s = None;
                Some(Cue::Jump { position_s, speed })
            }
            Correction::Park { position_s } if c.parked_s == Some(position_s) => None,
            Correction::Park { position_s } => {
                c.parked_s = Some(position_s);
                Some(Cue::Locate {
                    position_s,
                    play: false,
                })
            }
            Correction::Play { speed } => {
                c.parked_s = None;
                Some(Cue::Resume { speed })
            }
        }
    }

    /// Another source leads from now on (the backup rig after a failover, see
    /// [`crate::arbiter`]): it plays or not, at song position `clocks` after its last clock,
    /// which came at `clock_at`; `now` is the time of the decision. The picture is not moved
    /// for it: within the drift dead band it plays on, beyond it the drift controller brings it
    /// onto the new leader's position from its clocks. A leader that does not play stops it.
    ///
    /// With `awaiting_first_clock` the new leader has started (or been located) at `clocks` at
    /// `clock_at` and sent no clock since: its next clock is the position itself. Stopped, the
    /// video starts on that clock as on the leader's Continue; playing, the next clock counts
    /// as the position, not one further.
    pub fn take_over(
        &mut self,
        running: bool,
        clocks: Option<u32>,
        clock_at: Option<Stamp>,
        awaiting_first_clock: bool,
        now: Stamp,
    ) -> Option<Cue> {
        if !running {
            if self.daw_running || self.state == State::Playing {
                return self.on_midi(MidiEvent::Stop, now);
            }
            // Stopped: cued where the new leader stands, as its Song Position would.
            let sixteenths = u16::try_from(clocks? / 6).unwrap_or(u16::MAX).min(0x3FFF);
            return self.on_midi(MidiEvent::SongPosition { sixteenths }, now);
        }
        self.daw_running = true;
        if clocks.is_some() {
            self.song_position_clocks = clocks;
        }
        let Some(c) = self.chase.as_mut() else {
            if self.state == State::Playing {
                return None;
            }
            self.state = State::Playing;
            return Some(Cue::Play);
        };
        c.estimator.reset();
        // Another sender's clocks from here: a gap seen in the old leader's says nothing, and
        // a jump it announced (a Song Position waiting for its clock) is not the new one's (a
        // start waiting for its clock stays: the new leader's clock starts it).
        c.gap = None;
        if c.pending.is_some_and(|p| p.jump) {
            c.pending = None;
        }
        c.last_clock_s = None;
        // The next clock is one further than the position taken over (the position itself
        // when the leader has sent none since its start).
        c.clocks_since_start = u64::from(clocks.is_some() && !awaiting_first_clock);
        let (Some(clocks), Some(at)) = (clocks, clock_at) else {
            return None;
        };
        if awaiting_first_clock && self.state != State::Playing {
            // As on its Continue: cued there, playing on its first clock.
            return self.on_midi_received(MidiEvent::Continue, at, now);
        }
        let position_s = c.video_s_at_clocks(clocks);
        if self.state == State::Playing {
            if !c.timecode_running(now.secs_f64()) && !c.ltc_running(now.secs_f64()) {
                c.reference = Some(DawReference {
                    position_s,
                    received_at_s: at.secs_f64(),
                });
                c.reference_kind = Some(Reference::Clock);
            }
            return None;
        }
        // Stopped while the new leader plays: play from where it is now.
        let v = position_s + now.secs_since(at);
        c.reference_kind = Some(Reference::Clock);
        self.go(v, true, now.secs_f64())
    }

    /// Applies an operator command.
    pub fn on_operator(&mut self, command: OperatorCommand) -> Option<Cue> {
        if let Some(c) = self.chase.as_mut() {
            // The operator's key wins over a start still waiting for its clock.
            c.pending = None;
            c.drift.reset();
            c.reference = None;
            c.parked_s = None;
            c.cued_s = None;
        }
        match (command, self.state) {
            (OperatorCommand::TogglePlay, State::Playing) => {
                self.state = State::Stopped;
                Some(Cue::Hold)
            }
            (OperatorCommand::TogglePlay, _) => {
                self.state = State::Playing;
                Some(Cue::Play)
            }
            (OperatorCommand::Rewind, _) => {
                self.state = State::Armed;
                if let Some(c) = self.chase.as_mut() {
                    c.cued_s = Some(0.0);
                }
                Some(Cue::Arm)
            }
        }
    }
}

/// A gap between two clocks as long as `missing` clocks and more at the tempo before it,
/// waiting for the clocks after it to say whether clocks were lost.
#[derive(Clone, Copy, Debug)]
struct ClockGap {
    /// Clocks that would have come in it.
    missing: u32,
    /// Seconds per clock before it.
    interval_s: f64,
    /// When the last clock before it came.
    before_s: f64,
    /// Clocks come since it began (the one that ended it is the first).
    after: u32,
    /// The clock that ended it came on the grid of the clocks before it, within the jitter.
    ended_on_grid: bool,
    /// A clock after it came on that grid.
    seen_on_grid: bool,
}

/// A gap between clocks is a suspect once it is this many clocks long...
const GAP_SUSPECT: f64 = 1.6;
/// ... and not more than this (longer is a clock that stopped, or a tempo no song changes to).
const GAP_LONGEST: f64 = 4.5;
/// A gap is a suspect when it ends within this fraction of a clock of a whole number of
/// clocks; the clock after a gap that ended on the grid confirms it when it comes this close
/// to the tempo from before.
const GAP_CONFIRMS: f64 = 0.25;
/// On the grid of the clocks before a gap: within this of a whole number of clocks after them
/// (or an eighth of a clock, when more): network MIDI's jitter.
const GAP_JITTER_S: f64 = 0.003;

/// How far from the grid of the clocks before a gap a clock may come and be on it.
fn gap_jitter_s(seconds_per_clock: f64) -> f64 {
    GAP_JITTER_S.max(seconds_per_clock * GAP_CONFIRMS / 2.0)
}

impl Chaser {
    /// How many clocks were lost before the last ones, now that the clock at `at_s` has come
    /// (the caller counts that one). A sender may skip a clock (x42's jack_midi_clock does
    /// when a JACK cycle runs late) and a packet may be lost; counting only the clocks that
    /// came leaves the picture a clock behind until the next Song Position. A gap alone could
    /// also be a tempo halved, or a late clock: it counts as lost clocks only when the clocks
    /// after it say so. A gap that ended on the grid of the clocks before it (a whole number of
    /// clocks after them, within the jitter) is confirmed by the next clock at the tempo from
    /// before; one that ended further off (up to a quarter clock: a clock dated a few ms late,
    /// as a late JACK cycle or the network does) by the two after it, each on that grid.
    fn lost_clocks(&mut self, at_s: f64) -> u32 {
        let Some(interval) = self.last_clock_s.map(|l| at_s - l) else {
            return 0;
        };
        let mut lost = 0;
        if let Some(mut g) = self.gap.take() {
            g.after += 1;
            let off_s =
                ((at_s - g.before_s) / g.interval_s - f64::from(g.after) - f64::from(g.missing))
                    * g.interval_s;
            let on_grid = off_s.abs() <= gap_jitter_s(g.interval_s);
            let confirmed = if g.ended_on_grid {
                // The next clock at the tempo from before the gap.
                (interval - g.interval_s).abs() <= g.interval_s * GAP_CONFIRMS
            } else if on_grid && !g.seen_on_grid {
                // One of two.
                g.seen_on_grid = true;
                self.gap = Some(g);
                false
            } else {
                on_grid
            };
            if confirmed {
                lost = g.missing;
                self.clocks_recovered += u64::from(lost);
                // The clocks since the gap, in the estimator already, come after the lost
                // ones.
                self.estimator
                    .skipped_before_last(g.after.saturating_sub(1) as usize, u64::from(lost));
            }
        }
        // Right after a start the fit has too few clocks yet (its first 12): the tempo measured
        // before serves (a clock lost then would otherwise go uncounted, and the fit, once it
        // has its clocks, would straddle the gap and be half a clock off).
        let spc = self
            .estimator
            .seconds_per_clock()
            .or(self.measured_bpm.map(|bpm| 60.0 / (bpm * 24.0)));
        // The last clock before it where the line through the clocks puts it (its own jitter
        // stripped), when there is a line yet.
        let before_s = self.estimator.latest_tick_fitted_s().or(self.last_clock_s);
        if let (Some(spc), Some(before_s)) = (spc, before_s) {
            let clocks = interval / spc;
            // About a whole number of clocks late (a step in the delivery delay makes a gap
            // too, but seldom a whole clock).
            let off_s = (clocks - clocks.round()).abs() * spc;
            if (GAP_SUSPECT..GAP_LONGEST).contains(&clocks) && off_s <= spc * GAP_CONFIRMS {
                self.gap = Some(ClockGap {
                    missing: (clocks.round() as u32).saturating_sub(1),
                    interval_s: spc,
                    before_s,
                    after: 1,
                    ended_on_grid: off_s <= gap_jitter_s(spc),
                    seen_on_grid: false,
                });
            }
        }
        lost
    }

    /// Video seconds at a song position in MIDI clocks, with the offset.
    fn video_s_at_clocks(&self, clocks: u32) -> f64 {
        let song_s = match &self.settings.tempo_map {
            Some(map) => map.seconds_at_clocks(f64::from(clocks)),
            None => {
                let bpm = self
                    .estimator
                    .bpm()
                    .or(self.measured_bpm)
                    .unwrap_or(FALLBACK_BPM);
                f64::from(clocks) * 60.0 / (bpm * 24.0)
            }
        };
        song_s + self.settings.offset_s
    }

    /// True while MIDI clock arrives (24 a beat: even 30 BPM sends one every 83 ms).
    fn clock_running(&self, now_s: f64) -> bool {
        self.last_clock_s
            .is_some_and(|t| now_s - t <= TIMECODE_STOPPED_S)
    }

    /// True while LTC frames arrive (none missing for longer than the free-wheel time).
    fn ltc_running(&self, now_s: f64) -> bool {
        self.last_ltc_received_s
            .is_some_and(|t| now_s - t <= self.settings.ltc_freewheel_s)
    }

    fn timecode_running(&self, now_s: f64) -> bool {
        self.last_quarter_frame_s
            .is_some_and(|t| now_s - t <= TIMECODE_STOPPED_S)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chase::position::TimeSignature;

    #[test]
    fn starts_armed_and_plays_instantly() {
        let mut t = Transport::new();
        assert_eq!(t.state(), State::Armed);
        assert_eq!(
            t.on_midi(MidiEvent::Start, Stamp::from_secs_f64(0.0)),
            Some(Cue::Play)
        );
        assert_eq!(
            t.on_midi(MidiEvent::Stop, Stamp::from_secs_f64(0.0)),
            Some(Cue::Hold)
        );
        assert_eq!(t.state(), State::Stopped);
        assert_eq!(t.on_midi(MidiEvent::Stop, Stamp::from_secs_f64(0.0)), None);
    }

    #[test]
    fn spp_arms_and_disarms() {
        let mut t = Transport::new();
        t.on_midi(MidiEvent::Start, Stamp::from_secs_f64(0.0));
        t.on_midi(MidiEvent::Stop, Stamp::from_secs_f64(0.0));
        assert_eq!(
            t.on_midi(
                MidiEvent::SongPosition { sixteenths: 0 },
                Stamp::from_secs_f64(0.0)
            ),
            Some(Cue::Arm)
        );
        assert_eq!(
            t.on_midi(
                MidiEvent::SongPosition { sixteenths: 64 },
                Stamp::from_secs_f64(0.0)
            ),
            None
        );
        assert_eq!(t.state(), State::Stopped);
        assert_eq!(
            t.on_midi(MidiEvent::Continue, Stamp::from_secs_f64(0.0)),
            None
        );
        assert_eq!(
            t.on_midi(MidiEvent::Start, Stamp::from_secs_f64(0.0)),
            Some(Cue::PlayFromTop)
        );
    }

    #[test]
    fn clock_moves_position_only_while_running() {
        let mut t = Transport::new();
        t.on_midi(
            MidiEvent::SongPosition { sixteenths: 4 },
            Stamp::from_secs_f64(0.0),
        );
        t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(0.0));
        assert_eq!(t.song_position_clocks(), Some(24));
        t.on_midi(MidiEvent::Continue, Stamp::from_secs_f64(0.0));
        for _ in 0..6 {
            t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(0.0));
        }
        assert_eq!(t.song_position_clocks(), Some(30));
        assert_eq!(t.clocks_received(), 7);
        assert_eq!(t.state(), State::Stopped);
    }

    #[test]
    fn folded_clocks_move_the_position_like_single_ones() {
        for mode in [FollowMode::Start, FollowMode::Chase] {
            let (mut single, mut folded) = (
                Transport::with_mode(mode, ChaseSettings::default()).unwrap(),
                Transport::with_mode(mode, ChaseSettings::default()).unwrap(),
            );
            for t in [&mut single, &mut folded] {
                t.on_midi(
                    MidiEvent::SongPosition { sixteenths: 4 },
                    Stamp::from_secs_f64(0.0),
                );
                t.on_midi(MidiEvent::Continue, Stamp::from_secs_f64(0.0));
            }
            for i in 1..=50 {
                single.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(f64::from(i) * 0.02));
            }
            folded.on_clocks(1, Stamp::from_secs_f64(0.02));
            folded.on_clocks(49, Stamp::from_secs_f64(1.0));
            assert_eq!(folded.song_position_clocks(), single.song_position_clocks());
            assert_eq!(folded.clocks_received(), 50);
            assert_eq!(folded.on_clocks(0, Stamp::from_secs_f64(1.0)), None);
            assert_eq!(folded.clocks_received(), 50);
        }
    }

    #[test]
    fn folded_clocks_do_not_fake_a_tempo() {
        let mut t = Transport::with_mode(FollowMode::Chase, ChaseSettings::default()).unwrap();
        t.on_midi(MidiEvent::Start, Stamp::from_secs_f64(0.0));
        // 120 BPM: 20.833 ms per clock.
        let spacing_s = 60.0 / (120.0 * 24.0);
        for i in 0..48 {
            t.on_midi(
                MidiEvent::Clock,
                Stamp::from_secs_f64(f64::from(i) * spacing_s),
            );
        }
        let before = t.tempo_bpm().expect("a tempo from two beats of clock");
        // 20 ticks folded into one record: read as one tick, they would be one clock taking
        // 20 clocks' time, a tempo of 6 BPM.
        t.on_clocks(20, Stamp::from_secs_f64(67.0 * spacing_s));
        for i in 68..72 {
            t.on_midi(
                MidiEvent::Clock,
                Stamp::from_secs_f64(f64::from(i) * spacing_s),
            );
        }
        let after = t.tempo_bpm().expect("the tempo is kept");
        assert!((after - before).abs() < 0.5, "{before} -> {after}");
    }

    #[test]
    fn a_clock_flood_keeps_the_last_believable_tempo() {
        let mut t = Transport::with_mode(FollowMode::Chase, ChaseSettings::default()).unwrap();
        t.on_midi(MidiEvent::Start, Stamp::from_secs_f64(0.0));
        let spacing_s = 60.0 / (120.0 * 24.0);
        for i in 0..96 {
            t.on_midi(
                MidiEvent::Clock,
                Stamp::from_secs_f64(f64::from(i) * spacing_s),
            );
        }
        // 5000 clock bytes 116 µs apart: 21,531 BPM.
        let flood_s = 60.0 / (21_531.0 * 24.0);
        for i in 0..5000 {
            t.on_midi(
                MidiEvent::Clock,
                Stamp::from_secs_f64(96.0 * spacing_s + f64::from(i) * flood_s),
            );
        }
        let bpm = t.tempo_bpm().expect("the tempo before the flood");
        assert!((bpm - 120.0).abs() < 0.5, "{bpm}");
    }

    #[test]
    fn operator_keys() {
        let mut t = Transport::new();
        assert_eq!(t.on_operator(OperatorCommand::TogglePlay), Some(Cue::Play));
        assert_eq!(t.on_operator(OperatorCommand::TogglePlay), Some(Cue::Hold));
        assert_eq!(t.on_operator(OperatorCommand::TogglePlay), Some(Cue::Play));
        assert_eq!(t.on_operator(OperatorCommand::Rewind), Some(Cue::Arm));
        assert_eq!(t.state(), State::Armed);
    }

    fn chase(bpm: Option<f64>, offset_s: f64) -> Transport {
        Transport::with_mode(
            FollowMode::Chase,
            ChaseSettings {
                tempo_map: bpm.map(|b| TempoMap::fixed(b, TimeSignature::FOUR_FOUR).unwrap()),
                offset_s,
                ..ChaseSettings::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn chase_cues_on_spp_and_plays_in_place_on_continue() {
        let mut t = chase(Some(120.0), 0.0);
        // Bar 17 at 120 BPM 4/4: 16 bars of 2 s.
        assert_eq!(
            t.on_midi(
                MidiEvent::SongPosition { sixteenths: 256 },
                Stamp::from_secs_f64(1.0)
            ),
            Some(Cue::Locate {
                position_s: 32.0,
                play: false
            })
        );
        assert_eq!(t.state(), State::Stopped);
        // Continue waits for its clock (already cued: nothing to do meanwhile); the clock
        // plays in place.
        assert_eq!(
            t.on_midi(MidiEvent::Continue, Stamp::from_secs_f64(2.0)),
            None
        );
        assert_eq!(t.state(), State::Stopped);
        assert_eq!(
            t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(2.0)),
            Some(Cue::Play)
        );
        assert_eq!(t.state(), State::Playing);
        // A loop jump back to bar 9 while playing (its clock running) relocates and keeps
        // playing, from the clock after it: that clock is bar 9.
        t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(2.99));
        assert_eq!(
            t.on_midi(
                MidiEvent::SongPosition { sixteenths: 128 },
                Stamp::from_secs_f64(3.0)
            ),
            None
        );
        assert_eq!(t.state(), State::Playing);
        assert_eq!(
            t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(3.01)),
            Some(Cue::Locate {
                position_s: 16.0,
                play: true
            })
        );
        assert_eq!(t.state(), State::Playing);
        // A jump with no clock after it jumps once the wait for one is over, timed by itself.
        t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(3.49));
        assert_eq!(
            t.on_midi(
                MidiEvent::SongPosition { sixteenths: 64 },
                Stamp::from_secs_f64(3.5)
            ),
            None
        );
        assert_eq!(t.late_start(Stamp::from_secs_f64(3.51)), None);
        assert_eq!(
            t.late_start(Stamp::from_secs_f64(3.6)),
            Some((
                Cue::Locate {
                    position_s: 8.0,
                    play: true
                },
                Stamp::from_secs_f64(3.5)
            ))
        );
        // A Stop between a jump and its clock: the DAW stands where it jumped to.
        t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(3.99));
        assert_eq!(
            t.on_midi(
                MidiEvent::SongPosition { sixteenths: 32 },
                Stamp::from_secs_f64(4.0)
            ),
            None
        );
        assert_eq!(
            t.on_midi(MidiEvent::Stop, Stamp::from_secs_f64(4.005)),
            Some(Cue::Locate {
                position_s: 4.0,
                play: false
            })
        );
        assert_eq!(t.state(), State::Stopped);
        assert_eq!(t.late_start(Stamp::from_secs_f64(5.0)), None);
        // Start is the top; SPP 0 arms it, so Start plays in place.
        assert_eq!(
            t.on_midi(
                MidiEvent::SongPosition { sixteenths: 0 },
                Stamp::from_secs_f64(5.0)
            ),
            Some(Cue::Locate {
                position_s: 0.0,
                play: false
            })
        );
        assert_eq!(t.state(), State::Armed);
        assert_eq!(t.on_midi(MidiEvent::Start, Stamp::from_secs_f64(6.0)), None);
        assert_eq!(
            t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(6.001)),
            Some(Cue::Play)
        );
    }

    #[test]
    fn a_jump_while_no_clock_runs_is_at_once() {
        // Playing with its clock stopped for a second (the clock source went quiet while the
        // song runs on): a Song Position has no clock to wait for.
        let mut t = chase(Some(120.0), 0.0);
        t.on_midi(MidiEvent::Start, Stamp::from_secs_f64(1.0));
        t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(1.001));
        assert_eq!(t.state(), State::Playing);
        assert_eq!(
            t.on_midi(
                MidiEvent::SongPosition { sixteenths: 64 },
                Stamp::from_secs_f64(2.0)
            ),
            Some(Cue::Locate {
                position_s: 8.0,
                play: true
            })
        );
        assert_eq!(t.start_deadline(), None);
    }

    #[test]
    fn the_song_starts_on_the_first_clock_after_start_or_continue() {
        // x42's jack_midi_clock sends Start one JACK cycle before the transport rolls and its
        // first clock on the roll; Live sends them together. The song starts on the clock.
        let mut t = chase(Some(120.0), 0.0);
        t.on_midi(
            MidiEvent::SongPosition { sixteenths: 0 },
            Stamp::from_secs_f64(0.5),
        );
        assert_eq!(t.on_midi(MidiEvent::Start, Stamp::from_secs_f64(1.0)), None);
        assert_eq!(
            t.start_deadline(),
            Some(Stamp::from_secs_f64(1.0 + 1.5 * 60.0 / 2880.0))
        );
        assert_eq!(t.late_start(Stamp::from_secs_f64(1.0053)), None);
        assert_eq!(
            t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(1.0053)),
            Some(Cue::Play)
        );
        assert_eq!(t.start_deadline(), None);
        // The DAW's position is reckoned from that clock: one clock (20.8 ms) after it the
        // video should be 20.8 ms in, not 26.1.
        for i in 1..=24 {
            t.on_midi(
                MidiEvent::Clock,
                Stamp::from_secs_f64(1.0053 + f64::from(i) * 60.0 / 2880.0),
            );
        }
        assert_eq!(t.song_position_clocks(), Some(24));
        let now = 1.0053 + 24.0 * 60.0 / 2880.0;
        t.on_video_position(Stamp::from_secs_f64(now), 0.5);
        let error = t.sync_error_s().unwrap();
        assert!(error.abs() < 0.001, "sync error {error}");

        // A Stop cancels a start still waiting for its clock.
        t.on_midi(MidiEvent::Stop, Stamp::from_secs_f64(3.0));
        t.on_midi(
            MidiEvent::SongPosition { sixteenths: 16 },
            Stamp::from_secs_f64(3.1),
        );
        assert_eq!(
            t.on_midi(MidiEvent::Continue, Stamp::from_secs_f64(4.0)),
            None
        );
        assert_eq!(
            t.on_midi(MidiEvent::Stop, Stamp::from_secs_f64(4.001)),
            None
        );
        assert_eq!(t.start_deadline(), None);
        assert_eq!(t.late_start(Stamp::from_secs_f64(5.0)), None);
        assert_eq!(t.state(), State::Stopped);
    }

    #[test]
    fn a_start_with_no_clock_after_it_is_timed_from_the_start() {
        let mut t = chase(Some(120.0), 0.0);
        t.on_midi(
            MidiEvent::SongPosition { sixteenths: 8 },
            Stamp::from_secs_f64(0.5),
        );
        assert_eq!(
            t.on_midi(MidiEvent::Continue, Stamp::from_secs_f64(1.0)),
            None
        );
        // 1.5 clock intervals at 120 BPM: 31 ms.
        assert_eq!(t.late_start(Stamp::from_secs_f64(1.03)), None);
        assert_eq!(
            t.late_start(Stamp::from_secs_f64(1.032)),
            Some((Cue::Play, Stamp::from_secs_f64(1.0)))
        );
        assert_eq!(t.state(), State::Playing);
        assert_eq!(t.late_start(Stamp::from_secs_f64(1.1)), None);
        // A DAW that sends no clock is not waited on again.
        t.on_midi(MidiEvent::Stop, Stamp::from_secs_f64(2.0));
        assert_eq!(
            t.on_midi(MidiEvent::Continue, Stamp::from_secs_f64(3.0)),
            Some(Cue::Locate {
                position_s: 1.0,
                play: true
            })
        );
        // Once it sends clock, its starts wait for their clock again.
        assert_eq!(
            t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(3.02)),
            None
        );
        t.on_midi(MidiEvent::Stop, Stamp::from_secs_f64(4.0));
        assert_eq!(
            t.on_midi(MidiEvent::Continue, Stamp::from_secs_f64(5.0)),
            Some(Cue::Locate {
                position_s: 1.0,
                play: false
            })
        );
        assert!(t.start_deadline().is_some());
    }

    #[test]
    fn timecode_that_starts_the_video_ends_the_wait_for_a_clock() {
        // Logic sends MTC with its clock: when the timecode rolls first, the Continue's own
        // start is not made again by the clock that follows.
        let mut t = chase(Some(120.0), 0.0);
        t.on_midi(
            MidiEvent::SongPosition { sixteenths: 64 },
            Stamp::from_secs_f64(0.5),
        );
        assert_eq!(
            t.on_midi(MidiEvent::Continue, Stamp::from_secs_f64(1.0)),
            None
        );
        let mut cue = None;
        for (i, q) in [0x00u8, 0x10, 0x28, 0x30, 0x40, 0x50, 0x60, 0x72, 0x00, 0x10]
            .into_iter()
            .enumerate()
        {
            let c = t.on_midi(
                MidiEvent::TimecodeQuarterFrame { data: q },
                Stamp::from_secs_f64(1.0 + 0.01 * i as f64),
            );
            cue = cue.or(c);
        }
        assert!(
            matches!(cue, Some(Cue::Locate { play: true, .. } | Cue::Play)),
            "{cue:?}"
        );
        assert_eq!(t.state(), State::Playing);
        assert_eq!(t.start_deadline(), None);
        assert_eq!(
            t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(1.11)),
            None
        );
    }

    #[test]
    fn a_song_position_between_continue_and_its_clock_moves_the_start() {
        let mut t = chase(Some(120.0), 0.0);
        t.on_midi(
            MidiEvent::SongPosition { sixteenths: 16 },
            Stamp::from_secs_f64(0.5),
        );
        assert_eq!(
            t.on_midi(MidiEvent::Continue, Stamp::from_secs_f64(1.0)),
            None
        );
        // Bar 5 (8 s) before the clock: cued there, still waiting.
        assert_eq!(
            t.on_midi(
                MidiEvent::SongPosition { sixteenths: 64 },
                Stamp::from_secs_f64(1.005)
            ),
            Some(Cue::Locate {
                position_s: 8.0,
                play: false
            })
        );
        assert!(t.start_deadline().is_some());
        assert_eq!(
            t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(1.01)),
            Some(Cue::Play)
        );
        assert_eq!(t.state(), State::Playing);
        assert_eq!(t.song_position_clocks(), Some(64 * 6));
    }

    #[test]
    fn an_mmc_locate_between_continue_and_its_clock_moves_the_start() {
        let mut t = chase(Some(120.0), 0.0);
        t.on_midi(
            MidiEvent::SongPosition { sixteenths: 16 },
            Stamp::from_secs_f64(0.5),
        );
        assert_eq!(
            t.on_midi(MidiEvent::Continue, Stamp::from_secs_f64(1.0)),
            None
        );
        assert_eq!(
            t.on_midi(mmc(0x7F, locate(0, 0, 8, 0)), Stamp::from_secs_f64(1.005)),
            Some(Cue::Locate {
                position_s: 8.0,
                play: false
            })
        );
        assert!(t.start_deadline().is_some());
        // Cued at 8 s: the clock plays from there.
        assert_eq!(
            t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(1.01)),
            Some(Cue::Play)
        );
        assert_eq!(t.state(), State::Playing);
    }

    #[test]
    fn folded_clocks_that_start_the_song_start_it_where_the_last_one_is() {
        let mut t = chase(Some(120.0), 0.0);
        t.on_midi(
            MidiEvent::SongPosition { sixteenths: 16 },
            Stamp::from_secs_f64(0.5),
        );
        t.on_midi(MidiEvent::Continue, Stamp::from_secs_f64(1.0));
        // Three clocks taken at once, the last at 1.0417 s: the song started on the first
        // (2.0 s in), the last is two clocks later.
        let tick = 60.0 / 2880.0;
        match t.on_clocks(3, Stamp::from_secs_f64(1.0 + 2.0 * tick)) {
            Some(Cue::Locate {
                position_s,
                play: true,
            }) => assert!(
                (position_s - (2.0 + 2.0 * tick)).abs() < 1e-9,
                "{position_s}"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(t.song_position_clocks(), Some(16 * 6 + 2));
    }

    #[test]
    fn a_start_taken_late_still_waits_for_the_clock_behind_it() {
        // Stamped 40 ms before the player took it (more than the 31 ms wait): the wait counts
        // from its receipt.
        let mut t = chase(Some(120.0), 0.0);
        t.on_midi(
            MidiEvent::SongPosition { sixteenths: 0 },
            Stamp::from_secs_f64(0.5),
        );
        assert_eq!(
            t.on_midi_received(
                MidiEvent::Start,
                Stamp::from_secs_f64(1.0),
                Stamp::from_secs_f64(1.04)
            ),
            None
        );
        assert_eq!(t.late_start(Stamp::from_secs_f64(1.041)), None);
        assert_eq!(
            t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(1.0)),
            Some(Cue::Play)
        );
    }

    #[test]
    fn a_start_stamped_ahead_is_timed_from_its_stamp() {
        // Link's launch: the moment is known before it comes, and no clock follows.
        let mut t = chase(Some(120.0), 0.0);
        t.on_midi(
            MidiEvent::SongPosition { sixteenths: 0 },
            Stamp::from_secs_f64(0.5),
        );
        assert_eq!(
            t.on_midi_received(
                MidiEvent::Start,
                Stamp::from_secs_f64(2.0),
                Stamp::from_secs_f64(1.9)
            ),
            Some(Cue::Play)
        );
        assert_eq!(t.start_deadline(), None);
    }

    #[test]
    fn chase_continue_without_cue_locates_and_offset_shifts() {
        let mut t = chase(Some(120.0), 0.1);
        t.on_midi(MidiEvent::Start, Stamp::from_secs_f64(0.0));
        t.on_midi(MidiEvent::Stop, Stamp::from_secs_f64(1.0));
        // Song position 8 beats = 4 s, +0.1 s offset, with no SPP cue before Continue.
        t.song_position_clocks = Some(8 * 24);
        // Cued at once, while the clock is awaited.
        assert_eq!(
            t.on_midi(MidiEvent::Continue, Stamp::from_secs_f64(2.0)),
            Some(Cue::Locate {
                position_s: 4.1,
                play: false
            })
        );
        assert_eq!(
            t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(2.0)),
            Some(Cue::Play)
        );
    }

    #[test]
    fn negative_offset_parks_then_plays() {
        let mut t = chase(Some(120.0), -0.2);
        assert_eq!(
            t.on_midi(MidiEvent::Start, Stamp::from_secs_f64(10.0)),
            None
        );
        assert_eq!(
            t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(10.0)),
            Some(Cue::Locate {
                position_s: 0.0,
                play: false
            })
        );
        assert_eq!(t.on_tick(Stamp::from_secs_f64(10.05)), None);
        let mut cue = None;
        let mut now = 10.05;
        while cue.is_none() && now < 11.0 {
            now += 0.02;
            cue = t.on_tick(Stamp::from_secs_f64(now));
        }
        assert!(matches!(cue, Some(Cue::Resume { .. })), "{cue:?}");
        assert!((now - 10.2).abs() < 0.05, "played at {now}");
    }

    #[test]
    fn measured_tempo_drives_mid_song_starts() {
        let mut t = chase(None, 0.0);
        // One run at 100 BPM teaches the tempo.
        t.on_midi(MidiEvent::Start, Stamp::from_secs_f64(0.0));
        let tick_s = 60.0 / (100.0 * 24.0);
        for i in 0..200 {
            t.on_midi(
                MidiEvent::Clock,
                Stamp::from_secs_f64(f64::from(i) * tick_s),
            );
        }
        let bpm = t.tempo_bpm().unwrap();
        assert!((bpm - 100.0).abs() < 0.1, "{bpm}");
        t.on_midi(MidiEvent::Stop, Stamp::from_secs_f64(10.0));
        // Bar 5 at 100 BPM: 16 beats = 9.6 s.
        match t.on_midi(
            MidiEvent::SongPosition { sixteenths: 64 },
            Stamp::from_secs_f64(11.0),
        ) {
            Some(Cue::Locate { position_s, play }) => {
                assert!(!play);
                assert!((position_s - 9.6).abs() < 0.01, "{position_s}");
            }
            other => panic!("{other:?}"),
        }
    }

    /// Seconds per clock at 120 BPM.
    const TICK_120_S: f64 = 60.0 / (120.0 * 24.0);

    /// Clock `n` (fractional: late or early) at 120 BPM from a Start at 0.
    fn clock_120(t: &mut Transport, n: f64) {
        t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(n * TICK_120_S));
    }

    /// A chase transport started at 0 and clocked 100 times at 120 BPM: the tempo is known.
    fn rolled_at_120() -> Transport {
        let mut t = chase(None, 0.0);
        t.on_midi(MidiEvent::Start, Stamp::from_secs_f64(0.0));
        for i in 0..100 {
            clock_120(&mut t, f64::from(i));
        }
        t
    }

    #[test]
    fn a_clock_the_sender_skipped_is_counted_once_the_next_comes_on_tempo() {
        let mut t = rolled_at_120();
        let (tick_s, clock) = (TICK_120_S, clock_120);
        assert_eq!(t.song_position_clocks(), Some(99));
        // Clock 100 never comes; 101 and 102 do, on tempo.
        clock(&mut t, 101.0);
        assert_eq!(
            t.song_position_clocks(),
            Some(100),
            "a gap alone proves nothing"
        );
        clock(&mut t, 102.0);
        assert_eq!(t.song_position_clocks(), Some(102));
        let bpm = t.tempo_bpm().unwrap();
        assert!((bpm - 120.0).abs() < 0.5, "{bpm}");
        // Two lost in a row.
        clock(&mut t, 105.0);
        clock(&mut t, 106.0);
        assert_eq!(t.song_position_clocks(), Some(106));
        // A clock 12 ms late, then one on time: jitter, nothing lost.
        t.on_midi(
            MidiEvent::Clock,
            Stamp::from_secs_f64(107.0 * tick_s + 0.012),
        );
        clock(&mut t, 108.0);
        clock(&mut t, 109.0);
        assert_eq!(t.song_position_clocks(), Some(109));
        // The tempo halves (60 BPM): every interval twice as long from here, no clock lost.
        let mut at = 109.0;
        for _ in 0..5 {
            at += 2.0;
            clock(&mut t, at);
        }
        assert_eq!(t.song_position_clocks(), Some(114));
    }

    #[test]
    fn a_clock_lost_right_after_a_continue_is_counted_on_the_tempo_measured_before() {
        let mut t = rolled_at_120();
        let (tick_s, clock) = (TICK_120_S, clock_120);
        t.on_midi(MidiEvent::Stop, Stamp::from_secs_f64(100.0 * tick_s));
        // Located to bar 2 (96 clocks) and continued 2 s later; the fourth clock never comes.
        t.on_midi(
            MidiEvent::SongPosition { sixteenths: 16 },
            Stamp::from_secs_f64(120.0 * tick_s),
        );
        t.on_midi(MidiEvent::Continue, Stamp::from_secs_f64(200.0 * tick_s));
        for i in [200.0, 201.0, 202.0, 204.0, 205.0] {
            clock(&mut t, i);
        }
        assert_eq!(t.song_position_clocks(), Some(96 + 5));
    }

    #[test]
    fn a_clock_lost_before_one_dated_late_is_counted_once_two_more_come_on_the_grid() {
        let mut t = rolled_at_120();
        let tick_s = TICK_120_S;
        // Clock 100 never comes; 101 is dated 4 ms late (more than the jitter); 102 and 103
        // come on the grid.
        t.on_midi(
            MidiEvent::Clock,
            Stamp::from_secs_f64(101.0 * tick_s + 0.004),
        );
        clock_120(&mut t, 102.0);
        assert_eq!(t.song_position_clocks(), Some(101), "not yet: one of two");
        clock_120(&mut t, 103.0);
        assert_eq!(t.song_position_clocks(), Some(103));
        // A step of 0.8 clocks in the delivery delay: a gap ending 4 ms off the grid, and the
        // clocks after it as far off: nothing lost.
        for i in 104..112 {
            clock_120(&mut t, f64::from(i) + 0.8);
        }
        assert_eq!(t.song_position_clocks(), Some(111));
    }

    #[test]
    fn a_step_in_the_delivery_delay_is_not_a_lost_clock() {
        let mut t = rolled_at_120();
        // From clock 100 on every clock comes 0.7 of a clock later (a re-buffer): the gap is
        // 1.7 clocks, the next interval is the old one, but the clocks are off the beat.
        for i in 100..110 {
            clock_120(&mut t, f64::from(i) + 0.7);
        }
        assert_eq!(t.song_position_clocks(), Some(109));
    }

    #[test]
    fn a_leader_taken_over_before_its_first_clock_starts_on_that_clock() {
        let mut t = chase(Some(120.0), 0.0);
        let tick_s = 60.0 / (120.0 * 24.0);
        // Stopped; the new leader continued at bar 5 (384 clocks, 8 s) at 10.0 s and has sent
        // no clock yet.
        let cue = t.take_over(
            true,
            Some(384),
            Some(Stamp::from_secs_f64(10.0)),
            true,
            Stamp::from_secs_f64(10.01),
        );
        match cue {
            Some(Cue::Locate { position_s, play }) => {
                assert!(!play, "cued, to start on the clock");
                assert!((position_s - 8.0).abs() < 1e-6, "{position_s}");
            }
            other => panic!("{other:?}"),
        }
        // Its first clock is the position itself, and plays.
        let cue = t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(10.02));
        assert!(cue.is_some_and(|c| c.plays()), "{cue:?}");
        assert_eq!(t.song_position_clocks(), Some(384));
        t.on_midi(MidiEvent::Clock, Stamp::from_secs_f64(10.02 + tick_s));
        assert_eq!(t.song_position_clocks(), Some(385));
    }

    fn mmc(device: u8, command: MachineCommand) -> MidiEvent {
        MidiEvent::MachineControl { device, command }
    }

    fn locate(hours: u8, minutes: u8, seconds: u8, frames: u8) -> MachineCommand {
        MachineCommand::Locate {
            rate_code: 1,
            hours,
            minutes,
            seconds,
            frames,
        }
    }

    #[test]
    fn mmc_locate_cues_paused_play_plays_there_and_stop_holds() {
        let mut t = Transport::with_mode(
            FollowMode::Chase,
            ChaseSettings {
                video_start: Timecode::parse(
                    "01:00:00:00",
                    crate::chase::timecode::FrameRate::Fps25,
                )
                .unwrap(),
                ..ChaseSettings::default()
            },
        )
        .unwrap();
        let at = Stamp::from_secs_f64;
        // 01:00:10:05 at 25 fps against a video starting at 01:00:00:00: 10.2 s.
        assert_eq!(
            t.on_midi(mmc(0x7F, locate(1, 0, 10, 5)), at(1.0)),
            Some(Cue::Locate {
                position_s: 10.2,
                play: false
            })
        );
        assert_eq!(t.state(), State::Stopped);
        // Another device's locate is not for us.
        assert_eq!(t.on_midi(mmc(0x05, locate(1, 0, 20, 0)), at(1.5)), None);
        assert_eq!(
            t.on_midi(mmc(0x7F, MachineCommand::Play), at(2.0)),
            Some(Cue::Play)
        );
        assert_eq!(t.state(), State::Playing);
        // A locate while playing jumps and keeps playing.
        assert_eq!(
            t.on_midi(mmc(0x7F, locate(1, 0, 30, 0)), at(3.0)),
            Some(Cue::Locate {
                position_s: 30.0,
                play: true
            })
        );
        assert_eq!(
            t.on_midi(mmc(0x7F, MachineCommand::Stop), at(4.0)),
            Some(Cue::Hold)
        );
        assert_eq!(t.on_midi(mmc(0x7F, MachineCommand::Pause), at(4.1)), None);
        // Played again with no locate: from the frame on screen.
        assert_eq!(
            t.on_midi(mmc(0x7F, MachineCommand::DeferredPlay), at(5.0)),
            Some(Cue::Play)
        );
        assert_eq!(
            t.on_midi(mmc(0x7F, MachineCommand::Pause), at(6.0)),
            Some(Cue::Hold)
        );
        // The top of the video arms.
        t.on_midi(mmc(0x7F, locate(1, 0, 0, 0)), at(7.0));
        assert_eq!(t.state(), State::Armed);
    }

    #[test]
    fn mmc_device_id_from_the_show_and_start_mode() {
        let mut t = chase(Some(120.0), 0.0);
        t.set_mmc_device(Some(0x05));
        assert!(t
            .on_midi(mmc(0x05, locate(0, 0, 4, 0)), Stamp::from_secs_f64(0.0))
            .is_some());
        assert_eq!(
            t.on_midi(mmc(0x06, locate(0, 0, 8, 0)), Stamp::from_secs_f64(0.1)),
            None
        );
        let mut t = Transport::new();
        assert_eq!(
            t.on_midi(mmc(0x7F, MachineCommand::Play), Stamp::from_secs_f64(0.0)),
            Some(Cue::Play)
        );
        assert_eq!(
            t.on_midi(mmc(0x7F, MachineCommand::Stop), Stamp::from_secs_f64(1.0)),
            Some(Cue::Hold)
        );
        // Start mode plays only from the top: an MMC Play away from it waits.
        assert_eq!(
            t.on_midi(mmc(0x7F, MachineCommand::Play), Stamp::from_secs_f64(2.0)),
            None
        );
    }

    #[test]
    fn ltc_locates_on_a_still_rolls_free_wheels_and_stops() {
        use crate::chase::timecode::FrameRate;
        let mut t = Transport::with_mode(
            FollowMode::Chase,
            ChaseSettings {
                video_start: Timecode::parse("02:00:00:00", FrameRate::Fps25).unwrap(),
                ..ChaseSettings::default()
            },
        )
        .unwrap();
        let tc = |frames: u64| {
            Timecode::parse("02:00:10:00", FrameRate::Fps25)
                .unwrap()
                .add_frames(frames as i64)
        };
        let at = Stamp::from_secs_f64;
        // One frame alone: a still, located paused.
        assert_eq!(
            t.on_ltc(tc(0), at(1.0), at(1.045)),
            Some(Cue::Locate {
                position_s: 10.0,
                play: false
            })
        );
        // The same frame again changes nothing.
        assert_eq!(t.on_ltc(tc(0), at(1.2), at(1.245)), None);
        // Two in a row at real time: rolling, from where the DAW is at receipt.
        match t.on_ltc(tc(1), at(1.24), at(1.285)) {
            Some(Cue::Locate { position_s, play }) => {
                assert!(play);
                assert!((position_s - 10.085).abs() < 1e-6, "{position_s}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(t.reference(), Some(Reference::Ltc));
        // MTC while LTC runs does not take the lead.
        for i in 2..10u64 {
            let now = 1.24 + 0.04 * (i - 1) as f64;
            t.on_ltc(tc(i), at(now), at(now + 0.045));
        }
        assert_eq!(
            t.on_midi(MidiEvent::TimecodeQuarterFrame { data: 0 }, at(1.6)),
            None
        );
        assert_eq!(t.reference(), Some(Reference::Ltc));
        // A dropout shorter than the free-wheel: playing on.
        let last_received = 1.24 + 0.04 * 8.0 + 0.045;
        assert_eq!(
            t.on_tick(at(last_received + 0.2))
                .filter(|c| *c == Cue::Hold),
            None
        );
        assert_eq!(t.state(), State::Playing);
        // Longer: the DAW stopped.
        assert_eq!(t.on_tick(at(last_received + 0.3)), Some(Cue::Hold));
        assert_eq!(t.state(), State::Stopped);
    }

    #[test]
    fn when_ltc_stops_the_running_clock_takes_over_without_a_hold() {
        use crate::chase::timecode::FrameRate;
        let mut t = chase(Some(120.0), 0.0);
        let at = Stamp::from_secs_f64;
        t.on_midi(MidiEvent::SongPosition { sixteenths: 0 }, at(0.0));
        t.on_midi(MidiEvent::Start, at(0.0));
        let tick_s = 60.0 / (120.0 * 24.0);
        let mut now = 0.0;
        let mut frame = 0u64;
        // Clock and LTC together for 2 s: LTC leads.
        while now < 2.0 {
            t.on_midi(MidiEvent::Clock, at(now));
            if now >= frame as f64 * 0.04 {
                let tc = Timecode::from_frame_count(frame, FrameRate::Fps25);
                t.on_ltc(tc, at(frame as f64 * 0.04), at(now));
                frame += 1;
            }
            now += tick_s;
            assert_ne!(t.on_tick(at(now)), Some(Cue::Hold));
        }
        assert_eq!(t.reference(), Some(Reference::Ltc));
        // LTC stops, the clock runs on: the clock leads, the video plays on.
        while now < 3.0 {
            t.on_midi(MidiEvent::Clock, at(now));
            now += tick_s;
            assert_ne!(t.on_tick(at(now)), Some(Cue::Hold), "at {now}");
        }
        assert_eq!(t.reference(), Some(Reference::Clock));
        assert_eq!(t.state(), State::Playing);
        // Then the clock stops too, with the DAW's Stop.
        assert_eq!(t.on_midi(MidiEvent::Stop, at(3.1)), Some(Cue::Hold));
    }

    #[test]
    fn timecode_rolls_and_stops_the_video() {
        let mut t = chase(None, 0.0);
        // 25 fps quarter frames for 00:00:10:00, forward, 100 a second.
        let mut cues = Vec::new();
        let mut now = 0.0;
        for frame_pair in 0..10u32 {
            let frames = 250 + frame_pair * 2;
            let tc = Timecode::from_frame_count(
                u64::from(frames),
                crate::chase::timecode::FrameRate::Fps25,
            );
            let pieces = [
                tc.frames() & 0x0F,
                tc.frames() >> 4,
                tc.seconds() & 0x0F,
                tc.seconds() >> 4,
                tc.minutes() & 0x0F,
                tc.minutes() >> 4,
                tc.hours() & 0x0F,
                (tc.hours() >> 4) | (1 << 1),
            ];
            for (i, nibble) in pieces.iter().enumerate() {
                if let Some(c) = t.on_midi(
                    MidiEvent::TimecodeQuarterFrame {
                        data: ((i as u8) << 4) | nibble,
                    },
                    Stamp::from_secs_f64(now),
                ) {
                    cues.push(c);
                }
                now += 0.01;
            }
        }
        match cues.first() {
            Some(Cue::Locate { position_s, play }) => {
                assert!(*play);
                // Assembled after the 8th piece: frame 250 + 2 frames of MTC delay, minus the
                // quarter frame that was being sent.
                assert!((position_s - 10.08).abs() < 0.02, "{position_s}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(t.reference(), Some(Reference::Timecode));
        assert_eq!(t.on_tick(Stamp::from_secs_f64(now + 0.1)), None);
        assert_eq!(t.on_tick(Stamp::from_secs_f64(now + 0.5)), Some(Cue::Hold));
        assert_eq!(t.state(), State::Stopped);
    }
}
