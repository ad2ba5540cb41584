//! OSC with a real client (liblo's oscsend and oscdump, Debian liblo-tools): each command
//! changes what is on screen, subscribers are told the state, malformed packets are ignored
//! and counted while the show goes on.

mod common;

use common::{demo, headless_frame as frame, second_song, start_mode, temp_dir};
use playhead::remote::RemoteAllow;
use playhead::screen::headless::HeadlessShow;
use playhead::show::{Show, Song};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

/// A headless two-song show (the demo, then the encore whose frame codes start at 1000) in the
/// "start" mode, with OSC on a free loopback port.
fn show_with_osc(name: &str) -> (HeadlessShow, playhead::osc::Osc) {
    let _ = env_logger::builder().is_test(true).try_init();
    let dir = temp_dir(name);
    let mut show = Show::single(demo());
    show.songs.push(Song {
        title: "encore".into(),
        video: second_song(&dir),
        number: 1,
        tempo_map: None,
        timecode_start: None,
        idle: None,
        selected_by_timecode: false,
        test_card: false,
        video_filter: None,
        per_output: Vec::new(),
    });
    let h = HeadlessShow::start_show(show, &start_mode(), 640, 360).expect("the player");
    h.wait_ready(20 * SECOND).expect("first frame");
    let osc = playhead::osc::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        RemoteAllow::default(),
        h.status.clone(),
        h.tx.clone(),
    )
    .expect("OSC");
    (h, osc)
}

/// Sends one message with liblo's oscsend.
fn oscsend(osc: &playhead::osc::Osc, address: &str, args: &[&str]) {
    let st = Command::new("oscsend")
        .args(["127.0.0.1", &osc.local.port().to_string(), address])
        .args(args)
        .status()
        .expect("oscsend (Debian package liblo-tools; packaging/quickstart.sh test installs it)");
    assert!(st.success(), "oscsend {address} {args:?}");
}

fn wait_frame(show: &HeadlessShow, what: &str, ok: impl Fn(u32) -> bool) -> u32 {
    common::wait_headless_frame(show, what, ok)
}

/// The mean brightness of the picture on screen, 0-255.
fn brightness(show: &HeadlessShow) -> f64 {
    let f = show.screen().latest();
    let mut sum = 0u64;
    for row in f.pixels.chunks(f.stride_bytes).take(f.height) {
        for px in row[..f.width * 4].chunks(4) {
            sum += u64::from(px[0]) + u64::from(px[1]) + u64::from(px[2]);
        }
    }
    sum as f64 / (f.width * f.height * 3) as f64
}

/// Waits until the published status satisfies `ok`.
fn wait_status(
    show: &HeadlessShow,
    what: &str,
    ok: impl Fn(&playhead::player::status::StatusSnapshot) -> bool,
) {
    let deadline = Instant::now() + 10 * SECOND;
    let (mut v, mut s) = show.status.latest();
    while !ok(&s) {
        assert!(Instant::now() < deadline, "never {what}: {s:?}");
        (v, s) = show.status.wait_newer(v, SECOND);
    }
}

/// Waits until the status says `state`.
fn wait_state(show: &HeadlessShow, state: &str) {
    wait_status(show, state, |s| s.state == state);
}

#[test]
fn each_osc_command_changes_what_is_on_screen() {
    let (show, osc) = show_with_osc("osc-commands");
    assert_eq!(frame(&show), Some(0));
    oscsend(&osc, "/playhead/play", &[]);
    wait_frame(&show, "playback on /playhead/play", |n| {
        (25..1000).contains(&n)
    });

    oscsend(&osc, "/playhead/stop", &[]);
    wait_state(&show, "stopped");
    // Every redraw asked after the Stop was handled shows one frame (see common::held_frame).
    common::held_frame(&show);

    oscsend(&osc, "/playhead/locate", &["f", "10.0"]);
    wait_frame(&show, "10 s on /playhead/locate", |n| n == 250);

    oscsend(&osc, "/playhead/arm", &[]);
    wait_frame(&show, "frame 0 on /playhead/arm", |n| n == 0);
    wait_state(&show, "armed");

    let lit = brightness(&show);
    oscsend(&osc, "/playhead/black", &["i", "1"]);
    let deadline = Instant::now() + 10 * SECOND;
    while brightness(&show) > 2.0 {
        assert!(Instant::now() < deadline, "never black (from {lit:.0})");
        std::thread::sleep(Duration::from_millis(20));
    }
    oscsend(&osc, "/playhead/black", &["i", "0"]);
    wait_frame(&show, "the picture back on /playhead/black 0", |n| n == 0);

    oscsend(&osc, "/playhead/song", &["i", "2"]);
    wait_frame(&show, "the encore's first frame on /playhead/song 2", |n| {
        n >= 1000
    });
    // The status is published on its own schedule, maybe after the frame was drawn: wait
    // for it rather than read it once.
    wait_status(&show, "song 2 in the status", |s| s.song.index == 2);
    assert_eq!(osc.malformed.load(Ordering::Relaxed), 0);
}

/// oscdump, its lines collected.
struct Dump {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Dump {
    fn start(port: u16) -> Dump {
        let mut child = Command::new("oscdump")
            .args(["-L", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("oscdump (Debian package liblo-tools)");
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(l);
            }
        });
        Dump { child, lines }
    }

    /// Waits for a message line ending with `message` (oscdump prints a time tag first).
    fn wait(&self, message: &str) {
        let deadline = Instant::now() + 10 * SECOND;
        loop {
            let lines = self.lines.lock().unwrap().clone();
            if lines.iter().any(|l| l.ends_with(message)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "oscdump never got '{message}': {lines:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Dump {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn subscribers_are_told_the_state_song_and_position() {
    let (show, osc) = show_with_osc("osc-feedback");
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dump = Dump::start(port);
    // oscdump listens once it has printed nothing yet; subscribe until the state arrives.
    let deadline = Instant::now() + 10 * SECOND;
    while !dump
        .lines
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.ends_with("/playhead/state s \"armed\""))
    {
        assert!(Instant::now() < deadline, "no state after subscribing");
        oscsend(&osc, "/playhead/subscribe", &["i", &port.to_string()]);
        std::thread::sleep(Duration::from_millis(300));
    }
    dump.wait("/playhead/song is 1 \"demo\"");
    oscsend(&osc, "/playhead/play", &[]);
    dump.wait("/playhead/state s \"playing\"");
    wait_frame(&show, "playback", |n| n >= 25);
    let deadline = Instant::now() + 10 * SECOND;
    while !dump.lines.lock().unwrap().iter().any(|l| {
        l.split("/playhead/position f ")
            .nth(1)
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|v| v >= 1.0)
    }) {
        assert!(Instant::now() < deadline, "no position past 1 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    oscsend(&osc, "/playhead/stop", &[]);
    dump.wait("/playhead/state s \"stopped\"");
    oscsend(&osc, "/playhead/song", &["i", "2"]);
    dump.wait("/playhead/song is 2 \"encore\"");
}

/// Waits until `n` malformed packets have been counted.
fn wait_count(osc: &playhead::osc::Osc, n: u64) {
    let deadline = Instant::now() + 10 * SECOND;
    while osc.malformed.load(Ordering::Relaxed) < n {
        assert!(
            Instant::now() < deadline,
            "{} of {n} counted",
            osc.malformed.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn malformed_osc_is_ignored_and_counted_and_the_show_goes_on() {
    let (show, osc) = show_with_osc("osc-malformed");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Random datagrams (a fixed seed) that cannot be OSC: none starts with '/' or '#'.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    const RUBBISH: u64 = 300;
    for i in 0..RUBBISH {
        let len = 1 + (i as usize * 7) % 200;
        let mut bytes = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.push((x >> 24) as u8);
        }
        bytes[0] %= b'#';
        socket.send_to(&bytes, osc.local).unwrap();
        if i % 50 == 49 {
            // In batches the socket's buffer holds: what the kernel drops is not counted.
            wait_count(&osc, i + 1);
        }
    }
    // Known OSC with the wrong arguments counts too.
    oscsend(&osc, "/playhead/song", &["s", "two"]);
    oscsend(&osc, "/playhead/nonsense", &[]);
    wait_count(&osc, RUBBISH + 2);
    assert_eq!(frame(&show), Some(0), "rubbish changes nothing on screen");
    oscsend(&osc, "/playhead/play", &[]);
    wait_frame(&show, "playback after the rubbish", |n| n >= 25);
    assert_eq!(osc.malformed.load(Ordering::Relaxed), RUBBISH + 2);
}
