//! `playhead-bench`: trigger latency and start-up time, measured on this machine.
//!
//! Method (printed with the results):
//! - Trigger latency: a player with a software screen (no window) loads the video. For each
//!   trigger, SPP 0 arms it, then `FA` (Start) is handed to a [`MidiInlet`] exactly as an OS
//!   MIDI port's callback would, stamped with the receipt time. We record (a) receipt -> the
//!   player's `pause=no` call to mpv returned (µs), (b) receipt -> mpv's `time-pos` moves off
//!   the armed position (polled every 100 µs, ms), (c) receipt -> a frame other than frame 0
//!   was rendered (ms; this includes up to one frame interval of the video by nature).
//! - Start-up: the program itself is started `--headless` on the video; we time from spawning
//!   it to its "armed" log line (the first frame rendered and the player waiting for the DAW).

#[path = "bench/card.rs"]
mod card;
#[path = "bench/codecs.rs"]
mod codecs;
#[cfg(feature = "jack")]
#[path = "bench/jack.rs"]
mod jack;
#[path = "bench/link.rs"]
mod link;
#[path = "bench/outputs.rs"]
mod outputs;
#[path = "bench/rigs.rs"]
mod rigs;
#[path = "bench/timing.rs"]
mod timing;

use clap::Parser;
use playhead::player::{Notice, PlayerOptions};
use playhead::screen::headless::HeadlessShow;
use playhead::sources::MidiInlet;
use playhead::transport::Cue;
use playhead_testkit::FrameCode;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() -> std::process::ExitCode {
    playhead::clock::mark_process_start();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = BenchArgs::parse();
    if args.link {
        // Link's multicast stays in a network namespace of the bench's own.
        match link::in_own_namespace() {
            Ok(Some(ended)) => return ended,
            Ok(None) => {}
            Err(e) => {
                eprintln!("playhead-bench: error: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    match run(&args) {
        Ok(()) => {
            // Beside every figure: how busy the machine was while it was measured.
            println!("{}", machine_load());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("playhead-bench: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Measure trigger latency and start-up time on this machine (no window needed).
#[derive(clap::Parser, Debug)]
#[command(name = "playhead-bench")]
pub struct BenchArgs {
    /// How many Start triggers to time.
    #[arg(long, default_value_t = 200)]
    pub triggers: u32,

    /// How many cold starts of the program to time.
    #[arg(long, default_value_t = 20)]
    pub starts: u32,

    /// Measure network MIDI instead: UDP datagram received -> mpv told to play, alone and under
    /// a flood of 10,000 clock packets per second from another peer (loopback only).
    #[arg(long)]
    pub network: bool,

    /// Measure chasing instead: locate time (SPP received -> the right frame on screen) and
    /// drift over a simulated 90-minute show, with and without correction.
    #[arg(long, conflicts_with = "network")]
    pub chase: bool,

    /// Measure on-screen timing instead: the release program fullscreen on a virtual X screen
    /// at 1280x720, frames read off the screen; origin error after Start with and without
    /// delivery jitter, after a loop jump, and the spread between two screens.
    #[arg(long, conflicts_with_all = ["network", "chase"])]
    pub timing: bool,

    /// Measure main and backup rigs instead, on screen: the failover gap (frames held) and
    /// frame error when the main fails three ways, and the spread between two and three
    /// machines on one Start.
    #[arg(long, conflicts_with_all = ["network", "chase", "timing"])]
    pub rigs: bool,

    /// Measure the test card instead, on screen: when each beat's flash appears against its
    /// due time, with a latency offset.
    #[arg(long, conflicts_with_all = ["network", "chase", "timing", "rigs"])]
    pub test_card: bool,

    /// Measure several outputs instead, on screen: each monitor's origin error after a Start
    /// and the agreement between monitors, with 1, 2 and 3 outputs, and what each costs.
    #[arg(long, conflicts_with_all = ["network", "chase", "timing", "rigs", "test_card"])]
    pub outputs: bool,

    /// Measure a JACK transport followed through x42's jack_midi_clock on an OS MIDI port
    /// instead, on screen: start from the top and mid-song, a locate while rolling, a stop
    /// (the bench and the program built with `--features jack`).
    #[arg(long, conflicts_with_all = ["network", "chase", "timing", "rigs", "test_card", "outputs"])]
    pub jack: bool,

    /// Measure a real Ableton Link peer's quantized start and its stop instead, on screen (in
    /// a network namespace of its own: run as root).
    #[arg(long, conflicts_with_all = ["network", "chase", "timing", "rigs", "test_card", "outputs", "jack"])]
    pub link: bool,

    /// Measure a DAW's mid-song start over network MIDI instead, on screen (Song Position,
    /// Continue and 120 BPM clock), in the demo re-encoded with six common codecs.
    #[arg(long, conflicts_with_all = ["network", "chase", "timing", "rigs", "test_card", "outputs", "jack", "link"])]
    pub codecs: bool,

    /// With --test-card or --link, the virtual screen's size (640x360 shows what the software
    /// renderer costs at 1280x720).
    #[arg(long, value_name = "WxH", default_value = "1280x720", value_parser = parse_size)]
    pub screen_size: (u16, u16),

    /// With --timing, --rigs, --test-card, --outputs, --jack, --link or --codecs, how many
    /// trials of each kind.
    #[arg(long, default_value_t = 20)]
    pub trials: u32,

    /// With --chase, also time locates in this file (for example the demo re-encoded with one
    /// keyframe every 10 s), which must carry the demo show's frame code.
    #[arg(long, value_name = "VIDEO", requires = "chase")]
    pub long_gop: Option<PathBuf>,

    /// The video to use (default: the bundled demo show).
    #[arg(value_name = "VIDEO")]
    pub video: Option<PathBuf>,
}

/// `WxH`, e.g. `640x360`.
fn parse_size(s: &str) -> Result<(u16, u16), String> {
    let (w, h) = s.split_once('x').ok_or("give WIDTHxHEIGHT, e.g. 640x360")?;
    let n = |v: &str| v.parse::<u16>().map_err(|e| format!("{v}: {e}"));
    Ok((n(w)?, n(h)?))
}

/// Percentile of a sorted slice (nearest rank).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(name: &str, unit: &str, mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.total_cmp(b));
    format!(
        "{name:<44} n={:<5} p50={:>9.3} {unit}  p99={:>9.3} {unit}  max={:>9.3} {unit}",
        v.len(),
        percentile(&v, 50.0),
        percentile(&v, 99.0),
        v.last().copied().unwrap_or(f64::NAN)
    )
}

fn wait_cue(show: &HeadlessShow, want: Cue) -> Result<Duration, String> {
    loop {
        match show.notices.recv_timeout(Duration::from_secs(5)) {
            Ok(Notice::Cued { cue, latency }) if cue == want => return Ok(latency),
            Ok(Notice::Fatal(m)) => return Err(m),
            Ok(_) => {}
            Err(_) => return Err(format!("no {want:?} cue within 5 s")),
        }
    }
}

/// The program, built beside this binary (cargo builds both into one target folder).
fn program() -> Result<PathBuf, String> {
    // Another build of the program (an earlier one, to compare): PLAYHEAD_BENCH_PROGRAM.
    if let Some(exe) = std::env::var_os("PLAYHEAD_BENCH_PROGRAM") {
        return Ok(PathBuf::from(exe));
    }
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find the program: {e}"))?
        .with_file_name("playhead");
    if !exe.is_file() {
        return Err(format!(
            "the program is not built at {}: run `cargo build --release` first",
            exe.display()
        ));
    }
    Ok(exe)
}

/// The machine's load while the bench ran, to print beside its figures.
fn machine_load() -> String {
    match std::fs::read_to_string("/proc/loadavg") {
        Ok(text) => {
            let f: Vec<&str> = text.split_whitespace().take(3).collect();
            format!(
                "machine load (1, 5, 15 min): {} on {} cores",
                f.join(" "),
                std::thread::available_parallelism().map_or(0, |n| n.get())
            )
        }
        Err(e) => format!("machine load: unknown ({e})"),
    }
}

/// Runs the benchmark and prints the results.
fn run(args: &BenchArgs) -> Result<(), String> {
    if args.network {
        return run_network(args);
    }
    if args.chase {
        return run_chase(args);
    }
    if args.test_card {
        println!("playhead bench --test-card");
        println!("{}", card::METHOD);
        return card::run(&program()?, args.trials, args.screen_size);
    }
    if args.outputs {
        println!("playhead bench --outputs");
        println!("{}", outputs::METHOD);
        return outputs::run(&program()?, args.trials);
    }
    if args.jack {
        let video = args.video.clone().unwrap_or_else(playhead::cli::demo_video);
        println!("playhead bench --jack on '{}'", video.display());
        #[cfg(feature = "jack")]
        {
            println!("{}", jack::METHOD);
            return jack::run(&program()?, &video, args.trials);
        }
        #[cfg(not(feature = "jack"))]
        return Err(
            "this bench was built without JACK: cargo build --release --features jack && \
             cargo build --release -p playhead-testkit --features jack --bin playhead-bench"
                .into(),
        );
    }
    if args.link {
        let video = args.video.clone().unwrap_or_else(playhead::cli::demo_video);
        println!("playhead bench --link on '{}'", video.display());
        println!("{}", link::METHOD);
        return link::run(&program()?, &video, args.trials, args.screen_size);
    }
    if args.codecs {
        let video = args.video.clone().unwrap_or_else(playhead::cli::demo_video);
        println!("playhead bench --codecs on '{}'", video.display());
        println!("{}", codecs::METHOD);
        return codecs::run(&program()?, &video, args.trials);
    }
    if args.rigs {
        let video = args.video.clone().unwrap_or_else(playhead::cli::demo_video);
        println!("playhead bench --rigs on '{}'", video.display());
        println!("{}", rigs::METHOD);
        return rigs::run(&program()?, &video, args.trials);
    }
    if args.timing {
        let video = args.video.clone().unwrap_or_else(playhead::cli::demo_video);
        println!("playhead bench --timing on '{}'", video.display());
        println!("{}", timing::METHOD);
        return timing::run(&program()?, &video, args.trials);
    }
    let video = args.video.clone().unwrap_or_else(playhead::cli::demo_video);
    println!("playhead bench on '{}'", video.display());
    println!("{}", METHOD);

    // The "start" follow mode: SPP 0 arms and Start plays from frame 0 at once, the case
    // every show opens with.
    let options = PlayerOptions {
        follow: playhead::transport::FollowMode::Start,
        ..PlayerOptions::default()
    };
    let show = HeadlessShow::start(&video, &options, 640, 360)?;
    show.wait_ready(Duration::from_secs(10))?;
    let mut inlet: MidiInlet = show.inlet("bench");
    let (mut told_us, mut moving_ms, mut frame_ms) = (Vec::new(), Vec::new(), Vec::new());
    // The show starts armed, where SPP 0 changes nothing: play once, so that every trigger
    // below begins the same way, from a stopped video re-armed by SPP 0.
    inlet.receive(&[0xFA], Instant::now());
    wait_cue(&show, Cue::Play)?;
    for _ in 0..args.triggers {
        inlet.receive(&[0xFC], Instant::now());
        inlet.receive(&[0xF2, 0x00, 0x00], Instant::now());
        // Arm: wait until frame 0 is on the screen again and mpv has settled.
        wait_cue(&show, Cue::Arm)?;
        let settle = Instant::now() + Duration::from_secs(2);
        while show.screen().latest().frame_number(640, 360) != Some(0) && Instant::now() < settle {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(60));
        let armed_pos = show.mpv.get_double("time-pos").unwrap_or(0.0);
        let serial = show.screen().latest().serial;

        let received = Instant::now();
        inlet.receive(&[0xFA], received);
        told_us.push(wait_cue(&show, Cue::Play)?.as_secs_f64() * 1e6);
        let deadline = received + Duration::from_secs(2);
        loop {
            if let Ok(p) = show.mpv.get_double("time-pos") {
                if p > armed_pos + 1e-6 {
                    moving_ms.push(received.elapsed().as_secs_f64() * 1e3);
                    break;
                }
            }
            if Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        let mut last = serial;
        while let Some(f) = show.screen().wait_newer(last, Duration::from_secs(2)) {
            last = f.serial;
            if matches!(f.frame_number(640, 360), Some(n) if n > 0) {
                if let Some(at) = f.rendered_at {
                    frame_ms.push(at.saturating_duration_since(received).as_secs_f64() * 1e3);
                }
                break;
            }
        }
    }
    drop(show);
    println!(
        "{}",
        summary("MIDI Start received -> mpv told to play", "µs", told_us)
    );
    println!(
        "{}",
        summary("MIDI Start received -> time-pos moving", "ms", moving_ms)
    );
    println!(
        "{}",
        summary("MIDI Start received -> next frame rendered", "ms", frame_ms)
    );

    let exe = program()?;
    let mut start_ms = Vec::new();
    for _ in 0..args.starts {
        let spawned = Instant::now();
        let mut child = Command::new(&exe)
            .arg("--headless")
            // Start-up of the player itself; network MIDI would also need a free UDP 5004.
            .arg("--no-rtp")
            .arg(&video)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains("armed:") {
                start_ms.push(spawned.elapsed().as_secs_f64() * 1e3);
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    println!(
        "{}",
        summary("process start -> armed on the first frame", "ms", start_ms)
    );
    Ok(())
}

const METHOD: &str =
    "method: software renderer at 640x360, no window; Start bytes go through the same \
MidiInlet as an OS port's callback, stamped on receipt; SPP 0 re-arms before each trigger; \
start-up spawns 'playhead --headless' and waits for its 'armed' log line.";

// ---------------------------------------------------------------------------------------------
// Network MIDI (`playhead bench --network`)
// ---------------------------------------------------------------------------------------------

const NETWORK_METHOD: &str =
    "method: the player (software renderer, 'start' follow mode) runs a network-MIDI session on \
loopback with mDNS off; a scripted peer on 127.0.0.1 joins it as a DAW machine does and, per \
trigger, sends Stop, SPP 0, then Start, each in its own RTP-MIDI packet. Measured: the \
datagram's receipt (stamped by the socket thread as recvfrom returns) -> the player's pause=no \
call to mpv has returned; and, as a bound including the kernel's loopback, the peer's send -> \
the player's report. Then the same while a second peer floods the session with 10,000 MIDI \
clock packets per second; every Stop, SPP 0 and Start must still produce its cue.";

/// Clock packets per second the flooding peer sends.
const FLOOD_PACKETS_PER_S: u64 = 10_000;

/// What one series of network triggers measured.
struct NetworkSeries {
    receipt_to_mpv_us: Vec<f64>,
    send_to_report_us: Vec<f64>,
    transport_sent: u64,
    cues_seen: u64,
}

/// Waits for the next cue and checks it is `want`; other notices are skipped.
fn next_cue(show: &HeadlessShow, want: &Cue) -> Result<Duration, String> {
    loop {
        match show.notices.recv_timeout(Duration::from_secs(5)) {
            Ok(Notice::Cued { cue, latency }) if cue == *want => return Ok(latency),
            Ok(Notice::Cued { cue, .. }) => {
                return Err(format!("expected a {want:?} cue, the player made {cue:?}"))
            }
            Ok(Notice::Fatal(m)) => return Err(m),
            Ok(_) => {}
            Err(_) => {
                return Err(format!(
                    "no {want:?} cue within 5 s: a transport event was lost"
                ))
            }
        }
    }
}

fn network_series(
    show: &HeadlessShow,
    daw: &mut playhead_testkit::peer::ScriptedPeer,
    triggers: u32,
) -> Result<NetworkSeries, String> {
    let mut series = NetworkSeries {
        receipt_to_mpv_us: Vec::new(),
        send_to_report_us: Vec::new(),
        transport_sent: 0,
        cues_seen: 0,
    };
    for _ in 0..triggers {
        // Playing -> Stop holds, SPP 0 arms, Start plays: three cues per trigger.
        daw.send_midi(&[&[0xFC]])?;
        next_cue(show, &Cue::Hold)?;
        daw.send_midi(&[&[0xF2, 0x00, 0x00]])?;
        next_cue(show, &Cue::Arm)?;
        series.transport_sent += 2;
        series.cues_seen += 2;
        // Let mpv finish the seek to frame 0, as before a real show's Start.
        std::thread::sleep(Duration::from_millis(30));
        let sent = daw.send_midi(&[&[0xFA]])?;
        series.transport_sent += 1;
        let latency = next_cue(show, &Cue::Play)?;
        series
            .send_to_report_us
            .push(sent.elapsed().as_secs_f64() * 1e6);
        series.cues_seen += 1;
        series.receipt_to_mpv_us.push(latency.as_secs_f64() * 1e6);
    }
    Ok(series)
}

/// Runs the network-MIDI benchmark and prints the results.
fn run_network(args: &BenchArgs) -> Result<(), String> {
    use playhead::sources::network::{Network, NetworkOptions};
    use playhead_testkit::peer::{Answer, ScriptedPeer};
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let video = args.video.clone().unwrap_or_else(playhead::cli::demo_video);
    println!("playhead bench --network on '{}'", video.display());
    println!("{NETWORK_METHOD}");
    let options = PlayerOptions {
        follow: playhead::transport::FollowMode::Start,
        ..PlayerOptions::default()
    };
    let show = HeadlessShow::start(&video, &options, 640, 360)?;
    show.wait_ready(Duration::from_secs(10))?;
    let network = Network::start(
        &NetworkOptions {
            rtp_port: 0,
            no_mdns: true,
            session_name: Some("playhead bench".into()),
            ..NetworkOptions::default()
        },
        show.tx.clone(),
    )?;
    let session = SocketAddr::from(([127, 0, 0, 1], network.control_port()));
    let join = |peer: &mut ScriptedPeer| -> Result<(), String> {
        match peer.invite(session, Duration::from_secs(2))? {
            Answer::Accepted { .. } => Ok(()),
            refused => Err(format!(
                "the session refused the benchmark's peer: {refused:?}"
            )),
        }
    };
    let io = |e: std::io::Error| format!("cannot open the benchmark's UDP sockets: {e}");
    let mut daw = ScriptedPeer::new("bench DAW", 0xDA00_0001).map_err(io)?;
    join(&mut daw)?;
    daw.send_midi(&[&[0xFA]])?;
    next_cue(&show, &Cue::Play)?;

    let quiet = network_series(&show, &mut daw, args.triggers)?;

    let mut flood = ScriptedPeer::new("bench flood", 0xF100_D001).map_err(io)?;
    join(&mut flood)?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flood = stop.clone();
    let flooder = std::thread::Builder::new()
        .name("bench-flood".into())
        .spawn(move || -> (u64, Duration) {
            let began = Instant::now();
            let mut sent = 0u64;
            while !stop_flood.load(Ordering::Relaxed) {
                let due = began.elapsed().as_micros() as u64 * FLOOD_PACKETS_PER_S / 1_000_000;
                while sent < due {
                    if flood.send_midi(&[&[0xF8]]).is_err() {
                        break;
                    }
                    sent += 1;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            (sent, began.elapsed())
        })
        .map_err(|e| format!("cannot start the flood thread: {e}"))?;
    // Let the flood reach its rate before timing.
    std::thread::sleep(Duration::from_millis(500));
    let flooded = network_series(&show, &mut daw, args.triggers);
    stop.store(true, Ordering::Relaxed);
    let (flood_sent, flood_time) = flooder
        .join()
        .map_err(|_| "the flood thread failed".to_string())?;
    let flooded = flooded?;
    // Let the last clocks arrive before reading the counters.
    std::thread::sleep(Duration::from_millis(200));
    let peers = network.peers();
    let flood_received = peers
        .iter()
        .find(|p| p.name == "bench flood")
        .map_or(0, |p| p.packets_received);
    let daw_lost = peers
        .iter()
        .find(|p| p.name == "bench DAW")
        .map_or(0, |p| p.packets_lost);
    drop(network);
    drop(show);

    for (label, s) in [("quiet", &quiet), ("under flood", &flooded)] {
        println!(
            "{}",
            summary(
                &format!("UDP Start received -> mpv told ({label})"),
                "µs",
                s.receipt_to_mpv_us.clone()
            )
        );
        println!(
            "{}",
            summary(
                &format!("UDP Start sent -> player reported ({label})"),
                "µs",
                s.send_to_report_us.clone()
            )
        );
        println!(
            "transport events {label}: {} sent, {} cues, {} lost",
            s.transport_sent,
            s.cues_seen,
            s.transport_sent - s.cues_seen
        );
    }
    println!(
        "flood: {flood_sent} clock packets in {:.2} s ({:.0} per s), {flood_received} received by the session; DAW packets lost: {daw_lost}",
        flood_time.as_secs_f64(),
        flood_sent as f64 / flood_time.as_secs_f64().max(1e-9)
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Chasing (`playhead bench --chase`)
// ---------------------------------------------------------------------------------------------

const CHASE_METHOD: &str = "method: the player (software renderer, chase mode, 120 BPM) is \
stopped; per locate, an SPP to a bar between 2 and 58 goes through a MidiInlet stamped on \
receipt, and we time until a rendered frame carries the expected frame number (bar b starts at \
frame (b-1) x 50 in the demo show). Drift: the chase controller against a simulated player and \
a DAW clock 100 ppm fast with +-2 ms jitter on every tick, over 90 minutes (the test kit's simulator::simulate_show).";

fn locate_times(video: &std::path::Path, locates: u32) -> Result<Vec<f64>, String> {
    use playhead::chase::position::TimeSignature;
    use playhead::chase::tempo::TempoMap;
    let options = PlayerOptions {
        follow: playhead::transport::FollowMode::Chase,
        chase: playhead::transport::ChaseSettings {
            tempo_map: Some(
                TempoMap::fixed(120.0, TimeSignature::FOUR_FOUR).map_err(|e| e.to_string())?,
            ),
            ..Default::default()
        },
        ..PlayerOptions::default()
    };
    let show = HeadlessShow::start(video, &options, 640, 360)?;
    show.wait_ready(Duration::from_secs(10))?;
    let mut inlet = show.inlet("bench");
    let mut times_ms = Vec::new();
    for k in 0..locates {
        let bar = 2 + (k * 7) % 57;
        let sixteenths = (bar - 1) * 16;
        let expected = (bar - 1) * 50;
        let serial = show.screen().latest().serial;
        let received = Instant::now();
        inlet.receive(
            &[0xF2, (sixteenths & 0x7F) as u8, (sixteenths >> 7) as u8],
            received,
        );
        let mut last = serial;
        let deadline = received + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(f) = show.screen().wait_newer(last, left) else {
                return Err(format!(
                    "bar {bar}: frame {expected} never reached the screen in '{}'",
                    video.display()
                ));
            };
            last = f.serial;
            if f.frame_number(640, 360) == Some(expected) {
                let at = f.rendered_at.unwrap_or_else(Instant::now);
                times_ms.push(at.saturating_duration_since(received).as_secs_f64() * 1e3);
                break;
            }
        }
    }
    Ok(times_ms)
}

fn run_chase(args: &BenchArgs) -> Result<(), String> {
    use playhead_testkit::simulator::{simulate_show, SimConfig};
    let video = args.video.clone().unwrap_or_else(playhead::cli::demo_video);
    println!("playhead bench --chase");
    println!("{CHASE_METHOD}");
    let locates = args.triggers.min(100);
    let mut files = vec![video];
    files.extend(args.long_gop.clone());
    for file in &files {
        let times = locate_times(file, locates)?;
        println!(
            "{}",
            summary(
                &format!(
                    "locate, SPP -> frame on screen ({})",
                    file.file_name().unwrap_or_default().to_string_lossy()
                ),
                "ms",
                times
            )
        );
    }
    for correction in [true, false] {
        let report = simulate_show(&SimConfig {
            correction,
            ..SimConfig::default()
        })
        .map_err(|e| e.to_string())?;
        println!(
            "drift over 90 min, DAW clock +100 ppm, {:<17} max {:>7.1} ms  RMS {:>7.1} ms  seeks {}  speed changes {}",
            if correction { "with correction:" } else { "without correction:" },
            report.max_error_ms,
            report.rms_error_ms,
            report.seeks,
            report.speed_changes
        );
    }
    Ok(())
}
