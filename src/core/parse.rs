//! MIDI byte stream -> [`MidiEvent`]s.
//!
//! The parser is fed raw bytes as they arrive from any source (an OS MIDI port, a raw MIDI
//! device, a network session) and returns the events playhead cares about. It follows the MIDI
//! 1.0 rules that real streams exercise:
//!
//! - realtime bytes (`F8`-`FF`) may appear anywhere, even between the data bytes of another
//!   message; they are returned at once and leave the message being assembled untouched;
//! - channel messages may use running status; system common messages (`F1`-`F7`) and SysEx
//!   cancel it;
//! - SysEx may be of any length; only MIDI Time Code full-frame messages and MIDI Machine
//!   Control transport commands (Stop, Play, Deferred Play, Pause, Locate) are decoded, the rest
//!   are skipped without buffering them;
//! - anything else (data bytes with no status, undefined status bytes, messages cut short by a
//!   new status byte) is counted in [`ParserStats::garbage_bytes`] and otherwise ignored.
//!
//! A transport byte is never lost: `FA`, `FB`, `FC` and `F8` are recognised whatever state the
//! parser is in.

/// One MIDI message that playhead acts on or reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MidiEvent {
    /// Timing clock, 24 per quarter note (`F8`).
    Clock,
    /// Start: play from the beginning of the song (`FA`).
    Start,
    /// Continue: play from the current song position (`FB`).
    Continue,
    /// Stop (`FC`).
    Stop,
    /// System reset (`FF`).
    Reset,
    /// Song Position Pointer (`F2 lsb msb`): the position in sixteenth notes from the song start.
    SongPosition { sixteenths: u16 },
    /// Song Select (`F3 n`).
    SongSelect { song: u8 },
    /// Program Change (`Cn p`), channel 0-15.
    ProgramChange { channel: u8, program: u8 },
    /// MIDI Time Code quarter frame (`F1 data`): the data byte holds the piece number (bits
    /// 4-6) and a nibble of the time (bits 0-3).
    TimecodeQuarterFrame { data: u8 },
    /// MIDI Time Code full frame (`F0 7F dev 01 01 hh mm ss ff F7`).
    TimecodeFull {
        /// Frame rate code from the hours byte: 0 = 24, 1 = 25, 2 = 29.97 drop-frame, 3 = 30.
        rate_code: u8,
        hours: u8,
        minutes: u8,
        seconds: u8,
        frames: u8,
    },
    /// MIDI Machine Control (`F0 7F dev 06 cmd ... F7`): what Logic and Pro Tools send to
    /// locate and roll external machines. `device` is the message's device ID (0x7F = all).
    MachineControl { device: u8, command: MachineCommand },
}

/// The MMC device ID that addresses every device ("all call").
pub const MMC_ALL_CALL: u8 = 0x7F;

/// The MIDI Machine Control commands playhead follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MachineCommand {
    /// Stop (`01`).
    Stop,
    /// Play (`02`).
    Play,
    /// Deferred Play (`03`): play once the locate in progress is done. playhead's locates are
    /// done when the command is applied, so it plays like Play.
    DeferredPlay,
    /// Pause (`09`).
    Pause,
    /// Locate to a time (`44 06 01 hr mn sc fr ff`), in MMC's standard time code: the hours
    /// byte carries the frame rate in bits 5-6 as in MTC.
    Locate {
        /// 0 = 24, 1 = 25, 2 = 29.97 drop-frame, 3 = 30 fps.
        rate_code: u8,
        hours: u8,
        minutes: u8,
        seconds: u8,
        frames: u8,
    },
}

impl MachineCommand {
    /// Decodes the bytes after `06` of an MMC message (command and its data); `None` for
    /// commands playhead does not follow.
    fn decode(bytes: &[u8]) -> Option<MachineCommand> {
        match bytes {
            [0x01] => Some(MachineCommand::Stop),
            [0x02] => Some(MachineCommand::Play),
            [0x03] => Some(MachineCommand::DeferredPlay),
            [0x09] => Some(MachineCommand::Pause),
            // The sub-frame byte `_ff` is finer than a video frame: not needed.
            [0x44, 0x06, 0x01, hr, mn, sc, fr, _ff] => Some(MachineCommand::Locate {
                rate_code: (hr >> 5) & 0x03,
                hours: hr & 0x1F,
                minutes: mn & 0x3F,
                seconds: sc & 0x3F,
                // Bit 5 of the frames byte is MMC's colour-frame flag, bit 6 a sign.
                frames: fr & 0x1F,
            }),
            _ => None,
        }
    }
}

/// Whether an MMC message sent to `device` is meant for a playhead listening as `mine`: the
/// all-call ID 0x7F always is; another ID only when the show file's `mmc_device` names it.
pub fn mmc_addressed_to(device: u8, mine: Option<u8>) -> bool {
    device == MMC_ALL_CALL || mine == Some(device)
}

impl MidiEvent {
    /// True for the messages that change the transport (start, stop, continue, locate).
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            MidiEvent::Start
                | MidiEvent::Continue
                | MidiEvent::Stop
                | MidiEvent::SongPosition { .. }
                | MidiEvent::MachineControl { .. }
        )
    }
}

/// Counters kept by a [`Parser`], for the operator's status and the logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParserStats {
    /// Complete messages recognised, of any kind (including ones playhead ignores).
    pub messages: u64,
    /// Timing clock bytes.
    pub clocks: u64,
    /// Bytes that belonged to no valid message.
    pub garbage_bytes: u64,
}

/// Longest SysEx whose bytes are kept for decoding; longer ones are skipped, not buffered.
const SYSEX_KEEP_BYTES: usize = 12;

/// Incremental MIDI 1.0 parser. One per input stream: running status is per stream.
#[derive(Clone, Debug, Default)]
pub struct Parser {
    /// Status byte of the message being assembled, or of the running status.
    status: Option<u8>,
    /// True when `status` is a channel status that later data bytes may reuse.
    running: bool,
    data: [u8; 2],
    data_len: usize,
    in_sysex: bool,
    sysex: [u8; SYSEX_KEEP_BYTES],
    sysex_len: usize,
    stats: ParserStats,
}

/// How many data bytes a status byte takes, or `None` for undefined status bytes.
fn data_len_for(status: u8) -> Option<usize> {
    match status {
        0x80..=0xBF | 0xE0..=0xEF => Some(2),
        0xC0..=0xDF => Some(1),
        0xF1 | 0xF3 => Some(1),
        0xF2 => Some(2),
        0xF6 => Some(0),
        _ => None,
    }
}

impl Parser {
    /// A parser with no running status.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counters since the parser was made.
    pub fn stats(&self) -> ParserStats {
        self.stats
    }

    /// Feeds bytes and calls `emit` for each event, in stream order.
    pub fn feed(&mut self, bytes: &[u8], mut emit: impl FnMut(MidiEvent)) {
        for &b in bytes {
            if let Some(ev) = self.push(b) {
                emit(ev);
            }
        }
    }

    /// Feeds one byte; returns the event it completes, if any.
    pub fn push(&mut self, byte: u8) -> Option<MidiEvent> {
        if byte >= 0xF8 {
            return self.realtime(byte);
        }
        if byte >= 0x80 {
            return self.status_byte(byte);
        }
        self.data_byte(byte)
    }

    fn realtime(&mut self, byte: u8) -> Option<MidiEvent> {
        let ev = match byte {
            0xF8 => {
                self.stats.clocks += 1;
                Some(MidiEvent::Clock)
            }
            0xFA => Some(MidiEvent::Start),
            0xFB => Some(MidiEvent::Continue),
            0xFC => Some(MidiEvent::Stop),
            0xFF => Some(MidiEvent::Reset),
            // Active sensing is a valid message with nothing for us to do.
            0xFE => None,
            // F9 and FD are undefined.
            _ => {
                self.stats.garbage_bytes += 1;
                return None;
            }
        };
        self.stats.messages += 1;
        ev
    }

    fn status_byte(&mut self, byte: u8) -> Option<MidiEvent> {
        // Any status byte but realtime ends a SysEx, and cuts short a message being assembled.
        let mut ev = None;
        if self.in_sysex {
            self.in_sysex = false;
            if byte == 0xF7 {
                self.stats.messages += 1;
                ev = self.finish_sysex();
                self.sysex_len = 0;
                return ev;
            }
            // An unterminated SysEx: its bytes are lost, but the new status still counts.
            self.stats.garbage_bytes += self.sysex_len as u64 + 1;
            self.sysex_len = 0;
        } else if self.data_len > 0 {
            self.stats.garbage_bytes += self.data_len as u64 + 1;
        }
        self.data_len = 0;
        match byte {
            0xF0 => {
                self.status = None;
                self.running = false;
                self.in_sysex = true;
                self.sysex_len = 0;
            }
            0xF7 => {
                // End of exclusive with no SysEx open.
                self.status = None;
                self.running = false;
                self.stats.garbage_bytes += 1;
            }
            0xF1..=0xF6 => {
                self.running = false;
                match data_len_for(byte) {
                    Some(0) => {
                        self.status = None;
                        self.stats.messages += 1;
                    }
                    Some(_) => self.status = Some(byte),
                    None => {
                        self.status = None;
                        self.stats.garbage_bytes += 1;
                    }
                }
            }
            _ => {
                self.status = Some(byte);
                self.running = true;
            }
        }
        ev
    }

    fn data_byte(&mut self, byte: u8) -> Option<MidiEvent> {
        if self.in_sysex {
            if self.sysex_len < SYSEX_KEEP_BYTES {
                self.sysex[self.sysex_len] = byte;
            }
            self.sysex_len = self.sysex_len.saturating_add(1);
            return None;
        }
        let Some(status) = self.status else {
            self.stats.garbage_bytes += 1;
            return None;
        };
        let needed = data_len_for(status).unwrap_or(0);
        self.data[self.data_len] = byte;
        self.data_len += 1;
        if self.data_len < needed {
            return None;
        }
        self.data_len = 0;
        if !self.running {
            self.status = None;
        }
        self.stats.messages += 1;
        let [d0, d1] = self.data;
        match status {
            0xF1 => Some(MidiEvent::TimecodeQuarterFrame { data: d0 }),
            0xF2 => Some(MidiEvent::SongPosition {
                sixteenths: u16::from(d0) | (u16::from(d1) << 7),
            }),
            0xF3 => Some(MidiEvent::SongSelect { song: d0 }),
            0xC0..=0xCF => Some(MidiEvent::ProgramChange {
                channel: status & 0x0F,
                program: d0,
            }),
            _ => None,
        }
    }

    fn finish_sysex(&mut self) -> Option<MidiEvent> {
        // Universal realtime (7F), any device id, MTC (01) full message (01): hr mn sc fr.
        let s = &self.sysex[..self.sysex_len.min(SYSEX_KEEP_BYTES)];
        match s {
            [0x7F, _dev, 0x01, 0x01, hr, mn, sc, fr] if self.sysex_len == 8 => {
                Some(MidiEvent::TimecodeFull {
                    rate_code: (hr >> 5) & 0x03,
                    hours: hr & 0x1F,
                    minutes: *mn,
                    seconds: *sc,
                    frames: *fr,
                })
            }
            [0x7F, device, 0x06, command @ ..] if self.sysex_len <= SYSEX_KEEP_BYTES => {
                Some(MidiEvent::MachineControl {
                    device: *device,
                    command: MachineCommand::decode(command)?,
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> (Vec<MidiEvent>, ParserStats) {
        let mut p = Parser::new();
        let mut out = Vec::new();
        p.feed(bytes, |e| out.push(e));
        (out, p.stats())
    }

    #[test]
    fn song_position_and_start() {
        let (ev, _) = parse(&[0xF2, 0x00, 0x00, 0xFA]);
        assert_eq!(
            ev,
            vec![MidiEvent::SongPosition { sixteenths: 0 }, MidiEvent::Start]
        );
        let (ev, _) = parse(&[0xF2, 0x7F, 0x7F]);
        assert_eq!(ev, vec![MidiEvent::SongPosition { sixteenths: 16383 }]);
        let (ev, _) = parse(&[0xF2, 0x40, 0x01]);
        assert_eq!(ev, vec![MidiEvent::SongPosition { sixteenths: 192 }]);
    }

    #[test]
    fn realtime_inside_a_message_and_running_status() {
        let (ev, st) = parse(&[0xF2, 0xF8, 0x10, 0xFA, 0x00, 0xC3, 0x05, 0xF8, 0x06]);
        assert_eq!(
            ev,
            vec![
                MidiEvent::Clock,
                MidiEvent::Start,
                MidiEvent::SongPosition { sixteenths: 16 },
                MidiEvent::ProgramChange {
                    channel: 3,
                    program: 5
                },
                MidiEvent::Clock,
                MidiEvent::ProgramChange {
                    channel: 3,
                    program: 6
                },
            ]
        );
        assert_eq!(st.garbage_bytes, 0);
    }

    #[test]
    fn system_common_cancels_running_status() {
        let (ev, st) = parse(&[0x90, 0x3C, 0x40, 0xF3, 0x02, 0x3C, 0x40]);
        assert_eq!(ev, vec![MidiEvent::SongSelect { song: 2 }]);
        assert_eq!(st.garbage_bytes, 2);
    }

    #[test]
    fn long_sysex_is_skipped_and_mtc_full_frame_decoded() {
        let mut bytes = vec![0xF0, 0x43];
        bytes.extend(std::iter::repeat_n(0x11, 10_000));
        bytes.extend([0xF8, 0xF7, 0xFC]);
        let (ev, st) = parse(&bytes);
        assert_eq!(ev, vec![MidiEvent::Clock, MidiEvent::Stop]);
        assert_eq!(st.garbage_bytes, 0);

        let (ev, _) = parse(&[0xF0, 0x7F, 0x7F, 0x01, 0x01, 0x41, 0x02, 0x03, 0x04, 0xF7]);
        assert_eq!(
            ev,
            vec![MidiEvent::TimecodeFull {
                rate_code: 2,
                hours: 1,
                minutes: 2,
                seconds: 3,
                frames: 4
            }]
        );
    }

    #[test]
    fn garbage_is_counted_and_does_not_hide_transport() {
        let (ev, st) = parse(&[0x01, 0x02, 0xF4, 0x05, 0xF9, 0xFD, 0xF7, 0xFB]);
        assert_eq!(ev, vec![MidiEvent::Continue]);
        assert_eq!(st.garbage_bytes, 7);
    }

    #[test]
    fn truncated_message_is_garbage_and_next_is_whole() {
        // SPP cut short by Stop (a realtime byte does not cut it), then by a new SPP.
        let (ev, st) = parse(&[0xF2, 0x05, 0xFC, 0xF2, 0x00, 0x00]);
        assert_eq!(
            ev,
            vec![MidiEvent::Stop, MidiEvent::SongPosition { sixteenths: 0 }]
        );
        assert_eq!(st.garbage_bytes, 2);
    }

    #[test]
    fn machine_control_commands_and_locate() {
        let (ev, st) = parse(&[
            0xF0, 0x7F, 0x7F, 0x06, 0x02, 0xF7, 0xF0, 0x7F, 0x10, 0x06, 0x01, 0xF7, 0xF0, 0x7F,
            0x7F, 0x06, 0x44, 0x06, 0x01, 0x21, 0x02, 0x03, 0x24, 0x00, 0xF7,
        ]);
        assert_eq!(
            ev,
            vec![
                MidiEvent::MachineControl {
                    device: 0x7F,
                    command: MachineCommand::Play
                },
                MidiEvent::MachineControl {
                    device: 0x10,
                    command: MachineCommand::Stop
                },
                MidiEvent::MachineControl {
                    device: 0x7F,
                    command: MachineCommand::Locate {
                        rate_code: 1,
                        hours: 1,
                        minutes: 2,
                        seconds: 3,
                        frames: 4
                    }
                },
            ]
        );
        assert_eq!(st.garbage_bytes, 0);
        // Commands playhead does not follow (Record Strobe) and cut-short locates are skipped.
        let (ev, _) = parse(&[0xF0, 0x7F, 0x7F, 0x06, 0x06, 0xF7]);
        assert!(ev.is_empty());
        let (ev, _) = parse(&[0xF0, 0x7F, 0x7F, 0x06, 0x44, 0x06, 0x01, 0x21, 0xF7]);
        assert!(ev.is_empty());
        assert!(mmc_addressed_to(0x7F, None));
        assert!(!mmc_addressed_to(0x01, None));
        assert!(mmc_addressed_to(0x01, Some(0x01)));
    }

    #[test]
    fn quarter_frames() {
        let (ev, _) = parse(&[0xF1, 0x00, 0xF1, 0x71]);
        assert_eq!(
            ev,
            vec![
                MidiEvent::TimecodeQuarterFrame { data: 0x00 },
                MidiEvent::TimecodeQuarterFrame { data: 0x71 }
            ]
        );
    }
}
