//! SysEx reassembly: the segments an RTP-MIDI list carries joined into whole messages, one
//! assembler per peer.

/// Longest reassembled SysEx kept by a [`SysexAssembler`]; longer ones are dropped whole so a
/// peer cannot make us buffer without limit.
pub const MAX_SYSEX_BYTES: usize = 64 * 1024;

/// Joins SysEx segments (`F0..F0` first, `F7..F0` middle, `F7..F7` last, `..F4` cancel) into
/// whole `F0..F7` messages. One per peer: segments of different peers must not mix.
///
/// A segment that arrives with no message open (its start was lost) is dropped rather than
/// passed on as a malformed message; call [`SysexAssembler::reset`] when packets were lost.
#[derive(Clone, Debug, Default)]
pub struct SysexAssembler {
    buffer: Vec<u8>,
    open: bool,
}

impl SysexAssembler {
    /// An assembler with no message open.
    pub fn new() -> Self {
        Self::default()
    }

    /// Abandons the message being assembled, if any.
    pub fn reset(&mut self) {
        self.buffer.clear();
        self.open = false;
    }

    /// True while a segmented message has started and not ended.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Takes one segment (as listed by [`MidiList`](super::MidiList)); returns the whole message when this
    /// segment completes one. Bytes that are not a SysEx segment are ignored.
    pub fn push(&mut self, segment: &[u8]) -> Option<&[u8]> {
        let (&first, rest) = segment.split_first()?;
        let (&last, data) = rest.split_last()?;
        if first != 0xF0 && first != 0xF7 {
            return None;
        }
        if first == 0xF0 {
            // A new message starts: whatever was open is lost.
            self.reset();
            self.buffer.push(0xF0);
            self.open = true;
        } else if !self.open {
            return None;
        }
        if last == 0xF4 {
            self.reset();
            return None;
        }
        if self.buffer.len() + data.len() + 1 > MAX_SYSEX_BYTES {
            self.reset();
            return None;
        }
        self.buffer.extend_from_slice(data);
        match last {
            0xF7 => {
                self.buffer.push(0xF7);
                self.open = false;
                Some(&self.buffer)
            }
            // F0: more segments follow.
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;

    #[test]
    fn sysex_segments_are_listed_and_reassembled() {
        let first = packet(&[0x06, 0xF0, 0x7E, 0x01, 0xF8, 0x02, 0xF0]);
        let middle = packet(&[0x03, 0xF7, 0x03, 0xF0]);
        let last = packet(&[0x03, 0xF7, 0x04, 0xF7]);
        let mut list = MidiList::new();
        let mut sysex = SysexAssembler::new();
        let mut whole = Vec::new();
        let mut realtime = Vec::new();
        for p in [&first, &middle, &last] {
            decode_data(p, &mut list).unwrap();
            for (_, cmd) in list.iter() {
                if cmd[0] >= 0xF8 {
                    realtime.push(cmd[0]);
                } else if let Some(m) = sysex.push(cmd) {
                    whole.push(m.to_vec());
                }
            }
        }
        assert_eq!(realtime, vec![0xF8]);
        assert_eq!(whole, vec![vec![0xF0, 0x7E, 0x01, 0x02, 0x03, 0x04, 0xF7]]);
        assert!(!sysex.is_open());
    }

    #[test]
    fn cancelled_and_orphaned_sysex_segments_yield_nothing() {
        let mut sysex = SysexAssembler::new();
        assert_eq!(sysex.push(&[0xF0, 1, 0xF0]), None);
        assert_eq!(sysex.push(&[0xF7, 0xF4]), None);
        assert!(!sysex.is_open());
        // The start was lost: middle and end are dropped, not passed on half.
        assert_eq!(sysex.push(&[0xF7, 2, 0xF0]), None);
        assert_eq!(sysex.push(&[0xF7, 3, 0xF7]), None);
        // A whole message passes through.
        assert_eq!(
            sysex.push(&[0xF0, 0x7F, 0x7F, 0x01, 0xF7]),
            Some(&[0xF0, 0x7F, 0x7F, 0x01, 0xF7][..])
        );
    }

    #[test]
    fn oversized_sysex_is_dropped() {
        let mut sysex = SysexAssembler::new();
        let mut chunk = vec![0xF7];
        chunk.extend(std::iter::repeat_n(0x11, 4000));
        chunk.push(0xF0);
        sysex.push(&[0xF0, 0xF0]);
        for _ in 0..(MAX_SYSEX_BYTES / 4000 + 1) {
            sysex.push(&chunk);
        }
        assert!(!sysex.is_open());
        assert_eq!(sysex.push(&[0xF7, 0xF7]), None);
    }
}
