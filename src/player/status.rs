//! The status snapshot the player publishes for the remote page and OSC: read without ever
//! calling into the player thread.

use serde::Serialize;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// What the player is doing, as of one moment. Built on the player thread, read anywhere.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct StatusSnapshot {
    /// The show's name.
    pub show: String,
    /// "armed", "playing" or "stopped".
    pub state: &'static str,
    /// The selected song.
    pub song: SongRef,
    /// Why the selected song cannot play, when it cannot: the screen shows black (or the idle
    /// content) and the DAW's Start plays nothing.
    pub song_error: Option<String>,
    /// The setlist, in order.
    pub setlist: Vec<SongRef>,
    /// The video position of the picture on screen, in seconds.
    pub position_s: Option<f64>,
    /// The song position, when a tempo is known.
    pub bar: Option<u32>,
    pub beat: Option<u32>,
    /// "clock", "timecode" or "none": what the video follows while playing.
    pub sync_reference: &'static str,
    /// The sync state's label (locked, correcting, ...), when chasing.
    pub sync_state: Option<&'static str>,
    /// The DAW's tempo, in BPM.
    pub tempo_bpm: Option<f64>,
    /// Video minus DAW position, in milliseconds.
    pub sync_error_ms: Option<f64>,
    /// Where the last transport message came from (a port, device or network peer).
    pub source: Option<String>,
    /// The last transport message and how long ago it arrived, in seconds.
    pub last_message: Option<String>,
    pub last_message_age_s: Option<f64>,
    /// Black is over the picture.
    pub black: bool,
    /// The idle content (walk-in loop, logo) is on screen.
    pub idle: bool,
    /// What the operator should know about: songs that cannot play, a player falling behind.
    pub warnings: Vec<String>,
    /// The main and backup rigs, when the show has them: which leads, each one's name,
    /// whether it is heard and its offset from the other in ms.
    pub rigs: Option<crate::arbiter::RigsStatus>,
    /// The latency offset in force, in ms (positive: the picture is shown that much earlier).
    pub offset_ms: f64,
    /// The show's outputs (`[[output]]`), in order; empty with one screen.
    pub outputs: Vec<OutputStatus>,
}

/// One output, as the remote and OSC report it.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct OutputStatus {
    /// Its name in the show file.
    pub name: String,
    /// The monitor it was given (`screen N` or `monitor "HDMI-1"`), if any.
    pub monitor: Option<String>,
    /// Its latency offset in ms (its own, or the show's).
    pub offset_ms: f64,
    /// The part of the video it shows, `[x, y, width, height]`, if not all of it.
    pub crop: Option<[u32; 4]>,
    /// The file it shows in the selected song; `None`: black.
    pub video: Option<String>,
    /// "presenting", or "held" when the window system has held its frame for over a second
    /// (its monitor unplugged): the other outputs play on.
    pub state: &'static str,
}

/// A song as the remote names it: its number in the setlist (from 1, as the operator counts)
/// and its title.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct SongRef {
    pub index: usize,
    pub title: String,
}

/// The latest snapshot and its version number. The player replaces it (a pointer swap under
/// a lock held for no longer than that); readers clone the pointer, or wait for a newer one.
#[derive(Debug, Default)]
pub struct StatusBoard {
    latest: Mutex<(u64, Arc<StatusSnapshot>)>,
    changed: Condvar,
}

impl StatusBoard {
    /// Publishes a new snapshot and wakes whoever waits for one.
    pub fn publish(&self, snapshot: StatusSnapshot) {
        let snapshot = Arc::new(snapshot);
        if let Ok(mut latest) = self.latest.lock() {
            latest.0 += 1;
            latest.1 = snapshot;
        }
        self.changed.notify_all();
    }

    /// The latest snapshot and its version.
    pub fn latest(&self) -> (u64, Arc<StatusSnapshot>) {
        match self.latest.lock() {
            Ok(l) => (l.0, l.1.clone()),
            Err(poisoned) => {
                let l = poisoned.into_inner();
                (l.0, l.1.clone())
            }
        }
    }

    /// Waits up to `timeout` for a snapshot newer than `version`; the latest either way.
    pub fn wait_newer(&self, version: u64, timeout: Duration) -> (u64, Arc<StatusSnapshot>) {
        let Ok(guard) = self.latest.lock() else {
            return self.latest();
        };
        match self
            .changed
            .wait_timeout_while(guard, timeout, |l| l.0 <= version)
        {
            Ok((l, _)) => (l.0, l.1.clone()),
            Err(_) => self.latest(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_sees_each_new_snapshot_and_waits_for_the_next() {
        let board = Arc::new(StatusBoard::default());
        let (v0, _) = board.latest();
        let b = board.clone();
        let waiter = std::thread::spawn(move || b.wait_newer(v0, Duration::from_secs(30)));
        board.publish(StatusSnapshot {
            state: "playing",
            ..StatusSnapshot::default()
        });
        let (v1, snap) = waiter.join().unwrap();
        assert!(v1 > v0);
        assert_eq!(snap.state, "playing");
    }
}
