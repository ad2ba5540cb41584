//! The watchdog: a thread that dies or hangs ends playhead loudly, so the kiosk restarts it armed.
//!
//! A frozen picture that nobody is told about is the worst failure a show can have: the DAW
//! plays on, the video does not, and the operator finds out from the audience. So every
//! long-lived thread (player, network control and data, MIDI ports, screen) holds a
//! [`Heartbeat`]. The watchdog thread looks at them every [`CHECK_INTERVAL`]: a thread that
//! panicked, ended without saying it was done, or has not beaten within its limit ends the
//! process with one line naming the thread and exit status [`EXIT_THREAD_FAILED`]. The systemd
//! unit and `playhead-kiosk` then start playhead again, armed on frame 0.
//!
//! A panic anywhere is caught by the hook [`install_panic_hook`] puts in place: it logs the
//! thread, the message and the place, and ends the process at once (a half-working show is
//! worse than a restart). Without [`start`] (the library's own tests, the test kit), nothing
//! watches: heartbeats cost an atomic store and nothing else.

use log::error;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How often the watchdog looks at the heartbeats.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// The default limit for a thread that loops: no beat for this long is a hang. The player and
/// the network threads wake at least every few tens of milliseconds; a second of
/// silence is far beyond any load a show laptop sees, and short enough that the restart is
/// back on frame 0 within about two seconds.
pub const DEFAULT_HANG_LIMIT: Duration = Duration::from_millis(1000);

/// The limit for the operator's remote (status page events, OSC in and out). They run at a
/// lower priority than the show and can be starved for a while on a busy machine without
/// harm to the picture; only a real hang should restart the show.
pub const REMOTE_HANG_LIMIT: Duration = Duration::from_secs(30);

/// The exit status when a thread died or hung (EX_SOFTWARE from sysexits.h).
pub const EXIT_THREAD_FAILED: i32 = 70;

/// How a thread is watched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    /// It must beat at least this often, or it is taken as hung.
    Beats(Duration),
    /// It may block for as long as it likes (a raw device read); only its death counts.
    DeathOnly,
}

const RUNNING: u8 = 0;
const DONE: u8 = 1;
const ENDED: u8 = 2;

#[derive(Debug)]
struct Entry {
    name: String,
    watch: Watch,
    /// Microseconds since the watchdog's origin at the last beat.
    last_beat_us: AtomicU64,
    state: AtomicU8,
    /// Set while the thread waits on purpose (a heartbeat paused).
    paused: AtomicBool,
}

struct Registry {
    origin: Instant,
    entries: Mutex<Vec<Arc<Entry>>>,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry {
        origin: Instant::now(),
        entries: Mutex::new(Vec::new()),
    })
}

fn micros_now() -> u64 {
    u64::try_from(registry().origin.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// A thread's promise to the watchdog that it is alive. Dropped without [`Heartbeat::done`]
/// (the thread returned early, or unwound), it reports the thread as ended.
#[derive(Debug)]
pub struct Heartbeat {
    entry: Arc<Entry>,
}

impl Heartbeat {
    /// Says the thread is alive and working.
    pub fn beat(&self) {
        self.entry
            .last_beat_us
            .store(micros_now(), Ordering::Relaxed);
    }

    /// Says the thread is about to wait on purpose for as long as it takes (for a file to
    /// open, for the operator); [`Heartbeat::beat`] resumes the watch.
    pub fn pause(&self) {
        self.entry.paused.store(true, Ordering::Relaxed);
    }

    /// Resumes the watch after [`Heartbeat::pause`], with a beat.
    pub fn resume(&self) {
        self.beat();
        self.entry.paused.store(false, Ordering::Relaxed);
    }

    /// Says the thread ends on purpose (shutdown): the watchdog stops watching it.
    pub fn done(self) {
        self.entry.state.store(DONE, Ordering::Relaxed);
    }

    /// The watched thread's name.
    pub fn name(&self) -> &str {
        &self.entry.name
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        let _ =
            self.entry
                .state
                .compare_exchange(RUNNING, ENDED, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// Registers the calling (or about to be started) thread under `name`.
pub fn register(name: &str, watch: Watch) -> Heartbeat {
    let entry = Arc::new(Entry {
        name: name.to_string(),
        watch,
        last_beat_us: AtomicU64::new(micros_now()),
        state: AtomicU8::new(RUNNING),
        paused: AtomicBool::new(false),
    });
    if let Ok(mut entries) = registry().entries.lock() {
        // Threads that ended on purpose have nothing more to say.
        entries.retain(|e| e.state.load(Ordering::Relaxed) != DONE);
        entries.push(entry.clone());
    }
    Heartbeat { entry }
}

/// What the watchdog found wrong, for the one line the operator reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The thread ended without saying it was done (it returned early or unwound).
    Ended { thread: String },
    /// The thread has not beaten for `silent_ms`.
    Hung { thread: String, silent_ms: u64 },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Ended { thread } => write!(
                f,
                "the {thread} thread stopped unexpectedly; playhead stops so that it is started again armed"
            ),
            Failure::Hung { thread, silent_ms } => write!(
                f,
                "the {thread} thread has not answered for {:.1} s; playhead stops so that it is started again armed",
                *silent_ms as f64 / 1000.0
            ),
        }
    }
}

/// Looks at every heartbeat once; the first failure found, if any.
pub fn check() -> Option<Failure> {
    let now_us = micros_now();
    let entries = registry().entries.lock().ok()?;
    for e in entries.iter() {
        match e.state.load(Ordering::Relaxed) {
            DONE => continue,
            ENDED => {
                return Some(Failure::Ended {
                    thread: e.name.clone(),
                })
            }
            _ => {}
        }
        if let Watch::Beats(limit) = e.watch {
            if e.paused.load(Ordering::Relaxed) {
                continue;
            }
            let silent_us = now_us.saturating_sub(e.last_beat_us.load(Ordering::Relaxed));
            if silent_us > u64::try_from(limit.as_micros()).unwrap_or(u64::MAX) {
                return Some(Failure::Hung {
                    thread: e.name.clone(),
                    silent_ms: silent_us / 1000,
                });
            }
        }
    }
    None
}

/// Starts the watchdog thread. On a failure it logs it, calls `on_failure` with it (which
/// should end the process; if it returns, the process exits with [`EXIT_THREAD_FAILED`]).
pub fn start(on_failure: impl Fn(&Failure) + Send + 'static) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || loop {
            std::thread::sleep(CHECK_INTERVAL);
            if let Some(failure) = check() {
                error!("{failure}");
                on_failure(&failure);
                std::process::exit(EXIT_THREAD_FAILED);
            }
        })
        .map(|_| ())
}

thread_local! {
    /// Set on threads whose failure loses only themselves (one remote page client).
    static SPARED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the calling thread as one whose panic must not end the show: it serves one client
/// of the remote page, and losing it loses only that client. Its panic is logged and the
/// thread unwinds (the caller catches it).
pub fn spare_this_thread() {
    SPARED.with(|s| s.set(true));
}

/// The payload of the one unwind playhead makes on purpose: glutin's config picker must
/// return a config, so "there is none" unwinds to the window set-up, which reports it. The
/// panic hook lets it pass.
#[derive(Debug)]
pub struct NoGlConfig;

/// Replaces the default panic message with one line naming the thread, and ends the process
/// with [`EXIT_THREAD_FAILED`]: a panic is a bug, and a restart armed beats a show that
/// half works.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        if info.payload().is::<NoGlConfig>() {
            return;
        }
        let thread = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if SPARED.with(|s| s.get()) {
            error!("the {thread} thread failed ({message}{place}); only its client is lost");
            return;
        }
        let line = format!(
            "the {thread} thread failed ({message}{place}); playhead stops so that it is started again armed"
        );
        error!("{line}");
        // Not eprintln: with the terminal gone (SIGHUP) it would panic inside the hook.
        let _ = std::io::Write::write_fmt(
            &mut std::io::stderr(),
            format_args!("playhead: error: {line}\n"),
        );
        std::process::exit(EXIT_THREAD_FAILED);
    }));
}

/// A fault put into a thread on purpose, to prove that the watchdog catches it: the
/// environment variable `PLAYHEAD_INJECT_FAULT=THREAD-panic` or `THREAD-hang` (e.g.
/// `player-hang`) makes that thread fail once it is armed. For the tests of the restart and
/// for a technician who wants to see the restart happen on their own machine; never set
/// otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectedFault {
    /// The thread panics.
    Panic,
    /// The thread stops beating and waits forever.
    Hang,
}

impl InjectedFault {
    /// The fault asked for `thread` in `PLAYHEAD_INJECT_FAULT`, if any.
    pub fn from_env(thread: &str) -> Option<InjectedFault> {
        let wanted = std::env::var("PLAYHEAD_INJECT_FAULT").ok()?;
        let what = wanted.strip_prefix(thread)?.strip_prefix('-')?;
        match what {
            "panic" => Some(InjectedFault::Panic),
            "hang" => Some(InjectedFault::Hang),
            _ => None,
        }
    }

    /// Fails the calling thread as asked.
    pub fn strike(self) {
        error!("PLAYHEAD_INJECT_FAULT: failing this thread on purpose ({self:?})");
        match self {
            InjectedFault::Panic => panic!("fault injected by PLAYHEAD_INJECT_FAULT"),
            InjectedFault::Hang => loop {
                std::thread::park();
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The registry is process-wide, so one test walks through every case in order.
    #[test]
    fn ended_hung_paused_and_done_threads() {
        let quiet = register("test-done", Watch::Beats(Duration::from_millis(20)));
        quiet.done();
        let blocked = register("test-blocked", Watch::DeathOnly);
        assert_eq!(check(), None, "fresh and finished threads are fine");

        let looping = register("test-loop", Watch::Beats(Duration::from_millis(30)));
        looping.pause();
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(check(), None, "a paused heartbeat is not a hang");
        looping.resume();
        assert_eq!(check(), None);
        std::thread::sleep(Duration::from_millis(60));
        match check() {
            Some(Failure::Hung { thread, silent_ms }) => {
                assert_eq!(thread, "test-loop");
                assert!(silent_ms >= 30);
            }
            other => panic!("expected a hang, got {other:?}"),
        }
        looping.done();
        assert_eq!(check(), None, "a blocked read is not a hang");

        let died = std::thread::spawn(move || {
            let _beat = register("test-died", Watch::Beats(Duration::from_secs(60)));
            // Returns without `done`: the heartbeat drops and says so.
        });
        let _ = died.join();
        assert_eq!(
            check(),
            Some(Failure::Ended {
                thread: "test-died".into()
            })
        );
        assert!(check()
            .unwrap()
            .to_string()
            .contains("test-died thread stopped"));
        drop(blocked);
    }
}
