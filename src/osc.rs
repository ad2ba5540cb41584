//! OSC in and out (`--osc [ADDR:]PORT`): commands from Companion, QLab and the like, and
//! state changes sent to the clients that subscribed.
//!
//! Incoming: `/playhead/play`, `/playhead/stop`, `/playhead/arm`, `/playhead/song i` (from 1),
//! `/playhead/locate f` (seconds), `/playhead/black i` (1 black, 0 picture), `/playhead/testcard i`
//! (1 the test card, 0 back to the song before it), `/playhead/offset f` (the latency offset
//! in ms), `/playhead/lead s`
//! (`main` or `backup`: that rig leads, with the show's `main` and `backup`), and
//! `/playhead/subscribe [i PORT]` / `/playhead/unsubscribe [i PORT]`. Outgoing, to
//! subscribers: `/playhead/state s`, `/playhead/song i s`, `/playhead/position f` (seconds),
//! `/playhead/sync f` (sync error, milliseconds), `/playhead/lead s i` (the rig that leads and
//! the failovers so far, with rigs). Commands go into the player's channel with
//! `try_send`; state comes from the player's published snapshot.
//!
//! Anyone who reaches the port can send anything, with a forged source address: so datagrams
//! are bounded before decoding (size, bundle and array nesting: no stack overflow), malformed
//! packets are ignored and counted, commands are taken at [`COMMANDS_PER_SECOND`] at most,
//! log lines are rate-limited, and subscriptions go only to `--allow`ed targets and end after
//! [`SUBSCRIPTION_LIFETIME`] unless renewed.

use crate::player::status::{StatusBoard, StatusSnapshot};
use crate::player::{PlayerInput, RemoteCommand};
use crate::remote::limit::{LogLimit, PerSource};
use crate::remote::RemoteAllow;
use crate::watchdog::{self, Watch};
use crossbeam_channel::{Sender, TrySendError};
use log::{debug, info, warn};
use playhead_core::wire::osc::{self as wire, DecodeError};
use rosc::{OscMessage, OscPacket, OscType};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the threads wake when nothing arrives (to beat for the watchdog).
const WAKE: Duration = Duration::from_millis(250);
/// At most this many subscribers; a new one replaces the one renewed longest ago.
pub const MAX_SUBSCRIBERS: usize = 32;
/// A subscription not renewed (a new `/playhead/subscribe`) within this ends.
pub const SUBSCRIPTION_LIFETIME: Duration = Duration::from_secs(60);
/// Positions are sent at most this often.
const POSITION_INTERVAL: Duration = Duration::from_millis(200);
/// Commands taken at once; beyond that, [`COMMANDS_PER_SECOND`].
pub const COMMAND_BURST: u32 = 32;
/// Commands taken per second from one address (a burst of [`SOURCE_COMMAND_BURST`]): a client
/// that floods leaves the rest of [`COMMANDS_PER_SECOND`] to the others.
pub const SOURCE_COMMANDS_PER_SECOND: f64 = 10.0;
/// Commands taken at once from one address.
pub const SOURCE_COMMAND_BURST: u32 = 16;
/// Commands taken per second, over time; more are dropped and counted. A button or a cue
/// sends a few; a flood must not fill the player's queue or the log.
pub const COMMANDS_PER_SECOND: f64 = 20.0;
/// The most of a message's address and arguments a log line shows, in characters.
const DESCRIBE_CHARS: usize = 120;

/// What an OSC packet asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum OscRequest {
    /// A command for the player.
    Command(RemoteCommand),
    /// Send state changes to the sender (or to this port on the sender's host), for
    /// [`SUBSCRIPTION_LIFETIME`] unless renewed.
    Subscribe(Option<u16>),
    /// Stop sending them (to the sender, or to this port on the sender's host).
    Unsubscribe(Option<u16>),
}

/// Why a packet was ignored.
#[derive(Clone, Debug, PartialEq)]
pub enum Malformed {
    /// Not OSC at all, or past the bounds (size, nesting): see
    /// [`playhead_core::wire::osc`].
    Undecodable(String),
    /// OSC, but not a message playhead knows or with the wrong arguments.
    Unknown(String),
}

/// Reads one datagram: every request in it, in order (a bundle may carry several). Never
/// panics and never recurses past a few levels, whatever the bytes: the nesting is checked
/// before rosc decodes ([`playhead_core::wire::osc::decode`]).
pub fn parse_packet(bytes: &[u8]) -> Result<Vec<OscRequest>, Malformed> {
    let packet =
        wire::decode(bytes).map_err(|e: DecodeError| Malformed::Undecodable(e.to_string()))?;
    let mut requests = Vec::new();
    // Bundles in order, with a list rather than recursion: the first element first.
    let mut todo: Vec<&OscPacket> = vec![&packet];
    while let Some(p) = todo.pop() {
        match p {
            OscPacket::Message(m) => requests.push(request(m)?),
            OscPacket::Bundle(b) => todo.extend(b.content.iter().rev()),
        }
    }
    Ok(requests)
}

/// A message's address and arguments for a log line, cut short: a datagram may hold
/// thousands of arguments.
fn describe(m: &OscMessage) -> String {
    let mut text: String = m.addr.chars().take(DESCRIBE_CHARS).collect();
    text.push(' ');
    let mut args = String::from("[");
    for (i, a) in m.args.iter().enumerate() {
        if args.len() > DESCRIBE_CHARS {
            args.push_str(&format!("... {} arguments", m.args.len()));
            break;
        }
        if i > 0 {
            args.push_str(", ");
        }
        match a {
            // Arrays are at most a few levels deep here (checked), but may be long.
            OscType::Array(array) => args.push_str(&format!("array of {}", array.content.len())),
            OscType::String(s) => {
                args.push_str(&format!("{:?}", s.chars().take(40).collect::<String>()))
            }
            OscType::Blob(b) => args.push_str(&format!("blob of {} bytes", b.len())),
            other => args.push_str(&format!("{other:?}")),
        }
    }
    args.push(']');
    text + &args
}

/// A number argument as an integer, whichever OSC type the client chose.
fn int_arg(m: &OscMessage) -> Option<i64> {
    match m.args.first()? {
        OscType::Int(i) => Some(i64::from(*i)),
        OscType::Long(i) => Some(*i),
        OscType::Float(f) if f.is_finite() && f.fract() == 0.0 => Some(*f as i64),
        OscType::Double(f) if f.is_finite() && f.fract() == 0.0 => Some(*f as i64),
        OscType::Bool(b) => Some(i64::from(*b)),
        OscType::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A number argument as seconds.
fn float_arg(m: &OscMessage) -> Option<f64> {
    let f = match m.args.first()? {
        OscType::Float(f) => f64::from(*f),
        OscType::Double(f) => *f,
        OscType::Int(i) => f64::from(*i),
        OscType::Long(i) => *i as f64,
        OscType::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    f.is_finite().then_some(f)
}

/// No argument (`Some(None)`: the sender's port), or a port number.
fn port_arg(m: &OscMessage) -> Option<Option<u16>> {
    if m.args.is_empty() {
        return Some(None);
    }
    int_arg(m)
        .filter(|p| (1..=65535).contains(p))
        .and_then(|p| u16::try_from(p).ok())
        .map(Some)
}

fn request(m: &OscMessage) -> Result<OscRequest, Malformed> {
    let unknown = || Malformed::Unknown(describe(m));
    let command = |c| Ok(OscRequest::Command(c));
    match m.addr.as_str() {
        "/playhead/play" => command(RemoteCommand::Play),
        "/playhead/stop" => command(RemoteCommand::Stop),
        "/playhead/arm" => command(RemoteCommand::Arm),
        "/playhead/reopen" => command(RemoteCommand::Reopen),
        "/playhead/song" => match int_arg(m) {
            Some(n) if n >= 1 => command(RemoteCommand::Song(
                usize::try_from(n - 1).map_err(|_| unknown())?,
            )),
            _ => Err(unknown()),
        },
        "/playhead/locate" => match float_arg(m) {
            Some(s) if s >= 0.0 => command(RemoteCommand::Locate(s)),
            _ => Err(unknown()),
        },
        "/playhead/black" => match int_arg(m) {
            // No argument: black, as a button with no value would mean.
            None if m.args.is_empty() => command(RemoteCommand::Black(true)),
            Some(v) => command(RemoteCommand::Black(v != 0)),
            None => Err(unknown()),
        },
        "/playhead/offset" => match (float_arg(m), m.args.get(1)) {
            (Some(ms), None) if ms.is_finite() && ms.abs() <= 10_000.0 => {
                command(RemoteCommand::Offset(ms))
            }
            (Some(ms), Some(OscType::String(output)))
                if ms.is_finite() && ms.abs() <= 10_000.0 && !output.trim().is_empty() =>
            {
                command(RemoteCommand::OutputOffset(output.trim().to_string(), ms))
            }
            _ => Err(unknown()),
        },
        "/playhead/testcard" => match int_arg(m) {
            None if m.args.is_empty() => command(RemoteCommand::TestCard(true)),
            Some(v) => command(RemoteCommand::TestCard(v != 0)),
            None => Err(unknown()),
        },
        "/playhead/lead" => match m.args.first() {
            Some(OscType::String(r)) if m.args.len() == 1 => match r.trim() {
                "main" => command(RemoteCommand::Lead(crate::arbiter::Rig::Main)),
                "backup" => command(RemoteCommand::Lead(crate::arbiter::Rig::Backup)),
                _ => Err(unknown()),
            },
            _ => Err(unknown()),
        },
        "/playhead/subscribe" => port_arg(m).map(OscRequest::Subscribe).ok_or_else(unknown),
        "/playhead/unsubscribe" => port_arg(m).map(OscRequest::Unsubscribe).ok_or_else(unknown),
        _ => Err(unknown()),
    }
}

/// Who is sent state changes: each target with when it last subscribed. A subscription ends
/// [`SUBSCRIPTION_LIFETIME`] after its last renewal, and only targets the `--allow` rules
/// admit are taken: a subscribe whose source is forged cannot make playhead send to a host
/// outside them, nor for ever. Each subscribe, new or renewed, is answered with the whole
/// state (a client that restarted, or lost the first answer, is told it again).
#[derive(Debug)]
pub struct Subscriptions {
    allow: RemoteAllow,
    list: Vec<Subscriber>,
}

/// One subscriber.
#[derive(Clone, Copy, Debug)]
struct Subscriber {
    to: SocketAddr,
    renewed: Instant,
    /// It (re)subscribed since the state was last sent: send it everything.
    wants_everything: bool,
}

/// What a subscribe did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subscribed {
    /// A new subscriber.
    New,
    /// An existing one, renewed.
    Renewed,
    /// Its target is not admitted by `--allow`.
    NotAllowed,
}

impl Subscriptions {
    /// No subscribers yet; targets must be admitted by `allow`.
    pub fn new(allow: RemoteAllow) -> Subscriptions {
        Subscriptions {
            allow,
            list: Vec::new(),
        }
    }

    /// `to` subscribes (or renews) at `now`.
    pub fn subscribe(&mut self, to: SocketAddr, now: Instant) -> Subscribed {
        if !self.allow.admits(to.ip()) {
            return Subscribed::NotAllowed;
        }
        if let Some(entry) = self.list.iter_mut().find(|s| s.to == to) {
            entry.renewed = now;
            entry.wants_everything = true;
            return Subscribed::Renewed;
        }
        self.expire(now);
        if self.list.len() >= MAX_SUBSCRIBERS {
            // The one renewed longest ago makes room.
            if let Some(oldest) = self
                .list
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.renewed)
                .map(|(i, _)| i)
            {
                self.list.remove(oldest);
            }
        }
        self.list.push(Subscriber {
            to,
            renewed: now,
            wants_everything: true,
        });
        Subscribed::New
    }

    /// `to` unsubscribes; true when it was subscribed.
    pub fn unsubscribe(&mut self, to: SocketAddr) -> bool {
        let before = self.list.len();
        self.list.retain(|s| s.to != to);
        self.list.len() < before
    }

    /// Ends the subscriptions not renewed in time; returns their targets.
    pub fn expire(&mut self, now: Instant) -> Vec<SocketAddr> {
        let mut gone = Vec::new();
        self.list.retain(|s| {
            let live = now.saturating_duration_since(s.renewed) < SUBSCRIPTION_LIFETIME;
            if !live {
                gone.push(s.to);
            }
            live
        });
        gone
    }

    /// The targets subscribed now.
    pub fn targets(&self) -> Vec<SocketAddr> {
        self.list.iter().map(|s| s.to).collect()
    }

    /// The targets to send to now, each with whether it is to be sent the whole state (it
    /// subscribed or renewed since the last call).
    pub fn take_targets(&mut self) -> Vec<(SocketAddr, bool)> {
        self.list
            .iter_mut()
            .map(|s| (s.to, std::mem::take(&mut s.wants_everything)))
            .collect()
    }
}

/// The running OSC endpoint.
pub struct Osc {
    /// The address it listens on.
    pub local: SocketAddr,
    /// Packets ignored as malformed so far.
    pub malformed: Arc<AtomicU64>,
    /// Commands dropped so far because they came faster than [`COMMANDS_PER_SECOND`].
    pub dropped: Arc<AtomicU64>,
}

/// Listens on `listen` and starts the feedback thread.
pub fn start(
    listen: SocketAddr,
    allow: RemoteAllow,
    board: Arc<StatusBoard>,
    player: Sender<PlayerInput>,
) -> Result<Osc, String> {
    let socket =
        UdpSocket::bind(listen).map_err(|e| format!("--osc {listen}: cannot listen: {e}"))?;
    let local = socket
        .local_addr()
        .map_err(|e| format!("--osc {listen}: {e}"))?;
    socket
        .set_read_timeout(Some(WAKE))
        .and_then(|_| socket.set_write_timeout(Some(WAKE)))
        .map_err(|e| format!("--osc {listen}: {e}"))?;
    let sender = socket
        .try_clone()
        .map_err(|e| format!("--osc {listen}: {e}"))?;
    let subscribers = Arc::new(Mutex::new(Subscriptions::new(allow.clone())));
    let malformed = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    info!("OSC on UDP {local} (/playhead/play, /playhead/stop, /playhead/song i, ...)");
    {
        let input = Input {
            allow,
            player,
            subscribers: subscribers.clone(),
            malformed: malformed.clone(),
            dropped: dropped.clone(),
        };
        std::thread::Builder::new()
            .name("osc-in".into())
            .spawn(move || receive(&socket, &input))
            .map_err(|e| format!("cannot start the OSC thread: {e}"))?;
    }
    std::thread::Builder::new()
        .name("osc-out".into())
        .spawn(move || feedback(&sender, &board, &subscribers))
        .map_err(|e| format!("cannot start the OSC feedback thread: {e}"))?;
    Ok(Osc {
        local,
        malformed,
        dropped,
    })
}

/// What the receiving thread works with.
struct Input {
    allow: RemoteAllow,
    player: Sender<PlayerInput>,
    subscribers: Arc<Mutex<Subscriptions>>,
    malformed: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
}

fn receive(socket: &UdpSocket, input: &Input) {
    let heartbeat = watchdog::register("osc-in", Watch::Beats(watchdog::REMOTE_HANG_LIMIT));
    crate::remote::lower_priority();
    let mut buf = vec![0u8; wire::MAX_DATAGRAM_BYTES];
    let mut commands = PerSource::new(
        (SOURCE_COMMAND_BURST, SOURCE_COMMANDS_PER_SECOND),
        (COMMAND_BURST, COMMANDS_PER_SECOND),
    );
    let mut log = LogLimit::default();
    loop {
        heartbeat.beat();
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            // ICMP "port unreachable" from a subscriber that went away shows up here.
            Err(e) => {
                debug!("OSC: {e}");
                continue;
            }
        };
        if !input.allow.admits(from.ip()) {
            debug!("OSC: {from} is not in --allow; ignored");
            continue;
        }
        let requests = match parse_packet(&buf[..n]) {
            Ok(r) => r,
            Err(why) => {
                let count = input.malformed.fetch_add(1, Ordering::Relaxed) + 1;
                // The first and then ever fewer: rubbish must not flood the log.
                if count.is_power_of_two() {
                    warn!("OSC from {from}: ignored ({why:?}); {count} malformed packets so far");
                }
                continue;
            }
        };
        let now = Instant::now();
        for r in requests {
            handle(r, from, now, input, &mut commands, &mut log);
        }
    }
}

/// One request from `from`.
fn handle(
    request: OscRequest,
    from: SocketAddr,
    now: Instant,
    input: &Input,
    commands: &mut PerSource,
    log: &mut LogLimit,
) {
    match request {
        OscRequest::Command(cmd) => {
            if !commands.allow(from.ip(), now) {
                let total = input.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(note) = log.line(now) {
                    warn!(
                        "OSC from {from}: more commands than {SOURCE_COMMANDS_PER_SECOND} a second \
                         from one address or {COMMANDS_PER_SECOND} from all; \
                         {cmd:?} dropped ({total} dropped so far){note}"
                    );
                }
                return;
            }
            let origin = format!("OSC from {from}");
            match input
                .player
                .try_send(PlayerInput::Remote(cmd, crate::clock::now(), origin))
            {
                Ok(()) => {}
                Err(TrySendError::Full(PlayerInput::Remote(cmd, ..))) => {
                    if let Some(note) = log.line(now) {
                        warn!("OSC from {from}: the player is busy; {cmd:?} dropped{note}")
                    }
                }
                Err(_) => {}
            }
        }
        OscRequest::Subscribe(port) => {
            let to = SocketAddr::new(from.ip(), port.unwrap_or(from.port()));
            let Ok(mut subs) = input.subscribers.lock() else {
                return;
            };
            match subs.subscribe(to, now) {
                Subscribed::New => {
                    if let Some(note) = log.line(now) {
                        info!(
                            "OSC: {to} subscribed to state changes for {} s (renew before then){note}",
                            SUBSCRIPTION_LIFETIME.as_secs()
                        );
                    }
                }
                Subscribed::Renewed => {}
                Subscribed::NotAllowed => {
                    if let Some(note) = log.line(now) {
                        warn!("OSC from {from}: {to} is not in --allow; not subscribed{note}");
                    }
                }
            }
        }
        OscRequest::Unsubscribe(port) => {
            let to = SocketAddr::new(from.ip(), port.unwrap_or(from.port()));
            let removed = input
                .subscribers
                .lock()
                .map(|mut s| s.unsubscribe(to))
                .unwrap_or(false);
            if removed {
                if let Some(note) = log.line(now) {
                    info!("OSC: {to} unsubscribed{note}");
                }
            }
        }
    }
}

/// What was last sent, to send changes only.
#[derive(Default)]
struct Sent {
    state: Option<&'static str>,
    song: Option<(usize, String)>,
    position_s: Option<f64>,
    position_at: Option<Instant>,
    sync_ms: Option<f64>,
    /// The leading rig and the failovers so far.
    lead: Option<(crate::arbiter::Rig, u32)>,
    /// Each output's name, file ("black" for none) and state, as last sent.
    outputs: Vec<(String, String, &'static str)>,
}

/// What `/playhead/output` says of each output: its name, the file it shows ("black" for
/// none) and "presenting" or "held".
fn outputs_said(s: &StatusSnapshot) -> Vec<(String, String, &'static str)> {
    s.outputs
        .iter()
        .map(|o| {
            (
                o.name.clone(),
                o.video.clone().unwrap_or_else(|| "black".into()),
                o.state,
            )
        })
        .collect()
}

fn feedback(socket: &UdpSocket, board: &StatusBoard, subscribers: &Mutex<Subscriptions>) {
    let heartbeat = watchdog::register("osc-out", Watch::Beats(watchdog::REMOTE_HANG_LIMIT));
    crate::remote::lower_priority();
    let mut sent = Sent::default();
    let mut version = 0;
    let mut log = LogLimit::default();
    loop {
        heartbeat.beat();
        let (v, snapshot) = board.wait_newer(version, WAKE);
        version = v;
        let now = Instant::now();
        let subs = match subscribers.lock() {
            Ok(mut s) => {
                for gone in s.expire(now) {
                    if let Some(note) = log.line(now) {
                        info!(
                            "OSC: {gone}'s subscription ended (not renewed within {} s){note}",
                            SUBSCRIPTION_LIFETIME.as_secs()
                        );
                    }
                }
                s.take_targets()
            }
            Err(_) => Vec::new(),
        };
        if subs.is_empty() {
            sent = Sent::default();
            continue;
        }
        let news = messages(&snapshot, &sent);
        // A new or renewed subscriber gets everything at once, the others what changed.
        let everything = messages(&snapshot, &Sent::default());
        for (to, wants_everything) in &subs {
            let list = if *wants_everything {
                &everything
            } else {
                &news
            };
            for m in list {
                if let Ok(bytes) = rosc::encoder::encode(&OscPacket::Message(m.clone())) {
                    let _ = socket.send_to(&bytes, to);
                }
            }
        }
        remember(&mut sent, &snapshot, &news);
    }
}

/// The messages that say what changed since `sent`.
fn messages(s: &StatusSnapshot, sent: &Sent) -> Vec<OscMessage> {
    let msg = |addr: &str, args: Vec<OscType>| OscMessage {
        addr: addr.into(),
        args,
    };
    let mut out = Vec::new();
    if sent.state != Some(s.state) {
        out.push(msg(
            "/playhead/state",
            vec![OscType::String(s.state.into())],
        ));
    }
    let song = (s.song.index, s.song.title.clone());
    if sent.song.as_ref() != Some(&song) {
        out.push(msg(
            "/playhead/song",
            vec![
                OscType::Int(i32::try_from(song.0).unwrap_or(i32::MAX)),
                OscType::String(song.1),
            ],
        ));
    }
    if let Some(p) = s.position_s {
        let due = sent
            .position_at
            .is_none_or(|t| t.elapsed() >= POSITION_INTERVAL);
        if sent.position_s != Some(p) && due {
            out.push(msg("/playhead/position", vec![OscType::Float(p as f32)]));
        }
    }
    if let Some(e) = s.sync_error_ms {
        if sent.sync_ms.is_none_or(|old| (old - e).abs() >= 0.1) {
            out.push(msg("/playhead/sync", vec![OscType::Float(e as f32)]));
        }
    }
    for output in outputs_said(s) {
        if !sent.outputs.contains(&output) {
            let (name, video, state) = output;
            out.push(msg(
                "/playhead/output",
                vec![
                    OscType::String(name),
                    OscType::String(video),
                    OscType::String(state.into()),
                ],
            ));
        }
    }
    if let Some(r) = &s.rigs {
        if sent.lead != Some((r.leading, r.failovers)) {
            out.push(msg(
                "/playhead/lead",
                vec![
                    OscType::String(r.leading.label().into()),
                    OscType::Int(i32::try_from(r.failovers).unwrap_or(i32::MAX)),
                ],
            ));
        }
    }
    out
}

fn remember(sent: &mut Sent, s: &StatusSnapshot, news: &[OscMessage]) {
    sent.state = Some(s.state);
    sent.song = Some((s.song.index, s.song.title.clone()));
    if news.iter().any(|m| m.addr == "/playhead/position") {
        sent.position_s = s.position_s;
        sent.position_at = Some(Instant::now());
    }
    if news.iter().any(|m| m.addr == "/playhead/sync") {
        sent.sync_ms = s.sync_error_ms;
    }
    sent.lead = s.rigs.as_ref().map(|r| (r.leading, r.failovers));
    sent.outputs = outputs_said(s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn each_output_is_said_once_and_again_when_it_changes() {
        use crate::player::status::OutputStatus;
        let output = |name: &str, video: Option<&str>, state| OutputStatus {
            name: name.into(),
            video: video.map(String::from),
            state,
            ..OutputStatus::default()
        };
        let mut snapshot = StatusSnapshot {
            state: "armed",
            outputs: vec![
                output("left", Some("/v/wide.mp4"), "presenting"),
                output("led", None, "presenting"),
            ],
            ..StatusSnapshot::default()
        };
        let said = |news: &[OscMessage]| -> Vec<Vec<OscType>> {
            news.iter()
                .filter(|m| m.addr == "/playhead/output")
                .map(|m| m.args.clone())
                .collect()
        };
        let mut sent = Sent::default();
        let news = messages(&snapshot, &sent);
        assert_eq!(
            said(&news),
            vec![
                vec![
                    OscType::String("left".into()),
                    OscType::String("/v/wide.mp4".into()),
                    OscType::String("presenting".into())
                ],
                vec![
                    OscType::String("led".into()),
                    OscType::String("black".into()),
                    OscType::String("presenting".into())
                ],
            ]
        );
        remember(&mut sent, &snapshot, &news);
        assert!(said(&messages(&snapshot, &sent)).is_empty());
        snapshot.outputs[1].state = "held";
        assert_eq!(
            said(&messages(&snapshot, &sent)),
            vec![vec![
                OscType::String("led".into()),
                OscType::String("black".into()),
                OscType::String("held".into())
            ]]
        );
    }

    fn encode(addr: &str, args: Vec<OscType>) -> Vec<u8> {
        rosc::encoder::encode(&OscPacket::Message(OscMessage {
            addr: addr.into(),
            args,
        }))
        .unwrap()
    }

    #[test]
    fn commands_are_read_with_their_arguments() {
        let cmd = |bytes: Vec<u8>| parse_packet(&bytes);
        assert_eq!(
            cmd(encode("/playhead/song", vec![OscType::Int(2)])),
            Ok(vec![OscRequest::Command(RemoteCommand::Song(1))])
        );
        assert_eq!(
            cmd(encode("/playhead/song", vec![OscType::Float(3.0)])),
            Ok(vec![OscRequest::Command(RemoteCommand::Song(2))])
        );
        assert!(cmd(encode("/playhead/song", vec![OscType::Int(0)])).is_err());
        assert!(cmd(encode("/playhead/song", vec![])).is_err());
        assert_eq!(
            cmd(encode("/playhead/locate", vec![OscType::Float(12.5)])),
            Ok(vec![OscRequest::Command(RemoteCommand::Locate(12.5))])
        );
        assert!(cmd(encode("/playhead/locate", vec![OscType::Float(f32::NAN)])).is_err());
        assert_eq!(
            cmd(encode(
                "/playhead/lead",
                vec![OscType::String("backup".into())]
            )),
            Ok(vec![OscRequest::Command(RemoteCommand::Lead(
                crate::arbiter::Rig::Backup
            ))])
        );
        assert!(cmd(encode(
            "/playhead/lead",
            vec![OscType::String("spare".into())]
        ))
        .is_err());
        assert!(cmd(encode("/playhead/lead", vec![OscType::Int(1)])).is_err());
        assert_eq!(
            cmd(encode(
                "/playhead/offset",
                vec![OscType::Float(85.0), OscType::String("led".into())]
            )),
            Ok(vec![OscRequest::Command(RemoteCommand::OutputOffset(
                "led".into(),
                85.0
            ))])
        );
        assert!(cmd(encode(
            "/playhead/offset",
            vec![OscType::Float(85.0), OscType::Int(2)]
        ))
        .is_err());
        assert_eq!(
            cmd(encode("/playhead/testcard", vec![])),
            Ok(vec![OscRequest::Command(RemoteCommand::TestCard(true))])
        );
        assert_eq!(
            cmd(encode("/playhead/testcard", vec![OscType::Int(0)])),
            Ok(vec![OscRequest::Command(RemoteCommand::TestCard(false))])
        );
        assert_eq!(
            cmd(encode("/playhead/black", vec![OscType::Int(0)])),
            Ok(vec![OscRequest::Command(RemoteCommand::Black(false))])
        );
        assert_eq!(
            cmd(encode("/playhead/subscribe", vec![OscType::Int(9001)])),
            Ok(vec![OscRequest::Subscribe(Some(9001))])
        );
        assert!(cmd(encode("/playhead/subscribe", vec![OscType::Int(70000)])).is_err());
        assert!(cmd(encode("/other/play", vec![])).is_err());
    }

    #[test]
    fn deeply_nested_bundles_are_refused() {
        let mut packet = OscPacket::Message(OscMessage {
            addr: "/playhead/play".into(),
            args: vec![],
        });
        for _ in 0..20 {
            packet = OscPacket::Bundle(rosc::OscBundle {
                timetag: rosc::OscTime::from((0, 1)),
                content: vec![packet],
            });
        }
        let bytes = rosc::encoder::encode(&packet).unwrap();
        assert!(parse_packet(&bytes).is_err());
    }

    /// Runs `f` on a thread with the stack the OSC thread has (a spawned thread's default).
    fn on_osc_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn one_datagram_of_deep_bundles_is_refused_without_overflowing_the_stack() {
        let play = encode("/playhead/play", vec![]);
        // The datagram of the report: 2,150 bundles deep, 43 KB.
        let attack = wire::nested_bundles(&play, 2150);
        let got = on_osc_stack(move || parse_packet(&attack));
        match got {
            Err(Malformed::Undecodable(why)) => assert!(why.contains("nested"), "{why}"),
            other => panic!("{other:?}"),
        }
        // Arrays nested in the type tags, likewise.
        let mut arrays = b"/playhead/play\0\0,".to_vec();
        arrays.extend(std::iter::repeat_n(b'[', 60_000));
        arrays.extend_from_slice(&[0, 0, 0, 0]);
        assert!(on_osc_stack(move || parse_packet(&arrays)).is_err());
        // Within the bound, a bundle of commands is read in order.
        let two = rosc::encoder::encode(&OscPacket::Bundle(rosc::OscBundle {
            timetag: rosc::OscTime::from((0, 1)),
            content: vec![
                OscPacket::Message(OscMessage {
                    addr: "/playhead/song".into(),
                    args: vec![OscType::Int(2)],
                }),
                OscPacket::Bundle(rosc::OscBundle {
                    timetag: rosc::OscTime::from((0, 1)),
                    content: vec![OscPacket::Message(OscMessage {
                        addr: "/playhead/play".into(),
                        args: vec![],
                    })],
                }),
            ],
        }))
        .unwrap();
        assert_eq!(
            parse_packet(&two),
            Ok(vec![
                OscRequest::Command(RemoteCommand::Song(1)),
                OscRequest::Command(RemoteCommand::Play)
            ])
        );
    }

    #[test]
    fn a_message_with_thousands_of_arguments_is_described_briefly() {
        let args = vec![OscType::Int(7); 10_000];
        let Err(Malformed::Unknown(text)) = parse_packet(&encode(&"/x".repeat(5000), args)) else {
            panic!("unknown")
        };
        assert!(text.len() < 400, "{} characters", text.len());
        assert!(text.contains("10000 arguments"), "{text}");
    }

    #[test]
    fn subscriptions_end_unless_renewed() {
        let t0 = Instant::now();
        let mut subs = Subscriptions::new(RemoteAllow::default());
        let a: SocketAddr = "192.168.1.30:9001".parse().unwrap();
        let b: SocketAddr = "192.168.1.31:9001".parse().unwrap();
        assert_eq!(subs.subscribe(a, t0), Subscribed::New);
        assert_eq!(subs.subscribe(b, t0), Subscribed::New);
        // a renews after 40 s; b does not.
        let t40 = t0 + Duration::from_secs(40);
        assert_eq!(subs.take_targets(), vec![(a, true), (b, true)]);
        assert_eq!(subs.take_targets(), vec![(a, false), (b, false)]);
        assert_eq!(subs.subscribe(a, t40), Subscribed::Renewed);
        assert_eq!(
            subs.take_targets(),
            vec![(a, true), (b, false)],
            "a renewal is answered with the whole state"
        );
        assert!(subs.expire(t0 + Duration::from_secs(59)).is_empty());
        assert_eq!(subs.expire(t0 + SUBSCRIPTION_LIFETIME), vec![b]);
        assert_eq!(subs.targets(), vec![a]);
        assert_eq!(subs.expire(t40 + SUBSCRIPTION_LIFETIME), vec![a]);
        assert!(subs.targets().is_empty());
        // Unsubscribing ends it at once.
        assert_eq!(subs.subscribe(a, t0), Subscribed::New);
        assert!(subs.unsubscribe(a));
        assert!(!subs.unsubscribe(a));
        assert!(subs.targets().is_empty());
    }

    #[test]
    fn subscriptions_go_only_to_allowed_targets_and_are_capped() {
        let t0 = Instant::now();
        let allow = RemoteAllow::from_rules(&["192.168.1.0/24".into()]).unwrap();
        let mut subs = Subscriptions::new(allow);
        let outside: SocketAddr = "203.0.113.9:53".parse().unwrap();
        assert_eq!(subs.subscribe(outside, t0), Subscribed::NotAllowed);
        assert!(subs.targets().is_empty());
        // More than the cap: the ones renewed longest ago make room.
        for i in 0..(MAX_SUBSCRIBERS + 5) {
            let to = SocketAddr::from(([192, 168, 1, 1], 10_000 + i as u16));
            assert_eq!(
                subs.subscribe(to, t0 + Duration::from_millis(i as u64)),
                Subscribed::New
            );
        }
        let targets = subs.targets();
        assert_eq!(targets.len(), MAX_SUBSCRIBERS);
        assert!(!targets.contains(&SocketAddr::from(([192, 168, 1, 1], 10_000))));
        assert!(targets.contains(&SocketAddr::from((
            [192, 168, 1, 1],
            10_000 + MAX_SUBSCRIBERS as u16 + 4
        ))));
    }

    #[test]
    fn unsubscribe_takes_a_port_too() {
        assert_eq!(
            parse_packet(&encode("/playhead/unsubscribe", vec![OscType::Int(9001)])),
            Ok(vec![OscRequest::Unsubscribe(Some(9001))])
        );
        assert_eq!(
            parse_packet(&encode("/playhead/unsubscribe", vec![])),
            Ok(vec![OscRequest::Unsubscribe(None)])
        );
        assert!(parse_packet(&encode("/playhead/unsubscribe", vec![OscType::Int(0)])).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        /// Whatever arrives, the decoder answers without panicking.
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_packet(&bytes);
        }

        /// Valid packets with bytes changed, cut short or lengthened: no panic either.
        #[test]
        fn damaged_packets_never_panic(
            which in 0usize..4,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            cut in any::<usize>(),
        ) {
            let mut bytes = match which {
                0 => encode("/playhead/song", vec![OscType::Int(2)]),
                1 => encode("/playhead/locate", vec![OscType::Float(1.5)]),
                2 => encode("/playhead/song", vec![OscType::String("x".into()), OscType::Blob(vec![1, 2, 3])]),
                _ => rosc::encoder::encode(&OscPacket::Bundle(rosc::OscBundle {
                    timetag: rosc::OscTime::from((0, 1)),
                    content: vec![OscPacket::Message(OscMessage { addr: "/playhead/play".into(), args: vec![] })],
                })).unwrap(),
            };
            for (at, value) in flips {
                let len = bytes.len();
                bytes[at % len] = value;
            }
            bytes.truncate(cut % (bytes.len() + 1));
            let _ = parse_packet(&bytes);
        }
    }
}
