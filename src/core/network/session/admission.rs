//! The responder side: invitations from peers, answered OK or NO by the allow-list, the SSRC
//! rules and the peer limit, and the rules that keep a place free for a DAW that comes back
//! while no stranger can take a live DAW's place.
//!
//! A peer that vanishes without BY keeps its place until it times out (a minute). So that a
//! DAW restarting a few times cannot fill the session with its own ghosts and be refused, a
//! newcomer that is evidently the same program again (same address, or same name from the same
//! host, with a new SSRC) takes its old entry's place. But anyone can send an invitation from
//! any address, so the old entry is asked first: it is sent a CK0 probe, and the newcomer gets
//! its OK only when the old one stays silent for [`Options::probe_us`](super::Options) (a
//! restarted DAW's old self never answers); if the old one is heard, the newcomer is told NO.
//! Half-done invitations (control port only) never hold more than a quarter of the places and
//! go first when the session is full, oldest first, so a flood of invitations from many ports
//! cannot lock out a DAW that comes back; and a full session gives the place of the joined
//! peer silent longest to a newcomer once that one has been silent for
//! [`Options::make_room_silence_us`](super::Options::make_room_silence_us). Each source
//! address has a token bucket of invitations; beyond it they are dropped unanswered.

use std::net::SocketAddr;

use super::super::packet::{ClockSync, Exchange, SessionCommand};
use super::guard::clean_name;
use super::peer::Peer;
use super::{same_host, send, LeaveReason, Level, Notice, Output, PeerId, Port, Session};

/// How many refused addresses are remembered so each is reported once.
const REFUSED_MEMORY: usize = 64;

/// Newcomers that may wait on a probe at once; more are dropped unanswered (they ask again).
const MAX_CONTENDERS: usize = 8;

/// The default of [`Options::make_room_silence_us`](super::Options::make_room_silence_us).
/// Short against [`PEER_TIMEOUT_US`](super::PEER_TIMEOUT_US), so a DAW refused by a full session
/// is let in within seconds rather than a minute; long enough that a peer talking to us (clock
/// sync, MIDI) is not taken for gone. The price, in a full session only: a peer idle that long
/// may lose its place to a newcomer; it is told BY, so it can invite again.
pub const MAKE_ROOM_SILENCE_US: u64 = 10_000_000;

/// The default of [`Options::probe_us`](super::Options::probe_us): how long a joined peer has
/// to answer the CK0 probe (or send anything) when a newcomer with a new SSRC wants its place.
/// A LAN answers in milliseconds; a restarted DAW must still be back within a second.
pub const PROBE_US: u64 = 400_000;

/// A peer that proved alive this recently is not probed again: newcomers wanting its place
/// are told NO at once.
pub const PROVEN_ALIVE_US: u64 = 5_000_000;

/// A newcomer that would replace joined peers, waiting for their probe.
#[derive(Debug)]
pub(super) struct Contender {
    pub(super) from: SocketAddr,
    pub(super) token: u32,
    pub(super) ssrc: u32,
    pub(super) name: String,
    /// The joined peers it would replace, and how each would leave.
    pub(super) predecessors: Vec<(PeerId, LeaveReason)>,
    pub(super) deadline_us: u64,
}

impl Session {
    /// The entries a newcomer at `from` called `name` evidently restarted from: the one at the
    /// very same address, and one of the same name on the same host (a program that came back
    /// on other ports). Its SSRC is new, or the invitation would have been a repeat.
    fn predecessors(&self, name: &str, from: SocketAddr) -> Vec<(PeerId, LeaveReason)> {
        self.peers
            .iter()
            .filter_map(|p| {
                if p.control == from {
                    Some((p.id, LeaveReason::Replaced))
                } else if !name.is_empty() && p.name == name && same_host(p.control, from) {
                    // Same host only: Macs all call their first session "Session 1", and one
                    // Mac restarting must not push another out.
                    Some((p.id, LeaveReason::ReplacedByName { address: from }))
                } else {
                    None
                }
            })
            .collect()
    }

    /// Drops `predecessors` still in the session. No BY: the old address is the newcomer's
    /// now, or the old program is gone, and were it a second program of the same name still
    /// running, BY would have it invite again and push this one out in turn, for ever.
    fn drop_predecessors(
        &mut self,
        predecessors: &[(PeerId, LeaveReason)],
        now_us: u64,
        out: &mut Vec<Output>,
    ) {
        for (id, reason) in predecessors {
            if let Some(i) = self.peer_index(id.0) {
                self.remove_peer(i, *reason, now_us, out);
            }
        }
    }

    /// Frees a place for a newcomer at `from`: half-done invitations beyond their share, or
    /// the oldest one when the session is full, go at once; otherwise the joined peer silent
    /// longest, if it has been silent long enough. Otherwise says why there is no place.
    fn make_room(
        &mut self,
        from: SocketAddr,
        now_us: u64,
        out: &mut Vec<Output>,
    ) -> Result<(), String> {
        let half_done_share = (self.options.max_peers / 4).max(1);
        loop {
            let half_done = self.peers.iter().filter(|p| p.data.is_none()).count();
            let full = self.peers.len() >= self.options.max_peers;
            if !full && half_done < half_done_share {
                return Ok(());
            }
            if half_done > 0 {
                // The invitation half-done longest: a real initiator completes it within
                // milliseconds, and asks again if it was dropped.
                let Some(i) = self
                    .peers
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.data.is_none())
                    .min_by_key(|(i, p)| (p.last_heard_us, *i))
                    .map(|(i, _)| i)
                else {
                    return Ok(());
                };
                let silent_us = now_us.saturating_sub(self.peers[i].last_heard_us);
                self.remove_peer(
                    i,
                    LeaveReason::MadeRoom {
                        silent_us,
                        newcomer: from,
                    },
                    now_us,
                    out,
                );
                continue;
            }
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
    }

    /// Takes a newcomer whose control port invitation is to be accepted: a place, an entry,
    /// and OK with its token.
    fn admit(
        &mut self,
        from: SocketAddr,
        token: u32,
        ssrc: u32,
        name: String,
        now_us: u64,
        out: &mut Vec<Output>,
    ) {
        if let Err(why) = self.make_room(from, now_us, out) {
            send(out, Port::Control, from, self.refusal(token));
            self.log_about(
                from,
                Level::Warn,
                format!("refused '{name}' at {from}: {why}"),
                now_us,
                out,
            );
            return;
        }
        let peer = Peer::new(PeerId(ssrc), name, from, token, now_us);
        self.log_about(
            from,
            Level::Info,
            format!(
                "invitation from {} accepted on the control port",
                peer.label()
            ),
            now_us,
            out,
        );
        self.peers.push(peer);
        let accept = SessionCommand::Accepted(self.our_exchange(token));
        send(out, Port::Control, from, accept);
    }

    /// A newcomer at `from` would replace the joined `predecessors`: NO at once if one of them
    /// proved alive lately; otherwise probe them and let it wait (its repeated invitations are
    /// not answered meanwhile; the answer comes when the probe is over).
    #[allow(clippy::too_many_arguments)]
    fn contend(
        &mut self,
        from: SocketAddr,
        token: u32,
        ssrc: u32,
        name: String,
        predecessors: Vec<(PeerId, LeaveReason)>,
        now_us: u64,
        out: &mut Vec<Output>,
    ) {
        let alive = self.peers.iter().find(|p| {
            predecessors.iter().any(|(id, _)| *id == p.id)
                && p.proven_alive_us
                    .is_some_and(|t| now_us < t.saturating_add(PROVEN_ALIVE_US))
        });
        if let Some(p) = alive {
            let owner = p.label();
            send(out, Port::Control, from, self.refusal(token));
            self.log_about(
                from,
                Level::Warn,
                format!(
                    "refused '{name}' at {from} (SSRC {ssrc:08x}): {owner} is still there and \
                     answers; a new SSRC does not take a live peer's place"
                ),
                now_us,
                out,
            );
            return;
        }
        if let Some(c) = self.contenders.iter_mut().find(|c| c.from == from) {
            // Asking again while the probe runs: the answer comes when it is over.
            c.token = token;
            c.ssrc = ssrc;
            c.name = name;
            return;
        }
        if self.contenders.len() >= MAX_CONTENDERS {
            self.log_about(
                from,
                Level::Debug,
                format!("invitation from '{name}' at {from} dropped: too many waiting"),
                now_us,
                out,
            );
            return;
        }
        let mut labels = Vec::new();
        for p in &mut self.peers {
            if !predecessors.iter().any(|(id, _)| *id == p.id) {
                continue;
            }
            labels.push(p.label());
            p.probed = true;
            p.answered_probe = false;
            if let Some(data) = p.data {
                let ck = ClockSync {
                    ssrc: self.ssrc,
                    count: 0,
                    timestamps_100us: [now_us / 100, 0, 0],
                };
                send(out, Port::Data, data, SessionCommand::ClockSync(ck));
            }
        }
        self.log_about(
            from,
            Level::Info,
            format!(
                "'{name}' at {from} (SSRC {ssrc:08x}) would replace {}: asking whether it is \
                 still there",
                labels.join(", ")
            ),
            now_us,
            out,
        );
        self.contenders.push(Contender {
            from,
            token,
            ssrc,
            name,
            predecessors,
            deadline_us: now_us.saturating_add(self.options.probe_us),
        });
    }

    /// Ends the probes that are over: a newcomer whose predecessors answered is told NO; one
    /// whose predecessors stayed silent until the deadline (or left) takes their place.
    pub(super) fn settle_contenders(&mut self, now_us: u64, out: &mut Vec<Output>) {
        let mut i = 0;
        while i < self.contenders.len() {
            let c = &self.contenders[i];
            let present: Vec<usize> = c
                .predecessors
                .iter()
                .filter_map(|(id, _)| self.peer_index(id.0))
                .collect();
            let answered = present.iter().find(|&&k| self.peers[k].answered_probe);
            if let Some(&k) = answered {
                let c = self.contenders.remove(i);
                let p = &mut self.peers[k];
                p.proven_alive_us = Some(now_us);
                let owner = p.label();
                for &k in &present {
                    self.peers[k].probed = false;
                    self.peers[k].answered_probe = false;
                }
                send(out, Port::Control, c.from, self.refusal(c.token));
                self.log_about(
                    c.from,
                    Level::Warn,
                    format!(
                        "refused '{}' at {} (SSRC {:08x}): {owner} answered; a new SSRC does \
                         not take a live peer's place",
                        c.name, c.from, c.ssrc
                    ),
                    now_us,
                    out,
                );
                continue;
            }
            if !present.is_empty() && now_us < c.deadline_us {
                i += 1;
                continue;
            }
            let c = self.contenders.remove(i);
            self.drop_predecessors(&c.predecessors, now_us, out);
            if self.peer_index(c.ssrc).is_some() {
                // Its SSRC got in meanwhile some other way; nothing to answer.
                continue;
            }
            self.admit(c.from, c.token, c.ssrc, c.name, now_us, out);
        }
    }

    pub(super) fn on_invitation(
        &mut self,
        port: Port,
        from: SocketAddr,
        x: Exchange,
        now_us: u64,
        out: &mut Vec<Output>,
    ) {
        if !self.invites.admit(from, now_us) {
            self.log_about(
                from,
                Level::Debug,
                format!("invitation from {from} dropped: it asks too often"),
                now_us,
                out,
            );
            return;
        }
        let name = clean_name(x.name.as_deref().unwrap_or_default());
        if !self.options.allow.permits(from) {
            send(out, port, from, self.refusal(x.initiator_token));
            if !self.refused.contains(&from) {
                if self.refused.len() >= REFUSED_MEMORY {
                    self.refused.remove(0);
                }
                self.refused.push(from);
                if self.log_limit.admit(from.ip(), now_us, out) {
                    out.push(Output::Notice(Notice::Refused {
                        address: from,
                        name,
                    }));
                }
            }
            return;
        }
        if x.ssrc == self.ssrc {
            send(out, port, from, self.refusal(x.initiator_token));
            self.log_about(
                from,
                Level::Warn,
                format!(
                    "refused '{name}' at {from}: it uses our own SSRC {:08x}",
                    x.ssrc
                ),
                now_us,
                out,
            );
            return;
        }
        let accept = SessionCommand::Accepted(self.our_exchange(x.initiator_token));
        match port {
            Port::Control => {
                if let Some(i) = self.peer_index(x.ssrc) {
                    let p = &mut self.peers[i];
                    if same_host(p.control, from) && p.data.is_some() && p.control != from {
                        // Its SSRC from other ports of its host: it restarted on new ports, or
                        // someone there forged it. Moved only if the old address is silent.
                        let moved = vec![(p.id, LeaveReason::Moved { address: from })];
                        self.contend(from, x.initiator_token, x.ssrc, name, moved, now_us, out);
                        return;
                    }
                    if !same_host(p.control, from) {
                        let owner = p.label();
                        send(out, port, from, self.refusal(x.initiator_token));
                        self.log_about(
                            from,
                            Level::Warn,
                            format!("refused '{name}' at {from}: its SSRC belongs to {owner}"),
                            now_us,
                            out,
                        );
                        return;
                    }
                    // A repeated invitation (the first answer was lost or is still on its
                    // way): answer again, the same way.
                    p.control = from;
                    p.token = x.initiator_token;
                    p.heard(now_us);
                    if !name.is_empty() {
                        p.name = name;
                    }
                    send(out, port, from, accept);
                    return;
                }
                let predecessors = self.predecessors(&name, from);
                let (joined, half_done): (Vec<_>, Vec<_>) =
                    predecessors.into_iter().partition(|(id, _)| {
                        self.peer_index(id.0)
                            .is_some_and(|i| self.peers[i].data.is_some())
                    });
                // A half-done invitation has nothing to lose: replaced at once.
                self.drop_predecessors(&half_done, now_us, out);
                if joined.is_empty() {
                    self.admit(from, x.initiator_token, x.ssrc, name, now_us, out);
                } else {
                    self.contend(from, x.initiator_token, x.ssrc, name, joined, now_us, out);
                }
            }
            Port::Data => {
                let Some(i) = self.peer_index(x.ssrc) else {
                    // Without the control port half we know nothing of it: it must start over.
                    send(out, port, from, self.refusal(x.initiator_token));
                    self.log_about(
                        from,
                        Level::Debug,
                        format!(
                            "refused data port invitation from {from}: no control port invitation"
                        ),
                        now_us,
                        out,
                    );
                    return;
                };
                let p = &mut self.peers[i];
                // A joined peer's data port does not move: that would take its MIDI away.
                let elsewhere = p.data.is_some_and(|d| d != from);
                if !same_host(p.control, from) || elsewhere {
                    let owner = p.label();
                    send(out, port, from, self.refusal(x.initiator_token));
                    self.log_about(
                        from,
                        Level::Warn,
                        format!(
                            "refused data port invitation from {from}: its SSRC belongs to {owner}"
                        ),
                        now_us,
                        out,
                    );
                    return;
                }
                let newly_joined = p.data.is_none();
                p.data = Some(from);
                p.heard(now_us);
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
    use super::super::super::packet::ClockSync;
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
            // A Mac asks every second.
            let out = s.handle_control(
                mac_control(),
                &invitation(MAC_SSRC, "Stranger"),
                us(t * 1_000_000),
            );
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
        let out = s.handle_control(mapped, &invitation(MAC_SSRC, "Friend"), us(20_000_000));
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
    fn restarted_peer_with_new_ssrc_replaces_the_old_one_once_it_fails_the_probe() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        let new_ssrc = 0x2222_2222;
        // The control port invitation is not answered yet: the old self is probed.
        let out = s.handle_control(mac_control(), &invitation(new_ssrc, "Mac"), us(1_000_000));
        assert!(notices(&out).is_empty());
        assert!(matches!(
            sent(&out)[..],
            [(Port::Data, to, SessionCommand::ClockSync(ClockSync { count: 0, ssrc: OUR_SSRC, .. }))]
                if to == mac_data()
        ));
        // Nothing more until the probe is over.
        let out = s.poll(us(1_000_000 + PROBE_US - 1));
        assert!(sent(&out).is_empty());
        let out = s.poll(us(1_000_000 + PROBE_US));
        assert_eq!(
            notices(&out),
            vec![Notice::PeerLeft {
                peer: PeerId(MAC_SSRC),
                name: "Mac".into(),
                reason: LeaveReason::Replaced
            }]
        );
        assert!(matches!(
            sent(&out)[..],
            [(Port::Control, to, SessionCommand::Accepted(Exchange { initiator_token: MAC_TOKEN, .. }))]
                if to == mac_control()
        ));
        let out = s.handle_data(
            mac_data(),
            &invitation(new_ssrc, "Mac"),
            us(1_000_000 + PROBE_US),
        );
        assert_eq!(
            notices(&out),
            vec![Notice::PeerJoined {
                peer: PeerId(new_ssrc),
                name: "Mac".into(),
                address: mac_control()
            }]
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

    #[test]
    fn a_spoofed_invitation_from_a_live_peers_address_is_refused_and_the_peer_keeps_its_place() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        let spoof = SessionCommand::Invitation(Exchange {
            initiator_token: 0xBAD,
            ssrc: 0x0BAD_0BAD,
            name: Some("Mac".into()),
        })
        .to_bytes();
        let out = s.handle_control(mac_control(), &spoof, us(1_000_000));
        let probe = match &sent(&out)[..] {
            [(Port::Data, _, SessionCommand::ClockSync(ck))] => *ck,
            other => panic!("no probe: {other:?}"),
        };
        // The Mac answers the probe: the spoofer is told NO at once, nobody leaves.
        let answer = clock_sync(MAC_SSRC, 1, [probe.timestamps_100us[0], 5, 0]);
        let out = s.handle_data(mac_data(), &answer, us(1_001_000));
        assert!(notices(&out).is_empty());
        assert!(sent(&out).iter().any(|(port, to, c)| *port == Port::Control
            && *to == mac_control()
            && matches!(
                c,
                SessionCommand::Rejected(Exchange {
                    initiator_token: 0xBAD,
                    ..
                })
            )));
        assert!(out.iter().any(|o| matches!(o,
            Output::Log { level: Level::Warn, message } if message.contains("answered"))));
        assert_eq!(ssrcs(&s), vec![MAC_SSRC]);
        let out = s.poll(us(1_000_000 + PROBE_US));
        assert!(notices(&out).is_empty() && !refused(&out));
        // Its MIDI still plays.
        let out = s.handle_data(
            mac_data(),
            &data_packet(MAC_SSRC, 1, &[&[0xFA]]),
            us(1_500_000),
        );
        assert_eq!(midi(&out), vec![(PeerId(MAC_SSRC), vec![0xFA])]);
        // Asking again soon after: NO at once, without probing the Mac again.
        let out = s.handle_control(mac_control(), &spoof, us(2_000_000));
        assert_eq!(sent(&out).len(), 1);
        assert!(refused(&out));
        // MIDI from the peer during the probe counts as an answer too.
        let out = s.handle_control(mac_control(), &spoof, us(10_000_000));
        assert!(!refused(&out), "probed again once the proof is old");
        let out = s.handle_data(
            mac_data(),
            &data_packet(MAC_SSRC, 2, &[&[0xF8]]),
            us(10_100_000),
        );
        assert!(refused(&out));
        assert_eq!(ssrcs(&s), vec![MAC_SSRC]);
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
    fn peer_back_from_the_same_address_with_a_new_ssrc_gets_in_to_a_full_session_after_the_probe() {
        let mut s = full_session(Options::default(), 0);
        // Everyone was heard a moment ago: no one could be dropped for a stranger.
        let out = join_after_probe(&mut s, addr(107, 5004), 0x907, "peer 7 again", 1_600_000);
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
    fn peer_back_on_new_ports_with_the_same_name_replaces_its_old_self_after_the_probe() {
        let mut s = full_session(Options::default(), 0);
        let back = addr(107, 6000);
        let out = join_after_probe(&mut s, back, 0x907, "peer 7", 1_600_000);
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
            us(2_100_000),
        );
        assert_eq!(midi(&out), vec![(PeerId(0x907), vec![0xFA])]);
        let out = s.handle_data(
            addr(107, 5005),
            &data_packet(0x107, 1, &[&[0xFC]]),
            us(2_100_000),
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
            let out = if k == 0 {
                join_named(&mut s, control, 0x1000 + k, name, now_us)
            } else {
                join_after_probe(&mut s, control, 0x1000 + k, name, now_us)
            };
            now_us += PROBE_US;
            assert!(!refused(&out), "restart {k} refused");
            assert_eq!(s.peers().len(), 1, "restart {k} left a ghost");
            let data = data_port_of(control).unwrap();
            let out = s.handle_data(data, &data_packet(0x1000 + k, 1, &[&[0xFA]]), us(now_us));
            assert_eq!(midi(&out), vec![(PeerId(0x1000 + k), vec![0xFA])]);
        }
    }

    #[test]
    fn invitations_beyond_a_sources_bucket_are_dropped_unanswered() {
        let mut s = session();
        let mut answered = 0;
        for k in 0..50u64 {
            let out = s.handle_control(addr(30, 5004), &invitation(0x3000, "eager"), us(k));
            answered += sent(&out).len();
        }
        assert_eq!(answered, INVITE_BURST as usize);
        // Its bucket refills; another address was never limited.
        let out = s.handle_control(
            addr(30, 5004),
            &invitation(0x3000, "eager"),
            us(INVITE_REFILL_US + 49),
        );
        assert_eq!(sent(&out).len(), 1);
        let out = join(&mut s, mac_control(), MAC_SSRC, 100);
        assert_eq!(notices(&out).len(), 1);
    }

    #[test]
    fn a_flood_of_invitations_from_many_ports_neither_drops_joined_peers_nor_locks_out_a_daw() {
        let mut s = session();
        // Fifteen joined peers, silent for a minute's worth of flood (they still count).
        for k in 0..15u8 {
            join_named(
                &mut s,
                addr(100 + k, 5004),
                0x100 + u32::from(k),
                &format!("peer {k}"),
                0,
            );
        }
        let mut now = 20_000_000;
        for k in 0..2_000u32 {
            now += 1_000;
            let from = SocketAddr::from(([192, 0, 2, 66], 10_000 + (k % 20_000) as u16));
            let name = format!("flood\n{k}{}", "x".repeat(500));
            s.handle_control(from, &invitation(0xF000_0000 + k, &name), us(now));
        }
        let joined = s
            .peers()
            .iter()
            .filter(|p| p.data_address.is_some())
            .count();
        assert_eq!(joined, 15, "no joined peer lost its place to the flood");
        assert!(s.peers().len() <= 16);
        assert!(s
            .peers()
            .iter()
            .all(|p| p.name.chars().count() <= MAX_NAME_CHARS + 1 && !p.name.contains('\n')));
        // The DAW comes back the moment the flood ends, under a name not seen before.
        let out = join_named(&mut s, addr(10, 7000), 0xDA00_0001, "Live", now + 1_000);
        assert!(!refused(&out));
        assert!(notices(&out)
            .iter()
            .any(|n| matches!(n, Notice::PeerJoined { .. })));
        assert_eq!(
            s.peers()
                .iter()
                .filter(|p| p.data_address.is_some())
                .count(),
            16
        );
    }

    #[test]
    fn invitations_from_one_address_log_a_few_lines_then_one_count() {
        let mut s = session();
        let mut lines = Vec::new();
        for k in 0..1_000u16 {
            let from = addr(66, 10_000 + k);
            let name = format!("spam\n{}", "y".repeat(60_000));
            let out = s.handle_control(
                from,
                &invitation(0x6600_0000 + u32::from(k), &name),
                us(u64::from(k)),
            );
            lines.extend(out.into_iter().filter_map(|o| match o {
                Output::Log { message, .. } => Some(message),
                _ => None,
            }));
        }
        assert_eq!(lines.len(), 5, "{lines:?}");
        assert!(
            lines.iter().all(|l| !l.contains('\n') && l.len() < 400),
            "{lines:?}"
        );
        let out = s.poll(us(10_000_000));
        let summary: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                Output::Log { message, .. } => Some(message.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(summary.len(), 1, "{summary:?}");
        assert!(summary[0].contains("were not logged"), "{summary:?}");
    }

    #[test]
    fn a_joined_peers_own_ssrc_from_other_ports_of_its_host_does_not_move_it_while_it_answers() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        let other = addr(10, 6000);
        // Data port first: a joined peer's data port does not move.
        let out = s.handle_data(addr(10, 6001), &invitation(MAC_SSRC, "Mac"), us(1_000));
        assert!(refused(&out));
        // Control port: the Mac is probed, answers, and the other ports are told NO.
        let out = s.handle_control(other, &invitation(MAC_SSRC, "Mac"), us(1_000_000));
        assert!(matches!(
            sent(&out)[..],
            [(Port::Data, to, SessionCommand::ClockSync(_))] if to == mac_data()
        ));
        let out = s.handle_data(
            mac_data(),
            &data_packet(MAC_SSRC, 1, &[&[0xF8]]),
            us(1_100_000),
        );
        assert!(sent(&out)
            .iter()
            .any(|(_, to, c)| *to == other && matches!(c, SessionCommand::Rejected(_))));
        let info = &s.peers()[0];
        assert_eq!(
            (info.control_address, info.data_address),
            (mac_control(), Some(mac_data()))
        );

        // Later the Mac restarts on the new ports with its SSRC and the old ports are silent:
        // after the probe it is there.
        let out = join_after_probe(&mut s, other, MAC_SSRC, "Mac", 20_000_000);
        assert_eq!(
            notices(&out),
            vec![
                Notice::PeerLeft {
                    peer: PeerId(MAC_SSRC),
                    name: "Mac".into(),
                    reason: LeaveReason::Moved { address: other }
                },
                Notice::PeerJoined {
                    peer: PeerId(MAC_SSRC),
                    name: "Mac".into(),
                    address: other
                }
            ]
        );
        let out = s.handle_data(
            addr(10, 6001),
            &data_packet(MAC_SSRC, 1, &[&[0xFA]]),
            us(20_500_000),
        );
        assert_eq!(midi(&out), vec![(PeerId(MAC_SSRC), vec![0xFA])]);
    }
}
