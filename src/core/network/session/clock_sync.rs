//! CK clock synchronisation: answering a peer's CK0, and keeping the clock going with the
//! peers we invited.

use std::net::SocketAddr;

use super::super::packet::{ClockSync, SessionCommand};
use super::{same_host, send, Level, Output, Port, Session};

/// Clock synchronisations sent in quick succession after joining, so latency is known early.
pub const CLOCK_SYNC_BURST: u32 = 6;

/// Gap between the clock synchronisations of the first burst.
pub const CLOCK_SYNC_BURST_INTERVAL_US: u64 = 1_000_000;

/// Gap between clock synchronisations after the first burst; well inside the peer's timeout.
pub const CLOCK_SYNC_INTERVAL_US: u64 = 10_000_000;

/// Our clock's µs as the peer clock estimator counts them.
fn micros_i64(now_us: u64) -> i64 {
    i64::try_from(now_us).unwrap_or(i64::MAX)
}

impl Session {
    pub(super) fn on_clock_sync(
        &mut self,
        port: Port,
        from: SocketAddr,
        ck: ClockSync,
        now_us: u64,
        out: &mut Vec<Output>,
    ) {
        let our_ssrc = self.ssrc;
        let Some(p) = self
            .peers
            .iter_mut()
            .find(|p| p.id.0 == ck.ssrc && same_host(p.control, from))
        else {
            self.log_about(
                from,
                Level::Debug,
                format!("clock sync from unknown peer at {from}"),
                now_us,
                out,
            );
            if port == Port::Data {
                self.tell_stranger(from, now_us, out);
            }
            return;
        };
        p.heard(now_us);
        let now_100us = now_us / 100;
        let [t1, t2, t3] = ck.timestamps_100us;
        match ck.count {
            0 => {
                let answer = ClockSync {
                    ssrc: our_ssrc,
                    count: 1,
                    timestamps_100us: [t1, now_100us, 0],
                };
                send(out, port, from, SessionCommand::ClockSync(answer));
            }
            1 => {
                // Our CK0 went out at t1 (our clock), the peer answered at t2 (its clock).
                p.clock.add_initiator_exchange(t1, t2, micros_i64(now_us));
                p.latency_us = Some(now_100us.saturating_sub(t1).saturating_mul(50));
                let close = ClockSync {
                    ssrc: our_ssrc,
                    count: 2,
                    timestamps_100us: [t1, t2, now_100us],
                };
                send(out, port, from, SessionCommand::ClockSync(close));
            }
            _ => {
                // The peer's CK0 at t1 and CK2 at t3 (its clock), our CK1 at t2 (ours).
                p.clock
                    .add_responder_exchange(t1, t2, t3, micros_i64(now_us));
                p.latency_us = Some(t3.saturating_sub(t1).saturating_mul(50));
            }
        }
    }

    /// CK0 to the peers we invited, in a quick burst after joining and then every 10 s.
    pub(super) fn run_clock_sync(&mut self, now_us: u64, out: &mut Vec<Output>) {
        for p in &mut self.peers {
            let Some(to) = p.data else { continue };
            if !p.initiated_by_us || now_us < p.next_clock_sync_us {
                continue;
            }
            p.clock_syncs_sent = p.clock_syncs_sent.saturating_add(1);
            p.next_clock_sync_us =
                now_us.saturating_add(if p.clock_syncs_sent < CLOCK_SYNC_BURST {
                    CLOCK_SYNC_BURST_INTERVAL_US
                } else {
                    CLOCK_SYNC_INTERVAL_US
                });
            let ck = ClockSync {
                ssrc: self.ssrc,
                count: 0,
                timestamps_100us: [now_us / 100, 0, 0],
            };
            send(out, Port::Data, to, SessionCommand::ClockSync(ck));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::packet::Exchange;
    use super::super::test_support::*;
    use super::super::*;
    use super::*;

    #[test]
    fn clock_sync_zero_is_answered_and_two_is_accepted() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        let out = s.handle_data(
            mac_data(),
            &clock_sync(MAC_SSRC, 0, [123_456, 0, 0]),
            us(5_000_000),
        );
        assert_eq!(
            sent(&out),
            vec![(
                Port::Data,
                mac_data(),
                SessionCommand::ClockSync(ClockSync {
                    ssrc: OUR_SSRC,
                    count: 1,
                    timestamps_100us: [123_456, 50_000, 0],
                })
            )]
        );
        let out = s.handle_data(
            mac_data(),
            &clock_sync(MAC_SSRC, 2, [123_456, 50_000, 123_476]),
            us(5_002_000),
        );
        assert!(sent(&out).is_empty(), "CK2 ends the exchange");
        assert_eq!(s.peers()[0].latency_us, Some(1_000));
    }

    #[test]
    fn clock_sync_from_a_stranger_gets_no_answer_but_a_bye() {
        let mut s = session();
        let out = s.handle_data(mac_data(), &clock_sync(MAC_SSRC, 0, [1, 0, 0]), us(0));
        assert!(matches!(
            sent(&out)[..],
            [(Port::Control, to, SessionCommand::End(Exchange { ssrc: OUR_SSRC, .. }))]
                if to == mac_control()
        ));
    }

    #[test]
    fn clock_sync_keeps_a_peer_alive() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        for t in (10..=110).step_by(10) {
            s.handle_data(
                mac_data(),
                &clock_sync(MAC_SSRC, 0, [t, 0, 0]),
                us(t * 1_000_000),
            );
            assert!(notices(&s.poll(us(t * 1_000_000 + 500_000))).is_empty());
        }
        assert_eq!(s.peers().len(), 1);
        assert_eq!(s.next_deadline_us(), Some(110_000_000 + PEER_TIMEOUT_US));
    }
}
