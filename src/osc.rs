//! OSC in and out (`--osc [ADDR:]PORT`): commands from Companion, QLab and the like, and
//! state changes sent to the clients that subscribed.
//!
//! Incoming: `/playhead/play`, `/playhead/stop`, `/playhead/arm`, `/playhead/song i` (from 1),
//! `/playhead/locate f` (seconds), `/playhead/black i` (1 black, 0 picture), and
//! `/playhead/subscribe [i PORT]` / `/playhead/unsubscribe`. Outgoing, to subscribers:
//! `/playhead/state s`, `/playhead/song i s`, `/playhead/position f` (seconds),
//! `/playhead/sync f` (sync error, milliseconds). Commands go into the player's channel with
//! `try_send`; state comes from the player's published snapshot. Malformed packets are ignored
//! and counted.

use crate::player::status::{StatusBoard, StatusSnapshot};
use crate::player::{PlayerInput, RemoteCommand};
use crate::remote::RemoteAllow;
use crate::watchdog::{self, Watch};
use crossbeam_channel::{Sender, TrySendError};
use log::{debug, info, warn};
use rosc::{OscMessage, OscPacket, OscType};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the threads wake when nothing arrives (to beat for the watchdog).
const WAKE: Duration = Duration::from_millis(250);
/// At most this many subscribers; a new one replaces the oldest.
const MAX_SUBSCRIBERS: usize = 32;
/// Positions are sent at most this often.
const POSITION_INTERVAL: Duration = Duration::from_millis(200);
/// Bundles nested deeper than this are malformed for us.
const MAX_BUNDLE_DEPTH: usize = 8;
/// The largest datagram read, in bytes.
const MAX_DATAGRAM_BYTES: usize = 65_536;

/// What an OSC packet asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum OscRequest {
    /// A command for the player.
    Command(RemoteCommand),
    /// Send state changes to the sender (or to this port on the sender's host).
    Subscribe(Option<u16>),
    /// Stop sending them.
    Unsubscribe,
}

/// Why a packet was ignored.
#[derive(Clone, Debug, PartialEq)]
pub enum Malformed {
    /// Not OSC at all.
    Undecodable(String),
    /// OSC, but not a message playhead knows or with the wrong arguments.
    Unknown(String),
}

/// Reads one datagram: every request in it, in order (a bundle may carry several). Never
/// panics, whatever the bytes.
pub fn parse_packet(bytes: &[u8]) -> Result<Vec<OscRequest>, Malformed> {
    let (_, packet) =
        rosc::decoder::decode_udp(bytes).map_err(|e| Malformed::Undecodable(format!("{e:?}")))?;
    let mut requests = Vec::new();
    collect(&packet, 0, &mut requests)?;
    Ok(requests)
}

fn collect(packet: &OscPacket, depth: usize, out: &mut Vec<OscRequest>) -> Result<(), Malformed> {
    match packet {
        OscPacket::Message(m) => {
            out.push(request(m)?);
            Ok(())
        }
        OscPacket::Bundle(_) if depth >= MAX_BUNDLE_DEPTH => {
            Err(Malformed::Unknown("bundles nested too deep".into()))
        }
        OscPacket::Bundle(b) => b
            .content
            .iter()
            .try_for_each(|p| collect(p, depth + 1, out)),
    }
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

fn request(m: &OscMessage) -> Result<OscRequest, Malformed> {
    let unknown = || Malformed::Unknown(format!("{} {:?}", m.addr, m.args));
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
        "/playhead/subscribe" => match (m.args.is_empty(), int_arg(m)) {
            (true, _) => Ok(OscRequest::Subscribe(None)),
            (false, Some(p)) if (1..=65535).contains(&p) => {
                Ok(OscRequest::Subscribe(u16::try_from(p).ok()))
            }
            _ => Err(unknown()),
        },
        "/playhead/unsubscribe" => Ok(OscRequest::Unsubscribe),
        _ => Err(unknown()),
    }
}

/// The running OSC endpoint.
pub struct Osc {
    /// The address it listens on.
    pub local: SocketAddr,
    /// Packets ignored as malformed so far.
    pub malformed: Arc<AtomicU64>,
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
    let subscribers: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
    let malformed = Arc::new(AtomicU64::new(0));
    info!("OSC on UDP {local} (/playhead/play, /playhead/stop, /playhead/song i, ...)");
    {
        let subscribers = subscribers.clone();
        let malformed = malformed.clone();
        std::thread::Builder::new()
            .name("osc-in".into())
            .spawn(move || receive(&socket, &allow, &player, &subscribers, &malformed))
            .map_err(|e| format!("cannot start the OSC thread: {e}"))?;
    }
    std::thread::Builder::new()
        .name("osc-out".into())
        .spawn(move || feedback(&sender, &board, &subscribers))
        .map_err(|e| format!("cannot start the OSC feedback thread: {e}"))?;
    Ok(Osc { local, malformed })
}

fn receive(
    socket: &UdpSocket,
    allow: &RemoteAllow,
    player: &Sender<PlayerInput>,
    subscribers: &Mutex<Vec<SocketAddr>>,
    malformed: &AtomicU64,
) {
    let heartbeat = watchdog::register("osc-in", Watch::Beats(watchdog::REMOTE_HANG_LIMIT));
    crate::remote::lower_priority();
    let mut buf = vec![0u8; MAX_DATAGRAM_BYTES];
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
        if !allow.admits(from.ip()) {
            debug!("OSC: {from} is not in --allow; ignored");
            continue;
        }
        let requests = match parse_packet(&buf[..n]) {
            Ok(r) => r,
            Err(why) => {
                let count = malformed.fetch_add(1, Ordering::Relaxed) + 1;
                // The first and then ever fewer: rubbish must not flood the log.
                if count.is_power_of_two() {
                    warn!("OSC from {from}: ignored ({why:?}); {count} malformed packets so far");
                }
                continue;
            }
        };
        for r in requests {
            match r {
                OscRequest::Command(cmd) => {
                    let origin = format!("OSC from {from}");
                    match player.try_send(PlayerInput::Remote(cmd, crate::clock::now(), origin)) {
                        Ok(()) => {}
                        Err(TrySendError::Full(PlayerInput::Remote(cmd, ..))) => {
                            warn!("OSC from {from}: the player is busy; {cmd:?} dropped")
                        }
                        Err(_) => {}
                    }
                }
                OscRequest::Subscribe(port) => {
                    let to = SocketAddr::new(from.ip(), port.unwrap_or(from.port()));
                    if let Ok(mut subs) = subscribers.lock() {
                        if !subs.contains(&to) {
                            if subs.len() >= MAX_SUBSCRIBERS {
                                subs.remove(0);
                            }
                            subs.push(to);
                            info!("OSC: {to} subscribed to state changes");
                        }
                    }
                }
                OscRequest::Unsubscribe => {
                    if let Ok(mut subs) = subscribers.lock() {
                        subs.retain(|s| s.ip() != from.ip() || s.port() != from.port());
                    }
                    info!("OSC: {from} unsubscribed");
                }
            }
        }
    }
}

/// What was last sent, to send changes only.
#[derive(Default)]
struct Sent {
    subscribers: Vec<SocketAddr>,
    state: Option<&'static str>,
    song: Option<(usize, String)>,
    position_s: Option<f64>,
    position_at: Option<Instant>,
    sync_ms: Option<f64>,
}

fn feedback(socket: &UdpSocket, board: &StatusBoard, subscribers: &Mutex<Vec<SocketAddr>>) {
    let heartbeat = watchdog::register("osc-out", Watch::Beats(watchdog::REMOTE_HANG_LIMIT));
    crate::remote::lower_priority();
    let mut sent = Sent::default();
    let mut version = 0;
    loop {
        heartbeat.beat();
        let (v, snapshot) = board.wait_newer(version, WAKE);
        version = v;
        let subs = subscribers.lock().map(|s| s.clone()).unwrap_or_default();
        if subs.is_empty() {
            sent = Sent::default();
            continue;
        }
        let news = messages(&snapshot, &sent);
        // A new subscriber gets everything at once, the others what changed.
        let everything = messages(&snapshot, &Sent::default());
        for to in &subs {
            let list = if sent.subscribers.contains(to) {
                &news
            } else {
                &everything
            };
            for m in list {
                if let Ok(bytes) = rosc::encoder::encode(&OscPacket::Message(m.clone())) {
                    let _ = socket.send_to(&bytes, to);
                }
            }
        }
        remember(&mut sent, &snapshot, &news);
        sent.subscribers = subs;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
