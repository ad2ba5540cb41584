//! The network-MIDI sockets: a control and a data UDP port, and the threads that feed their
//! datagrams to the [`Session`] and carry its outputs out.
//!
//! Two threads, one per socket, so a flood on the data port never delays an invitation and a
//! burst of invitations never delays a Start. Each datagram is stamped with the time
//! `recv_from` returned it, before anything else is done, and every MIDI message it carries goes
//! into that peer's own [`MidiInlet`] with that time and the time the sender meant it (its RTP
//! time stamp mapped through the session's estimate of its clock, or the receipt time when
//! the stamp is unusable). Each peer's network delay and jitter are logged when first known
//! and when they change notably. The session is shared behind a mutex held only while one
//! datagram is handled (microseconds); clock ticks never wait for the player, other messages
//! only when it has a full channel waiting (see [`crate::messages::lanes`]).
//! The control thread also runs the session's timers (invitations, clock sync, feedback,
//! timeouts). When the options name a state folder, the session table (our SSRC, the joined
//! peers) is written there on every join and leave ([`super::memory`]) and taken back at the
//! next start, so a restart after a crash carries the session on.

use super::discovery::Discovery;
use super::memory::{Memory, Saved, SavedPeer};
use super::{parse_allow, parse_connect, resolve_ipv4, AllowRule, NetworkOptions};
use crate::clock;
use crate::messages::PlayerInput;
use crate::sources::MidiInlet;
use crate::watchdog::{self, Watch};
use crossbeam_channel::Sender;
use log::{debug, info, warn};
use playhead_core::network::session::{
    Allow, LeaveReason, Level, Notice, Options, Output, PeerId, PeerInfo, PeerTiming,
    PeerTimingInfo, Port, RememberedPeer, Session,
};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest wait in a socket read, so the threads notice a stop request and timers run on time.
const READ_TIMEOUT: Duration = Duration::from_millis(100);

/// Shortest gap between two "packets lost" lines for one peer; the counts add up meanwhile.
const GAP_REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// How often host names in `--allow` and `--rtp-connect` are looked up again.
const RESOLVE_INTERVAL: Duration = Duration::from_secs(30);

/// How often the peers' timing is looked at for the log.
const TIMING_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// A base delay that moved this much (and by a quarter) since the last line is logged again.
const DELAY_CHANGE_US: i64 = 1_000;

/// A jitter that moved this much (and by half) since the last line is logged again.
const JITTER_CHANGE_US: i64 = 2_000;

/// Largest UDP payload; any datagram fits, so none is cut short and misread.
const MAX_DATAGRAM_BYTES: usize = 65_536;

/// A random SSRC, different in every run.
fn random_ssrc() -> u32 {
    // Zero is legal but some implementations treat it as "unset".
    playhead_core::rng::Rng::from_entropy().next_u32().max(1)
}

/// One joined peer's way into the player, with its reporting state.
struct PeerInlet {
    inlet: MidiInlet,
    label: String,
    lost_unreported: u64,
    gaps_unreported: u64,
    lost_total: u64,
    last_gap_report: Option<Instant>,
    /// The timing last logged for it.
    timing_logged: Option<PeerTiming>,
}

/// Everything the socket threads share, behind one mutex.
struct Core {
    session: Session,
    inlets: HashMap<PeerId, PeerInlet>,
    tx: Sender<PlayerInput>,
    last_timing_report: Option<Instant>,
    /// Where the session table is kept across a crash (none in tests that do not ask).
    memory: Option<Memory>,
    /// A peer joined or left since the table was last written.
    dirty: bool,
}

struct Shared {
    core: Mutex<Core>,
    control: UdpSocket,
    data: UdpSocket,
    stop: AtomicBool,
}

impl Shared {
    fn core(&self) -> MutexGuard<'_, Core> {
        // A panic while holding the lock would be a bug; keep serving rather than cascade.
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handles one datagram received at `received` on `port`.
    fn receive(&self, port: Port, from: SocketAddr, bytes: &[u8], received: Instant) {
        let mut core = self.core();
        let now = clock::stamp(received);
        let out = match port {
            Port::Control => core.session.handle_control(from, bytes, now),
            Port::Data => core.session.handle_data(from, bytes, now),
        };
        core.apply(out, received, self);
        core.persist();
    }

    /// Runs the session's timers if one is due; returns how long the control thread may wait.
    fn run_timers(&self) -> Duration {
        let now = clock::now();
        let stamp = clock::stamp(now);
        let mut core = self.core();
        if core.session.next_deadline().is_some_and(|d| d <= stamp) {
            let out = core.session.poll(stamp);
            core.apply(out, now, self);
            core.persist();
        }
        core.report_timing(now);
        match core.session.next_deadline() {
            Some(d) => Duration::from_micros(u64::try_from(d.micros_since(stamp)).unwrap_or(0))
                .clamp(Duration::from_millis(1), READ_TIMEOUT),
            None => READ_TIMEOUT,
        }
    }

    fn send(&self, port: Port, to: SocketAddr, bytes: &[u8]) {
        let socket = match port {
            Port::Control => &self.control,
            Port::Data => &self.data,
        };
        if let Err(e) = socket.send_to(bytes, to) {
            // The peer's network may be down for a moment; the session retries on its own.
            debug!(
                "network MIDI: cannot send {} bytes to {to}: {e}",
                bytes.len()
            );
        }
    }
}

/// Whether `now` differs from the timing last logged enough to log it again.
fn timing_changed(last: &PeerTiming, now: &PeerTiming) -> bool {
    let moved = |a: Option<i64>, b: Option<i64>, floor_us: i64, fraction: f64| match (a, b) {
        (Some(a), Some(b)) => {
            let change = a.abs_diff(b) as f64;
            change >= floor_us as f64 && change >= fraction * a.unsigned_abs() as f64
        }
        (a, b) => a.is_some() != b.is_some(),
    };
    moved(last.base_delay_us, now.base_delay_us, DELAY_CHANGE_US, 0.25)
        || moved(last.jitter_us, now.jitter_us, JITTER_CHANGE_US, 0.5)
        || last.drift_ppm.is_some() != now.drift_ppm.is_some()
        || (last.receipt_timed_commands == 0) != (now.receipt_timed_commands == 0)
}

/// One peer's timing as a log line or a status line shows it.
pub fn describe_timing(t: &PeerTiming) -> String {
    let ms = |us: i64| us as f64 / 1e3;
    let mut text = match (t.base_delay_us, t.jitter_us) {
        (Some(d), Some(j)) => format!("network delay {:.1} ms, jitter {:.1} ms", ms(d), ms(j)),
        _ => "no time-stamped packets yet".to_string(),
    };
    match t.clock_uncertainty_us {
        Some(u) => text.push_str(&format!(
            "; clock offset known to ±{:.1} ms from {} sync(s)",
            ms(u),
            t.clock_samples
        )),
        None => text.push_str("; no clock sync yet"),
    }
    if let Some(ppm) = t.drift_ppm {
        text.push_str(&format!(", drift {ppm:+.0} ppm"));
    }
    if t.receipt_timed_commands > 0 {
        text.push_str(&format!(
            "; {} of {} message(s) timed by receipt (unusable stamps)",
            t.receipt_timed_commands,
            t.receipt_timed_commands.saturating_add(t.stamped_commands)
        ));
    }
    text
}

fn peer_label(name: &str, address: SocketAddr) -> String {
    format!("'{name}' ({address})")
}

/// A peer's own parser into the player, named as the log shows it.
fn new_inlet(tx: &Sender<PlayerInput>, name: &str, address: SocketAddr) -> PeerInlet {
    let source =
        playhead_core::arbiter::network_peer_label(name, &address.ip().to_canonical().to_string());
    PeerInlet {
        inlet: MidiInlet::new(&source, tx.clone()),
        label: peer_label(name, address),
        lost_unreported: 0,
        gaps_unreported: 0,
        lost_total: 0,
        last_gap_report: None,
        timing_logged: None,
    }
}

impl Core {
    /// Writes the session table if a peer joined or left since it was last written.
    fn persist(&mut self) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let Some(memory) = &mut self.memory else {
            return;
        };
        let saved = Saved {
            ssrc: self.session.ssrc(),
            session_name: self.session.name().to_string(),
            peers: self
                .session
                .remembered()
                .iter()
                .map(SavedPeer::from)
                .collect(),
        };
        memory.save(&saved);
    }

    /// Carries out what the session asked for. `at` is the receipt time of the datagram that
    /// caused it (or now, for timers): the MIDI inside carries it to the player, with the time
    /// its sender meant.
    fn apply(&mut self, outputs: Vec<Output>, at: Instant, shared: &Shared) {
        for output in outputs {
            match output {
                Output::Send { port, to, bytes } => shared.send(port, to, &bytes),
                Output::Midi {
                    peer,
                    events,
                    garbage_bytes,
                    at: meant,
                    ..
                } => {
                    // The receipt's own stamp means "no better time known": keep the receipt
                    // instant exactly rather than its µs rounding.
                    let meant = if meant == clock::stamp(at) {
                        at
                    } else {
                        clock::instant(meant)
                    };
                    let inlet = self.inlet(peer);
                    // Parsed by the session already: the events go on as they are.
                    inlet
                        .inlet
                        .receive_events(&events, garbage_bytes, at, meant);
                }
                Output::Notice(notice) => self.on_notice(notice, at),
                Output::Log { level, message } => match level {
                    Level::Debug => debug!("network MIDI: {message}"),
                    Level::Info => info!("network MIDI: {message}"),
                    Level::Warn => warn!("network MIDI: {message}"),
                },
            }
        }
    }

    /// The inlet of `peer`, made on first use (a peer always joins before it sends MIDI, but
    /// a missing inlet must never lose a Start).
    fn inlet(&mut self, peer: PeerId) -> &mut PeerInlet {
        let (session, tx) = (&self.session, &self.tx);
        self.inlets.entry(peer).or_insert_with(|| {
            let (name, address) = session
                .peers()
                .into_iter()
                .find(|p| p.id == peer)
                .map(|p| (p.name, p.control_address))
                .unwrap_or_else(|| (peer.to_string(), SocketAddr::from(([0, 0, 0, 0], 0))));
            new_inlet(tx, &name, address)
        })
    }

    /// Logs each peer's network delay and jitter when first known and when they changed
    /// notably; at most once a second.
    fn report_timing(&mut self, now: Instant) {
        if self
            .last_timing_report
            .is_some_and(|t| now.saturating_duration_since(t) < TIMING_REPORT_INTERVAL)
        {
            return;
        }
        self.last_timing_report = Some(now);
        for info in self.session.peer_timing() {
            let Some(inlet) = self.inlets.get_mut(&info.id) else {
                continue;
            };
            let t = &info.timing;
            if t.base_delay_us.is_none() {
                continue;
            }
            if inlet
                .timing_logged
                .as_ref()
                .is_some_and(|last| !timing_changed(last, t))
            {
                continue;
            }
            info!("network MIDI: {}: {}", inlet.label, describe_timing(t));
            inlet.timing_logged = Some(t.clone());
        }
    }

    /// Makes the peer's inlet and tells the player it joined (the main and backup rigs).
    fn add_inlet(&mut self, peer: PeerId, name: &str, address: SocketAddr) {
        let inlet = new_inlet(&self.tx, name, address);
        let _ = self
            .tx
            .send(PlayerInput::SourceJoined(inlet.inlet.source().clone()));
        self.inlets.insert(peer, inlet);
    }

    fn on_notice(&mut self, notice: Notice, at: Instant) {
        match notice {
            Notice::PeerJoined {
                peer,
                name,
                address,
            } => {
                info!(
                    "network MIDI: {} joined the session",
                    peer_label(&name, address)
                );
                self.add_inlet(peer, &name, address);
                self.dirty = true;
            }
            Notice::PeerRestored {
                peer,
                name,
                address,
            } => {
                info!(
                    "network MIDI: {} is in the session again, as before the restart: its \
                     clock sync and MIDI are answered at once",
                    peer_label(&name, address)
                );
                self.add_inlet(peer, &name, address);
                self.dirty = true;
            }
            Notice::PeerLeft { peer, name, reason } => {
                self.dirty = true;
                let gone = self.inlets.remove(&peer);
                let source = gone.as_ref().map(|p| p.inlet.source().clone());
                let label = gone.map_or_else(|| format!("'{name}'"), |p| p.label);
                let why = match reason {
                    LeaveReason::Bye => "it said goodbye".to_string(),
                    LeaveReason::Timeout => "nothing heard from it for 61 s".to_string(),
                    LeaveReason::Replaced => {
                        "it restarted: it came back from the same address with a new SSRC".into()
                    }
                    LeaveReason::Moved { address } => format!(
                        "it restarted: it came back from {address} with the same SSRC"
                    ),
                    LeaveReason::ReplacedByName { address } => format!(
                        "it restarted: a peer of the same name came back from {address} with a new SSRC"
                    ),
                    LeaveReason::MadeRoom {
                        silent_us,
                        newcomer,
                    } => format!(
                        "the session was full and nothing had been heard from it for {:.1} s, longer \
                         than from any other peer: its place went to {newcomer}",
                        silent_us as f64 / 1e6
                    ),
                };
                info!("network MIDI: {label} left the session ({why})");
                if let Some(source) = source {
                    let _ = self.tx.send(PlayerInput::SourceLeft(
                        source,
                        format!("it left the network-MIDI session: {why}"),
                    ));
                }
            }
            Notice::Refused { address, name } => warn!(
                "network MIDI: refused {}: not allowed by --allow (it was told NO)",
                peer_label(&name, address)
            ),
            Notice::InvitationRejected { address, name } => {
                let who = if name.is_empty() {
                    address.to_string()
                } else {
                    peer_label(&name, address)
                };
                warn!("network MIDI: {who} refused our invitation; asking again every 5 s")
            }
            Notice::SequenceGap { peer, lost_packets } => {
                let p = self.inlet(peer);
                p.lost_unreported += u64::from(lost_packets);
                p.gaps_unreported += 1;
                p.lost_total += u64::from(lost_packets);
                if p.last_gap_report
                    .is_none_or(|t| at.saturating_duration_since(t) >= GAP_REPORT_INTERVAL)
                {
                    warn!(
                        "network MIDI: {} packet(s) lost from {} in {} gap(s) ({} lost in all)",
                        p.lost_unreported, p.label, p.gaps_unreported, p.lost_total
                    );
                    p.lost_unreported = 0;
                    p.gaps_unreported = 0;
                    p.last_gap_report = Some(at);
                }
            }
            Notice::TransportRecovered {
                peer,
                running,
                song_position_clocks,
            } => {
                let p = self.inlet(peer);
                let what = if running { "Start" } else { "Stop" };
                let position = song_position_clocks
                    .map(|c| format!(", song position {c} MIDI clocks"))
                    .unwrap_or_default();
                warn!(
                    "network MIDI: a {what} from {} was lost; recovered it from the recovery journal{position}",
                    p.label
                );
            }
        }
    }
}

/// A running network-MIDI session: its sockets, threads and DNS-SD advertisement. Dropping it
/// says goodbye to every peer and stops the threads.
pub struct Network {
    shared: Arc<Shared>,
    control_port: u16,
    name: String,
    threads: Vec<JoinHandle<()>>,
    discovery: Option<Discovery>,
}

/// Binds the control and data sockets on all IPv4 interfaces: `port` and `port + 1`, or with
/// port 0 the first free pair with an even control port (some implementations tell the two
/// ports apart by parity).
/// Two free neighbouring UDP ports on `ip`, the even one first (control, then data), as the
/// AppleMIDI convention wants; the system picks them.
pub fn free_port_pair(ip: IpAddr) -> std::io::Result<(UdpSocket, UdpSocket)> {
    let mut last = None;
    for _ in 0..200 {
        let control = UdpSocket::bind(SocketAddr::new(ip, 0))?;
        let p = control.local_addr()?.port();
        if p % 2 == 1 || p == u16::MAX {
            continue;
        }
        match UdpSocket::bind(SocketAddr::new(ip, p + 1)) {
            Ok(data) => return Ok((control, data)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no two free neighbouring UDP ports")))
}

fn bind_pair(port: u16) -> Result<(UdpSocket, UdpSocket), String> {
    let any = |p: u16| SocketAddr::from((Ipv4Addr::UNSPECIFIED, p));
    if port == 0 {
        return free_port_pair(IpAddr::V4(Ipv4Addr::UNSPECIFIED)).map_err(|e| {
            format!("cannot find two free neighbouring UDP ports for network MIDI: {e}")
        });
    }
    let data_port = port
        .checked_add(1)
        .ok_or("--rtp-port must be below 65535: the data port is the next one")?;
    let explain = |p: u16, e: std::io::Error| {
        if e.kind() == ErrorKind::AddrInUse {
            format!(
                "cannot open network MIDI: UDP port {p} is in use (is rtpmidid or another playhead \
                 running? stop it, or give playhead other ports with --rtp-port N)"
            )
        } else {
            format!("cannot open network MIDI on UDP port {p}: {e}")
        }
    };
    let control = UdpSocket::bind(any(port)).map_err(|e| explain(port, e))?;
    let data = UdpSocket::bind(any(data_port)).map_err(|e| explain(data_port, e))?;
    Ok((control, data))
}

/// The allow-list as the session wants it, from the rules and the addresses names resolved to.
fn allow_from(rules: &[AllowRule], resolved: &HashMap<String, Vec<IpAddr>>) -> Allow {
    if rules.is_empty() {
        return Allow::Everyone;
    }
    let mut networks = Vec::new();
    for rule in rules {
        match rule {
            AllowRule::Network(ip, bits) => networks.push((*ip, *bits)),
            AllowRule::Name(name) => {
                for ip in resolved.get(name).into_iter().flatten() {
                    networks.push((*ip, if ip.is_ipv4() { 32 } else { 128 }));
                }
            }
        }
    }
    Allow::Networks(networks)
}

impl Network {
    /// Opens the session's sockets, starts its threads, invites the `--rtp-connect` targets
    /// and advertises it over mDNS unless told not to.
    pub fn start(options: &NetworkOptions, tx: Sender<PlayerInput>) -> Result<Network, String> {
        let rules = options
            .allow
            .iter()
            .map(|a| parse_allow(a))
            .collect::<Result<Vec<_>, _>>()?;
        let targets = options
            .rtp_connect
            .iter()
            .map(|c| parse_connect(c))
            .collect::<Result<Vec<_>, _>>()?;
        let name = options
            .session_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(super::host_name);
        let (control, data) = bind_pair(options.rtp_port)?;
        let control_port = control
            .local_addr()
            .map_err(|e| format!("network MIDI socket: {e}"))?
            .port();
        for s in [&control, &data] {
            s.set_read_timeout(Some(READ_TIMEOUT))
                .map_err(|e| format!("network MIDI socket: {e}"))?;
        }
        let mut memory = options
            .state_dir
            .as_ref()
            .map(|dir| Memory::new(dir, control_port));
        let saved = match memory.as_ref().map(Memory::load) {
            Some(Ok(saved)) => saved,
            Some(Err(e)) => {
                warn!("network MIDI: {e}");
                None
            }
            None => None,
        };
        let ssrc = saved
            .as_ref()
            .map(|s| s.ssrc)
            .filter(|&s| s != 0)
            .unwrap_or_else(random_ssrc);
        let mut session = Session::new(
            name.clone(),
            ssrc,
            Options {
                allow: allow_from(&rules, &HashMap::new()),
                make_room_silence_us: u64::try_from(options.make_room_after_silence.as_micros())
                    .unwrap_or(u64::MAX),
                ..Options::default()
            },
        );
        let remembered: Vec<RememberedPeer> = saved
            .as_ref()
            .map(|s| s.peers.iter().map(RememberedPeer::from).collect())
            .unwrap_or_default();
        if let (Some(m), false) = (&memory, remembered.is_empty()) {
            info!(
                "network MIDI: {} peer(s) remembered from the last run in {}",
                remembered.len(),
                m.path().display()
            );
        }
        let names_pending = rules.iter().any(|r| matches!(r, AllowRule::Name(_)));
        if names_pending {
            // Host names in --allow are not resolved yet (they admit nobody until they are):
            // the remembered peers were admitted by them before, and peers in the session stay
            // when the allow-list changes.
            session.set_allow(Allow::Everyone);
        }
        let restored = session.restore(&remembered, clock::stamp(clock::now()));
        if names_pending {
            session.set_allow(allow_from(&rules, &HashMap::new()));
        }
        if let (Some(m), None) = (&mut memory, &saved) {
            // Written at once: a crash before the first peer joins keeps our SSRC.
            m.save(&Saved {
                ssrc,
                session_name: name.clone(),
                peers: Vec::new(),
            });
        }
        let shared = Arc::new(Shared {
            core: Mutex::new(Core {
                session,
                inlets: HashMap::new(),
                tx,
                last_timing_report: None,
                memory,
                dirty: false,
            }),
            control,
            data,
            stop: AtomicBool::new(false),
        });
        let who = if rules.is_empty() {
            "anyone who can reach it may join".to_string()
        } else {
            format!("only {} may join", options.allow.join(", "))
        };
        info!(
            "network MIDI session '{name}' on UDP ports {control_port} (control) and {} (data); {who}",
            control_port + 1
        );

        let mut threads = Vec::new();
        for port in [Port::Control, Port::Data] {
            let shared = shared.clone();
            let thread_name = match port {
                Port::Control => "rtp-control",
                Port::Data => "rtp-data",
            };
            threads.push(
                std::thread::Builder::new()
                    .name(thread_name.into())
                    .spawn(move || serve(&shared, port))
                    .map_err(|e| format!("cannot start the network MIDI thread: {e}"))?,
            );
        }
        let names_to_resolve = rules.iter().any(|r| matches!(r, AllowRule::Name(_)))
            || targets.iter().any(|(h, _)| h.parse::<IpAddr>().is_err());
        {
            // Addresses given as numbers are invited at once; names wait for the resolver.
            let mut core = shared.core();
            let now = clock::now();
            core.apply(restored, now, &shared);
            core.persist();
            for (host, port) in &targets {
                if let Ok(ip) = host.parse::<IpAddr>() {
                    let out = core
                        .session
                        .connect(SocketAddr::new(ip, *port), clock::stamp(now));
                    info!("network MIDI: inviting {}", SocketAddr::new(ip, *port));
                    core.apply(out, now, &shared);
                }
            }
        }
        if names_to_resolve {
            let shared = shared.clone();
            // Not joined at the end: a name look-up can hang for seconds on a network with no
            // DNS server, and the goodbye must not wait for it. It sees `stop` and ends.
            std::thread::Builder::new()
                .name("rtp-names".into())
                .spawn(move || resolve_names(&shared, &rules, &targets))
                .map_err(|e| format!("cannot start the network MIDI thread: {e}"))?;
        }
        let discovery = if options.no_mdns {
            info!(
                "network MIDI: not advertised over mDNS (--no-mdns); peers must add it by address"
            );
            None
        } else {
            match Discovery::start(&name, control_port) {
                Ok(d) => Some(d),
                Err(e) => {
                    warn!("network MIDI: {e}; the session works but other machines will not list it, add it by address");
                    None
                }
            }
        };
        Ok(Network {
            shared,
            control_port,
            name,
            threads,
            discovery,
        })
    }

    /// The control port (the data port is the next one).
    pub fn control_port(&self) -> u16 {
        self.control_port
    }

    /// The session name peers see.
    pub fn session_name(&self) -> &str {
        &self.name
    }

    /// A snapshot of the peers, joined or half-way through their invitation.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.shared.core().session.peers()
    }

    /// A snapshot of every joined peer's timing: network delay and jitter, clock offset and
    /// drift (for the status display: [`describe_timing`] words one).
    pub fn peer_timing(&self) -> Vec<PeerTimingInfo> {
        self.shared.core().session.peer_timing()
    }

    /// A way to read the peers from another thread (the remote page) for as long as the
    /// session lives; empty once it is gone.
    pub fn peer_reader(&self) -> impl Fn() -> Vec<PeerInfo> + Send + Sync + 'static {
        let shared = Arc::downgrade(&self.shared);
        move || {
            shared
                .upgrade()
                .map(|s| s.core().session.peers())
                .unwrap_or_default()
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        {
            let mut core = self.shared.core();
            let out = core.session.close();
            core.apply(out, clock::now(), &self.shared);
            // Everyone was told BY: nobody to take back after this clean exit.
            core.dirty = true;
            core.persist();
        }
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.discovery = None;
    }
}

/// One socket's thread: receive, stamp, hand to the session; the control thread runs the
/// timers too.
fn serve(shared: &Shared, port: Port) {
    let socket = match port {
        Port::Control => &shared.control,
        Port::Data => &shared.data,
    };
    let mut buf = vec![0u8; MAX_DATAGRAM_BYTES];
    let mut last_error: Option<ErrorKind> = None;
    // Both threads wake at least every READ_TIMEOUT: a silent one is a stuck one, and a dead
    // data thread must not leave the DAW believing the video is connected.
    let heartbeat = watchdog::register(
        match port {
            Port::Control => "network-MIDI control",
            Port::Data => "network-MIDI data",
        },
        Watch::Beats(watchdog::DEFAULT_HANG_LIMIT),
    );
    while !shared.stop.load(Ordering::Relaxed) {
        heartbeat.beat();
        if port == Port::Control {
            let wait = shared.run_timers();
            // Only fails for a zero duration, which run_timers never returns.
            let _ = socket.set_read_timeout(Some(wait));
        }
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                let received = clock::now();
                last_error = None;
                shared.receive(port, from, &buf[..n], received);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            // An ICMP "port unreachable" for something we sent; the session retries anyway.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                if last_error != Some(e.kind()) {
                    warn!("network MIDI: receiving failed: {e}; retrying");
                    last_error = Some(e.kind());
                }
                std::thread::sleep(READ_TIMEOUT);
            }
        }
    }
    heartbeat.done();
}

/// Looks up the host names of `--allow` and `--rtp-connect` now and every 30 s: a name may not
/// resolve yet when the show machine boots, and addresses from DHCP change.
fn resolve_names(shared: &Shared, rules: &[AllowRule], targets: &[(String, u16)]) {
    let mut resolved: HashMap<String, Vec<IpAddr>> = HashMap::new();
    let mut failures: HashMap<String, String> = HashMap::new();
    let mut invited: Vec<SocketAddr> = Vec::new();
    let mut last_allow: Option<String> = None;
    while !shared.stop.load(Ordering::Relaxed) {
        for rule in rules {
            let AllowRule::Name(name) = rule else {
                continue;
            };
            match resolve_all(name) {
                Ok(ips) => {
                    failures.remove(name);
                    resolved.insert(name.clone(), ips);
                }
                Err(e) => {
                    if failures.get(name) != Some(&e) {
                        warn!("network MIDI: --allow {name}: {e}; trying again every 30 s");
                        failures.insert(name.clone(), e);
                    }
                }
            }
        }
        if rules.iter().any(|r| matches!(r, AllowRule::Name(_))) {
            let allow = allow_from(rules, &resolved);
            let shown = format!("{allow:?}");
            if last_allow.as_ref() != Some(&shown) {
                debug!("network MIDI: allow-list now {shown}");
                shared.core().session.set_allow(allow);
                last_allow = Some(shown);
            }
        }
        for (host, port) in targets {
            if host.parse::<IpAddr>().is_ok() {
                continue;
            }
            match resolve_ipv4(host, *port) {
                Ok(addr) if !invited.contains(&addr) => {
                    failures.remove(host);
                    invited.push(addr);
                    info!("network MIDI: inviting '{host}' at {addr}");
                    let now = clock::now();
                    let mut core = shared.core();
                    let out = core.session.connect(addr, clock::stamp(now));
                    core.apply(out, now, shared);
                }
                Ok(_) => {}
                Err(e) => {
                    if failures.get(host) != Some(&e) {
                        warn!("network MIDI: --rtp-connect {host}: {e}; trying again every 30 s");
                        failures.insert(host.clone(), e);
                    }
                }
            }
        }
        let until = clock::now() + RESOLVE_INTERVAL;
        while clock::now() < until && !shared.stop.load(Ordering::Relaxed) {
            std::thread::sleep(READ_TIMEOUT);
        }
    }
}

/// Every address `host` resolves to, or why none.
fn resolve_all(host: &str) -> Result<Vec<IpAddr>, String> {
    use std::net::ToSocketAddrs;
    let ips: Vec<IpAddr> = (host, 0u16)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve '{host}': {e}"))?
        .map(|a| a.ip())
        .collect();
    if ips.is_empty() {
        return Err(format!("'{host}' has no address"));
    }
    Ok(ips)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(delay_us: i64, jitter_us: i64) -> PeerTiming {
        PeerTiming {
            clock_samples: 4,
            clock_uncertainty_us: Some(300),
            drift_ppm: None,
            base_delay_us: Some(delay_us),
            jitter_us: Some(jitter_us),
            stamped_commands: 10,
            receipt_timed_commands: 0,
        }
    }

    #[test]
    fn timing_is_logged_again_only_when_it_changed_notably() {
        let last = timing(4_000, 12_000);
        assert!(
            !timing_changed(&last, &timing(4_500, 13_000)),
            "small moves"
        );
        assert!(
            timing_changed(&last, &timing(6_000, 12_000)),
            "delay +2 ms, +50 %"
        );
        assert!(
            timing_changed(&last, &timing(4_000, 25_000)),
            "jitter doubled"
        );
        assert!(
            !timing_changed(&timing(100, 500), &timing(900, 2_000)),
            "sub-millisecond moves are noise however large in proportion"
        );
        let drift_known = PeerTiming {
            drift_ppm: Some(42.0),
            ..last.clone()
        };
        assert!(timing_changed(&last, &drift_known));
        let junk = PeerTiming {
            receipt_timed_commands: 3,
            ..last.clone()
        };
        assert!(timing_changed(&last, &junk));
    }

    #[test]
    fn timing_reads_in_milliseconds() {
        let mut t = timing(4_250, 12_000);
        t.drift_ppm = Some(-87.4);
        t.receipt_timed_commands = 2;
        assert_eq!(
            describe_timing(&t),
            "network delay 4.2 ms, jitter 12.0 ms; clock offset known to ±0.3 ms from 4 sync(s), \
             drift -87 ppm; 2 of 12 message(s) timed by receipt (unusable stamps)"
        );
        assert_eq!(
            describe_timing(&PeerTiming::default()),
            "no time-stamped packets yet; no clock sync yet"
        );
    }
}
