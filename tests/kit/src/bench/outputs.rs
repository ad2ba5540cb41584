//! `playhead-bench --outputs`: several outputs on one machine, on screen.

use super::rigs::{changes, line};
use super::timing::ms;
use playhead_testkit::framecode::VideoRect;
use playhead_testkit::onscreen::{Program, ScreenPoller, VirtualScreen};
use playhead_testkit::peer::{Answer, DawClock, ScriptedPeer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const METHOD: &str = "method: the release program on a virtual desktop of 1, 2 or 3 \
monitors of 640x360 (Xorg with the dummy video driver, openbox, Mesa's software OpenGL), its \
network-MIDI session on loopback. Shows: one window without [[output]] (the single-screen \
path, for comparison); one [[output]] showing the demo; two outputs showing the two halves \
(crop) of a 1280x360 master made of the demo twice side by side; the same two and a third \
output showing the demo file itself (two files, decoded in one core and stacked). All offsets \
0. A scripted DAW joins, synchronises its clock with 8 CK exchanges (again before each trial), \
arms (Stop, SPP 0) and sends Start stamped with the moment t it meant it. A poller per monitor \
reads the frame code off the screen every 0.5 ms. Origin error: frame n (1..25) is due at \
t + n x 40 ms; error = when it appeared on that monitor minus that. Agreement: for each frame \
seen on two monitors, the difference of when it appeared on each (every pair of monitors). \
Cost: while the show plays 10 s, the program's CPU time (user + system, /proc/PID/stat) over \
that time, and its resident memory (VmRSS) at the end.";

struct Layout {
    label: &'static str,
    monitors: u16,
    /// The show file's text, given the wide master's and the demo's paths; `None`: no show
    /// file, the demo alone.
    show: Option<fn(&Path, &Path) -> String>,
}

const LAYOUTS: [Layout; 4] = [
    Layout {
        label: "one window (no [[output]])",
        monitors: 1,
        show: None,
    },
    Layout {
        label: "1 output",
        monitors: 1,
        show: Some(|_, demo| {
            format!(
                "[[output]]\nname = \"one\"\nmonitor = 1\n[[song]]\nvideo = \"{}\"\n",
                demo.display()
            )
        }),
    },
    Layout {
        label: "2 outputs (halves of one file)",
        monitors: 2,
        show: Some(|wide, _| {
            format!(
                "[[output]]\nname = \"left\"\nmonitor = 1\ncrop = [0, 0, 640, 360]\n\
                 [[output]]\nname = \"right\"\nmonitor = 2\ncrop = [640, 0, 640, 360]\n\
                 [[song]]\nvideo = \"{}\"\n",
                wide.display()
            )
        }),
    },
    Layout {
        label: "3 outputs (halves + another file)",
        monitors: 3,
        show: Some(|wide, demo| {
            format!(
                "[[output]]\nname = \"left\"\nmonitor = 1\ncrop = [0, 0, 640, 360]\n\
                 [[output]]\nname = \"right\"\nmonitor = 2\ncrop = [640, 0, 640, 360]\n\
                 [[output]]\nname = \"led\"\nmonitor = 3\n\
                 [[song]]\nvideo = {{ left = \"{w}\", right = \"{w}\", led = \"{}\" }}\n",
                demo.display(),
                w = wide.display()
            )
        }),
    },
];

pub fn run(exe: &Path, trials: u32) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("playhead-bench-outputs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let demo = playhead::cli::demo_video();
    let wide = dir.join("wide.mp4");
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-i"])
        .arg(&demo)
        .args([
            "-filter_complex",
            "[0][0]hstack",
            "-t",
            "30",
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-bf",
            "0",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&wide)
        .output()
        .map_err(|e| format!("cannot run ffmpeg: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    for layout in &LAYOUTS {
        measure(exe, layout, &dir, &wide, &demo, trials)?;
    }
    println!("{}", playhead_testkit::onscreen::poller_priority());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn measure(
    exe: &Path,
    layout: &Layout,
    dir: &Path,
    wide: &Path,
    demo: &Path,
    trials: u32,
) -> Result<(), String> {
    let screen = VirtualScreen::start_monitors(700, layout.monitors, 640, 360)?;
    let port = playhead_testkit::peer::free_session_port().map_err(|e| e.to_string())?;
    let target: PathBuf = match layout.show {
        Some(text) => {
            let file = dir.join("bench.playhead.toml");
            std::fs::write(&file, text(wide, demo)).map_err(|e| e.to_string())?;
            file
        }
        None => demo.to_path_buf(),
    };
    let args: Vec<String> = [
        "--rtp-port",
        &port.to_string(),
        "--no-mdns",
        "--follow",
        "start",
        target.to_str().unwrap_or_default(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let program = Program::start(exe, &args, &screen)?;
    let full = VideoRect::fit(640, 360, 640, 360);
    let pollers: Vec<ScreenPoller> = (0..usize::from(layout.monitors))
        .map(|m| ScreenPoller::start_on_monitor(&screen, m, full, Duration::from_micros(500)))
        .collect::<Result<_, _>>()?;
    for p in &pollers {
        if !p.wait_for(Duration::from_secs(10), |n| n == Some(0)) {
            return Err(format!("{}: frame 0 never appeared", layout.label));
        }
    }
    let clock = DawClock::new(88_000_000, 30e-6);
    let mut daw =
        ScriptedPeer::new("DAW", 0xB0_0000 + u32::from(port)).map_err(|e| e.to_string())?;
    match daw.invite(
        SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(5),
    )? {
        Answer::Accepted { .. } => {}
        other => return Err(format!("invitation not accepted: {other:?}")),
    }
    for _ in 0..8 {
        super::timing::sync_clock(&mut daw, &clock)?;
    }
    let mut origin: Vec<Vec<f64>> = vec![Vec::new(); pollers.len()];
    let mut agreement = Vec::new();
    let mut missed = 0;
    for _ in 0..trials {
        super::timing::sync_clock(&mut daw, &clock)?;
        daw.send_midi_stamped(&[(0, &[0xFC])], clock.stamp_at(Instant::now()))?;
        daw.send_midi_stamped(&[(0, &[0xF2, 0, 0])], clock.stamp_at(Instant::now()))?;
        for p in &pollers {
            if !p.wait_for(Duration::from_secs(5), |n| n == Some(0)) {
                return Err("frame 0 did not come back after SPP 0".into());
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        let meant = Instant::now();
        daw.send_midi_stamped(&[(0, &[0xFA])], clock.stamp_at(meant))?;
        for p in &pollers {
            if !p.wait_for(Duration::from_secs(10), |n| n.is_some_and(|n| n > 25)) {
                return Err(format!("{}: did not play past frame 25", layout.label));
            }
        }
        let seen: Vec<Vec<(u32, Instant)>> = pollers
            .iter()
            .map(|p| changes(&p.seen_since(meant)))
            .collect();
        for n in 1..=25u32 {
            let due = f64::from(n) * 40.0;
            let at: Vec<Option<Instant>> = seen
                .iter()
                .map(|s| s.iter().find(|(k, _)| *k == n).map(|(_, t)| *t))
                .collect();
            for (m, t) in at.iter().enumerate() {
                match t {
                    Some(t) => origin[m].push(ms(*t, meant) - due),
                    None => missed += 1,
                }
            }
            for a in 0..at.len() {
                for b in a + 1..at.len() {
                    if let (Some(x), Some(y)) = (at[a], at[b]) {
                        agreement.push(ms(x, y));
                    }
                }
            }
        }
    }
    println!("{}:", layout.label);
    for (m, o) in origin.iter().enumerate() {
        println!(
            "{}",
            line(&format!("  monitor {} origin error", m + 1), o, "ms")
        );
    }
    if !agreement.is_empty() {
        println!("{}", line("  agreement between monitors", &agreement, "ms"));
    }
    println!(
        "  frames never seen: {missed} of {}",
        trials * 25 * u32::from(layout.monitors)
    );
    // Cost while playing.
    daw.send_midi_stamped(&[(0, &[0xFC])], clock.stamp_at(Instant::now()))?;
    daw.send_midi_stamped(&[(0, &[0xF2, 0, 0])], clock.stamp_at(Instant::now()))?;
    std::thread::sleep(Duration::from_millis(500));
    daw.send_midi_stamped(&[(0, &[0xFA])], clock.stamp_at(Instant::now()))?;
    std::thread::sleep(Duration::from_secs(1));
    let pid = program.pid();
    let (cpu0, t0) = (cpu_s(pid)?, Instant::now());
    std::thread::sleep(Duration::from_secs(10));
    let (cpu1, t1) = (cpu_s(pid)?, Instant::now());
    println!(
        "  cost while playing: CPU {:.0}% of one core, resident memory {:.0} MiB",
        (cpu1 - cpu0) / (t1 - t0).as_secs_f64() * 100.0,
        rss_mib(pid)?
    );
    drop(pollers);
    drop(daw);
    drop(program);
    drop(screen);
    Ok(())
}

fn cpu_s(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime: fields 14 and 15, i.e. 11 and 12 after the command's ')'.
    // SAFETY: sysconf reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok((ticks(11) + ticks(12)) / hz.max(1.0))
}

fn rss_mib(pid: u32) -> Result<f64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    let kb = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    Ok(kb / 1024.0)
}
