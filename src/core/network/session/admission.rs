//! The responder side: invitations from peers, answered OK or NO by the allow-list, the SSRC
//! rules and the peer limit.

use std::net::SocketAddr;

use super::super::packet::{Exchange, SessionCommand};
use super::peer::Peer;
use super::{log, same_host, send, LeaveReason, Level, Notice, Output, PeerId, Port, Session};

/// How many refused addresses are remembered so each is reported once.
const REFUSED_MEMORY: usize = 64;

impl Session {
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
                if let Some(i) = self.peers.iter().position(|p| p.control == from) {
                    // Same address, new SSRC: the peer restarted. Its old self will not be back.
                    self.remove_peer(i, LeaveReason::Replaced, now_us, out);
                }
                if self.peers.len() >= self.options.max_peers {
                    send(out, port, from, self.refusal(x.initiator_token));
                    log(
                        out,
                        Level::Warn,
                        format!(
                            "refused '{name}' at {from}: already {} peers",
                            self.peers.len()
                        ),
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
}
