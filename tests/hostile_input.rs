//! Hostile input to a running playhead, through real sockets: one OSC datagram built to
//! overflow a decoder's stack, a flood of OSC commands, one address opening hundreds of idle
//! connections to the status page. The show must go on: the process stays up, the next
//! command still works, the page still answers everyone else, and the log stays readable.
//!
//! Every wait is for an event (a log line, an answer), never a sleep.

mod common;

use common::{connect_from, demo, Playhead};
use playhead_core::wire::osc::{nested_bundles, rosc};
use rosc::{OscMessage, OscPacket, OscType};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

/// The headless demo show with `args` (OSC, the remote), armed.
fn playhead(args: &[&str]) -> Playhead {
    let mut c = Playhead::command();
    c.arg("--headless").arg(demo()).args(args);
    let mut ph = Playhead::spawn(c);
    ph.wait_log("armed:", 30 * SECOND);
    ph
}

/// The address a start-up line names after `marker` (e.g. "OSC on UDP ").
fn address_after(ph: &mut Playhead, marker: &str) -> SocketAddr {
    let line = ph.wait_log(marker, 30 * SECOND);
    let rest = line.split(marker).nth(1).unwrap_or_default();
    let text: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect();
    text.parse()
        .unwrap_or_else(|_| panic!("no address in '{line}'"))
}

fn message(addr: &str, args: Vec<OscType>) -> Vec<u8> {
    rosc::encoder::encode(&OscPacket::Message(OscMessage {
        addr: addr.into(),
        args,
    }))
    .unwrap()
}

#[test]
fn one_datagram_of_deeply_nested_bundles_does_not_end_playhead() {
    let mut ph = playhead(&["--osc", "127.0.0.1:0"]);
    let osc = address_after(&mut ph, "OSC on UDP ");
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();

    // The datagram of the report: /playhead/play inside 2,150 bundles, 43 KB, no token.
    let attack = nested_bundles(&message("/playhead/play", vec![]), 2150);
    assert!(attack.len() > 40_000);
    client.send_to(&attack, osc).unwrap();
    ph.wait_log("OSC from 127.0.0.1", 30 * SECOND);
    assert!(
        ph.log()
            .iter()
            .any(|l| l.contains("bundles nested deeper than 8")),
        "{:#?}",
        ph.log()
    );

    // Arrays nested in a message's type tags, as deep as a datagram holds.
    let mut arrays = b"/playhead/play\0\0,".to_vec();
    arrays.extend(std::iter::repeat_n(b'[', 60_000));
    arrays.extend_from_slice(&[0, 0, 0, 0]);
    client.send_to(&arrays, osc).unwrap();
    ph.wait_log("arrays nested deeper than 8", 30 * SECOND);

    // Still up, and a command after them works.
    client
        .send_to(&message("/playhead/play", vec![]), osc)
        .unwrap();
    ph.wait_log("remote command Play from OSC from 127.0.0.1", 30 * SECOND);
    assert!(ph.is_running(), "{:#?}", ph.log());
    assert!(
        !ph.log().iter().any(|l| l.contains("overflow")),
        "{:#?}",
        ph.log()
    );
}

#[test]
fn a_flood_of_osc_commands_is_taken_at_a_bounded_rate_and_logged_sparingly() {
    let mut ph = playhead(&["--osc", "127.0.0.1:0"]);
    let osc = address_after(&mut ph, "OSC on UDP ");
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let arm = message("/playhead/arm", vec![]);
    let started = Instant::now();
    const FLOOD: usize = 3000;
    for _ in 0..FLOOD {
        client.send_to(&arm, osc).unwrap();
    }
    ph.wait_log("more commands than", 30 * SECOND);
    // A command from another address after the flood, sent until it is taken (the kernel
    // may drop datagrams while the flood fills the socket's buffer): every command of the
    // flood that was taken has been logged by then, and the flooding address has not used up
    // everyone's share.
    let desk = UdpSocket::bind("127.0.0.2:0").unwrap();
    let black = message("/playhead/black", vec![OscType::Int(1)]);
    let deadline = Instant::now() + 30 * SECOND;
    while ph.count_log("remote command Black(true) from OSC from 127.0.0.2") == 0 {
        assert!(Instant::now() < deadline, "{:#?}", ph.log());
        desk.send_to(&black, osc).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    let taken = ph.count_log("remote command Arm");
    let busy = ph.count_log("the player is busy");
    let dropped_lines = ph.count_log("more commands than");
    // One address: its burst, then 10 a second for as long as the flood and the wait took.
    let most = 16.0 + 10.0 * elapsed_s + 1.0;
    println!(
        "{FLOOD} commands: {taken} taken, {dropped_lines} lines about the rest, in {elapsed_s:.1} s"
    );
    assert!(
        (taken + busy) as f64 <= most,
        "{taken} taken and {busy} busy in {elapsed_s:.1} s"
    );
    assert!(
        dropped_lines as f64 <= 10.0 + elapsed_s + 1.0,
        "{dropped_lines} lines in {elapsed_s:.1} s"
    );
    assert!(ph.is_running());
}

/// The status code of the answer to GET `path` from `source`.
fn get_from(source: Ipv4Addr, to: SocketAddr, path: &str) -> u16 {
    let mut s = connect_from(source, to);
    s.set_read_timeout(Some(30 * SECOND)).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: playhead\r\n\r\n").as_bytes())
        .unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[test]
fn hundreds_of_idle_sockets_from_one_address_leave_the_page_up_for_others() {
    let mut ph = playhead(&["--remote", "127.0.0.1:0"]);
    let page = address_after(&mut ph, "remote status page on http://");
    let greedy = Ipv4Addr::new(127, 0, 0, 1);
    let phone = Ipv4Addr::new(127, 0, 0, 2);
    assert_eq!(get_from(phone, page, "/api/status"), 200);

    // One address opens 600 connections and sends nothing on them.
    const IDLE: usize = 600;
    let idle: Vec<TcpStream> = (0..IDLE).map(|_| connect_from(greedy, page)).collect();
    // Once the server has taken them all in, the last was refused at once: it answers.
    let mut last = idle.last().unwrap().try_clone().unwrap();
    last.set_read_timeout(Some(30 * SECOND)).unwrap();
    let mut answer = String::new();
    let _ = last.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 503") && answer.contains("from your address"),
        "the 600th idle socket: {answer:?}"
    );

    // Meanwhile another address gets the page and the API.
    assert_eq!(get_from(phone, page, "/"), 200);
    assert_eq!(get_from(phone, page, "/api/status"), 200);

    // Most of the idle ones were refused at once, not held (the held ones end at the
    // server's read timeout; each read waits for that event).
    let refused = idle
        .iter()
        .filter(|s| {
            let mut s = s.try_clone().unwrap();
            s.set_read_timeout(Some(30 * SECOND)).unwrap();
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            text.starts_with("HTTP/1.1 503")
        })
        .count();
    assert!(refused >= IDLE / 2, "{refused} of {IDLE} refused");
    assert!(ph.is_running());
    println!("{IDLE} idle sockets from one address: {refused} refused at once");
}

/// Reads a live-update stream until its first event (true) or until the server closes it
/// (false: turned away).
fn first_event(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(30 * SECOND)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        if String::from_utf8_lossy(&got).contains("\r\n\r\ndata: ") {
            return true;
        }
    }
}

#[test]
fn live_update_streams_from_one_address_are_capped_and_others_still_get_them() {
    let mut ph = playhead(&["--remote", "127.0.0.1:0"]);
    let page = address_after(&mut ph, "remote status page on http://");
    let greedy = Ipv4Addr::new(127, 0, 0, 1);
    let phone = Ipv4Addr::new(127, 0, 0, 3);
    // One address asks for 24 live-update streams and never reads past the first event (each
    // newcomer waits for the stream thread's next wake-up, so a few dozen suffice: without a
    // per-address cap all would be held, up to the 256 places of everyone).
    let mut streams = Vec::new();
    let mut held = 0;
    for _ in 0..24 {
        let mut s = connect_from(greedy, page);
        s.write_all(b"GET /api/events HTTP/1.1\r\nHost: playhead\r\n\r\n")
            .unwrap();
        if first_event(&mut s) {
            held += 1;
        }
        streams.push(s);
    }
    assert!(held <= 8, "{held} streams held by one address");
    // Another address still gets live updates.
    let mut s = connect_from(phone, page);
    s.write_all(b"GET /api/events HTTP/1.1\r\nHost: playhead\r\n\r\n")
        .unwrap();
    assert!(first_event(&mut s), "the phone gets no live updates");
    assert!(ph.is_running());
}
