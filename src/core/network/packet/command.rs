//! AppleMIDI session commands: IN, OK, NO and BY (the invitation exchange), CK (clock
//! synchronisation) and RS (receiver feedback), each a datagram starting `FF FF` and two
//! letters.

use std::fmt;

use super::{be_u32, be_u64};

/// The AppleMIDI protocol version carried by IN, OK, NO and BY; the only one in use.
pub const PROTOCOL_VERSION: u32 = 2;

/// Size of a CK (clock synchronisation) command.
pub const CLOCK_SYNC_BYTES: usize = 36;

/// Every AppleMIDI session command starts with these two bytes; an RTP header never does
/// (its first byte would have version 3).
const SIGNATURE: [u8; 2] = [0xFF, 0xFF];

/// The fields shared by IN, OK, NO and BY.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// Chosen by the initiator for one invitation and echoed in every answer to it.
    pub initiator_token: u32,
    /// Synchronisation source of the sender: its identity in the session, the same on both ports.
    pub ssrc: u32,
    /// The sender's session name, when it gave one (IN and OK usually do, NO and BY usually not).
    pub name: Option<String>,
}

/// A CK clock synchronisation exchange step. The initiator sends count 0 with its time in
/// `timestamps_100us[0]`; the responder answers count 1 adding its time in `[1]`; the initiator
/// closes with count 2 adding its time in `[2]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockSync {
    /// Synchronisation source of the sender.
    pub ssrc: u32,
    /// Step of the exchange: 0, 1 or 2.
    pub count: u8,
    /// The three timestamps, in units of 100 µs on the clock of whoever wrote each one.
    pub timestamps_100us: [u64; 3],
}

/// RS receiver feedback: tells the sender which packets arrived, so it can trim its journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiverFeedback {
    /// Synchronisation source of the receiver that sends the feedback.
    pub ssrc: u32,
    /// Highest RTP sequence number received from the peer.
    pub sequence_number: u16,
}

/// One AppleMIDI session command (the packets that start `FF FF` and two letters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionCommand {
    /// `IN`: an invitation to join, sent first on the control port, then on the data port.
    Invitation(Exchange),
    /// `OK`: the invitation is accepted.
    Accepted(Exchange),
    /// `NO`: the invitation is refused.
    Rejected(Exchange),
    /// `BY`: the sender leaves the session.
    End(Exchange),
    /// `CK`: one step of a clock synchronisation exchange (data port).
    ClockSync(ClockSync),
    /// `RS`: receiver feedback (control port).
    ReceiverFeedback(ReceiverFeedback),
}

/// Why bytes are not a valid session command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// Fewer bytes than the command needs.
    TooShort {
        /// Bytes the command needs at least.
        needed: usize,
        /// Bytes there were.
        got: usize,
    },
    /// The first two bytes are not `FF FF`: probably an RTP-MIDI data packet.
    BadSignature,
    /// `FF FF` followed by two letters this implementation does not know.
    UnknownCommand([u8; 2]),
    /// An IN, OK, NO or BY with a protocol version other than 2.
    BadVersion(u32),
    /// A CK whose count is not 0, 1 or 2.
    BadClockSyncCount(u8),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::TooShort { needed, got } => {
                write!(f, "session command too short: {got} bytes, needs {needed}")
            }
            CommandError::BadSignature => write!(f, "not a session command (no FF FF signature)"),
            CommandError::UnknownCommand(c) => {
                write!(
                    f,
                    "unknown session command {:?}",
                    String::from_utf8_lossy(c)
                )
            }
            CommandError::BadVersion(v) => {
                write!(f, "session command with protocol version {v}, expected 2")
            }
            CommandError::BadClockSyncCount(c) => {
                write!(f, "clock sync with count {c}, expected 0, 1 or 2")
            }
        }
    }
}

impl std::error::Error for CommandError {}

/// True when `bytes` start like a session command rather than an RTP-MIDI packet.
pub fn is_session_command(bytes: &[u8]) -> bool {
    bytes.starts_with(&SIGNATURE)
}

/// Decodes one session command. Bytes after the fields (padding some peers add) are ignored.
pub fn decode_command(bytes: &[u8]) -> Result<SessionCommand, CommandError> {
    if bytes.len() < 4 {
        return Err(CommandError::TooShort {
            needed: 4,
            got: bytes.len(),
        });
    }
    if !is_session_command(bytes) {
        return Err(CommandError::BadSignature);
    }
    let letters = [bytes[2], bytes[3]];
    let too_short = |needed: usize| CommandError::TooShort {
        needed,
        got: bytes.len(),
    };
    match &letters {
        b"IN" | b"OK" | b"NO" | b"BY" => {
            let version = be_u32(bytes, 4).ok_or(too_short(16))?;
            let initiator_token = be_u32(bytes, 8).ok_or(too_short(16))?;
            let ssrc = be_u32(bytes, 12).ok_or(too_short(16))?;
            if version != PROTOCOL_VERSION {
                return Err(CommandError::BadVersion(version));
            }
            let exchange = Exchange {
                initiator_token,
                ssrc,
                name: decode_name(&bytes[16..]),
            };
            Ok(match &letters {
                b"IN" => SessionCommand::Invitation(exchange),
                b"OK" => SessionCommand::Accepted(exchange),
                b"NO" => SessionCommand::Rejected(exchange),
                _ => SessionCommand::End(exchange),
            })
        }
        b"CK" => {
            if bytes.len() < CLOCK_SYNC_BYTES {
                return Err(too_short(CLOCK_SYNC_BYTES));
            }
            let ssrc = be_u32(bytes, 4).ok_or(too_short(CLOCK_SYNC_BYTES))?;
            let count = bytes[8];
            if count > 2 {
                return Err(CommandError::BadClockSyncCount(count));
            }
            let mut timestamps_100us = [0u64; 3];
            for (i, t) in timestamps_100us.iter_mut().enumerate() {
                *t = be_u64(bytes, 12 + 8 * i).ok_or(too_short(CLOCK_SYNC_BYTES))?;
            }
            Ok(SessionCommand::ClockSync(ClockSync {
                ssrc,
                count,
                timestamps_100us,
            }))
        }
        b"RS" => {
            let ssrc = be_u32(bytes, 4).ok_or(too_short(12))?;
            // The sequence number sits in the upper half of a 32-bit field.
            let field = be_u32(bytes, 8).ok_or(too_short(12))?;
            Ok(SessionCommand::ReceiverFeedback(ReceiverFeedback {
                ssrc,
                sequence_number: (field >> 16) as u16,
            }))
        }
        _ => Err(CommandError::UnknownCommand(letters)),
    }
}

/// The name field: NUL-terminated text; a missing terminator is tolerated (the packet end is the
/// end), and an empty name counts as no name.
fn decode_name(bytes: &[u8]) -> Option<String> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    if end == 0 {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
}

impl SessionCommand {
    /// Appends the wire form of the command to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&SIGNATURE);
        match self {
            SessionCommand::Invitation(x)
            | SessionCommand::Accepted(x)
            | SessionCommand::Rejected(x)
            | SessionCommand::End(x) => {
                out.extend_from_slice(match self {
                    SessionCommand::Invitation(_) => b"IN",
                    SessionCommand::Accepted(_) => b"OK",
                    SessionCommand::Rejected(_) => b"NO",
                    _ => b"BY",
                });
                out.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
                out.extend_from_slice(&x.initiator_token.to_be_bytes());
                out.extend_from_slice(&x.ssrc.to_be_bytes());
                if let Some(name) = &x.name {
                    // A NUL inside the name would end it early on the other side: cut it there
                    // ourselves so what we send is what they read.
                    let bytes = name.as_bytes();
                    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                    out.extend_from_slice(&bytes[..end]);
                    out.push(0);
                }
            }
            SessionCommand::ClockSync(ck) => {
                out.extend_from_slice(b"CK");
                out.extend_from_slice(&ck.ssrc.to_be_bytes());
                out.push(ck.count);
                out.extend_from_slice(&[0, 0, 0]);
                for t in ck.timestamps_100us {
                    out.extend_from_slice(&t.to_be_bytes());
                }
            }
            SessionCommand::ReceiverFeedback(rs) => {
                out.extend_from_slice(b"RS");
                out.extend_from_slice(&rs.ssrc.to_be_bytes());
                out.extend_from_slice(&(u32::from(rs.sequence_number) << 16).to_be_bytes());
            }
        }
    }

    /// The wire form of the command in a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CLOCK_SYNC_BYTES);
        self.encode(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;

    #[test]
    fn invitation_wire_form_matches_the_protocol() {
        let bytes = SessionCommand::Invitation(exchange(Some("Mac"))).to_bytes();
        assert_eq!(
            bytes,
            [
                0xFF, 0xFF, b'I', b'N', 0, 0, 0, 2, 0xDE, 0xAD, 0xBE, 0xEF, 0x12, 0x34, 0x56, 0x78,
                b'M', b'a', b'c', 0
            ]
        );
    }

    #[test]
    fn session_commands_round_trip() {
        let commands = [
            SessionCommand::Invitation(exchange(Some("Session One"))),
            SessionCommand::Invitation(exchange(None)),
            SessionCommand::Accepted(exchange(Some("playhead"))),
            SessionCommand::Rejected(exchange(None)),
            SessionCommand::End(exchange(None)),
            SessionCommand::ClockSync(ClockSync {
                ssrc: 7,
                count: 1,
                timestamps_100us: [1, u64::MAX, 0x0102_0304_0506_0708],
            }),
            SessionCommand::ReceiverFeedback(ReceiverFeedback {
                ssrc: 9,
                sequence_number: 0xABCD,
            }),
        ];
        for c in commands {
            let bytes = c.to_bytes();
            assert_eq!(decode_command(&bytes), Ok(c.clone()), "{bytes:02x?}");
        }
    }

    #[test]
    fn clock_sync_is_36_bytes_and_feedback_puts_sequence_in_upper_half() {
        let ck = SessionCommand::ClockSync(ClockSync {
            ssrc: 1,
            count: 0,
            timestamps_100us: [5, 0, 0],
        })
        .to_bytes();
        assert_eq!(ck.len(), CLOCK_SYNC_BYTES);
        let rs = SessionCommand::ReceiverFeedback(ReceiverFeedback {
            ssrc: 1,
            sequence_number: 0x0102,
        })
        .to_bytes();
        assert_eq!(rs[8..], [0x01, 0x02, 0, 0]);
    }

    #[test]
    fn name_without_terminator_and_with_trailing_bytes_is_read() {
        let mut bytes = SessionCommand::Accepted(exchange(None)).to_bytes();
        bytes.extend_from_slice(b"Studio");
        assert_eq!(
            decode_command(&bytes),
            Ok(SessionCommand::Accepted(exchange(Some("Studio"))))
        );
        bytes.extend_from_slice(&[0, 0xAA, 0xBB]);
        assert_eq!(
            decode_command(&bytes),
            Ok(SessionCommand::Accepted(exchange(Some("Studio"))))
        );
    }

    #[test]
    fn name_with_a_nul_is_cut_there_on_encoding() {
        let bytes = SessionCommand::Invitation(exchange(Some("a\0b"))).to_bytes();
        assert_eq!(
            decode_command(&bytes),
            Ok(SessionCommand::Invitation(exchange(Some("a"))))
        );
    }

    #[test]
    fn command_errors_are_specific() {
        assert_eq!(
            decode_command(&[0xFF]),
            Err(CommandError::TooShort { needed: 4, got: 1 })
        );
        assert_eq!(
            decode_command(&[0x80, 0x61, 0, 0]),
            Err(CommandError::BadSignature)
        );
        assert_eq!(
            decode_command(b"\xFF\xFFZZ"),
            Err(CommandError::UnknownCommand(*b"ZZ"))
        );
        assert_eq!(
            decode_command(b"\xFF\xFFIN\0\0\0\x02\0\0"),
            Err(CommandError::TooShort {
                needed: 16,
                got: 10
            })
        );
        let mut v3 = SessionCommand::Invitation(exchange(None)).to_bytes();
        v3[7] = 3;
        assert_eq!(decode_command(&v3), Err(CommandError::BadVersion(3)));
        let mut ck = SessionCommand::ClockSync(ClockSync {
            ssrc: 1,
            count: 0,
            timestamps_100us: [0; 3],
        })
        .to_bytes();
        ck[8] = 3;
        assert_eq!(decode_command(&ck), Err(CommandError::BadClockSyncCount(3)));
        assert_eq!(
            decode_command(&ck[..35]),
            Err(CommandError::TooShort {
                needed: 36,
                got: 35
            })
        );
    }
}
