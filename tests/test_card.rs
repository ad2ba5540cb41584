//! The built-in test card on a virtual X screen (Xvfb, software OpenGL): the program itself
//! with `--test-card`, started and stopped by a scripted DAW over network MIDI on loopback.
//! The frame code the card draws is read off the screen (every 0.5 ms) and its pixels with a
//! screenshot: the picture is white on the downbeat's frames, grey on the other beats', dark
//! between, exactly as the core's card says for the frame on screen; its frames follow the
//! DAW's Start, and `--offset-ms` shows them that much earlier. (How close to its due time a
//! flash lands is a figure of the benchmark, `playhead-bench --test-card`, in a release
//! build.)

use playhead_core::test_card::{Flash, TestCard};
use playhead_testkit::onscreen::{first_appearances, Program, ScreenPoller, VirtualScreen};
use playhead_testkit::peer::{Answer, DawClock, ScriptedPeer};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

/// The card at the tempo it is drawn at without --bpm: 120 BPM, 60 frames a second.
fn card() -> TestCard {
    TestCard::new(120.0, playhead::chase::position::TimeSignature::FOUR_FOUR)
}

fn ms(a: Instant, b: Instant) -> f64 {
    if a >= b {
        a.duration_since(b).as_secs_f64() * 1000.0
    } else {
        -(b.duration_since(a).as_secs_f64() * 1000.0)
    }
}

/// One pixel of the screen (R, G, B).
fn pixel(display: &str, x: u32, y: u32) -> [u8; 3] {
    let out = Command::new("import")
        .args(["-display", display, "-window", "root", "-crop"])
        .arg(format!("1x1+{x}+{y}"))
        .args(["-depth", "8", "rgb:-"])
        .output()
        .expect("run import (imagemagick)");
    assert!(out.status.success(), "screenshot failed");
    [out.stdout[0], out.stdout[1], out.stdout[2]]
}

/// A scripted DAW joined to the program's session, its clock synchronised.
fn daw(port: u16, clock: &DawClock) -> ScriptedPeer {
    let mut daw = ScriptedPeer::new("DAW", 0x7C_0001).unwrap();
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

fn start(screen: &VirtualScreen, port: u16, offset_ms: u32) -> Program {
    let args: Vec<String> = [
        "--test-card",
        "--follow",
        "start",
        "--no-mdns",
        "--rtp-port",
        &port.to_string(),
        "--offset-ms",
        &offset_ms.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Program::start(Path::new(env!("CARGO_BIN_EXE_playhead")), &args, screen)
        .expect("the program armed on the test card")
}

/// What the screen shows between the big number and the sweep, as the card's flash.
fn flash_on_screen(display: &str) -> Flash {
    // (640, 500) on the card, at half size on this screen.
    let [r, g, b] = pixel(display, 320, 250);
    let mean = (u32::from(r) + u32::from(g) + u32::from(b)) / 3;
    match mean {
        235.. => Flash::Downbeat,
        160..=225 => Flash::Beat,
        0..=40 => Flash::None,
        _ => panic!("the card's background is neither dark nor a flash: {r},{g},{b}"),
    }
}

#[test]
fn the_card_flashes_on_the_beats_and_follows_start_and_stop() {
    let _ = env_logger::builder().is_test(true).try_init();
    let screen = VirtualScreen::start(620 + std::process::id() % 150, 640, 360)
        .expect("a virtual screen (Xvfb, matchbox-window-manager)");
    let port = playhead_testkit::peer::free_session_port().expect("a free port pair");
    let program = start(&screen, port, 0);
    let poller = ScreenPoller::start(&screen, Duration::from_micros(500)).expect("a poller");
    assert!(
        poller.wait_for(10 * SECOND, |n| n == Some(0)),
        "the card's frame 0 never appeared; the program said:\n{}",
        program.log().join("\n")
    );
    // Armed on frame 0: the downbeat of bar 1.
    assert_eq!(flash_on_screen(&screen.display), Flash::Downbeat);
    let clock = DawClock::new(31_000_000, 10e-6);
    let mut daw = daw(port, &clock);
    let card = card();
    // Stopped after the second beat's flash began, between beats, and on a downbeat.
    for stop_s in [0.52, 0.76, 2.03, 1.27] {
        let meant = Instant::now();
        daw.send_midi_stamped(&[(0, &[0xFA])], clock.stamp_at(meant))
            .unwrap();
        let stop_at = meant + Duration::from_secs_f64(stop_s);
        std::thread::sleep(stop_at.saturating_duration_since(Instant::now()));
        daw.send_midi_stamped(&[(0, &[0xFC])], clock.stamp_at(stop_at))
            .unwrap();
        let due = (stop_s * card.fps()).floor() as u32;
        // The frame due at the Stop stays.
        let mut held = None;
        let deadline = Instant::now() + 10 * SECOND;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            let now = poller.current();
            if now.is_some() && now == held {
                break;
            }
            held = now;
        }
        let held = held.expect("a frame code on screen after the Stop");
        // Never a frame after the Stop's (a loaded machine may still be a few frames behind
        // when it comes: then it holds the frame it had; how close is the benchmark's).
        assert!(
            held <= due + 1 && held + 40 >= due,
            "stopped {stop_s} s in: frame {held} held, {due} was due"
        );
        let expected = card.flash(u64::from(held));
        assert_eq!(
            flash_on_screen(&screen.display),
            expected,
            "frame {held} held on screen (bar and beat {:?})",
            card.bar_beat(u64::from(held))
        );
        let played = first_appearances(&poller.seen_since(meant));
        assert!(
            played.iter().any(|(n, _)| *n >= 20),
            "the card did not play after Start: {played:?}"
        );
    }
}

#[test]
fn the_offset_shows_the_card_earlier() {
    let _ = env_logger::builder().is_test(true).try_init();
    let screen = VirtualScreen::start(780 + std::process::id() % 150, 640, 360)
        .expect("a virtual screen (Xvfb, matchbox-window-manager)");
    let card = card();
    let mut earliests = Vec::new();
    for offset_ms in [0u32, 50] {
        let port = playhead_testkit::peer::free_session_port().expect("a free port pair");
        let program = start(&screen, port, offset_ms);
        let poller = ScreenPoller::start(&screen, Duration::from_micros(500)).expect("a poller");
        assert!(poller.wait_for(10 * SECOND, |n| n == Some(0)));
        let clock = DawClock::new(47_000_000, -15e-6);
        let mut daw = daw(port, &clock);
        // With the offset the card runs that much ahead of the DAW (the frames already due
        // when the Start comes are skipped, not shown late).
        let meant = Instant::now();
        daw.send_midi_stamped(&[(0, &[0xFA])], clock.stamp_at(meant))
            .unwrap();
        assert!(
            poller.wait_for(10 * SECOND, |n| n.is_some_and(|n| n >= 70)),
            "the card did not play to frame 70; the program said:\n{}",
            program.log().join("\n")
        );
        let mut errors: Vec<f64> = first_appearances(&poller.seen_since(meant))
            .into_iter()
            .filter(|(n, _)| (10..=70).contains(n))
            .map(|(n, at)| ms(at, meant) - card.frame_time_s(u64::from(n)) * 1000.0)
            .collect();
        // A loaded machine drops many of the card's 60 frames a second (13 of 61 were seen
        // once with other tests running beside this one); a few are enough to see that none
        // comes early.
        assert!(errors.len() >= 8, "only {} frames seen", errors.len());
        errors.sort_by(f64::total_cmp);
        let (earliest, median) = (errors[0], errors[errors.len() / 2]);
        println!(
            "offset {offset_ms} ms: frames 10..70 from the DAW's time of each: earliest \
             {earliest:+.1} ms, median {median:+.1} ms (of {})",
            errors.len()
        );
        // Never a frame more than half a frame before it is due (after the offset).
        assert!(
            earliest > -(f64::from(offset_ms)) - 9.0,
            "frame shown {earliest:+.1} ms from the DAW's time with offset {offset_ms}"
        );
        earliests.push(earliest);
        daw.send_midi_stamped(&[(0, &[0xFC])], clock.stamp_at(Instant::now()))
            .unwrap();
        drop(poller);
        drop(program);
    }
    // A loaded machine can only make frames late, so the earliest frame of each run says
    // where the card is aimed: with the offset, 50 ms ahead of the DAW.
    assert!(
        earliests[1] < earliests[0] - 30.0,
        "--offset-ms 50 did not show the card earlier: earliest frames {earliests:?} ms"
    );
}

mod common;

/// The status of the program's remote, as JSON.
fn status(remote: SocketAddr) -> serde_json::Value {
    let (code, body) = common::http_from(
        std::net::Ipv4Addr::LOCALHOST,
        remote,
        "GET",
        "/api/status",
        &[],
    );
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("status JSON")
}

fn wait_song(ph: &common::Playhead, remote: SocketAddr, title: &str) -> serde_json::Value {
    let deadline = Instant::now() + 20 * SECOND;
    loop {
        let st = status(remote);
        if st["song"]["title"] == title {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "never '{title}': {st}\n{}",
            ph.log().join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_operator_calls_the_card_up_from_the_page_and_from_osc() {
    let desktop = common::Desktop::start(640, 360);
    let token = "calibrate-7";
    let mut ph = common::Playhead::spawn({
        let mut c = common::Playhead::command();
        c.env("DISPLAY", &desktop.display)
            .args(["--follow", "start", "--remote", "127.0.0.1:0"])
            .args(["--remote-token", token, "--osc", "127.0.0.1:0"])
            .arg(common::demo());
        c
    });
    let port = ph.remote_port();
    let remote = SocketAddr::from(([127, 0, 0, 1], port));
    let line = ph.wait_log("OSC on UDP 127.0.0.1:", 20 * SECOND);
    let osc: SocketAddr = line
        .split("OSC on UDP ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .expect("the OSC address");
    ph.wait_log("armed:", 20 * SECOND);
    desktop.wait_frame("the demo's first frame", 10 * SECOND, |n| n == 0);
    let demo_title = status(remote)["song"]["title"]
        .as_str()
        .unwrap()
        .to_string();

    // Without the token the page cannot call it up.
    let (code, _) = common::http_from(
        std::net::Ipv4Addr::LOCALHOST,
        remote,
        "POST",
        "/api/testcard",
        &[],
    );
    assert_eq!(code, 401);
    let bearer = format!("Authorization: Bearer {token}");
    let (code, body) = common::http_from(
        std::net::Ipv4Addr::LOCALHOST,
        remote,
        "POST",
        "/api/testcard",
        &[&bearer],
    );
    assert_eq!(code, 202, "{body}");
    let st = wait_song(&ph, remote, "Test card");
    assert_eq!(st["setlist"].as_array().map(Vec::len), Some(2), "{st}");
    ph.wait_log(
        "the test card is added to the setlist as song 2",
        5 * SECOND,
    );
    // On screen: the card's frame 0, the downbeat's white.
    let deadline = Instant::now() + 20 * SECOND;
    while flash_on_screen_lenient(&desktop.display) != Some(Flash::Downbeat) {
        assert!(Instant::now() < deadline, "the card never came on screen");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(desktop.frame_on_screen(), Some(0));

    // OSC takes it away again: back to the song before it.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let testcard = |args: Vec<rosc::OscType>| {
        let packet = rosc::encoder::encode(&rosc::OscPacket::Message(rosc::OscMessage {
            addr: "/playhead/testcard".into(),
            args,
        }))
        .unwrap();
        socket.send_to(&packet, osc).unwrap();
    };
    testcard(vec![rosc::OscType::Int(0)]);
    wait_song(&ph, remote, &demo_title);
    let deadline = Instant::now() + 20 * SECOND;
    while flash_on_screen_lenient(&desktop.display) == Some(Flash::Downbeat) {
        assert!(Instant::now() < deadline, "the card stayed on screen");
        std::thread::sleep(Duration::from_millis(100));
    }
    // And OSC calls it up once more: the same song, not a second card.
    testcard(vec![]);
    let st = wait_song(&ph, remote, "Test card");
    assert_eq!(st["setlist"].as_array().map(Vec::len), Some(2), "{st}");
}

/// Like [`flash_on_screen`], `None` for a picture that is not the card's background.
fn flash_on_screen_lenient(display: &str) -> Option<Flash> {
    let [r, g, b] = pixel(display, 320, 250);
    let mean = (u32::from(r) + u32::from(g) + u32::from(b)) / 3;
    match mean {
        235.. if r.abs_diff(b) < 10 => Some(Flash::Downbeat),
        _ => None,
    }
}
