//! `playhead-bench --codecs`: a DAW's mid-song start over network MIDI (Song Position,
//! Continue and 120 BPM clock), on screen, in the demo re-encoded with each common codec.

use super::rigs::{changes, line, sleep_until};
use super::timing::{ms, Rig};
use playhead_core::rng::Rng;
use playhead_testkit::peer::DawClock;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const METHOD: &str = "method: the demo's first 30 s re-encoded by ffmpeg with each codec \
(640x360, 25 fps): H.264 with a keyframe every second and every 10 s, HEVC with one every 10 s, \
VP9, Motion JPEG, ProRes. For each, the release program (chase mode, 120 BPM) runs fullscreen on \
a virtual X screen (Xvfb 1280x720, matchbox, Mesa's software OpenGL) with its network-MIDI \
session on loopback; a scripted DAW joins it, synchronises its clock (8 CK exchanges, again \
before each trial) and stamps each message with the moment it meant it. Per trial, from a \
random sixteenth (bar 2 to 7) while stopped: Song Position, Continue and the first clock in one \
packet meant at t, then a clock every 1/48 s (120 BPM), each sent at its moment, for 2.5 s, then \
Stop. By the MIDI specification the song starts on the first clock after Continue: frame n is \
due at t + (n x 40 ms - the position). A poller reads the frame code off the screen every 0.5 ms. \
Follow: when the first frame within a frame of the DAW appeared, after t. Error: when each new \
frame appeared minus its due time, for the frames of the first second after the follow \
(positive: late). At 150 ms: whether the frame on screen 150 ms after t is within a frame of the \
DAW's. Late: frames shown more than a frame after their due time once the picture moved.";

/// One codec: its name in the rows, the file's extension and ffmpeg's arguments for it.
const CODECS: &[(&str, &str, &[&str])] = &[
    (
        "H.264, keyframe every 1 s",
        "mp4",
        &[
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-g", "25",
        ],
    ),
    (
        "H.264, keyframe every 10 s",
        "mp4",
        &[
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "18",
            "-g",
            "250",
            "-keyint_min",
            "250",
            "-sc_threshold",
            "0",
        ],
    ),
    (
        "HEVC, keyframe every 10 s",
        "mp4",
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-crf",
            "20",
            "-x265-params",
            "keyint=250:min-keyint=250:scenecut=0:log-level=error",
        ],
    ),
    (
        "VP9",
        "webm",
        &[
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-b:v",
            "2M",
        ],
    ),
    ("Motion JPEG", "mkv", &["-c:v", "mjpeg", "-q:v", "3"]),
    (
        "ProRes 422 Proxy",
        "mov",
        &["-c:v", "prores_ks", "-profile:v", "0"],
    ),
];

/// 120 BPM: a clock every 1/48 s, a sixteenth every 125 ms.
const CLOCK: Duration = Duration::from_nanos(1_000_000_000 / 48);
const SIXTEENTH_S: f64 = 0.125;
const FRAME_S: f64 = 0.04;
/// How long the DAW rolls per trial.
const ROLL: Duration = Duration::from_millis(2500);

/// The demo's first 30 s in `dir`, re-encoded as `args` say.
fn encode(demo: &Path, dir: &Path, n: usize, ext: &str, args: &[&str]) -> Result<PathBuf, String> {
    let out = dir.join(format!("codec-{n}.{ext}"));
    let done = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(demo)
        .args(["-t", "30", "-an"])
        .args(args)
        .arg(&out)
        .status()
        .map_err(|e| format!("cannot run ffmpeg: {e}"))?;
    if !done.success() {
        return Err(format!("ffmpeg could not encode {}", out.display()));
    }
    Ok(out)
}

pub fn run(exe: &Path, demo: &Path, trials: u32) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("playhead-bench-codecs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = (|| {
        // PLAYHEAD_BENCH_CODEC=TEXT: only the codecs whose name contains TEXT.
        let only = std::env::var("PLAYHEAD_BENCH_CODEC").unwrap_or_default();
        for (n, (name, ext, args)) in CODECS.iter().enumerate() {
            if !name.contains(only.as_str()) {
                continue;
            }
            let video = encode(demo, &dir, n, ext, args)?;
            codec(exe, &video, &dir, name, trials)?;
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    println!("{}", playhead_testkit::onscreen::poller_priority());
    result
}

fn codec(exe: &Path, video: &Path, dir: &Path, name: &str, trials: u32) -> Result<(), String> {
    let show = super::timing::chase_show(dir, video)?;
    let clock = DawClock::new(61_000_000, 25e-6);
    let mut rig = Rig::start_with(exe, &show, 390, (1280, 720), &[], name, &clock)?;
    let mut rng = Rng::seeded(0xc0dec);
    let (mut follows, mut errors, mut late) = (Vec::new(), Vec::new(), 0usize);
    let (mut settled, mut never) = (0u32, 0u32);
    for trial in 0..trials {
        rig.sync(&clock)?;
        let sixteenths = rng.range(16.0, 112.0) as u32;
        let position_s = f64::from(sixteenths) * SIXTEENTH_S;
        let due = |t: Instant, n: u32| {
            let s = f64::from(n) * FRAME_S - position_s;
            if s >= 0.0 {
                t + Duration::from_secs_f64(s)
            } else {
                t - Duration::from_secs_f64(-s)
            }
        };
        let t = Instant::now() + Duration::from_millis(20);
        sleep_until(t);
        let spp = [0xF2, (sixteenths & 0x7F) as u8, (sixteenths >> 7) as u8];
        rig.send(&clock, t, &[&spp, &[0xFB], &[0xF8]])?;
        let mut next = t;
        while next < t + ROLL {
            next += CLOCK;
            sleep_until(next);
            rig.send(&clock, next, &[&[0xF8]])?;
        }
        next += CLOCK;
        sleep_until(next);
        rig.send(&clock, next, &[&[0xFC]])?;
        std::thread::sleep(Duration::from_millis(300));
        let seen = changes(&rig.poller.seen_since(t));
        let on_time = |&(n, at): &(u32, Instant)| ms(at, due(t, n)).abs() < FRAME_S * 1e3;
        let Some(&(_, followed)) = seen.iter().find(|f| f.1 < next && on_time(f)) else {
            if std::env::var_os("PLAYHEAD_BENCH_LOG").is_some() {
                eprintln!("{name}, trial {trial} from sixteenth {sixteenths}: never followed; seen {seen:?}");
            }
            never += 1;
            continue;
        };
        follows.push(ms(followed, t));
        let first: Vec<f64> = seen
            .iter()
            .filter(|(_, at)| *at >= followed && ms(*at, followed) < 1000.0 && *at < next)
            .map(|&(n, at)| ms(at, due(t, n)))
            .collect();
        late += seen
            .iter()
            .filter(|(n, at)| *at < next && *n > 0 && ms(*at, due(t, *n)) > FRAME_S * 1e3)
            .filter(|(_, at)| *at > followed)
            .count();
        let at_150 = t + Duration::from_millis(150);
        if seen
            .iter()
            .take_while(|f| f.1 <= at_150)
            .last()
            .is_some_and(|&(n, _)| {
                // The DAW's frame at 150 ms: the one that started last.
                let daw = ((position_s + 0.150) / FRAME_S).floor() as i64;
                (i64::from(n) - daw).abs() <= 1
            })
        {
            settled += 1;
        }
        if std::env::var_os("PLAYHEAD_BENCH_LOG").is_some() {
            let shown: Vec<String> = first.iter().map(|e| format!("{e:+.1}")).collect();
            eprintln!(
                "{name}, trial {trial} from sixteenth {sixteenths}: followed {:.1} ms after t; errors {shown:?}",
                ms(followed, t)
            );
        }
        errors.extend(first);
        std::thread::sleep(Duration::from_millis(200));
    }
    if std::env::var_os("PLAYHEAD_BENCH_LOG").is_some() {
        for l in rig.log() {
            eprintln!("{l}");
        }
    }
    println!("{name}:");
    println!("{}", line("  follow, after t", &follows, "ms"));
    println!(
        "{}",
        line("  error, first second after the follow", &errors, "ms")
    );
    println!(
        "  on screen 150 ms after t within a frame of the DAW's: {settled} of {trials}; frames \
         shown more than a frame late after the follow: {late}; never within a frame of the \
         DAW in the {:.1} s it rolled: {never} of {trials}",
        ROLL.as_secs_f64()
    );
    Ok(())
}
