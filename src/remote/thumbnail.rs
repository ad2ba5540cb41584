//! The small picture of the frame on screen for the remote page: a JPEG taken by mpv on the
//! asking connection's thread, never the player's, at most once a second whoever asks.

use crate::mpv::Mpv;
use crate::screen::stage::Stage;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A picture is taken again only when the last one is older than this.
const MAX_AGE: Duration = Duration::from_secs(1);

/// Takes and keeps the latest thumbnail.
pub struct Thumbnailer {
    decks: Vec<Mpv>,
    stage: Stage,
    file: PathBuf,
    /// The latest picture and when it was taken. Held while a picture is taken, so many
    /// clients asking at once cost one picture.
    latest: Mutex<Option<(Instant, Arc<Vec<u8>>)>>,
}

impl Thumbnailer {
    /// Thumbnails of whichever of `decks` is on screen.
    pub fn new(decks: Vec<Mpv>, stage: Stage) -> Thumbnailer {
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        // A folder of our own that nobody else can write in, made fresh (it must not exist):
        // a name another user could guess in /tmp must never be where mpv writes.
        let dir = base.join(format!(
            "playhead-remote-{}-{:016x}",
            std::process::id(),
            playhead_core::rng::Rng::from_entropy().next_u64()
        ));
        let private = {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().mode(0o700).create(&dir)
        };
        if let Err(e) = &private {
            log::warn!(
                "remote: no thumbnail of the picture ({}: {e}); the page works without it",
                dir.display()
            );
        }
        for mpv in &decks {
            // Small enough for a phone on a show network; the picture is only a glance.
            let _ = mpv.set_string("screenshot-jpeg-quality", "60");
        }
        Thumbnailer {
            decks,
            stage,
            file: dir.join("picture.jpg"),
            latest: Mutex::new(None),
        }
    }

    /// The latest picture, taken now if the last is too old; None when mpv has none.
    pub fn latest(&self) -> Option<Arc<Vec<u8>>> {
        let mut latest = self.latest.lock().ok()?;
        if let Some((at, jpeg)) = latest.as_ref() {
            if at.elapsed() < MAX_AGE {
                return Some(jpeg.clone());
            }
        }
        let mpv = self.decks.get(self.stage.deck())?;
        let file = self.file.to_str()?;
        // "video": the decoded frame without the OSD, so black shows as the picture under it.
        mpv.command(&["screenshot-to-file", file, "video"]).ok()?;
        let jpeg = Arc::new(std::fs::read(&self.file).ok()?);
        let _ = std::fs::remove_file(&self.file);
        *latest = Some((Instant::now(), jpeg.clone()));
        Some(jpeg)
    }
}

impl Drop for Thumbnailer {
    fn drop(&mut self) {
        if let Some(dir) = self.file.parent() {
            let _ = std::fs::remove_file(&self.file);
            let _ = std::fs::remove_dir(dir);
        }
    }
}
