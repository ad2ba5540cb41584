//! The DAW's time stamps through a real network-MIDI session on loopback: packets held back
//! 0-30 ms before sending (as Wi-Fi delivers them) still reach the player with the time the
//! DAW meant them, and a sender whose stamps are junk gets its receipt times.
//!
//! The scripted DAW keeps its own clock (10 kHz ticks, an offset from ours, 100 ppm fast or
//! slow), synchronises it the way a Mac does (it invites us and starts the CK exchanges, so
//! our session is the responder), or is invited by us and answers our CK0s, and stamps every
//! packet with the moment it meant, then sleeps before sending it.

use crossbeam_channel::{Receiver, RecvTimeoutError};
use playhead::player::PlayerInput;
use playhead::sources::network::{Network, NetworkOptions};
use playhead::sources::TimedEvent;
use playhead_core::network::session::PeerTiming;
use playhead_core::parse::MidiEvent;
use playhead_core::rng::Rng;
use playhead_testkit::peer::{Answer, DawClock, ScriptedPeer};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

fn network() -> (Network, Receiver<PlayerInput>) {
    let _ = env_logger::builder().is_test(true).try_init();
    let options = NetworkOptions {
        rtp_port: 0,
        no_mdns: true,
        session_name: Some("playhead under test".into()),
        ..NetworkOptions::default()
    };
    let (tx, rx) = crossbeam_channel::unbounded();
    let net = Network::start(&options, tx).expect("start network MIDI");
    (net, rx)
}

fn join(peer: &mut ScriptedPeer, net: &Network) {
    let address = SocketAddr::from(([127, 0, 0, 1], net.control_port()));
    match peer.invite(address, 2 * SECOND).expect("an answer") {
        Answer::Accepted { .. } => {}
        other => panic!("invitation not accepted: {other:?}"),
    }
}

/// The peer's timing once `ready` holds for it; the bound only stops a broken run.
fn wait_timing(net: &Network, ready: impl Fn(&PeerTiming) -> bool) -> PeerTiming {
    let deadline = Instant::now() + 5 * SECOND;
    loop {
        if let Some(t) = net.peer_timing().into_iter().map(|p| p.timing).find(&ready) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "timing never got there: {:?}",
            net.peer_timing()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The next MIDI event on the player's channel.
fn next_event(rx: &Receiver<PlayerInput>) -> TimedEvent {
    loop {
        match rx.recv_timeout(5 * SECOND) {
            Ok(PlayerInput::Midi(ev)) => return ev,
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => panic!("no MIDI reached the player"),
            Err(RecvTimeoutError::Disconnected) => panic!("the network session stopped"),
        }
    }
}

/// Signed milliseconds from `b` to `a`.
fn ms_between(a: Instant, b: Instant) -> f64 {
    if a >= b {
        (a - b).as_secs_f64() * 1e3
    } else {
        -((b - a).as_secs_f64() * 1e3)
    }
}

fn spp(position: u16) -> [u8; 3] {
    [0xF2, (position & 0x7F) as u8, (position >> 7) as u8]
}

/// Sends 60 packets of two Song Positions each, stamped by `clock` with the moment the DAW
/// meant the first and held back 2.5-32.5 ms before sending; `sync` runs every 20 packets.
/// Asserts the DAW times the player gets are within 2 ms of those moments although the
/// receipts were up to 30 ms late, and prints the figures.
fn measure(
    net: &Network,
    rx: &Receiver<PlayerInput>,
    daw: &mut ScriptedPeer,
    clock: &DawClock,
    mut sync: impl FnMut(&mut ScriptedPeer),
) {
    let mut rng = Rng::seeded(0xDA7E);
    let mut errors_ms = Vec::new();
    let mut lateness_ms = Vec::new();
    for i in 0..60u16 {
        if i % 20 == 19 {
            // Keep syncing now and then, as a DAW does during a show.
            sync(daw);
        }
        // Two commands, the second 2.5 ms after the first (its delta time counts too); the
        // packet is stamped with the first, as senders do, and sent after the second.
        let meant = Instant::now();
        let stamp = clock.ticks_at(meant) as u32;
        let (first, second) = (spp(2 * i), spp(2 * i + 1));
        std::thread::sleep(Duration::from_micros(
            2_500 + rng.range(0.0, 30_000.0) as u64,
        ));
        daw.send_midi_stamped(&[(0, &first), (25, &second)], stamp)
            .unwrap();
        for (k, delta) in [(0u16, Duration::ZERO), (1, Duration::from_micros(2_500))] {
            let ev = next_event(rx);
            assert_eq!(
                ev.event,
                MidiEvent::SongPosition {
                    sixteenths: 2 * i + k
                }
            );
            errors_ms.push(ms_between(ev.at, meant + delta).abs());
            lateness_ms.push(ms_between(ev.received, meant + delta));
            assert!(ev.at <= ev.received);
        }
    }
    let timing = wait_timing(net, |t| t.stamped_commands >= 120);
    errors_ms.sort_by(f64::total_cmp);
    lateness_ms.sort_by(f64::total_cmp);
    let median = errors_ms[errors_ms.len() / 2];
    let max = errors_ms[errors_ms.len() - 1];
    println!(
        "DAW time error: median {median:.3} ms, max {max:.3} ms; receipt was {:.1}-{:.1} ms \
         late; estimated network delay {:?} µs, jitter {:?} µs, clock ±{:?} µs",
        lateness_ms[0],
        lateness_ms[lateness_ms.len() - 1],
        timing.base_delay_us,
        timing.jitter_us,
        timing.clock_uncertainty_us
    );
    assert!(max <= 2.0, "DAW times off by up to {max:.3} ms");
    // The test means something only if the receipts really were late.
    assert!(
        lateness_ms[lateness_ms.len() - 1] >= 25.0,
        "receipts at most {:.1} ms late",
        lateness_ms[lateness_ms.len() - 1]
    );
    assert_eq!(timing.receipt_timed_commands, 0);
    let jitter_us = timing.jitter_us.expect("jitter known");
    assert!(
        jitter_us >= 15_000,
        "jitter {jitter_us} µs for 0-30 ms holds"
    );
}

#[test]
fn packets_held_back_by_the_network_reach_the_player_with_the_time_the_daw_meant() {
    let (net, rx) = network();
    let mut daw = ScriptedPeer::new("Live", 0x0DA0_0001).unwrap();
    join(&mut daw, &net);
    let clock = DawClock::new(123_456_789, 100e-6);
    for _ in 0..8 {
        daw.clock_sync_with(|| clock.ticks_at(Instant::now()), 2 * SECOND)
            .expect("CK1");
    }
    wait_timing(&net, |t| t.clock_samples >= 8);

    measure(&net, &rx, &mut daw, &clock, |daw| {
        daw.clock_sync_with(|| clock.ticks_at(Instant::now()), 2 * SECOND)
            .expect("CK1");
    });
}

#[test]
fn as_the_initiator_our_own_clock_syncs_place_the_daws_stamps() {
    // We invite the DAW (--rtp-connect) and so keep the clock synchronisation: CK0 from us,
    // CK1 from the DAW with its clock, CK2 from us.
    let mut daw = ScriptedPeer::new("Live (invited)", 0x0DA0_0003).unwrap();
    let _ = env_logger::builder().is_test(true).try_init();
    let options = NetworkOptions {
        rtp_port: 0,
        no_mdns: true,
        session_name: Some("playhead under test".into()),
        rtp_connect: vec![daw.control_address().to_string()],
        ..NetworkOptions::default()
    };
    let (tx, rx) = crossbeam_channel::unbounded();
    let net = Network::start(&options, tx).expect("start network MIDI");
    assert_eq!(
        daw.accept_invitation(5 * SECOND).unwrap(),
        "playhead under test"
    );
    let clock = DawClock::new(987_654_321, -100e-6);
    // Joined, the session sends its first CK0 at once, then one a second.
    daw.answer_clock_sync(|| clock.ticks_at(Instant::now()), 5 * SECOND)
        .expect("CK0");
    wait_timing(&net, |t| t.clock_samples >= 1);
    measure(&net, &rx, &mut daw, &clock, |_| {});
}

#[test]
fn junk_stamps_and_a_peer_without_clock_sync_get_receipt_times() {
    let (net, rx) = network();
    let mut daw = ScriptedPeer::new("pymidi", 0x0DA0_0002).unwrap();
    join(&mut daw, &net);
    // No CK yet: a perfectly good stamp still cannot be placed.
    daw.send_midi_stamped(&[(0, &[0xFA])], 5_000).unwrap();
    let ev = next_event(&rx);
    assert_eq!(ev.event, MidiEvent::Start);
    assert_eq!(ev.at, ev.received);

    let clock = DawClock::new(40_000_000, 0.0);
    daw.clock_sync_with(|| clock.ticks_at(Instant::now()), 2 * SECOND)
        .expect("CK1");
    wait_timing(&net, |t| t.clock_samples >= 1);
    // Zero, far in the past, in the future, across the wrap: all refused.
    let now = clock.ticks_at(Instant::now()) as u32;
    for stamp in [
        0,
        now.wrapping_sub(100_000),
        now.wrapping_add(5_000),
        now ^ 0x8000_0000,
    ] {
        std::thread::sleep(Duration::from_millis(20));
        daw.send_midi_stamped(&[(0, &[0xFC])], stamp).unwrap();
        let ev = next_event(&rx);
        assert_eq!(ev.event, MidiEvent::Stop);
        assert_eq!(ev.at, ev.received, "stamp {stamp:#010x} was believed");
    }
    // A good stamp after all that is believed again.
    let meant = Instant::now();
    std::thread::sleep(Duration::from_millis(15));
    daw.send_midi_stamped(&[(0, &[0xFB])], clock.ticks_at(meant) as u32)
        .unwrap();
    let ev = next_event(&rx);
    assert_eq!(ev.event, MidiEvent::Continue);
    let error_ms = ms_between(ev.at, meant).abs();
    assert!(error_ms <= 2.0, "good stamp off by {error_ms:.3} ms");
    assert!(ms_between(ev.received, meant) >= 14.0);
    let timing = wait_timing(&net, |t| t.stamped_commands >= 1);
    assert_eq!(timing.receipt_timed_commands, 5);
}
