//! Live updates for the page (server-sent events): one thread writes every snapshot to every
//! client through non-blocking sockets, so a hundred phones cost one wakeup per snapshot, and
//! a client that stops reading is dropped once it falls too far behind, never waited for.

use super::tls::Conn;
use super::{status_json, Peers};
use crate::player::status::StatusBoard;
use crate::watchdog::{self, Watch};
use crossbeam_channel::{Receiver, Sender};
use log::debug;
use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A client is dropped when this much is waiting for it, in bytes (a few seconds of updates).
const MAX_PENDING_BYTES: usize = 64 * 1024;
/// A client that has taken nothing for this long is dropped.
const STALL_LIMIT: Duration = Duration::from_secs(5);
/// When nothing changes, a comment this often tells dead clients from quiet ones.
const KEEPALIVE: Duration = Duration::from_secs(10);
/// The thread wakes at least this often (to take new clients and beat).
const WAKE: Duration = Duration::from_millis(250);
/// Clients waiting to be taken in; more are refused.
const QUEUE: usize = 64;
/// Pages listening at once; more are turned away (they retry on their own).
const MAX_CLIENTS: usize = 256;
/// Pages listening at once from one address: one machine cannot take every place.
const MAX_CLIENTS_PER_ADDRESS: usize = 8;

/// One page that listens.
struct Client {
    stream: Conn,
    peer: SocketAddr,
    pending: Vec<u8>,
    /// Since when bytes have been waiting for it.
    behind_since: Option<Instant>,
}

impl Client {
    /// Queues `bytes` and writes what the socket takes; false when the client is gone or too
    /// far behind.
    fn send(&mut self, bytes: &[u8]) -> bool {
        if self.pending.len() + bytes.len() > MAX_PENDING_BYTES {
            debug!(
                "remote: {} stopped reading live updates; dropped",
                self.peer
            );
            return false;
        }
        self.pending.extend_from_slice(bytes);
        self.flush()
    }

    fn flush(&mut self) -> bool {
        while !self.pending.is_empty() {
            match self.stream.write(&self.pending) {
                Ok(0) => return false,
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        if self.pending.is_empty() {
            self.behind_since = None;
            return true;
        }
        let since = *self.behind_since.get_or_insert_with(Instant::now);
        since.elapsed() < STALL_LIMIT
    }
}

/// Where connections asking for live updates are handed over.
#[derive(Clone)]
pub struct Events {
    tx: Sender<(Conn, SocketAddr)>,
}

impl Events {
    /// Starts the thread that writes the updates.
    pub fn start(
        board: Arc<StatusBoard>,
        control: bool,
        peers: Arc<Peers>,
        cert_sha256: Option<String>,
    ) -> Result<Events, String> {
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        std::thread::Builder::new()
            .name("remote-events".into())
            .spawn(move || run(&board, control, &peers, cert_sha256.as_deref(), &rx))
            .map_err(|e| format!("cannot start the remote's live-update thread: {e}"))?;
        Ok(Events { tx })
    }

    /// Takes over a connection whose request asked for live updates: writes the head and
    /// hands it to the thread; false when there is no room.
    pub fn add(&self, mut stream: Conn, peer: SocketAddr) -> bool {
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                     Cache-Control: no-store\r\nConnection: close\r\n\r\n";
        if stream.write_all(head).is_err() || stream.set_nonblocking(true).is_err() {
            return false;
        }
        self.tx.try_send((stream, peer)).is_ok()
    }
}

fn run(
    board: &StatusBoard,
    control: bool,
    peers: &Peers,
    cert_sha256: Option<&str>,
    rx: &Receiver<(Conn, SocketAddr)>,
) {
    super::lower_priority();
    let heartbeat = watchdog::register("remote-events", Watch::Beats(watchdog::REMOTE_HANG_LIMIT));
    let mut clients: Vec<Client> = Vec::new();
    let mut version = 0;
    let mut message = Vec::new();
    let mut last_sent = Instant::now();
    loop {
        heartbeat.beat();
        // Nobody listens: wait for a client rather than for snapshots.
        let first = if clients.is_empty() {
            match rx.recv_timeout(WAKE) {
                Ok(client) => Some(client),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            None
        };
        let (v, snapshot) = if first.is_some() {
            board.latest()
        } else {
            board.wait_newer(version, WAKE)
        };
        if v > version || message.is_empty() {
            version = v;
            // Made once for every client.
            message = event(&status_json(&snapshot, control, peers, cert_sha256));
            last_sent = Instant::now();
            clients.retain_mut(|c| c.send(&message));
        } else if last_sent.elapsed() >= KEEPALIVE {
            last_sent = Instant::now();
            clients.retain_mut(|c| c.send(b": still here\n\n"));
        } else {
            clients.retain_mut(Client::flush);
        }
        // Newcomers get the latest at once, so the page fills in without waiting for a change.
        for (stream, peer) in first.into_iter().chain(rx.try_iter()) {
            if clients.len() >= MAX_CLIENTS {
                debug!("remote: {peer}: {MAX_CLIENTS} pages listen already; turned away");
                continue;
            }
            let ip = peer.ip().to_canonical();
            if clients
                .iter()
                .filter(|c| c.peer.ip().to_canonical() == ip)
                .count()
                >= MAX_CLIENTS_PER_ADDRESS
            {
                debug!("remote: {peer}: {MAX_CLIENTS_PER_ADDRESS} pages listen from there already; turned away");
                continue;
            }
            let mut client = Client {
                stream,
                peer,
                pending: Vec::new(),
                behind_since: None,
            };
            if client.send(&message) {
                clients.push(client);
            }
        }
    }
    heartbeat.done();
}

/// One server-sent event carrying `json`.
fn event(json: &str) -> Vec<u8> {
    format!("data: {json}\n\n").into_bytes()
}
