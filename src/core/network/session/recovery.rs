//! Transport lost with missing packets, made up from the sender's recovery journal so the
//! video still stops or plays.

use super::super::packet::JournalTransport;
use super::peer::Peer;
use super::{Notice, Output};
use crate::time::Stamp;

/// Makes up the transport bytes lost with missing packets, when the journal shows them.
///
/// When the lost commands were meant is unknown (before the packet whose journal told was
/// sent): they carry `at`, that packet's mapped send time or its receipt.
pub(super) fn recover_transport(
    p: &mut Peer,
    state: JournalTransport,
    at: Stamp,
    out: &mut Vec<Output>,
) {
    if state.running == p.running.unwrap_or(false) {
        return;
    }
    p.running = Some(state.running);
    out.push(Output::Notice(Notice::TransportRecovered {
        peer: p.id,
        running: state.running,
        song_position_clocks: state.song_position_clocks,
    }));
    // Song Position counts sixteenth notes, 6 MIDI clocks each; a position between two
    // sixteenths is rounded down, the nearest a Song Position Pointer can say.
    let position = state.song_position_clocks.map(|clocks| {
        let sixteenths = (clocks / 6).min(0x3FFF) as u16;
        vec![0xF2, (sixteenths & 0x7F) as u8, (sixteenths >> 7) as u8]
    });
    let mut midi = |bytes: Vec<u8>| out.push(p.midi(bytes, at));
    if state.running {
        // Locate, then play from there: Start only when the journal puts us at the top.
        let from_top = state.song_position_clocks == Some(0);
        if let Some(spp) = position {
            midi(spp);
        }
        midi(vec![if from_top { 0xFA } else { 0xFB }]);
    } else {
        midi(vec![0xFC]);
        if let Some(spp) = position {
            midi(spp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;

    #[test]
    fn journal_recovers_a_lost_stop_with_its_position() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        s.handle_data(mac_data(), &data_packet(MAC_SSRC, 1, &[&[0xFA]]), us(1_000));
        // Packet 2 carried the Stop and is lost; packet 3 brings a journal saying stopped at
        // clock 96 (sixteenth 16), and a Song Position of its own.
        let out = s.handle_data(
            mac_data(),
            &packet_with_journal(MAC_SSRC, 3, &[&[0xF2, 0x20, 0x00]], false, Some(96)),
            us(2_000),
        );
        let p = PeerId(MAC_SSRC);
        assert_eq!(
            notices(&out),
            vec![
                Notice::SequenceGap {
                    peer: p,
                    lost_packets: 1
                },
                Notice::TransportRecovered {
                    peer: p,
                    running: false,
                    song_position_clocks: Some(96)
                },
            ]
        );
        assert_eq!(
            midi(&out),
            vec![
                (p, vec![0xFC]),
                (p, vec![0xF2, 16, 0]),
                (p, vec![0xF2, 0x20, 0x00]),
            ]
        );
    }

    #[test]
    fn journal_recovers_a_lost_start_or_continue() {
        let p = PeerId(MAC_SSRC);
        // Lost Start at the top of the song: locate to 0 and Start.
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        s.handle_data(mac_data(), &data_packet(MAC_SSRC, 1, &[&[0xF8]]), us(1_000));
        let out = s.handle_data(
            mac_data(),
            &packet_with_journal(MAC_SSRC, 3, &[&[0xF8]], true, Some(0)),
            us(2_000),
        );
        assert_eq!(
            midi(&out),
            vec![(p, vec![0xF2, 0, 0]), (p, vec![0xFA]), (p, vec![0xF8])]
        );
        // Lost Continue far into the song (70 000 clocks needs the TOP bits): locate, Continue.
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        s.handle_data(mac_data(), &data_packet(MAC_SSRC, 1, &[&[0xFC]]), us(1_000));
        let out = s.handle_data(
            mac_data(),
            &packet_with_journal(MAC_SSRC, 5, &[], true, Some(70_000)),
            us(2_000),
        );
        let sixteenths = 70_000 / 6;
        assert_eq!(
            midi(&out),
            vec![
                (
                    p,
                    vec![0xF2, (sixteenths & 0x7F) as u8, (sixteenths >> 7) as u8]
                ),
                (p, vec![0xFB]),
            ]
        );
        // No position in the journal: Continue from wherever the last Song Position said.
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        s.handle_data(
            mac_data(),
            &data_packet(MAC_SSRC, 1, &[&[0xF2, 0, 1]]),
            us(1_000),
        );
        let out = s.handle_data(
            mac_data(),
            &packet_with_journal(MAC_SSRC, 3, &[], true, None),
            us(2_000),
        );
        assert_eq!(midi(&out), vec![(p, vec![0xFB])]);
    }

    #[test]
    fn journal_that_agrees_or_comes_without_loss_changes_nothing() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        s.handle_data(mac_data(), &data_packet(MAC_SSRC, 1, &[&[0xFA]]), us(1_000));
        // No loss: the journal is not consulted even if it disagrees.
        let out = s.handle_data(
            mac_data(),
            &packet_with_journal(MAC_SSRC, 2, &[], false, Some(0)),
            us(2_000),
        );
        assert!(midi(&out).is_empty());
        // Loss, but the journal agrees with what we have: nothing made up.
        let out = s.handle_data(
            mac_data(),
            &packet_with_journal(MAC_SSRC, 4, &[&[0xF8]], true, Some(24)),
            us(3_000),
        );
        assert_eq!(notices(&out).len(), 1, "only the gap");
        assert_eq!(midi(&out), vec![(PeerId(MAC_SSRC), vec![0xF8])]);
    }

    #[test]
    fn journal_in_a_later_packet_still_recovers() {
        let mut s = session();
        join(&mut s, mac_control(), MAC_SSRC, 0);
        s.handle_data(mac_data(), &data_packet(MAC_SSRC, 1, &[&[0xFA]]), us(1_000));
        // The packet after the gap has no journal; the next one does.
        s.handle_data(mac_data(), &data_packet(MAC_SSRC, 3, &[]), us(2_000));
        let out = s.handle_data(
            mac_data(),
            &packet_with_journal(MAC_SSRC, 4, &[], false, None),
            us(3_000),
        );
        assert_eq!(midi(&out), vec![(PeerId(MAC_SSRC), vec![0xFC])]);
    }
}
