//! Which source leads: MIDI before Ableton Link, and the main and backup rigs.
//!
//! Every MIDI message (and every frame of LTC of a rig) passes through the [`Arbiter`] with
//! its time before it reaches the transport. Without rigs, MIDI clock and transport lead
//! Link: Link's messages are dropped ([`Verdict::Yield`]) while a MIDI source has sent clock
//! or transport within [`LINK_YIELDS_S`], unless Link is the rig that leads. Within what is
//! obeyed, the transport's chase takes LTC before MTC before the clock as its position.
//!
//! Every message of a source named as a rig (a network-MIDI peer, an OS port, LTC, Link) passes
//! through the [`Arbiter`] with its time before it reaches the transport. The arbiter says
//! whether the player obeys it ([`Verdict::Obey`]), only watches it ([`Verdict::Watch`]: the
//! rig that does not lead; its position and its offset from the other are tracked and shown),
//! or keeps it a moment ([`Verdict::Held`]: the main's Stop waits for the backup's, since a
//! lone Stop is a failure of the main, not a stop of the show).
//!
//! The main leads while it is alive. It counts as gone when, while it plays, its clock or
//! timecode stops for longer than [`Rigs::failover_s`] (default [`DEFAULT_FAILOVER_MS`]), when
//! it leaves (its session said goodbye, its port disappeared), or when its Stop is not echoed
//! by a playing backup within the echo window. Then the backup leads ([`Decision::Failover`]
//! says with which position), and keeps leading until the show stops, whatever the main does
//! meanwhile: no flip-flopping. Once both have stopped, the main leads again as soon as it is
//! heard, from where it stands. The operator may switch by hand at any time ([`Arbiter::switch_to`]).
//!
//! Sources that are neither rig (the operator's keys, another port) are obeyed as without
//! rigs. Without rigs in the show, everything is obeyed.

use crate::parse::{MachineCommand, MidiEvent};
use crate::time::Stamp;
use serde::Serialize;

/// How long the main's clock or timecode may stop while it plays before it counts as gone, in
/// milliseconds: well under the 250-500 ms in which an audio switcher moves the PA.
pub const DEFAULT_FAILOVER_MS: f64 = 150.0;

/// How long a rig stays "heard" after its last message, in seconds, when nothing says it left.
pub const HEARD_FOR_S: f64 = 2.0;

/// How long after the last MIDI clock or transport message from a MIDI source Link's are
/// dropped, in seconds.
pub const LINK_YIELDS_S: f64 = 1.0;

/// The name of the MIDI transport made from an Ableton Link session.
pub const LINK_SOURCE: &str = "Ableton Link";

/// The name playhead gives a network-MIDI peer's messages: its session name as it introduced
/// itself, and its address.
pub fn network_peer_label(name: &str, address: &str) -> String {
    format!("network peer \"{name}\" ({address})")
}

/// What a source is, from the name playhead gave it (borrowed from that name: telling a
/// clock tick's source costs no allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind<'a> {
    /// A network-MIDI peer: its session name and address.
    NetworkPeer { name: &'a str, address: &'a str },
    /// Linear timecode from an audio input.
    Ltc,
    /// An Ableton Link session.
    Link,
    /// An OS MIDI port, a MIDI device file or anything else, by its name.
    Port,
}

impl<'a> SourceKind<'a> {
    /// The kind of the MIDI source called `label` (see [`network_peer_label`]).
    pub fn of_midi(label: &'a str) -> SourceKind<'a> {
        if label == LINK_SOURCE {
            return SourceKind::Link;
        }
        if let Some(rest) = label.strip_prefix("network peer \"") {
            if let Some((name, address)) = rest.rsplit_once("\" (") {
                if let Some(address) = address.strip_suffix(')') {
                    return SourceKind::NetworkPeer { name, address };
                }
            }
        }
        SourceKind::Port
    }
}

/// A rig as the show file names it (`main = "..."`, `backup = "..."`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RigSource {
    /// A network-MIDI peer's session name or address, or a part of an OS port's name.
    Named(String),
    /// Linear timecode (`"ltc"`).
    Ltc,
    /// Ableton Link (`"link"`).
    Link,
}

impl RigSource {
    /// Reads a rig's source from the show file's text.
    pub fn parse(text: &str) -> Result<RigSource, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(
                "name the rig's source: a network-MIDI peer's session name or address, \
                        a part of an OS MIDI port's name, \"ltc\" or \"link\""
                    .into(),
            );
        }
        Ok(match text.to_ascii_lowercase().as_str() {
            "ltc" => RigSource::Ltc,
            "link" => RigSource::Link,
            _ => RigSource::Named(text.to_string()),
        })
    }

    /// Whether the source called `label` (of kind `kind`) is this rig.
    pub fn matches(&self, label: &str, kind: &SourceKind) -> bool {
        match (self, kind) {
            (RigSource::Ltc, SourceKind::Ltc) | (RigSource::Link, SourceKind::Link) => true,
            (RigSource::Named(n), SourceKind::NetworkPeer { name, address }) => {
                *name == n.as_str() || *address == n.as_str()
            }
            (RigSource::Named(n), SourceKind::Port) => label.contains(n.as_str()),
            _ => false,
        }
    }

    /// How the operator reads it.
    pub fn describe(&self) -> String {
        match self {
            RigSource::Named(n) => n.clone(),
            RigSource::Ltc => "LTC".into(),
            RigSource::Link => "Ableton Link".into(),
        }
    }
}

/// The show's main and backup rigs.
#[derive(Clone, Debug, PartialEq)]
pub struct Rigs {
    pub main: RigSource,
    pub backup: RigSource,
    /// How long the main's clock or timecode may stop while it plays before it counts as gone.
    pub failover_s: f64,
}

/// One of the two rigs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rig {
    Main,
    Backup,
}

impl Rig {
    /// "main" or "backup".
    pub fn label(self) -> &'static str {
        match self {
            Rig::Main => "main",
            Rig::Backup => "backup",
        }
    }

    fn other(self) -> Rig {
        match self {
            Rig::Main => Rig::Backup,
            Rig::Backup => Rig::Main,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What the player does with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Pass it to the transport.
    Obey,
    /// Only noted: it comes from the rig that does not lead.
    Watch,
    /// The main's Stop, kept until the backup stops too ([`Decision::Stop`]) or fails to
    /// ([`Decision::Failover`]).
    Held,
    /// Dropped: Link's, while a MIDI source leads.
    Yield,
}

/// Why the main counts as gone.
#[derive(Clone, Debug, PartialEq)]
pub enum FailCause {
    /// Its clock or timecode stopped while it played, for this long.
    Silent { silent_ms: f64 },
    /// It left: its session said goodbye, its port disappeared.
    Left { why: String },
    /// It sent Stop and the playing backup did not within the echo window.
    LoneStop,
    /// The operator switched.
    Operator,
    /// The leader is not there (it left, or was never heard) and the other rig plays.
    Absent,
}

impl std::fmt::Display for FailCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailCause::Silent { silent_ms } => {
                write!(
                    f,
                    "its clock stopped while playing ({silent_ms:.0} ms without a clock or timecode)"
                )
            }
            FailCause::Left { why } => write!(f, "{why}"),
            FailCause::LoneStop => write!(f, "it sent Stop and the backup kept playing"),
            FailCause::Operator => write!(f, "the operator switched"),
            FailCause::Absent => write!(f, "it is not there and the other rig plays"),
        }
    }
}

/// Where a rig stands: what the transport needs to follow it from now on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RigPosition {
    /// It plays (between its Start or Continue and its Stop).
    pub running: bool,
    /// Its song position in MIDI clocks (after its last clock), when known.
    pub clocks: Option<u32>,
    /// When its last clock came; with `awaiting_first_clock`, when its Start, Continue or
    /// Song Position put it at `clocks`.
    pub clock_at: Option<Stamp>,
    /// It started (or was located while playing) and has sent no clock since: its next clock
    /// is the position itself, and the song moves from there.
    pub awaiting_first_clock: bool,
}

/// What the arbiter decided on its own (not for a message just passed).
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// The main's held Stop stands (the backup stopped too, or the main went on): apply a Stop
    /// stamped `at`, the time of the main's.
    Stop { at: Stamp },
    /// `to` leads from now on, because of `cause`; follow it from `position`.
    Failover {
        to: Rig,
        cause: FailCause,
        position: RigPosition,
        /// The new leader's offset from the old one, in ms (positive: it is behind), when known.
        offset_ms: Option<f64>,
    },
    /// Nothing plays and the main is heard (again): it leads; follow it from `position`.
    /// With `after_message`, carry it out after the message that made it (the backup's Stop,
    /// obeyed as the leader's), else before.
    MainLeads {
        position: RigPosition,
        after_message: bool,
    },
}

/// A rig as the status page and OSC show it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RigStatus {
    /// The source the show file names.
    pub name: String,
    /// The source it was last heard as (a peer's full name and address, a port), if ever.
    pub source: Option<String>,
    /// It was heard lately and has not left.
    pub heard: bool,
    /// It plays.
    pub playing: bool,
    /// Its offset from the other rig in ms (positive: behind it), while both play with clock.
    pub offset_ms: Option<f64>,
}

/// The `rigs` of `/api/status`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RigsStatus {
    pub leading: Rig,
    pub main: RigStatus,
    pub backup: RigStatus,
    /// Failovers since playhead started.
    pub failovers: u32,
    /// The last failover, as the log said it.
    pub last_failover: Option<String>,
}

#[derive(Clone, Debug, Default)]
struct RigState {
    source: Option<String>,
    /// When it was last heard; `None` also after it left.
    heard_at: Option<Stamp>,
    /// It is in the session (or its port is connected), as its source last said.
    joined: bool,
    /// It left, and has not been heard since.
    left: bool,
    /// Its clock stopped while it played (a failover's cause), and nothing came since.
    silent: bool,
    running: bool,
    clocks: Option<u32>,
    /// Clocks since its Start, Continue or Song Position: the first is the position itself.
    clocks_since_start: u64,
    clock_at: Option<Stamp>,
    /// When `clocks` was last set by a Start, Continue or Song Position: until the first clock
    /// after it, the rig stands at `clocks` since then (its last clock is older than its
    /// start, and following it from there would put the picture where it was before).
    cued_at: Option<Stamp>,
    /// Seconds per clock, from its last two clocks in a row.
    clock_interval_s: Option<f64>,
    /// It was located (a Song Position) since it last stopped: where it is cued.
    located: bool,
    /// Its last clock, timecode or LTC frame while it played, and how many since it started.
    sync_at: Option<Stamp>,
    syncs_since_start: u32,
}

impl RigState {
    /// Heard lately, or in the session; not since gone.
    fn heard(&self, now: Stamp) -> bool {
        !self.left
            && !self.silent
            && (self.joined
                || self
                    .heard_at
                    .is_some_and(|t| now.secs_since(t) < HEARD_FOR_S))
    }

    /// Known to be there: heard once, or joined, and not gone since.
    fn present(&self) -> bool {
        !self.left && (self.joined || self.heard_at.is_some())
    }

    fn position(&self) -> RigPosition {
        RigPosition {
            running: self.running,
            clocks: self.clocks,
            clock_at: self.position_at(),
            awaiting_first_clock: self.awaiting_first_clock(),
        }
    }

    fn awaiting_first_clock(&self) -> bool {
        self.running && self.clocks_since_start == 0 && self.cued_at.is_some()
    }

    /// When it stood at `clocks`: its last clock's time, or, with no clock since its start or
    /// locate, the start's or locate's.
    fn position_at(&self) -> Option<Stamp> {
        if self.clocks_since_start == 0 {
            self.cued_at.or(self.clock_at)
        } else {
            self.clock_at
        }
    }

    /// Where it stands for a leader taking over: its position while it plays; once stopped,
    /// only where a Song Position cued it (a position reached by playing is not a cue).
    fn lead_position(&self) -> RigPosition {
        RigPosition {
            running: self.running,
            clocks: self.clocks.filter(|_| self.running || self.located),
            clock_at: self.position_at(),
            awaiting_first_clock: self.awaiting_first_clock(),
        }
    }

    /// It plays from here; a Start or Continue then says when (`cued_at`), timecode or MMC
    /// do not (they carry their own position).
    fn started(&mut self) {
        self.cued_at = None;
        self.located = false;
        self.running = true;
        self.clocks_since_start = 0;
        self.syncs_since_start = 0;
    }

    fn stopped(&mut self) {
        self.running = false;
        self.syncs_since_start = 0;
    }

    fn synced(&mut self, at: Stamp) {
        if self.running {
            self.sync_at = Some(at);
            self.syncs_since_start = self.syncs_since_start.saturating_add(1);
        }
    }

    fn clock(&mut self, at: Stamp) {
        if !self.running {
            return;
        }
        if self.clocks_since_start > 0 {
            if let Some(c) = self.clocks.as_mut() {
                *c = c.saturating_add(1);
            }
            if let Some(last) = self.clock_at {
                let gap = at.secs_since(last);
                if gap > 0.0 && gap < 0.2 {
                    self.clock_interval_s = Some(match self.clock_interval_s {
                        Some(i) => i + (gap - i) / 8.0,
                        None => gap,
                    });
                }
            }
        }
        self.clocks_since_start += 1;
        self.clock_at = Some(at);
        self.synced(at);
    }
}

/// How many of the latest offset samples the shown offset is the median of.
const OFFSET_SAMPLES: usize = 9;

/// Decides which rig leads (see the module's documentation).
#[derive(Clone, Debug)]
pub struct Arbiter {
    rigs: Option<Rigs>,
    leading: Rig,
    state: [RigState; 2],
    /// The main's Stop held: its time, and when the backup's echo is given up on.
    held_stop: Option<(Stamp, Stamp)>,
    /// How long a held Stop waits for the backup's.
    echo_s: f64,
    failovers: u32,
    last_failover: Option<String>,
    /// The operator chose the leader: no automatic change but a failover of the main's.
    pinned: bool,
    /// The backup's offset from the main at its latest clocks, in seconds, newest last.
    offsets: std::collections::VecDeque<f64>,
    /// When a MIDI source (not Link) last sent clock or transport that was obeyed.
    last_midi: Option<Stamp>,
}

fn stops(event: &MidiEvent) -> bool {
    matches!(
        event,
        MidiEvent::Stop
            | MidiEvent::Reset
            | MidiEvent::MachineControl {
                command: MachineCommand::Stop | MachineCommand::Pause,
                ..
            }
    )
}

fn starts(event: &MidiEvent) -> bool {
    matches!(
        event,
        MidiEvent::Start
            | MidiEvent::Continue
            | MidiEvent::MachineControl {
                command: MachineCommand::Play | MachineCommand::DeferredPlay,
                ..
            }
    )
}

impl Arbiter {
    /// An arbiter for `rigs` (none: every message is obeyed). A held Stop waits `echo_s` for
    /// the backup's (the player's loop-jump window).
    pub fn new(rigs: Option<Rigs>, echo_s: f64) -> Arbiter {
        Arbiter {
            rigs,
            leading: Rig::Main,
            state: Default::default(),
            held_stop: None,
            echo_s,
            failovers: 0,
            last_failover: None,
            pinned: false,
            offsets: std::collections::VecDeque::new(),
            last_midi: None,
        }
    }

    /// The show has rigs.
    pub fn has_rigs(&self) -> bool {
        self.rigs.is_some()
    }

    /// The rig that leads.
    pub fn leading(&self) -> Rig {
        self.leading
    }

    /// Whether the source called `label` is the rig that leads.
    pub fn leading_rig_is(&self, label: &str) -> bool {
        self.rig_of(label, &SourceKind::of_midi(label)) == Some(self.leading)
    }

    /// Which rig the source called `label` is, if either.
    pub fn rig_of(&self, label: &str, kind: &SourceKind) -> Option<Rig> {
        let rigs = self.rigs.as_ref()?;
        if rigs.main.matches(label, kind) {
            Some(Rig::Main)
        } else if rigs.backup.matches(label, kind) {
            Some(Rig::Backup)
        } else {
            None
        }
    }

    /// A MIDI message from the source called `label`, meant at `at`, handled at `now`. The
    /// decision, if any, is to be carried out before the verdict.
    pub fn on_midi(
        &mut self,
        label: &str,
        event: &MidiEvent,
        at: Stamp,
        now: Stamp,
    ) -> (Option<Decision>, Verdict) {
        let (decision, verdict) = self.rigs_on_midi(label, event, at, now);
        if verdict != Verdict::Obey || !(*event == MidiEvent::Clock || event.is_transport()) {
            return (decision, verdict);
        }
        if label != LINK_SOURCE {
            self.last_midi = Some(now);
        } else if self.rigs.is_some() && self.leading_rig_is(label) {
            // Link is the rig that leads: whatever MIDI said lately.
        } else if self
            .last_midi
            .is_some_and(|t| now.secs_f64() - t.secs_f64() < LINK_YIELDS_S)
        {
            return (decision, Verdict::Yield);
        }
        (decision, verdict)
    }

    /// [`Arbiter::on_midi`] for the rigs.
    fn rigs_on_midi(
        &mut self,
        label: &str,
        event: &MidiEvent,
        at: Stamp,
        now: Stamp,
    ) -> (Option<Decision>, Verdict) {
        let kind = SourceKind::of_midi(label);
        let Some(rig) = self.rig_of(label, &kind) else {
            return (None, Verdict::Obey);
        };
        let s = &mut self.state[rig.index()];
        s.heard_at = Some(now);
        s.left = false;
        s.silent = false;
        if s.source.as_deref() != Some(label) {
            s.source = Some(label.to_string());
        }
        // The main's Start after both stopped: it leads from before it, so that its Start is
        // obeyed.
        let before = self.after_heard(rig, now);
        let s = &mut self.state[rig.index()];
        match event {
            MidiEvent::Start => {
                s.started();
                s.clocks = Some(0);
                s.cued_at = Some(at);
            }
            MidiEvent::Continue => {
                s.started();
                s.cued_at = Some(at);
            }
            MidiEvent::MachineControl {
                command: MachineCommand::Play | MachineCommand::DeferredPlay,
                ..
            } => s.started(),
            MidiEvent::SongPosition { sixteenths } => {
                s.clocks = Some(u32::from(*sixteenths) * 6);
                s.clocks_since_start = 0;
                s.cued_at = Some(at);
                s.located = !s.running;
            }
            MidiEvent::Clock => s.clock(at),
            MidiEvent::TimecodeQuarterFrame { .. } => {
                if !s.running {
                    // Timecode running means the DAW rolls.
                    s.started();
                }
                s.synced(at);
            }
            e if stops(e) => s.stopped(),
            _ => {}
        }
        if starts(event) {
            self.offsets.clear();
        } else if *event == MidiEvent::Clock {
            self.sample_offset();
        }
        let mut decision = before.or_else(|| self.after_heard(rig, now));
        if rig == Rig::Backup && stops(event) {
            if let Some((stop_at, _)) = self.held_stop.take() {
                // The echo: the main's Stop stands.
                decision = Some(Decision::Stop { at: stop_at });
            }
        }
        if rig == Rig::Main
            && self.held_stop.is_some()
            && (starts(event) || matches!(event, MidiEvent::SongPosition { .. }))
        {
            // The main goes on (a loop jump: Stop, Song Position, Continue): its Stop stands,
            // then this.
            if let Some((stop_at, _)) = self.held_stop.take() {
                decision = Some(Decision::Stop { at: stop_at });
            }
        }
        if rig != self.leading
            && decision.is_none()
            && !self.pinned
            && starts(event)
            && !self.state[self.leading.index()].present()
        {
            // The leader is not there and this rig plays: it leads.
            let from = self.leading;
            self.leading = rig;
            self.held_stop = None;
            self.failovers = self.failovers.saturating_add(1);
            decision = Some(Decision::Failover {
                to: rig,
                cause: FailCause::Absent,
                position: self.state[rig.index()].position(),
                offset_ms: self.last_offset_ms(rig).filter(|_| from != rig),
            });
        }
        if rig != self.leading {
            return (decision, Verdict::Watch);
        }
        if stops(event) {
            if rig == Rig::Main && self.backup_plays(now) {
                self.held_stop = Some((at, now.plus_secs(self.echo_s)));
                return (decision, Verdict::Held);
            }
            let m = &self.state[Rig::Main.index()];
            if rig == Rig::Backup && !self.pinned && !m.running && m.heard(now) {
                // The show stopped (the main had stopped already): the main leads the next
                // song, cued where it is.
                self.leading = Rig::Main;
                decision = decision.or(Some(Decision::MainLeads {
                    position: m.lead_position(),
                    after_message: true,
                }));
            }
        }
        (decision, Verdict::Obey)
    }

    /// `count` clock ticks the player took at once (it fell behind and the inlet folded them),
    /// the last meant at `latest`: they move the rig's position as `count` clocks would.
    pub fn on_folded_clocks(
        &mut self,
        label: &str,
        count: u64,
        latest: Stamp,
        now: Stamp,
    ) -> (Option<Decision>, Verdict) {
        if count == 0 {
            return (None, Verdict::Obey);
        }
        let kind = SourceKind::of_midi(label);
        if let Some(rig) = self.rig_of(label, &kind) {
            let s = &mut self.state[rig.index()];
            if s.running && count > 1 {
                let before_last = count - 1;
                // The first clock after a start is the position itself.
                let moves = if s.clocks_since_start > 0 {
                    before_last
                } else {
                    before_last - 1
                };
                if let Some(c) = s.clocks.as_mut() {
                    *c = c.saturating_add(u32::try_from(moves).unwrap_or(u32::MAX));
                }
                s.clocks_since_start = s.clocks_since_start.saturating_add(before_last);
                // No time for the gap: the interval is not measured across it.
                s.clock_at = None;
            }
        }
        self.on_midi(label, &MidiEvent::Clock, latest, now)
    }

    fn backup_plays(&self, now: Stamp) -> bool {
        let b = &self.state[Rig::Backup.index()];
        b.running && b.heard(now)
    }

    /// A rig was heard: once neither plays (the show stopped), the main leads again as soon
    /// as it is heard, from where it stands.
    fn after_heard(&mut self, rig: Rig, now: Stamp) -> Option<Decision> {
        let (m, b) = (
            &self.state[Rig::Main.index()],
            &self.state[Rig::Backup.index()],
        );
        if rig == Rig::Main
            && self.leading == Rig::Backup
            && !self.pinned
            && !b.running
            && !m.running
            && m.heard(now)
        {
            self.leading = Rig::Main;
            return Some(Decision::MainLeads {
                position: m.lead_position(),
                after_message: false,
            });
        }
        None
    }

    /// A frame of LTC, true at `at`, handled at `now`, from the source called `label`.
    pub fn on_ltc(&mut self, label: &str, at: Stamp, now: Stamp) -> (Option<Decision>, Verdict) {
        let Some(rig) = self.rig_of(label, &SourceKind::Ltc) else {
            return (None, Verdict::Obey);
        };
        let s = &mut self.state[rig.index()];
        s.heard_at = Some(now);
        s.left = false;
        s.silent = false;
        if s.source.as_deref() != Some(label) {
            s.source = Some(label.to_string());
        }
        if !s.running {
            s.started();
        }
        s.synced(at);
        let decision = self.after_heard(rig, now);
        let verdict = if rig == self.leading {
            Verdict::Obey
        } else {
            Verdict::Watch
        };
        (decision, verdict)
    }

    /// The source called `label` left (`why`: its session said goodbye, its port went away).
    pub fn on_left(&mut self, label: &str, why: &str, now: Stamp) -> Option<Decision> {
        let kind = SourceKind::of_midi(label);
        let rig = self.rig_of(label, &kind)?;
        let s = &mut self.state[rig.index()];
        s.heard_at = None;
        s.joined = false;
        s.left = true;
        s.stopped();
        if rig == Rig::Main && self.leading == Rig::Main {
            return self.fail_over(
                FailCause::Left {
                    why: why.to_string(),
                },
                now,
            );
        }
        None
    }

    /// The source called `label` joined (its session took it in, its port was connected).
    pub fn on_joined(&mut self, label: &str, now: Stamp) -> Option<Decision> {
        let kind = SourceKind::of_midi(label);
        let rig = self.rig_of(label, &kind)?;
        let s = &mut self.state[rig.index()];
        s.joined = true;
        s.left = false;
        if s.source.as_deref() != Some(label) {
            s.source = Some(label.to_string());
        }
        self.after_heard(rig, now)
    }

    /// Called regularly by the player: a silent main, a Stop the backup did not echo.
    pub fn on_tick(&mut self, now: Stamp) -> Option<Decision> {
        let rigs = self.rigs.as_ref()?;
        if let Some((stop_at, deadline)) = self.held_stop {
            if now >= deadline {
                self.held_stop = None;
                if self.backup_plays(now) {
                    return self.fail_over(FailCause::LoneStop, now);
                }
                // The backup went meanwhile (it left): the main's Stop stands.
                return Some(Decision::Stop { at: stop_at });
            }
        }
        let m = &self.state[Rig::Main.index()];
        if self.leading == Rig::Main && m.running && m.syncs_since_start >= 2 {
            if let Some(last) = m.sync_at {
                let silent_s = now.secs_since(last);
                if silent_s > rigs.failover_s {
                    return self.fail_over(
                        FailCause::Silent {
                            silent_ms: silent_s * 1000.0,
                        },
                        now,
                    );
                }
            }
        }
        None
    }

    /// The operator chose `rig` to lead. Returns the decision to follow it, or `None` when it
    /// leads already (or there are no rigs).
    pub fn switch_to(&mut self, rig: Rig, now: Stamp) -> Option<Decision> {
        self.rigs.as_ref()?;
        if rig == self.leading {
            return None;
        }
        self.held_stop = None;
        let from = self.leading;
        self.leading = rig;
        // Back to the main is back to normal; the backup stays until switched back.
        self.pinned = rig == Rig::Backup;
        let _ = from;
        let offset_ms = self.last_offset_ms(rig);
        let _ = now;
        Some(Decision::Failover {
            to: rig,
            cause: FailCause::Operator,
            position: self.state[rig.index()].position(),
            offset_ms,
        })
    }

    /// The main is gone: the backup leads when it is there; a backup never heard changes
    /// nothing (the main's loss is the show's, as without rigs).
    fn fail_over(&mut self, cause: FailCause, now: Stamp) -> Option<Decision> {
        let b = &self.state[Rig::Backup.index()];
        if !b.heard(now) {
            // Without a backup, a silent main stays in charge: the transport decides as ever.
            if matches!(cause, FailCause::Silent { .. }) {
                // Not said again until it plays again.
                self.state[Rig::Main.index()].syncs_since_start = 0;
            }
            return None;
        }
        self.held_stop = None;
        self.leading = Rig::Backup;
        self.failovers = self.failovers.saturating_add(1);
        let m = &mut self.state[Rig::Main.index()];
        // The main is not waited for again until it starts again.
        m.syncs_since_start = 0;
        if matches!(cause, FailCause::Silent { .. }) {
            // A frozen main neither plays nor is heard, until it sends something again.
            m.stopped();
            m.silent = true;
        }
        let offset_ms = self.last_offset_ms(Rig::Backup);
        Some(Decision::Failover {
            to: Rig::Backup,
            cause,
            position: self.state[Rig::Backup.index()].position(),
            offset_ms,
        })
    }

    /// Records the failover as the log said it, for the status page.
    pub fn note_failover(&mut self, text: String) {
        self.last_failover = Some(text);
    }

    /// Notes the backup's offset from the main after a clock of either: how much later the
    /// backup's clock says the same song position, from their latest clocks.
    fn sample_offset(&mut self) {
        let (m, b) = (&self.state[0], &self.state[1]);
        // A rig with no clock since its start has only an older clock's time to give.
        if !m.running || !b.running || m.clocks_since_start == 0 || b.clocks_since_start == 0 {
            return;
        }
        let (Some(mt), Some(bt), Some(mn), Some(bn)) = (m.clock_at, b.clock_at, m.clocks, b.clocks)
        else {
            return;
        };
        let Some(interval) = m.clock_interval_s.or(b.clock_interval_s) else {
            return;
        };
        let sample = bt.secs_since(mt) - (f64::from(bn) - f64::from(mn)) * interval;
        if self.offsets.len() == OFFSET_SAMPLES {
            self.offsets.pop_front();
        }
        self.offsets.push_back(sample);
    }

    /// `rig`'s offset from the other in ms (positive: behind it) at their latest clocks, even
    /// when one has stopped since (what a failover to `rig` corrects).
    fn last_offset_ms(&self, rig: Rig) -> Option<f64> {
        if self.offsets.len() < 3 {
            return None;
        }
        let mut sorted: Vec<f64> = self.offsets.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let backup_ms = sorted[sorted.len() / 2] * 1000.0;
        Some(if rig == Rig::Backup {
            backup_ms
        } else {
            -backup_ms
        })
    }

    /// `rig`'s offset from `from` in ms (positive: `rig` is behind), while both play with
    /// clock: how much later its clock says the same song position (the median of the last
    /// few clocks').
    pub fn offset_ms(&self, rig: Rig, from: Rig) -> Option<f64> {
        let (a, b) = (&self.state[rig.index()], &self.state[from.index()]);
        if !a.running || !b.running || rig == from {
            return None;
        }
        self.last_offset_ms(rig)
    }

    /// What the status page shows (`None` without rigs).
    pub fn status(&self, now: Stamp) -> Option<RigsStatus> {
        let rigs = self.rigs.as_ref()?;
        let one = |rig: Rig, spec: &RigSource| {
            let s = &self.state[rig.index()];
            RigStatus {
                name: spec.describe(),
                source: s.source.clone(),
                heard: s.heard(now),
                playing: s.running && s.heard(now),
                offset_ms: self.offset_ms(rig, rig.other()),
            }
        };
        Some(RigsStatus {
            leading: self.leading,
            main: one(Rig::Main, &rigs.main),
            backup: one(Rig::Backup, &rigs.backup),
            failovers: self.failovers,
            last_failover: self.last_failover.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: &str = "network peer \"Main Live\" (127.0.0.2)";
    const BACKUP: &str = "network peer \"Backup Live\" (127.0.0.3)";

    fn arbiter() -> Arbiter {
        Arbiter::new(
            Some(Rigs {
                main: RigSource::parse("Main Live").unwrap(),
                backup: RigSource::parse("127.0.0.3").unwrap(),
                failover_s: 0.150,
            }),
            0.3,
        )
    }

    fn s(t: f64) -> Stamp {
        Stamp::from_secs_f64(t)
    }

    /// Both rigs play from the top at 120 BPM (a clock every 1/48 s), the backup `lag` s
    /// behind, from `t0` for `clocks` clocks; returns every verdict given to each.
    fn play_both(a: &mut Arbiter, t0: f64, lag: f64, clocks: u32) -> (Vec<Verdict>, Vec<Verdict>) {
        let (mut main, mut backup) = (Vec::new(), Vec::new());
        for (label, offset, out) in [(MAIN, 0.0, &mut main), (BACKUP, lag, &mut backup)] {
            out.push(
                a.on_midi(label, &MidiEvent::Start, s(t0 + offset), s(t0 + offset))
                    .1,
            );
        }
        for n in 0..clocks {
            let t = t0 + f64::from(n) / 48.0;
            main.push(a.on_midi(MAIN, &MidiEvent::Clock, s(t), s(t)).1);
            backup.push(
                a.on_midi(BACKUP, &MidiEvent::Clock, s(t + lag), s(t + lag))
                    .1,
            );
        }
        (main, backup)
    }

    #[test]
    fn midi_leads_link_for_a_second_unless_link_is_the_leading_rig() {
        let mut a = Arbiter::new(None, 0.3);
        let link = |a: &mut Arbiter, e: MidiEvent, t: f64| a.on_midi(LINK_SOURCE, &e, s(t), s(t)).1;
        assert_eq!(
            link(&mut a, MidiEvent::Start, 1.0),
            Verdict::Obey,
            "Link alone"
        );
        assert_eq!(link(&mut a, MidiEvent::Clock, 1.1), Verdict::Obey);
        let port = "IAC Driver Bus 1";
        let (_, v) = a.on_midi(port, &MidiEvent::Clock, s(2.0), s(2.0));
        assert_eq!(v, Verdict::Obey, "MIDI is always obeyed");
        assert_eq!(link(&mut a, MidiEvent::Clock, 2.01), Verdict::Yield);
        assert_eq!(link(&mut a, MidiEvent::Stop, 2.9), Verdict::Yield);
        assert_eq!(
            link(&mut a, MidiEvent::SongSelect { song: 1 }, 2.9),
            Verdict::Obey,
            "neither clock nor transport"
        );
        assert_eq!(
            link(&mut a, MidiEvent::Start, 3.01),
            Verdict::Obey,
            "MIDI quiet 1 s"
        );
        // Link as the main rig leads, whatever MIDI says.
        let mut r = Arbiter::new(
            Some(Rigs {
                main: RigSource::parse("link").unwrap(),
                backup: RigSource::parse("127.0.0.3").unwrap(),
                failover_s: 0.150,
            }),
            0.3,
        );
        r.on_midi(port, &MidiEvent::Clock, s(2.0), s(2.0));
        assert_eq!(link(&mut r, MidiEvent::Start, 2.01), Verdict::Obey);
        // The backup (watched) does not make Link yield.
        r.on_midi(BACKUP, &MidiEvent::Clock, s(5.0), s(5.0));
        assert_eq!(link(&mut r, MidiEvent::Clock, 5.01), Verdict::Obey);
    }

    #[test]
    fn folded_clocks_move_a_rigs_position_as_single_ones() {
        let mut a = arbiter();
        let mut b = arbiter();
        for x in [&mut a, &mut b] {
            x.on_midi(BACKUP, &MidiEvent::Start, s(1.0), s(1.0));
        }
        for n in 0..20 {
            let t = 1.0 + f64::from(n) / 48.0;
            a.on_midi(BACKUP, &MidiEvent::Clock, s(t), s(t));
            if n < 3 || n == 19 {
                b.on_midi(BACKUP, &MidiEvent::Clock, s(t), s(t));
            }
            if n == 18 {
                b.on_folded_clocks(BACKUP, 16, s(t), s(t));
            }
        }
        let pos = |x: &Arbiter| x.state[Rig::Backup.index()].clocks;
        assert_eq!(pos(&a), Some(19));
        assert_eq!(pos(&b), pos(&a));
    }

    #[test]
    fn sources_are_known_by_peer_name_address_or_port_name() {
        let a = arbiter();
        assert_eq!(a.rig_of(MAIN, &SourceKind::of_midi(MAIN)), Some(Rig::Main));
        assert_eq!(
            a.rig_of(BACKUP, &SourceKind::of_midi(BACKUP)),
            Some(Rig::Backup)
        );
        let other = "network peer \"Main Live 2\" (127.0.0.4)";
        assert_eq!(a.rig_of(other, &SourceKind::of_midi(other)), None);
        let port = RigSource::parse("USB MIDI").unwrap();
        assert!(port.matches("Focusrite USB MIDI 1", &SourceKind::Port));
        assert!(!port.matches(
            "network peer \"USB MIDI x\" (1.2.3.4)",
            &SourceKind::of_midi("network peer \"USB MIDI x\" (1.2.3.4)")
        ));
        assert_eq!(RigSource::parse("LTC").unwrap(), RigSource::Ltc);
        assert!(RigSource::parse("link")
            .unwrap()
            .matches(LINK_SOURCE, &SourceKind::of_midi(LINK_SOURCE)));
        assert!(RigSource::parse("  ").is_err());
        assert_eq!(
            SourceKind::of_midi(&network_peer_label("a \"b\" (c)", "::1")),
            SourceKind::NetworkPeer {
                name: "a \"b\" (c)",
                address: "::1"
            }
        );
    }

    #[test]
    fn while_the_main_lives_the_backup_is_watched_and_its_offset_known() {
        let mut a = arbiter();
        let (main, backup) = play_both(&mut a, 1.0, 0.012, 96);
        assert!(main.iter().all(|v| *v == Verdict::Obey));
        assert!(backup.iter().all(|v| *v == Verdict::Watch));
        // The backup's Stop, Song Position and Start change nothing either.
        for e in [
            MidiEvent::Stop,
            MidiEvent::SongPosition { sixteenths: 8 },
            MidiEvent::Start,
        ] {
            assert_eq!(
                a.on_midi(BACKUP, &e, s(3.0), s(3.0)),
                (None, Verdict::Watch)
            );
        }
        let mut a = arbiter();
        play_both(&mut a, 1.0, 0.012, 96);
        let st = a.status(s(3.0)).unwrap();
        assert_eq!(st.leading, Rig::Main);
        assert!(st.main.heard && st.backup.heard && st.backup.playing);
        let off = st.backup.offset_ms.unwrap();
        assert!((off - 12.0).abs() < 0.5, "{off}");
        assert!((st.main.offset_ms.unwrap() + 12.0).abs() < 0.5);
        assert_eq!(st.main.name, "Main Live");
        assert_eq!(st.backup.source.as_deref(), Some(BACKUP));
    }

    #[test]
    fn a_failover_before_the_backups_first_clock_follows_it_from_its_continue() {
        let mut a = arbiter();
        play_both(&mut a, 1.0, 0.005, 48);
        // Both stop, are located to bar 5 (sixteenth 64), and continue at 5.0 s; the main
        // leaves before either sends a clock.
        for (label, lag) in [(MAIN, 0.0), (BACKUP, 0.005)] {
            a.on_midi(label, &MidiEvent::Stop, s(2.0 + lag), s(2.0 + lag));
            let spp = MidiEvent::SongPosition { sixteenths: 64 };
            a.on_midi(label, &spp, s(4.0 + lag), s(4.0 + lag));
            a.on_midi(label, &MidiEvent::Continue, s(5.0 + lag), s(5.0 + lag));
        }
        match a.on_left(MAIN, "it said goodbye", s(5.01)) {
            Some(Decision::Failover {
                to: Rig::Backup,
                position,
                ..
            }) => {
                assert!(position.running);
                assert_eq!(position.clocks, Some(384));
                // At bar 5 since its Continue, not since its last clock 3 s before (following
                // that would put the picture 3 s further on).
                assert_eq!(position.clock_at, Some(s(5.005)));
                assert!(position.awaiting_first_clock);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_silent_main_hands_over_to_the_playing_backup_with_its_position() {
        let mut a = arbiter();
        play_both(&mut a, 1.0, 0.005, 48);
        // The main's last clock was at 1.979 s; the backup's clocks go on.
        let last = 1.0 + 47.0 / 48.0;
        assert_eq!(
            a.on_tick(s(last + 0.1)),
            None,
            "100 ms without clock is not a failure"
        );
        for n in 48..54 {
            let t = 1.0 + f64::from(n) / 48.0 + 0.005;
            a.on_midi(BACKUP, &MidiEvent::Clock, s(t), s(t));
        }
        match a.on_tick(s(last + 0.16)) {
            Some(Decision::Failover {
                to: Rig::Backup,
                cause: FailCause::Silent { silent_ms },
                position,
                ..
            }) => {
                assert!((silent_ms - 160.0).abs() < 1.0);
                assert!(position.running);
                assert_eq!(position.clocks, Some(53));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(a.leading(), Rig::Backup);
        let st = a.status(s(last + 0.2)).unwrap();
        assert!(!st.main.heard && !st.main.playing, "a frozen main: {st:?}");
        assert!(st.backup.heard && st.backup.playing);
        // The backup is obeyed; the main, back, is watched until the next stop.
        assert_eq!(
            a.on_midi(BACKUP, &MidiEvent::Clock, s(2.2), s(2.2)).1,
            Verdict::Obey
        );
        assert_eq!(
            a.on_midi(MAIN, &MidiEvent::Continue, s(2.3), s(2.3)).1,
            Verdict::Watch
        );
        assert_eq!(
            a.on_midi(MAIN, &MidiEvent::Clock, s(2.31), s(2.31)).1,
            Verdict::Watch
        );
        assert_eq!(a.on_tick(s(3.0)), None);
        // The backup's Stop is the show's: obeyed, and the main leads the next song.
        assert_eq!(
            a.on_midi(BACKUP, &MidiEvent::Stop, s(4.0), s(4.0)).1,
            Verdict::Obey
        );
        assert_eq!(
            a.leading(),
            Rig::Backup,
            "the main plays on its own: not followed yet"
        );
        assert!(matches!(
            a.on_midi(MAIN, &MidiEvent::Stop, s(4.1), s(4.1)),
            (
                Some(Decision::MainLeads {
                    position: RigPosition { running: false, .. },
                    after_message: false,
                }),
                Verdict::Obey
            )
        ));
        // Both stopped: the main's Song Position is the one followed, the backup's watched.
        assert_eq!(
            a.on_midi(
                MAIN,
                &MidiEvent::SongPosition { sixteenths: 4 },
                s(4.2),
                s(4.2)
            ),
            (None, Verdict::Obey)
        );
        assert_eq!(
            a.on_midi(
                BACKUP,
                &MidiEvent::SongPosition { sixteenths: 0 },
                s(4.2),
                s(4.2)
            ),
            (None, Verdict::Watch)
        );
        assert_eq!(a.status(s(4.0)).unwrap().failovers, 1);
    }

    #[test]
    fn a_main_that_leaves_hands_over_and_without_a_backup_nothing_changes() {
        let mut a = arbiter();
        play_both(&mut a, 1.0, 0.0, 24);
        match a.on_left(MAIN, "it said goodbye", s(1.6)) {
            Some(Decision::Failover {
                cause: FailCause::Left { why },
                ..
            }) => {
                assert_eq!(why, "it said goodbye")
            }
            other => panic!("{other:?}"),
        }
        // No backup heard: the main stays in charge.
        let mut a = arbiter();
        a.on_midi(MAIN, &MidiEvent::Start, s(1.0), s(1.0));
        for n in 0..10 {
            let t = 1.0 + f64::from(n) / 48.0;
            a.on_midi(MAIN, &MidiEvent::Clock, s(t), s(t));
        }
        assert_eq!(a.on_tick(s(2.0)), None);
        assert_eq!(a.on_left(MAIN, "gone", s(2.1)), None);
        assert_eq!(a.leading(), Rig::Main);
    }

    #[test]
    fn the_mains_stop_waits_for_the_backups_and_a_lone_stop_is_a_failure() {
        let mut a = arbiter();
        play_both(&mut a, 1.0, 0.010, 48);
        assert_eq!(
            a.on_midi(MAIN, &MidiEvent::Stop, s(2.0), s(2.0)),
            (None, Verdict::Held)
        );
        assert_eq!(
            a.on_midi(BACKUP, &MidiEvent::Stop, s(2.01), s(2.01)),
            (Some(Decision::Stop { at: s(2.0) }), Verdict::Watch)
        );
        assert_eq!(a.leading(), Rig::Main);

        let mut a = arbiter();
        play_both(&mut a, 1.0, 0.010, 48);
        assert_eq!(
            a.on_midi(MAIN, &MidiEvent::Stop, s(2.0), s(2.0)).1,
            Verdict::Held
        );
        for n in 48..60 {
            let t = 1.0 + f64::from(n) / 48.0 + 0.01;
            a.on_midi(BACKUP, &MidiEvent::Clock, s(t), s(t));
        }
        assert_eq!(a.on_tick(s(2.2)), None, "still waiting for the echo");
        assert!(matches!(
            a.on_tick(s(2.31)),
            Some(Decision::Failover {
                to: Rig::Backup,
                cause: FailCause::LoneStop,
                ..
            })
        ));

        // A loop jump of the main's (Stop, Song Position, Continue): its Stop stands at once.
        let mut a = arbiter();
        play_both(&mut a, 1.0, 0.010, 48);
        a.on_midi(MAIN, &MidiEvent::Stop, s(2.0), s(2.0));
        assert_eq!(
            a.on_midi(
                MAIN,
                &MidiEvent::SongPosition { sixteenths: 0 },
                s(2.001),
                s(2.001)
            ),
            (Some(Decision::Stop { at: s(2.0) }), Verdict::Obey)
        );

        // No backup playing: the main's Stop is obeyed at once.
        let mut a = arbiter();
        a.on_midi(MAIN, &MidiEvent::Start, s(1.0), s(1.0));
        assert_eq!(
            a.on_midi(MAIN, &MidiEvent::Stop, s(2.0), s(2.0)).1,
            Verdict::Obey
        );
    }

    #[test]
    fn the_operator_switches_and_other_sources_and_no_rigs_are_obeyed() {
        let mut a = arbiter();
        play_both(&mut a, 1.0, 0.0, 24);
        assert!(matches!(
            a.switch_to(Rig::Backup, s(1.6)),
            Some(Decision::Failover {
                to: Rig::Backup,
                cause: FailCause::Operator,
                ..
            })
        ));
        assert_eq!(a.switch_to(Rig::Backup, s(1.6)), None);
        assert!(a.leading_rig_is(BACKUP) && !a.leading_rig_is(MAIN));
        assert!(!a.leading_rig_is("keyboard"));
        assert!(a.switch_to(Rig::Main, s(1.7)).is_some());
        assert_eq!(
            a.on_midi("keyboard", &MidiEvent::Stop, s(2.0), s(2.0)),
            (None, Verdict::Obey)
        );
        let mut none = Arbiter::new(None, 0.3);
        assert_eq!(
            none.on_midi(BACKUP, &MidiEvent::Start, s(1.0), s(1.0)).1,
            Verdict::Obey
        );
        assert_eq!(none.on_tick(s(9.0)), None);
        assert!(none.status(s(9.0)).is_none());
    }

    #[test]
    fn after_a_failover_the_mains_next_start_leads_once_both_stopped() {
        let mut a = arbiter();
        play_both(&mut a, 1.0, 0.0, 24);
        a.on_left(MAIN, "gone", s(1.6));
        a.on_joined(MAIN, s(1.7));
        // The main stops first (watched), then the backup (the show's stop, obeyed): the main
        // leads the next song from then on, even should the backup's Start come first.
        assert_eq!(
            a.on_midi(MAIN, &MidiEvent::Stop, s(2.0), s(2.0)).1,
            Verdict::Watch
        );
        let (decision, verdict) = a.on_midi(BACKUP, &MidiEvent::Stop, s(2.01), s(2.01));
        assert_eq!(verdict, Verdict::Obey);
        assert!(
            matches!(
                decision,
                Some(Decision::MainLeads {
                    after_message: true,
                    ..
                })
            ),
            "{decision:?}"
        );
        assert_eq!(a.leading(), Rig::Main);
        assert_eq!(
            a.on_midi(BACKUP, &MidiEvent::Start, s(2.99), s(2.99)).1,
            Verdict::Watch
        );
        let (decision, verdict) = a.on_midi(MAIN, &MidiEvent::Start, s(3.0), s(3.0));
        assert_eq!(decision, None);
        assert_eq!(verdict, Verdict::Obey);
        assert_eq!(
            a.on_midi(BACKUP, &MidiEvent::Start, s(3.01), s(3.01)).1,
            Verdict::Watch
        );
    }

    #[test]
    fn after_a_silent_main_and_a_stop_of_both_the_mains_start_leads() {
        let mut a = arbiter();
        a.on_joined(MAIN, s(0.5));
        a.on_joined(BACKUP, s(0.5));
        play_both(&mut a, 1.0, 0.01, 48);
        let last = 1.0 + 47.0 / 48.0;
        for n in 48..60 {
            let t = 1.0 + f64::from(n) / 48.0 + 0.01;
            a.on_midi(BACKUP, &MidiEvent::Clock, s(t), s(t));
            a.on_tick(s(t));
        }
        assert_eq!(a.leading(), Rig::Backup, "failed over at {last}");
        for e in [MidiEvent::Stop, MidiEvent::SongPosition { sixteenths: 0 }] {
            assert_eq!(a.on_midi(MAIN, &e, s(3.0), s(3.0)).1, Verdict::Watch);
        }
        // The backup's Stop is the show's (obeyed); then the main, stopped and cued at the
        // top, leads: the backup's Song Position is only watched.
        let (d, v) = a.on_midi(BACKUP, &MidiEvent::Stop, s(3.0), s(3.0));
        assert_eq!(v, Verdict::Obey);
        match d {
            Some(Decision::MainLeads {
                position,
                after_message: true,
            }) => assert_eq!((position.running, position.clocks), (false, Some(0))),
            other => panic!("{other:?}"),
        }
        let e = MidiEvent::SongPosition { sixteenths: 0 };
        assert_eq!(a.on_midi(BACKUP, &e, s(3.0), s(3.0)).1, Verdict::Watch);
        let (d, v) = a.on_midi(
            MAIN,
            &MidiEvent::SongPosition { sixteenths: 0 },
            s(3.5),
            s(3.5),
        );
        assert_eq!((d, v), (None, Verdict::Obey));
        assert_eq!(
            a.on_midi(MAIN, &MidiEvent::Start, s(3.5), s(3.5)).1,
            Verdict::Obey
        );
    }

    #[test]
    fn the_main_leads_again_once_heard_while_nothing_plays() {
        let mut a = arbiter();
        play_both(&mut a, 1.0, 0.0, 24);
        a.on_left(MAIN, "port gone", s(1.6));
        assert_eq!(a.leading(), Rig::Backup);
        a.on_midi(BACKUP, &MidiEvent::Stop, s(2.0), s(2.0));
        assert_eq!(
            a.leading(),
            Rig::Backup,
            "the main gone, the backup leads on"
        );
        assert!(matches!(
            a.on_joined(MAIN, s(2.5)),
            Some(Decision::MainLeads { .. })
        ));
        // Stopped with the backup leading (the main left while stopped): the main, heard, leads.
        let mut a = arbiter();
        a.on_midi(BACKUP, &MidiEvent::Clock, s(0.5), s(0.5));
        a.switch_to(Rig::Backup, s(1.0));
        assert_eq!(
            a.on_midi(
                MAIN,
                &MidiEvent::SongPosition { sixteenths: 0 },
                s(1.1),
                s(1.1)
            )
            .1,
            Verdict::Watch,
            "the operator's choice stands"
        );
        a.switch_to(Rig::Main, s(1.2));
        let mut a = arbiter();
        a.on_left(MAIN, "port gone", s(1.0));
        a.on_joined(BACKUP, s(1.0));
        // The main gone: the backup's Start plays.
        assert!(matches!(
            a.on_midi(BACKUP, &MidiEvent::Start, s(1.1), s(1.1)),
            (
                Some(Decision::Failover {
                    to: Rig::Backup,
                    cause: FailCause::Absent,
                    ..
                }),
                Verdict::Obey
            )
        ));
        a.on_midi(BACKUP, &MidiEvent::Stop, s(1.5), s(1.5));
        assert!(
            matches!(a.on_joined(MAIN, s(2.0)), Some(Decision::MainLeads { .. })),
            "stopped, the main leads once back"
        );
        assert_eq!(
            a.on_midi(BACKUP, &MidiEvent::Start, s(2.1), s(2.1)).1,
            Verdict::Watch
        );
    }
}
