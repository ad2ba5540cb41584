//! The program's one error type: what failed, in words the operator can act on.
//!
//! Each variant is a place a show can fail before or while it runs; its text is the one line
//! `playhead: error: …` the operator reads, so every message says what failed, on which input,
//! and what to do. The core's typed errors (a show file's [`ShowError`], libmpv's
//! [`MpvError`]) are carried as they are; the program's own threads and devices give their
//! reason in words.

use playhead_core::show::ShowError;
use playhead_mpv::MpvError;

/// Why playhead cannot run the show.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The show file is wrong; the message names the file, the line and the key.
    #[error(transparent)]
    Show(#[from] ShowError),
    /// A command-line option is wrong.
    #[error("{option}: {reason}")]
    Option {
        /// The option as typed, with its value where that helps, e.g. `--bpm 0`.
        option: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// A video cannot be opened or played.
    #[error("{0}")]
    Video(String),
    /// libmpv refused to start or to take a setting.
    #[error("libmpv: {0}")]
    Mpv(#[from] MpvError),
    /// A MIDI input (OS ports, a raw device, network MIDI) cannot start.
    #[error("{0}")]
    Input(String),
    /// The operator's remote (status page, OSC) cannot start: its address is wrong or taken.
    #[error("{0}")]
    Remote(String),
    /// The window, the display or OpenGL.
    #[error("{0}")]
    Screen(String),
    /// The player stopped the show with this message.
    #[error("{0}")]
    Player(String),
    /// A thread of the program could not be started (the system is out of resources).
    #[error("cannot start the {thread} thread: {source}")]
    Thread {
        /// The thread's name.
        thread: &'static str,
        /// What the system said.
        source: std::io::Error,
    },
}

impl Error {
    /// A thread that could not be started.
    pub fn thread(thread: &'static str) -> impl FnOnce(std::io::Error) -> Error {
        move |source| Error::Thread { thread, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_the_operators_line() {
        let e = Error::Option {
            option: "--offset-ms".into(),
            reason: "give a number of milliseconds between -10000 and 10000".into(),
        };
        assert_eq!(
            e.to_string(),
            "--offset-ms: give a number of milliseconds between -10000 and 10000"
        );
        let e = Error::thread("watchdog")(std::io::Error::other("out of memory"));
        assert_eq!(
            e.to_string(),
            "cannot start the watchdog thread: out of memory"
        );
    }
}
