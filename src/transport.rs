//! The transport state machine: what the video should do, given what the DAW said.
//!
//! Pure logic: MIDI events and operator commands in, [`Cue`]s for the player out. No libmpv,
//! no clocks read here.
//!
//! # States and transitions ("start" follow mode, the rule of a DAW that plays from the top)
//!
//! ```text
//!                SPP 0 / Home key                      Start / space
//!   ┌────────┐ ─────────────────────▶ ┌───────┐ ───────────────────────▶ ┌─────────┐
//!   │Stopped │                        │ Armed │                          │ Playing │
//!   └────────┘ ◀───────────────────── └───────┘ ◀─────── SPP 0 ──┐      └─────────┘
//!     ▲   │          SPP n > 0                                   │          │
//!     │   └───────── Start: locate to frame 0 and play ───────────┼─────────▶│
//!     └──────────────────────── Stop / space ─────────────────────┴──────────┘
//! ```
//!
//! | state   | event               | next    | cue                      |
//! |---------|---------------------|---------|--------------------------|
//! | Armed   | Start               | Playing | `Play` (already on frame 0: instant) |
//! | Stopped | Start               | Playing | `PlayFromTop` (locate to 0, then play) |
//! | Playing | Start               | Playing | `PlayFromTop` (the DAW restarted the song) |
//! | Playing | Stop                | Stopped | `Hold` (pause, keep the frame) |
//! | Stopped | SPP 0               | Armed   | `Arm` (locate to frame 0, paused) |
//! | Armed   | SPP n > 0           | Stopped | none: the video stays, Start will locate |
//! | Playing | SPP n               | Playing | none: a locate while playing is not followed in this mode |
//! | any     | Continue            | same    | none: this mode plays only from the top |
//! | any     | Clock               | same    | none: counted, moves the song position while running |
//!
//! Start means "from the beginning" in the MIDI specification, and Reaper sends it with no SPP
//! before it, so a Start always plays from frame 0. Being armed only makes it instant.
//!
//! Operator keys: space plays from the frame on screen (or holds, when playing); Home arms.

use crate::parse::MidiEvent;

/// MIDI clocks per sixteenth note (24 per quarter note).
pub const CLOCKS_PER_SIXTEENTH: u32 = 6;

/// Where the video stands relative to the DAW.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Paused on frame 0, ready: Start plays at once.
    Armed,
    /// Running.
    Playing,
    /// Paused on some frame (after Stop, or a locate away from the top).
    Stopped,
}

/// What the player must do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cue {
    /// Show frame 0 and stay paused.
    Arm,
    /// Start playing from the frame on screen.
    Play,
    /// Show frame 0 and start playing from it.
    PlayFromTop,
    /// Pause and keep the frame on screen.
    Hold,
}

/// A command from the operator at the video machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorCommand {
    /// Space: play from the frame on screen, or hold when playing.
    TogglePlay,
    /// Home: back to frame 0 and arm.
    Rewind,
}

/// The transport: the state, the DAW's song position, and counters for the operator.
#[derive(Clone, Debug)]
pub struct Transport {
    state: State,
    /// True between the DAW's Start/Continue and its Stop, whatever the video does.
    daw_running: bool,
    /// The DAW's song position in MIDI clocks, when known.
    song_position_clocks: Option<u32>,
    clocks_received: u64,
}

impl Default for Transport {
    fn default() -> Self {
        Self::new()
    }
}

impl Transport {
    /// A transport armed on frame 0: the video is loaded paused on its first frame at start.
    pub fn new() -> Self {
        Transport {
            state: State::Armed,
            daw_running: false,
            song_position_clocks: None,
            clocks_received: 0,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the DAW's transport is running, as far as its messages tell.
    pub fn daw_running(&self) -> bool {
        self.daw_running
    }

    /// The DAW's song position in MIDI clocks (6 per sixteenth note), when known.
    pub fn song_position_clocks(&self) -> Option<u32> {
        self.song_position_clocks
    }

    /// MIDI clocks received so far.
    pub fn clocks_received(&self) -> u64 {
        self.clocks_received
    }

    /// Applies a MIDI event; returns the cue for the player, if the video must change.
    pub fn on_midi(&mut self, event: MidiEvent) -> Option<Cue> {
        match event {
            MidiEvent::Start => {
                self.daw_running = true;
                self.song_position_clocks = Some(0);
                let cue = if self.state == State::Armed {
                    Cue::Play
                } else {
                    Cue::PlayFromTop
                };
                self.state = State::Playing;
                Some(cue)
            }
            MidiEvent::Stop => {
                self.daw_running = false;
                if self.state == State::Playing {
                    self.state = State::Stopped;
                    Some(Cue::Hold)
                } else {
                    None
                }
            }
            MidiEvent::Continue => {
                self.daw_running = true;
                None
            }
            MidiEvent::SongPosition { sixteenths } => {
                self.song_position_clocks = Some(u32::from(sixteenths) * CLOCKS_PER_SIXTEENTH);
                match (self.state, sixteenths) {
                    (State::Playing, _) => None,
                    (State::Armed, 0) => None,
                    (State::Stopped, 0) => {
                        self.state = State::Armed;
                        Some(Cue::Arm)
                    }
                    (State::Armed, _) => {
                        self.state = State::Stopped;
                        None
                    }
                    (State::Stopped, _) => None,
                }
            }
            MidiEvent::Clock => {
                self.clocks_received += 1;
                if self.daw_running {
                    if let Some(p) = self.song_position_clocks.as_mut() {
                        *p = p.saturating_add(1);
                    }
                }
                None
            }
            MidiEvent::Reset => {
                self.daw_running = false;
                if self.state == State::Playing {
                    self.state = State::Stopped;
                    Some(Cue::Hold)
                } else {
                    None
                }
            }
            MidiEvent::SongSelect { .. }
            | MidiEvent::ProgramChange { .. }
            | MidiEvent::TimecodeQuarterFrame { .. }
            | MidiEvent::TimecodeFull { .. } => None,
        }
    }

    /// Applies an operator command.
    pub fn on_operator(&mut self, command: OperatorCommand) -> Option<Cue> {
        match (command, self.state) {
            (OperatorCommand::TogglePlay, State::Playing) => {
                self.state = State::Stopped;
                Some(Cue::Hold)
            }
            (OperatorCommand::TogglePlay, _) => {
                self.state = State::Playing;
                Some(Cue::Play)
            }
            (OperatorCommand::Rewind, _) => {
                self.state = State::Armed;
                Some(Cue::Arm)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_armed_and_plays_instantly() {
        let mut t = Transport::new();
        assert_eq!(t.state(), State::Armed);
        assert_eq!(t.on_midi(MidiEvent::Start), Some(Cue::Play));
        assert_eq!(t.on_midi(MidiEvent::Stop), Some(Cue::Hold));
        assert_eq!(t.state(), State::Stopped);
        assert_eq!(t.on_midi(MidiEvent::Stop), None);
    }

    #[test]
    fn spp_arms_and_disarms() {
        let mut t = Transport::new();
        t.on_midi(MidiEvent::Start);
        t.on_midi(MidiEvent::Stop);
        assert_eq!(
            t.on_midi(MidiEvent::SongPosition { sixteenths: 0 }),
            Some(Cue::Arm)
        );
        assert_eq!(t.on_midi(MidiEvent::SongPosition { sixteenths: 64 }), None);
        assert_eq!(t.state(), State::Stopped);
        assert_eq!(t.on_midi(MidiEvent::Continue), None);
        assert_eq!(t.on_midi(MidiEvent::Start), Some(Cue::PlayFromTop));
    }

    #[test]
    fn clock_moves_position_only_while_running() {
        let mut t = Transport::new();
        t.on_midi(MidiEvent::SongPosition { sixteenths: 4 });
        t.on_midi(MidiEvent::Clock);
        assert_eq!(t.song_position_clocks(), Some(24));
        t.on_midi(MidiEvent::Continue);
        for _ in 0..6 {
            t.on_midi(MidiEvent::Clock);
        }
        assert_eq!(t.song_position_clocks(), Some(30));
        assert_eq!(t.clocks_received(), 7);
        assert_eq!(t.state(), State::Stopped);
    }

    #[test]
    fn operator_keys() {
        let mut t = Transport::new();
        assert_eq!(t.on_operator(OperatorCommand::TogglePlay), Some(Cue::Play));
        assert_eq!(t.on_operator(OperatorCommand::TogglePlay), Some(Cue::Hold));
        assert_eq!(t.on_operator(OperatorCommand::TogglePlay), Some(Cue::Play));
        assert_eq!(t.on_operator(OperatorCommand::Rewind), Some(Cue::Arm));
        assert_eq!(t.state(), State::Armed);
    }
}
