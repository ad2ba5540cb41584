//! The recovery journal (RFC 6295 appendices A and B), as far as playhead reads it: the header
//! and the system chapters that carry the transport (Q) and the time code (F).

use std::fmt;

use super::be_u16;

/// The parts of a recovery journal (RFC 6295 appendix A and B) that playhead uses. The journal
/// in a packet describes the sender's stream up to the packet before it, from the checkpoint on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Journal {
    /// S flag: the journal only covers the loss of the single packet before this one.
    pub single_packet_loss: bool,
    /// H flag: channel journals use the enhanced chapter C encoding.
    pub enhanced_chapter_c: bool,
    /// First packet of the history the journal covers.
    pub checkpoint_sequence_number: u16,
    /// Number of channel journals that follow the system journal (not decoded).
    pub channel_journals: u8,
    /// The system journal, when present.
    pub system: Option<SystemJournal>,
}

/// The system journal chapters that carry the transport; the others are skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SystemJournal {
    /// Chapter Q: sequencer state (Start, Stop, Continue, Song Position, clocks).
    pub sequencer: Option<ChapterQ>,
    /// Chapter F: MIDI Time Code tape position.
    pub timecode: Option<ChapterF>,
}

/// Chapter Q, sequencer state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChapterQ {
    /// N flag: the most recent of Start, Continue and Stop was Start or Continue.
    pub running: bool,
    /// D flag: the song position is at a downbeat (a Clock has played since the last locate).
    pub downbeat: bool,
    /// TOP and CLOCK fields (C flag): the song position in MIDI clocks (24 per quarter note).
    pub song_position_clocks: Option<u32>,
    /// TIMETOOLS field (T flag): 24 bits about the MIDI Tick and similar timing tools.
    pub timetools: Option<u32>,
}

/// Chapter F, MIDI Time Code tape position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChapterF {
    /// Q flag: `complete` is in quarter-frame form (eight nibbles) rather than full-frame form.
    pub quarter_frames: bool,
    /// D flag: time code was running backwards.
    pub reverse: bool,
    /// POINT field: which quarter frame `partial` stops at.
    pub point: u8,
    /// COMPLETE field (C flag): the most recent complete time code.
    pub complete: Option<u32>,
    /// PARTIAL field (P flag): quarter frames of a time code still being sent.
    pub partial: Option<u32>,
}

/// A time code read from chapter F.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalTimecode {
    /// Frame rate code: 0 = 24, 1 = 25, 2 = 29.97 drop-frame, 3 = 30.
    pub rate_code: u8,
    /// Hours, 0-23.
    pub hours: u8,
    /// Minutes, 0-59.
    pub minutes: u8,
    /// Seconds, 0-59.
    pub seconds: u8,
    /// Frames within the second.
    pub frames: u8,
}

impl ChapterF {
    /// The complete time code field decoded, when there is one.
    pub fn complete_timecode(&self) -> Option<JournalTimecode> {
        let c = self.complete?;
        if self.quarter_frames {
            // MT0 (frames low nibble) is the most significant nibble, MT7 the least.
            let nibble = |i: u32| ((c >> (28 - 4 * i)) & 0x0F) as u8;
            Some(JournalTimecode {
                frames: nibble(0) | (nibble(1) & 0x01) << 4,
                seconds: nibble(2) | (nibble(3) & 0x03) << 4,
                minutes: nibble(4) | (nibble(5) & 0x03) << 4,
                hours: nibble(6) | (nibble(7) & 0x01) << 4,
                rate_code: (nibble(7) >> 1) & 0x03,
            })
        } else {
            let [hr, mn, sc, fr] = c.to_be_bytes();
            Some(JournalTimecode {
                rate_code: (hr >> 5) & 0x03,
                hours: hr & 0x1F,
                minutes: mn & 0x3F,
                seconds: sc & 0x3F,
                frames: fr & 0x1F,
            })
        }
    }
}

/// The transport as a journal's chapter Q tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalTransport {
    /// True when the sender's sequencer was playing.
    pub running: bool,
    /// Song position in MIDI clocks (24 per quarter note, 6 per Song Position unit), if sent.
    pub song_position_clocks: Option<u32>,
}

/// The transport state in a journal, when its system journal has chapter Q.
pub fn system_transport_state(journal: &Journal) -> Option<JournalTransport> {
    let q = journal.system?.sequencer?;
    Some(JournalTransport {
        running: q.running,
        song_position_clocks: q.song_position_clocks,
    })
}

/// Why bytes are not a recovery journal this decoder can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalError {
    /// Fewer bytes than the journal header or system journal header need.
    TooShort {
        /// Bytes needed at least.
        needed: usize,
        /// Bytes there were.
        got: usize,
    },
    /// The system journal LENGTH is below its own header size or past the end of the packet.
    BadSystemLength {
        /// LENGTH as declared.
        declared: usize,
        /// Bytes available for it.
        available: usize,
    },
    /// A chapter runs past the system journal LENGTH.
    ChapterOverrun {
        /// The chapter letter: 'D', 'V', 'Q' or 'F'.
        chapter: char,
    },
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::TooShort { needed, got } => {
                write!(f, "recovery journal too short: {got} bytes, needs {needed}")
            }
            JournalError::BadSystemLength {
                declared,
                available,
            } => write!(
                f,
                "system journal declares {declared} bytes, {available} available"
            ),
            JournalError::ChapterOverrun { chapter } => {
                write!(f, "system journal chapter {chapter} runs past its length")
            }
        }
    }
}

impl std::error::Error for JournalError {}

/// Decodes the journal header and the system journal's chapters Q and F, skipping the rest by
/// their lengths. Channel journals are counted, not read.
pub fn decode_journal(bytes: &[u8]) -> Result<Journal, JournalError> {
    let header = bytes.get(..3).ok_or(JournalError::TooShort {
        needed: 3,
        got: bytes.len(),
    })?;
    let flags = header[0];
    let channel_journals = if flags & 0x20 != 0 {
        (flags & 0x0F) + 1
    } else {
        0
    };
    let system = if flags & 0x40 != 0 {
        Some(decode_system_journal(&bytes[3..])?)
    } else {
        None
    };
    Ok(Journal {
        single_packet_loss: flags & 0x80 != 0,
        enhanced_chapter_c: flags & 0x10 != 0,
        checkpoint_sequence_number: u16::from_be_bytes([header[1], header[2]]),
        channel_journals,
        system,
    })
}

/// Reads forward through a chapter area, failing (not panicking) at its end.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, chapter: char) -> Result<&'a [u8], JournalError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(JournalError::ChapterOverrun { chapter })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn byte(&mut self, chapter: char) -> Result<u8, JournalError> {
        Ok(self.take(1, chapter)?[0])
    }
}

fn decode_system_journal(bytes: &[u8]) -> Result<SystemJournal, JournalError> {
    let word = be_u16(bytes, 0).ok_or(JournalError::TooShort {
        needed: 5,
        got: bytes.len() + 3,
    })?;
    let length = usize::from(word & 0x03FF);
    if length < 2 || length > bytes.len() {
        return Err(JournalError::BadSystemLength {
            declared: length,
            available: bytes.len(),
        });
    }
    let mut r = Reader {
        bytes: &bytes[2..length],
        pos: 0,
    };
    let mut system = SystemJournal::default();
    if word & 0x4000 != 0 {
        skip_chapter_d(&mut r)?;
    }
    if word & 0x2000 != 0 {
        r.take(1, 'V')?;
    }
    if word & 0x1000 != 0 {
        let h = r.byte('Q')?;
        let song_position_clocks = if h & 0x10 != 0 {
            let c = r.take(2, 'Q')?;
            Some(u32::from(h & 0x07) << 16 | u32::from(u16::from_be_bytes([c[0], c[1]])))
        } else {
            None
        };
        let timetools = if h & 0x08 != 0 {
            let t = r.take(3, 'Q')?;
            Some(u32::from(t[0]) << 16 | u32::from(t[1]) << 8 | u32::from(t[2]))
        } else {
            None
        };
        system.sequencer = Some(ChapterQ {
            running: h & 0x40 != 0,
            downbeat: h & 0x20 != 0,
            song_position_clocks,
            timetools,
        });
    }
    if word & 0x0800 != 0 {
        let h = r.byte('F')?;
        let mut field = |present: bool| -> Result<Option<u32>, JournalError> {
            if !present {
                return Ok(None);
            }
            let b = r.take(4, 'F')?;
            Ok(Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
        };
        let complete = field(h & 0x40 != 0)?;
        let partial = field(h & 0x20 != 0)?;
        system.timecode = Some(ChapterF {
            quarter_frames: h & 0x10 != 0,
            reverse: h & 0x08 != 0,
            point: h & 0x07,
            complete,
            partial,
        });
    }
    // Chapter X (SysEx) comes last and is not needed: the system journal LENGTH already bounds it.
    Ok(system)
}

/// Chapter D (simple system commands) has optional fields, some of them with their own lengths.
fn skip_chapter_d(r: &mut Reader<'_>) -> Result<(), JournalError> {
    let h = r.byte('D')?;
    // Reset, Tune Request and Song Select fields: one byte each.
    for flag in [0x40, 0x20, 0x10] {
        if h & flag != 0 {
            r.take(1, 'D')?;
        }
    }
    // F4 and F5 fields: a 2-byte header whose 10-bit LENGTH includes itself.
    for flag in [0x08, 0x04] {
        if h & flag != 0 {
            let head = r.take(2, 'D')?;
            let len = usize::from(u16::from_be_bytes([head[0], head[1]]) & 0x03FF);
            r.take(
                len.checked_sub(2)
                    .ok_or(JournalError::ChapterOverrun { chapter: 'D' })?,
                'D',
            )?;
        }
    }
    // F9 and FD fields: a 1-byte header whose 5-bit LENGTH includes itself.
    for flag in [0x02, 0x01] {
        if h & flag != 0 {
            let len = usize::from(r.byte('D')? & 0x1F);
            r.take(
                len.checked_sub(1)
                    .ok_or(JournalError::ChapterOverrun { chapter: 'D' })?,
                'D',
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;

    #[test]
    fn journal_gives_the_sequencer_state_and_time_code() {
        let j = decode_journal(&journal_bytes(false, 0x1_2345)).unwrap();
        assert_eq!(j.checkpoint_sequence_number, 0x0102);
        assert_eq!(j.channel_journals, 2);
        let q = j.system.unwrap().sequencer.unwrap();
        assert!(!q.running && q.downbeat);
        assert_eq!(q.timetools, Some(0));
        assert_eq!(
            system_transport_state(&j),
            Some(JournalTransport {
                running: false,
                song_position_clocks: Some(0x1_2345)
            })
        );
        let f = j.system.unwrap().timecode.unwrap();
        assert_eq!(
            f.complete_timecode(),
            Some(JournalTimecode {
                rate_code: 1,
                hours: 1,
                minutes: 2,
                seconds: 3,
                frames: 4
            })
        );
        let running = decode_journal(&journal_bytes(true, 96)).unwrap();
        assert_eq!(
            system_transport_state(&running),
            Some(JournalTransport {
                running: true,
                song_position_clocks: Some(96)
            })
        );
    }

    #[test]
    fn quarter_frame_time_code_is_decoded() {
        // 30 fps (rate 3), 17:42:59:28 as eight quarter-frame nibbles MT0..MT7.
        let (fr, sc, mn, hr) = (28u32, 59u32, 42u32, 17u32);
        let nibbles = [
            fr & 0xF,
            fr >> 4,
            sc & 0xF,
            sc >> 4,
            mn & 0xF,
            mn >> 4,
            hr & 0xF,
            (hr >> 4) | (3 << 1),
        ];
        let complete = nibbles.iter().fold(0u32, |acc, n| acc << 4 | n);
        let f = ChapterF {
            quarter_frames: true,
            reverse: false,
            point: 7,
            complete: Some(complete),
            partial: None,
        };
        assert_eq!(
            f.complete_timecode(),
            Some(JournalTimecode {
                rate_code: 3,
                hours: 17,
                minutes: 42,
                seconds: 59,
                frames: 28
            })
        );
    }

    #[test]
    fn journal_without_system_part_or_chapter_q_has_no_transport() {
        let j = decode_journal(&[0x20, 0, 1, 0xEE]).unwrap();
        assert_eq!(j.system, None);
        assert_eq!(system_transport_state(&j), None);
        // System journal with only chapter V.
        let j = decode_journal(&[0x40, 0, 1, 0x20, 0x03, 0x05]).unwrap();
        assert_eq!(system_transport_state(&j), None);
    }

    #[test]
    fn journal_errors_are_specific() {
        assert_eq!(
            decode_journal(&[0x40]),
            Err(JournalError::TooShort { needed: 3, got: 1 })
        );
        assert_eq!(
            decode_journal(&[0x40, 0, 1, 0x10, 0x09, 0x00]),
            Err(JournalError::BadSystemLength {
                declared: 9,
                available: 3
            })
        );
        // Chapter Q says C=1 but the system journal ends after its header byte.
        assert_eq!(
            decode_journal(&[0x40, 0, 1, 0x10, 0x03, 0x10, 0, 0]),
            Err(JournalError::ChapterOverrun { chapter: 'Q' })
        );
        // Chapter D with an F4 field whose LENGTH is below its own header.
        assert_eq!(
            decode_journal(&[0x40, 0, 1, 0x40, 0x05, 0x08, 0x00, 0x01]),
            Err(JournalError::ChapterOverrun { chapter: 'D' })
        );
    }
}
