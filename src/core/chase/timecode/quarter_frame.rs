//! MIDI Time Code quarter frames: the running timecode assembled from its eight pieces, with direction and the exact DAW position.

use super::{FrameRate, Timecode};
use crate::chase::ChaseError;

/// Which way the running timecode goes, told by the order of quarter-frame pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Pieces 0 to 7: time advances (play).
    Forward,
    /// Pieces 7 to 0: time goes back (reverse play, scrub).
    Backward,
}

/// A complete time assembled from eight quarter frames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuarterFrameTime {
    /// The time the DAW is at: the carried time plus two frames (minus two running backward),
    /// as the MTC specification prescribes.
    pub timecode: Timecode,
    /// Direction the pieces came in.
    pub direction: Direction,
    /// Receipt time of the last piece, on the caller's clock.
    pub received_at_s: f64,
}

impl QuarterFrameTime {
    /// The exact DAW position, in timecode seconds, at `received_at_s`: the last piece arrives
    /// a quarter frame before [`Self::timecode`] begins (1.75 frames after the carried time),
    /// so this is a quarter frame earlier than `timecode.real_time_s()` (later, running backward).
    pub fn real_time_at_receipt_s(&self) -> f64 {
        let quarter_s = self.timecode.rate().frame_duration_s() / 4.0;
        match self.direction {
            Direction::Forward => self.timecode.real_time_s() - quarter_s,
            Direction::Backward => self.timecode.real_time_s() + quarter_s,
        }
    }
}

/// Longest pause between two quarter frames of one sequence. At 24 fps pieces are 10.4 ms
/// apart; 100 ms (about ten pieces) means the stream stopped, so a partial time is stale.
pub const MAX_PIECE_GAP_S: f64 = 0.1;

/// Assembles MTC quarter frames into complete times. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct QuarterFrameAssembler {
    nibbles: [u8; 8],
    /// Direction and length of the sequence in progress, if any.
    sequence: Option<(Direction, u8)>,
    last_piece: u8,
    last_received_s: Option<f64>,
    broken_sequences: u64,
}

impl QuarterFrameAssembler {
    /// An assembler waiting for a piece 0 or 7.
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops any partial time. Call it on a full-frame message and when the transport stops.
    pub fn reset(&mut self) {
        self.sequence = None;
        self.last_received_s = None;
    }

    /// Sequences dropped because a piece was missing, out of order or late; for diagnostics.
    pub fn broken_sequences(&self) -> u64 {
        self.broken_sequences
    }

    /// Takes the data byte of one `F1` message and its receipt time. Returns the complete time
    /// when this piece finishes one, `Ok(None)` while assembling, and an error for a byte with
    /// bit 7 set or a complete time that does not exist at its rate (both also restart the
    /// assembly). A piece with a non-finite receipt time is dropped and restarts the assembly.
    pub fn push(
        &mut self,
        data: u8,
        received_at_s: f64,
    ) -> Result<Option<QuarterFrameTime>, ChaseError> {
        if data & 0x80 != 0 {
            self.break_sequence();
            return Err(ChaseError::QuarterFrameData { data });
        }
        if !received_at_s.is_finite() {
            self.break_sequence();
            self.last_received_s = None;
            return Ok(None);
        }
        let piece = (data >> 4) & 0x07;
        let late = self
            .last_received_s
            .is_some_and(|last| (received_at_s - last).abs() > MAX_PIECE_GAP_S);
        self.last_received_s = Some(received_at_s);

        let continues = match self.sequence {
            Some((Direction::Forward, _)) if !late => piece == self.last_piece + 1,
            Some((Direction::Backward, _)) if !late => {
                self.last_piece > 0 && piece == self.last_piece - 1
            }
            _ => false,
        };
        if continues {
            if let Some((_, len)) = self.sequence.as_mut() {
                *len += 1;
            }
        } else {
            self.break_sequence();
            self.sequence = match piece {
                0 => Some((Direction::Forward, 1)),
                7 => Some((Direction::Backward, 1)),
                // The middle of a sequence: wait for its start.
                _ => None,
            };
        }
        self.nibbles[usize::from(piece)] = data & 0x0F;
        self.last_piece = piece;

        let Some((direction, 8)) = self.sequence else {
            return Ok(None);
        };
        self.sequence = None;
        let n = self.nibbles;
        let carried = Timecode::new(
            n[6] | ((n[7] & 0x01) << 4),
            n[4] | ((n[5] & 0x03) << 4),
            n[2] | ((n[3] & 0x03) << 4),
            n[0] | ((n[1] & 0x01) << 4),
            FrameRate::from_rate_code((n[7] >> 1) & 0x03)?,
        )?;
        let timecode = match direction {
            Direction::Forward => carried.add_frames(2),
            Direction::Backward => carried.add_frames(-2),
        };
        Ok(Some(QuarterFrameTime {
            timecode,
            direction,
            received_at_s,
        }))
    }

    /// Counts a partial sequence that will never complete. A lone piece 0 or 7 is not counted:
    /// after a break the next 7 of a forward stream looks like the start of a backward one.
    fn break_sequence(&mut self) {
        if matches!(self.sequence, Some((_, len)) if len > 1) {
            self.broken_sequences += 1;
        }
        self.sequence = None;
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    use crate::chase::timecode::tests::{tc, RATES};

    /// The eight data bytes that carry `t`, in piece order.
    fn pieces(t: Timecode) -> [u8; 8] {
        let hi = t.hours() >> 4 | (t.rate().rate_code() << 1);
        [
            t.frames() & 0x0F,
            0x10 | t.frames() >> 4,
            0x20 | (t.seconds() & 0x0F),
            0x30 | t.seconds() >> 4,
            0x40 | (t.minutes() & 0x0F),
            0x50 | t.minutes() >> 4,
            0x60 | (t.hours() & 0x0F),
            0x70 | hi,
        ]
    }

    /// A DAW playing forward from `start` for `frames` frames: every quarter frame with its
    /// send time, where frame `start` begins at time 0.
    pub(crate) fn forward_stream(start: Timecode, frames: u64) -> Vec<(u8, f64)> {
        let quarter_s = start.rate().frame_duration_s() / 4.0;
        let mut out = Vec::new();
        for pair in 0..frames / 2 {
            let carried = start.add_frames(2 * pair as i64);
            for (k, byte) in pieces(carried).into_iter().enumerate() {
                out.push((byte, (8 * pair + k as u64) as f64 * quarter_s));
            }
        }
        out
    }

    #[test]
    fn forward_quarter_frames_give_exact_positions() {
        for rate in RATES {
            let start = Timecode::parse("00:59:59:00", rate).unwrap();
            let stream = forward_stream(start, 200);
            let mut asm = QuarterFrameAssembler::new();
            let mut times = Vec::new();
            for (byte, at_s) in stream {
                if let Some(t) = asm.push(byte, at_s).unwrap() {
                    times.push(t);
                }
            }
            assert_eq!(times.len(), 100);
            for (i, t) in times.iter().enumerate() {
                assert_eq!(t.direction, Direction::Forward);
                // Carried time + 2 frames.
                assert_eq!(t.timecode, start.add_frames(2 * i as i64 + 2), "{rate}");
                // Exact position at receipt: the stream started at `start` at time 0.
                let truth_s = start.real_time_s() + t.received_at_s;
                assert!(
                    (t.real_time_at_receipt_s() - truth_s).abs() < 1e-9,
                    "{rate} {i}"
                );
            }
            assert_eq!(asm.broken_sequences(), 0);
        }
    }

    #[test]
    fn backward_quarter_frames() {
        let rate = FrameRate::Fps25;
        let start = tc(1, 0, 0, 10, rate);
        let mut asm = QuarterFrameAssembler::new();
        let mut got = Vec::new();
        let quarter_s = rate.frame_duration_s() / 4.0;
        let mut at_s = 0.0;
        for pair in 0..10 {
            let carried = start.add_frames(-2 * pair);
            for byte in pieces(carried).into_iter().rev() {
                at_s += quarter_s;
                if let Some(t) = asm.push(byte, at_s).unwrap() {
                    got.push(t);
                }
            }
        }
        assert_eq!(got.len(), 10);
        for (i, t) in got.iter().enumerate() {
            assert_eq!(t.direction, Direction::Backward);
            assert_eq!(t.timecode, start.add_frames(-2 * i as i64 - 2));
        }
    }

    #[test]
    fn missing_and_bad_pieces_restart_assembly() {
        let rate = FrameRate::Fps30;
        let start = tc(10, 20, 30, 0, rate);
        let mut stream = forward_stream(start, 8);
        // Lose piece 3 of the first time, and delay the third time's piece 5.
        stream.remove(3);
        let i = 8 + 7 + 5;
        stream[i].1 += 0.5;
        for later in &mut stream[i + 1..] {
            later.1 += 0.5;
        }
        let mut asm = QuarterFrameAssembler::new();
        let got: Vec<_> = stream
            .into_iter()
            .filter_map(|(b, t)| asm.push(b, t).unwrap())
            .collect();
        // Of four times, the first (piece lost) and the third (late piece) are dropped.
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].timecode, start.add_frames(4));
        assert_eq!(got[1].timecode, start.add_frames(8));
        assert_eq!(asm.broken_sequences(), 2);

        // A byte with bit 7 set is an error, and assembly starts again.
        let mut asm = QuarterFrameAssembler::new();
        for b in &pieces(start)[..4] {
            asm.push(*b, 0.0).unwrap();
        }
        assert_eq!(
            asm.push(0xF1, 0.0),
            Err(ChaseError::QuarterFrameData { data: 0xF1 })
        );
        for b in &pieces(start)[4..] {
            assert_eq!(asm.push(*b, 0.0), Ok(None));
        }
        // NaN receipt time: dropped, no panic.
        assert_eq!(asm.push(0x00, f64::NAN), Ok(None));

        // A time that does not exist (frame 31 at 30 fps) is reported, not assembled.
        let mut asm = QuarterFrameAssembler::new();
        let mut bytes = pieces(start);
        bytes[0] = 0x0F;
        bytes[1] = 0x11;
        let results: Vec<_> = bytes.iter().map(|b| asm.push(*b, 0.0)).collect();
        assert!(matches!(
            results[7],
            Err(ChaseError::InvalidTimecode { .. })
        ));
        // Sequences that start mid-way are waited out, then the next complete one is used.
        let mut asm = QuarterFrameAssembler::new();
        let stream = forward_stream(start, 4);
        let got: Vec<_> = stream[3..]
            .iter()
            .filter_map(|&(b, t)| asm.push(b, t).unwrap())
            .collect();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].timecode, start.add_frames(4));
    }
}
