//! `playhead-bench --timing`: on-screen timing of the real program at 1280x720.

use playhead_core::rng::Rng;
use playhead_testkit::onscreen::{Program, ScreenPoller, Seen, VirtualScreen};
use playhead_testkit::peer::{Answer, DawClock, ScriptedPeer};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

pub const METHOD: &str = "method: the release program runs fullscreen on a virtual X screen \
(Xvfb 1280x720, matchbox window manager, Mesa's software OpenGL), as on a show laptop, with its \
network-MIDI session on loopback and mDNS off. A scripted DAW joins it, synchronises its clock \
(its own 10 kHz clock, offset and 40 ppm fast) with 8 CK exchanges, and sends each command \
stamped with the moment it meant it, and syncs again before each trial, as a DAW machine does every few seconds. A poller reads the demo show's frame code from the screen \
(X GetImage of 8 rows across the code band, every 0.5 ms) and records when each frame appeared. \
Origin error: per trial, SPP 0 arms, then Start meant at t; frame n (n = 1..25) is due at \
t + n x 40 ms; the error is when it appeared minus that. With jitter, the Start packet is held \
back 0-30 ms (uniform) before it is sent, as Wi-Fi delivers it. Loop jump: while playing, Stop, \
SPP 16 (bar 2, frame 50) and Continue in one packet meant at t and held back 0-30 ms; frame n is \
then due at t + (n - 50) x 40 ms; the error of the first frame to appear 150 ms or more after t, \
and of the one nearest 1 s after. Two screens: two programs on two virtual screens, each in its \
own session with the same DAW clock; one Start meant at t reaches each after its own 0-30 ms; \
the spread is the difference between when each frame appeared on the two, and the frames \
never shown (skipped rather than shown late) are counted. Stop: while playing, \
a Stop meant at the middle of frame k (k = 25..34), sent on time or held back 0-30 ms; the frames \
due after it that appeared once it was sent, and the frame on screen 700 ms later (past the \
300 ms loop-jump window) against frame k. No MIDI clock is sent: these are the start, jump and \
stop timings alone.";

/// One clock-sync exchange of `peer` on `clock`, tried again (up to three times in all) when no
/// answer comes: a datagram lost on a busy machine, which a DAW machine also simply resends.
pub(crate) fn sync_clock(peer: &mut ScriptedPeer, clock: &DawClock) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..3 {
        match peer.clock_sync_with(|| clock.ticks_at(Instant::now()), Duration::from_secs(2)) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// A show file in `dir` that chases the DAW at 120 BPM through `video`.
pub(crate) fn chase_show(dir: &Path, video: &Path) -> Result<std::path::PathBuf, String> {
    let show = dir.join("show.playhead.toml");
    std::fs::write(
        &show,
        format!(
            "follow = \"chase\"\n[[song]]\nvideo = {:?}\nbpm = 120\n",
            video.display().to_string()
        ),
    )
    .map_err(|e| e.to_string())?;
    Ok(show)
}

/// One program on one virtual screen, with its poller and its DAW peer.
pub(crate) struct Rig {
    // Dropped in this order: the peer says goodbye, the poller stops, the program ends, then
    // the screen goes.
    daw: ScriptedPeer,
    pub(crate) poller: ScreenPoller,
    program: Program,
    _screen: VirtualScreen,
}

/// The program started with `args` fullscreen on a new `width` x `height` virtual screen (the
/// first free display from `display_from`), and a poller that has seen its frame 0.
pub(crate) fn on_screen(
    exe: &Path,
    args: &[String],
    display_from: u32,
    (width, height): (u16, u16),
    name: &str,
) -> Result<(VirtualScreen, Program, ScreenPoller), String> {
    let screen = VirtualScreen::start(display_from, width, height)?;
    let program = Program::start(exe, args, &screen)?;
    let poller = ScreenPoller::start(&screen, Duration::from_micros(500))?;
    if !poller.wait_for(Duration::from_secs(10), |n| n == Some(0)) {
        return Err(format!("{name}: frame 0 never appeared on screen"));
    }
    Ok((screen, program, poller))
}

impl Rig {
    fn start(
        exe: &Path,
        video: &Path,
        display_from: u32,
        name: &str,
        clock: &DawClock,
    ) -> Result<Rig, String> {
        Rig::start_with(exe, video, display_from, (1280, 720), &[], name, clock)
    }

    /// The program on `video` with `extra` arguments, on a `size` screen, in a network-MIDI
    /// session of its own that a scripted DAW on `clock` has joined and synchronised with.
    pub(crate) fn start_with(
        exe: &Path,
        video: &Path,
        display_from: u32,
        size: (u16, u16),
        extra: &[&str],
        name: &str,
        clock: &DawClock,
    ) -> Result<Rig, String> {
        let port = playhead_testkit::peer::free_session_port().map_err(|e| e.to_string())?;
        let mut args = vec![
            "--rtp-port".to_string(),
            port.to_string(),
            "--no-mdns".into(),
            "--session-name".into(),
            name.into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        args.push(video.display().to_string());
        let (screen, program, poller) = on_screen(exe, &args, display_from, size, name)?;
        let mut daw = ScriptedPeer::new(&format!("DAW for {name}"), 0xBE_0000 + port as u32)
            .map_err(|e| e.to_string())?;
        let session = SocketAddr::from(([127, 0, 0, 1], port));
        match daw.invite(session, Duration::from_secs(5))? {
            Answer::Accepted { .. } => {}
            other => return Err(format!("{name}: invitation not accepted: {other:?}")),
        }
        for _ in 0..8 {
            sync_clock(&mut daw, clock)?;
        }
        Ok(Rig {
            daw,
            poller,
            program,
            _screen: screen,
        })
    }

    pub(crate) fn send(
        &mut self,
        clock: &DawClock,
        meant: Instant,
        messages: &[&[u8]],
    ) -> Result<(), String> {
        let stamped: Vec<(u32, &[u8])> = messages.iter().map(|m| (0, *m)).collect();
        self.daw
            .send_midi_stamped(&stamped, clock.stamp_at(meant))?;
        Ok(())
    }

    /// The program's log so far.
    pub(crate) fn log(&self) -> Vec<String> {
        self.program.log()
    }

    /// One clock-sync exchange, as a DAW machine makes every few seconds.
    pub(crate) fn sync(&mut self, clock: &DawClock) -> Result<(), String> {
        sync_clock(&mut self.daw, clock)
    }

    /// Stop, then SPP 0: armed on frame 0 (and its seek settled). A clock sync first, as a
    /// DAW machine keeps doing through a show (every few seconds).
    pub(crate) fn arm(&mut self, clock: &DawClock) -> Result<(), String> {
        self.arm_on(clock, 0)
    }

    /// [`Rig::arm`] for a program whose song start shows frame `frame` (a latency offset
    /// moves it).
    pub(crate) fn arm_on(&mut self, clock: &DawClock, frame: u32) -> Result<(), String> {
        sync_clock(&mut self.daw, clock)?;
        self.send(clock, Instant::now(), &[&[0xFC]])?;
        self.send(clock, Instant::now(), &[&[0xF2, 0, 0]])?;
        if !self
            .poller
            .wait_for(Duration::from_secs(5), |n| n == Some(frame))
        {
            return Err("frame 0 did not come back after SPP 0".into());
        }
        std::thread::sleep(Duration::from_millis(300));
        Ok(())
    }
}

pub(crate) fn ms(a: Instant, b: Instant) -> f64 {
    if a >= b {
        a.duration_since(b).as_secs_f64() * 1000.0
    } else {
        -(b.duration_since(a).as_secs_f64() * 1000.0)
    }
}

/// When each frame 1..=last first appeared.
fn appearances(seen: &[Seen], last: u32) -> Vec<(u32, Instant)> {
    let mut out: Vec<(u32, Instant)> = Vec::new();
    for &(n, at) in seen {
        if let Some(n) = n.filter(|n| (1..=last).contains(n)) {
            if !out.iter().any(|(m, _)| *m == n) {
                out.push((n, at));
            }
        }
    }
    out
}

pub(crate) fn line(name: &str, mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    let abs: Vec<f64> = {
        let mut a: Vec<f64> = v.iter().map(|x| x.abs()).collect();
        a.sort_by(f64::total_cmp);
        a
    };
    let pick = |s: &[f64], p: f64| {
        if s.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
        s[rank.clamp(1, s.len()) - 1]
    };
    format!(
        "{name:<46} n={:<5} |error| p50={:>6.2} ms  p95={:>6.2} ms  max={:>6.2} ms  (signed p50 {:+.2} ms)",
        v.len(),
        pick(&abs, 50.0),
        pick(&abs, 95.0),
        abs.last().copied().unwrap_or(f64::NAN),
        pick(&v, 50.0),
    )
}

/// Origin errors of frames 1..25 over `trials` Starts, each held back by `delay()`.
fn origin(
    rig: &mut Rig,
    clock: &DawClock,
    trials: u32,
    mut delay: impl FnMut() -> Duration,
) -> Result<Vec<f64>, String> {
    let mut errors = Vec::new();
    for _ in 0..trials {
        rig.arm(clock)?;
        let meant = Instant::now();
        std::thread::sleep(delay());
        rig.send(clock, meant, &[&[0xFA]])?;
        std::thread::sleep(Duration::from_millis(1200));
        let seen = appearances(&rig.poller.seen_since(meant), 25);
        if seen.len() < 20 {
            let log: Vec<String> = rig
                .program
                .log()
                .into_iter()
                .filter(|l| l.contains("Start") || l.contains("seek") || l.contains("ahead"))
                .collect();
            return Err(format!(
                "only {} of frames 1..25 seen after a Start: {:?}; the program said:\n{}",
                seen.len(),
                seen.iter()
                    .map(|(n, at)| (*n, ms(*at, meant)))
                    .collect::<Vec<_>>(),
                log.join("\n")
            ));
        }
        errors.extend(
            seen.iter()
                .map(|&(n, at)| ms(at, meant) - f64::from(n) * 40.0),
        );
    }
    Ok(errors)
}

pub fn run(exe: &Path, video: &Path, trials: u32) -> Result<(), String> {
    let clock = DawClock::new(31_000_000, 40e-6);
    let mut rng = Rng::seeded(0x71_3E);
    let mut a = Rig::start(exe, video, 150, "screen A", &clock)?;
    std::thread::sleep(Duration::from_millis(300));

    let on_time = origin(&mut a, &clock, trials, || Duration::ZERO)?;
    println!(
        "{}",
        line("origin error, frames 1..25 after Start", on_time)
    );
    let jittered = origin(&mut a, &clock, trials, || {
        Duration::from_micros(rng.range(0.0, 30_000.0) as u64)
    })?;
    println!(
        "{}",
        line("  the same, Start delivered 0-30 ms late", jittered)
    );

    // Loop jumps.
    let (mut at_150, mut at_1000) = (Vec::new(), Vec::new());
    for _ in 0..trials {
        a.arm(&clock)?;
        a.send(&clock, Instant::now(), &[&[0xFA]])?;
        std::thread::sleep(Duration::from_millis(1500));
        let meant = Instant::now();
        std::thread::sleep(Duration::from_micros(rng.range(0.0, 30_000.0) as u64));
        a.send(&clock, meant, &[&[0xFC], &[0xF2, 16, 0], &[0xFB]])?;
        std::thread::sleep(Duration::from_millis(1300));
        let seen = a.poller.seen_since(meant);
        let errors: Vec<(f64, f64)> = appearances(&seen, 200)
            .into_iter()
            .filter(|(n, _)| *n >= 50)
            .map(|(n, at)| (ms(at, meant), ms(at, meant) - f64::from(n - 50) * 40.0))
            .collect();
        let first_after = |t: f64| errors.iter().find(|(after, _)| *after >= t).map(|e| e.1);
        let nearest = |t: f64| {
            errors
                .iter()
                .min_by(|x, y| (x.0 - t).abs().total_cmp(&(y.0 - t).abs()))
                .map(|e| e.1)
        };
        match (first_after(150.0), nearest(1000.0)) {
            (Some(e150), Some(e1000)) => {
                if std::env::var_os("PLAYHEAD_BENCH_LOG").is_some() && e150.abs() > 20.0 {
                    eprintln!(
                        "jump: {e150:+.1} ms at 150 ms; seen {:?}",
                        seen.iter()
                            .map(|(n, at)| (*n, ms(*at, meant)))
                            .collect::<Vec<_>>()
                    );
                    for l in a
                        .program
                        .log()
                        .iter()
                        .rev()
                        .take(120)
                        .rev()
                        .filter(|l| !l.contains("status:"))
                    {
                        eprintln!("  {l}");
                    }
                }
                at_150.push(e150);
                at_1000.push(e1000);
            }
            _ => return Err("the picture did not follow a loop jump".into()),
        }
    }
    println!(
        "{}",
        line("loop jump (0-30 ms late): frame at 150 ms", at_150)
    );
    println!("{}", line("  frame nearest 1 s after the jump", at_1000));

    // Stops: while playing, a Stop meant in the middle of frame k (so that which frame is due
    // then is never in doubt), sent on time or held back 0-30 ms.
    for (what, jitter) in [
        ("Stop on time", false),
        ("Stop delivered 0-30 ms late", true),
    ] {
        let (mut shown_after, mut held_right, mut held_off) = (0usize, 0usize, Vec::new());
        for _ in 0..trials {
            a.arm(&clock)?;
            let start = Instant::now();
            a.send(&clock, start, &[&[0xFA]])?;
            let k = 25 + rng.range(0.0, 10.0) as u32;
            let stop_at = start + Duration::from_millis(u64::from(k) * 40 + 20);
            let late = if jitter {
                Duration::from_micros(rng.range(0.0, 30_000.0) as u64)
            } else {
                Duration::ZERO
            };
            let send_at = stop_at + late;
            while Instant::now() < send_at {
                std::thread::sleep(send_at - Instant::now());
            }
            let sent = Instant::now();
            a.send(&clock, stop_at, &[&[0xFC]])?;
            // Past the loop-jump window (300 ms), when a Stop is taken as a stop.
            std::thread::sleep(Duration::from_millis(700));
            let seen = a.poller.seen_since(stop_at);
            // A frame due after the Stop that appeared once the Stop had been sent (a Stop
            // held back lets those due before it arrives through: nobody can know sooner).
            shown_after += seen
                .iter()
                .filter(|(n, at)| n.is_some_and(|n| n > k) && *at > sent)
                .count();
            let held = a.poller.current().ok_or("no frame code after a Stop")?;
            if held == k {
                held_right += 1;
            }
            held_off.push((f64::from(held) - f64::from(k)) * 40.0);
        }
        println!(
            "{what:<46} n={trials:<5} frames due after the Stop shown once sent: {shown_after}; \
             frame held = the Stop's frame: {held_right} of {trials}"
        );
        println!(
            "{}",
            line("  held frame against the Stop's, in ms", held_off)
        );
    }

    // Two screens, one Start.
    let mut b = Rig::start(exe, video, 250, "screen B", &clock)?;
    let mut spread = Vec::new();
    let (mut not_shown, mut longest_gap) = (0u32, 0u32);
    for _ in 0..trials {
        a.arm(&clock)?;
        b.arm(&clock)?;
        let meant = Instant::now();
        let da = Duration::from_micros(rng.range(0.0, 30_000.0) as u64);
        let db = Duration::from_micros(rng.range(0.0, 30_000.0) as u64);
        let (first, second, d1, d2) = if da <= db {
            (&mut a, &mut b, da, db)
        } else {
            (&mut b, &mut a, db, da)
        };
        std::thread::sleep(d1);
        first.send(&clock, meant, &[&[0xFA]])?;
        std::thread::sleep(d2 - d1);
        second.send(&clock, meant, &[&[0xFA]])?;
        std::thread::sleep(Duration::from_millis(1200));
        let seen_a = appearances(&a.poller.seen_since(meant), 25);
        let seen_b = appearances(&b.poller.seen_since(meant), 25);
        // Frames 1..25 never shown (skipped: too late to be on time), and the longest run
        // of them: dropped evenly or in a lump.
        for seen in [&seen_a, &seen_b] {
            let mut run = 0u32;
            for n in 1..=25u32 {
                if seen.iter().any(|(m, _)| *m == n) {
                    run = 0;
                } else {
                    not_shown += 1;
                    run += 1;
                    longest_gap = longest_gap.max(run);
                }
            }
        }
        let before = spread.len();
        for (n, at_a) in &seen_a {
            if let Some((_, at_b)) = seen_b.iter().find(|(m, _)| m == n) {
                spread.push(ms(*at_b, *at_a));
            }
        }
        if std::env::var_os("PLAYHEAD_BENCH_LOG").is_some() {
            let these = &spread[before..];
            eprintln!(
                "two screens: A {:.1} ms, B {:.1} ms late; B - A {:+.1} ms (mean)",
                da.as_secs_f64() * 1e3,
                db.as_secs_f64() * 1e3,
                these.iter().sum::<f64>() / these.len().max(1) as f64
            );
            for (name, rig) in [("A", &a), ("B", &b)] {
                for l in rig.program.log().iter().rev().take(30).rev() {
                    if l.contains("Start from") || l.contains("unpaused") {
                        eprintln!("  {name}: {l}");
                    }
                }
            }
        }
    }
    println!(
        "{}",
        line("two screens, one Start (0-30 ms late each)", spread)
    );
    println!(
        "  frames 1..25 not shown (skipped, not late): {not_shown} of {}; at most {longest_gap} in a row",
        2 * 25 * trials
    );
    println!("{}", playhead_testkit::onscreen::poller_priority());
    Ok(())
}
