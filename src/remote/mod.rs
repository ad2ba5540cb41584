//! The remote: a status page and JSON API over HTTP for a phone at front of house, with
//! token-guarded control (`--remote`, `--remote-token`).
//!
//! Requests never call into the player: status comes from the snapshot the player publishes
//! ([`StatusBoard`]); commands go into the player's bounded input channel with `try_send`, so
//! a full channel refuses the command (503) rather than wait. Every connection has its own
//! short-lived thread with read and write timeouts: a client that connects and never reads is
//! dropped once its socket buffer fills and the write timeout passes, and holds nothing the
//! player or other clients need.

mod allow;
mod events;
pub mod limit;
pub mod thumbnail;
pub mod tls;

pub use allow::RemoteAllow;

use crate::player::status::StatusBoard;
use crate::player::{PlayerInput, RemoteCommand};
use crate::watchdog::{self, Watch};
use crossbeam_channel::{Sender, TrySendError};
use log::{debug, info, warn};
use playhead_core::wire::http::{self as wire, Head};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thumbnail::Thumbnailer;

/// The page, built into the binary: a show network has no internet, so it fetches nothing.
const PAGE_HTML: &str = include_str!("page.html");
/// The latency calibration page (camera and microphone: it works over HTTPS, or on the
/// machine itself).
const CALIBRATE_HTML: &str = include_str!("calibrate.html");

/// At most this many connections at once; more are refused with 503.
const MAX_CONNECTIONS: usize = 512;
/// At most this many connections at once from one address (a browser opens about six): one
/// machine that opens hundreds of idle sockets is refused with 503 beyond them, and the page
/// stays up for everyone else.
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 16;
/// After a failed accept, the listener waits this long before the next.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);
/// A request's head must arrive within this, all of it.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A client that takes longer than this to take a write is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the remote serves from.
pub struct RemoteConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Control needs `Authorization: Bearer TOKEN`; without a token the remote is read-only.
    pub token: Option<String>,
    /// The `--allow` rules; empty lets anyone in.
    pub allow: RemoteAllow,
    /// Reads the network-MIDI peers, when there is a session.
    pub peers: Option<PeerReader>,
    /// Warnings found outside the player (a video that locates slowly), shown with its own.
    pub warnings: Warnings,
    /// The certificate for HTTPS on the same port (see [`tls`]); without it, HTTP only.
    pub tls: Option<Arc<tls::Tls>>,
}

/// Warnings for the page that other threads add to (the start-up checks).
pub type Warnings = Arc<std::sync::Mutex<Vec<String>>>;

/// Reads the network-MIDI session's peers.
pub type PeerReader = Arc<dyn Fn() -> Vec<playhead_core::network::session::PeerInfo> + Send + Sync>;

/// What the page adds to the player's snapshot: the peers, read at most once a second: reading takes the session's
/// lock, which the network thread needs for every packet.
pub(crate) struct Peers {
    reader: Option<PeerReader>,
    warnings: Warnings,
    cache: std::sync::Mutex<Option<(std::time::Instant, serde_json::Value)>>,
}

impl Peers {
    fn new(reader: Option<PeerReader>, warnings: Warnings) -> Arc<Peers> {
        Arc::new(Peers {
            reader,
            warnings,
            cache: std::sync::Mutex::new(None),
        })
    }

    /// Name, address, one-way delay (half the last clock-sync round trip), the network's base
    /// delay and jitter measured on the peer's time-stamped packets, and losses of each.
    pub(crate) fn json(&self) -> serde_json::Value {
        let Some(reader) = &self.reader else {
            return serde_json::Value::Array(Vec::new());
        };
        let Ok(mut cache) = self.cache.lock() else {
            return serde_json::Value::Null;
        };
        if let Some((at, v)) = cache.as_ref() {
            if at.elapsed() < Duration::from_secs(1) {
                return v.clone();
            }
        }
        let list: Vec<serde_json::Value> = reader()
            .into_iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name,
                    "address": p.control_address.ip().to_string(),
                    "joined": p.data_address.is_some(),
                    "delay_ms": p.latency_us.map(|us| us as f64 / 1000.0),
                    "base_delay_ms": p.timing.base_delay_us.map(|us| us as f64 / 1000.0),
                    "jitter_ms": p.timing.jitter_us.map(|us| us as f64 / 1000.0),
                    "packets_lost": p.packets_lost,
                })
            })
            .collect();
        let v = serde_json::Value::Array(list);
        *cache = Some((std::time::Instant::now(), v.clone()));
        v
    }
}

/// What each connection's thread shares.
struct Shared {
    board: Arc<StatusBoard>,
    player: Sender<PlayerInput>,
    token: Option<String>,
    thumbnails: Thumbnailer,
    events: events::Events,
    peers: Arc<Peers>,
    connections: Mutex<Connections>,
    tls: Option<Arc<tls::Tls>>,
}

/// The connections open now: in all, and from each address.
#[derive(Debug, Default)]
pub struct Connections {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// Why a connection was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// [`MAX_CONNECTIONS`] are open.
    Full,
    /// [`MAX_CONNECTIONS_PER_ADDRESS`] are open from this address.
    AddressFull,
}

impl Connections {
    /// Takes a place for a connection from `ip`, if there is room.
    pub fn open(&mut self, ip: IpAddr) -> Result<(), Refused> {
        let ip = ip.to_canonical();
        let mine = self.per_address.get(&ip).copied().unwrap_or(0);
        if mine >= MAX_CONNECTIONS_PER_ADDRESS {
            return Err(Refused::AddressFull);
        }
        if self.total >= MAX_CONNECTIONS {
            return Err(Refused::Full);
        }
        self.total += 1;
        self.per_address.insert(ip, mine + 1);
        Ok(())
    }

    /// Gives back the place a connection from `ip` held.
    pub fn close(&mut self, ip: IpAddr) {
        let ip = ip.to_canonical();
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.per_address.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_address.remove(&ip);
            }
        }
    }

    /// Connections open from `ip`.
    pub fn count(&self, ip: IpAddr) -> usize {
        self.per_address
            .get(&ip.to_canonical())
            .copied()
            .unwrap_or(0)
    }
}

/// A connection's place, given back when its thread ends (even by a panic).
struct Place {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Ok(mut c) = self.shared.connections.lock() {
            c.close(self.ip);
        }
    }
}

/// Starts the remote's listening thread; returns the address it listens on (the port is
/// chosen when `listen` has port 0).
pub fn start(
    config: RemoteConfig,
    board: Arc<StatusBoard>,
    player: Sender<PlayerInput>,
    thumbnails: Thumbnailer,
) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind(config.listen)
        .map_err(|e| format!("--remote {}: cannot listen: {e}", config.listen))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("--remote {}: {e}", config.listen))?;
    let token = config.token.filter(|t| !t.is_empty());
    let peers = Peers::new(config.peers, config.warnings);
    let fingerprint = config.tls.as_ref().map(|t| t.fingerprint.clone());
    let events = events::Events::start(board.clone(), token.is_some(), peers.clone(), fingerprint)?;
    let shared = Arc::new(Shared {
        board,
        player,
        token,
        events,
        peers,
        thumbnails,
        connections: Mutex::default(),
        tls: config.tls,
    });
    info!(
        "remote status page on http://{local}/ ({})",
        if shared.token.is_some() {
            "control with the token"
        } else {
            "read-only: no --remote-token"
        }
    );
    if let Some(t) = &shared.tls {
        info!(
            "remote page also on https://{local}/ (for control and calibration; certificate {}, SHA-256 {})",
            t.origin, t.fingerprint
        );
    }
    let allow = config.allow;
    std::thread::Builder::new()
        .name("remote-http".into())
        .spawn(move || {
            // Blocks in accept for as long as nobody connects.
            let heartbeat = watchdog::register("remote-http", Watch::DeathOnly);
            let mut log = limit::LogLimit::default();
            for conn in listener.incoming() {
                match conn {
                    Ok(stream) => accept(stream, &shared, &allow, &mut log),
                    Err(e) => {
                        // Out of file descriptors, say: fails again at once, so wait a little
                        // rather than spin.
                        debug!("remote: accept: {e}");
                        std::thread::sleep(ACCEPT_RETRY);
                    }
                }
            }
            heartbeat.done();
        })
        .map_err(|e| format!("cannot start the remote thread: {e}"))?;
    Ok(local)
}

/// Admits a connection (allowed address, room left in all and for its address) into a
/// thread of its own.
fn accept(
    mut stream: TcpStream,
    shared: &Arc<Shared>,
    allow: &RemoteAllow,
    log: &mut limit::LogLimit,
) {
    let Ok(peer) = stream.peer_addr() else { return };
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_nodelay(true);
    if !allow.admits(peer.ip()) {
        debug!("remote: {peer} is not in --allow; refused");
        let _ = respond(&mut stream, 403, "text/plain", b"not allowed by --allow\n");
        return;
    }
    let taken = match shared.connections.lock() {
        Ok(mut c) => c.open(peer.ip()),
        Err(_) => Err(Refused::Full),
    };
    if let Err(why) = taken {
        let body: &[u8] = match why {
            Refused::Full => b"too many clients\n",
            Refused::AddressFull => b"too many connections from your address\n",
        };
        if let Some(note) = log.line(Instant::now()) {
            match why {
                Refused::Full => warn!("remote: {MAX_CONNECTIONS} connections open; {peer} refused{note}"),
                Refused::AddressFull => warn!(
                    "remote: {} has {MAX_CONNECTIONS_PER_ADDRESS} connections open; refused another{note}",
                    peer.ip()
                ),
            }
        }
        // A fresh socket takes a short answer at once: this never waits on the client.
        let _ = respond(&mut stream, 503, "text/plain", body);
        return;
    }
    let place = Place {
        shared: shared.clone(),
        ip: peer.ip(),
    };
    // A connection's thread is not watched: it ends with its client, and a fault in it must
    // not end the show (it can only lose that one client).
    let spawned = std::thread::Builder::new()
        .name("remote-conn".into())
        .spawn(move || {
            lower_priority();
            crate::watchdog::spare_this_thread();
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                // The first byte says TLS or plain HTTP (within the read timeout).
                if let Some(conn) = tls::Conn::accept(stream, place.shared.tls.as_deref()) {
                    serve(conn, peer, &place.shared)
                }
            }));
            drop(place);
        });
    // On failure the closure, and with it the place, is dropped: the place is given back.
    let _ = spawned;
}

/// Reads the request head (no body is needed by any route), within [`READ_TIMEOUT`] in all
/// and [`wire::MAX_HEAD_BYTES`]; parsed by [`playhead_core::wire::http::parse_head`].
fn read_request(stream: &mut tls::Conn) -> Option<wire::RequestHead> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let started = Instant::now();
    loop {
        // A client sending a byte now and then must not hold its place for ever.
        let left = READ_TIMEOUT.checked_sub(started.elapsed())?;
        stream
            .tcp()
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) => {
                if stream.is_tls() {
                    // A browser that does not trust the certificate yet closes the handshake.
                    debug!("remote: a TLS connection ended before its request: {e}");
                }
                return None;
            }
        };
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        match wire::parse_head(&buf) {
            Head::Complete(head) => return Some(head),
            Head::Partial => continue,
            Head::Bad => {
                let _ = respond(stream, 400, "text/plain", b"bad request\n");
                return None;
            }
        }
    }
}

/// Serves one connection: one request, then it closes (live updates excepted).
fn serve(mut stream: tls::Conn, peer: SocketAddr, shared: &Shared) {
    let Some(req) = read_request(&mut stream) else {
        return;
    };
    let path = req.path.as_str();
    let result = match (req.method.as_str(), path) {
        ("GET", "/") | ("GET", "/index.html") => respond(
            &mut stream,
            200,
            "text/html; charset=utf-8",
            PAGE_HTML.as_bytes(),
        ),
        ("GET", "/calibrate") => respond(
            &mut stream,
            200,
            "text/html; charset=utf-8",
            CALIBRATE_HTML.as_bytes(),
        ),
        ("GET", "/api/status") => {
            let (_, snapshot) = shared.board.latest();
            let body = status_json(
                &snapshot,
                shared.token.is_some(),
                &shared.peers,
                shared.tls.as_ref().map(|t| t.fingerprint.as_str()),
            );
            respond(&mut stream, 200, "application/json", body.as_bytes())
        }
        ("GET", "/api/events") => {
            if shared.events.add(stream, peer) {
                return;
            }
            debug!("remote: {peer}: no room for more live-update clients");
            return;
        }
        ("GET", "/thumbnail.jpg") => match shared.thumbnails.latest() {
            Some(jpeg) => respond(&mut stream, 200, "image/jpeg", &jpeg),
            None => respond(&mut stream, 503, "text/plain", b"no picture yet\n"),
        },
        ("POST", p) if p.starts_with("/api/") => control(&mut stream, peer, &req, p, shared),
        (_, "/") | (_, "/api/status") | (_, "/api/events") | (_, "/thumbnail.jpg") => {
            respond(&mut stream, 405, "text/plain", b"method not allowed\n")
        }
        // Nothing else exists: the remote serves no files, so no path reaches the disk.
        _ => respond(&mut stream, 404, "text/plain", b"not found\n"),
    };
    if let Err(e) = result {
        debug!("remote: {peer}: {e}");
    }
}

/// The snapshot as the API gives it, with whether control is possible at all.
pub(crate) fn status_json(
    snapshot: &crate::player::status::StatusSnapshot,
    control: bool,
    peers: &Peers,
    cert_sha256: Option<&str>,
) -> String {
    let mut value = serde_json::to_value(snapshot).unwrap_or(serde_json::Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.insert("control".into(), serde_json::Value::Bool(control));
        map.insert(
            "remote_cert_sha256".into(),
            cert_sha256.map_or(serde_json::Value::Null, |f| {
                serde_json::Value::String(f.to_string())
            }),
        );
        map.insert("peers".into(), peers.json());
        let more = peers.warnings.lock().map(|w| w.clone()).unwrap_or_default();
        if let Some(serde_json::Value::Array(list)) = map.get_mut("warnings") {
            list.extend(more.into_iter().map(serde_json::Value::String));
        }
    }
    value.to_string()
}

/// A control request: refused with 401 unless it carries the token.
fn control(
    stream: &mut tls::Conn,
    peer: SocketAddr,
    req: &wire::RequestHead,
    path: &str,
    shared: &Shared,
) -> std::io::Result<()> {
    let authorised = match (&shared.token, &req.bearer) {
        (Some(token), Some(given)) => same_secret(token.as_bytes(), given.as_bytes()),
        _ => false,
    };
    if !authorised {
        warn!("remote: {peer} asked for {path} without the right token; refused");
        return respond(
            stream,
            401,
            "application/json",
            br#"{"error":"control needs Authorization: Bearer TOKEN (--remote-token)"}"#,
        );
    }
    let Some(cmd) = parse_command(path) else {
        return respond(
            stream,
            404,
            "application/json",
            br#"{"error":"no such command"}"#,
        );
    };
    let origin = format!("the remote page at {peer}");
    match shared
        .player
        .try_send(PlayerInput::Remote(cmd, crate::clock::now(), origin))
    {
        Ok(()) => respond(stream, 202, "application/json", br#"{"ok":true}"#),
        Err(TrySendError::Full(_)) => {
            warn!("remote: {peer}: the player is busy; {path} refused");
            respond(
                stream,
                503,
                "application/json",
                br#"{"error":"the player is busy; try again"}"#,
            )
        }
        Err(TrySendError::Disconnected(_)) => respond(
            stream,
            503,
            "application/json",
            br#"{"error":"the player has stopped"}"#,
        ),
    }
}

/// The command a control path names: `/api/play`, `/api/stop`, `/api/arm`, `/api/song/N`
/// (from 1), `/api/black` (`/api/black/0` takes it away), `/api/locate/SECONDS`,
/// `/api/reopen` (try the songs that could not play again), `/api/lead/main` and
/// `/api/lead/backup` (that rig leads, with the show's `main` and `backup`), `/api/testcard`
/// (`/api/testcard/0` goes back to the song before it), `/api/offset/MS` (the latency offset,
/// -10000..10000) and `/api/offset/save` (written into the show file), and with `[[output]]`s
/// `/api/offset/MS/OUTPUT` and `/api/offset/save/OUTPUT` for one output (by name).
pub fn parse_command(path: &str) -> Option<RemoteCommand> {
    let rest = path.strip_prefix("/api/")?;
    let mut parts = rest.split('/');
    let cmd = match (parts.next()?, parts.next()) {
        ("play", None) => RemoteCommand::Play,
        ("stop", None) => RemoteCommand::Stop,
        ("arm", None) => RemoteCommand::Arm,
        ("reopen", None) => RemoteCommand::Reopen,
        ("lead", Some("main")) => RemoteCommand::Lead(crate::arbiter::Rig::Main),
        ("lead", Some("backup")) => RemoteCommand::Lead(crate::arbiter::Rig::Backup),
        ("testcard", None) | ("testcard", Some("1")) => RemoteCommand::TestCard(true),
        ("testcard", Some("0")) => RemoteCommand::TestCard(false),
        ("offset", Some("save")) => match parts.next() {
            None => RemoteCommand::SaveOffset,
            Some(output) => RemoteCommand::SaveOutputOffset(output_name(output)?),
        },
        ("offset", Some(ms)) => {
            let ms: f64 = ms.parse().ok()?;
            if !ms.is_finite() || ms.abs() > 10_000.0 {
                return None;
            }
            match parts.next() {
                None => RemoteCommand::Offset(ms),
                Some(output) => RemoteCommand::OutputOffset(output_name(output)?, ms),
            }
        }
        ("black", None) => RemoteCommand::Black(true),
        ("black", Some("1")) => RemoteCommand::Black(true),
        ("black", Some("0")) => RemoteCommand::Black(false),
        ("song", Some(n)) => {
            let n: usize = n.parse().ok()?;
            RemoteCommand::Song(n.checked_sub(1)?)
        }
        ("locate", Some(s)) => {
            let s: f64 = s.parse().ok()?;
            if !s.is_finite() || s < 0.0 {
                return None;
            }
            RemoteCommand::Locate(s)
        }
        _ => return None,
    };
    parts.next().is_none().then_some(cmd)
}

/// An output's name from a path segment (`%20` and the like decoded); `None` for one that is
/// empty or not UTF-8.
fn output_name(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let name = String::from_utf8(out).ok()?;
    (!name.trim().is_empty()).then_some(name)
}

/// The remote's threads give way to the player and the inputs when the processor is busy:
/// a page may update late, a cue must not.
pub(crate) fn lower_priority() {
    // SAFETY: gettid and setpriority take no pointers; on Linux PRIO_PROCESS with a thread id
    // sets that thread's nice value only.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, REMOTE_NICE);
    }
}

/// The nice value of the remote's threads (0 is normal, 19 the lowest priority).
const REMOTE_NICE: libc::c_int = 10;

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Writes a whole response and closes.
fn respond(
    stream: &mut impl Write,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_paths_name_their_command_and_nothing_else() {
        assert_eq!(parse_command("/api/play"), Some(RemoteCommand::Play));
        assert_eq!(parse_command("/api/song/2"), Some(RemoteCommand::Song(1)));
        assert_eq!(parse_command("/api/song/0"), None);
        assert_eq!(
            parse_command("/api/black/0"),
            Some(RemoteCommand::Black(false))
        );
        assert_eq!(
            parse_command("/api/locate/12.5"),
            Some(RemoteCommand::Locate(12.5))
        );
        assert_eq!(parse_command("/api/locate/NaN"), None);
        assert_eq!(
            parse_command("/api/lead/backup"),
            Some(RemoteCommand::Lead(crate::arbiter::Rig::Backup))
        );
        assert_eq!(parse_command("/api/lead/spare"), None);
        assert_eq!(
            parse_command("/api/testcard"),
            Some(RemoteCommand::TestCard(true))
        );
        assert_eq!(
            parse_command("/api/testcard/0"),
            Some(RemoteCommand::TestCard(false))
        );
        assert_eq!(parse_command("/api/testcard/2"), None);
        assert_eq!(
            parse_command("/api/offset/-12.5"),
            Some(RemoteCommand::Offset(-12.5))
        );
        assert_eq!(
            parse_command("/api/offset/save"),
            Some(RemoteCommand::SaveOffset)
        );
        assert_eq!(
            parse_command("/api/offset/85.5/LED%20wall"),
            Some(RemoteCommand::OutputOffset("LED wall".into(), 85.5))
        );
        assert_eq!(
            parse_command("/api/offset/save/left"),
            Some(RemoteCommand::SaveOutputOffset("left".into()))
        );
        assert_eq!(parse_command("/api/offset/10/"), None);
        assert_eq!(parse_command("/api/offset/10/a/b"), None);
        assert_eq!(parse_command("/api/offset/10/%zz"), None);
        assert_eq!(parse_command("/api/offset/NaN"), None);
        assert_eq!(parse_command("/api/offset/20000"), None);
        assert_eq!(parse_command("/api/lead/main/1"), None);
        assert_eq!(parse_command("/api/play/x"), None);
        assert_eq!(parse_command("/api/../etc/passwd"), None);
    }

    #[test]
    fn one_address_cannot_take_every_place() {
        let mut c = Connections::default();
        let greedy: IpAddr = "192.168.1.66".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.168.1.66".parse().unwrap();
        for _ in 0..MAX_CONNECTIONS_PER_ADDRESS {
            assert_eq!(c.open(greedy), Ok(()));
        }
        assert_eq!(c.open(greedy), Err(Refused::AddressFull));
        assert_eq!(
            c.open(mapped),
            Err(Refused::AddressFull),
            "the same address"
        );
        let phone: IpAddr = "192.168.1.30".parse().unwrap();
        assert_eq!(c.open(phone), Ok(()));
        c.close(greedy);
        assert_eq!(c.count(greedy), MAX_CONNECTIONS_PER_ADDRESS - 1);
        assert_eq!(c.open(greedy), Ok(()));
        // Many addresses still meet the total.
        let mut c = Connections::default();
        for i in 0..MAX_CONNECTIONS {
            let ip = IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]);
            assert_eq!(c.open(ip), Ok(()));
        }
        assert_eq!(c.open(phone), Err(Refused::Full));
        c.close(IpAddr::from([10, 0, 0, 0]));
        assert_eq!(c.open(phone), Ok(()));
        assert_eq!(c.count(IpAddr::from([10, 0, 0, 0])), 0);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// Any request head through the parser and the router's command parsing: no panic.
        #[test]
        fn any_request_head_is_answered_without_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            path in "/api/[a-z]{0,8}(/[0-9a-zA-Z.+-]{0,12}){0,3}",
        ) {
            if let Head::Complete(h) = wire::parse_head(&bytes) {
                let _ = parse_command(&h.path);
            }
            let _ = parse_command(&path);
            let request = format!("POST {path} HTTP/1.1\r\nAuthorization: Bearer x\r\n\r\n");
            let Head::Complete(h) = wire::parse_head(request.as_bytes()) else {
                panic!("{request:?}");
            };
            proptest::prop_assert_eq!(parse_command(&h.path), parse_command(&path));
        }
    }

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
    }
}
