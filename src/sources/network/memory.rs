//! The network-MIDI session as remembered across a crash: our SSRC and the joined peers, one
//! file per control port in the state folder (`network-5004.json`), rewritten whenever a peer
//! joins or leaves. A restarted playhead takes the same SSRC and the same peers back
//! ([`playhead_core::network::session::Session::restore`]), so a DAW that never noticed the
//! crash is answered at once.

use crate::state_dir;
use playhead_core::network::session::RememberedPeer;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// What is kept of one session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// Our SSRC: the peers know us by it.
    pub ssrc: u32,
    /// The session name it had (for whoever reads the file).
    #[serde(default)]
    pub session_name: String,
    /// The joined peers.
    #[serde(default)]
    pub peers: Vec<SavedPeer>,
}

/// One joined peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPeer {
    /// Its SSRC.
    pub ssrc: u32,
    /// Its session name.
    pub name: String,
    /// Its control port address.
    pub control: SocketAddr,
    /// Its data port address.
    pub data: SocketAddr,
    /// The initiator token of its session.
    pub token: u32,
    /// True when playhead invited it.
    pub initiated_by_us: bool,
}

impl From<&RememberedPeer> for SavedPeer {
    fn from(p: &RememberedPeer) -> SavedPeer {
        SavedPeer {
            ssrc: p.ssrc,
            name: p.name.clone(),
            control: p.control,
            data: p.data,
            token: p.token,
            initiated_by_us: p.initiated_by_us,
        }
    }
}

impl From<&SavedPeer> for RememberedPeer {
    fn from(p: &SavedPeer) -> RememberedPeer {
        RememberedPeer {
            ssrc: p.ssrc,
            name: p.name.clone(),
            control: p.control,
            data: p.data,
            token: p.token,
            initiated_by_us: p.initiated_by_us,
        }
    }
}

/// The file of one session.
#[derive(Clone, Debug)]
pub struct Memory {
    path: PathBuf,
    /// The last write failed and said so; said again only once it works.
    failing: bool,
}

impl Memory {
    /// The file of the session on `control_port` in the folder `dir`.
    pub fn new(dir: &Path, control_port: u16) -> Memory {
        Memory {
            path: dir.join(format!("network-{control_port}.json")),
            failing: false,
        }
    }

    /// Where it lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the last run left, if anything readable.
    pub fn load(&self) -> Result<Option<Saved>, String> {
        // A table of 16 peers is a few KiB: anything much larger is not ours to read whole.
        if let Ok(meta) = std::fs::metadata(&self.path) {
            if meta.len() > MAX_FILE_BYTES {
                return Err(format!(
                    "{} is {} bytes, too large for a session table; starting afresh",
                    self.path.display(),
                    meta.len()
                ));
            }
        }
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", self.path.display())),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            format!(
                "{} is unreadable ({e}); starting afresh",
                self.path.display()
            )
        })
    }

    /// Writes `saved` whole; a failure is logged once until a write works again.
    pub fn save(&mut self, saved: &Saved) {
        let result = serde_json::to_vec_pretty(saved)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                state_dir::write_atomic(&self.path, &bytes).map_err(|e| e.to_string())
            });
        match result {
            Ok(()) => self.failing = false,
            Err(e) => {
                if !self.failing {
                    log::warn!(
                        "network MIDI: cannot keep the session table in {}: {e}; after a crash \
                         the DAW will have to connect again",
                        self.path.display()
                    );
                }
                self.failing = true;
            }
        }
    }
}

/// The largest session table read back.
const MAX_FILE_BYTES: u64 = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_session_reads_back() {
        let dir = std::env::temp_dir().join(format!("playhead-memory-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut m = Memory::new(&dir, 5004);
        assert_eq!(m.load(), Ok(None));
        let saved = Saved {
            ssrc: 0x1234_5678,
            session_name: "video".into(),
            peers: vec![SavedPeer {
                ssrc: 7,
                name: "Live".into(),
                control: "192.0.2.1:5004".parse().unwrap(),
                data: "192.0.2.1:5005".parse().unwrap(),
                token: 9,
                initiated_by_us: false,
            }],
        };
        m.save(&saved);
        assert_eq!(m.load(), Ok(Some(saved)));
        assert!(m.path().ends_with("network-5004.json"));
        std::fs::write(m.path(), "{").unwrap();
        assert!(m.load().unwrap_err().contains("starting afresh"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
