//! `playhead-bench --rigs`: main and backup rigs and several video machines, on screen.

use super::timing::{ms, on_screen, Rig};
use playhead_core::rng::Rng;
use playhead_testkit::onscreen::Seen;
use playhead_testkit::peer::{Answer, DawClock, ScriptedPeer};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const METHOD: &str = "method: the release program runs fullscreen on a virtual X screen \
(Xvfb 1280x720, matchbox, Mesa's software OpenGL) with a show file that names a main and a \
backup rig (chase mode, 120 BPM, failover_ms 150) and its network-MIDI session on loopback. Two \
scripted DAW machines join it (127.0.0.31 main, 127.0.0.32 backup), each synchronises its own \
clock with 8 CK exchanges and stamps every message with the moment it meant it; one thread sends \
both 120 BPM MIDI clocks, the backup's a fixed 0-20 ms (uniform, per trial) after the main's. \
Per trial both play from the top (SPP 0, Start), and 2.0-2.04 s in the main fails: its clock \
freezes (no Stop, no goodbye), or it sends a lone Stop, or it says goodbye (BY), in turn; the \
backup plays on. A poller reads the frame code off the screen every 0.5 ms. Held: the longest \
time between two new frames from 200 ms before the failure to 1 s after it, in frames beyond \
the one due (0 = no frame held longer than its own 40 ms); any frame shown out of order is \
counted as a jump. Error: each frame's appearance against its due time on the leading rig's \
timeline (its first clock plus n x 40 ms), in the second before the failure (the main) and \
from 300 ms to 1.3 s after it (the backup). Several machines: two or three programs (640x360 \
screens, start mode, each its own session and scripted DAW on one DAW clock); one Start meant \
at t reaches each after its own 0-40 ms; per frame 1..25, the spread is the latest appearance \
minus the earliest.";

/// One DAW machine: its peer and where its clock stands.
struct Daw {
    peer: Mutex<ScriptedPeer>,
    on: AtomicBool,
    start: AtomicBool,
    /// The next clock's number, and the meant time of its clock 0.
    clocks: Mutex<u64>,
    first_clock: Mutex<Option<Instant>>,
}

impl Daw {
    fn join(
        name: &str,
        ip: [u8; 4],
        ssrc: u32,
        session: SocketAddr,
        clock: &DawClock,
    ) -> Result<Arc<Daw>, String> {
        let peer = ScriptedPeer::bind(name, ssrc, IpAddr::V4(Ipv4Addr::from(ip)))
            .map_err(|e| e.to_string())?;
        let daw = Arc::new(Daw {
            peer: Mutex::new(peer),
            on: AtomicBool::new(false),
            start: AtomicBool::new(false),
            clocks: Mutex::new(0),
            first_clock: Mutex::new(None),
        });
        daw.invite(session, clock)?;
        Ok(daw)
    }

    fn invite(&self, session: SocketAddr, clock: &DawClock) -> Result<(), String> {
        let mut peer = self.peer.lock().unwrap();
        match peer.invite(session, Duration::from_secs(5))? {
            Answer::Accepted { .. } => {}
            other => return Err(format!("invitation not accepted: {other:?}")),
        }
        for _ in 0..8 {
            super::timing::sync_clock(&mut peer, clock)?;
        }
        Ok(())
    }

    fn send(&self, clock: &DawClock, meant: Instant, messages: &[&[u8]]) -> Result<(), String> {
        let stamped: Vec<(u32, &[u8])> = messages.iter().map(|m| (0, *m)).collect();
        self.peer
            .lock()
            .unwrap()
            .send_midi_stamped(&stamped, clock.stamp_at(meant))?;
        Ok(())
    }

    /// At a clock time `t`: starts when asked to, else sends its clock while it runs.
    fn step(&self, clock: &DawClock, t: Instant) {
        if self.start.swap(false, Ordering::SeqCst) {
            *self.clocks.lock().unwrap() = 0;
            *self.first_clock.lock().unwrap() = None;
            let _ = self.send(clock, t, &[&[0xF2, 0, 0], &[0xFA]]);
            self.on.store(true, Ordering::SeqCst);
        } else if self.on.load(Ordering::SeqCst) {
            let mut n = self.clocks.lock().unwrap();
            if *n == 0 {
                *self.first_clock.lock().unwrap() = Some(t);
            }
            let _ = self.send(clock, t, &[&[0xF8]]);
            *n += 1;
        }
    }
}

/// Each new frame code, in order, with when it appeared.
pub(crate) fn changes(seen: &[Seen]) -> Vec<(u32, Instant)> {
    let mut out: Vec<(u32, Instant)> = Vec::new();
    for &(n, at) in seen {
        if let Some(n) = n {
            if out.last().is_none_or(|(m, _)| *m != n) {
                out.push((n, at));
            }
        }
    }
    out
}

fn pick(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(crate) fn line(name: &str, v: &[f64], unit: &str) -> String {
    let mut abs: Vec<f64> = v.iter().map(|x| x.abs()).collect();
    abs.sort_by(f64::total_cmp);
    let mut signed = v.to_vec();
    signed.sort_by(f64::total_cmp);
    format!(
        "{name:<46} n={:<5} |x| p50={:>6.2} {unit}  p95={:>6.2} {unit}  max={:>6.2} {unit}  (signed p50 {:+.2})",
        v.len(),
        pick(&abs, 50.0),
        pick(&abs, 95.0),
        abs.last().copied().unwrap_or(f64::NAN),
        pick(&signed, 50.0),
    )
}

pub(crate) fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

pub fn run(exe: &Path, video: &Path, trials: u32) -> Result<(), String> {
    failover(exe, video, trials)?;
    machines(exe, video, trials)?;
    println!("{}", playhead_testkit::onscreen::poller_priority());
    Ok(())
}

fn failover(exe: &Path, video: &Path, trials: u32) -> Result<(), String> {
    let clock = DawClock::new(47_000_000, 30e-6);
    let mut rng = Rng::seeded(0x21_65);
    let dir = std::env::temp_dir().join(format!("playhead-bench-rigs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let show = dir.join("show.playhead.toml");
    std::fs::write(
        &show,
        format!(
            "follow = \"chase\"\nmain = \"Bench Main\"\nbackup = \"Bench Backup\"\n\
             [[song]]\nvideo = {:?}\nbpm = 120\n",
            video.display().to_string()
        ),
    )
    .map_err(|e| e.to_string())?;
    let port = playhead_testkit::peer::free_session_port().map_err(|e| e.to_string())?;
    let args = vec![
        "--rtp-port".to_string(),
        port.to_string(),
        "--no-mdns".into(),
        "--session-name".into(),
        "bench".into(),
        show.display().to_string(),
    ];
    let (_screen, program, poller) = on_screen(exe, &args, 350, (1280, 720), "the rigs' player")?;
    let session = SocketAddr::from(([127, 0, 0, 1], port));
    let main = Daw::join("Bench Main", [127, 0, 0, 31], 0x31_0001, session, &clock)?;
    let backup = Daw::join("Bench Backup", [127, 0, 0, 32], 0x32_0001, session, &clock)?;

    let lag_us = Arc::new(Mutex::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    // Both start at one clock time, the backup its lag after the main.
    let both = Arc::new(AtomicBool::new(false));
    let sender = {
        let (m, b, lag, stop) = (main.clone(), backup.clone(), lag_us.clone(), stop.clone());
        let both = both.clone();
        std::thread::spawn(move || {
            let tick = Duration::from_nanos(1_000_000_000 / 48);
            let mut next = Instant::now();
            while !stop.load(Ordering::SeqCst) {
                next += tick;
                sleep_until(next);
                if both.swap(false, Ordering::SeqCst) {
                    m.start.store(true, Ordering::SeqCst);
                    b.start.store(true, Ordering::SeqCst);
                }
                m.step(&clock, next);
                let at = next + Duration::from_micros(*lag.lock().unwrap());
                sleep_until(at);
                b.step(&clock, at);
            }
        })
    };

    let causes = ["clock frozen", "lone Stop", "goodbye (BY)"];
    let mut held: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let mut control = Vec::new();
    let mut jumps = [0usize; 3];
    let (mut before, mut after) = (Vec::new(), Vec::new());
    let mut failovers_seen = 0usize;
    let mut logged = [0usize; 3];
    for trial in 0..trials {
        let cause = trial as usize % 3;
        // Armed on frame 0: both stop and go to the top (the backup's are watched).
        for daw in [&main, &backup] {
            daw.on.store(false, Ordering::SeqCst);
            daw.send(&clock, Instant::now(), &[&[0xFC], &[0xF2, 0, 0]])?;
        }
        if !poller.wait_for(Duration::from_secs(5), |n| n == Some(0)) {
            return Err("frame 0 did not come back between trials".into());
        }
        std::thread::sleep(Duration::from_millis(400));
        *lag_us.lock().unwrap() = rng.range(0.0, 20_000.0) as u64;
        both.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(2000 + rng.range(0.0, 40.0) as u64));
        let failed_at = Instant::now();
        main.on.store(false, Ordering::SeqCst);
        match cause {
            0 => {}
            1 => main.send(&clock, failed_at, &[&[0xFC]])?,
            _ => main.peer.lock().unwrap().bye()?,
        }
        std::thread::sleep(Duration::from_millis(1500));
        let seen = changes(&poller.seen_since(failed_at - Duration::from_millis(1000)));
        let in_window = |from: f64, to: f64| {
            seen.iter()
                .filter(move |(_, at)| (from..to).contains(&ms(*at, failed_at)))
                .copied()
        };
        let around: Vec<(u32, Instant)> = in_window(-200.0, 1000.0).collect();
        let longest = longest_gap(&around);
        held[cause].push(((longest.0 / 40.0).round() - 1.0).max(0.0));
        // The same measure over as long a window before the failure: what the renderer alone
        // holds on this machine, with no failover in it.
        let quiet: Vec<(u32, Instant)> = in_window(-1400.0, -200.0).collect();
        control.push(((longest_gap(&quiet).0 / 40.0).round() - 1.0).max(0.0));
        if longest.0 > 60.0 && std::env::var_os("PLAYHEAD_BENCH_LOG").is_some() {
            eprintln!(
                "trial {trial} ({}): frame {} held {:.1} ms, from {:+.1} ms after the failure",
                causes[cause],
                longest.1 .0,
                longest.0,
                ms(longest.1 .1, failed_at)
            );
        }
        jumps[cause] += around
            .windows(2)
            .filter(|w| w[1].0 < w[0].0 || w[1].0 == 0)
            .count();
        let main0 = (*main.first_clock.lock().unwrap()).ok_or("the main sent no clock")?;
        let backup0 = (*backup.first_clock.lock().unwrap()).ok_or("the backup sent no clock")?;
        before.extend(in_window(-1000.0, 0.0).map(|(n, at)| ms(at, main0) - f64::from(n) * 40.0));
        after.extend(in_window(300.0, 1300.0).map(|(n, at)| ms(at, backup0) - f64::from(n) * 40.0));
        let log = program.log();
        let now_seen = log.iter().filter(|l| l.contains("failover:")).count();
        if now_seen > failovers_seen {
            logged[cause] += 1;
        } else if std::env::var_os("PLAYHEAD_BENCH_LOG").is_some() {
            eprintln!(
                "trial {trial} ({}): no failover; the log's last lines:",
                causes[cause]
            );
            for l in log.iter().rev().take(40).rev() {
                eprintln!("  {l}");
            }
        }
        failovers_seen = now_seen;
        if cause == 2 {
            // The main machine comes back into the session for the next trial.
            main.invite(session, &clock)?;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let _ = sender.join();
    for (i, cause) in causes.iter().enumerate() {
        let n = held[i].len();
        let mut h = held[i].clone();
        h.sort_by(f64::total_cmp);
        println!(
            "failover, main's {cause:<14} n={n:<4} failovers logged: {} of {n}; frames held beyond one: p50={:.0} p95={:.0} max={:.0}; out of order: {}",
            logged[i],
            pick(&h, 50.0),
            pick(&h, 95.0),
            h.last().copied().unwrap_or(f64::NAN),
            jumps[i]
        );
    }
    control.sort_by(f64::total_cmp);
    println!(
        "no failover (1.2 s before each), n={:<4} frames held beyond one: p50={:.0} p95={:.0} max={:.0}; trials with one: {}",
        control.len(),
        pick(&control, 50.0),
        pick(&control, 95.0),
        control.last().copied().unwrap_or(f64::NAN),
        control.iter().filter(|h| **h > 0.0).count()
    );
    println!(
        "{}",
        line("frame error, the second before (main)", &before, "ms")
    );
    println!(
        "{}",
        line("frame error, 0.3-1.3 s after (backup)", &after, "ms")
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The longest time between two new frames in `seen`, in ms, and the frame held that long.
fn longest_gap(seen: &[(u32, Instant)]) -> (f64, (u32, Instant)) {
    seen.windows(2)
        .map(|w| (ms(w[1].1, w[0].1), w[0]))
        .fold(
            (0.0, (0, Instant::now())),
            |a, b| if b.0 > a.0 { b } else { a },
        )
}

fn machines(exe: &Path, video: &Path, trials: u32) -> Result<(), String> {
    let clock = DawClock::new(52_000_000, -20e-6);
    let mut rng = Rng::seeded(0x3A_11);
    let mut all = Vec::new();
    for n in 0..3u32 {
        all.push(Rig::start_with(
            exe,
            video,
            450 + n * 20,
            (640, 360),
            &["--follow", "start"],
            &format!("machine {n}"),
            &clock,
        )?);
    }
    for count in [2usize, 3] {
        let mut spread = Vec::new();
        for _ in 0..trials {
            for m in all.iter_mut().take(count) {
                m.arm(&clock)?;
            }
            // A machine left out of this count keeps its session alive as a DAW does (its
            // peer answers nothing meanwhile: a session drops a peer silent for 61 s, and 33
            // trials of two machines took longer than that).
            for m in all.iter_mut().skip(count) {
                m.sync(&clock)?;
            }
            let meant = Instant::now();
            let mut order: Vec<(Duration, usize)> = (0..count)
                .map(|i| (Duration::from_micros(rng.range(0.0, 40_000.0) as u64), i))
                .collect();
            order.sort();
            for (delay, i) in order {
                sleep_until(meant + delay);
                all[i].send(&clock, meant, &[&[0xFA]])?;
            }
            std::thread::sleep(Duration::from_millis(1200));
            let seen: Vec<Vec<(u32, Instant)>> = all
                .iter()
                .take(count)
                .map(|m| changes(&m.poller.seen_since(meant)))
                .collect();
            for frame in 1..=25u32 {
                let times: Vec<Instant> = seen
                    .iter()
                    .filter_map(|s| s.iter().find(|(n, _)| *n == frame).map(|(_, at)| *at))
                    .collect();
                if times.len() == count {
                    let (lo, hi) = (times.iter().min().unwrap(), times.iter().max().unwrap());
                    spread.push(ms(*hi, *lo));
                }
            }
        }
        println!(
            "{}",
            line(
                &format!("{count} machines, one Start 0-40 ms late each: spread"),
                &spread,
                "ms"
            )
        );
    }
    Ok(())
}
