//! The responder side: invitations from peers, answered OK or NO by the allow-list, the SSRC
//! rules and the peer limit, and the rules that keep a place free for a DAW that comes back.
//!
//! A peer that vanishes without BY keeps its place until it times out (a minute). So that a
//! DAW restarting a few times cannot fill the session with its own ghosts and be refused, a
//! newcomer that is evidently the same program again (same address, or same name from the same
//! host, with a new SSRC) takes its old entry's place at once; and a full session gives the
//! place of the peer silent longest to a newcomer once that one has been silent for
//! [`Options::make_room_silence_us`](super::Options::make_room_silence_us).

use std::net::SocketAddr;

use super::super::packet::{Exchange, SessionCommand};
use super::peer::Peer;
use super::{log, same_host, send, LeaveReason, Level, Notice, Output, PeerId, Port, Session};

/// How many refused addresses are remembered so each is reported once.
const REFUSED_MEMORY: usize = 64;

/// The default of [`Options::make_room_silence_us`](super::Options::make_room_silence_us).
/// Short against [`PEER_TIMEOUT_US`](super::PEER_TIMEOUT_US), so a DAW refused by a full session
/// is let in within seconds rather than a minute; long enough that a peer talking to us (clock
/// sync, MIDI) is not taken for gone. The price, in a full session only: a peer idle that long
/// may lose its place to a newcomer; it is told BY, so it can invite again.
pub const MAKE_ROOM_SILENCE_US: u64 = 10_000_000;

impl Session {
    /// Drops the entries a newcomer at `from` called `name` evidently restarted from: the one
    /// at the very same address, and one of the same name on the same host (a program that
    /// came back on other ports). Its SSRC is new, or the invitation would have been a repeat.
    fn replace_restarted(
        &mut self,
        name: &str,
        from: SocketAddr,
        now_us: u64,
        out: &mut Vec<Output>,
    ) {
        while let Some(i) = self.peers.iter().position(|p| p.control == from) {
            // Its old self will not be back: the address is the newcomer's now. No BY, it would
            // reach the newcomer.
            self.remove_peer(i, LeaveReason::Replaced, now_us, out);
        }
        if name.is_empty() {
            return;
        }
        // Same host only: Macs all call their first session "Session 1", and one Mac
        // restarting must not push another out.
        while let Some(i) = self
            .peers
            .iter()
            .position(|p| p.name == name && same_host(p.control, from))
        {
            // No BY: it is gone, and were it a second program of the same name still running,
            // BY would have it invite again and push this one out in turn, for ever.
            self.remove_peer(
                i,
                LeaveReason::ReplacedByName { address: from },
                now_us,
                out,
            );
        }
    }

    /// Frees a place for a newcomer at `from` when the session is full, by dropping the peer
    /// silent longest if it has been silent long enough; otherwise says why there is none.
    fn make_room(
        &mut self,
        from: SocketAddr,
        now_us: u64,
        out: &mut Vec<Output>,
    ) -> Result<(), String> {
        while self.peers.len() >= self.options.max_peers {
            let Some((i, silent_us)) = self
                .peers
                .iter()
                .enumerate()
                .map(|(i, p)| (i, now_us.saturating_sub(p.last_heard_us)))
                .max_by_key(|&(i, silent_us)| (silent_us, std::cmp::Reverse(i)))
            else {
                return Err(format!(
                    "the session takes no peers (limit {})",
                    self.options.max_peers
                ));
            };
            if silent_us < self.options.make_room_silence_us {
                return Err(format!(
                    "the session is full ({} peers) and none has been silent for {:.1} s (the \
                     longest, {}, for {:.1} s)",
                    self.peers.len(),
                    self.options.make_room_silence_us as f64 / 1e6,
                    self.peers.get(i).map(Peer::label).unwrap_or_default(),
                    silent_us as f64 / 1e6
                ));
            }
            self.say_bye(i, out);
            self.remove_peer(
                i,
                LeaveReason::MadeRoom {
                    silent_us,
                    newcomer: from,
                },
                now_us,
                out,
            );
        }
        Ok(())
    }

    pub(super) fn on_invitation(
        &mut self,
        port: Port,
        from: SocketAddr,
        x: Exchange,
        now_us: u64,
        out: &mut Vec<Output>,
    ) {
        let name = x.name.clone().unwrap_or_default();
        if !self.options.allow.permits(from) {
            send(out, port, from, self.refusal(x.initiator_token));
            if !self.refused.contains(&from) {
                if self.refused.len() >= REFUSED_MEMORY {
                    self.refused.remove(0);
                }
                self.refused.push(from);
                out.push(Output::Notice(Notice::Refused {
                    address: from,
                    name,
                }));
            }
            return;
        }
        if x.ssrc == self.ssrc {
            send(out, port, from, self.refusal(x.initiator_token));
            log(
                out,
                Level::Warn,
                format!(
                    "refused '{name}' at {from}: it uses our own SSRC {:08x}",
                    x.ssrc
                ),
            );
            return;
        }
        let accept = SessionCommand::Accepted(self.our_exchange(x.initiator_token));
        match port {
            Port::Control => {
                if let Some(i) = self.peer_index(x.ssrc) {
                    let p = &mut self.peers[i];
                    if !same_host(p.control, from) {
                        let owner = p.label();
                        send(out, port, from, self.refusal(x.initiator_token));
                        log(
                            out,
                            Level::Warn,
                            format!("refused '{name}' at {from}: its SSRC belongs to {owner}"),
                        );
                        return;
                    }
                    // A repeated invitation (the first answer was lost or is still on its
                    // way): answer again, the same way.
                    p.control = from;
                    p.token = x.initiator_token;
                    p.last_heard_us = now_us;
                    if !name.is_empty() {
                        p.name = name;
                    }
                    send(out, port, from, accept);
                    return;
                }
                self.replace_restarted(&name, from, now_us, out);
                if let Err(why) = self.make_room(from, now_us, out) {
                    send(out, port, from, self.refusal(x.initiator_token));
                    log(
                        out,
                        Level::Warn,
                        format!("refused '{name}' at {from}: {why}"),
                    );
                    return;
                }
                let peer = Peer::new(PeerId(x.ssrc), name, from, x.initiator_token, now_us);
                log(
                    out,
                    Level::Info,
                    format!(
                        "invitation from {} accepted on the control port",
                        peer.label()
                    ),
                );
                self.peers.push(peer);
                send(out, port, from, accept);
            }
            Port::Data => {
                let Some(i) = self.peer_index(x.ssrc) else {
                    // Without the control port half we know nothing of it: it must start over.
                    send(out, port, from, self.refusal(x.initiator_token));
                    log(
                        out,
                        Level::Debug,
                        format!(
                            "refused data port invitation from {from}: no control port invitation"
                        ),
                    );
                    return;
                };
                let p = &mut self.peers[i];
                if !same_host(p.control, from) {
                    let owner = p.label();
                    send(out, port, from, self.refusal(x.initiator_token));
                    log(
                        out,
                        Level::Warn,
                        format!(
                            "refused data port invitation from {from}: its SSRC belongs to {owner}"
                        ),
                    );
                    return;
                }
                let newly_joined = p.data.is_none();
                p.data = Some(from);
                p.last_heard_us = now_us;
                let joined = Notice::PeerJoined {
                    peer: p.id,
                    name: p.name.clone(),
                    address: p.control,
                };
                send(out, port, from, accept);
                if newly_joined {
                    out.push(Output::Notice(joined));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use std::net::IpAddr;

    #[test]
    fn invitation_is_accepted_on_both_ports() {
        let mut s = session();
        let out = s.handle_control(mac_control(), &invitation(MAC_SSRC, "Mac Studio"), us(0));
        let accept = SessionCommand::Accepted(Exchange {
            initiator_token: MAC_TOKEN,
            ssrc: OUR_SSRC,
            name: Some("playhead".into()),
        });
        assert_eq!(
            sent(&out),
            vec![(Port::Control, mac_control(), accept.clone())]
        );
        assert!(notices(&out).is_empty(), "not joined before the data port");

        let out = s.handle_data(mac_data(), &invitation(MAC_SSRC, "Mac Studio"), us(10));
        assert_eq!(sent(&out), vec![(Port::Data, mac_data(), accept)]);
        assert_eq!(
            notices(&out),
            vec![Notice::PeerJoined {
                peer: PeerId(MAC_SSRC),
                name: "Mac Studio".into(),
                address: mac_control(),
            }]
        );
        let peers = s.peers();
        assert_eq!(peers.len(), 1);
        assert_eq!(peers[0].data_address, Some(mac_data()));
        assert!(!peers[0].initiated_by_us);
    }

    #[test]
    fn repeated_invitations_are_answered_again_without_a_second_peer() {
        let mut s = session();
        let mut joined = 0;
        for t in 0..3 {
            let out = s.handle_control(
                mac_control(),
                &invitation(MAC_SSRC, "Mac"),
                us(t * 1_000_000),
            );
            assert!(matches!(
                sent(&out)[..],
                [(Port::Control, _, SessionCommand::Accepted(_))]
            ));
        }
        for t in 3..6 {
            let out = s.handle_data(mac_data(), &invitation(MAC_SSRC, "Mac"), us(t * 1_000_000));
            assert!(matches!(
                sent(&out)[..],
                [(Port::Data, _, SessionCommand::Accepted(_))]
            ));
            joined += notices(&out).len();
        }
        assert_eq!(joined, 1);
        assert_eq!(s.peers().len(), 1);
    }

    #[test]
    fn session_refuses_outsiders_and_admits_them_once_the_rules_change() {
        // A session refuses outsiders with NO, and admits them once the rules change.
        let mut s = Session::new(
            "playhead",
            OUR_SSRC,
            Options {
                allow: Allow::Networks(vec![(IpAddr::from([10, 0, 0, 0]), 8)]),
                ..Options::default()
            },
        );
        let out = s.handle_control(mac_control(), &invitation(MAC_SSRC, "Mac"), us(0));
        assert!(matches!(
            sent(&out)[..],
            [(Port::Control, _, SessionCommand::Rejected(_))]
        ));
        s.set_allow(Allow::Everyone);
        let out = join(&mut s, mac_control(), MAC_SSRC, 1);
        assert_eq!(notices(&out).len(), 1);
    }

    #[test]
    fn data_port_invitation_without_control_port_is_refused() {
        let mut s = session();
        let out = s.handle_data(mac_data(), &invitation(MAC_SSRC, "Mac"), us(0));
        assert!(matches!(
            sent(&out)[..],
            [(Port::Data, _, SessionCommand::Rejected(_))]
        ));
        assert!(s.peers().is_empty());
    }

    #[test]
    fn refused_peer_gets_no_and_one_notice() {
        let options = Options {
            allow: Allow::Addresses(vec![IpAddr::from([192, 0, 2, 99])]),
            ..Options::default()
        };
        let mut s = Session::new("playhead", OUR_SSRC, options);
        let mut refused = Vec::new();
        for t in 0..12 {
            let out = s.handle_control(mac_control(), &invitation(MAC_SSRC, "Stranger"), us(t));
            assert!(matches!(
                sent(&out)[..],
                [(Port::Control, to, SessionCommand::Rejected(Exchange { initiator_token: MAC_TOKEN, ssrc: OUR_SSRC, .. }))] if to == mac_control()
            ));
            refused.extend(notices(&out));
        }
        assert_eq!(
            refused,
            vec![Notice::Refused {
                address: mac_control(),
                name: "Stranger".into()
            }]
        );
        assert!(s.peers().is_empty());

        // The allowed host, over IPv4-mapped IPv6 as a dual-stack socket reports it, gets in.
        let mapped = SocketAddr::new(
            IpAddr::V6(std::net::Ipv4Addr::new(192, 0, 2, 99).to_ipv6_mapped()),
            5004,
        );
        let out = s.handle_control(mapped, &invitation(MAC_SSRC, "Friend"), us(20));
        assert!(matches!(
            sent(&out)[..],
            [(_, _, SessionCommand::Accepted(_))]
        ));
    }

    #[test]
    fn address_list_and_peer_limit_refuse_too() {
        let options = Options {
            allow: Allow::Addresses(vec![
                IpAddr::from([192, 0, 2, 11]),
                IpAddr::from([192, 0, 2, 12]),
            ]),
            max_peers: 1,
            ..Options::default()
        };
        let mut s = Session::new("playhead", OUR_SSRC, options);
        let out = s.handle_control(addr(10, 5004), &invitation(1, "a"), us(0));
        assert!(matches!(
            sent(&out)[..],
            [(_, _, SessionCommand::Rejected(_))]
        ));
        assert_eq!(notices(&out).len(), 1);
        join(&mut s, addr(11, 5004), 2, 0);
        let out = s.handle_control(addr(12, 5004), &invitation(3, "b"), us(0));
        assert!(matches!(
            sent(&out)[..],
            [(_, _, SessionCommand::Rejected(_))]
        ));
        assert_eq!(s.peers().len(), 1);
    }

    #[test]
    fn restarted_peer_with_new_ssrc_replaces_the_old_one_at_once() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        let new_ssrc = 0x2222_2222;
        let out = join(&mut s, mac_control(), new_ssrc, 1_000_000);
        assert_eq!(
            notices(&out),
            vec![
                Notice::PeerLeft {
                    peer: PeerId(MAC_SSRC),
                    name: "Mac".into(),
                    reason: LeaveReason::Replaced
                },
                Notice::PeerJoined {
                    peer: PeerId(new_ssrc),
                    name: "Mac".into(),
                    address: mac_control()
                },
            ]
        );
        let out = s.handle_data(
            mac_data(),
            &data_packet(MAC_SSRC, 1, &[&[0xFA]]),
            us(2_000_000),
        );
        assert!(midi(&out).is_empty(), "the old SSRC is gone");
        let out = s.handle_data(
            mac_data(),
            &data_packet(new_ssrc, 1, &[&[0xFA]]),
            us(2_000_000),
        );
        assert_eq!(midi(&out), vec![(PeerId(new_ssrc), vec![0xFA])]);
    }

    /// A full session of 16 peers "peer 0" .. "peer 15" at hosts 100.. 115, joined 0.1 s apart
    /// from `start_us`, SSRC 0x100 + k.
    fn full_session(options: Options, start_us: u64) -> Session {
        let mut s = Session::new("playhead", OUR_SSRC, options);
        for k in 0..16u8 {
            let out = join_named(
                &mut s,
                addr(100 + k, 5004),
                0x100 + u32::from(k),
                &format!("peer {k}"),
                start_us + u64::from(k) * 100_000,
            );
            assert_eq!(notices(&out).len(), 1, "peer {k} joined");
        }
        s
    }

    fn left(out: &[Output]) -> Vec<(PeerId, LeaveReason)> {
        notices(out)
            .into_iter()
            .filter_map(|n| match n {
                Notice::PeerLeft { peer, reason, .. } => Some((peer, reason)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn full_session_gives_the_place_of_the_peer_silent_longest_once_silent_10_s() {
        let mut s = full_session(Options::default(), 0);
        // Peer 0 is the oldest but still talks; peer 1 (heard last at 0.1 s) is the silent one.
        s.handle_data(
            addr(100, 5005),
            &clock_sync(0x100, 0, [1, 0, 0]),
            us(5_000_000),
        );
        let newcomer = addr(200, 5004);

        // 1 µs short of 10 s of silence: NO, and nobody is dropped.
        let out = s.handle_control(
            newcomer,
            &invitation(0x200, "DAW"),
            us(100_000 + MAKE_ROOM_SILENCE_US - 1),
        );
        assert!(refused(&out));
        assert!(left(&out).is_empty());
        assert_eq!(s.peers().len(), 16);
        assert!(out.iter().any(|o| matches!(o,
            Output::Log { level: Level::Warn, message } if message.contains("full") && message.contains("'peer 1'"))));

        // At 10 s the place of peer 1 goes to the newcomer; peer 1 is told BY.
        let at_us = 100_000 + MAKE_ROOM_SILENCE_US;
        let out = join_named(&mut s, newcomer, 0x200, "DAW", at_us);
        assert_eq!(
            left(&out),
            vec![(
                PeerId(0x101),
                LeaveReason::MadeRoom {
                    silent_us: MAKE_ROOM_SILENCE_US,
                    newcomer
                }
            )]
        );
        assert!(sent(&out).iter().any(|(port, to, c)| *port == Port::Control
            && *to == addr(101, 5004)
            && matches!(c, SessionCommand::End(_))));
        assert!(notices(&out).contains(&Notice::PeerJoined {
            peer: PeerId(0x200),
            name: "DAW".into(),
            address: newcomer
        }));
        let now = ssrcs(&s);
        assert_eq!(now.len(), 16);
        assert!(!now.contains(&0x101) && now.contains(&0x100) && now.contains(&0x200));

        // The next newcomer a moment later: peer 2 has been silent 10 s minus 0.1 s: NO.
        let out = s.handle_control(addr(201, 5004), &invitation(0x201, "other"), us(at_us + 1));
        assert!(refused(&out));
        assert_eq!(s.peers().len(), 16);
    }

    #[test]
    fn the_silence_needed_to_make_room_is_an_option() {
        let options = Options {
            make_room_silence_us: 200_000,
            ..Options::default()
        };
        let mut s = full_session(options, 0);
        let out = s.handle_control(addr(200, 5004), &invitation(0x200, "DAW"), us(199_999));
        assert!(refused(&out), "peer 0 silent 199.999 ms");
        let out = s.handle_control(addr(200, 5004), &invitation(0x200, "DAW"), us(200_000));
        assert!(!refused(&out));
        assert_eq!(
            left(&out),
            vec![(
                PeerId(0x100),
                LeaveReason::MadeRoom {
                    silent_us: 200_000,
                    newcomer: addr(200, 5004)
                }
            )]
        );
    }

    #[test]
    fn a_half_done_invitation_can_lose_its_place_too() {
        let options = Options {
            max_peers: 1,
            ..Options::default()
        };
        let mut s = Session::new("playhead", OUR_SSRC, options);
        // Control port only: it never joined, but holds the one place.
        s.handle_control(addr(1, 5004), &invitation(1, "stuck"), us(0));
        let out = join_named(&mut s, addr(2, 5004), 2, "DAW", MAKE_ROOM_SILENCE_US);
        assert_eq!(ssrcs(&s), vec![2]);
        assert!(notices(&out)
            .iter()
            .all(|n| matches!(n, Notice::PeerJoined { .. })));
        assert!(out.iter().any(|o| matches!(o,
            Output::Log { level: Level::Info, message } if message.contains("'stuck'"))));
        // No BY to a peer that never joined.
        assert!(!sent(&out).iter().any(|(_, to, _)| *to == addr(1, 5004)));
    }

    #[test]
    fn peer_back_from_the_same_address_with_a_new_ssrc_gets_in_to_a_full_session_at_once() {
        let mut s = full_session(Options::default(), 0);
        // Everyone was heard a moment ago: no one could be dropped for a stranger.
        let out = join_named(&mut s, addr(107, 5004), 0x907, "peer 7 again", 1_600_000);
        assert!(!refused(&out));
        assert_eq!(left(&out), vec![(PeerId(0x107), LeaveReason::Replaced)]);
        assert!(
            !sent(&out)
                .iter()
                .any(|(_, _, c)| matches!(c, SessionCommand::End(_))),
            "no BY: the old address is the newcomer's"
        );
        let now = ssrcs(&s);
        assert_eq!(now.len(), 16);
        assert!(now.contains(&0x907) && !now.contains(&0x107));
    }

    #[test]
    fn peer_back_on_new_ports_with_the_same_name_replaces_its_old_self_at_once() {
        let mut s = full_session(Options::default(), 0);
        let back = addr(107, 6000);
        let out = join_named(&mut s, back, 0x907, "peer 7", 1_600_000);
        assert!(!refused(&out));
        assert_eq!(
            left(&out),
            vec![(PeerId(0x107), LeaveReason::ReplacedByName { address: back })]
        );
        assert!(!sent(&out)
            .iter()
            .any(|(_, _, c)| matches!(c, SessionCommand::End(_))));
        let info = s
            .peers()
            .into_iter()
            .find(|p| p.id == PeerId(0x907))
            .unwrap();
        assert_eq!(info.control_address, back);
        assert_eq!(s.peers().len(), 16);
        // Its MIDI now comes from the new data port, and the old one is not listened to.
        let out = s.handle_data(
            addr(107, 6001),
            &data_packet(0x907, 1, &[&[0xFA]]),
            us(1_700_000),
        );
        assert_eq!(midi(&out), vec![(PeerId(0x907), vec![0xFA])]);
        let out = s.handle_data(
            addr(107, 5005),
            &data_packet(0x107, 1, &[&[0xFC]]),
            us(1_700_000),
        );
        assert!(midi(&out).is_empty());
    }

    #[test]
    fn a_namesake_on_another_host_replaces_no_one() {
        // Macs all call their first session "Session 1".
        let mut s = session();
        join_named(&mut s, addr(1, 5004), 1, "Session 1", 0);
        let out = join_named(&mut s, addr(2, 5004), 2, "Session 1", 1_000);
        assert!(left(&out).is_empty());
        assert_eq!(ssrcs(&s), vec![1, 2]);
        // Nor does a namesake on another host in a full session: it gets NO.
        let mut s = full_session(Options::default(), 0);
        let out = s.handle_control(addr(200, 5004), &invitation(0x200, "peer 3"), us(1_600_000));
        assert!(refused(&out));
        assert!(left(&out).is_empty());
    }

    #[test]
    fn a_hundred_restarts_without_bye_never_lock_the_daw_out() {
        // The failure this guards against: each restart left a ghost for 61 s, and after 16 the
        // DAW got NO for up to a minute.
        let mut s = session();
        let mut now_us = 0;
        for k in 0..100u32 {
            now_us += 500_000;
            let (control, name) = if k % 2 == 0 {
                (addr(10, 5004), "Live")
            } else {
                // Back on new ports, as a program that lost its sockets.
                (addr(10, 6000 + 2 * k as u16), "Live")
            };
            let out = join_named(&mut s, control, 0x1000 + k, name, now_us);
            assert!(!refused(&out), "restart {k} refused");
            assert_eq!(s.peers().len(), 1, "restart {k} left a ghost");
            let data = data_port_of(control).unwrap();
            let out = s.handle_data(data, &data_packet(0x1000 + k, 1, &[&[0xFA]]), us(now_us));
            assert_eq!(midi(&out), vec![(PeerId(0x1000 + k), vec![0xFA])]);
        }
    }
}
