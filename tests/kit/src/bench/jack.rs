//! `playhead-bench --jack`: a JACK transport followed through x42's `jack_midi_clock` (SPP,
//! Start/Continue/Stop and MIDI clock on a JACK MIDI port), on screen.

use super::rigs::{changes, line};
use super::timing::{ms, on_screen};
use jack::{Client, ClientOptions, Control, ProcessScope, TransportState};
use playhead_core::chase::timecode::{FrameRate, Timecode};
use playhead_core::rng::Rng;
use playhead_testkit::jackd::JackServer;
use playhead_testkit::ltc::LtcEncoder;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const METHOD: &str = "method: a JACK server (dummy driver, 48 kHz, 256-frame periods) and \
x42's jack_midi_clock, which turns the JACK transport into SPP, Start/Continue/Stop and 24 clocks \
a quarter note on its MIDI port, as a DAW on JACK does; the bench is the transport's timebase \
master (120 BPM, 4/4) and moves it. The release program (JACK build, chase mode, 120 BPM) runs \
fullscreen on a virtual X screen (Xvfb 1280x720, matchbox, Mesa's software OpenGL) and connects \
to jack_midi_clock's port itself (--midi-port). The bench's own JACK client notes, cycle by \
cycle, where the transport is and when that cycle's first sample was on the one clock (JACK's \
cycle times), so where the DAW is at any moment is known exactly. A poller reads the demo's \
frame code off the screen every 0.5 ms. Per trial: the transport starts (odd trials from the \
top: Start; even trials from a random sixteenth, located while stopped: jack_midi_clock sends \
nothing until the transport rolls, then SPP + Continue + clock in one cycle), rolls 1.2 s, is located to \
another random sixteenth while rolling, rolls 1.2 s and stops. Error: when each new frame \
appeared minus when the transport passed that frame's start (positive: the picture is late). \
Start: frames of the first second after the transport rolled. Running: frames from 1 s after \
the start to the locate. Locate while rolling: the frame on screen 150 ms after the transport \
jumped is judged within one frame (40 ms) or not; the error of frames from 150 ms to 1.2 s after \
it. Stop: frames due after the transport stopped that appeared after it, and the frame on \
screen 700 ms later. A cycle the server skips (the dummy driver late) moves the rolling \
transport and jack_midi_clock a period later; the frames after it are reckoned from that \
cycle (their count is printed). LTC: with the transport standing, the bench's client plays 3 s of 25 fps \
LTC from a random timecode (the project's encoder, -6 dBFS) into playhead:ltc, sample k at \
the JACK frame k after the first (a cycle the server skips skips its samples, as a DAW's LTC \
follows its transport); a frame's time is when its code word starts; the error of frames from 1 s after it started (located and \
locked) to its end. jack_midi_clock sends the SPP of where the transport will be 2 s later \
(its resync delay) and the Continue when it gets there: a start mid-song or a locate is followed \
2 s later, by design of that peer.";

const RATE: u32 = 48_000;
const BPM: f64 = 120.0;
/// The demo's frame rate.
const FPS: f64 = 25.0;
/// Transport frames in one video frame.
const PER_FRAME: f64 = RATE as f64 / FPS;
/// Transport frames in one sixteenth note at 120 BPM (an SPP step).
const PER_SIXTEENTH: u32 = RATE / 8;

/// A child process ended with SIGINT (jack_midi_clock leaves JACK cleanly on it).
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where the transport was at a cycle's first sample, and when that sample was (our clock).
#[derive(Clone, Copy, Debug)]
struct Cycle {
    rolling: bool,
    frame: u32,
    at: Instant,
}

/// The bench's JACK client: notes every cycle where the transport stopped, started or jumped,
/// and every one where it slipped.
struct Watch {
    changes: Arc<Mutex<Vec<Cycle>>>,
    /// Cycles where the rolling transport moved on by its period but the server's clock by
    /// more: a cycle the server skipped (the dummy driver running late). The transport, and
    /// jack_midi_clock with it, is that much later from then on, and so is the DAW's time.
    slips: Arc<Mutex<Vec<Cycle>>>,
    last: Option<(Cycle, u32)>,
    /// The LTC output, and what it plays.
    ltc_port: jack::Port<jack::AudioOut>,
    ltc: Arc<Mutex<LtcPlay>>,
}

/// LTC samples to play from the next cycle on, and when their first sample was played.
/// Sample k plays at the JACK frame k after the first one's, as a DAW's LTC output follows its
/// transport: a cycle the server skipped (a late cycle of the dummy driver advances the frame
/// counter by two periods) skips its samples rather than shifting all later ones a period
/// late, which would move the timecode off the times the frames are measured against.
#[derive(Default)]
struct LtcPlay {
    samples: Vec<f32>,
    /// The JACK frame of the first sample, once played.
    first_frame: Option<u32>,
    started: Option<Instant>,
}

impl jack::ProcessHandler for Watch {
    fn process(&mut self, client: &Client, ps: &ProcessScope) -> Control {
        let now = Instant::now();
        let Ok(q) = client.transport().query() else {
            return Control::Continue;
        };
        // When this cycle's first sample was: frames_to_time of its first frame (the jack
        // crate's `cycle_times` always fails with Debian 12's libjack).
        let age_us = client
            .time()
            .saturating_sub(client.frames_to_time(ps.last_frame_time()));
        let cycle = Cycle {
            rolling: q.state == TransportState::Rolling,
            frame: q.pos.frame(),
            at: now
                .checked_sub(Duration::from_micros(age_us))
                .unwrap_or(now),
        };
        let changed = match self.last {
            None => true,
            Some((last, n)) => {
                last.rolling != cycle.rolling
                    || cycle.frame
                        != if last.rolling {
                            last.frame + n
                        } else {
                            last.frame
                        }
            }
        };
        if changed {
            // A bench, not a show: a lock and a push in the process callback are fine here.
            self.changes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(cycle);
        } else if let Some((last, n)) = self.last.filter(|(l, _)| l.rolling && cycle.rolling) {
            let expected = last.at + Duration::from_secs_f64(f64::from(n) / f64::from(RATE));
            let slip = if cycle.at > expected {
                cycle.at - expected
            } else {
                expected - cycle.at
            };
            if slip > Duration::from_millis(1) {
                self.slips
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(cycle);
            }
        }
        self.last = Some((cycle, ps.n_frames()));
        let out = self.ltc_port.as_mut_slice(ps);
        out.fill(0.0);
        if let Ok(mut play) = self.ltc.try_lock() {
            let frame = ps.last_frame_time();
            if play.first_frame.is_none() && !play.samples.is_empty() {
                play.first_frame = Some(frame);
                play.started = Some(cycle.at);
            }
            if let Some(first) = play.first_frame {
                let cursor = frame.wrapping_sub(first) as usize;
                if cursor < play.samples.len() {
                    let end = (cursor + out.len()).min(play.samples.len());
                    out[..end - cursor].copy_from_slice(&play.samples[cursor..end]);
                }
            }
        }
        Control::Continue
    }
}

/// The timebase master's callback: bar, beat and tick of the transport's frame at 120 BPM, 4/4.
unsafe extern "C" fn timebase(
    _state: jack_sys::jack_transport_state_t,
    _nframes: jack_sys::jack_nframes_t,
    pos: *mut jack_sys::jack_position_t,
    _new_pos: libc::c_int,
    _arg: *mut libc::c_void,
) {
    // SAFETY: JACK hands the position it is filling in, valid for the call.
    let Some(p) = (unsafe { pos.as_mut() }) else {
        return;
    };
    let rate = if p.frame_rate == 0 {
        RATE
    } else {
        p.frame_rate
    };
    let ticks_per_beat = 1920.0;
    let beats = f64::from(p.frame) / f64::from(rate) * BPM / 60.0;
    let bars = (beats / 4.0).floor();
    let in_bar = beats - bars * 4.0;
    p.valid |= jack_sys::JackPositionBBT;
    p.bar = bars as i32 + 1;
    p.beat = in_bar.floor() as i32 + 1;
    p.tick = (in_bar.fract() * ticks_per_beat).round() as i32;
    p.bar_start_tick = bars * 4.0 * ticks_per_beat;
    p.beats_per_bar = 4.0;
    p.beat_type = 4.0;
    p.ticks_per_beat = ticks_per_beat;
    p.beats_per_minute = BPM;
}

struct Daw {
    client: jack::AsyncClient<(), Watch>,
    slips: Arc<Mutex<Vec<Cycle>>>,
    changes: Arc<Mutex<Vec<Cycle>>>,
    ltc: Arc<Mutex<LtcPlay>>,
}

impl Daw {
    fn start() -> Result<Daw, String> {
        let (client, _) = Client::new("bench-daw", ClientOptions::NO_START_SERVER)
            .map_err(|e| format!("JACK client: {e}"))?;
        let changes = Arc::new(Mutex::new(Vec::new()));
        let slips = Arc::new(Mutex::new(Vec::new()));
        let ltc = Arc::new(Mutex::new(LtcPlay::default()));
        let ltc_port = client
            .register_port("ltc", jack::AudioOut::default())
            .map_err(|e| format!("JACK port: {e}"))?;
        let watch = Watch {
            changes: changes.clone(),
            slips: slips.clone(),
            last: None,
            ltc_port,
            ltc: ltc.clone(),
        };
        let client = client
            .activate_async((), watch)
            .map_err(|e| format!("JACK client: {e}"))?;
        // SAFETY: the client is open and active; the callback touches only the position.
        let r = unsafe {
            jack_sys::jack_set_timebase_callback(
                client.as_client().raw(),
                0,
                Some(timebase),
                std::ptr::null_mut(),
            )
        };
        if r != 0 {
            return Err(format!("cannot become JACK's timebase master ({r})"));
        }
        Ok(Daw {
            client,
            slips,
            changes,
            ltc,
        })
    }

    fn transport(&self) -> jack::Transport {
        self.client.as_client().transport()
    }

    /// The cycles where the rolling transport slipped, between `from` and `to`.
    fn slips_between(&self, from: Instant, to: Instant) -> Vec<Cycle> {
        self.slips
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|c| c.at > from && c.at < to)
            .copied()
            .collect()
    }

    /// The latest change of the transport.
    fn latest(&self) -> Option<Cycle> {
        self.changes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last()
            .copied()
    }

    /// The first cycle noted after `since` that `ok` accepts.
    fn wait_cycle(&self, since: Instant, ok: impl Fn(&Cycle) -> bool) -> Result<Cycle, String> {
        let deadline = Instant::now() + Duration::from_secs(3);
        // A cycle that began a moment before the request can be the one that carries it out
        // (JACK takes requests for the cycle to come): two periods' leeway.
        let since = since
            .checked_sub(Duration::from_millis(11))
            .unwrap_or(since);
        loop {
            if let Some(c) = self
                .changes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .find(|c| c.at >= since && ok(c))
            {
                return Ok(*c);
            }
            if Instant::now() > deadline {
                return Err("the JACK transport did not do as asked".into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// jack_midi_clock's SPP leads the transport by its resync delay (2 s: 16 sixteenths at 120
/// BPM), and its Continue comes when the transport gets there.
const RESYNC_SIXTEENTHS: u32 = 16;

/// LTC frames played per trial (3 s at 25 fps).
const LTC_FRAMES: i64 = 75;

/// How long the transport rolls before it is located, and after.
const ROLL: Duration = Duration::from_millis(3200);

/// The frames of a stretch of rolling from `from` until `end`: the errors of those of the first
/// second after the picture followed the transport (the first new frame within a frame of it),
/// those after it, and when it followed (ms after `from`). A frame's due time is reckoned from
/// the last of `from` and the transport's `slips` at or before its start on the transport.
fn segment(
    seen: &[(u32, Instant)],
    from: &Cycle,
    end: Instant,
    slips: &[Cycle],
) -> (Vec<f64>, Vec<f64>, f64) {
    let error = |&(n, at): &(u32, Instant)| {
        let frame = f64::from(n) * PER_FRAME;
        let anchor = slips
            .iter()
            .rfind(|s| s.at > from.at && s.frame >= from.frame && f64::from(s.frame) <= frame)
            .unwrap_or(from);
        ms(at, due(anchor, n))
    };
    let Some(&(_, followed)) = seen
        .iter()
        .find(|f| f.1 > from.at && f.1 < end && error(f).abs() < 1000.0 / FPS)
    else {
        return (Vec::new(), Vec::new(), f64::NAN);
    };
    let first: Vec<f64> = seen
        .iter()
        .filter(|(_, at)| *at >= followed && ms(*at, followed) < 1000.0 && *at < end)
        .map(error)
        .collect();
    let then: Vec<f64> = seen
        .iter()
        .filter(|(_, at)| ms(*at, followed) >= 1000.0 && *at < end)
        .map(error)
        .collect();
    (first, then, ms(followed, from.at))
}

/// With PLAYHEAD_BENCH_LOG set: `what`, then `errors` (ms) in the order they came.
fn log_errors(what: &str, errors: &[f64]) {
    if std::env::var_os("PLAYHEAD_BENCH_LOG").is_some() {
        let shown: Vec<String> = errors.iter().map(|e| format!("{e:+.1}")).collect();
        eprintln!("{what} {shown:?}");
    }
}

/// When the transport, rolling from `frame` at `at`, passes the start of video frame `n`.
fn due(from: &Cycle, n: u32) -> Instant {
    let s = (f64::from(n) * PER_FRAME - f64::from(from.frame)) / f64::from(RATE);
    if s >= 0.0 {
        from.at + Duration::from_secs_f64(s)
    } else {
        from.at - Duration::from_secs_f64(-s)
    }
}

fn video_frame(transport_frame: u32) -> u32 {
    (f64::from(transport_frame) / PER_FRAME).floor() as u32
}

pub fn run(exe: &Path, video: &Path, trials: u32) -> Result<(), String> {
    let _server = JackServer::start(&format!("playhead-bench-{}", std::process::id()))?;
    let daw = Daw::start()?;
    let _clock = Peer(
        Command::new("jack_midi_clock")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("cannot start jack_midi_clock (Debian package jack-midi-clock): {e}")
            })?,
    );
    let dir = std::env::temp_dir().join(format!("playhead-bench-jack-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let show = super::timing::chase_show(&dir, video)?;
    let args = vec![
        "--no-rtp".to_string(),
        "--no-mdns".into(),
        "--midi-port".into(),
        "jack_midi_clock".into(),
        "--ltc".into(),
        "jack".into(),
        "--ltc-connect".into(),
        "bench-daw".into(),
        show.display().to_string(),
    ];
    let (_screen, program, poller) = on_screen(exe, &args, 380, (1280, 720), "the JACK player")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !program.logged("connected MIDI port 'jack_midi_clock") {
        if Instant::now() > deadline {
            return Err(format!(
                "the program never connected jack_midi_clock's port; its log:\n{}",
                program.log().join("\n")
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let transport = daw.transport();
    let mut rng = Rng::seeded(0x1ac4);
    let sixteenth = |rng: &mut Rng| (rng.range(16.0, 400.0) as u32) * PER_SIXTEENTH;
    let (mut from_top, mut mid_song, mut running, mut located) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut follows, mut follows_locate) = (Vec::new(), Vec::new());
    let (mut after_stop, mut held_right, mut held_spp) = (0usize, 0u32, 0u32);
    let mut held: Vec<String> = Vec::new();
    let mut slipped = 0usize;
    for trial in 0..trials {
        let top = trial % 2 == 0;
        // Stopped, located where it will start, and the picture there.
        transport.stop().map_err(|e| e.to_string())?;
        let start_frame = if top { 0 } else { sixteenth(&mut rng) };
        std::thread::sleep(Duration::from_millis(200));
        transport.locate(start_frame).map_err(|e| e.to_string())?;
        // jack_midi_clock says nothing while the transport stands: the SPP comes with the
        // Continue, and the picture locates then.
        let deadline = Instant::now() + Duration::from_secs(3);
        while !daw
            .latest()
            .is_some_and(|c| !c.rolling && c.frame == start_frame)
        {
            if Instant::now() > deadline {
                return Err(format!("trial {trial}: the JACK transport did not locate"));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(400));

        let asked = Instant::now();
        transport.start().map_err(|e| e.to_string())?;
        let rolled = daw.wait_cycle(asked, |c| c.rolling)?;
        std::thread::sleep(ROLL);
        let target = sixteenth(&mut rng);
        let asked = Instant::now();
        transport.locate(target).map_err(|e| e.to_string())?;
        let jumped = daw.wait_cycle(asked, |c| c.rolling && c.frame >= target)?;
        std::thread::sleep(ROLL);
        let asked = Instant::now();
        transport.stop().map_err(|e| e.to_string())?;
        let stopped = daw.wait_cycle(asked, |c| !c.rolling)?;
        std::thread::sleep(Duration::from_millis(700));
        let on_screen_after = poller.current();

        let seen = changes(&poller.seen_since(rolled.at - Duration::from_millis(100)));
        let slips = daw.slips_between(rolled.at, stopped.at);
        slipped += slips.len();
        let (start_errors, run_errors, moved) =
            segment(&seen, &rolled, stopped.at.min(jumped.at), &slips);
        log_errors(
            &format!(
                "trial {trial} ({}): moved {moved:.1} ms after the roll; start errors",
                if top { "top" } else { "mid-song" }
            ),
            &start_errors,
        );
        if top {
            from_top.extend(start_errors);
        } else {
            mid_song.extend(start_errors);
            follows.push(moved);
        }
        log_errors(
            &format!("trial {trial}: running before the locate"),
            &run_errors,
        );
        running.extend(run_errors);
        let (start_errors, run_errors, moved) = segment(&seen, &jumped, stopped.at, &slips);
        if std::env::var_os("PLAYHEAD_BENCH_FRAMES").is_some() {
            for f in seen
                .iter()
                .filter(|f| f.1 >= jumped.at && ms(f.1, jumped.at) < moved + 200.0)
            {
                eprintln!(
                    "  frame {} at {:+.1} ms after the jump, error {:+.1}",
                    f.0,
                    ms(f.1, jumped.at),
                    ms(f.1, due(&jumped, f.0))
                );
            }
        }
        log_errors(
            &format!("trial {trial}: locate followed {moved:.1} ms after the jump; errors"),
            &start_errors,
        );
        located.extend(start_errors);
        log_errors(
            &format!("trial {trial}: running after the locate"),
            &run_errors,
        );
        running.extend(run_errors);
        follows_locate.push(moved);
        let last_due = video_frame(stopped.frame);
        // jack_midi_clock follows its Stop with an SPP 2 s (16 sixteenths) past the sixteenth
        // the transport stopped in (where its next Continue will be): the picture goes there.
        // (The first frame starting at or after that position, as a cued deck shows.)
        let spp_frame =
            (f64::from((stopped.frame / PER_SIXTEENTH + RESYNC_SIXTEENTHS) * PER_SIXTEENTH)
                / PER_FRAME
                - 1e-6)
                .ceil() as u32;
        let late: Vec<&(u32, Instant)> = seen
            .iter()
            .filter(|(n, at)| *at > stopped.at && *n > last_due && *n != spp_frame)
            .collect();
        if std::env::var_os("PLAYHEAD_BENCH_FRAMES").is_some() {
            for (n, at) in &late {
                eprintln!(
                    "  trial {trial}: frame {n} at {:+.1} ms after the stop (due {:+.1} ms after it; the stop's frame {last_due}, the SPP's {spp_frame})",
                    ms(*at, stopped.at),
                    ms(due(&jumped, *n), stopped.at)
                );
            }
        }
        after_stop += late.len();
        if on_screen_after == Some(last_due) {
            held_right += 1;
        } else if on_screen_after == Some(spp_frame) {
            held_spp += 1;
        } else {
            held.push(format!(
                "{:?} for {last_due}",
                on_screen_after.map_or(-1, i64::from)
            ));
        }
    }
    transport.stop().map_err(|e| e.to_string())?;

    // LTC, the transport standing (LTC leads MIDI clock when both come).
    let (mut ltc_errors, mut ltc_locks) = (Vec::new(), Vec::new());
    for trial in 0..trials {
        let rate = FrameRate::Fps25;
        let first = Timecode::from_frame_count(rng.range(125.0, 2500.0) as u64, rate);
        let mut enc = LtcEncoder::new(RATE);
        let mut samples = Vec::new();
        for i in 0..LTC_FRAMES {
            enc.frame(&first.add_frames(i), rate.real_fps(), &mut samples);
        }
        let length_s = samples.len() as f64 / f64::from(RATE);
        *daw.ltc.lock().unwrap_or_else(|p| p.into_inner()) = LtcPlay {
            samples,
            first_frame: None,
            started: None,
        };
        std::thread::sleep(Duration::from_secs_f64(length_s + 0.2));
        let started = daw
            .ltc
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .started
            .ok_or("the LTC was never played")?;
        // Timecode frame i's code word starts at sample i x 1920: that is when the frame is.
        let first_s = first.real_time_s();
        let error =
            |&(n, at): &(u32, Instant)| ms(at, started) - (f64::from(n) / FPS - first_s) * 1000.0;
        let end = started + Duration::from_secs_f64(length_s);
        let seen = changes(&poller.seen_since(started));
        if let Some(f) = seen.iter().find(|f| error(f).abs() < 1000.0 / FPS) {
            ltc_locks.push(ms(f.1, started));
        }
        let errors: Vec<f64> = seen
            .iter()
            .filter(|(_, at)| ms(*at, started) >= 1000.0 && *at < end)
            .map(error)
            .collect();
        log_errors(&format!("LTC trial {trial} from {first}: errors"), &errors);
        ltc_errors.extend(errors);
        // Held when the timecode stops; the next trial starts elsewhere.
        std::thread::sleep(Duration::from_millis(800));
    }

    if std::env::var_os("PLAYHEAD_BENCH_LOG").is_some() {
        eprintln!("the program's log:\n{}", program.log().join("\n"));
    }
    for (name, figures) in [
        ("start from the top (Start), first second", &from_top),
        ("start mid-song (Continue), first second", &mid_song),
        ("after a locate while rolling, first second", &located),
        ("running, from 1 s after a start", &running),
        ("mid-song: on the transport after the roll", &follows),
        ("locate: on the transport after the jump", &follows_locate),
        ("LTC 25 fps, from 1 s after it started", &ltc_errors),
        ("LTC: on the timecode's frame after", &ltc_locks),
    ] {
        println!("{}", line(name, figures, "ms"));
    }
    println!(
        "stop: frames due after the stop shown: {after_stop}; 700 ms later on screen: the stop's frame in {held_right} of {trials}, the frame of the SPP after it in {held_spp}{}",
        if held.is_empty() {
            String::new()
        } else {
            format!(" (others: {})", held.join(", "))
        }
    );
    println!(
        "JACK cycles the server skipped while the transport rolled (the transport and its clock \
         a period later from each): {slipped}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
