//! MIDI input threads: OS MIDI ports (through midir) and raw MIDI device files.
//!
//! Every source owns a [`MidiInlet`]: it stamps bytes with their receipt time, parses them and
//! passes [`TimedEvent`]s to the player: clock ticks into the source's clock lane, everything
//! else into the player's bounded channel (see [`crate::messages::lanes`] for why, and for what
//! happens when the player falls behind). A tick never blocks an inlet. Sources come and go; the watchers here reconnect on
//! their own and log each change once.

#[cfg(feature = "link")]
pub mod link;

/// The source name of the MIDI transport made from an Ableton Link session.
pub use playhead_core::arbiter::LINK_SOURCE;
#[cfg(feature = "jack")]
mod jack_midi;
pub mod ltc;
pub mod network;

use crate::clock;
use crate::messages::lanes::LaneSender;
/// The player's message for one event (defined with the player's input, which it belongs to).
pub use crate::messages::lanes::TimedEvent;
use crate::messages::PlayerInput;
use crate::parse::{MidiEvent, Parser};
use crate::watchdog::{self, Watch};
use crossbeam_channel::Sender;
use log::{info, warn};
use playhead_core::backend_clock::BackendClock;
#[cfg(not(feature = "jack"))]
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How often garbage from one source is reported at most.
const GARBAGE_REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// The entry point of MIDI bytes into playhead, one per source. OS ports call it from midir's
/// callback, raw devices from their reader thread, network sessions per peer.
pub struct MidiInlet {
    parser: Parser,
    lanes: LaneSender,
    source: Arc<str>,
    /// Bytes that were not valid MIDI (the parser's, or those a network session found), and
    /// how many of them were reported.
    garbage: u64,
    garbage_reported: u64,
    last_report: Option<Instant>,
    /// The OS backend's stamps on our clock (midir's OS ports only).
    #[cfg_attr(feature = "jack", allow(dead_code))]
    backend_clock: BackendClock,
}

impl MidiInlet {
    /// An inlet for the source called `source`, feeding the player through `tx`.
    pub fn new(source: &str, tx: Sender<PlayerInput>) -> Self {
        let source: Arc<str> = source.into();
        MidiInlet {
            parser: Parser::new(),
            lanes: LaneSender::new(source.clone(), tx),
            source,
            garbage: 0,
            garbage_reported: 0,
            last_report: None,
            backend_clock: BackendClock::new(),
        }
    }

    /// Bytes received at `received`: parse them and pass every event on. Returns false when
    /// the player has gone (the program is shutting down).
    pub fn receive(&mut self, bytes: &[u8], received: Instant) -> bool {
        self.receive_at(bytes, received, received)
    }

    /// Bytes received at `received` that the sender meant at `at` (its time stamp, on our
    /// clock; the later of the two is not believed, so `at` is kept no later than `received`).
    pub fn receive_at(&mut self, bytes: &[u8], received: Instant, at: Instant) -> bool {
        self.feed(bytes, received, at.min(received))
    }

    /// Events a network session parsed already (one message's, with how many of its bytes
    /// were not valid MIDI), received at `received` and meant at `at` (kept no later than
    /// `received`). Returns false when the player has gone.
    pub fn receive_events(
        &mut self,
        events: &[MidiEvent],
        garbage_bytes: u64,
        received: Instant,
        at: Instant,
    ) -> bool {
        let at = at.min(received);
        let mut open = true;
        for &event in events {
            open &= pass_on(&mut self.lanes, &self.source, event, received, at);
        }
        self.garbage += garbage_bytes;
        self.report_garbage(received);
        open
    }

    fn feed(&mut self, bytes: &[u8], received: Instant, at: Instant) -> bool {
        let before = self.parser.stats().garbage_bytes;
        let mut open = true;
        let (lanes, source) = (&mut self.lanes, &self.source);
        self.parser.feed(bytes, |event| {
            open &= pass_on(lanes, source, event, received, at);
        });
        self.garbage += self.parser.stats().garbage_bytes - before;
        self.report_garbage(received);
        open
    }

    /// Says how many bytes were not valid MIDI since it last said, at most every
    /// [`GARBAGE_REPORT_INTERVAL`].
    fn report_garbage(&mut self, received: Instant) {
        let garbage = self.garbage;
        if garbage > self.garbage_reported
            && self
                .last_report
                .is_none_or(|t| received.saturating_duration_since(t) >= GARBAGE_REPORT_INTERVAL)
        {
            warn!(
                "ignored {} byte(s) that are not valid MIDI from {} ({} in all)",
                garbage - self.garbage_reported,
                self.source,
                garbage
            );
            self.garbage_reported = garbage;
            self.last_report = Some(received);
        }
    }

    /// Bytes received at `received` that the OS MIDI system dates `at` (its own clock, which
    /// may put a message up to a cycle after the moment it is handed over: see
    /// [`jack_midi`]). Returns false when the player has gone.
    #[cfg(feature = "jack")]
    fn receive_stamped(&mut self, bytes: &[u8], received: Instant, at: Instant) -> bool {
        self.feed(bytes, received, at)
    }

    /// The source's name, as its events carry it.
    pub fn source(&self) -> &Arc<str> {
        &self.source
    }

    /// The counters of the inlet's own parser (a network peer's events come parsed by its
    /// session, and are not counted here).
    pub fn stats(&self) -> crate::parse::ParserStats {
        self.parser.stats()
    }
}

/// One event on to the player: a clock tick through the source's lane, anything else as a
/// timed event. False when the player has gone.
fn pass_on(
    lanes: &mut LaneSender,
    source: &Arc<str>,
    event: MidiEvent,
    received: Instant,
    at: Instant,
) -> bool {
    match event {
        MidiEvent::Clock => lanes.tick_at(received, at),
        _ => lanes.event(TimedEvent {
            event,
            received,
            at,
            source: source.clone(),
        }),
    }
}

/// The client and virtual port name playhead uses in the OS MIDI system.
pub const CLIENT_NAME: &str = "playhead";

/// The client that only watches which ports exist; named apart so that the virtual port's
/// client can have the plain name and be found as `playhead:playhead`.
const LISTER_NAME: &str = "playhead-watch";

/// Our end of a connection to someone else's port; named apart from the virtual port so a
/// DAW's port list shows one obvious `playhead` destination.
#[cfg(not(feature = "jack"))]
const LISTENER_PORT_NAME: &str = "listener";

/// The ALSA sequencer device that OS MIDI ports need on Linux.
#[cfg(not(feature = "jack"))]
const ALSA_SEQUENCER: &str = "/dev/snd/seq";

/// The port watcher beats once a round (every few seconds at most); this long without one
/// means the MIDI system stopped answering.
const PORT_WATCH_HANG_LIMIT: Duration = Duration::from_secs(20);

/// Lists OS MIDI input ports, or says why there are none.
pub fn list_os_ports() -> Result<Vec<String>, String> {
    #[cfg(feature = "jack")]
    {
        jack_midi::list_ports()
    }
    #[cfg(not(feature = "jack"))]
    {
        list_midir_ports()
    }
}

/// [`list_os_ports`] through midir (ALSA's sequencer on Linux, CoreMIDI, WinMM).
#[cfg(not(feature = "jack"))]
fn list_midir_ports() -> Result<Vec<String>, String> {
    if cfg!(target_os = "linux") && !std::path::Path::new(ALSA_SEQUENCER).exists() {
        return Err(os_midi_unavailable(&format!(
            "{ALSA_SEQUENCER} does not exist"
        )));
    }
    let input = midir::MidiInput::new(CLIENT_NAME).map_err(|e| os_midi_unavailable(&e))?;
    Ok(input
        .ports()
        .iter()
        .filter_map(|p| input.port_name(p).ok())
        .collect())
}

fn os_midi_unavailable(e: &dyn std::fmt::Display) -> String {
    if cfg!(feature = "jack") {
        format!("no OS MIDI system ({e}); this build uses JACK: is the JACK server running?")
    } else {
        format!(
            "no OS MIDI system ({e}); on Linux this means the ALSA sequencer is missing \
             (load it with 'sudo modprobe snd-seq')"
        )
    }
}

fn is_own_port(name: &str) -> bool {
    name.starts_with(CLIENT_NAME)
}

/// Whether the port called `name`, connected, is among the ports the OS lists now (`names`);
/// one that is not is reported gone.
fn still_there(name: &str, names: &[String], tx: &Sender<PlayerInput>) -> bool {
    let present = names.iter().any(|n| n == name);
    if !present {
        warn!("MIDI port '{name}' disappeared; waiting for it to come back");
        let _ = tx.send(PlayerInput::SourceLeft(
            Arc::from(name),
            "its MIDI port disappeared".into(),
        ));
    }
    present
}

/// The ports among `names` to connect: not our own, and with a name that contains one of
/// `filters` (any, when there is none).
fn wanted_ports<'a>(names: &'a [String], filters: &[String]) -> Vec<&'a String> {
    names
        .iter()
        .filter(|n| !is_own_port(n))
        .filter(|n| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str())))
        .collect()
}

/// Says that playhead waits for a port (matching `filters`, if any).
fn say_waiting(filters: &[String]) {
    if filters.is_empty() {
        info!("waiting for a MIDI port to appear");
    } else {
        info!(
            "waiting for a MIDI port whose name contains '{}'",
            filters.join("' or '")
        );
    }
}

/// Starts the thread that keeps playhead connected to OS MIDI input ports whose name contains
/// one of `filters` (every port but our own when there is none), and offers a virtual input
/// port called `playhead` that a DAW or a network-MIDI daemon can connect to.
pub fn spawn_os_ports(filters: Vec<String>, tx: Sender<PlayerInput>) -> std::io::Result<()> {
    thread::Builder::new()
        .name("midi-ports".into())
        .spawn(move || {
            #[cfg(feature = "jack")]
            jack_midi::watch(filters, tx);
            #[cfg(not(feature = "jack"))]
            watch_os_ports(filters, tx);
        })
        .map(|_| ())
}

#[cfg(not(feature = "jack"))]
fn watch_os_ports(filters: Vec<String>, tx: Sender<PlayerInput>) {
    let mut connections: HashMap<String, midir::MidiInputConnection<MidiInlet>> = HashMap::new();
    let mut failed: HashMap<String, String> = HashMap::new();
    let mut said_unavailable = false;
    let mut said_waiting = false;
    let mut lister: Option<midir::MidiInput> = None;
    #[cfg(unix)]
    let mut virtual_port: Option<midir::MidiInputConnection<MidiInlet>> = None;
    // It looks for ports every second or so; the MIDI system may take a while to answer.
    let heartbeat = watchdog::register("MIDI ports", Watch::Beats(PORT_WATCH_HANG_LIMIT));
    loop {
        heartbeat.beat();
        // Without the sequencer device, ALSA would print its own error on every attempt.
        if cfg!(all(target_os = "linux", not(feature = "jack")))
            && !std::path::Path::new(ALSA_SEQUENCER).exists()
        {
            if !said_unavailable {
                warn!(
                    "{}; MIDI ports are off, network MIDI, MIDI devices and keys still work",
                    os_midi_unavailable(&format!("{ALSA_SEQUENCER} does not exist"))
                );
                said_unavailable = true;
            }
            thread::sleep(Duration::from_secs(5));
            continue;
        }
        let lister_now = match lister
            .take()
            .map_or_else(|| midir::MidiInput::new(LISTER_NAME), Ok)
        {
            Ok(l) => l,
            Err(e) => {
                if !said_unavailable {
                    warn!(
                        "{}; MIDI ports are off, network MIDI, MIDI devices and keys still work",
                        os_midi_unavailable(&e)
                    );
                    said_unavailable = true;
                }
                thread::sleep(Duration::from_secs(5));
                continue;
            }
        };
        if said_unavailable {
            info!("the OS MIDI system is available now");
            said_unavailable = false;
        }
        #[cfg(unix)]
        if virtual_port.is_none() {
            virtual_port = open_virtual_port(&tx);
        }
        let names: Vec<String> = lister_now
            .ports()
            .iter()
            .filter_map(|p| lister_now.port_name(p).ok())
            .collect();
        connections.retain(|name, _| still_there(name, &names, &tx));
        let wanted = wanted_ports(&names, &filters);
        if wanted.is_empty() && connections.is_empty() && !said_waiting {
            say_waiting(&filters);
            said_waiting = true;
        }
        for name in wanted {
            if connections.contains_key(name) {
                continue;
            }
            match connect_port(name, &tx) {
                Ok(conn) => {
                    info!("connected MIDI port '{name}'");
                    let _ = tx.send(PlayerInput::SourceJoined(Arc::from(name.as_str())));
                    failed.remove(name);
                    said_waiting = false;
                    connections.insert(name.clone(), conn);
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
        // Kept: opening a client every second would churn the MIDI system.
        lister = Some(lister_now);
    }
}

#[cfg(not(feature = "jack"))]
/// midir's callback: `stamp_us` is the backend's event time, from an origin of its own.
fn midi_callback(stamp_us: u64, bytes: &[u8], inlet: &mut MidiInlet) {
    let received = clock::now();
    let receipt = clock::stamp(received);
    let mapped = inlet.backend_clock.map(stamp_us, receipt);
    // The receipt's own stamp means no earlier time is known: keep the instant exactly.
    let at = if mapped == receipt {
        received
    } else {
        clock::instant(mapped)
    };
    inlet.receive_at(bytes, received, at);
}

#[cfg(not(feature = "jack"))]
fn connect_port(
    name: &str,
    tx: &Sender<PlayerInput>,
) -> Result<midir::MidiInputConnection<MidiInlet>, String> {
    let mut input = midir::MidiInput::new(CLIENT_NAME).map_err(|e| e.to_string())?;
    // Timing clock, active sensing and SysEx are what we need; midir ignores them by default.
    input.ignore(midir::Ignore::None);
    let port = input
        .ports()
        .into_iter()
        .find(|p| input.port_name(p).ok().as_deref() == Some(name))
        .ok_or_else(|| "the port went away".to_string())?;
    input
        .connect(
            &port,
            LISTENER_PORT_NAME,
            midi_callback,
            MidiInlet::new(name, tx.clone()),
        )
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "jack"))]
#[cfg(unix)]
fn open_virtual_port(tx: &Sender<PlayerInput>) -> Option<midir::MidiInputConnection<MidiInlet>> {
    use midir::os::unix::VirtualInput;
    let mut input = midir::MidiInput::new(CLIENT_NAME).ok()?;
    input.ignore(midir::Ignore::None);
    let source = format!("virtual port '{CLIENT_NAME}'");
    match input.create_virtual(
        CLIENT_NAME,
        midi_callback,
        MidiInlet::new(&source, tx.clone()),
    ) {
        Ok(conn) => {
            info!("opened virtual MIDI input port '{CLIENT_NAME}': connect a DAW or a network-MIDI session to it");
            Some(conn)
        }
        Err(e) => {
            warn!("cannot open a virtual MIDI input port: {e}");
            None
        }
    }
}

/// Starts a thread that reads raw MIDI bytes from a device file (`/dev/snd/midiC1D0`,
/// `/dev/midi1`) or a named pipe, reopening it whenever it closes or is not there yet.
pub fn spawn_raw_device(path: PathBuf, tx: Sender<PlayerInput>) -> std::io::Result<()> {
    thread::Builder::new()
        .name("midi-device".into())
        .spawn(move || read_raw_device(path, tx))
        .map(|_| ())
}

fn read_raw_device(path: PathBuf, tx: Sender<PlayerInput>) {
    let shown = path.display().to_string();
    let mut inlet = MidiInlet::new(&shown, tx);
    let mut last_error: Option<String> = None;
    let mut buf = [0u8; 512];
    // Opening a named pipe blocks until a writer comes, and a device read blocks until bytes
    // come: only this thread's death counts.
    let heartbeat = watchdog::register(&format!("MIDI device {shown}"), Watch::DeathOnly);
    loop {
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                let e = e.to_string();
                if last_error.as_ref() != Some(&e) {
                    warn!("waiting for MIDI device {shown}: {e}");
                    last_error = Some(e);
                }
                thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        info!("reading MIDI from {shown}");
        last_error = None;
        loop {
            match file.read(&mut buf) {
                Ok(0) => {
                    info!("MIDI device {shown} closed; waiting for it to reopen");
                    break;
                }
                Ok(n) => {
                    if !inlet.receive(&buf[..n], clock::now()) {
                        // The player is gone: playhead is shutting down.
                        heartbeat.done();
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    warn!("MIDI device {shown} failed: {e}; reopening");
                    break;
                }
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inlet_stamps_and_forwards_every_event() {
        let (tx, rx) = crate::messages::lanes::input_channel();
        let mut inlet = MidiInlet::new("test", tx);
        let t = clock::now();
        assert!(inlet.receive(&[0xF2, 0x00, 0xF8, 0x00, 0x13, 0xFA], t));
        let mut got = Vec::new();
        for m in rx.try_iter() {
            match m {
                PlayerInput::Midi(e) => {
                    assert_eq!(e.received, t);
                    assert_eq!(e.at, t);
                    assert_eq!(&*e.source, "test");
                    got.push(e.event);
                }
                PlayerInput::Clocks(lane) => {
                    assert_eq!(&**lane.source(), "test");
                    for tick in lane.take().single {
                        assert_eq!((tick.received, tick.at), (t, t));
                        got.push(MidiEvent::Clock);
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            got,
            vec![
                MidiEvent::Clock,
                MidiEvent::SongPosition { sixteenths: 0 },
                MidiEvent::Start
            ]
        );
        assert_eq!(inlet.stats().garbage_bytes, 1);
    }

    #[test]
    fn events_a_network_session_parsed_go_on_as_they_are_never_after_their_receipt() {
        let (tx, rx) = crate::messages::lanes::input_channel();
        let mut inlet = MidiInlet::new("peer", tx);
        let t = clock::now();
        let meant = t - std::time::Duration::from_millis(3);
        let spp = MidiEvent::SongPosition { sixteenths: 64 };
        assert!(inlet.receive_events(&[spp, MidiEvent::Continue], 0, t, meant));
        // A time after the receipt is not believed.
        let later = t + std::time::Duration::from_millis(5);
        assert!(inlet.receive_events(&[MidiEvent::Stop], 2, t, later));
        let got: Vec<_> = rx
            .try_iter()
            .map(|m| match m {
                PlayerInput::Midi(e) => (e.event, e.at),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (spp, meant),
                (MidiEvent::Continue, meant),
                (MidiEvent::Stop, t)
            ]
        );
        // The inlet's own parser saw none of it; the session's garbage is counted for the
        // operator's warning.
        assert_eq!(inlet.stats().messages, 0);
        assert_eq!((inlet.garbage, inlet.garbage_reported), (2, 2));
    }

    #[test]
    #[cfg(not(feature = "jack"))]
    fn os_port_events_carry_the_backend_stamp_on_our_clock() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut inlet = MidiInlet::new("port", tx);
        let next = || match rx.try_recv() {
            Ok(PlayerInput::Midi(e)) => e,
            other => panic!("expected an event, got {other:?}"),
        };
        // A backend that stamps nothing: receipt times (a clock tick goes to its lane).
        midi_callback(0, &[0xF8], &mut inlet);
        match rx.try_recv() {
            Ok(PlayerInput::Clocks(lane)) => {
                let ticks = lane.take().single;
                assert_eq!(ticks.len(), 1);
                assert_eq!(ticks[0].at, ticks[0].received);
            }
            other => panic!("expected a clock lane, got {other:?}"),
        }
        // The first stamped message sets the backend's origin; one stamped 1 ms later but
        // delivered after a 20 ms hold-up gets its stamp's time.
        midi_callback(5_000_000, &[0xFA], &mut inlet);
        let first = next();
        assert_eq!(first.at, first.received);
        thread::sleep(Duration::from_millis(20));
        midi_callback(5_001_000, &[0xFC], &mut inlet);
        let late = next();
        assert_eq!(late.event, MidiEvent::Stop);
        let meant = first.received + Duration::from_millis(1);
        let error = late.at.max(meant) - late.at.min(meant);
        // Within the µs rounding and the drift the backend clock is allowed meanwhile
        // (300 ppm of the hold-up).
        let allowed = Duration::from_micros(2) + (late.received - first.received) * 3 / 10_000;
        assert!(error <= allowed, "{error:?}");
        assert!(late.received >= first.received + Duration::from_millis(20));
    }
}
