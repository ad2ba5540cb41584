//! `playhead-bench --link`: a real Ableton Link peer's quantized start and stop, on screen.

use super::timing::{line, ms, on_screen};
use playhead::sources::link::ClockMap;
use playhead_testkit::onscreen::first_appearances;
use rusty_link::{AblLink, SessionState};
use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const METHOD: &str = "method: the release program runs fullscreen on a virtual X screen \
(Xvfb 1280x720 unless --screen-size says, Mesa's software OpenGL) with --link, in a network namespace the bench makes \
(only loopback, up: Link's multicast never leaves it). Per trial a real Link peer (PyPI aalink, \
tests/peers/link-peer.py) joins the session at 120 BPM with 4 beats to the bar and start/stop \
sync, waits a second, starts the session playing (beat 0 on the next bar line: the quantized \
launch, when a DAW's audio starts) and prints that launch on Link's clock, which the bench maps \
to its own (both read back to back through Link); 4.5 s after asking it stops the session and prints \
when. A poller reads the demo show's frame code from the screen (X GetImage of 8 rows, every \
0.5 ms). Start: frame n (n = 1..25) is due at the launch + n x 40 ms; the error is when it \
appeared minus that. Running: the same for frames 26..60. Stop: the frames due after the \
session's Stop that appeared, and the frame on screen 700 ms later against the frame due at \
the Stop. A Link peer of the bench's own in the same session polls the session every 0.2 ms: \
when the Stop reached it, after the Stop's time, is how long Link takes to carry a stop to a \
peer on this machine (frames due in that time are shown before the program can know).";

/// The session's tempo and bar.
const BPM: f64 = 120.0;
const QUANTUM: &str = "4";
/// How long the peer plays each time.
const PLAY_S: &str = "4.5";
/// A frame of the demo show.
const FRAME_MS: f64 = 40.0;

/// The environment variable that says the bench already runs in its own network namespace.
const IN_NAMESPACE: &str = "PLAYHEAD_BENCH_IN_NETNS";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python that has aalink (`packaging/quickstart.sh test` makes it).
fn python() -> Result<PathBuf, String> {
    let p = workspace().join("target/peers-venv/bin/python");
    if p.exists() {
        Ok(p)
    } else {
        Err(format!(
            "PyPI aalink is not installed ({} is missing): run packaging/quickstart.sh test",
            p.display()
        ))
    }
}

/// Runs the whole bench again inside a network namespace of its own (only `lo`, up), unless
/// it is already in one: returns how that run ended (its output went to ours), or none when
/// this is it.
pub fn in_own_namespace() -> Result<Option<std::process::ExitCode>, String> {
    if std::env::var_os(IN_NAMESPACE).is_some() {
        return Ok(None);
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(
            "--link makes a network namespace (Link's multicast must stay on this machine): run \
             it as root"
                .into(),
        );
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let status = Command::new("unshare")
        .args([
            "--net",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ])
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(IN_NAMESPACE, "1")
        .status()
        .map_err(|e| format!("cannot run unshare (util-linux) and ip (iproute2): {e}"))?;
    Ok(Some(if status.success() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }))
}

/// A peer for one trial and its printed lines.
struct Peer {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Peer {
    fn start(python: &Path) -> Result<Peer, String> {
        let mut child = Command::new(python)
            .arg(workspace().join("tests/peers/link-peer.py"))
            .args([&BPM.to_string(), QUANTUM, PLAY_S])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the Link peer: {e}"))?;
        let lines = BufReader::new(child.stdout.take().ok_or("no peer output")?).lines();
        Ok(Peer { child, lines })
    }

    /// The next line, which must begin with `word`; the number after it, if any.
    fn expect(&mut self, word: &str) -> Result<Option<i64>, String> {
        let line = self
            .lines
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| format!("the Link peer ended before '{word}'"))?;
        let mut words = line.split_whitespace();
        if words.next() != Some(word) {
            return Err(format!("the Link peer said '{line}', not '{word}'"));
        }
        Ok(words
            .next()
            .and_then(|t| t.parse::<f64>().ok())
            .map(|v| v as i64))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Link peer of the bench's own, in the same session, that only looks: when the session's
/// stop reached it (polled every 0.2 ms), which says how long Link takes to carry a stop to a
/// peer on this machine.
struct Watcher {
    stopped_seen: Arc<Mutex<Option<Instant>>>,
    quit: Arc<AtomicBool>,
}

impl Watcher {
    fn start() -> Watcher {
        let stopped_seen = Arc::new(Mutex::new(None));
        let quit = Arc::new(AtomicBool::new(false));
        let (seen, done) = (stopped_seen.clone(), quit.clone());
        std::thread::spawn(move || {
            let link = AblLink::new(BPM);
            link.enable_start_stop_sync(true);
            link.enable(true);
            let mut state = SessionState::new();
            let mut was_playing = false;
            while !done.load(Ordering::Relaxed) {
                link.capture_app_session_state(&mut state);
                let playing = state.is_playing();
                if was_playing && !playing {
                    *seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                }
                was_playing = playing;
                std::thread::sleep(Duration::from_micros(200));
            }
            link.enable(false);
        });
        Watcher { stopped_seen, quit }
    }

    /// When it last saw the session stop, and forgets it.
    fn take_stop(&self) -> Option<Instant> {
        self.stopped_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.quit.store(true, Ordering::Relaxed);
    }
}

pub fn run(exe: &Path, video: &Path, trials: u32, size: (u16, u16)) -> Result<(), String> {
    let python = python()?;
    let args: Vec<String> = [
        "--link",
        "--no-mdns",
        "--follow",
        "chase",
        &video.display().to_string(),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let (_screen, program, poller) = on_screen(exe, &args, 150, size, "Link")?;
    let watcher = Watcher::start();
    let mut carried = Vec::new();
    let (mut start, mut running, mut after_stop, mut held) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Per start: the error of the first new frame (frame 1), or of the first one shown.
    let mut firsts_error = Vec::new();
    for trial in 0..trials {
        let mut peer = Peer::start(&python)?;
        peer.expect("joined")?;
        let launch_us = peer
            .expect("start")?
            .ok_or("no launch time from the peer")?;
        let clock = ClockMap::here();
        let launch = clock.instant(launch_us);
        let stop_us = peer
            .expect("stopped")?
            .ok_or("no stop time from the peer")?;
        let stop_at = clock.instant(stop_us);
        std::thread::sleep(Duration::from_millis(700));
        if let Some(seen_at) = watcher.take_stop() {
            carried.push(ms(seen_at, stop_at));
        }
        // From a second before the launch: the trial before ended over two seconds earlier.
        let seen = poller.seen_since(launch.checked_sub(Duration::from_secs(1)).unwrap_or(launch));
        let appeared = first_appearances(&seen);
        let errors: Vec<(u32, f64)> = appeared
            .iter()
            .filter(|(n, at)| *n >= 1 && *at >= launch)
            .map(|&(n, at)| (n, ms(at, launch) - f64::from(n) * FRAME_MS))
            .collect();
        let first: Vec<f64> = errors
            .iter()
            .filter(|(n, _)| *n <= 25)
            .map(|e| e.1)
            .collect();
        if first.len() < 20 {
            return Err(format!(
                "trial {}: only {} of frames 1..25 seen after the launch: {:?}; the program \
                 said:\n{}",
                trial + 1,
                first.len(),
                appeared
                    .iter()
                    .map(|(n, at)| (*n, ms(*at, launch)))
                    .collect::<Vec<_>>(),
                program.log().join("\n")
            ));
        }
        firsts_error.extend(errors.first().map(|e| e.1));
        start.extend(first);
        running.extend(
            errors
                .iter()
                .filter(|(n, _)| (26..=60).contains(n))
                .map(|e| e.1),
        );
        // The frame due at the Stop, and the ones due after it that appeared.
        let k = (ms(stop_at, launch) / FRAME_MS).floor().max(0.0) as u32;
        let late = appeared
            .iter()
            .filter(|(n, at)| *n > k && *at >= launch)
            .count();
        after_stop.push(late as f64);
        let now_on = seen.last().and_then(|s| s.0);
        held.push(now_on.map_or(f64::NAN, |n| f64::from(n) - f64::from(k)));
        if std::env::var_os("PLAYHEAD_BENCH_LOG").is_some() {
            eprintln!(
                "trial {}: launch, first frames {:?}; stop at frame {k}, held {now_on:?}; \
                 changes around the Stop (frame, ms after it): {:?}",
                trial + 1,
                errors.iter().take(5).collect::<Vec<_>>(),
                seen.iter()
                    .filter(|(_, at)| ms(*at, stop_at).abs() < 300.0)
                    .map(|(n, at)| (*n, ms(*at, stop_at)))
                    .collect::<Vec<_>>()
            );
            for l in program
                .log()
                .iter()
                .filter(|l| l.contains("Link") || l.contains("Stop"))
            {
                eprintln!("  {l}");
            }
        }
        drop(peer);
        std::thread::sleep(Duration::from_millis(300));
    }
    println!(
        "{}",
        line("Link start: frames 1..25 after the launch", start)
    );
    println!(
        "{}",
        line("  each start: its first new frame", firsts_error)
    );
    println!("{}", line("Link running: frames 26..60", running));
    let sum = |v: &[f64]| v.iter().sum::<f64>();
    println!(
        "Link Stop: frames due after it shown: {} in {} stops; the frame on screen 700 ms later \
         minus the frame due at the Stop: {:?}",
        sum(&after_stop),
        after_stop.len(),
        held
    );
    // Link carries a stop to every peer after its time: the frames due meanwhile are shown
    // before any peer knows, then the program goes back to the frame due at the Stop.
    println!(
        "{}",
        line("  a Stop reaches a Link peer here after it (ms)", carried)
    );
    Ok(())
}
