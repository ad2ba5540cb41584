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
//! second and connects the wanted ones, as midir's watcher does in the ALSA build. The JACK
//! process callback parses and forwards what arrives through the source's inlet, as midir's
//! callback did: that path may allocate (a clock lane handed over) and, when the player is
//! stalled, wait up to 100 ms for room in its channel, inside JACK's real-time thread. Handing
//! the raw messages to a thread of ours through a preallocated ring buffer would keep the
//! callback real-time safe; not done yet. When the server goes away the client is dropped and
//! made again once it is back.

use super::{
    say_waiting, still_there, wanted_ports, MidiInlet, CLIENT_NAME, PORT_WATCH_HANG_LIMIT,
};
use crate::messages::PlayerInput;
use crate::watchdog::{self, Watch};
use crossbeam_channel::{Receiver, Sender};
use jack::{Client, ClientOptions, ClientStatus, Control, LatencyType, MidiIn, Port, ProcessScope};
use log::{info, warn};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The most sources one client connects (each gets a port of its own).
const PORTS_AT_MOST: usize = 64;

/// The source name of messages on playhead's own input port.
fn virtual_source() -> String {
    format!("virtual port '{CLIENT_NAME}'")
}

/// A port and what its messages are passed through.
struct Input {
    port: Port<MidiIn>,
    inlet: MidiInlet,
}

struct Process {
    inputs: Vec<Input>,
    added: Receiver<Input>,
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
        while let Ok(input) = self.added.try_recv() {
            self.inputs.push(input);
        }
        let first = ps.last_frame_time();
        for input in &mut self.inputs {
            let (_, latency) = input.port.get_latency_range(LatencyType::Capture);
            for message in input.port.iter(ps) {
                let at = frame_instant(
                    client,
                    first.wrapping_add(message.time),
                    latency,
                    jack_now_us,
                    now,
                );
                input.inlet.receive_stamped(message.bytes, now, at);
            }
        }
        Control::Continue
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
    add: Sender<Input>,
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
        let gone = Arc::new(AtomicBool::new(false));
        let process = Process {
            inputs: {
                // Room for every port the channel can bring: no allocation in the callback.
                let mut inputs = Vec::with_capacity(PORTS_AT_MOST + 1);
                inputs.push(Input {
                    port: own,
                    inlet: MidiInlet::new(&virtual_source(), tx.clone()),
                });
                inputs
            },
            added,
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
        let short = format!("from-{}", self.ports.len() + 1);
        let port = self
            .client()
            .register_port(&short, MidiIn::default())
            .map_err(|e| format!("cannot make an input port for it: {e}"))?;
        let ours = port.name().map_err(|e| e.to_string())?;
        self.add
            .try_send(Input {
                port,
                inlet: MidiInlet::new(source, tx.clone()),
            })
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
