//! Several outputs (`[[output]]`) on a virtual desktop of several monitors (Xorg with the dummy
//! video driver, openbox, software OpenGL): the program itself with a show file, started by a
//! scripted DAW over network MIDI on loopback. Each monitor's frame code is read off the
//! screen every 0.5 ms: the outputs show the same frame at the same moment, each on its own
//! latency offset (two projectors with overlapping crops of a wide video and an LED wall with
//! its own file, as a show has them); the overlap of two crops fades each side along the blend
//! curve; an output a song leaves out is black; an unplugged monitor leaves the others playing
//! and gets the right frame back when it returns. (How close the outputs agree is a figure of
//! the benchmark, in a release build.)

use playhead_testkit::framecode::VideoRect;
use playhead_testkit::onscreen::{first_appearances, Program, ScreenPoller, VirtualScreen};
use playhead_testkit::peer::{Answer, DawClock, ScriptedPeer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

/// One desktop at a time: each test runs an X server, a window manager and the program with
/// its outputs, and two of them together on two cores would judge the machine, not playhead.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("media/demo.mp4")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("playhead-outputs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A master made of the demo show by `graph` (its first 20 s), named `name`.
fn master(dir: &Path, name: &str, graph: &str) -> PathBuf {
    let out = dir.join(name);
    let demo = demo();
    ffmpeg(&[
        "-i",
        demo.to_str().unwrap(),
        "-filter_complex",
        graph,
        "-t",
        "20",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "25",
        "-bf",
        "0",
        "-pix_fmt",
        "yuv420p",
        out.to_str().unwrap(),
    ]);
    out
}

/// A 1280x360 master: the demo show twice side by side, so that each half carries the frame
/// code.
fn wide_master(dir: &Path) -> PathBuf {
    master(dir, "wide.mp4", "[0][0]hstack")
}

/// The demo show at half size (320x180): three outputs drawn by software GL cost a quarter of
/// what they cost at full size (at 640x360 mpv's and the outputs' drawing took three quarters
/// of both cores, and with another program busy on one core, frames were dropped).
fn small_demo(dir: &Path) -> PathBuf {
    master(dir, "small.mp4", "[0]scale=320:180")
}

/// A 704x180 master for two projectors that overlap: the demo show at half size, 64 black
/// columns, the demo show again. Crops [0, 0, 368, 180] and [336, 0, 368, 180] overlap by 32
/// columns, all in the black gap, so the blend leaves each half's frame code whole.
fn small_gapped_master(dir: &Path) -> PathBuf {
    master(
        dir,
        "gapped-small.mp4",
        "[0]scale=320:180,split[a][b];[a]pad=384:180:0:0:black[p];[p][b]hstack",
    )
}

fn ms(a: Instant, b: Instant) -> f64 {
    if a >= b {
        a.duration_since(b).as_secs_f64() * 1000.0
    } else {
        -(b.duration_since(a).as_secs_f64() * 1000.0)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty());
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// A scripted DAW joined to the program's session, its clock synchronised.
fn daw(port: u16, clock: &DawClock) -> ScriptedPeer {
    let mut daw = ScriptedPeer::new("DAW", 0x7C_0002).unwrap();
    match daw
        .invite(SocketAddr::from(([127, 0, 0, 1], port)), 5 * SECOND)
        .expect("an answer")
    {
        Answer::Accepted { .. } => {}
        other => panic!("invitation not accepted: {other:?}"),
    }
    for _ in 0..8 {
        daw.clock_sync_with(|| clock.ticks_at(Instant::now()), 2 * SECOND)
            .expect("CK1");
    }
    daw
}

fn start(screen: &VirtualScreen, show: &Path, port: u16) -> Program {
    let args: Vec<String> = [
        show.to_str().unwrap(),
        "--follow",
        "start",
        "--no-mdns",
        "--rtp-port",
        &port.to_string(),
        "--remote",
        "127.0.0.1:0",
        "--remote-token",
        TOKEN,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Program::start(Path::new(env!("CARGO_BIN_EXE_playhead")), &args, screen)
        .expect("the program armed")
}

/// The remote's port, from the program's log.
fn remote_port(program: &Program) -> u16 {
    let line = program
        .log()
        .into_iter()
        .find(|l| l.contains("remote status page on http://127.0.0.1:"))
        .expect("the remote page's address in the log");
    line.split("http://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("a port")
}

/// One request to the remote over plain HTTP on loopback: the status code and the body.
fn http(program: &Program, method: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", remote_port(program))).unwrap();
    s.set_read_timeout(Some(10 * SECOND)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (code, body)
}

/// The remote's `/api/status`.
fn status(program: &Program) -> serde_json::Value {
    serde_json::from_str(&http(program, "GET", "/api/status").1).expect("JSON")
}

/// The remote's control token in these tests.
const TOKEN: &str = "outputs-test";

/// How each output's frames stood against their due times after a Start meant at `since`:
/// frame k of a video at `fps` is due at `since + k / fps - offset`. Load delays frames, so the
/// earliest of them says where the output's timeline is: about 0 when the output is on its own
/// offset, and a whole offset away when the offset is not applied. Returns the earliest error
/// (ms) over frames `frames`.
fn earliest_error(
    seen: &[(u32, Instant)],
    since: Instant,
    fps: f64,
    offset_ms: f64,
    frames: std::ops::Range<u32>,
) -> f64 {
    let errors: Vec<f64> = frames
        .filter_map(|k| {
            let (_, at) = seen.iter().find(|(n, _)| *n == k)?;
            Some(ms(*at, since) - (f64::from(k) * 1000.0 / fps - offset_ms))
        })
        .collect();
    assert!(errors.len() >= 20, "too few frames seen: {errors:?}");
    errors.into_iter().fold(f64::INFINITY, f64::min)
}

/// Asserts that an output's earliest frame is on its due time: from 20 ms early to 35 ms
/// late, where the offsets told apart here are 80 ms (a quiet CI run on 2026-12-04 saw the
/// LED wall's earliest frame 15.4 ms early: red at a 15 ms bound; runs on a loaded machine saw
/// a projector's earliest frame 29 ms late, before and after its frames were retimed). (A frame can land a few ms early:
/// each output presents ahead of its due time by what its swaps typically cost, and under load
/// one swap is quicker than the typical; on a loaded 2-core machine three software-rendered
/// outputs of a debug build can be late for every frame of a run. How close frames land is the
/// benchmark's figure.)
fn on_its_offset(name: &str, earliest: f64) {
    assert!(
        (-20.0..=35.0).contains(&earliest),
        "{name}: its earliest frame was {earliest:+.1} ms from its due time on its own offset"
    );
}

fn monitors(count: u16) -> VirtualScreen {
    monitors_of(count, 640, 360)
}

fn monitors_of(count: u16, width: u16, height: u16) -> VirtualScreen {
    VirtualScreen::start_monitors(470 + std::process::id() % 150, count, width, height).expect(
        "a virtual desktop of several monitors (Xorg with xserver-xorg-video-dummy, openbox)",
    )
}

fn poller(screen: &VirtualScreen, monitor: usize, video: VideoRect) -> ScreenPoller {
    ScreenPoller::start_on_monitor(screen, monitor, video, Duration::from_micros(500))
        .expect("a poller")
}

fn full() -> VideoRect {
    VideoRect::fit(640, 360, 640, 360)
}

/// The screen's pixels (R, G, B) in a rectangle.
fn pixels(display: &str, x: u32, y: u32, w: u32, h: u32) -> Vec<u8> {
    let out = Command::new("import")
        .args(["-display", display, "-window", "root", "-crop"])
        .arg(format!("{w}x{h}+{x}+{y}"))
        .args(["-depth", "8", "rgb:-"])
        .output()
        .expect("run import (imagemagick)");
    assert!(out.status.success(), "screenshot failed");
    assert_eq!(out.stdout.len(), (w * h * 3) as usize);
    out.stdout
}

#[test]
fn three_outputs_show_one_frame_each_on_its_own_offset() {
    let _ = env_logger::builder().is_test(true).try_init();
    let _one = one_at_a_time();
    let dir = temp_dir("three");
    let wide = small_gapped_master(&dir);
    let led = small_demo(&dir);
    let show = dir.join("show.playhead.toml");
    std::fs::write(
        &show,
        format!(
            "name = \"three screens\"\n\
             [[output]]\nname = \"left\"\nmonitor = \"DUMMY0\"\ncrop = [0, 0, 368, 180]\n\
             [[output]]\nname = \"right\"\nmonitor = 2\ncrop = [336, 0, 368, 180]\n\
             [[output]]\nname = \"led\"\nmonitor = \"dummy2\"\noffset_ms = 80\n\
             [[song]]\nvideo = {{ left = \"{}\", right = \"{}\", led = \"{}\" }}\n",
            wide.display(),
            wide.display(),
            led.display()
        ),
    )
    .unwrap();
    let screen = monitors_of(3, 320, 180);
    let port = playhead_testkit::peer::free_session_port().expect("a free port pair");
    let program = start(&screen, &show, port);
    // Each projector shows 368 columns fitted into 320: its half of the master at 0.87 scale,
    // the left one from its left edge, the right one 48 master columns in.
    let scale = 320.0 / 368.0;
    let half = |x: f64| VideoRect {
        x: x * scale,
        y: (180.0 - 180.0 * scale) / 2.0,
        width: 320.0 * scale,
        height: 180.0 * scale,
    };
    let pollers: Vec<ScreenPoller> = vec![
        poller(&screen, 0, half(0.0)),
        poller(&screen, 1, half(48.0)),
        poller(&screen, 2, VideoRect::fit(640, 360, 320, 180)),
    ];
    for (m, p) in pollers.iter().enumerate() {
        assert!(
            p.wait_for(10 * SECOND, |n| n == Some(0)),
            "monitor {m} never showed frame 0; the program said:\n{}",
            program.log().join("\n")
        );
    }
    let clock = DawClock::new(45_000_000, 10e-6);
    let mut daw = daw(port, &clock);
    let since = Instant::now();
    daw.send_midi_stamped(&[(0, &[0xFA])], clock.stamp_at(since))
        .unwrap();
    for (m, p) in pollers.iter().enumerate() {
        assert!(
            p.wait_for(20 * SECOND, |n| n.is_some_and(|n| n >= 100)),
            "monitor {m} did not play on to frame 100; the program said:\n{}",
            program.log().join("\n")
        );
    }
    let seen: Vec<Vec<(u32, Instant)>> = pollers
        .iter()
        .map(|p| first_appearances(&p.seen_since(since)))
        .collect();
    let at = |m: usize, k: u32| seen[m].iter().find(|(n, _)| *n == k).map(|(_, t)| *t);
    // The two halves of the wide video: the same frame at the same moment.
    let mut halves = Vec::new();
    let mut led_ahead = Vec::new();
    for k in 1..100 {
        if let (Some(l), Some(r)) = (at(0, k), at(1, k)) {
            halves.push(ms(r, l).abs());
        }
        if let (Some(l), Some(led)) = (at(0, k), at(2, k)) {
            led_ahead.push(ms(l, led));
        }
    }
    assert!(
        halves.len() >= 80,
        "too few frames seen on both halves: {halves:?}; the program said:\n{}",
        program.log().join("\n")
    );
    // How close the halves are is the benchmark's figure (`playhead-bench --outputs`, p95
    // under 1 ms in a release build). A debug build drawing three outputs on two cores takes
    // longer than a frame to draw now and then (55 ms seen, in about one run in five, also
    // before the outputs' frames were retimed): one output then shows many frames a frame
    // late. What must never happen is outputs apart by more than that: on another frame of
    // the song (two frames or more), or a frame apart on most frames.
    let close = halves.iter().filter(|d| **d < 80.0).count();
    assert!(
        median(halves.clone()) < 40.0 && close * 20 >= halves.len() * 19,
        "the halves disagreed: median {:.2} ms, {close} of {} frames within 80 ms; the program \
         said:\n{}",
        median(halves.clone()),
        halves.len(),
        program.log().join("\n")
    );
    // The LED wall's offset is 80 ms larger: it shows every frame 80 ms before the projectors,
    // each on its own due time.
    assert!(
        led_ahead.len() >= 80,
        "too few frames seen on the LED wall: {led_ahead:?}"
    );
    on_its_offset("left", earliest_error(&seen[0], since, 25.0, 0.0, 1..100));
    on_its_offset("right", earliest_error(&seen[1], since, 25.0, 0.0, 1..100));
    on_its_offset("led", earliest_error(&seen[2], since, 25.0, 80.0, 1..100));
    // The status names every output, its offset and what it shows.
    let st = status(&program);
    let outputs = st["outputs"].as_array().expect("outputs in /api/status");
    let names: Vec<&str> = outputs
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["left", "right", "led"]);
    assert_eq!(outputs[2]["offset_ms"], 80.0);
    assert_eq!(outputs[0]["offset_ms"], 0.0);
    assert_eq!(outputs[1]["crop"], serde_json::json!([336, 0, 368, 180]));
    assert!(outputs[2]["video"].as_str().unwrap().ends_with("small.mp4"));
    assert!(
        outputs.iter().all(|o| o["state"] == "presenting"),
        "{outputs:?}"
    );
    assert_eq!(outputs[0]["monitor"], "monitor \"DUMMY0\"");
    // Black from the remote: every output goes black.
    assert_eq!(http(&program, "POST", "/api/black").0, 202);
    let deadline = Instant::now() + 10 * SECOND;
    loop {
        let all = pixels(&screen.display, 0, 0, 3 * 320, 180);
        if all.iter().all(|v| *v <= 8) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every output went black; the program said:\n{}",
            program.log().join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_overlap_blends_along_the_curve_and_an_output_left_out_is_black() {
    let _ = env_logger::builder().is_test(true).try_init();
    let _one = one_at_a_time();
    let dir = temp_dir("blend");
    // Grey 200 (a flat picture, light enough to read the ramp), 1280x360.
    let flat = dir.join("flat.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=0xC8C8C8:s=1280x360:r=25:d=4",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-qp",
        "0",
        "-pix_fmt",
        "yuv444p",
        flat.to_str().unwrap(),
    ]);
    let show = dir.join("show.playhead.toml");
    std::fs::write(
        &show,
        format!(
            "[[output]]\nname = \"left\"\nmonitor = 1\ncrop = [0, 0, 704, 360]\n\
             [[output]]\nname = \"right\"\nmonitor = 2\ncrop = [576, 0, 704, 360]\nblend_gamma = 1.8\n\
             [[song]]\nvideo = \"{}\"\n\
             [[song]]\nvideo = {{ left = \"{}\" }}\n\
             [[song]]\nvideo = \"{}\"\n",
            flat.display(),
            flat.display(),
            demo().display()
        ),
    )
    .unwrap();
    let screen = monitors(2);
    let port = playhead_testkit::peer::free_session_port().expect("a free port pair");
    let program = start(&screen, &show, port);
    // Each output shows 704x360 of the video fitted into 640x360: 640 x 327 at y 16.
    let scale = 640.0 / 704.0;
    let top = ((360.0 - 360.0 * scale) / 2.0_f64).round() as u32;
    let row = 180;
    let deadline = Instant::now() + 20 * SECOND;
    let (left, right) = loop {
        let left = pixels(&screen.display, 0, row, 640, 1);
        let right = pixels(&screen.display, 640, row, 640, 1);
        // Both outputs drawn, with their blends: the middle of each picture is the video's
        // grey, the overlap's outer edge is dark.
        if left[320 * 3] > 150 && right[320 * 3] > 150 && left[638 * 3] < 60 && right[3] < 60 {
            break (left, right);
        }
        assert!(
            Instant::now() < deadline,
            "the outputs never showed the picture; the program said:\n{}",
            program.log().join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(top > 0);
    let value = |px: &[u8], x: usize| {
        (f64::from(px[x * 3]) + f64::from(px[x * 3 + 1]) + f64::from(px[x * 3 + 2])) / 3.0
    };
    let grey = value(&left, 100);
    assert!(
        (190.0..=210.0).contains(&grey),
        "the picture's grey: {grey}"
    );
    // The overlap is video columns 576..704: 128 columns, 116 on screen. Left fades out to its
    // right edge (gamma 2.2), right fades in from its left edge (gamma 1.8).
    let mut checked = 0;
    for screen_x in (0..640usize).step_by(4) {
        let video_x = (screen_x as f64 + 0.5) / scale;
        if video_x > 576.0 + 4.0 && video_x < 704.0 - 4.0 {
            let t = (704.0 - video_x) / 128.0;
            let want = grey * playhead_core::outputs::blend_factor(t, 2.2);
            let got = value(&left, screen_x);
            assert!(
                (got - want).abs() <= 8.0,
                "left output, column {screen_x} (t {t:.2}): {got:.0}, the curve says {want:.0}"
            );
            checked += 1;
        }
        let video_x_right = 576.0 + video_x;
        if video_x_right > 576.0 + 4.0 && video_x_right < 704.0 - 4.0 {
            let t = (video_x_right - 576.0) / 128.0;
            let want = grey * playhead_core::outputs::blend_factor(t, 1.8);
            let got = value(&right, screen_x);
            assert!(
                (got - want).abs() <= 8.0,
                "right output, column {screen_x} (t {t:.2}): {got:.0}, the curve says {want:.0}"
            );
            checked += 1;
        }
    }
    assert!(
        checked > 40,
        "too few columns of the overlap checked: {checked}"
    );
    // Outside the overlap, untouched.
    assert!((value(&left, 300) - grey).abs() <= 4.0);
    assert!((value(&right, 400) - grey).abs() <= 4.0);

    // The operator's status overlay (Tab) shows at the top left of each output's part, past
    // its blend: white text with a black border where the picture is flat grey.
    let dark_at_top = |x: u32| {
        pixels(&screen.display, x, 18, 280, 100)
            .chunks(3)
            .filter(|p| p.iter().all(|v| *v < 60))
            .count()
    };
    let (left_x, right_x) = (5, 640 + 125);
    assert_eq!(
        dark_at_top(left_x) + dark_at_top(right_x),
        0,
        "text before Tab"
    );
    let window = Command::new("xdotool")
        .args(["search", "--name", "\\(left\\)"])
        .env("DISPLAY", &screen.display)
        .output()
        .expect("run xdotool");
    let id = String::from_utf8_lossy(&window.stdout)
        .lines()
        .next()
        .expect("the left output's window")
        .to_string();
    let pressed = Command::new("xdotool")
        .args(["key", "--window", &id, "Tab"])
        .env("DISPLAY", &screen.display)
        .status()
        .expect("run xdotool");
    assert!(pressed.success());
    let deadline = Instant::now() + 10 * SECOND;
    while dark_at_top(left_x) < 50 || dark_at_top(right_x) < 50 {
        assert!(
            Instant::now() < deadline,
            "the status overlay did not show on both outputs ({} and {} dark pixels); the \
             program said:\n{}",
            dark_at_top(left_x),
            dark_at_top(right_x),
            program.log().join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The second song shows the file on the left output only: the right one goes black, and
    // the left one has nothing to blend with.
    let clock = DawClock::new(46_000_000, 10e-6);
    let mut daw = daw(port, &clock);
    daw.send_midi_stamped(&[(0, &[0xF3, 0x01])], clock.stamp_at(Instant::now()))
        .unwrap();
    let deadline = Instant::now() + 10 * SECOND;
    loop {
        let right = pixels(&screen.display, 640, 0, 640, 360);
        let left = pixels(&screen.display, 0, row, 640, 1);
        let edge = value(&left, 636);
        if right.iter().all(|v| *v <= 8) && (edge - grey).abs() <= 4.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "song 2: the right output is not black, or the left one still fades ({edge:.0} at \
             its right edge); the program said:\n{}",
            program.log().join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The third song's video is narrower than the crops: refused, naming the output and crop.
    assert!(
        program.logged("song 3 'demo' cannot play: output \"left\": crop = [0, 0, 704, 360] is outside the video (640x360)"),
        "{}",
        program.log().join("\n")
    );
}

#[test]
fn an_unplugged_output_leaves_the_others_playing_and_gets_its_frame_back() {
    let _ = env_logger::builder().is_test(true).try_init();
    let _one = one_at_a_time();
    let dir = temp_dir("unplug");
    let wide = wide_master(&dir);
    let show = dir.join("show.playhead.toml");
    std::fs::write(
        &show,
        format!(
            "[[output]]\nname = \"left\"\nmonitor = \"DUMMY0\"\ncrop = [0, 0, 640, 360]\n\
             [[output]]\nname = \"right\"\nmonitor = \"DUMMY1\"\ncrop = [640, 0, 640, 360]\n\
             [[song]]\nvideo = \"{}\"\n",
            wide.display()
        ),
    )
    .unwrap();
    let screen = monitors(2);
    let port = playhead_testkit::peer::free_session_port().expect("a free port pair");
    let program = start(&screen, &show, port);
    let left = poller(&screen, 0, full());
    let right = poller(&screen, 1, full());
    for p in [&left, &right] {
        assert!(
            p.wait_for(10 * SECOND, |n| n == Some(0)),
            "{}",
            program.log().join("\n")
        );
    }
    let clock = DawClock::new(47_000_000, 10e-6);
    let mut daw = daw(port, &clock);
    daw.send_midi_stamped(&[(0, &[0xFA])], clock.stamp_at(Instant::now()))
        .unwrap();
    assert!(
        left.wait_for(10 * SECOND, |n| n.is_some_and(|n| n >= 25)),
        "the left output did not play (on {:?}); the program said:\n{}",
        left.current(),
        program.log().join("\n")
    );
    screen.plug(1, false).expect("unplug the right monitor");
    // The left output plays on, two seconds' worth.
    let now = left.current().unwrap_or(0);
    assert!(
        left.wait_for(10 * SECOND, |n| n.is_some_and(|n| n >= now + 50)),
        "the left output stopped when the right monitor went; the program said:\n{}",
        program.log().join("\n")
    );
    screen.plug(1, true).expect("plug the right monitor back");
    // Back on its monitor, on the frame the left one shows.
    let deadline = Instant::now() + 20 * SECOND;
    loop {
        if let (Some(l), Some(r)) = (left.current(), right.current()) {
            if l.abs_diff(r) <= 1 && r > now + 50 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the right output did not come back on the left one's frame ({:?} vs {:?}); the \
             program said:\n{}",
            right.current(),
            left.current(),
            program.log().join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_outputs_offset_set_from_the_remote_moves_that_output_alone_and_is_saved() {
    let _ = env_logger::builder().is_test(true).try_init();
    let _one = one_at_a_time();
    let dir = temp_dir("offset");
    let show = dir.join("show.playhead.toml");
    std::fs::write(
        &show,
        format!(
            "[[output]]\nname = \"projector\"\nmonitor = 1\n\
             [[output]]\nname = \"led\"\nmonitor = 2 # the LED wall\n\
             [[song]]\nvideo = \"{}\"\n",
            demo().display()
        ),
    )
    .unwrap();
    let screen = monitors(2);
    let port = playhead_testkit::peer::free_session_port().expect("a free port pair");
    let program = start(&screen, &show, port);
    let pollers: Vec<ScreenPoller> = (0..2).map(|m| poller(&screen, m, full())).collect();
    for p in &pollers {
        assert!(
            p.wait_for(10 * SECOND, |n| n == Some(0)),
            "{}",
            program.log().join("\n")
        );
    }
    let clock = DawClock::new(48_000_000, 10e-6);
    let mut daw = daw(port, &clock);
    // From a Start from the top: each output's earliest frame against its due time on
    // `offsets` (the projector's, the LED wall's).
    let check = |daw: &mut ScriptedPeer, offsets: [f64; 2]| {
        daw.send_midi_stamped(&[(0, &[0xFC])], clock.stamp_at(Instant::now()))
            .unwrap();
        daw.send_midi_stamped(&[(0, &[0xF2, 0, 0])], clock.stamp_at(Instant::now()))
            .unwrap();
        for p in &pollers {
            assert!(
                p.wait_for(10 * SECOND, |n| n.is_some_and(|n| n <= 2)),
                "{}",
                program.log().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(300));
        let since = Instant::now();
        daw.send_midi_stamped(&[(0, &[0xFA])], clock.stamp_at(since))
            .unwrap();
        for p in &pollers {
            assert!(p.wait_for(20 * SECOND, |n| n.is_some_and(|n| n >= 60)));
        }
        for (m, name) in ["projector", "led"].iter().enumerate() {
            let seen = first_appearances(&pollers[m].seen_since(since));
            on_its_offset(name, earliest_error(&seen, since, 25.0, offsets[m], 5..60));
        }
    };
    check(&mut daw, [0.0, 0.0]);
    // The camera found the LED wall 60 ms slower: its offset goes to 60 ms.
    // Accepted (202): the player applies it; the status shows it once it has.
    assert_eq!(http(&program, "POST", "/api/offset/60/led").0, 202);
    let deadline = Instant::now() + 10 * SECOND;
    while status(&program)["offset_ms"] != 60.0 {
        assert!(Instant::now() < deadline, "{}", program.log().join("\n"));
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = status(&program);
    assert_eq!(st["outputs"][1]["offset_ms"], 60.0);
    assert_eq!(st["outputs"][0]["offset_ms"], 0.0);
    assert_eq!(st["offset_ms"], 60.0);
    check(&mut daw, [0.0, 60.0]);
    assert!(program.logged("output 'led': latency offset +0.0 ms -> +60.0 ms"));
    // Saved into the LED wall's own table, its comment kept.
    assert_eq!(http(&program, "POST", "/api/offset/save/led").0, 202);
    let deadline = Instant::now() + 10 * SECOND;
    while !program.logged("output 'led': offset_ms = 60 written") {
        assert!(Instant::now() < deadline, "{}", program.log().join("\n"));
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&show).unwrap();
    assert!(
        text.contains("monitor = 2 # the LED wall\noffset_ms = 60"),
        "{text}"
    );
    // An output that is not there: said, nothing changes.
    assert_eq!(http(&program, "POST", "/api/offset/10/wall").0, 202);
    let deadline = Instant::now() + 10 * SECOND;
    while !program.logged("there is no output 'wall'") {
        assert!(Instant::now() < deadline, "{}", program.log().join("\n"));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(status(&program)["offset_ms"], 60.0);
}

#[test]
fn the_test_card_plays_whole_on_every_output_each_on_its_own_offset() {
    let _ = env_logger::builder().is_test(true).try_init();
    let _one = one_at_a_time();
    let dir = temp_dir("card");
    let show = dir.join("show.playhead.toml");
    // The card on a projector with a crop of the (absent) wide video, and on an LED wall 40 ms
    // slower: the card is drawn whole on both, whatever their crops.
    std::fs::write(
        &show,
        "bpm = 120\n\
         [[output]]\nname = \"projector\"\nmonitor = 1\ncrop = [0, 0, 320, 180]\n\
         [[output]]\nname = \"led\"\nmonitor = 2\noffset_ms = 40\n\
         [[song]]\nvideo = \"test-card\"\n",
    )
    .unwrap();
    let screen = monitors(2);
    let port = playhead_testkit::peer::free_session_port().expect("a free port pair");
    let program = start(&screen, &show, port);
    let pollers: Vec<ScreenPoller> = (0..2).map(|m| poller(&screen, m, full())).collect();
    // Armed: both hold the card whole, on the same frame (the one the LED wall's offset makes
    // the song's start: one decoded picture while paused).
    for p in &pollers {
        assert!(
            p.wait_for(10 * SECOND, |n| n.is_some_and(|n| n <= 3)),
            "an output does not show the card whole; the program said:\n{}",
            program.log().join("\n")
        );
    }
    assert_eq!(pollers[0].current(), pollers[1].current());
    let clock = DawClock::new(49_000_000, 10e-6);
    let mut daw = daw(port, &clock);
    // The first frames cost the software renderer most (its shaders are compiled): a Start
    // once they are drawn.
    std::thread::sleep(SECOND);
    let since = Instant::now();
    daw.send_midi_stamped(&[(0, &[0xFA])], clock.stamp_at(since))
        .unwrap();
    for p in &pollers {
        assert!(
            p.wait_for(20 * SECOND, |n| n.is_some_and(|n| n >= 150)),
            "{}",
            program.log().join("\n")
        );
    }
    let seen: Vec<Vec<(u32, Instant)>> = pollers
        .iter()
        .map(|p| first_appearances(&p.seen_since(since)))
        .collect();
    // The projector (offset 0) shows each frame at its due time, from pictures kept back 40 ms
    // after the LED wall's; the LED wall shows them 40 ms earlier.
    let fps = 60.0;
    on_its_offset(
        "projector",
        earliest_error(&seen[0], since, fps, 0.0, 10..150),
    );
    on_its_offset("led", earliest_error(&seen[1], since, fps, 40.0, 10..150));
}

#[test]
fn an_output_whose_monitor_is_plugged_in_after_start_goes_there() {
    let _ = env_logger::builder().is_test(true).try_init();
    let _one = one_at_a_time();
    let dir = temp_dir("late");
    let show = dir.join("show.playhead.toml");
    std::fs::write(
        &show,
        format!(
            "[[output]]\nname = \"projector\"\nmonitor = \"DUMMY0\"\n\
             [[output]]\nname = \"led\"\nmonitor = \"DUMMY1\"\n\
             [[song]]\nvideo = \"{}\"\n",
            demo().display()
        ),
    )
    .unwrap();
    let screen = monitors(2);
    // The LED processor boots after the laptop: its monitor is not there at start.
    screen.plug(1, false).expect("unplug the second monitor");
    let port = playhead_testkit::peer::free_session_port().expect("a free port pair");
    let program = start(&screen, &show, port);
    assert!(
        program.logged("output 'led': there is no monitor \"DUMMY1\""),
        "{}",
        program.log().join("\n")
    );
    let projector = poller(&screen, 0, full());
    assert!(
        projector.wait_for(10 * SECOND, |n| n == Some(0)),
        "{}",
        program.log().join("\n")
    );
    screen.plug(1, true).expect("plug the second monitor in");
    let led = poller(&screen, 1, full());
    let clock = DawClock::new(50_000_000, 10e-6);
    let mut daw = daw(port, &clock);
    daw.send_midi_stamped(&[(0, &[0xFA])], clock.stamp_at(Instant::now()))
        .unwrap();
    // The LED wall's window goes fullscreen on its monitor and plays there, with the
    // projector's frames.
    let deadline = Instant::now() + 20 * SECOND;
    loop {
        if let (Some(p), Some(l)) = (projector.current(), led.current()) {
            if p > 25 && p.abs_diff(l) <= 1 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the LED wall's output never came onto its monitor ({:?} there, {:?} on the \
             projector); the program said:\n{}",
            led.current(),
            projector.current(),
            program.log().join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
