//! Session places on real UDP sockets on loopback: a DAW that vanishes without BY and comes
//! back, a hundred times, with a new SSRC from the same address, from new ports under the same
//! name, or as a stranger into a session that 16 silent peers fill. Every time it must be back
//! (OK, and its MIDI at the player's channel) within a second: a DAW refused by a full session
//! is a missed cue.

use crossbeam_channel::{Receiver, RecvTimeoutError};
use playhead::player::PlayerInput;
use playhead::sources::network::{Network, NetworkOptions};
use playhead_core::parse::MidiEvent;
use playhead_testkit::peer::{Answer, ScriptedPeer};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The session's limit (its default).
const MAX_PEERS: usize = 16;

/// Silence after which a full session gives a newcomer the place of the peer silent longest;
/// the program's 10 s, shortened so a hundred cycles take seconds.
const MAKE_ROOM_AFTER: Duration = Duration::from_millis(200);

/// How soon a returning DAW must be back in the session.
const BACK_WITHIN: Duration = Duration::from_secs(1);

const CYCLES: u16 = 100;

/// Cycles from here on run in a session that 16 silent peers filled first.
const FILLED_FROM_CYCLE: u16 = 50;

/// One place in the session, as the test expects the session to hold it.
struct Entry {
    ssrc: u32,
    name: String,
    control: SocketAddr,
    /// No earlier than the session last heard this peer: the moment the test saw the session's
    /// answer to it (an OK, or its MIDI at the player's channel).
    heard_by: Instant,
}

struct Harness {
    net: Network,
    rx: Receiver<PlayerInput>,
    /// What the session must hold, in the order the peers were last heard.
    expected: Vec<Entry>,
    next_ssrc: u32,
    /// Peers that vanished: silent, but their sockets stay open so no newcomer is given their
    /// ports, as a frozen machine keeps its address.
    vanished: Vec<ScriptedPeer>,
}

impl Harness {
    fn start() -> Harness {
        let _ = env_logger::builder().is_test(true).try_init();
        let (tx, rx) = crossbeam_channel::unbounded();
        let options = NetworkOptions {
            rtp_port: 0,
            no_mdns: true,
            session_name: Some("playhead under test".into()),
            make_room_after_silence: MAKE_ROOM_AFTER,
            ..NetworkOptions::default()
        };
        let net = Network::start(&options, tx).expect("start network MIDI");
        Harness {
            net,
            rx,
            expected: Vec::new(),
            next_ssrc: 0x5107_0001,
            vanished: Vec::new(),
        }
    }

    fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.net.control_port()))
    }

    fn new_ssrc(&mut self) -> u32 {
        self.next_ssrc += 1;
        self.next_ssrc
    }

    fn peer(&mut self, name: &str) -> ScriptedPeer {
        let ssrc = self.new_ssrc();
        ScriptedPeer::new(name, ssrc).expect("bind a peer on loopback")
    }

    /// Invites the session as `peer` and, with `cue`, sends a Song Position carrying it; checks
    /// that the OK and the MIDI come within [`BACK_WITHIN`] and that the session now holds
    /// exactly the places expected.
    fn join(&mut self, peer: &mut ScriptedPeer, what: &str, cue: Option<u16>) {
        let control = peer.control_address();
        // The session's rules: the same address, or the same name from the same host (all of
        // loopback is one host), is the same program restarted.
        let replaced: Vec<u32> = self
            .expected
            .iter()
            .filter(|e| e.control == control || e.name == peer.name())
            .map(|e| e.ssrc)
            .collect();
        self.expected.retain(|e| !replaced.contains(&e.ssrc));
        if self.expected.len() >= MAX_PEERS {
            // The place of the peer heard longest ago is given away once it has been silent
            // long enough. Waiting for that moment is a precondition, not a guess: the session
            // heard it no later than `heard_by`, on the same monotonic clock.
            let oldest = self.expected.remove(0);
            let ready = oldest.heard_by + MAKE_ROOM_AFTER + Duration::from_millis(1);
            if let Some(wait) = ready.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }

        let asked = Instant::now();
        match peer.invite(self.address(), BACK_WITHIN) {
            Ok(Answer::Accepted { .. }) => {}
            other => panic!(
                "{what}: not accepted: {other:?}; the session holds {:?}",
                self.held()
            ),
        }
        let mut heard_by = Instant::now();
        if let Some(sixteenths) = cue {
            let spp = [0xF2, (sixteenths & 0x7F) as u8, (sixteenths >> 7) as u8];
            peer.send_midi(&[&spp]).expect("send MIDI");
            self.wait_song_position(sixteenths, asked + BACK_WITHIN, what);
            heard_by = Instant::now();
        }
        assert!(
            asked.elapsed() <= BACK_WITHIN,
            "{what}: back only after {:?}",
            asked.elapsed()
        );
        self.expected.push(Entry {
            ssrc: peer.ssrc(),
            name: peer.name().to_string(),
            control,
            heard_by,
        });

        let mut held: Vec<u32> = self.net.peers().iter().map(|p| p.id.0).collect();
        let mut want: Vec<u32> = self.expected.iter().map(|e| e.ssrc).collect();
        held.sort_unstable();
        want.sort_unstable();
        assert_eq!(held, want, "{what}: the session holds the wrong peers");
    }

    /// The session's peers as names and SSRCs, for failure messages.
    fn held(&self) -> Vec<String> {
        self.net
            .peers()
            .iter()
            .map(|p| format!("'{}' {}", p.name, p.id))
            .collect()
    }

    fn wait_song_position(&self, sixteenths: u16, deadline: Instant, what: &str) {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(PlayerInput::Midi(m)) if m.event == MidiEvent::SongPosition { sixteenths } => {
                    return
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{what}: its MIDI did not reach the player within {BACK_WITHIN:?}")
                }
                Err(RecvTimeoutError::Disconnected) => panic!("the session stopped"),
            }
        }
    }
}

#[test]
fn a_daw_that_vanishes_and_returns_a_hundred_times_is_always_back_within_a_second() {
    let mut h = Harness::start();
    let mut daw = h.peer("Live");
    h.join(&mut daw, "the first join", Some(0));

    for cycle in 0..CYCLES {
        if cycle == FILLED_FROM_CYCLE {
            // Sixteen peers join and fall silent: the session is full of them.
            for k in 0..MAX_PEERS {
                let mut filler = h.peer(&format!("silent {k}"));
                h.join(&mut filler, &format!("silent peer {k}"), None);
                h.vanished.push(filler);
            }
        }
        // The DAW vanishes (no BY) and comes back.
        let kind = if cycle < FILLED_FROM_CYCLE {
            cycle % 2
        } else {
            cycle % 3
        };
        let what = match kind {
            0 => {
                let ssrc = h.new_ssrc();
                daw.restart_as(ssrc);
                format!("cycle {cycle}: back from the same address with a new SSRC")
            }
            1 => {
                let name = daw.name().to_string();
                let old = std::mem::replace(&mut daw, h.peer(&name));
                h.vanished.push(old);
                format!("cycle {cycle}: back from new ports under the same name")
            }
            _ => {
                let old = std::mem::replace(&mut daw, h.peer(&format!("Live {cycle}")));
                h.vanished.push(old);
                format!("cycle {cycle}: back as a stranger into a full session")
            }
        };
        h.join(&mut daw, &what, Some(cycle + 1));
    }
}
