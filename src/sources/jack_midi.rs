//! OS MIDI ports in the JACK build: a JACK client of playhead's own, so that every message is
//! stamped with its frame in the JACK cycle.
//!
//! midir's JACK backend stamps a message with the time its callback ran, the same for every
//! message of a cycle and up to a period (5.3 ms at 256 frames and 48 kHz) after the frame the
//! sender put it on: a Stop taken that late lets the frames due in between through. Here a
//! message at frame `f` of the cycle that starts at frame `F` is dated `frames_to_time(F + f)`
//! less the port's capture latency (JACK's own clock, which is the monotonic clock playhead's
//! instants use; the stamp is carried over as an age from the moment the callback ran), as the
//! LTC input does for audio.
//!
//! One client, `playhead` (JACK names a second one `playhead-01`), holds the input port
//! `playhead` that a DAW or a network-MIDI bridge connects to, and one input port per
//! connected source, `from-1`, `from-2`, ..., kept for that source while the program runs (a
//! source that comes back gets its port again). A thread of ours lists the MIDI outputs every
//! second and connects the wanted ones, as midir's watcher does in the ALSA build.
//!
//! The JACK process callback runs in JACK's real-time thread: it only copies each message's
//! bytes and stamps into fixed-size records in a wait-free ring buffer (rtrb) made before the
//! client started, and unparks the thread that reads it (an atomic and, when that thread
//! sleeps, a futex wake: no lock, no allocation, no parsing, never a wait). A message the ring
//! has no room for is dropped whole and counted. That thread of ours, `jack-midi`, parses and
//! forwards the messages through the source's inlet, which may allocate (a clock lane handed
//! over) and, when the player is stalled, wait up to 100 ms for room in its channel. (Before,
//! the callback did that itself.) A message longer than a record (a SysEx) goes in pieces,
//! all or none, which the source's parser joins. When the server goes away the client is dropped and made again once
//! it is back.

use super::{
    say_waiting, still_there, wanted_ports, MidiInlet, CLIENT_NAME, PORT_WATCH_HANG_LIMIT,
};
use crate::messages::PlayerInput;
use crate::watchdog::{self, Watch};
use crossbeam_channel::{Receiver, Sender};
use jack::{Client, ClientOptions, ClientStatus, Control, LatencyType, MidiIn, Port, ProcessScope};
use log::{info, warn};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The most sources one client connects (each gets a port of its own).
const PORTS_AT_MOST: usize = 64;

/// The source name of messages on playhead's own input port.
fn virtual_source() -> String {
    format!("virtual port '{CLIENT_NAME}'")
}

/// The bytes a record carries: a whole channel or transport message, MTC and MMC SysEx; a
/// longer message goes in several.
const RAW_BYTES: usize = 16;
/// How many records wait between the callback and the forwarding thread at most (at 120 BPM
/// a clock's 48 a second: over a minute of them).
const RAW_QUEUE: usize = 4096;
/// How long the forwarding thread sleeps when nothing came (the callback wakes it sooner).
const FORWARD_IDLE: Duration = Duration::from_millis(100);

/// A message (or a piece of one) on port `input` (its number: 0 the own port, then 1, 2, ...
/// as the session makes them), handed from the callback to the forwarding thread.
#[derive(Clone, Copy)]
struct Raw {
    input: usize,
    len: u8,
    bytes: [u8; RAW_BYTES],
    received: Instant,
    at: Instant,
}

impl Raw {
    /// `piece` (at most [`RAW_BYTES`] of a message; more is cut) of port `input`.
    fn new(input: usize, piece: &[u8], received: Instant, at: Instant) -> Raw {
        let len = piece.len().min(RAW_BYTES);
        let mut bytes = [0; RAW_BYTES];
        bytes[..len].copy_from_slice(&piece[..len]);
        Raw {
            input,
            len: len as u8,
            bytes,
            received,
            at,
        }
    }
}

struct Process {
    /// Our ports and their numbers; the forwarding thread holds each one's inlet by number.
    ports: Vec<(usize, Port<MidiIn>)>,
    added: Receiver<(usize, Port<MidiIn>)>,
    out: rtrb::Producer<Raw>,
    /// The forwarding thread, woken when records come.
    forwarder: thread::Thread,
    /// Messages the ring had no room for.
    dropped: Arc<AtomicU64>,
}

/// The time of frame `frame` (of the cycle JACK is processing) on our clock, given that the
/// callback runs at `now`, which is `jack_now_us` on JACK's clock, and the port's capture
/// latency. Never later than the end of the cycle's period from now.
fn frame_instant(
    client: &Client,
    frame: u32,
    latency_frames: u32,
    jack_now_us: u64,
    now: Instant,
) -> Instant {
    let rate = client.sample_rate().max(1) as u64;
    let t_us = client
        .frames_to_time(frame)
        .saturating_sub(u64::from(latency_frames) * 1_000_000 / rate);
    if t_us <= jack_now_us {
        let age = Duration::from_micros((jack_now_us - t_us).min(3_600_000_000));
        now.checked_sub(age).unwrap_or(now)
    } else {
        // Ahead of the callback: within this cycle, so at most a period (bounded anyway).
        now + Duration::from_micros((t_us - jack_now_us).min(100_000))
    }
}

impl jack::ProcessHandler for Process {
    fn process(&mut self, client: &Client, ps: &ProcessScope) -> Control {
        let now = Instant::now();
        let jack_now_us = client.time();
        while let Ok(port) = self.added.try_recv() {
            self.ports.push(port);
        }
        let first = ps.last_frame_time();
        let mut handed = false;
        for &(input, ref port) in &self.ports {
            let (_, latency) = port.get_latency_range(LatencyType::Capture);
            for message in port.iter(ps) {
                let at = frame_instant(
                    client,
                    first.wrapping_add(message.time),
                    latency,
                    jack_now_us,
                    now,
                );
                // All of a message or none: a SysEx missing a piece would be joined wrong.
                if self.out.slots() < message.bytes.len().div_ceil(RAW_BYTES) {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                for piece in message.bytes.chunks(RAW_BYTES) {
                    // Room was checked: the callback is the ring's only writer.
                    let _ = self.out.push(Raw::new(input, piece, now, at));
                }
                handed = true;
            }
        }
        if handed {
            self.forwarder.unpark();
        }
        Control::Continue
    }
}

/// Parses and forwards what the callback hands over, until the callback's end of the ring is
/// dropped with its client and the ring is empty. `inlets` brings each port's inlet with its
/// number, before the port reaches the callback.
fn forward(
    mut records: rtrb::Consumer<Raw>,
    inlets: Receiver<(usize, MidiInlet)>,
    dropped: Arc<AtomicU64>,
) {
    let mut known: HashMap<usize, MidiInlet> = HashMap::new();
    let mut said_dropped = 0;
    loop {
        while let Ok(raw) = records.pop() {
            if !known.contains_key(&raw.input) {
                known.extend(inlets.try_iter());
            }
            let Some(inlet) = known.get_mut(&raw.input) else {
                continue;
            };
            let bytes = &raw.bytes[..usize::from(raw.len).min(RAW_BYTES)];
            if !inlet.receive_stamped(bytes, raw.received, raw.at) {
                // The player has gone: the program is shutting down.
                return;
            }
        }
        let lost = dropped.load(Ordering::Relaxed);
        if lost > said_dropped {
            warn!(
                "{} MIDI message(s) from JACK were dropped: playhead fell {RAW_QUEUE} records \
                 behind ({lost} in all)",
                lost - said_dropped
            );
            said_dropped = lost;
        }
        if records.is_abandoned() && records.is_empty() {
            return;
        }
        thread::park_timeout(FORWARD_IDLE);
    }
}

/// Tells the watcher that the server went away.
struct Notifications {
    gone: Arc<AtomicBool>,
}

impl jack::NotificationHandler for Notifications {
    unsafe fn shutdown(&mut self, _status: ClientStatus, _reason: &str) {
        self.gone.store(true, Ordering::Release);
    }
}

type Active = jack::AsyncClient<Notifications, Process>;

/// The running client and the ports it has made.
struct Session {
    active: Active,
    gone: Arc<AtomicBool>,
    add: Sender<(usize, Port<MidiIn>)>,
    /// Each new port's inlet, to the forwarding thread (before the port goes to the callback).
    add_inlet: Sender<(usize, MidiInlet)>,
    /// Our port for each source ever connected in this session (source name, our port's
    /// full name).
    ports: HashMap<String, String>,
}

impl Session {
    fn open(tx: &Sender<PlayerInput>) -> Result<Session, String> {
        let (client, _status) =
            Client::new(CLIENT_NAME, ClientOptions::NO_START_SERVER).map_err(|e| e.to_string())?;
        let own = client
            .register_port(CLIENT_NAME, MidiIn::default())
            .map_err(|e| format!("cannot make the input port: {e}"))?;
        let (add, added) = crossbeam_channel::bounded(PORTS_AT_MOST);
        let (add_inlet, inlets) = crossbeam_channel::unbounded();
        let (out, records) = rtrb::RingBuffer::new(RAW_QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let _ = add_inlet.send((0, MidiInlet::new(&virtual_source(), tx.clone())));
        let lost = dropped.clone();
        let forwarder = thread::Builder::new()
            .name("jack-midi".into())
            .spawn(move || forward(records, inlets, lost))
            .map_err(|e| format!("cannot start the MIDI forwarding thread: {e}"))?
            .thread()
            .clone();
        let gone = Arc::new(AtomicBool::new(false));
        let process = Process {
            ports: {
                // Room for every port the channel can bring: no allocation in the callback.
                let mut ports = Vec::with_capacity(PORTS_AT_MOST + 1);
                ports.push((0, own));
                ports
            },
            added,
            out,
            forwarder,
            dropped,
        };
        let active = client
            .activate_async(Notifications { gone: gone.clone() }, process)
            .map_err(|e| e.to_string())?;
        info!(
            "opened virtual MIDI input port '{}:{CLIENT_NAME}': connect a DAW or a network-MIDI \
             session to it",
            active.as_client().name()
        );
        Ok(Session {
            active,
            gone,
            add,
            add_inlet,
            ports: HashMap::new(),
        })
    }

    fn client(&self) -> &Client {
        self.active.as_client()
    }

    /// Our port for `source`, made the first time.
    fn port_for(&mut self, source: &str, tx: &Sender<PlayerInput>) -> Result<String, String> {
        if let Some(ours) = self.ports.get(source) {
            return Ok(ours.clone());
        }
        if self.ports.len() >= PORTS_AT_MOST {
            return Err(format!(
                "playhead connects {PORTS_AT_MOST} MIDI ports at most"
            ));
        }
        let number = self.ports.len() + 1;
        let short = format!("from-{number}");
        let port = self
            .client()
            .register_port(&short, MidiIn::default())
            .map_err(|e| format!("cannot make an input port for it: {e}"))?;
        let ours = port.name().map_err(|e| e.to_string())?;
        // The inlet first: the forwarding thread has it before any message from the port.
        self.add_inlet
            .send((number, MidiInlet::new(source, tx.clone())))
            .map_err(|_| "the MIDI forwarding thread has stopped".to_string())?;
        self.add
            .try_send((number, port))
            .map_err(|_| "the JACK process callback does not take new ports".to_string())?;
        self.ports.insert(source.to_string(), ours.clone());
        Ok(ours)
    }

    /// Whether `source` is connected to our port for it.
    fn connected(&self, source: &str) -> bool {
        let Some(ours) = self.ports.get(source) else {
            return false;
        };
        self.client()
            .port_by_name(ours)
            .and_then(|p| p.is_connected_to(source).ok())
            .unwrap_or(false)
    }
}

/// The MIDI output ports JACK has now, as `client:port`.
fn midi_outputs(client: &Client) -> Vec<String> {
    client.ports(None, Some("midi"), jack::PortFlags::IS_OUTPUT)
}

/// Lists JACK's MIDI output ports (what `--list-midi-ports` prints), or says why there are none.
pub(super) fn list_ports() -> Result<Vec<String>, String> {
    let (client, _status) = Client::new(super::LISTER_NAME, ClientOptions::NO_START_SERVER)
        .map_err(|e| super::os_midi_unavailable(&e))?;
    Ok(midi_outputs(&client)
        .into_iter()
        .filter(|n| !n.starts_with(client.name()))
        .collect())
}

/// Keeps playhead connected to the JACK MIDI outputs whose name contains one of `filters`
/// (every one but our own when there is none), and its own input port open.
pub(super) fn watch(filters: Vec<String>, tx: Sender<PlayerInput>) {
    let heartbeat = watchdog::register("MIDI ports", Watch::Beats(PORT_WATCH_HANG_LIMIT));
    let mut session: Option<Session> = None;
    // Sources connected now.
    let mut connected: Vec<String> = Vec::new();
    let mut failed: HashMap<String, String> = HashMap::new();
    let mut said_unavailable = false;
    let mut said_waiting = false;
    loop {
        heartbeat.beat();
        if session
            .as_ref()
            .is_some_and(|s| s.gone.load(Ordering::Acquire))
        {
            warn!("the JACK server went away; MIDI ports are off until it is back");
            for name in connected.drain(..) {
                let _ = tx.send(PlayerInput::SourceLeft(
                    Arc::from(name.as_str()),
                    "the JACK server went away".into(),
                ));
            }
            // Closed on a thread of its own: a client whose server died may take a while.
            if let Some(s) = session.take() {
                let _ = thread::Builder::new()
                    .name("jack-midi-close".into())
                    .spawn(move || drop(s));
            }
        }
        if session.is_none() {
            match Session::open(&tx) {
                Ok(s) => {
                    if said_unavailable {
                        info!("the OS MIDI system is available now");
                        said_unavailable = false;
                    }
                    session = Some(s);
                }
                Err(e) => {
                    if !said_unavailable {
                        warn!(
                            "{}; MIDI ports are off, network MIDI, MIDI devices and keys still work",
                            super::os_midi_unavailable(&e)
                        );
                        said_unavailable = true;
                    }
                    thread::sleep(Duration::from_secs(5));
                    continue;
                }
            }
        }
        let Some(s) = session.as_mut() else { continue };
        let names = midi_outputs(s.client());
        connected.retain(|name| still_there(name, &names, &tx));
        let wanted = wanted_ports(&names, &filters);
        if wanted.is_empty() && connected.is_empty() && !said_waiting {
            say_waiting(&filters);
            said_waiting = true;
        }
        for name in wanted {
            let is_connected = connected.contains(name);
            if is_connected && s.connected(name) {
                continue;
            }
            let made = s.port_for(name, &tx).and_then(|ours| {
                s.client()
                    .connect_ports_by_name(name, &ours)
                    .map_err(|e| e.to_string())
            });
            match made {
                Ok(()) if is_connected => {
                    info!("MIDI port '{name}' was disconnected from playhead; connected it again")
                }
                Ok(()) => {
                    info!("connected MIDI port '{name}'");
                    let _ = tx.send(PlayerInput::SourceJoined(Arc::from(name.as_str())));
                    failed.remove(name);
                    said_waiting = false;
                    connected.push(name.clone());
                }
                Err(e) => {
                    if failed.get(name) != Some(&e) {
                        warn!("cannot connect MIDI port '{name}': {e}; retrying");
                        failed.insert(name.clone(), e);
                    }
                }
            }
        }
        thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::MidiEvent;

    fn raw(input: usize, bytes: &[u8], at: Instant) -> Raw {
        Raw::new(input, bytes, at, at)
    }

    /// The forwarding thread's side, run here on the test's thread: records of two ports go
    /// through each port's own inlet, a SysEx in two pieces is joined, and the loss the
    /// callback counted is no reason to stop.
    #[test]
    fn records_reach_their_ports_inlets_and_pieces_are_joined() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (mut out, records) = rtrb::RingBuffer::new(RAW_QUEUE);
        let (add_inlet, inlets) = crossbeam_channel::unbounded();
        add_inlet
            .send((0, MidiInlet::new("own", tx.clone())))
            .unwrap();
        add_inlet
            .send((3, MidiInlet::new("daw", tx.clone())))
            .unwrap();
        let t = Instant::now();
        // MMC locate to 01:02:03:04 (13 bytes), cut after its sixth byte.
        let locate = [
            0xF0, 0x7F, 0x7F, 0x06, 0x44, 0x06, 0x01, 0x01, 0x02, 0x03, 0x04, 0x00, 0xF7,
        ];
        for r in [
            raw(3, &locate[..6], t),
            raw(3, &locate[6..], t),
            raw(0, &[0xFA], t),
            // A port the thread has no inlet for: passed over.
            raw(9, &[0xFC], t),
        ] {
            assert!(out.push(r).is_ok());
        }
        drop(out);
        let dropped = Arc::new(AtomicU64::new(2));
        forward(records, inlets, dropped);
        let got: Vec<(String, MidiEvent)> = rx
            .try_iter()
            .filter_map(|i| match i {
                PlayerInput::Midi(e) => Some((e.source.to_string(), e.event)),
                _ => None,
            })
            .collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].0, "daw");
        assert!(
            matches!(got[0].1, MidiEvent::MachineControl { .. }),
            "{got:?}"
        );
        assert_eq!(got[1], ("own".to_string(), MidiEvent::Start));
    }
}
