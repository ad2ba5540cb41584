//! Decks: a small pool of mpv cores, each holding one song of the setlist or none.
//!
//! The songs of the preload window ([`crate::show::Preload`]) each have a deck with their file
//! loaded, paused on the first frame; the other songs have none. There are only as many decks
//! as the window needs ([`deck_count`]): when the window moves, a deck whose song left it is
//! unloaded and takes a song that entered it. Reusing cores, rather than keeping one per song,
//! bounds what the show holds by the window whatever the setlist's length: an idle core costs
//! about 5 MiB, and a core that has played a file keeps a little more.
//!
//! Unloading is `stop`. mpv answers it with `end-file` (and goes idle) a moment later; events
//! of the file being stopped can still be queued before that. So a deck being unloaded ignores
//! the events of its old file, and a load asked for meanwhile waits until the `end-file` (or,
//! if mpv had not started the file and so sends none, until [`UNLOAD_SETTLE`] has passed).

use crate::clock;
use crate::mpv::{Events, Mpv};
use crate::show::{Preload, Show};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a deck being unloaded waits for mpv's `end-file` before it is taken as unloaded.
pub const UNLOAD_SETTLE: Duration = Duration::from_millis(200);

/// How many decks (mpv cores) a show needs: one per song of the preload window, and at least
/// two, so that a song selected from outside the window loads while the picture on screen
/// stays; never more than the show has songs.
pub fn deck_count(show: &Show) -> usize {
    let window = match show.preload {
        Preload::All => show.songs.len(),
        Preload::Neighbours(n) => n.saturating_mul(2).saturating_add(1).max(2),
    };
    window.min(show.songs.len()).max(1)
}

/// One mpv core and the song it holds, if any.
pub(super) struct Deck {
    pub mpv: Mpv,
    pub events: Events,
    /// The song (its index in the setlist) this deck holds or is loading.
    pub song: Option<usize>,
    media: Option<Media>,
    /// The filters, extra files and stacking graph mpv has now.
    set: Media,
    /// Its file is asked for (loaded or on the way).
    pub wanted: bool,
    /// mpv has opened the file and it has a video track.
    pub loaded: bool,
    /// The first frame is decoded and drawn: the deck can go on screen at once.
    pub ready: bool,
    /// `stop` was sent at this time and mpv has not confirmed it yet.
    pub unloading_since: Option<Instant>,
    /// A load was asked for while unloading: done once the unload is confirmed.
    load_deferred: bool,
    /// The frame paused on screen (video seconds), when the player knows it exactly.
    pub cued_s: Option<f64>,
    /// The video's frame duration, once mpv has said its frame rate.
    pub frame_s: Option<f64>,
    /// How long this deck's seeks take.
    pub seeks: crate::plan::SeekTimer,
    /// How far ahead of its due time mpv hands each frame to the screen, in seconds
    /// (`video-timing-offset`, which the screen fits to its drawing cost).
    pub ahead_s: f64,
    /// The video's length as its container gives it, once mpv has said it.
    pub duration_s: Option<f64>,
    /// Where the player last sent this deck (video seconds).
    pub sought_s: Option<f64>,
    /// mpv has reached the end of the file since the player last sent it somewhere.
    pub at_end: bool,
}

impl Deck {
    pub fn new(mpv: Mpv, events: Events) -> Self {
        Deck {
            mpv,
            events,
            song: None,
            media: None,
            set: Media::default(),
            wanted: false,
            loaded: false,
            ready: false,
            unloading_since: None,
            load_deferred: false,
            cued_s: None,
            frame_s: None,
            seeks: crate::plan::SeekTimer::default(),
            ahead_s: 0.0,
            duration_s: None,
            sought_s: None,
            at_end: false,
        }
    }

    /// True when the deck holds `song` (loaded, loading, or waiting to load).
    pub fn holds(&self, song: usize) -> bool {
        self.song == Some(song)
    }

    /// Makes the deck hold `song`, whose files are `media`: mpv loads it paused at normal
    /// speed (its first frame comes on its own). Another song it held is unloaded first.
    /// Nothing when it holds `song` already. An error says why mpv refused the file.
    pub fn load(&mut self, song: usize, media: Media) -> Result<(), String> {
        if self.holds(song) {
            return Ok(());
        }
        self.unload();
        self.song = Some(song);
        self.media = Some(media);
        if self.unloading_since.is_some() {
            self.load_deferred = true;
            return Ok(());
        }
        self.start_load()
    }

    /// What the deck holds (or is loading).
    pub fn media(&self) -> Option<&Media> {
        self.media.as_ref()
    }

    fn start_load(&mut self) -> Result<(), String> {
        let Some(media) = &self.media else {
            return Ok(());
        };
        self.wanted = true;
        self.loaded = false;
        self.ready = false;
        self.cued_s = Some(0.0);
        self.frame_s = None;
        self.duration_s = None;
        self.sought_s = None;
        self.at_end = false;
        self.seeks.forget();
        if media.filter != self.set.filter {
            let vf = media.filter.as_deref().unwrap_or("");
            self.mpv
                .set_string("vf", vf)
                .map_err(|e| format!("cannot draw the test card: {e}"))?;
            self.set.filter = media.filter.clone();
        }
        if media.extra != self.set.extra || media.complex != self.set.complex {
            for extra in &media.extra {
                crate::player::check_video_file(extra)?;
            }
            // A path list (':' between paths): the show file refuses paths with a ':'.
            let list: Vec<String> = media
                .extra
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            self.mpv
                .set_string("external-files", &list.join(":"))
                .and_then(|_| {
                    self.mpv
                        .set_string("lavfi-complex", media.complex.as_deref().unwrap_or(""))
                })
                .map_err(|e| format!("cannot load the song's files for its outputs: {e}"))?;
            self.set.extra = media.extra.clone();
            self.set.complex = media.complex.clone();
        }
        // The OS's bytes, not a UTF-8 rendering: any file the OS can open plays.
        let video = &media.video;
        self.mpv
            .set_flag("pause", true)
            .and_then(|_| self.mpv.set_double("speed", 1.0))
            .and_then(|_| self.mpv.load_file(video))
            .map_err(|e| format!("cannot load video '{}': {e}", video.display()))
    }

    /// Unloads the song (frees its decoder and frames); the deck is free again.
    pub fn unload(&mut self) {
        self.song = None;
        self.media = None;
        self.load_deferred = false;
        if !self.wanted {
            return;
        }
        self.wanted = false;
        self.loaded = false;
        self.ready = false;
        match self.mpv.command(&["stop"]) {
            Ok(()) => self.unloading_since = Some(clock::now()),
            Err(e) => log::warn!("could not unload a song: {e}"),
        }
    }

    /// mpv confirmed the unload (or it settled): a deferred load goes ahead. An error says why
    /// mpv refused that file.
    pub fn unload_done(&mut self) -> Result<(), String> {
        if self.unloading_since.take().is_none() {
            return Ok(());
        }
        if std::mem::take(&mut self.load_deferred) {
            return self.start_load();
        }
        Ok(())
    }

    /// Events of the current file count; not those of a file being unloaded.
    pub fn current_file(&self) -> bool {
        self.wanted && self.unloading_since.is_none()
    }
}

/// What a deck loads for a song: its file, the files shown beside it on other outputs
/// (decoded by the same core, stacked by `complex`, mpv's `lavfi-complex`), and the filter
/// drawn over the picture (the test card's, mpv's `vf`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Media {
    pub video: PathBuf,
    pub extra: Vec<PathBuf>,
    pub complex: Option<String>,
    pub filter: Option<String>,
}

impl Media {
    /// What song `song` of `show` loads.
    pub fn of(show: &Show, song: usize) -> Media {
        let s = &show.songs[song];
        let names: Vec<String> = show.outputs.iter().map(|o| o.name.clone()).collect();
        let composite = crate::outputs::Composite::of(&s.outputs_video(), &names);
        let complex = composite.filter_graph();
        let mut files = composite.files.into_iter();
        let video = files.next().unwrap_or_else(|| s.video.clone());
        Media {
            video,
            extra: files.collect(),
            complex,
            filter: s.video_filter.clone(),
        }
    }
}

/// The size from which glibc gives each allocation its own mapping, returned to the system as
/// soon as it is freed: glibc's default, but fixed.
const MMAP_THRESHOLD_BYTES: i32 = 128 * 1024;

/// Makes the memory of an unloaded song's frames go back to the system. By default glibc
/// raises its mapping threshold each time a large block is freed, so after the first song
/// unloads, the next songs' decoded frames (3 MiB each at 1080p) come from the heaps of the
/// decoder threads and stay resident after they are freed: measured, a walk through a setlist
/// of twelve 1080p songs then ended at 255 MiB instead of 145 MiB. A fixed threshold keeps
/// every frame in a mapping of its own. Called once, before the first deck exists.
pub fn keep_frames_in_own_mappings() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt takes no pointer and only changes an allocator setting, under
            // the allocator's lock; any thread may call it at any time.
            if unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) } != 1 {
                log::debug!("could not fix the allocator's mapping threshold");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decks_for_the_window() {
        let mut show = Show::single("a.mp4".into());
        show.songs = vec![show.songs[0].clone(); 12];
        for (preload, decks) in [
            (Preload::Neighbours(1), 3),
            (Preload::Neighbours(0), 2),
            (Preload::Neighbours(2), 5),
            (Preload::Neighbours(127), 12),
            (Preload::All, 12),
        ] {
            show.preload = preload;
            assert_eq!(deck_count(&show), decks, "{preload:?}");
        }
        show.songs.truncate(1);
        show.preload = Preload::Neighbours(1);
        assert_eq!(deck_count(&show), 1);
    }
}
