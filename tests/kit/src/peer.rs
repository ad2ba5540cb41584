//! A scripted network-MIDI participant over real UDP sockets: it plays the DAW machine's side
//! (invites, sends MIDI, loses packets on purpose, says goodbye) for the benchmark and the tests.
//!
//! It speaks the same wire formats as [`playhead_core::network::session`] but keeps no state machine of its own:
//! each step is one call, so a test reads as the conversation it checks.

use playhead_core::network::packet::{
    decode_command, encode_data, ClockSync, Exchange, RtpHeader, SessionCommand,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// What a session answered to an invitation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// OK on both ports, with the session's name and SSRC.
    Accepted {
        /// The session name it gave.
        name: String,
        /// Its synchronisation source.
        ssrc: u32,
    },
    /// NO (on the port named).
    Rejected {
        /// True when the data port refused, false for the control port.
        on_data_port: bool,
    },
}

/// The transport a scripted recovery journal reports (RFC 6295 system chapter Q).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalState {
    /// Whether the sender's sequencer is running.
    pub running: bool,
    /// Song position in MIDI clocks, if the journal is to carry one.
    pub song_position_clocks: Option<u32>,
}

/// A free control port on loopback whose next port is free too, for a network-MIDI session the
/// test starts (the ports are released again: bind them soon).
pub fn free_session_port() -> std::io::Result<u16> {
    let (control, _data) =
        playhead::sources::network::sockets::free_port_pair(IpAddr::V4(Ipv4Addr::LOCALHOST))?;
    Ok(control.local_addr()?.port())
}

/// A DAW machine's clock as its network-MIDI stamps count it: 10 kHz ticks, `offset_ticks` at
/// `origin`, running `rate` fast (or slow, negative) against ours.
#[derive(Clone, Copy, Debug)]
pub struct DawClock {
    /// When the clock read `offset_ticks`.
    pub origin: Instant,
    /// Its reading at `origin`.
    pub offset_ticks: u64,
    /// How much faster than ours it runs (100e-6 is 100 ppm fast).
    pub rate: f64,
}

impl DawClock {
    /// A clock reading `offset_ticks` ten seconds ago, well before anything a test stamps (its
    /// ticks saturate before its origin).
    pub fn new(offset_ticks: u64, rate: f64) -> DawClock {
        let now = Instant::now();
        DawClock {
            origin: now.checked_sub(Duration::from_secs(10)).unwrap_or(now),
            offset_ticks,
            rate,
        }
    }

    /// Its reading at `t`.
    pub fn ticks_at(&self, t: Instant) -> u64 {
        let elapsed_us = t.saturating_duration_since(self.origin).as_secs_f64() * 1e6;
        self.offset_ticks + (elapsed_us * (1.0 + self.rate) / 100.0) as u64
    }

    /// Its reading at `t`, as a packet's 32-bit RTP time stamp.
    pub fn stamp_at(&self, t: Instant) -> u32 {
        self.ticks_at(t) as u32
    }
}

/// One participant with its own control and data sockets on loopback (or another local
/// address).
pub struct ScriptedPeer {
    name: String,
    ssrc: u32,
    control: UdpSocket,
    data: UdpSocket,
    target: Option<SocketAddr>,
    token: u32,
    sequence: u16,
}

impl ScriptedPeer {
    /// A participant called `name` with SSRC `ssrc`, on two fresh ports of 127.0.0.1.
    pub fn new(name: &str, ssrc: u32) -> std::io::Result<ScriptedPeer> {
        Self::bind(name, ssrc, IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// A participant on two fresh ports of the local address `ip`.
    pub fn bind(name: &str, ssrc: u32, ip: IpAddr) -> std::io::Result<ScriptedPeer> {
        let (control, data) = playhead::sources::network::sockets::free_port_pair(ip)?;
        Ok(ScriptedPeer {
            name: name.into(),
            ssrc,
            control,
            data,
            target: None,
            token: ssrc.rotate_left(7) ^ 0x5EED_0001,
            sequence: 1,
        })
    }

    /// Our control port's address.
    pub fn control_address(&self) -> SocketAddr {
        self.control
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Our session name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Becomes a new participant with `ssrc`, as a restarted program would (same ports).
    pub fn restart_as(&mut self, ssrc: u32) {
        self.ssrc = ssrc;
        self.token = self.token.wrapping_add(1);
        self.sequence = 1;
    }

    fn target(&self) -> Result<SocketAddr, String> {
        self.target.ok_or_else(|| "not invited anywhere yet".into())
    }

    fn data_target(&self) -> Result<SocketAddr, String> {
        let t = self.target()?;
        Ok(SocketAddr::new(t.ip(), t.port() + 1))
    }

    fn exchange(&self) -> Exchange {
        Exchange {
            initiator_token: self.token,
            ssrc: self.ssrc,
            name: Some(self.name.clone()),
        }
    }

    /// Invites the session whose control port is `control`, on the control port then on the
    /// data port, as a Mac does; waits up to `timeout` for each answer.
    pub fn invite(&mut self, control: SocketAddr, timeout: Duration) -> Result<Answer, String> {
        self.target = Some(control);
        let invitation = SessionCommand::Invitation(self.exchange()).to_bytes();
        self.send_control(&invitation)?;
        match self.expect_answer(false, timeout)? {
            Answer::Accepted { .. } => {}
            refused => return Ok(refused),
        }
        self.send_data(&invitation)?;
        self.expect_answer(true, timeout)
    }

    fn expect_answer(&self, on_data_port: bool, timeout: Duration) -> Result<Answer, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .ok_or_else(|| {
                    format!(
                        "no answer to the invitation on the {} port",
                        if on_data_port { "data" } else { "control" }
                    )
                })?;
            let command = if on_data_port {
                self.recv_data(left)
            } else {
                self.recv_control(left)
            };
            match command {
                Some(SessionCommand::Accepted(x)) if x.initiator_token == self.token => {
                    return Ok(Answer::Accepted {
                        name: x.name.unwrap_or_default(),
                        ssrc: x.ssrc,
                    })
                }
                Some(SessionCommand::Rejected(x)) if x.initiator_token == self.token => {
                    return Ok(Answer::Rejected { on_data_port })
                }
                _ => {}
            }
        }
    }

    /// One clock synchronisation as the initiator: CK0, wait for CK1, answer CK2. Returns the
    /// round trip.
    pub fn clock_sync(&mut self, timeout: Duration) -> Result<Duration, String> {
        let sent = Instant::now();
        let ck0 = ClockSync {
            ssrc: self.ssrc,
            count: 0,
            timestamps_100us: [1, 0, 0],
        };
        self.send_data(&SessionCommand::ClockSync(ck0).to_bytes())?;
        let deadline = sent + timeout;
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .ok_or("no CK1 answer to our CK0")?;
            if let Some(SessionCommand::ClockSync(ck)) = self.recv_data(left) {
                if ck.count == 1 && ck.timestamps_100us[0] == 1 {
                    let round_trip = sent.elapsed();
                    let ck2 = ClockSync {
                        ssrc: self.ssrc,
                        count: 2,
                        timestamps_100us: [1, ck.timestamps_100us[1], 2],
                    };
                    self.send_data(&SessionCommand::ClockSync(ck2).to_bytes())?;
                    return Ok(round_trip);
                }
            }
        }
    }

    /// One clock synchronisation as the initiator with real time stamps: CK0 stamped with
    /// `clock()` (our clock in 100 µs ticks, as a DAW machine keeps it), CK2 with `clock()`
    /// when CK1 came. Returns the round trip.
    pub fn clock_sync_with(
        &mut self,
        clock: impl Fn() -> u64,
        timeout: Duration,
    ) -> Result<Duration, String> {
        let sent = Instant::now();
        let t1 = clock();
        let ck0 = ClockSync {
            ssrc: self.ssrc,
            count: 0,
            timestamps_100us: [t1, 0, 0],
        };
        self.send_data(&SessionCommand::ClockSync(ck0).to_bytes())?;
        let deadline = sent + timeout;
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .ok_or("no CK1 answer to our CK0")?;
            if let Some(SessionCommand::ClockSync(ck)) = self.recv_data(left) {
                if ck.count == 1 && ck.timestamps_100us[0] == t1 {
                    let t3 = clock();
                    let round_trip = sent.elapsed();
                    let ck2 = ClockSync {
                        ssrc: self.ssrc,
                        count: 2,
                        timestamps_100us: [t1, ck.timestamps_100us[1], t3],
                    };
                    self.send_data(&SessionCommand::ClockSync(ck2).to_bytes())?;
                    return Ok(round_trip);
                }
            }
        }
    }

    /// Waits up to `timeout` for a session to invite us (as a Mac waits in its list) and
    /// accepts on both ports; the inviter becomes the session we talk to. Returns its name.
    pub fn accept_invitation(&mut self, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let (from, x) =
            recv_invitation(&self.control, deadline).ok_or("no invitation on the control port")?;
        self.target = Some(from);
        let ok = SessionCommand::Accepted(Exchange {
            initiator_token: x.initiator_token,
            ssrc: self.ssrc,
            name: Some(self.name.clone()),
        })
        .to_bytes();
        self.send_control(&ok)?;
        let (data_from, _) =
            recv_invitation(&self.data, deadline).ok_or("no invitation on the data port")?;
        self.data
            .send_to(&ok, data_from)
            .map_err(|e| format!("send to {data_from}: {e}"))?;
        Ok(x.name.unwrap_or_default())
    }

    /// Answers the next CK0 on the data port (within `timeout`) with CK1 stamped `clock()`
    /// (our clock in 100 µs ticks), as the responder of a clock synchronisation does.
    pub fn answer_clock_sync(
        &mut self,
        clock: impl Fn() -> u64,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .ok_or("no CK0 to answer")?;
            if let Some(SessionCommand::ClockSync(ck)) = self.recv_data(left) {
                if ck.count == 0 {
                    let ck1 = ClockSync {
                        ssrc: self.ssrc,
                        count: 1,
                        timestamps_100us: [ck.timestamps_100us[0], clock(), 0],
                    };
                    return self.send_data(&SessionCommand::ClockSync(ck1).to_bytes());
                }
            }
        }
    }

    /// Sends MIDI messages (each complete) in one RTP-MIDI packet with the next sequence
    /// number; returns when it was sent.
    pub fn send_midi(&mut self, messages: &[&[u8]]) -> Result<Instant, String> {
        self.send_midi_with_journal(messages, None)
    }

    /// Sends MIDI in one RTP-MIDI packet whose RTP time stamp is `timestamp_100us` (the
    /// sender's 10 kHz clock, as a DAW stamps the moment it meant), each message `delta_100us`
    /// after it as the command list says; returns when it was sent.
    pub fn send_midi_stamped(
        &mut self,
        messages: &[(u32, &[u8])],
        timestamp_100us: u32,
    ) -> Result<Instant, String> {
        let header = RtpHeader {
            marker: false,
            sequence_number: self.sequence,
            timestamp_100us,
            ssrc: self.ssrc,
        };
        let mut bytes = Vec::new();
        encode_data(&header, messages, &mut bytes).map_err(|e| e.to_string())?;
        self.sequence = self.sequence.wrapping_add(1);
        let sent = Instant::now();
        self.send_data(&bytes)?;
        Ok(sent)
    }

    /// Like [`ScriptedPeer::send_midi`], with a recovery journal whose system chapter Q
    /// reports `journal` (what the sender's transport was after the packet before this one).
    pub fn send_midi_with_journal(
        &mut self,
        messages: &[&[u8]],
        journal: Option<JournalState>,
    ) -> Result<Instant, String> {
        let header = RtpHeader {
            marker: false,
            sequence_number: self.sequence,
            timestamp_100us: 0,
            ssrc: self.ssrc,
        };
        let list: Vec<(u32, &[u8])> = messages.iter().map(|m| (0, *m)).collect();
        let mut bytes = Vec::new();
        encode_data(&header, &list, &mut bytes).map_err(|e| e.to_string())?;
        if let Some(state) = journal {
            append_journal(&mut bytes, self.sequence.wrapping_sub(1), state);
        }
        self.sequence = self.sequence.wrapping_add(1);
        let sent = Instant::now();
        self.send_data(&bytes)?;
        Ok(sent)
    }

    /// Skips `count` sequence numbers, as if that many packets were lost on the way.
    pub fn lose_packets(&mut self, count: u16) {
        self.sequence = self.sequence.wrapping_add(count);
    }

    /// Says goodbye (BY on the control port).
    pub fn bye(&mut self) -> Result<(), String> {
        let bye = SessionCommand::End(Exchange {
            initiator_token: self.token,
            ssrc: self.ssrc,
            name: None,
        });
        self.send_control(&bye.to_bytes())
    }

    /// Sends raw bytes to the session's control port.
    pub fn send_control(&self, bytes: &[u8]) -> Result<(), String> {
        let to = self.target()?;
        self.control
            .send_to(bytes, to)
            .map(|_| ())
            .map_err(|e| format!("send to {to}: {e}"))
    }

    /// Sends raw bytes to the session's data port.
    pub fn send_data(&self, bytes: &[u8]) -> Result<(), String> {
        let to = self.data_target()?;
        self.data
            .send_to(bytes, to)
            .map(|_| ())
            .map_err(|e| format!("send to {to}: {e}"))
    }

    /// The next session command received on our control port within `timeout`, skipping
    /// anything else.
    pub fn recv_control(&self, timeout: Duration) -> Option<SessionCommand> {
        recv_command(&self.control, timeout)
    }

    /// The next session command received on our data port within `timeout`.
    pub fn recv_data(&self, timeout: Duration) -> Option<SessionCommand> {
        recv_command(&self.data, timeout)
    }
}

fn recv_command(socket: &UdpSocket, timeout: Duration) -> Option<SessionCommand> {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        match socket.recv_from(&mut buf) {
            Ok((n, _)) => {
                if let Ok(c) = decode_command(&buf[..n]) {
                    return Some(c);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// The next invitation received on `socket` before `deadline`, with where it came from.
fn recv_invitation(socket: &UdpSocket, deadline: Instant) -> Option<(SocketAddr, Exchange)> {
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                if let Ok(SessionCommand::Invitation(x)) = decode_command(&buf[..n]) {
                    return Some((from, x));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// Appends a recovery journal holding one system chapter Q and sets the packet's J flag.
fn append_journal(packet: &mut Vec<u8>, checkpoint: u16, state: JournalState) {
    // The command section header follows the 12-byte RTP header; J is its second-highest bit.
    if let Some(flags) = packet.get_mut(12) {
        *flags |= 0x40;
    }
    let mut chapter_q = vec![if state.running { 0x40 } else { 0x00 }];
    if let Some(clocks) = state.song_position_clocks {
        // C: a 19-bit clock count, top 3 bits in the header byte.
        chapter_q[0] |= 0x10 | ((clocks >> 16) & 0x07) as u8;
        chapter_q.extend_from_slice(&(clocks as u16).to_be_bytes());
    }
    // Journal header: Y (a system journal follows), no channel journals, the checkpoint.
    let c = checkpoint.to_be_bytes();
    packet.extend_from_slice(&[0x40, c[0], c[1]]);
    // System journal header: Q present, then the system journal's length (header included).
    let length = 2 + chapter_q.len();
    packet.extend_from_slice(&[0x10 | ((length >> 8) as u8 & 0x03), length as u8]);
    packet.extend_from_slice(&chapter_q);
}

#[cfg(test)]
mod tests {
    use super::*;
    use playhead_core::network::packet::{
        decode_data, decode_journal, system_transport_state, MidiList,
    };

    #[test]
    fn scripted_journal_reads_back_as_sent() {
        for state in [
            JournalState {
                running: true,
                song_position_clocks: Some(0),
            },
            JournalState {
                running: false,
                song_position_clocks: Some(0x5_4321),
            },
            JournalState {
                running: false,
                song_position_clocks: None,
            },
        ] {
            let header = RtpHeader {
                marker: false,
                sequence_number: 9,
                timestamp_100us: 0,
                ssrc: 1,
            };
            let mut bytes = Vec::new();
            encode_data(&header, &[(0, &[0xF8])], &mut bytes).unwrap();
            append_journal(&mut bytes, 8, state);
            let mut list = MidiList::new();
            let packet = decode_data(&bytes, &mut list).unwrap();
            assert_eq!(list.len(), 1);
            let journal = decode_journal(packet.journal.unwrap()).unwrap();
            assert_eq!(journal.checkpoint_sequence_number, 8);
            let t = system_transport_state(&journal).unwrap();
            assert_eq!(t.running, state.running);
            assert_eq!(t.song_position_clocks, state.song_position_clocks);
        }
    }
}
