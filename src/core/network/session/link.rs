//! The initiator side: peers we invite (`--rtp-connect`) and keep inviting for as long as the
//! session lives.

use std::net::SocketAddr;

use crate::time::Stamp;

use super::super::packet::{Exchange, SessionCommand};
use super::peer::Peer;
use super::{
    data_port_of, log, now_micros, same_host, send, Level, Notice, Output, PeerId, Port, Session,
};

/// Gap between invitations while the other side has not answered.
pub const INVITE_RETRY_US: u64 = 1_000_000;

/// Gap between invitations once [`INVITE_FAST_TRIES`] went unanswered (or were refused).
pub const INVITE_SLOW_RETRY_US: u64 = 5_000_000;

/// Invitations sent a second apart before slowing down, as a Mac does.
pub const INVITE_FAST_TRIES: u32 = 12;

/// Where an invitation we send stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum LinkPhase {
    /// Inviting on the control port.
    Control,
    /// The control port accepted; inviting on the data port.
    Data,
    /// Joined; nothing to send until the peer leaves.
    Connected,
}

/// A peer we keep inviting, for as long as the session lives.
#[derive(Debug)]
pub(super) struct Link {
    pub(super) control: SocketAddr,
    pub(super) phase: LinkPhase,
    pub(super) token: u32,
    pub(super) tries: u32,
    pub(super) next_us: u64,
    pub(super) rejection_reported: bool,
}

impl Session {
    /// Starts inviting the participant whose control port is `to`, and keeps it in the
    /// session: re-invited every second until it answers (every 5 s after 12 tries), and again
    /// whenever it leaves or times out.
    pub fn connect(&mut self, to: SocketAddr, now: Stamp) -> Vec<Output> {
        let now_us = now_micros(now);
        let mut out = Vec::new();
        if self.links.iter().any(|l| l.control == to) {
            log(&mut out, Level::Debug, format!("already inviting {to}"));
            return out;
        }
        let token = self.next_token(now_us);
        self.links.push(Link {
            control: to,
            phase: LinkPhase::Control,
            token,
            tries: 0,
            next_us: now_us,
            rejection_reported: false,
        });
        self.run_links(now_us, &mut out);
        out
    }

    pub(super) fn link_for_answer(&self, from: SocketAddr, token: u32) -> Option<usize> {
        self.links.iter().position(|l| {
            l.token == token && l.phase != LinkPhase::Connected && same_host(l.control, from)
        })
    }

    pub(super) fn on_accepted(
        &mut self,
        port: Port,
        from: SocketAddr,
        x: Exchange,
        now_us: u64,
        out: &mut Vec<Output>,
    ) {
        let Some(li) = self.link_for_answer(from, x.initiator_token) else {
            self.log_about(
                from,
                Level::Debug,
                format!("stray OK from {from}"),
                now_us,
                out,
            );
            return;
        };
        let name = super::clean_name(x.name.as_deref().unwrap_or_default());
        match (port, &self.links[li].phase) {
            (Port::Control, LinkPhase::Control) => {
                let already_joined = self
                    .peer_index(x.ssrc)
                    .is_some_and(|i| self.peers[i].data.is_some());
                let link = &mut self.links[li];
                if already_joined {
                    // It invited us meanwhile; that session is the one we wanted.
                    link.phase = LinkPhase::Connected;
                    return;
                }
                link.phase = LinkPhase::Data;
                link.tries = 0;
                link.next_us = now_us;
                self.run_links(now_us, out);
            }
            (Port::Data, LinkPhase::Data) => {
                let link = &mut self.links[li];
                link.phase = LinkPhase::Connected;
                link.rejection_reported = false;
                let (control, token) = (link.control, link.token);
                let i = match self.peer_index(x.ssrc) {
                    Some(i) => i,
                    None => {
                        self.peers
                            .push(Peer::new(PeerId(x.ssrc), name, control, token, now_us));
                        self.peers.len() - 1
                    }
                };
                let p = &mut self.peers[i];
                let newly_joined = p.data.is_none();
                p.data = Some(from);
                p.initiated_by_us = true;
                p.token = token;
                p.last_heard_us = now_us;
                p.next_clock_sync_us = now_us;
                p.clock_syncs_sent = 0;
                if newly_joined {
                    out.push(Output::Notice(Notice::PeerJoined {
                        peer: p.id,
                        name: p.name.clone(),
                        address: p.control,
                    }));
                }
                self.run_clock_sync(now_us, out);
            }
            _ => log(
                out,
                Level::Debug,
                format!("OK on the wrong port from {from}"),
            ),
        }
    }

    pub(super) fn on_rejected(
        &mut self,
        from: SocketAddr,
        x: Exchange,
        now_us: u64,
        out: &mut Vec<Output>,
    ) {
        let Some(li) = self.link_for_answer(from, x.initiator_token) else {
            self.log_about(
                from,
                Level::Debug,
                format!("stray NO from {from}"),
                now_us,
                out,
            );
            return;
        };
        let link = &mut self.links[li];
        if !link.rejection_reported {
            link.rejection_reported = true;
            out.push(Output::Notice(Notice::InvitationRejected {
                address: link.control,
                name: super::clean_name(x.name.as_deref().unwrap_or_default()),
            }));
        }
        // Never give up (the other side may change its mind), but do not insist.
        link.phase = LinkPhase::Control;
        link.tries = link.tries.max(INVITE_FAST_TRIES);
        link.next_us = now_us.saturating_add(INVITE_SLOW_RETRY_US);
    }

    /// Invitations due: first or repeated IN on the control port, then on the data port.
    pub(super) fn run_links(&mut self, now_us: u64, out: &mut Vec<Output>) {
        for i in 0..self.links.len() {
            let link = &self.links[i];
            if link.phase == LinkPhase::Connected || now_us < link.next_us {
                continue;
            }
            if link.phase == LinkPhase::Data && link.tries >= INVITE_FAST_TRIES {
                // The data port never answered: begin again from the control port.
                let token = self.next_token(now_us);
                let link = &mut self.links[i];
                link.phase = LinkPhase::Control;
                link.token = token;
            }
            let invitation = SessionCommand::Invitation(self.our_exchange(self.links[i].token));
            let link = &mut self.links[i];
            let target = match link.phase {
                LinkPhase::Data => data_port_of(link.control).map(|to| (Port::Data, to)),
                _ => Some((Port::Control, link.control)),
            };
            link.tries = link.tries.saturating_add(1);
            link.next_us = now_us.saturating_add(if link.tries >= INVITE_FAST_TRIES {
                INVITE_SLOW_RETRY_US
            } else {
                INVITE_RETRY_US
            });
            match target {
                Some((port, to)) => send(out, port, to, invitation),
                None => log(
                    out,
                    Level::Warn,
                    format!("cannot invite {}: no data port above 65535", link.control),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use super::*;
    use std::net::IpAddr;

    /// Two sessions wired back to back; datagrams can be dropped to imitate a bad network.
    struct Net {
        a: Session,
        b: Session,
        a_host: u8,
        b_host: u8,
        /// Events (everything but `Send`) each side produced, in order.
        a_events: Vec<Output>,
        b_events: Vec<Output>,
        /// Datagrams from A to drop: (port, command letters) while the count lasts.
        drop_from_a: Option<(Port, [u8; 2], usize)>,
        /// B is switched off: everything sent to it vanishes.
        b_down: bool,
    }

    impl Net {
        fn new() -> Net {
            Net {
                a: Session::new("initiator", 0xA0A0_A0A0, Options::default()),
                b: Session::new("responder", 0xB0B0_B0B0, Options::default()),
                a_host: 1,
                b_host: 2,
                a_events: Vec::new(),
                b_events: Vec::new(),
                drop_from_a: None,
                b_down: false,
            }
        }

        fn b_control(&self) -> SocketAddr {
            addr(self.b_host, 5004)
        }

        /// Delivers outputs of A (or B) until both sides are quiet.
        fn run(&mut self, from_a: Vec<Output>, from_b: Vec<Output>, now_us: u64) {
            let mut queue: Vec<(bool, Output)> = from_a
                .into_iter()
                .map(|o| (true, o))
                .chain(from_b.into_iter().map(|o| (false, o)))
                .collect();
            while !queue.is_empty() {
                let mut next = Vec::new();
                for (is_a, o) in queue {
                    let (port, to, bytes) = match o {
                        Output::Send { port, to, bytes } => (port, to, bytes),
                        event if is_a => {
                            self.a_events.push(event);
                            continue;
                        }
                        event => {
                            self.b_events.push(event);
                            continue;
                        }
                    };
                    let (src_host, dst_host) = if is_a {
                        (self.a_host, self.b_host)
                    } else {
                        (self.b_host, self.a_host)
                    };
                    if to.ip() != IpAddr::from([192, 0, 2, dst_host]) {
                        continue;
                    }
                    if is_a && self.b_down {
                        continue;
                    }
                    if is_a {
                        if let Some((p, letters, n)) = &mut self.drop_from_a {
                            if *p == port && bytes.get(2..4) == Some(&letters[..]) && *n > 0 {
                                *n -= 1;
                                continue;
                            }
                        }
                    }
                    let from = addr(src_host, if port == Port::Control { 5004 } else { 5005 });
                    let target = if is_a { &mut self.b } else { &mut self.a };
                    let out = match port {
                        Port::Control => target.handle_control(from, &bytes, us(now_us)),
                        Port::Data => target.handle_data(from, &bytes, us(now_us)),
                    };
                    next.extend(out.into_iter().map(|o| (!is_a, o)));
                }
                queue = next;
            }
        }

        fn poll(&mut self, now_us: u64) {
            let from_a = self.a.poll(us(now_us));
            let from_b = self.b.poll(us(now_us));
            self.run(from_a, from_b, now_us);
        }

        fn joined(events: &[Output]) -> usize {
            notices(events)
                .iter()
                .filter(|n| matches!(n, Notice::PeerJoined { .. }))
                .count()
        }
    }

    #[test]
    fn initiator_retries_then_connects_and_exchanges_clock_and_midi() {
        let mut net = Net::new();
        // The first three control port invitations are lost.
        net.drop_from_a = Some((Port::Control, *b"IN", 3));
        let out = net.a.connect(net.b_control(), us(0));
        assert!(matches!(
            sent(&out)[..],
            [(Port::Control, to, SessionCommand::Invitation(_))] if to == net.b_control()
        ));
        net.run(out, Vec::new(), 0);
        let mut now = 0;
        while Net::joined(&net.a_events) == 0 {
            now += 100_000;
            assert!(now < 10_000_000, "never connected");
            net.poll(now);
        }
        // Fourth try, one second apart.
        assert_eq!(now, 3_000_000);
        assert_eq!(Net::joined(&net.b_events), 1);
        let a_view = &net.a.peers()[0];
        assert!(a_view.initiated_by_us);
        assert_eq!(a_view.name, "responder");
        assert_eq!(net.b.peers()[0].name, "initiator");
        // The first CK exchange completed at once, both sides know the latency.
        assert_eq!(a_view.latency_us, Some(0));
        assert_eq!(net.b.peers()[0].latency_us, Some(0));

        // The clock synchronisation keeps both alive far beyond the timeout.
        while now < 300_000_000 {
            now += 500_000;
            net.poll(now);
        }
        assert_eq!(net.a.peers().len(), 1);
        assert_eq!(net.b.peers().len(), 1);
        assert!(notices(&net.a_events)
            .iter()
            .chain(notices(&net.b_events).iter())
            .all(|n| matches!(n, Notice::PeerJoined { .. })));

        // MIDI from A reaches B in order.
        let out = net.a.send_midi(&[&[0xF2, 0, 0], &[0xFA]], us(now));
        net.run(out, Vec::new(), now + 1);
        let out = net.a.send_midi(&[&[0xFC]], us(now + 2));
        net.run(out, Vec::new(), now + 3);
        let received: Vec<_> = midi(&net.b_events).into_iter().map(|m| m.1).collect();
        assert_eq!(received, vec![vec![0xF2, 0, 0], vec![0xFA], vec![0xFC]]);
    }

    #[test]
    fn initiator_never_gives_up_but_slows_down() {
        let mut net = Net::new();
        net.b_down = true;
        let mut times = Vec::new();
        let out = net.a.connect(net.b_control(), us(0));
        if !sent(&out).is_empty() {
            times.push(0);
        }
        let mut now = 0;
        while now < 60_000_000 {
            now += 100_000;
            if !sent(&net.a.poll(us(now))).is_empty() {
                times.push(now / 100_000);
            }
        }
        // Twelve a second apart (0 s to 11 s), then every 5 s.
        let mut want: Vec<u64> = (0..12).map(|s| s * 10).collect();
        want.extend((1..).map(|k| 110 + 50 * k).take_while(|&t| t <= 600));
        assert_eq!(times, want);

        // B comes up: the next slow try connects.
        net.b_down = false;
        while Net::joined(&net.a_events) == 0 {
            now += 100_000;
            assert!(now < 70_000_000);
            net.poll(now);
        }
    }

    #[test]
    fn initiator_reinvites_after_bye_and_after_timeout() {
        let mut net = Net::new();
        let out = net.a.connect(net.b_control(), us(0));
        net.run(out, Vec::new(), 0);
        assert_eq!(Net::joined(&net.a_events), 1);

        // B leaves with BY (a Mac user clicking Disconnect), then comes back.
        let out = net.b.close();
        net.run(Vec::new(), out, 1_000_000);
        assert!(notices(&net.a_events).contains(&Notice::PeerLeft {
            peer: PeerId(0xB0B0_B0B0),
            name: "responder".into(),
            reason: LeaveReason::Bye
        }));
        net.poll(2_000_000);
        assert_eq!(Net::joined(&net.a_events), 2, "re-invited one second later");

        // B goes deaf: A times out 61 s after the last answered CK, then keeps inviting.
        net.b_down = true;
        let mut now = 2_000_000;
        let mut left_at = None;
        while now < 200_000_000 {
            now += 500_000;
            net.poll(now);
            if left_at.is_none()
                && notices(&net.a_events).iter().any(|n| {
                    matches!(
                        n,
                        Notice::PeerLeft {
                            reason: LeaveReason::Timeout,
                            ..
                        }
                    )
                })
            {
                left_at = Some(now);
                net.b_down = false;
            }
        }
        let left_at = left_at.expect("timed out");
        // The last CK answered was at 2 s + at most a burst interval; 61 s later it is gone.
        assert!((63_000_000..=64_000_000).contains(&left_at), "{left_at}");
        assert_eq!(Net::joined(&net.a_events), 3);
        assert_eq!(net.a.peers().len(), 1);
    }

    #[test]
    fn initiator_reports_a_refusal_once_and_keeps_asking_slowly() {
        let mut net = Net::new();
        net.b = Session::new(
            "responder",
            0xB0B0_B0B0,
            Options {
                allow: Allow::Addresses(vec![]),
                ..Options::default()
            },
        );
        let out = net.a.connect(net.b_control(), us(0));
        net.run(out, Vec::new(), 0);
        let mut now = 0;
        while now < 30_000_000 {
            now += 1_000_000;
            net.poll(now);
        }
        let rejected = notices(&net.a_events)
            .into_iter()
            .filter(|n| matches!(n, Notice::InvitationRejected { .. }))
            .count();
        assert_eq!(rejected, 1);
        let refused = notices(&net.b_events).len();
        assert_eq!(refused, 1);
        assert_eq!(Net::joined(&net.a_events), 0);
    }
}
