//! Network MIDI through real UDP sockets on loopback: a scripted participant plays the DAW
//! machine (invites, sends RTP-MIDI, loses packets, says goodbye, sends rubbish) and every
//! assertion is about what the audience would see, read from the demo show's frame code in
//! the headless player's frames, or about what the other machine would be told.
//!
//! Nothing here leaves the machine: sessions run with mDNS off and peers live on 127.0.0.0/8.
//! The last test runs the whole program on a virtual X desktop and reads the screen.

mod common;

use common::{held_frame, notices_until, wait_headless_frame as wait_frame};
use playhead::player::Notice;
use playhead::screen::headless::HeadlessShow;
use playhead::sources::network::{Network, NetworkOptions};
use playhead::transport::Cue;
use playhead_core::network::packet::{Exchange, SessionCommand};
use playhead_testkit::peer::{Answer, JournalState, ScriptedPeer};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);
const SPP_0: &[u8] = &[0xF2, 0x00, 0x00];
const START: &[u8] = &[0xFA];
const STOP: &[u8] = &[0xFC];

/// A headless player in the "start" follow mode (SPP 0 arms, Start plays, Stop holds).
fn show() -> HeadlessShow {
    let _ = env_logger::builder().is_test(true).try_init();
    common::headless_demo(&common::start_mode())
}

fn options(configure: impl FnOnce(&mut NetworkOptions)) -> NetworkOptions {
    let mut o = NetworkOptions {
        rtp_port: 0,
        no_mdns: true,
        session_name: Some("playhead under test".into()),
        ..NetworkOptions::default()
    };
    configure(&mut o);
    o
}

fn network(show: &HeadlessShow) -> Network {
    Network::start(&options(|_| {}), show.tx.clone()).expect("start network MIDI")
}

fn address(net: &Network) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], net.control_port()))
}

/// Waits for a cue matching `want`; returns the latency the player measured from the
/// datagram's receipt.
fn wait_cue(show: &HeadlessShow, want: impl Fn(&Cue) -> bool) -> Duration {
    common::wait_cue(show, want).1
}

fn is_play(c: &Cue) -> bool {
    matches!(c, Cue::Play | Cue::PlayFromTop)
}

fn joined(peer: &mut ScriptedPeer, net: &Network) -> String {
    match peer.invite(address(net), 10 * SECOND).expect("an answer") {
        Answer::Accepted { name, .. } => name,
        other => panic!("invitation not accepted: {other:?}"),
    }
}

fn wait_peers(net: &Network, n: usize) {
    let deadline = Instant::now() + 20 * SECOND;
    while net
        .peers()
        .iter()
        .filter(|p| p.data_address.is_some())
        .count()
        != n
    {
        assert!(
            Instant::now() < deadline,
            "expected {n} joined peers, have {:?}",
            net.peers()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn invited_by_a_daw_the_video_plays_on_start_and_holds_on_stop() {
    let show = show();
    let net = network(&show);
    let mut daw = ScriptedPeer::new("Live", 0x1111_0001).unwrap();
    assert_eq!(joined(&mut daw, &net), "playhead under test");
    wait_peers(&net, 1);
    assert_eq!(net.peers()[0].name, "Live");

    // The DAW presses play from the top: SPP 0 and Start in one packet.
    assert_eq!(held_frame(&show), 0, "frame 0 before Start");
    daw.send_midi(&[SPP_0, START]).unwrap();
    let latency = wait_cue(&show, is_play);
    // Measured from the datagram's receipt to mpv having the command: milliseconds on an idle
    // machine. A measurement; the bound only catches a design that waits for something.
    eprintln!("measurement: datagram to mpv command {latency:?}");
    assert!(latency < SECOND, "{latency:?}");
    wait_frame(&show, "playback", |n| n >= 10);

    // Stop holds the frame.
    daw.send_midi(&[STOP]).unwrap();
    wait_cue(&show, |c| *c == Cue::Hold);
    let held = held_frame(&show);
    assert!(held >= 10, "Stop must hold the frame, held {held}");

    // Back to the top re-arms on frame 0.
    daw.send_midi(&[SPP_0]).unwrap();
    wait_frame(&show, "frame 0 after SPP 0", |n| n == 0);
}

#[test]
fn clock_sync_is_answered_and_receiver_feedback_sent() {
    let show = show();
    let net = network(&show);
    let mut daw = ScriptedPeer::new("Live", 0x1111_0002).unwrap();
    joined(&mut daw, &net);
    let round_trip = daw.clock_sync(20 * SECOND).expect("CK1");
    // A measurement on loopback; the bound only catches an answer left waiting.
    eprintln!("measurement: CK0 to CK1 round trip {round_trip:?}");
    assert!(round_trip < SECOND, "{round_trip:?}");
    // Our CK2 closes the exchange: the session then knows the latency.
    let deadline = Instant::now() + 20 * SECOND;
    while net.peers()[0].latency_us.is_none() {
        assert!(Instant::now() < deadline, "CK2 not taken");
        std::thread::sleep(Duration::from_millis(5));
    }

    for _ in 0..5 {
        daw.send_midi(&[&[0xF8]]).unwrap();
    }
    // RS names the last sequence number received (the peer started at 1).
    let deadline = Instant::now() + 20 * SECOND;
    loop {
        match daw.recv_control(deadline.saturating_duration_since(Instant::now())) {
            Some(SessionCommand::ReceiverFeedback(rs)) if rs.sequence_number == 5 => break,
            Some(_) => {}
            None => panic!("no receiver feedback for sequence number 5"),
        }
    }
}

#[test]
fn repeated_invitations_are_answered_again_and_make_one_peer() {
    let show = show();
    let net = network(&show);
    let mut daw = ScriptedPeer::new("Mac", 0x1111_0003).unwrap();
    for _ in 0..4 {
        // A Mac resends IN every second until it hears back: each gets its OK.
        joined(&mut daw, &net);
    }
    wait_peers(&net, 1);
    assert_eq!(net.peers().len(), 1);
    daw.send_midi(&[START]).unwrap();
    wait_frame(&show, "playback", |n| n >= 5);
}

#[test]
fn a_refused_peer_gets_no_and_an_allowed_one_still_joins() {
    let show = show();
    let net = Network::start(
        &options(|o| o.allow = vec!["127.0.0.2/32".into(), "10.0.0.0/8".into()]),
        show.tx.clone(),
    )
    .unwrap();
    let mut stranger = ScriptedPeer::new("Stranger", 0x2222_0001).unwrap();
    for _ in 0..3 {
        assert_eq!(
            stranger.invite(address(&net), 10 * SECOND).unwrap(),
            Answer::Rejected {
                on_data_port: false
            }
        );
    }
    // MIDI from a refused peer goes nowhere.
    stranger.send_midi(&[START]).unwrap();

    let mut friend =
        ScriptedPeer::bind("Friend", 0x2222_0002, IpAddr::from([127, 0, 0, 2])).unwrap();
    joined(&mut friend, &net);
    wait_peers(&net, 1);
    assert_eq!(net.peers()[0].name, "Friend");
    // The friend's Start reaches the same data socket after the stranger's: had the
    // stranger's played, the video would be playing already and this one would restart it
    // from the top, after a cue of its own.
    friend.send_midi(&[START]).unwrap();
    let seen = notices_until(
        &show,
        "the friend's Start",
        |n| matches!(n, Notice::Cued { cue, .. } if is_play(cue)),
    );
    let cues: Vec<_> = seen
        .iter()
        .filter_map(|n| match n {
            Notice::Cued { cue, .. } => Some(*cue),
            _ => None,
        })
        .collect();
    assert_eq!(
        cues,
        [Cue::Play],
        "the stranger's Start must not play; the friend's plays from the armed frame"
    );
    wait_frame(&show, "playback", |n| n >= 5);
}

#[test]
fn an_allowed_host_name_is_resolved_and_admitted() {
    let show = show();
    let net = Network::start(
        &options(|o| o.allow = vec!["localhost".into()]),
        show.tx.clone(),
    )
    .unwrap();
    // The name is looked up in the background: until then nobody is admitted, so ask again
    // as a Mac would.
    let mut daw = ScriptedPeer::new("Live", 0x2222_0003).unwrap();
    let deadline = Instant::now() + 20 * SECOND;
    while let Answer::Rejected { .. } = daw.invite(address(&net), 10 * SECOND).unwrap() {
        assert!(Instant::now() < deadline, "localhost never admitted");
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_peers(&net, 1);
    let mut other = ScriptedPeer::bind("Other", 0x2222_0004, IpAddr::from([127, 0, 0, 9])).unwrap();
    assert_eq!(
        other.invite(address(&net), 10 * SECOND).unwrap(),
        Answer::Rejected {
            on_data_port: false
        }
    );
}

#[test]
fn rubbish_from_one_peer_does_not_disturb_another() {
    let show = show();
    let net = network(&show);
    let mut vandal = ScriptedPeer::new("Vandal", 0x3333_0001).unwrap();
    let mut daw = ScriptedPeer::new("Live", 0x3333_0002).unwrap();
    joined(&mut vandal, &net);
    joined(&mut daw, &net);
    wait_peers(&net, 2);

    let vandal_thread = std::thread::spawn(move || {
        let mut rng = playhead_core::rng::Rng::seeded(0x1234_5678_9ABC_DEF1);
        let sizes = [0usize, 1, 2, 3, 4, 12, 13, 16, 36, 100, 1500, 9000, 65_507];
        let mut on_data_port = 0usize;
        for i in 0..4_000u32 {
            let len = sizes[i as usize % sizes.len()];
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            match i % 4 {
                // RTP-MIDI from the vandal, a joined peer, with a random body. Whatever of it
                // decodes is MIDI from a member of the session and is passed on, so it carries
                // no system messages (transport, time code, reset) but clock: this test is about the rubbish, not about two DAWs
                // fighting over the transport.
                0 if len >= 13 => {
                    for b in &mut bytes {
                        if *b >= 0xF0 {
                            *b = 0xF8;
                        }
                    }
                    bytes[..2].copy_from_slice(&[0x80, 0x61]);
                    bytes[8..12].copy_from_slice(&0x3333_0001u32.to_be_bytes());
                    // No recovery journal either: a random one may well say "Start".
                    bytes[12] &= !0x40;
                }
                // Looks like a session command.
                1 if len >= 4 => bytes[..2].copy_from_slice(&[0xFF, 0xFF]),
                // Claims to be the DAW on the data port (another SSRC's packets from the
                // wrong address must not count as the DAW's).
                2 if len >= 13 => {
                    bytes[..2].copy_from_slice(&[0x80, 0x61]);
                    bytes[8..12].copy_from_slice(&0x3333_0002u32.to_be_bytes());
                    bytes[2..4].copy_from_slice(&[0xFF, 0xF0]);
                }
                _ => {}
            }
            if i % 2 == 0 {
                let _ = vandal.send_data(&bytes);
                on_data_port += len;
            } else {
                let _ = vandal.send_control(&bytes);
            }
            // The rubbish must reach the session, not overflow the data port's socket buffer
            // in the kernel (about 200 KiB), where the DAW's Start would be dropped before
            // playhead ever saw it: on a loaded machine the session's thread may not read for
            // a while. A clock sync answered means the session has read every datagram sent
            // to the data port before it, so the flood is sent at the pace it is read.
            if on_data_port >= 32 * 1024 {
                vandal
                    .clock_sync(20 * SECOND)
                    .expect("the session answers clock sync amid the rubbish");
                on_data_port = 0;
            }
        }
    });

    // Meanwhile the DAW plays, stops and plays again; every transport message arrives.
    daw.send_midi(&[SPP_0, START]).unwrap();
    wait_cue(&show, is_play);
    wait_frame(&show, "playback", |n| n >= 5);
    daw.send_midi(&[STOP]).unwrap();
    wait_cue(&show, |c| *c == Cue::Hold);
    daw.send_midi(&[SPP_0]).unwrap();
    wait_frame(&show, "frame 0", |n| n == 0);
    daw.send_midi(&[START]).unwrap();
    wait_cue(&show, is_play);
    vandal_thread.join().unwrap();

    let peers = net.peers();
    let live = peers
        .iter()
        .find(|p| p.name == "Live")
        .expect("DAW still there");
    assert_eq!(live.packets_received, 4);
    assert_eq!((live.packets_lost, live.late_packets), (0, 0));
    // The session still takes newcomers.
    let mut late = ScriptedPeer::new("Late", 0x3333_0003).unwrap();
    joined(&mut late, &net);
}

#[test]
fn a_lost_stop_and_a_lost_start_are_recovered_from_the_journal() {
    let show = show();
    let net = network(&show);
    let mut daw = ScriptedPeer::new("Live", 0x4444_0001).unwrap();
    joined(&mut daw, &net);
    daw.send_midi_with_journal(
        &[SPP_0, START],
        Some(JournalState {
            running: false,
            song_position_clocks: Some(0),
        }),
    )
    .unwrap();
    wait_cue(&show, is_play);
    wait_frame(&show, "playback", |n| n >= 10);

    // The packet with Stop is lost; the next one (a clock) carries a journal saying the
    // sequencer is stopped. The video must stop.
    daw.lose_packets(1);
    daw.send_midi_with_journal(
        &[&[0xF8]],
        Some(JournalState {
            running: false,
            song_position_clocks: Some(96),
        }),
    )
    .unwrap();
    wait_cue(&show, |c| *c == Cue::Hold);
    let held = held_frame(&show);
    assert!(
        held >= 10,
        "the recovered Stop holds the frame, held {held}"
    );

    // Now SPP 0 + Start is lost; the journal of the next packet says running from the top.
    daw.lose_packets(1);
    daw.send_midi_with_journal(
        &[&[0xF8]],
        Some(JournalState {
            running: true,
            song_position_clocks: Some(0),
        }),
    )
    .unwrap();
    wait_cue(&show, is_play);
    wait_frame(&show, "playback from the top again", |n| n < held && n >= 3);
    let live = &net.peers()[0];
    assert_eq!((live.packets_lost, live.sequence_gaps), (2, 2));
}

#[test]
fn a_peer_leaves_and_comes_back_and_a_restarted_peer_is_taken_at_once() {
    let show = show();
    let net = network(&show);
    let mut daw = ScriptedPeer::new("Live", 0x5555_0001).unwrap();
    joined(&mut daw, &net);
    wait_peers(&net, 1);
    daw.bye().unwrap();
    wait_peers(&net, 0);
    assert!(net.peers().is_empty());

    // Back again, same SSRC.
    joined(&mut daw, &net);
    wait_peers(&net, 1);

    // The DAW machine's program restarts: same address, new SSRC, no BY. It replaces its
    // old self at once, and its Start plays.
    daw.restart_as(0x5555_0002);
    joined(&mut daw, &net);
    wait_peers(&net, 1);
    assert_eq!(net.peers()[0].id.0, 0x5555_0002);
    daw.send_midi(&[SPP_0, START]).unwrap();
    wait_frame(&show, "playback", |n| n >= 5);
}

/// An invitation with a new SSRC forged with the joined DAW's own address: the session asks
/// the DAW (a CK0 probe), the DAW answers, the forger is told NO and the DAW keeps its place.
#[test]
fn a_spoofed_invitation_from_the_daws_address_does_not_replace_the_daw() {
    let show = show();
    let net = network(&show);
    let mut daw = ScriptedPeer::new("Live", 0x7777_0001).unwrap();
    joined(&mut daw, &net);
    wait_peers(&net, 1);

    const FORGED_TOKEN: u32 = 0x0BAD_F00D;
    let forged = SessionCommand::Invitation(Exchange {
        initiator_token: FORGED_TOKEN,
        ssrc: 0x0BAD_0001,
        name: Some("Live".into()),
    })
    .to_bytes();
    // Sent from the DAW's own control socket: the session cannot tell it from the DAW.
    daw.send_control(&forged).unwrap();
    daw.answer_clock_sync(|| 42, 10 * SECOND)
        .expect("the session asks whether the DAW is still there before replacing it");
    let deadline = Instant::now() + 20 * SECOND;
    loop {
        match daw.recv_control(deadline.saturating_duration_since(Instant::now())) {
            Some(SessionCommand::Rejected(x)) if x.initiator_token == FORGED_TOKEN => break,
            Some(SessionCommand::Accepted(x)) if x.initiator_token == FORGED_TOKEN => {
                panic!("the forged invitation was accepted")
            }
            Some(_) => {}
            None => panic!("no answer to the forged invitation"),
        }
    }
    let held: Vec<u32> = net.peers().iter().map(|p| p.id.0).collect();
    assert_eq!(held, vec![0x7777_0001], "the DAW keeps its place");
    daw.send_midi(&[SPP_0, START]).unwrap();
    wait_cue(&show, is_play);
    wait_frame(&show, "playback", |n| n >= 5);
}

/// A flood of invitations from hundreds of ports (names of 30,000 bytes with new lines in
/// them) while the DAW is away: the moment it ends, the DAW invites again and is in within a
/// second, and its Start plays.
#[test]
fn a_returning_daw_joins_within_a_second_of_an_invitation_flood() {
    let show = show();
    let net = network(&show);
    let mut daw = ScriptedPeer::new("Live", 0x8888_0001).unwrap();
    joined(&mut daw, &net);
    wait_peers(&net, 1);
    daw.bye().unwrap();
    wait_peers(&net, 0);

    let target = address(&net);
    let flooders: Vec<UdpSocket> = (0..300)
        .map(|_| UdpSocket::bind("127.0.0.3:0").expect("bind a flooding socket"))
        .collect();
    let long_name = format!("flood\n{}", "x\r\n".repeat(10_000));
    let flood = |socket: &UdpSocket, token: u32, ssrc: u32, name: String| {
        let invitation = SessionCommand::Invitation(Exchange {
            initiator_token: token,
            ssrc,
            name: Some(name),
        })
        .to_bytes();
        let _ = socket.send_to(&invitation, target);
    };
    for round in 0..3u32 {
        for (k, socket) in flooders.iter().enumerate() {
            let name = if round == 0 && k < 20 {
                long_name.clone()
            } else {
                format!("flood {k}")
            };
            flood(socket, round, 0xF100_0000 + k as u32, name);
        }
    }
    // The flood ends with one more invitation, sent until the session answers it (OK or NO;
    // the socket's buffer may have overflowed meanwhile): all before it has been handled.
    let last = UdpSocket::bind("127.0.0.3:0").unwrap();
    last.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let deadline = Instant::now() + 20 * SECOND;
    let mut buf = [0u8; 1500];
    'answered: loop {
        assert!(
            Instant::now() < deadline,
            "the flood's last invitation was never answered"
        );
        flood(&last, 9, 0xF1FF_FFFF, "flood, last".into());
        while let Ok((n, _)) = last.recv_from(&mut buf) {
            if let Ok(SessionCommand::Accepted(x) | SessionCommand::Rejected(x)) =
                playhead_core::network::packet::decode_command(&buf[..n])
            {
                if x.initiator_token == 9 {
                    break 'answered;
                }
            }
        }
    }
    // The DAW comes back; the session takes it within a second of the flood's end.
    match daw
        .invite(target, SECOND)
        .expect("an answer within a second of the flood")
    {
        Answer::Accepted { .. } => {}
        other => panic!("the returning DAW was refused after the flood: {other:?}"),
    }
    wait_peers_named(&net, "Live");
    assert!(
        net.peers()
            .iter()
            .all(|p| p.name.len() <= 256 && !p.name.contains('\n')),
        "peer names are cleaned and cut: {:?}",
        net.peers().iter().map(|p| p.name.len()).collect::<Vec<_>>()
    );
    daw.send_midi(&[SPP_0, START]).unwrap();
    wait_cue(&show, is_play);
}

fn wait_peers_named(net: &Network, name: &str) {
    let deadline = Instant::now() + 20 * SECOND;
    while !net
        .peers()
        .iter()
        .any(|p| p.name == name && p.data_address.is_some())
    {
        assert!(
            Instant::now() < deadline,
            "'{name}' never joined: {:?}",
            net.peers()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A DAW still in a session the program no longer knows (it restarted without its table): its
/// clock sync gets no CK1 but BY on its control port, which tells an initiator to invite again;
/// once it does, its Start plays.
#[test]
fn a_daw_in_a_session_the_program_lost_is_told_bye_and_is_back_once_it_invites() {
    let show = show();
    let first = network(&show);
    let port = first.control_port();
    let mut daw = ScriptedPeer::new("Live", 0x9999_0001).unwrap();
    joined(&mut daw, &first);
    wait_peers(&first, 1);
    // This session ends (its BY is read and forgotten, as if it was lost) and another starts
    // on the same ports, knowing nothing.
    drop(first);
    while !matches!(
        daw.recv_control(10 * SECOND),
        Some(SessionCommand::End(_)) | None
    ) {}
    let net = Network::start(&options(|o| o.rtp_port = port), show.tx.clone())
        .expect("the same ports again");

    assert!(
        daw.clock_sync(SECOND).is_err(),
        "no CK1 for a peer the session does not know"
    );
    let deadline = Instant::now() + 20 * SECOND;
    loop {
        match daw.recv_control(deadline.saturating_duration_since(Instant::now())) {
            Some(SessionCommand::End(_)) => break,
            Some(_) => {}
            None => panic!("the unknown DAW was not told BY"),
        }
    }
    joined(&mut daw, &net);
    wait_peers(&net, 1);
    daw.send_midi(&[SPP_0, START]).unwrap();
    wait_cue(&show, is_play);
}

#[test]
fn as_initiator_it_joins_another_playhead_session() {
    // Two sessions in one process: the first invites the second, which is started later on
    // purpose, so the first must keep inviting until it answers.
    let port = {
        let probe = Network::start(&options(|_| {}), crossbeam_channel::unbounded().0).unwrap();
        probe.control_port()
    };
    // Stand in for the absent session on its control port and see the invitations come.
    let absent = UdpSocket::bind(("127.0.0.1", port)).expect("the probe's port is free again");
    absent.set_read_timeout(Some(20 * SECOND)).unwrap();
    let (tx_a, _rx_a) = crossbeam_channel::unbounded();
    let a = Network::start(
        &options(|o| {
            o.session_name = Some("front of house".into());
            o.rtp_connect = vec![format!("127.0.0.1:{port}")];
        }),
        tx_a,
    )
    .unwrap();
    let mut invitations = 0;
    let mut buf = [0u8; 1500];
    while invitations < 2 {
        let (n, _) = absent
            .recv_from(&mut buf)
            .expect("the initiator keeps inviting the absent session");
        if buf[..n].starts_with(&[0xFF, 0xFF, b'I', b'N']) {
            invitations += 1;
        }
    }
    drop(absent);
    let (tx_b, _rx_b) = crossbeam_channel::unbounded();
    let b = Network::start(
        &options(|o| {
            o.rtp_port = port;
            o.session_name = Some("video".into());
        }),
        tx_b,
    )
    .expect("the probe's ports are free again");
    let deadline = Instant::now() + 20 * SECOND;
    loop {
        let (pa, pb) = (a.peers(), b.peers());
        if pa
            .iter()
            .any(|p| p.name == "video" && p.data_address.is_some() && p.initiated_by_us)
            && pb
                .iter()
                .any(|p| p.name == "front of house" && p.data_address.is_some())
        {
            break;
        }
        assert!(Instant::now() < deadline, "not connected: {pa:?} / {pb:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The initiator keeps the clock: its burst of CK exchanges measures the latency.
    let deadline = Instant::now() + 20 * SECOND;
    while a.peers()[0].latency_us.is_none() {
        assert!(Instant::now() < deadline, "no clock synchronisation");
        std::thread::sleep(Duration::from_millis(20));
    }
    // B closing says goodbye; A invites it again when it comes back.
    drop(b);
    let deadline = Instant::now() + 20 * SECOND;
    while !a.peers().is_empty() {
        assert!(Instant::now() < deadline, "BY not seen: {:?}", a.peers());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn on_screen_network_midi_start_moves_the_frames() {
    let desktop = common::Desktop::start(1280, 720);
    let mut cmd = common::Playhead::command_with_network();
    cmd.env("DISPLAY", &desktop.display)
        .args(["--follow", "start", "--session-name", "stage left"])
        .arg(common::demo());
    let mut ph = common::Playhead::spawn(cmd);
    ph.wait_log("armed:", 20 * SECOND);
    let port = ph.network_port();
    desktop.wait_frame("the first frame", 20 * SECOND, |n| n == 0);

    let mut daw = ScriptedPeer::new("Live", 0x6666_0001).unwrap();
    let answer = daw
        .invite(SocketAddr::from(([127, 0, 0, 1], port)), 10 * SECOND)
        .unwrap();
    assert!(
        matches!(&answer, Answer::Accepted { name, .. } if name == "stage left"),
        "{answer:?}"
    );
    ph.wait_log("'Live' (127.0.0.1:", 20 * SECOND);
    daw.send_midi(&[SPP_0, START]).unwrap();
    let line = ph.wait_log("Start from network peer \"Live\" (127.0.0.1)", 20 * SECOND);
    assert!(line.contains("-> playing"), "{line}");
    let n = desktop.wait_frame("playback", 20 * SECOND, |n| n >= 25);
    assert!(n < 3000);
    daw.send_midi(&[STOP]).unwrap();
    ph.wait_log("-> holding the frame", 20 * SECOND);
    let held = desktop.held_frame("after Stop");
    assert!(
        held >= n,
        "Stop holds the frame it reached: {held}, was at {n}"
    );

    // Quitting says goodbye: the DAW machine's session sees BY at once, not after a timeout.
    desktop.key("q");
    ph.wait_exit(10 * SECOND).expect("q quits");
    let deadline = Instant::now() + 20 * SECOND;
    loop {
        match daw.recv_control(Duration::from_millis(200)) {
            Some(SessionCommand::End(_)) => break,
            _ => assert!(
                Instant::now() < deadline,
                "no BY from playhead when it quit"
            ),
        }
    }
}
