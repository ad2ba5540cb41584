//! Ableton Link (`--link`, the `link` build): joins the Link session with start/stop sync and
//! turns it into the MIDI transport the player already follows. When the session starts
//! playing, SPP 0 arms the video at once and Start is handed over at once, stamped with the
//! quantized launch time ahead (the next bar of `quantum` beats, when the peers' audio
//! starts), then a MIDI
//! clock at 24 per beat of the session's timeline, each stamped with the time of its beat, so
//! the tempo and the drift correction follow the session; Stop in the session is Stop.
//!
//! Link carries no song position: a session always starts the video from the top.

use crate::messages::PlayerInput;
use crate::sources::TimedEvent;
use crate::watchdog::{self, Watch};
use crossbeam_channel::Sender;
use log::info;
use playhead_core::parse::MidiEvent;
use rusty_link::{AblLink, SessionState};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The name the log and the status give Link's events.
pub use crate::sources::LINK_SOURCE as SOURCE;

/// MIDI clocks per beat.
const CLOCKS_PER_BEAT: f64 = 24.0;

/// How often the session is looked at while stopped (start detection); the launch itself is
/// slept to exactly.
const POLL: Duration = Duration::from_millis(2);

/// Maps Link's clock (microseconds) to the one clock: both are read back to back.
#[derive(Clone, Copy, Debug)]
pub struct ClockMap {
    link_us: i64,
    at: Instant,
}

impl ClockMap {
    /// Reads both clocks now.
    pub fn now(link: &AblLink) -> ClockMap {
        let at = Instant::now();
        let link_us = link.clock_micros();
        ClockMap { link_us, at }
    }

    /// Reads both clocks now, through a Link instance of its own that joins no session (for
    /// a program beside a Link peer, such as the bench).
    pub fn here() -> ClockMap {
        ClockMap::now(&AblLink::new(120.0))
    }

    /// The instant of Link time `us`.
    pub fn instant(&self, us: i64) -> Instant {
        let d = us.saturating_sub(self.link_us);
        let magnitude = Duration::from_micros(d.unsigned_abs());
        if d >= 0 {
            self.at + magnitude
        } else {
            self.at.checked_sub(magnitude).unwrap_or(self.at)
        }
    }
}

/// Starts the Link thread: joins the session at once (peers see playhead) with `quantum`
/// beats to the bar.
pub fn spawn(quantum: f64, tx: Sender<PlayerInput>) -> std::io::Result<()> {
    thread::Builder::new()
        .name("link".into())
        .spawn(move || run(quantum.max(1.0), tx))
        .map(|_| ())
}

/// For `--check`: joins the session for `listen` and returns how many peers it saw.
pub fn peers_seen(listen: Duration) -> u64 {
    let link = AblLink::new(120.0);
    link.enable(true);
    let deadline = Instant::now() + listen;
    let mut most = 0;
    while Instant::now() < deadline {
        most = most.max(link.num_peers());
        thread::sleep(Duration::from_millis(50));
    }
    link.enable(false);
    most
}

fn run(quantum: f64, tx: Sender<PlayerInput>) {
    let heartbeat = watchdog::register("link", Watch::Beats(watchdog::DEFAULT_HANG_LIMIT));
    let link = AblLink::new(120.0);
    link.enable_start_stop_sync(true);
    link.enable(true);
    info!("Ableton Link: joined the session (start/stop sync on, quantum {quantum} beats)");
    let source: Arc<str> = Arc::from(SOURCE);
    let send = |event: MidiEvent, at: Instant| {
        tx.send(PlayerInput::Midi(TimedEvent {
            event,
            received: Instant::now(),
            // Link's own clock is the time stamp: the beat grid, mapped onto ours.
            at,
            source: source.clone(),
        }))
        .is_ok()
    };
    let mut state = SessionState::new();
    let mut peers = 0;
    // While playing: the session's beat at which the video's top is, and the next clock.
    let mut playing: Option<(f64, f64)> = None;
    loop {
        heartbeat.beat();
        link.capture_app_session_state(&mut state);
        let now_peers = link.num_peers();
        if now_peers != peers {
            info!("Ableton Link: {now_peers} peer(s) in the session");
            peers = now_peers;
        }
        let map = ClockMap::now(&link);
        match (state.is_playing(), playing) {
            (true, None) => {
                // The launch: the first bar line at or after the moment the session started.
                let started_us = state.time_for_is_playing();
                let beat = state.beat_at_time(started_us, quantum);
                let top = (beat / quantum - 1e-6).ceil() * quantum;
                let launch = map.instant(state.time_at_beat(top, quantum));
                info!(
                    "Ableton Link: the session plays at {:.1} BPM; the video starts on the bar, in {:.1} ms",
                    state.tempo(),
                    launch.saturating_duration_since(Instant::now()).as_secs_f64() * 1000.0
                );
                if !send(MidiEvent::SongPosition { sixteenths: 0 }, Instant::now()) {
                    break;
                }
                // Handed over at once, stamped with the launch: the player holds the top
                // frame and unpauses on the bar as for any Start stamped ahead, rather than
                // this thread waking on the bar (late on a busy machine) and the player after.
                if !send(MidiEvent::Start, launch) {
                    break;
                }
                playing = Some((top, top));
            }
            (true, Some((top, next_clock_beat))) => {
                // Every clock due by now, each stamped with its beat's time.
                let now_beat = state.beat_at_time(link.clock_micros(), quantum);
                let mut next = next_clock_beat;
                let mut alive = true;
                while next <= now_beat && alive {
                    let at = map.instant(state.time_at_beat(next, quantum));
                    alive = send(MidiEvent::Clock, at);
                    next += 1.0 / CLOCKS_PER_BEAT;
                }
                if !alive {
                    break;
                }
                playing = Some((top, next));
                // Wake for the next clock, at most a poll later.
                let due = map.instant(state.time_at_beat(next, quantum));
                sleep_until(due.min(Instant::now() + POLL), &heartbeat);
                continue;
            }
            (false, Some(_)) => {
                info!("Ableton Link: the session stopped");
                playing = None;
                // Stamped when the session says it stopped: the frame due then stays.
                let now = Instant::now();
                let stopped = map.instant(state.time_for_is_playing()).min(now);
                if !send(MidiEvent::Stop, stopped) {
                    break;
                }
            }
            (false, None) => {}
        }
        thread::sleep(POLL);
    }
    link.enable(false);
    heartbeat.done();
}

/// Sleeps until `at`. Not spinning: every clock carries its beat's time as its stamp, so one
/// handed over a little late is timed just the same, and a thread spinning for a millisecond
/// before each of 48 clocks a second took the processor from the screens and mpv.
fn sleep_until(at: Instant, heartbeat: &watchdog::Heartbeat) {
    loop {
        let now = Instant::now();
        let Some(left) = at.checked_duration_since(now) else {
            return;
        };
        heartbeat.beat();
        thread::sleep(left.min(Duration::from_millis(200)));
    }
}
