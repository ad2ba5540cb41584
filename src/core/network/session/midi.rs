//! RTP-MIDI through the session: packets received in sequence (gaps counted, late ones
//! dropped, SysEx joined), RS feedback about them, and MIDI sent to every joined peer.

use std::net::SocketAddr;

use crate::time::Stamp;

use super::super::packet::{
    decode_journal, encode_data, system_transport_state, DataPacket, MidiList, ReceiverFeedback,
    RtpHeader, SessionCommand,
};
use super::peer::{Arrival, Peer};
use super::peer_clock::PeerClock;
use super::recovery::recover_transport;
use super::{log, now_micros, send, Level, Notice, Output, Port, Session};

/// Shortest gap between two RS receiver feedback packets to one peer.
pub const FEEDBACK_INTERVAL_US: u64 = 1_000_000;

impl Session {
    /// Sends MIDI messages (each complete, with its status byte) to every joined peer in one
    /// packet stamped `now`.
    pub fn send_midi(&mut self, messages: &[&[u8]], now: Stamp) -> Vec<Output> {
        let now_us = now_micros(now);
        let mut out = Vec::new();
        let commands: Vec<(u32, &[u8])> = messages.iter().map(|m| (0, *m)).collect();
        let header = RtpHeader {
            marker: false,
            sequence_number: self.send_sequence,
            timestamp_100us: (now_us / 100) as u32,
            ssrc: self.ssrc,
        };
        let mut bytes = Vec::new();
        if let Err(e) = encode_data(&header, &commands, &mut bytes) {
            log(&mut out, Level::Warn, format!("MIDI not sent: {e}"));
            return out;
        }
        self.send_sequence = self.send_sequence.wrapping_add(1);
        for p in &self.peers {
            if let Some(to) = p.data {
                out.push(Output::Send {
                    port: Port::Data,
                    to,
                    bytes: bytes.clone(),
                });
            }
        }
        out
    }

    pub(super) fn on_midi_packet(
        &mut self,
        from: SocketAddr,
        packet: &DataPacket<'_>,
        list: &MidiList,
        now_us: u64,
        out: &mut Vec<Output>,
    ) {
        let ssrc = packet.header.ssrc;
        let Some(p) = self
            .peers
            .iter_mut()
            // The exact address the peer joined from: another program on the same host (or a
            // spoofer) naming its SSRC must not be able to disturb its sequence.
            .find(|p| p.id.0 == ssrc && p.data == Some(from))
        else {
            self.log_about(
                from,
                Level::Debug,
                format!("MIDI from {from} with SSRC {ssrc:08x}, not a joined peer"),
                now_us,
                out,
            );
            self.tell_stranger(from, now_us, out);
            return;
        };
        p.heard(now_us);
        match p.arrival(packet.header.sequence_number) {
            Arrival::Late => {
                p.late_packets += 1;
                return;
            }
            Arrival::AfterGap(lost) => {
                p.sequence_gaps += 1;
                p.packets_lost += u64::from(lost);
                p.recovery_pending = true;
                // A SysEx open across the gap has lost a piece: better none than a wrong one.
                p.sysex.reset();
                out.push(Output::Notice(Notice::SequenceGap {
                    peer: p.id,
                    lost_packets: lost,
                }));
            }
            Arrival::InOrder => {}
        }
        p.packets_received += 1;
        p.feedback_due = true;
        if let Some(e) = packet.list_error {
            log(
                out,
                Level::Debug,
                format!("malformed MIDI list from {}: {e}", p.label()),
            );
        }
        if p.recovery_pending {
            if let Some(bytes) = packet.journal {
                match decode_journal(bytes) {
                    Ok(journal) => {
                        // The journal describes the stream up to the packet before this one,
                        // so it is applied before this packet's own commands.
                        p.recovery_pending = false;
                        if let Some(state) = system_transport_state(&journal) {
                            // The lost command was meant before this packet was sent: its
                            // stamp (or, unusable, the receipt) is the best bound known.
                            let received_us = i64::try_from(now_us).unwrap_or(i64::MAX);
                            let sent_us = p
                                .clock
                                .peek(packet.header.timestamp_100us, received_us)
                                .map_or(received_us, |t| t.min(received_us));
                            recover_transport(p, state, Stamp::from_micros(sent_us), out);
                        }
                    }
                    Err(e) => log(
                        out,
                        Level::Debug,
                        format!("unreadable recovery journal from {}: {e}", p.label()),
                    ),
                }
            }
        }
        let received_us = i64::try_from(now_us).unwrap_or(i64::MAX);
        let mut last_delay_us = None;
        for (delta_100us, message) in list.iter() {
            // Delta times are cumulative from the packet's stamp, in the same 10 kHz units,
            // and wrap with it.
            let stamp_100us = packet.header.timestamp_100us.wrapping_add(delta_100us);
            let at_us = match p.clock.map(stamp_100us, received_us) {
                Ok(mapped_us) => {
                    last_delay_us = Some(received_us.saturating_sub(mapped_us));
                    if !p.stamps_used_logged {
                        p.stamps_used_logged = true;
                        log(
                            out,
                            Level::Info,
                            format!(
                                "{}: timing MIDI by its time stamps (the first {:.1} ms before \
                                 its receipt)",
                                p.label(),
                                received_us.saturating_sub(mapped_us) as f64 / 1e3
                            ),
                        );
                    }
                    // Never after the receipt: the estimate's error may put it a little later.
                    mapped_us.min(received_us)
                }
                Err(why) => {
                    // Before the first (quick) CK every peer is like this: not worth a warning.
                    if !PeerClock::is_waiting_for_sync(why) && !p.stamps_refusal_logged {
                        p.stamps_refusal_logged = true;
                        log(
                            out,
                            Level::Warn,
                            format!(
                                "{}: {why}; timing its MIDI by receipt (logged once per peer)",
                                p.label()
                            ),
                        );
                    }
                    received_us
                }
            };
            // In packet order the times never go back: a refused stamp's receipt time may lie
            // after the next packet's mapped one, and the transport reads intervals.
            let at_us = at_us.max(p.last_at_us);
            p.last_at_us = at_us;
            deliver(p, message, Stamp::from_micros(at_us), out);
        }
        if let Some(delay_us) = last_delay_us {
            // The last command is the nearest to the send: its delay is the packet's.
            p.clock.record_delay(delay_us);
        }
    }

    /// RS to peers that sent packets since the last one, at most once a second each.
    pub(super) fn run_feedback(&mut self, now_us: u64, out: &mut Vec<Output>) {
        for p in &mut self.peers {
            let (Some(sequence_number), true) = (p.last_sequence, p.feedback_due) else {
                continue;
            };
            if p.last_feedback_us
                .is_some_and(|t| now_us < t.saturating_add(FEEDBACK_INTERVAL_US))
            {
                continue;
            }
            p.feedback_due = false;
            p.last_feedback_us = Some(now_us);
            let rs = ReceiverFeedback {
                ssrc: self.ssrc,
                sequence_number,
            };
            send(
                out,
                Port::Control,
                p.control,
                SessionCommand::ReceiverFeedback(rs),
            );
        }
    }
}

/// Passes one listed command on as a MIDI message, joining SysEx segments and tracking the
/// transport the way the journal reports it.
fn deliver(p: &mut Peer, message: &[u8], at: Stamp, out: &mut Vec<Output>) {
    let Some(&status) = message.first() else {
        return;
    };
    let bytes = if status == 0xF0 || status == 0xF7 {
        match p.sysex.push(message) {
            Some(whole) => whole.to_vec(),
            None => return,
        }
    } else {
        match status {
            0xFA | 0xFB => p.running = Some(true),
            0xFC => p.running = Some(false),
            _ => {}
        }
        message.to_vec()
    };
    out.push(p.midi(bytes, at));
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use super::*;
    use crate::parse::MidiEvent;

    #[test]
    fn midi_keeps_a_peer_alive_without_clock_sync() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        for seq in 1..=10u16 {
            let now = u64::from(seq) * 30_000_000;
            s.handle_data(mac_data(), &data_packet(MAC_SSRC, seq, &[&[0xF8]]), us(now));
            assert!(notices(&s.poll(us(now + 1))).is_empty());
        }
        assert_eq!(s.peers().len(), 1);
    }

    #[test]
    fn midi_comes_out_in_order_with_sysex_joined_and_running_status_expanded() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        let out = s.handle_data(
            mac_data(),
            &data_packet(
                MAC_SSRC,
                100,
                &[
                    &[0xF2, 0x20, 0x00],
                    &[0xFB],
                    &[0xF8],
                    &[0xF0, 0x7D, 0x01, 0xF0],
                ],
            ),
            us(7_000_000),
        );
        let out2 = s.handle_data(
            mac_data(),
            &data_packet(MAC_SSRC, 101, &[&[0xF7, 0x02, 0xF7], &[0xFC]]),
            us(7_000_250),
        );
        let got: Vec<_> = midi(&out).into_iter().chain(midi(&out2)).collect();
        // Handed over parsed: the SysEx (neither MTC nor MMC) says nothing playhead acts on.
        let said: Vec<_> = events(&out).into_iter().chain(events(&out2)).collect();
        assert_eq!(
            said,
            vec![
                MidiEvent::SongPosition { sixteenths: 32 },
                MidiEvent::Continue,
                MidiEvent::Clock,
                MidiEvent::Stop
            ]
        );
        let p = PeerId(MAC_SSRC);
        assert_eq!(
            got,
            vec![
                (p, vec![0xF2, 0x20, 0x00]),
                (p, vec![0xFB]),
                (p, vec![0xF8]),
                (p, vec![0xF0, 0x7D, 0x01, 0x02, 0xF7]),
                (p, vec![0xFC]),
            ]
        );
        // Running status inside a packet comes out as whole messages.
        let mut raw = data_packet(MAC_SSRC, 102, &[&[0x90, 60, 100]]);
        raw[12] += 3;
        raw.extend_from_slice(&[0x00, 62, 90]);
        let out = s.handle_data(mac_data(), &raw, us(8_000_000));
        assert_eq!(
            midi(&out),
            vec![(p, vec![0x90, 60, 100]), (p, vec![0x90, 62, 90])]
        );
    }

    #[test]
    fn sequence_gaps_are_counted_and_late_packets_dropped() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        let mut gaps = Vec::new();
        let mut played = Vec::new();
        for seq in [65_534u16, 65_535, 0, 3, 3, 2, 4, 10] {
            let note = [0x90, (seq % 128) as u8, 1];
            let out = s.handle_data(mac_data(), &data_packet(MAC_SSRC, seq, &[&note]), us(1_000));
            gaps.extend(notices(&out));
            played.extend(midi(&out).into_iter().map(|m| m.1[1]));
        }
        let p = PeerId(MAC_SSRC);
        assert_eq!(
            gaps,
            vec![
                Notice::SequenceGap {
                    peer: p,
                    lost_packets: 2
                },
                Notice::SequenceGap {
                    peer: p,
                    lost_packets: 5
                },
            ]
        );
        // 3 twice (duplicate) and 2 (late) are dropped.
        assert_eq!(played, vec![126, 127, 0, 3, 4, 10]);
        let info = &s.peers()[0];
        assert_eq!(
            (
                info.packets_received,
                info.packets_lost,
                info.sequence_gaps,
                info.late_packets
            ),
            (6, 7, 2, 2)
        );
    }

    #[test]
    fn receiver_feedback_goes_out_once_a_second_when_packets_came() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        assert!(
            sent(&s.poll(us(500_000))).is_empty(),
            "nothing received, nothing to say"
        );
        s.handle_data(
            mac_data(),
            &data_packet(MAC_SSRC, 41, &[&[0xF8]]),
            us(600_000),
        );
        s.handle_data(
            mac_data(),
            &data_packet(MAC_SSRC, 42, &[&[0xF8]]),
            us(700_000),
        );
        let rs = |seq| {
            vec![(
                Port::Control,
                mac_control(),
                SessionCommand::ReceiverFeedback(ReceiverFeedback {
                    ssrc: OUR_SSRC,
                    sequence_number: seq,
                }),
            )]
        };
        assert_eq!(sent(&s.poll(us(700_000))), rs(42));
        s.handle_data(
            mac_data(),
            &data_packet(MAC_SSRC, 43, &[&[0xF8]]),
            us(800_000),
        );
        assert!(
            sent(&s.poll(us(900_000))).is_empty(),
            "not twice within a second"
        );
        assert_eq!(s.next_deadline_us(), Some(1_700_000));
        assert_eq!(sent(&s.poll(us(1_700_000))), rs(43));
        assert!(
            sent(&s.poll(us(5_000_000))).is_empty(),
            "nothing new, nothing sent"
        );
    }

    #[test]
    fn garbage_from_one_peer_never_disturbs_another() {
        let mut s = session();
        let (a, b) = (addr(20, 5004), addr(21, 5004));
        let (a_data, b_data) = (addr(20, 5005), addr(21, 5005));
        join(&mut s, a, 0xA, 0);
        join(&mut s, b, 0xB, 0);
        // A opens a SysEx and sends rubbish; B's segments must not join A's.
        s.handle_data(a_data, &data_packet(0xA, 1, &[&[0xF0, 0x01, 0xF0]]), us(10));
        s.handle_data(b_data, &data_packet(0xB, 1, &[&[0xF7, 0x09, 0xF7]]), us(10));
        let mut rng = 0x1234_5678_9ABC_DEF0u64;
        let mut got = Vec::new();
        for i in 0..2_000u16 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let mut junk: Vec<u8> = rng.to_le_bytes().repeat(2 + (i as usize % 5));
            if i % 3 == 0 {
                // Looks like RTP-MIDI from A, with a broken list.
                junk[..2].copy_from_slice(&[0x80, 0x61]);
                junk[8..12].copy_from_slice(&0xAu32.to_be_bytes());
            }
            s.handle_data(a_data, &junk, us(20 + u64::from(i)));
            s.handle_control(a, &junk, us(20 + u64::from(i)));
            let note = [0x90, (i % 128) as u8, 64];
            got.extend(midi(&s.handle_data(
                b_data,
                &data_packet(0xB, 2 + i, &[&note]),
                us(30),
            )));
        }
        assert_eq!(got.len(), 2_000);
        assert!(got.iter().all(|m| m.0 == PeerId(0xB)));
        assert!(got
            .iter()
            .enumerate()
            .all(|(i, m)| m.1[1] == (i % 128) as u8));
        let b_info = s.peers().into_iter().find(|p| p.id == PeerId(0xB)).unwrap();
        assert_eq!((b_info.packets_lost, b_info.late_packets), (0, 0));
        // B's own SysEx still works.
        let out = s.handle_data(
            b_data,
            &data_packet(0xB, 5_000, &[&[0xF0, 0x05, 0xF7]]),
            us(40),
        );
        assert_eq!(midi(&out), vec![(PeerId(0xB), vec![0xF0, 0x05, 0xF7])]);
    }

    /// The MIDI of `out` with its DAW times.
    fn timed(out: &[Output]) -> Vec<(Vec<u8>, Stamp)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Midi { bytes, at, .. } => Some((bytes.clone(), *at)),
                _ => None,
            })
            .collect()
    }

    fn stamped_packet(
        sequence_number: u16,
        stamp_100us: u32,
        commands: &[(u32, &[u8])],
    ) -> Vec<u8> {
        let header = RtpHeader {
            marker: false,
            sequence_number,
            timestamp_100us: stamp_100us,
            ssrc: MAC_SSRC,
        };
        let mut bytes = Vec::new();
        encode_data(&header, commands, &mut bytes).unwrap();
        bytes
    }

    fn warnings(out: &[Output]) -> usize {
        out.iter()
            .filter(|o| {
                matches!(
                    o,
                    Output::Log {
                        level: Level::Warn,
                        ..
                    }
                )
            })
            .count()
    }

    #[test]
    fn midi_carries_the_senders_time_mapped_through_its_clock_sync() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        // Before any CK the stamp means nothing: receipt time, and no warning for it.
        let out = s.handle_data(
            mac_data(),
            &stamped_packet(1, 777, &[(0, &[0xF8])]),
            us(900_000),
        );
        assert_eq!(timed(&out), vec![(vec![0xF8], us(900_000))]);
        assert_eq!(warnings(&out), 0);
        // The Mac's clock reads 5 000 000 ticks (500 s) at our 1 s: CK0 at its 5_000_000, our
        // answer at 1.000 s, its CK2 at 5_000_010, received at 1.002 s.
        s.handle_data(
            mac_data(),
            &clock_sync(MAC_SSRC, 0, [5_000_000, 0, 0]),
            us(1_000_000),
        );
        s.handle_data(
            mac_data(),
            &clock_sync(MAC_SSRC, 2, [5_000_000, 10_000, 5_000_010]),
            us(1_002_000),
        );
        // Sent at its 5_010_000 (our 2.000 s, within the 100 µs steps), Start 2.5 ms later;
        // delivered 20 ms late.
        let out = s.handle_data(
            mac_data(),
            &stamped_packet(2, 5_010_000, &[(0, &[0xF2, 0, 0]), (25, &[0xFA])]),
            us(2_022_000),
        );
        let got = timed(&out);
        assert_eq!(got.len(), 2);
        for ((_, at), want) in got.iter().zip([2_000_000, 2_002_500]) {
            assert!((at.micros() - want).abs() <= 600, "{at} for {want} µs");
        }
        let timing = &s.peer_timing()[0].timing;
        assert_eq!(timing.stamped_commands, 2);
        let delay = timing.base_delay_us.unwrap();
        assert!((19_000..=20_100).contains(&delay), "{delay}");
        // A sender that stamps 0: receipt time, one warning for the peer however often.
        let out = s.handle_data(
            mac_data(),
            &stamped_packet(3, 0, &[(0, &[0xFC])]),
            us(3_000_000),
        );
        assert_eq!(timed(&out), vec![(vec![0xFC], us(3_000_000))]);
        assert_eq!(warnings(&out), 1);
        let out = s.handle_data(
            mac_data(),
            &stamped_packet(4, 0, &[(0, &[0xFA])]),
            us(3_100_000),
        );
        assert_eq!(timed(&out), vec![(vec![0xFA], us(3_100_000))]);
        assert_eq!(warnings(&out), 0);
    }

    #[test]
    fn as_initiator_our_own_clock_syncs_map_the_stamps() {
        let mut s = session();
        // Invite a peer and let it accept on both ports.
        let to = mac_control();
        let out = s.connect(to, us(0));
        let token = sent(&out)
            .into_iter()
            .find_map(|(_, _, c)| match c {
                SessionCommand::Invitation(x) => Some(x.initiator_token),
                _ => None,
            })
            .unwrap();
        let ok = SessionCommand::Accepted(super::super::super::packet::Exchange {
            initiator_token: token,
            ssrc: MAC_SSRC,
            name: Some("Mac".into()),
        })
        .to_bytes();
        s.handle_control(to, &ok, us(1_000));
        // Joined on the data port, we send CK0 at once; the peer (its clock 1 000 000 ticks
        // ahead) answers.
        let out = s.handle_data(mac_data(), &ok, us(10_000));
        let t1 = sent(&out)
            .into_iter()
            .find_map(|(_, _, c)| match c {
                SessionCommand::ClockSync(ck) if ck.count == 0 => Some(ck.timestamps_100us[0]),
                _ => None,
            })
            .expect("CK0");
        assert_eq!(t1, 100);
        s.handle_data(
            mac_data(),
            &clock_sync(MAC_SSRC, 1, [t1, 1_000_105, 0]),
            us(11_000),
        );
        let out = s.handle_data(
            mac_data(),
            &stamped_packet(1, 1_000_500, &[(0, &[0xFA])]),
            us(65_000),
        );
        let got = timed(&out);
        assert!((got[0].1.micros() - 50_000).abs() <= 600, "{:?}", got);
    }

    #[test]
    fn times_never_go_back_and_recovered_transport_carries_the_packets_send_time() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        // The Mac's clock reads 5 000 000 ticks at our 1 s, as above.
        s.handle_data(
            mac_data(),
            &clock_sync(MAC_SSRC, 0, [5_000_000, 0, 0]),
            us(1_000_000),
        );
        s.handle_data(
            mac_data(),
            &clock_sync(MAC_SSRC, 2, [5_000_000, 10_000, 5_000_010]),
            us(1_002_000),
        );
        // A stamp 100 ms in the future is refused: receipt time, 2.000 s.
        let out = s.handle_data(
            mac_data(),
            &stamped_packet(1, 5_011_000, &[(0, &[0xF8])]),
            us(2_000_000),
        );
        assert_eq!(timed(&out), vec![(vec![0xF8], us(2_000_000))]);
        // The next packet was meant at 1.990 s: it may not come before the one already given.
        let out = s.handle_data(
            mac_data(),
            &stamped_packet(2, 5_009_900, &[(0, &[0xF8])]),
            us(2_001_000),
        );
        assert_eq!(timed(&out), vec![(vec![0xF8], us(2_000_000))]);
        // Packets 3 and 4 (a Start) are lost; packet 5, sent at 3.000 s and received 15 ms
        // later, carries a journal saying the transport runs.
        let mut bytes = stamped_packet(5, 5_020_000, &[(0, &[0xF8])]);
        bytes[12] |= 0x40;
        bytes.extend_from_slice(&[0x40, 0x00, 0x01, 0x10, 0x03, 0x40]);
        let out = s.handle_data(mac_data(), &bytes, us(3_015_000));
        let got = timed(&out);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            got[0].0,
            vec![0xFB],
            "Continue: no position to say it is the top"
        );
        for (_, at) in &got {
            assert!((at.micros() - 3_000_000).abs() <= 600, "{at}");
        }
    }
}
