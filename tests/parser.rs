//! Property-based tests of the MIDI parser: generated streams of valid messages with realtime
//! bytes slipped in anywhere, arbitrary chunking, and arbitrary garbage.

use playhead::parse::{MachineCommand, MidiEvent, Parser};
use proptest::prelude::*;

/// A message a generator can emit: its bytes, and the event the parser must return for it.
#[derive(Clone, Debug)]
struct Msg {
    bytes: Vec<u8>,
    event: Option<MidiEvent>,
}

fn channel_msg() -> impl Strategy<Value = Msg> {
    (0x8u8..=0xE, 0u8..16, 0u8..128, 0u8..128).prop_map(|(kind, ch, d0, d1)| {
        let status = (kind << 4) | ch;
        if kind == 0xC || kind == 0xD {
            Msg {
                bytes: vec![status, d0],
                event: (kind == 0xC).then_some(MidiEvent::ProgramChange {
                    channel: ch,
                    program: d0,
                }),
            }
        } else {
            Msg {
                bytes: vec![status, d0, d1],
                event: None,
            }
        }
    })
}

fn system_msg() -> impl Strategy<Value = Msg> {
    prop_oneof![
        (0u8..128, 0u8..128).prop_map(|(l, m)| Msg {
            bytes: vec![0xF2, l, m],
            event: Some(MidiEvent::SongPosition {
                sixteenths: u16::from(l) | (u16::from(m) << 7)
            }),
        }),
        (0u8..128).prop_map(|s| Msg {
            bytes: vec![0xF3, s],
            event: Some(MidiEvent::SongSelect { song: s }),
        }),
        (0u8..128).prop_map(|d| Msg {
            bytes: vec![0xF1, d],
            event: Some(MidiEvent::TimecodeQuarterFrame { data: d }),
        }),
        // MMC Locate with any time bytes, to any device.
        (0u8..128, proptest::collection::vec(0u8..128, 5)).prop_map(|(dev, t)| {
            let body = [
                0x7F, dev, 0x06, 0x44, 0x06, 0x01, t[0], t[1], t[2], t[3], t[4],
            ];
            let mut bytes = vec![0xF0];
            bytes.extend(body);
            bytes.push(0xF7);
            Msg {
                bytes,
                event: Some(MidiEvent::MachineControl {
                    device: dev,
                    command: MachineCommand::Locate {
                        rate_code: (t[0] >> 5) & 3,
                        hours: t[0] & 0x1F,
                        minutes: t[1] & 0x3F,
                        seconds: t[2] & 0x3F,
                        frames: t[3] & 0x1F,
                    },
                }),
            }
        }),
        proptest::collection::vec(0u8..128, 0..300).prop_map(|body| {
            let mut bytes = vec![0xF0];
            bytes.extend(&body);
            bytes.push(0xF7);
            // Only the exact MTC full-frame shape decodes to an event; any other SysEx is
            // skipped.
            let event = match body.as_slice() {
                [0x7F, _, 0x01, 0x01, hr, mn, sc, fr] => Some(MidiEvent::TimecodeFull {
                    rate_code: (hr >> 5) & 3,
                    hours: hr & 0x1F,
                    minutes: *mn,
                    seconds: *sc,
                    frames: *fr,
                }),
                // MIDI Machine Control: the transport commands and Locate.
                [0x7F, dev, 0x06, cmd] => {
                    let command = match cmd {
                        0x01 => Some(MachineCommand::Stop),
                        0x02 => Some(MachineCommand::Play),
                        0x03 => Some(MachineCommand::DeferredPlay),
                        0x09 => Some(MachineCommand::Pause),
                        _ => None,
                    };
                    command.map(|command| MidiEvent::MachineControl {
                        device: *dev,
                        command,
                    })
                }
                [0x7F, dev, 0x06, 0x44, 0x06, 0x01, hr, mn, sc, fr, _] => {
                    Some(MidiEvent::MachineControl {
                        device: *dev,
                        command: MachineCommand::Locate {
                            rate_code: (hr >> 5) & 3,
                            hours: hr & 0x1F,
                            minutes: mn & 0x3F,
                            seconds: sc & 0x3F,
                            frames: fr & 0x1F,
                        },
                    })
                }
                _ => None,
            };
            Msg { bytes, event }
        }),
    ]
}

fn realtime_byte() -> impl Strategy<Value = (u8, MidiEvent)> {
    prop_oneof![
        Just((0xF8, MidiEvent::Clock)),
        Just((0xFA, MidiEvent::Start)),
        Just((0xFB, MidiEvent::Continue)),
        Just((0xFC, MidiEvent::Stop)),
    ]
}

fn parse_chunks(chunks: &[&[u8]]) -> (Vec<MidiEvent>, u64) {
    let mut p = Parser::new();
    let mut out = Vec::new();
    for c in chunks {
        p.feed(c, |e| out.push(e));
    }
    (out, p.stats().garbage_bytes)
}

fn is_realtime(e: &MidiEvent) -> bool {
    matches!(
        e,
        MidiEvent::Clock | MidiEvent::Start | MidiEvent::Continue | MidiEvent::Stop
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Valid messages with realtime bytes inserted at any byte position: every message comes
    /// out once, in order, and every realtime byte comes out, in order; nothing is garbage.
    #[test]
    fn realtime_anywhere_loses_nothing(
        msgs in proptest::collection::vec(prop_oneof![channel_msg(), system_msg()], 0..40),
        inserts in proptest::collection::vec((any::<prop::sample::Index>(), realtime_byte()), 0..40),
    ) {
        let mut stream: Vec<u8> = msgs.iter().flat_map(|m| m.bytes.clone()).collect();
        let mut rt_expected = Vec::new();
        let mut positions: Vec<(usize, u8, MidiEvent)> = inserts
            .iter()
            .map(|(i, (b, e))| (i.index(stream.len() + 1), *b, *e))
            .collect();
        positions.sort_by_key(|p| p.0);
        for (offset, (pos, b, e)) in positions.iter().enumerate() {
            stream.insert(pos + offset, *b);
            rt_expected.push(*e);
        }
        let (events, garbage) = parse_chunks(&[&stream]);
        let (rt, other): (Vec<MidiEvent>, Vec<MidiEvent>) =
            events.into_iter().partition(is_realtime);
        let want: Vec<MidiEvent> = msgs.iter().filter_map(|m| m.event).collect();
        prop_assert_eq!(other, want);
        prop_assert_eq!(rt, rt_expected);
        prop_assert_eq!(garbage, 0);
    }

    /// Running status: repeated channel messages without their status byte parse the same as
    /// with it.
    #[test]
    fn running_status_equals_full_status(
        ch in 0u8..16,
        programs in proptest::collection::vec(0u8..128, 1..20),
    ) {
        let full: Vec<u8> = programs.iter().flat_map(|p| [0xC0 | ch, *p]).collect();
        let mut running = vec![0xC0 | ch];
        running.extend(&programs);
        prop_assert_eq!(parse_chunks(&[&full]), parse_chunks(&[&running]));
    }

    /// Any split of a stream into chunks gives the same events as the whole stream.
    #[test]
    fn chunking_does_not_matter(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
    ) {
        let mut idx: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        idx.sort();
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut last = 0;
        for i in idx {
            chunks.push(&bytes[last..i]);
            last = i;
        }
        chunks.push(&bytes[last..]);
        prop_assert_eq!(parse_chunks(&chunks), parse_chunks(&[&bytes]));
    }

    /// In arbitrary garbage, every Start, Continue, Stop and Clock byte still comes out.
    #[test]
    fn garbage_never_hides_a_transport_byte(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let (events, _) = parse_chunks(&[&bytes]);
        let want: Vec<MidiEvent> = bytes
            .iter()
            .filter_map(|b| match b {
                0xF8 => Some(MidiEvent::Clock),
                0xFA => Some(MidiEvent::Start),
                0xFB => Some(MidiEvent::Continue),
                0xFC => Some(MidiEvent::Stop),
                _ => None,
            })
            .collect();
        let got: Vec<MidiEvent> = events.into_iter().filter(is_realtime).collect();
        prop_assert_eq!(got, want);
    }
}
