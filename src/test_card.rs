//! Makes the test card playable: writes its raw stream once (into the state folder, else the
//! temporary folder) and finds its fonts; what the card shows and when is decided in the core
//! ([`playhead_core::test_card`]).

use crate::chase::position::{SongPosition, TimeSignature};
use crate::chase::tempo::TempoMap;
use crate::show::{Show, Song};
use log::{info, warn};
use playhead_core::test_card::{Fonts, TestCard, DEFAULT_BPM, TEST_CARD, Y4M_FRAME};
use std::path::{Path, PathBuf};

/// Where Debian's fonts-dejavu-core puts the fonts the card's numbers are drawn with.
const FONT_DIR: &str = "/usr/share/fonts/truetype/dejavu";

/// The card for a song, at the tempo that holds for it: the command line's (`--bpm`,
/// `--tempo-map`), else the song's own, else [`DEFAULT_BPM`], in 4/4 unless the map says
/// otherwise.
pub fn card_for(song: &Song, command_line: Option<&TempoMap>) -> TestCard {
    let (bpm, signature) = command_line
        .or(song.tempo_map.as_ref())
        .map(|m| {
            let start = SongPosition::START;
            (m.bpm_at(start), m.time_signature_at(start))
        })
        .unwrap_or((DEFAULT_BPM, TimeSignature::FOUR_FOUR));
    TestCard::new(bpm, signature)
}

/// Points every test-card song of the show at the card's raw stream and its drawing, and fixes
/// its tempo to the card's so song positions land on its beats. Also makes ready (but does not
/// add) the card the operator can call up from the page or OSC when the show has none: see
/// [`spare_card`].
pub fn prepare(show: &mut Show, command_line: Option<&TempoMap>) -> Result<(), String> {
    for song in show.songs.iter_mut().filter(|s| s.test_card) {
        prepare_song(song, command_line, true)?;
    }
    Ok(())
}

/// A test-card song, ready to play, for a show that has none (added to the setlist only when
/// the operator calls it up). `None` when it cannot be made; said in the log.
pub fn spare_card(show: &Show, command_line: Option<&TempoMap>) -> Option<Song> {
    if show.songs.iter().any(|s| s.test_card) {
        return None;
    }
    let mut with = show.clone();
    let i = with.test_card_song()?;
    let mut song = with.songs.swap_remove(i);
    match prepare_song(&mut song, command_line, false) {
        Ok(()) => Some(song),
        Err(e) => {
            warn!("{e}");
            None
        }
    }
}

/// Makes `song` the card: its stream (written now when `write`, else by [`write_stream`]
/// when it is called up), its drawing and its tempo.
fn prepare_song(
    song: &mut Song,
    command_line: Option<&TempoMap>,
    write: bool,
) -> Result<(), String> {
    let card = card_for(song, command_line);
    if command_line.is_none() && song.tempo_map.is_none() {
        song.tempo_map = TempoMap::fixed(card.bpm(), TimeSignature::FOUR_FOUR).ok();
    }
    song.video = stream(&card, write)?;
    let fonts = fonts();
    if fonts.is_none() {
        warn!(
            "the test card is drawn without its numbers: the DejaVu fonts are missing from \
             {FONT_DIR} (Debian: apt install fonts-dejavu-core)"
        );
    }
    song.video_filter = Some(card.filter(fonts.as_ref()));
    Ok(())
}

/// The DejaVu fonts, when installed.
pub fn fonts() -> Option<Fonts> {
    let dir = Path::new(FONT_DIR);
    let (bold, mono) = (
        dir.join("DejaVuSans-Bold.ttf"),
        dir.join("DejaVuSansMono.ttf"),
    );
    (bold.is_file() && mono.is_file()).then(|| Fonts {
        bold: bold.to_string_lossy().into_owned(),
        mono: mono.to_string_lossy().into_owned(),
    })
}

/// Writes the spare card's stream (see [`spare_card`]) unless it is there already.
pub fn write_stream(song: &Song, command_line: Option<&TempoMap>) -> Result<(), String> {
    stream(&card_for(song, command_line), true).map(|_| ())
}

/// The card's raw stream for its frame rate: made on first use (when `write`), kept for later
/// starts.
fn stream(card: &TestCard, write: bool) -> Result<PathBuf, String> {
    let dir = crate::state_dir::path().unwrap_or_else(std::env::temp_dir);
    let path = dir.join(card.stream_name());
    let header = card.y4m_header();
    let size = header.len() as u64 + card.frame_count() * Y4M_FRAME.len() as u64;
    if !write || std::fs::metadata(&path).is_ok_and(|m| m.len() == size) {
        return Ok(path);
    }
    let mut bytes = Vec::with_capacity(size as usize);
    bytes.extend_from_slice(header.as_bytes());
    for _ in 0..card.frame_count() {
        bytes.extend_from_slice(Y4M_FRAME);
    }
    crate::state_dir::write_atomic(&path, &bytes).map_err(|e| {
        format!(
            "cannot make the {TEST_CARD}: cannot write {}: {e}",
            path.display()
        )
    })?;
    info!(
        "test card: its stream for {:.3} frames a second written to {}",
        card.fps(),
        path.display()
    );
    Ok(path)
}
