//! Network MIDI wire formats: AppleMIDI session commands, RTP-MIDI data packets (RFC 6295), and
//! the parts of the recovery journal that carry the transport.
//!
//! Everything here is pure: bytes in, values out, nothing read from a socket or a clock. No
//! decoder panics or reads past its input whatever the bytes are; the tests feed every decoder
//! random and mutated buffers, and `fuzz/` does the same at scale.
//!
//! Layout of a data packet, as read here:
//!
//! ```text
//! RTP header (12 bytes: V=2, PT=0x61, sequence number, 10 kHz timestamp, SSRC)
//! command section header: B J Z P LEN (1 byte, or 2 when B=1 for a 12-bit LEN)
//! MIDI list: [delta] command, delta command, delta command ...  (LEN bytes)
//! recovery journal (when J=1): header, system journal (chapters D V Q F X), channel journals
//! ```
//!
//! One file per format: `command` (IN OK NO BY CK RS), `rtp` (header and MIDI list), `sysex`
//! (reassembly) and `journal`; all of it is re-exported here.

mod command;
mod journal;
mod rtp;
mod sysex;
#[cfg(test)]
mod test_support;

pub use command::*;
pub use journal::*;
pub use rtp::*;
pub use sysex::*;

fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_be_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    /// How deep random input got, so the robustness test can show it reached past the headers.
    #[derive(Default)]
    struct Reached {
        commands: usize,
        list_errors: usize,
        sequencer_chapters: usize,
        session_commands: usize,
        whole_sysex: usize,
    }

    fn exercise_decoders(
        bytes: &[u8],
        list: &mut MidiList,
        sysex: &mut SysexAssembler,
        reached: &mut Reached,
    ) {
        reached.session_commands += usize::from(decode_command(bytes).is_ok());
        let _ = decode_journal(bytes);
        if let Ok(p) = decode_data(bytes, list) {
            reached.list_errors += usize::from(p.list_error.is_some());
            if let Some(j) = p.journal {
                if let Ok(j) = decode_journal(j) {
                    reached.sequencer_chapters += usize::from(system_transport_state(&j).is_some());
                    if let Some(f) = j.system.and_then(|s| s.timecode) {
                        let _ = f.complete_timecode();
                    }
                }
            }
            for (_, cmd) in list.iter() {
                assert!(!cmd.is_empty());
                reached.commands += 1;
                reached.whole_sysex += usize::from(sysex.push(cmd).is_some());
            }
        }
        let _ = sysex.push(bytes);
    }

    #[test]
    fn no_decoder_panics_on_random_truncated_or_mutated_input() {
        let mut rng = crate::rng::Rng::seeded(0x9E37_79B9_7F4A_7C15);
        let mut list = MidiList::new();
        let mut sysex = SysexAssembler::new();
        let mut seeds: Vec<Vec<u8>> = vec![
            SessionCommand::Invitation(exchange(Some("seed"))).to_bytes(),
            SessionCommand::ClockSync(ClockSync {
                ssrc: 1,
                count: 2,
                timestamps_100us: [1, 2, 3],
            })
            .to_bytes(),
            SessionCommand::ReceiverFeedback(ReceiverFeedback {
                ssrc: 1,
                sequence_number: 2,
            })
            .to_bytes(),
            packet(&[0x0B, 0x90, 60, 100, 0x05, 62, 90, 0x00, 0xF8, 0x01, 64, 0]),
            packet(&[0x06, 0xF0, 0x7E, 0x01, 0xF8, 0x02, 0xF0]),
            packet(&[
                0x0A, 0xF0, 0x7F, 0x7F, 0x01, 0x01, 0x21, 0x02, 0x03, 0x04, 0xF7,
            ]),
            journal_bytes(true, 1234),
        ];
        let mut with_journal = packet(&[0x41, 0xFA]);
        with_journal.extend_from_slice(&journal_bytes(false, 7));
        seeds.push(with_journal);

        let mut reached = Reached::default();
        for round in 0..60_000 {
            let bytes: Vec<u8> = match round % 3 {
                // Pure noise, biased towards the interesting first bytes now and then.
                0 => {
                    let len = rng.below(64);
                    let mut b: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                    if len > 2 && rng.below(2) == 0 {
                        b[0] = 0x80;
                        b[1] = 0x61;
                    }
                    b
                }
                // A valid seed cut short.
                1 => {
                    let s = &seeds[rng.below(seeds.len())];
                    s[..rng.below(s.len() + 1)].to_vec()
                }
                // A valid seed with a few bytes changed, or bytes added.
                _ => {
                    let mut b = seeds[rng.below(seeds.len())].clone();
                    for _ in 0..1 + rng.below(4) {
                        let i = rng.below(b.len());
                        b[i] = rng.next_u64() as u8;
                    }
                    if rng.below(4) == 0 {
                        b.extend((0..rng.below(8)).map(|_| rng.next_u64() as u8));
                    }
                    b
                }
            };
            exercise_decoders(&bytes, &mut list, &mut sysex, &mut reached);
            // Journals are also fed after a valid packet head, so the chapter code sees them.
            let mut framed = packet(&[0x40]);
            framed.extend_from_slice(&bytes);
            exercise_decoders(&framed, &mut list, &mut sysex, &mut reached);
        }
        assert!(reached.commands > 10_000, "{}", reached.commands);
        assert!(reached.list_errors > 1_000, "{}", reached.list_errors);
        assert!(
            reached.sequencer_chapters > 1_000,
            "{}",
            reached.sequencer_chapters
        );
        assert!(
            reached.session_commands > 1_000,
            "{}",
            reached.session_commands
        );
        assert!(reached.whole_sysex > 100, "{}", reached.whole_sysex);
    }
}
