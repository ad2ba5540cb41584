//! The show: which videos to play, selected how, and the settings that go with them, read from
//! a show file (TOML) or made for a single video.
//!
//! A show file (see `packaging/example.playhead.toml` for a commented example):
//!
//! ```toml
//! name = "Summer tour"
//! follow = "chase"            # or "start"
//! offset_ms = 60              # projector latency
//! on_stop = "hold"            # "hold", "black", "rearm" or "idle"
//! idle = "walkin-loop.mp4"   # looped before the first Start (and on_stop = "idle")
//! select_by = "song-select"   # or "program-change"
//! program_channel = 16        # for program-change, 1-16
//! preload = 1                 # songs held ready on each side of the one on screen, or "all"
//! mmc_device = 1              # MIDI Machine Control device ID, 0-126 (0x7F is always heard)
//! link_quantum = 4            # beats to the bar for an Ableton Link start (--link)
//! remote = "0.0.0.0:8080"     # the status page (off unless set)
//! remote_token = "s3cret"     # lets the page and API control, too
//! # remote_cert = "cert.pem"  # HTTPS with this certificate and key (default: playhead's own)
//! # remote_key = "key.pem"
//! osc = 9000                  # OSC in and out, [ADDR:]PORT
//! main = "Main Live"          # the main rig: a network-MIDI peer's name or address, a part of
//! backup = "Backup Live"      #   a port's name, "ltc" or "link"; the backup takes over
//! failover_ms = 150           # the main's clock stopped this long while playing: failover
//!
//! [[song]]
//! title = "Opener"
//! video = "videos/opener.mp4" # relative to this file
//! bpm = 120
//! ```
//!
//! Errors name the file, the line and the key, and say what is allowed.

use crate::chase::position::TimeSignature;
use crate::chase::tempo::TempoMap;
use crate::chase::timecode::{FrameRate, Timecode};
use crate::transport::FollowMode;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// What playhead does with the picture when the DAW stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopAction {
    /// Pause and keep the frame on screen.
    Hold,
    /// Pause and show black.
    Black,
    /// Go back to the top, paused: armed for the next Start.
    Rearm,
    /// Go back to the top, armed, and show the idle content (walk-in loop, logo) until the
    /// next song position, Song Select or Start.
    Idle,
}

/// Which songs of the setlist are held loaded, paused on their first frame, so that selecting
/// one shows it at once. The others are loaded when selected (a fraction of a second).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preload {
    /// The song on screen and this many songs before and after it in the setlist.
    Neighbours(usize),
    /// Every song: memory grows with each song (a decoder each), for small shows.
    All,
}

impl Default for Preload {
    /// One song on each side: the next song, and the previous one for a DAW that goes back.
    fn default() -> Self {
        Preload::Neighbours(1)
    }
}

impl Preload {
    /// Whether song `song` is held ready while song `on_screen` is on screen.
    pub fn holds(self, song: usize, on_screen: usize) -> bool {
        match self {
            Preload::All => true,
            Preload::Neighbours(n) => song.abs_diff(on_screen) <= n,
        }
    }
}

/// How the DAW picks a song of the setlist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// MIDI Song Select (`F3 n`).
    SongSelect,
    /// Program Change on one channel (0-15).
    ProgramChange { channel: u8 },
}

/// One song of the setlist.
#[derive(Clone, Debug)]
pub struct Song {
    /// Shown to the operator.
    pub title: String,
    /// The video file.
    pub video: PathBuf,
    /// The Song Select or Program Change number (0-127, as sent on the wire).
    pub number: u8,
    /// Tempo for song positions; `None` to measure it from the clock.
    pub tempo_map: Option<TempoMap>,
    /// The MIDI Time Code at which the video's first frame plays.
    pub timecode_start: Option<Timecode>,
    /// True when the song's own entry gives its timecode start: then LTC or MTC entering
    /// its range selects it (see [`Show::song_for_timecode`]).
    pub selected_by_timecode: bool,
    /// The video or still image looped between songs while this song is selected (the
    /// show's, unless the song names its own).
    pub idle: Option<PathBuf>,
    /// The song is the test card (`video = "test-card"`): playhead draws it, see
    /// [`crate::test_card`]. The program points `video` at the card's raw stream and sets
    /// `video_filter` before it plays.
    pub test_card: bool,
    /// A libavfilter graph drawn over the video, in mpv's `vf` form (the test card's).
    pub video_filter: Option<String>,
    /// A file per output (`video = { left = "wide.mp4", led = "led.mp4" }`), by output name;
    /// empty when `video` is shown on every output. `video` is then the table's first file.
    pub per_output: Vec<(String, PathBuf)>,
}

impl Song {
    /// What the song shows on the outputs.
    pub fn outputs_video(&self) -> crate::outputs::SongVideo {
        if self.per_output.is_empty() {
            crate::outputs::SongVideo::All(self.video.clone())
        } else {
            crate::outputs::SongVideo::PerOutput(self.per_output.clone())
        }
    }
}

/// A show: a setlist and its settings. Settings left out are `None`, so the command line's
/// defaults apply.
#[derive(Clone, Debug)]
pub struct Show {
    /// The show file it came from, if any.
    pub file: Option<PathBuf>,
    /// The show's name, for the operator.
    pub name: String,
    /// The songs, in setlist order; at least one.
    pub songs: Vec<Song>,
    /// How songs are selected.
    pub selection: Selection,
    pub follow: Option<FollowMode>,
    pub offset_ms: Option<f64>,
    pub screen: Option<u16>,
    pub midi_ports: Vec<String>,
    pub midi_devices: Vec<PathBuf>,
    pub session_name: Option<String>,
    pub on_stop: StopAction,
    /// Which songs are held ready.
    pub preload: Preload,
    /// The MIDI Machine Control device ID playhead answers to besides the all-call 0x7F.
    pub mmc_device: Option<u8>,
    /// Beats to the bar for an Ableton Link session's quantized start.
    pub link_quantum: Option<u16>,
    /// Where the remote status page listens, if anywhere.
    pub remote: Option<std::net::SocketAddr>,
    /// The remote's control token.
    pub remote_token: Option<String>,
    /// The remote's own HTTPS certificate and key (PEM files), instead of the one playhead
    /// makes; both or neither.
    pub remote_cert: Option<(PathBuf, PathBuf)>,
    /// Where OSC listens, if anywhere.
    pub osc: Option<std::net::SocketAddr>,
    /// The main and backup rigs (`main`, `backup`, `failover_ms`), when the show has them.
    pub rigs: Option<crate::arbiter::Rigs>,
    /// The screens (`[[output]]`); empty = one window, on `screen` (or `--screen`).
    pub outputs: Vec<crate::outputs::Output>,
}

/// Reads a listening address: `ADDR:PORT`, or a bare `PORT` (on every interface) when
/// `port_alone` is true.
pub fn parse_listen(text: &str, port_alone: bool) -> Result<std::net::SocketAddr, String> {
    let text = text.trim();
    if port_alone {
        if let Ok(port) = text.parse::<u16>() {
            return Ok(std::net::SocketAddr::from(([0, 0, 0, 0], port)));
        }
    }
    text.parse().map_err(|_| {
        format!(
            "'{text}' is not an address to listen on: write it as 0.0.0.0:8080 (every \
             interface) or 192.168.1.10:8080{}",
            if port_alone { ", or a port alone" } else { "" }
        )
    })
}

/// A mistake in a show file: where it is and what is allowed.
#[derive(Clone, Debug, PartialEq)]
pub struct ShowError {
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The key the mistake is in, e.g. `song[2].video`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ShowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "show file '{}'", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ", {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ShowError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShow {
    name: Option<String>,
    follow: Option<Spanned<String>>,
    offset_ms: Option<Spanned<f64>>,
    screen: Option<Spanned<u16>>,
    #[serde(default)]
    midi_ports: Vec<String>,
    #[serde(default)]
    midi_devices: Vec<PathBuf>,
    session_name: Option<String>,
    on_stop: Option<Spanned<String>>,
    select_by: Option<Spanned<String>>,
    program_channel: Option<Spanned<i64>>,
    preload: Option<Spanned<toml::Value>>,
    mmc_device: Option<Spanned<i64>>,
    link_quantum: Option<Spanned<i64>>,
    bpm: Option<Spanned<f64>>,
    tempo_map: Option<Spanned<String>>,
    timecode_start: Option<Spanned<String>>,
    idle: Option<Spanned<String>>,
    remote: Option<Spanned<String>>,
    remote_token: Option<String>,
    remote_cert: Option<Spanned<String>>,
    remote_key: Option<Spanned<String>>,
    osc: Option<Spanned<toml::Value>>,
    main: Option<Spanned<String>>,
    backup: Option<Spanned<String>>,
    failover_ms: Option<Spanned<f64>>,
    #[serde(default)]
    song: Vec<Spanned<RawSong>>,
    #[serde(default)]
    output: Vec<Spanned<RawOutput>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    name: Option<Spanned<String>>,
    monitor: Option<Spanned<toml::Value>>,
    offset_ms: Option<Spanned<f64>>,
    crop: Option<Spanned<Vec<i64>>>,
    blend_gamma: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSong {
    title: Option<String>,
    video: Spanned<toml::Value>,
    number: Option<Spanned<i64>>,
    bpm: Option<Spanned<f64>>,
    tempo_map: Option<Spanned<String>>,
    #[serde(alias = "timecode")]
    timecode_start: Option<Spanned<String>>,
    idle: Option<Spanned<String>>,
}

type KeyError = (Option<std::ops::Range<usize>>, &'static str, String);

/// The show's `main`, `backup` and `failover_ms`.
fn parse_rigs(raw: &RawShow) -> Result<Option<crate::arbiter::Rigs>, KeyError> {
    use crate::arbiter::{RigSource, Rigs, DEFAULT_FAILOVER_MS};
    let failover_s = match &raw.failover_ms {
        None => DEFAULT_FAILOVER_MS / 1000.0,
        Some(f) if (20.0..=5000.0).contains(f.get_ref()) => *f.get_ref() / 1000.0,
        Some(f) => {
            return Err((
                Some(f.span()),
                "failover_ms",
                format!(
                    "{} ms is not allowed: give how long the main's clock may stop while                      playing before the backup takes over, 20 to 5000 ms",
                    f.get_ref()
                ),
            ))
        }
    };
    let (main, backup) = match (&raw.main, &raw.backup) {
        (None, None) => {
            if let Some(f) = &raw.failover_ms {
                return Err((
                    Some(f.span()),
                    "failover_ms",
                    "failover_ms needs main and backup rigs: add main = \"...\" and                      backup = \"...\""
                        .into(),
                ));
            }
            return Ok(None);
        }
        (Some(m), None) => {
            return Err((
                Some(m.span()),
                "backup",
                "a main rig needs a backup: add backup = \"...\" (the backup rig's                  network-MIDI session name, a part of its port's name, \"ltc\" or \"link\")"
                    .into(),
            ))
        }
        (None, Some(b)) => {
            return Err((
                Some(b.span()),
                "main",
                "a backup rig needs a main: add main = \"...\"".into(),
            ))
        }
        (Some(m), Some(b)) => (m, b),
    };
    let main_source =
        RigSource::parse(main.get_ref()).map_err(|e| (Some(main.span()), "main", e))?;
    let backup_source =
        RigSource::parse(backup.get_ref()).map_err(|e| (Some(backup.span()), "backup", e))?;
    if main_source == backup_source {
        return Err((
            Some(backup.span()),
            "backup",
            "the backup names the same source as the main: name the other rig".into(),
        ));
    }
    Ok(Some(Rigs {
        main: main_source,
        backup: backup_source,
        failover_s,
    }))
}

type OutputError = (Option<std::ops::Range<usize>>, String, String);

/// The show's `[[output]]` tables.
fn parse_outputs(
    raw: &[Spanned<RawOutput>],
    line_of: &dyn Fn(usize) -> usize,
) -> Result<Vec<crate::outputs::Output>, OutputError> {
    use crate::outputs::{Monitor, Output, Rect, DEFAULT_BLEND_GAMMA};
    let mut outputs: Vec<(Output, usize)> = Vec::new();
    for (i, spanned) in raw.iter().enumerate() {
        let key = |k: &str| format!("output[{}].{k}", i + 1);
        let o = spanned.get_ref();
        let name = match &o.name {
            Some(n) if !n.get_ref().trim().is_empty() => n.get_ref().trim().to_string(),
            Some(n) => return Err((Some(n.span()), key("name"), "give the output a name".into())),
            None => {
                return Err((
                    Some(spanned.span()),
                    key("name"),
                    "give the output a name (name = \"projector\"): songs' video tables, the \
                     status page and the log use it"
                        .into(),
                ))
            }
        };
        if let Some((_, line)) = outputs.iter().find(|(other, _)| other.name == name) {
            return Err((
                o.name.as_ref().map(|n| n.span()),
                key("name"),
                format!("the output at line {line} is already called \"{name}\": give each output its own name"),
            ));
        }
        let monitor = match &o.monitor {
            None => None,
            Some(m) => match m.get_ref() {
                toml::Value::Integer(n) if *n >= 1 => Some(Monitor::Index(*n as usize)),
                toml::Value::String(s) if !s.trim().is_empty() => {
                    Some(Monitor::Name(s.trim().to_string()))
                }
                _ => {
                    return Err((
                        Some(m.span()),
                        key("monitor"),
                        "give the monitor's number, counted from 1 as --screen counts, or the \
                         name the system gives its connector (monitor = \"HDMI-1\"; \
                         playhead --check lists them)"
                            .into(),
                    ))
                }
            },
        };
        let offset_ms = match &o.offset_ms {
            None => None,
            Some(v) if v.get_ref().is_finite() && (-10_000.0..=10_000.0).contains(v.get_ref()) => {
                Some(*v.get_ref())
            }
            Some(v) => {
                return Err((
                    Some(v.span()),
                    key("offset_ms"),
                    format!(
                        "{} ms is not allowed: give this screen's latency, -10000 to 10000 ms",
                        v.get_ref()
                    ),
                ))
            }
        };
        let crop = match &o.crop {
            None => None,
            Some(c) => match c.get_ref().as_slice() {
                &[x, y, w, h]
                    if x >= 0
                        && y >= 0
                        && w > 0
                        && h > 0
                        && [x, y, w, h].iter().all(|v| *v <= 65_535) =>
                {
                    Some(Rect {
                        x: x as u32,
                        y: y as u32,
                        width: w as u32,
                        height: h as u32,
                    })
                }
                _ => {
                    return Err((
                        Some(c.span()),
                        key("crop"),
                        "give the part of the video this output shows as [x, y, width, \
                         height] in the video's pixels, e.g. crop = [0, 0, 1984, 1080]"
                            .into(),
                    ))
                }
            },
        };
        let blend_gamma = match &o.blend_gamma {
            None => DEFAULT_BLEND_GAMMA,
            Some(g) if (0.5..=4.0).contains(g.get_ref()) => *g.get_ref(),
            Some(g) => {
                return Err((
                    Some(g.span()),
                    key("blend_gamma"),
                    format!(
                        "{} is not allowed: give the screen's gamma for the edge blend, 0.5 to \
                         4 (2.2 for most projectors)",
                        g.get_ref()
                    ),
                ))
            }
        };
        outputs.push((
            Output {
                name,
                monitor,
                offset_ms,
                crop,
                blend_gamma,
            },
            line_of(spanned.span().start),
        ));
    }
    Ok(outputs.into_iter().map(|(o, _)| o).collect())
}

/// A song's `video` table: a file per output name.
fn song_video_table(
    table: &toml::map::Map<String, toml::Value>,
    outputs: &[crate::outputs::Output],
    base: &Path,
) -> Result<Vec<(String, PathBuf)>, String> {
    if outputs.is_empty() {
        return Err(
            "a video per output needs the show's outputs: add [[output]] tables with \
             name = ..., or give one file for the screen"
                .into(),
        );
    }
    let names = || {
        outputs
            .iter()
            .map(|o| format!("\"{}\"", o.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if table.is_empty() {
        return Err(format!(
            "the table names no output: give a file for some of {}",
            names()
        ));
    }
    let mut per_output = Vec::new();
    for (name, value) in table {
        if !outputs.iter().any(|o| &o.name == name) {
            return Err(format!(
                "there is no output \"{name}\": the show's outputs are {}",
                names()
            ));
        }
        match value.as_str() {
            Some(path) if base.join(path).to_string_lossy().contains(':') => {
                return Err(format!(
                    "output \"{name}\": the path '{}' has a ':', which a file shown beside \
                     others on the outputs cannot have: rename the file or its folder",
                    base.join(path).display()
                ))
            }
            Some(path) if !path.trim().is_empty() && path.trim() != crate::test_card::TEST_CARD => {
                per_output.push((name.clone(), base.join(path)))
            }
            _ => {
                return Err(format!(
                    "give the path of the video file output \"{name}\" shows"
                ))
            }
        }
    }
    Ok(per_output)
}

/// The largest show file read, in bytes (1 MiB): a setlist of a thousand songs is under
/// 200 KiB.
pub const MAX_SHOW_FILE_BYTES: u64 = 1 << 20;

/// The file name a show file is recognised by, besides any `.toml` file given on the command
/// line.
pub const SHOW_FILE_NAME: &str = "show.playhead.toml";

/// Whether a command-line argument names a show file rather than a video.
pub fn is_show_file(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
}

/// Where playhead looks for a show when none is given: the user's config folder, then the
/// system's.
pub fn default_locations() -> Vec<PathBuf> {
    let mut places = Vec::new();
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(dir) = config_home {
        places.push(dir.join("playhead").join(SHOW_FILE_NAME));
    }
    places.push(PathBuf::from("/etc/playhead").join(SHOW_FILE_NAME));
    places
}

impl Show {
    /// A show of one video with every setting left to the command line.
    pub fn single(video: PathBuf) -> Show {
        let test_card = video == Path::new(crate::test_card::TEST_CARD);
        let title = if test_card {
            "Test card".to_string()
        } else {
            video
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "video".into())
        };
        Show {
            file: None,
            name: title.clone(),
            songs: vec![Song {
                title,
                video,
                number: 0,
                tempo_map: None,
                timecode_start: None,
                selected_by_timecode: false,
                idle: None,
                test_card,
                video_filter: None,
                per_output: Vec::new(),
            }],
            selection: Selection::SongSelect,
            follow: None,
            offset_ms: None,
            screen: None,
            midi_ports: Vec::new(),
            midi_devices: Vec::new(),
            session_name: None,
            on_stop: StopAction::Hold,
            preload: Preload::default(),
            mmc_device: None,
            link_quantum: None,
            remote: None,
            remote_token: None,
            remote_cert: None,
            osc: None,
            rigs: None,
            outputs: Vec::new(),
        }
    }

    /// Reads a show file: at most [`MAX_SHOW_FILE_BYTES`] of it (a larger file is refused,
    /// not read to its end: it is not a show file).
    pub fn load(file: &Path) -> Result<Show, ShowError> {
        use std::io::Read;
        let error = |message: String| ShowError {
            file: file.to_path_buf(),
            line: None,
            key: String::new(),
            message,
        };
        let mut bytes = Vec::new();
        std::fs::File::open(file)
            .and_then(|f| f.take(MAX_SHOW_FILE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| error(format!("cannot read it: {e}")))?;
        if bytes.len() as u64 > MAX_SHOW_FILE_BYTES {
            return Err(error(format!(
                "it is larger than {} KiB, and a show file is a short text: is it the right file?",
                MAX_SHOW_FILE_BYTES / 1024
            )));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| error("it is not text (UTF-8): is it the right file?".into()))?;
        Show::parse(&text, file)
    }

    /// Parses show-file text; `file` names it in errors and anchors relative video paths.
    pub fn parse(text: &str, file: &Path) -> Result<Show, ShowError> {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let err = |span: Option<std::ops::Range<usize>>, key: &str, message: String| ShowError {
            file: file.to_path_buf(),
            line: span.map(|s| line_of(s.start)),
            key: key.to_string(),
            message,
        };
        let raw: RawShow = toml::from_str(text).map_err(|e| {
            // toml's own message says what was expected; keep its first line, drop the
            // picture of the source it draws below.
            let message = e.message().trim().to_string();
            // The parser stops at 80 levels of arrays or tables in one another rather than
            // overflow its stack; say so in the show file's terms.
            let message = if message.contains("recursion limit") {
                "arrays or tables nested far too deep (a show file needs two levels at most)"
                    .to_string()
            } else {
                message
            };
            err(e.span(), "", message)
        })?;

        let follow = match &raw.follow {
            None => None,
            Some(v) => Some(match v.get_ref().as_str() {
                "chase" => FollowMode::Chase,
                "start" => FollowMode::Start,
                other => {
                    return Err(err(
                        Some(v.span()),
                        "follow",
                        format!("'{other}' is not a follow mode: use \"chase\" or \"start\""),
                    ))
                }
            }),
        };
        let remote = match &raw.remote {
            None => None,
            Some(v) => Some(
                parse_listen(v.get_ref(), false).map_err(|m| err(Some(v.span()), "remote", m))?,
            ),
        };
        let osc = match &raw.osc {
            None => None,
            Some(v) => {
                let text = match v.get_ref() {
                    toml::Value::Integer(n) => n.to_string(),
                    toml::Value::String(s) => s.clone(),
                    _ => String::new(),
                };
                Some(parse_listen(&text, true).map_err(|m| err(Some(v.span()), "osc", m))?)
            }
        };
        let on_stop = match &raw.on_stop {
            None => StopAction::Hold,
            Some(v) => match v.get_ref().as_str() {
                "hold" => StopAction::Hold,
                "black" => StopAction::Black,
                "rearm" => StopAction::Rearm,
                "idle" => StopAction::Idle,
                other => {
                    return Err(err(
                        Some(v.span()),
                        "on_stop",
                        format!(
                            "'{other}' is not allowed: use \"hold\", \"black\", \"rearm\" \
                             or \"idle\""
                        ),
                    ))
                }
            },
        };
        let selection = match raw
            .select_by
            .as_ref()
            .map(|v| (v.get_ref().as_str(), v.span()))
        {
            None | Some(("song-select", _)) => {
                if let Some(c) = &raw.program_channel {
                    return Err(err(
                        Some(c.span()),
                        "program_channel",
                        "a program channel is set, but songs are selected by Song Select: \
                         add select_by = \"program-change\", or remove program_channel"
                            .into(),
                    ));
                }
                Selection::SongSelect
            }
            Some(("program-change", span)) => {
                let channel = match &raw.program_channel {
                    Some(c) if (1..=16).contains(c.get_ref()) => (*c.get_ref() - 1) as u8,
                    Some(c) => {
                        return Err(err(
                            Some(c.span()),
                            "program_channel",
                            format!("{} is not a MIDI channel: use 1 to 16", c.get_ref()),
                        ))
                    }
                    None => {
                        return Err(err(
                            Some(span),
                            "select_by",
                            "\"program-change\" needs program_channel = 1 to 16".into(),
                        ))
                    }
                };
                Selection::ProgramChange { channel }
            }
            Some((other, span)) => {
                return Err(err(
                    Some(span),
                    "select_by",
                    format!("'{other}' is not allowed: use \"song-select\" or \"program-change\""),
                ))
            }
        };
        let preload = match &raw.preload {
            None => Preload::default(),
            Some(v) => match v.get_ref() {
                toml::Value::Integer(n) if (0..=127).contains(n) => {
                    Preload::Neighbours(*n as usize)
                }
                toml::Value::String(all) if all == "all" => Preload::All,
                other => {
                    return Err(err(
                        Some(v.span()),
                        "preload",
                        format!(
                            "{other} is not allowed: give how many songs on each side of the \
                             one on screen are held ready (0 to 127, e.g. preload = 1), or \
                             preload = \"all\""
                        ),
                    ))
                }
            },
        };
        if let Some(o) = &raw.offset_ms {
            if !o.get_ref().is_finite() || o.get_ref().abs() > 10_000.0 {
                return Err(err(
                    Some(o.span()),
                    "offset_ms",
                    "give milliseconds between -10000 and 10000".into(),
                ));
            }
        }
        let mmc_device = match &raw.mmc_device {
            None => None,
            Some(d) if (0..=126).contains(d.get_ref()) => Some(*d.get_ref() as u8),
            Some(d) => {
                return Err(err(
                    Some(d.span()),
                    "mmc_device",
                    format!(
                    "{} is not an MMC device ID: use 0 to 126 (127, the all-call, is always heard)",
                    d.get_ref()
                ),
                ))
            }
        };
        let rigs = parse_rigs(&raw).map_err(|(span, key, m)| err(span, key, m))?;
        let link_quantum = match &raw.link_quantum {
            None => None,
            Some(q) if (1..=64).contains(q.get_ref()) => Some(*q.get_ref() as u16),
            Some(q) => {
                return Err(err(
                    Some(q.span()),
                    "link_quantum",
                    format!(
                        "{} beats to the bar is not allowed: use 1 to 64",
                        q.get_ref()
                    ),
                ))
            }
        };
        if let Some(s) = &raw.screen {
            if *s.get_ref() == 0 {
                return Err(err(
                    Some(s.span()),
                    "screen",
                    "screens are counted from 1".into(),
                ));
            }
        }

        let tempo = |bpm: &Option<Spanned<f64>>,
                     map: &Option<Spanned<String>>,
                     key: &str|
         -> Result<Option<TempoMap>, ShowError> {
            if let Some(m) = map {
                return crate::chase::tempo::parse_tempo_map(m.get_ref())
                    .map(Some)
                    .map_err(|e| err(Some(m.span()), &format!("{key}tempo_map"), e));
            }
            if let Some(b) = bpm {
                return TempoMap::fixed(*b.get_ref(), TimeSignature::FOUR_FOUR)
                    .map(Some)
                    .map_err(|e| err(Some(b.span()), &format!("{key}bpm"), e.to_string()));
            }
            Ok(None)
        };
        let timecode =
            |tc: &Option<Spanned<String>>, key: &str| -> Result<Option<Timecode>, ShowError> {
                let Some(tc) = tc else { return Ok(None) };
                let text = tc.get_ref();
                let rate = if text.contains(';') {
                    FrameRate::Fps2997Drop
                } else {
                    FrameRate::Fps30
                };
                Timecode::parse(text, rate).map(Some).map_err(|e| {
                    err(
                        Some(tc.span()),
                        &format!("{key}timecode_start"),
                        format!("{e} (write it as HH:MM:SS:FF, e.g. \"01:00:00:00\")"),
                    )
                })
            };
        let show_tempo = tempo(&raw.bpm, &raw.tempo_map, "")?;
        let show_timecode = timecode(&raw.timecode_start, "")?;

        if raw.song.is_empty() {
            return Err(err(
                None,
                "song",
                "the show has no song: add one with\n[[song]]\nvideo = \"my-video.mp4\"".into(),
            ));
        }
        let base = file.parent().unwrap_or(Path::new("."));
        // Idle content: a path relative to this file, like the songs' videos.
        let idle_path = |v: &Option<Spanned<String>>, key: &str| match v {
            None => Ok(None),
            Some(v) if v.get_ref().trim().is_empty() => Err(err(
                Some(v.span()),
                key,
                "give the path of a video or a still image (PNG, JPEG) to loop between songs"
                    .into(),
            )),
            Some(v) => Ok(Some(base.join(v.get_ref()))),
        };
        let show_idle = idle_path(&raw.idle, "idle")?;
        let remote_cert = match (&raw.remote_cert, &raw.remote_key) {
            (None, None) => None,
            (Some(c), Some(k))
                if !c.get_ref().trim().is_empty() && !k.get_ref().trim().is_empty() =>
            {
                Some((base.join(c.get_ref()), base.join(k.get_ref())))
            }
            (Some(c), None) => {
                return Err(err(
                    Some(c.span()),
                    "remote_cert",
                    "give remote_key too: the private key (PEM) that goes with the certificate"
                        .into(),
                ))
            }
            (None, Some(k)) => {
                return Err(err(
                    Some(k.span()),
                    "remote_key",
                    "give remote_cert too: the certificate (PEM) that goes with the key".into(),
                ))
            }
            (Some(c), Some(_)) => {
                return Err(err(
                    Some(c.span()),
                    "remote_cert",
                    "give the paths of the certificate and its key (PEM files)".into(),
                ))
            }
        };
        if on_stop == StopAction::Idle
            && show_idle.is_none()
            && raw.song.iter().all(|s| s.get_ref().idle.is_none())
        {
            return Err(err(
                raw.on_stop.as_ref().map(|v| v.span()),
                "on_stop",
                "\"idle\" needs idle content: add idle = \"walkin-loop.mp4\" (a video or a \
                 still image) to the show or to its songs"
                    .into(),
            ));
        }
        let outputs =
            parse_outputs(&raw.output, &line_of).map_err(|(span, key, m)| err(span, &key, m))?;
        if let (Some(screen), false) = (&raw.screen, outputs.is_empty()) {
            return Err(err(
                Some(screen.span()),
                "screen",
                "the show has [[output]] tables: give each its monitor = ... instead of screen"
                    .into(),
            ));
        }
        let mut songs: Vec<Song> = Vec::new();
        let mut number_lines: Vec<(u8, usize)> = Vec::new();
        for (i, spanned) in raw.song.iter().enumerate() {
            let key = format!("song[{}].", i + 1);
            let s = spanned.get_ref();
            let number = match &s.number {
                Some(n) if (0..=127).contains(n.get_ref()) => *n.get_ref() as u8,
                Some(n) => {
                    return Err(err(
                        Some(n.span()),
                        &format!("{key}number"),
                        format!(
                            "{} is not a MIDI song or program number: use 0 to 127",
                            n.get_ref()
                        ),
                    ))
                }
                None if i <= 127 => i as u8,
                None => {
                    return Err(err(
                        Some(spanned.span()),
                        &format!("{key}number"),
                        "MIDI selects at most 128 songs".into(),
                    ))
                }
            };
            let line = line_of(s.number.as_ref().map_or(spanned.span(), |n| n.span()).start);
            if let Some((_, first)) = number_lines.iter().find(|(n, _)| *n == number) {
                let how = if s.number.is_some() {
                    String::new()
                } else {
                    format!(
                        " (this song has no number, so it takes its place in the list, {number})"
                    )
                };
                return Err(err(
                    Some(spanned.span()),
                    &format!("{key}number"),
                    format!(
                        "song number {number}{how} is already used by the song at line {first}: give each song its own number = 0..127"
                    ),
                ));
            }
            number_lines.push((number, line));
            let (video_text, per_output) = match s.video.get_ref() {
                toml::Value::String(text) => (text.clone(), Vec::new()),
                toml::Value::Table(table) => {
                    let per_output = song_video_table(table, &outputs, base)
                        .map_err(|m| err(Some(s.video.span()), &format!("{key}video"), m))?;
                    // The file of the first output (in the show's order) that has one.
                    let first = outputs
                        .iter()
                        .find_map(|o| table.get(&o.name).and_then(|v| v.as_str()))
                        .unwrap_or_default()
                        .to_string();
                    (first, per_output)
                }
                _ => {
                    return Err(err(
                        Some(s.video.span()),
                        &format!("{key}video"),
                        "give the path of the video file, or a file per output: video = \
                         { left = \"wide.mp4\", led = \"led.mp4\" }"
                            .into(),
                    ))
                }
            };
            let video_text = video_text.as_str();
            if video_text.trim().is_empty() {
                return Err(err(
                    Some(s.video.span()),
                    &format!("{key}video"),
                    "give the path of the video file".into(),
                ));
            }
            let test_card =
                per_output.is_empty() && video_text.trim() == crate::test_card::TEST_CARD;
            let video = if test_card {
                PathBuf::from(crate::test_card::TEST_CARD)
            } else {
                base.join(video_text)
            };
            let title = s.title.clone().unwrap_or_else(|| {
                if test_card {
                    return "Test card".to_string();
                }
                Path::new(video_text)
                    .file_stem()
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_else(|| format!("song {}", i + 1))
            });
            songs.push(Song {
                title,
                video,
                number,
                tempo_map: tempo(&s.bpm, &s.tempo_map, &key)?.or_else(|| show_tempo.clone()),
                timecode_start: timecode(&s.timecode_start, &key)?.or(show_timecode),
                selected_by_timecode: s.timecode_start.is_some(),
                idle: idle_path(&s.idle, &format!("{key}idle"))?.or_else(|| show_idle.clone()),
                test_card,
                video_filter: None,
                per_output,
            });
        }
        Ok(Show {
            file: Some(file.to_path_buf()),
            name: raw.name.unwrap_or_else(|| {
                file.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            }),
            songs,
            selection,
            follow,
            offset_ms: raw.offset_ms.map(|o| *o.get_ref()),
            screen: raw.screen.map(|s| *s.get_ref()),
            midi_ports: raw.midi_ports,
            midi_devices: raw
                .midi_devices
                .into_iter()
                .map(|d| if d.is_absolute() { d } else { base.join(d) })
                .collect(),
            session_name: raw.session_name,
            on_stop,
            preload,
            mmc_device,
            link_quantum,
            remote,
            remote_token: raw.remote_token.filter(|t| !t.is_empty()),
            remote_cert,
            osc,
            rigs,
            outputs,
        })
    }

    /// The test card's place in the setlist: the show's own test-card song, else one added
    /// at the end (numbered with the first free song number, so a Song Select can reach it
    /// too) so that the operator can always call it up. `None` only when all 128 numbers
    /// are taken and the show has none.
    pub fn test_card_song(&mut self) -> Option<usize> {
        if let Some(i) = self.songs.iter().position(|s| s.test_card) {
            return Some(i);
        }
        let number = (0..=127u8).find(|n| self.songs.iter().all(|s| s.number != *n))?;
        let template = self.songs.first()?;
        let song = Song {
            title: "Test card".into(),
            video: PathBuf::from(crate::test_card::TEST_CARD),
            number,
            tempo_map: None,
            timecode_start: None,
            selected_by_timecode: false,
            idle: template.idle.clone(),
            test_card: true,
            video_filter: None,
            per_output: Vec::new(),
        };
        self.songs.push(song);
        Some(self.songs.len() - 1)
    }

    /// The song whose timecode range `timecode` is in, so that one LTC track drives a whole
    /// setlist. A song with its own `timecode` (or `timecode_start`) owns the hour its start
    /// is in, from the top of that hour (the pre-roll before its start included); when
    /// several songs start in one hour, each owns the time from its start to the next one's
    /// (the first from the top of the hour).
    pub fn song_for_timecode(&self, timecode: Timecode) -> Option<usize> {
        let t = timecode.real_time_s();
        let starts: Vec<(usize, f64)> = self
            .songs
            .iter()
            .enumerate()
            .filter(|(_, s)| s.selected_by_timecode)
            .filter_map(|(i, s)| Some((i, s.timecode_start?.real_time_s())))
            .collect();
        let hour_of = |s: f64| (s / 3600.0).floor();
        let mut best: Option<(usize, f64)> = None;
        for &(i, start) in &starts {
            if hour_of(start) != hour_of(t) {
                continue;
            }
            let first_in_hour = starts
                .iter()
                .all(|&(_, other)| hour_of(other) != hour_of(start) || other >= start);
            let begin = if first_in_hour {
                hour_of(start) * 3600.0
            } else {
                start
            };
            if t >= begin && best.is_none_or(|(_, b)| begin > b) {
                best = Some((i, begin));
            }
        }
        best.map(|(i, _)| i)
    }

    /// The index of the song a Song Select or Program Change picks, if any.
    pub fn song_for(&self, event: &crate::parse::MidiEvent) -> Option<usize> {
        use crate::parse::MidiEvent;
        let number = match (self.selection, event) {
            (Selection::SongSelect, MidiEvent::SongSelect { song }) => *song,
            (
                Selection::ProgramChange { channel },
                MidiEvent::ProgramChange {
                    channel: c,
                    program,
                },
            ) if channel == *c => *program,
            _ => return None,
        };
        self.songs.iter().position(|s| s.number == number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Show, ShowError> {
        Show::parse(text, Path::new("/shows/tour.playhead.toml"))
    }

    /// Runs `f` on a thread with a spawned thread's default stack (2 MiB; the program reads
    /// the show file on its main thread, which has 8).
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn outputs_with_their_monitors_offsets_crops_and_videos() {
        use crate::outputs::{Monitor, Rect, SongVideo};
        let show = parse(
            r#"
            offset_ms = 30
            [[output]]
            name = "left"
            monitor = 1
            crop = [0, 0, 1984, 1080]
            [[output]]
            name = "right"
            monitor = "HDMI-2"
            crop = [1856, 0, 1984, 1080]
            blend_gamma = 1.8
            [[output]]
            name = "led"
            offset_ms = 90
            [[song]]
            video = { left = "wide.mp4", right = "wide.mp4", led = "led.mp4" }
            [[song]]
            video = "all.mp4"
            "#,
        )
        .unwrap();
        let o = &show.outputs;
        assert_eq!(o.len(), 3);
        assert_eq!(o[0].monitor, Some(Monitor::Index(1)));
        assert_eq!(o[1].monitor, Some(Monitor::Name("HDMI-2".into())));
        assert_eq!(o[2].monitor, None);
        assert_eq!(
            o[1].crop,
            Some(Rect {
                x: 1856,
                y: 0,
                width: 1984,
                height: 1080
            })
        );
        assert_eq!((o[0].blend_gamma, o[1].blend_gamma), (2.2, 1.8));
        assert_eq!((o[0].offset_ms, o[2].offset_ms), (None, Some(90.0)));
        match show.songs[0].outputs_video() {
            SongVideo::PerOutput(t) => {
                assert_eq!(t.len(), 3);
                assert!(t.contains(&("led".into(), PathBuf::from("/shows/led.mp4"))));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            show.songs[1].outputs_video(),
            SongVideo::All(PathBuf::from("/shows/all.mp4"))
        );
        // Without outputs: one screen, as before.
        assert!(parse("[[song]]\nvideo = \"a.mp4\"")
            .unwrap()
            .outputs
            .is_empty());
    }

    #[test]
    fn output_mistakes_name_the_key() {
        let song = "[[song]]\nvideo = \"a.mp4\"\n";
        let cases = [
            ("[[output]]\nmonitor = 1\n", "output[1].name", "name"),
            (
                "[[output]]\nname = \"a\"\n[[output]]\nname = \"a\"\n",
                "output[2].name",
                "already called",
            ),
            (
                "[[output]]\nname = \"a\"\nmonitor = 0\n",
                "output[1].monitor",
                "from 1",
            ),
            (
                "[[output]]\nname = \"a\"\ncrop = [0, 0, 10]\n",
                "output[1].crop",
                "[x, y, width",
            ),
            (
                "[[output]]\nname = \"a\"\ncrop = [-1, 0, 10, 10]\n",
                "output[1].crop",
                "[x, y, width",
            ),
            (
                "[[output]]\nname = \"a\"\nblend_gamma = 9\n",
                "output[1].blend_gamma",
                "0.5 to",
            ),
            (
                "[[output]]\nname = \"a\"\noffset_ms = 15000\n",
                "output[1].offset_ms",
                "latency",
            ),
            ("[[output]]\nname = \"a\"\nsize = 3\n", "", "size"),
            (
                "screen = 2\n[[output]]\nname = \"a\"\n",
                "screen",
                "monitor",
            ),
        ];
        for (text, key, words) in cases {
            let e = error(&format!("{text}{song}"));
            assert_eq!(e.key, key, "{text}: {e}");
            assert!(e.to_string().contains(words), "{text}: {e}");
        }
        let e = error("[[output]]\nname = \"a\"\n[[song]]\nvideo = { b = \"x.mp4\" }\n");
        assert_eq!(e.key, "song[1].video");
        assert!(
            e.message.contains("no output \"b\"") && e.message.contains("\"a\""),
            "{e}"
        );
        let e = error("[[song]]\nvideo = { a = \"x.mp4\" }\n");
        assert!(e.message.contains("[[output]]"), "{e}");
        let e = error("[[output]]\nname = \"a\"\n[[song]]\nvideo = { a = 3 }\n");
        assert!(e.message.contains("output \"a\""), "{e}");
        assert_eq!(e.line, Some(4));
        let e = error("[[output]]\nname = \"a\"\n[[song]]\nvideo = { a = \"x:y.mp4\" }\n");
        assert!(e.message.contains("':'"), "{e}");
        let e = error("[[song]]\nvideo = 3\n");
        assert_eq!(e.key, "song[1].video");
    }

    #[test]
    fn the_remote_certificate_is_both_files_or_neither() {
        let show = parse(
            "remote_cert = \"tls/cert.pem\"\nremote_key = \"tls/key.pem\"\n[[song]]\nvideo = \"a.mp4\"\n",
        )
        .unwrap();
        assert_eq!(
            show.remote_cert,
            Some((
                PathBuf::from("/shows/tls/cert.pem"),
                PathBuf::from("/shows/tls/key.pem")
            ))
        );
        let e = parse("remote_cert = \"c.pem\"\n[[song]]\nvideo = \"a.mp4\"\n").unwrap_err();
        assert!(e.to_string().contains("remote_key too"), "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = parse("remote_key = \"k.pem\"\n[[song]]\nvideo = \"a.mp4\"\n").unwrap_err();
        assert!(e.to_string().contains("remote_cert too"), "{e}");
        let e = parse("remote_cert = \"\"\nremote_key = \"k.pem\"\n[[song]]\nvideo = \"a.mp4\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("remote_cert"), "{e}");
    }

    #[test]
    fn the_test_card_is_a_song_and_can_always_be_called_up() {
        let mut show = parse(
            "[[song]]\nvideo = \"a.mp4\"\nnumber = 0\n[[song]]\nvideo = \"test-card\"\nbpm = 128\n",
        )
        .unwrap();
        assert!(!show.songs[0].test_card);
        let card = &show.songs[1];
        assert!(card.test_card);
        assert_eq!(card.title, "Test card");
        assert_eq!(card.video, PathBuf::from("test-card"));
        assert!(card.tempo_map.is_some());
        // The show's own card: nothing added.
        assert_eq!(show.test_card_song(), Some(1));
        assert_eq!(show.songs.len(), 2);
        // Without one, a card is added with the first free number.
        show.songs.truncate(1);
        assert_eq!(show.test_card_song(), Some(1));
        assert!(show.songs[1].test_card);
        assert_eq!(show.songs[1].number, 1);
        assert!(Show::single("test-card".into()).songs[0].test_card);
        assert!(!Show::single("test-card.mp4".into()).songs[0].test_card);
    }

    #[test]
    fn deeply_nested_values_are_refused_without_overflowing_the_stack() {
        let deep = [
            format!("osc = {}", "[".repeat(200_000)),
            format!("preload = {}1{}", "[".repeat(5000), "]".repeat(5000)),
            format!("osc = {}", "{a = ".repeat(100_000)),
            format!("[{}]\n", vec!["a"; 100_000].join(".")),
            format!("{} = 1\n", vec!["a"; 100_000].join(".")),
        ];
        for text in deep {
            let head: String = text.chars().take(12).collect();
            let got = on_small_stack(move || parse(&text).map(|_| ()));
            let e = got.expect_err(&head);
            assert!(e.to_string().contains("tour.playhead.toml"), "{e}");
        }
        let e = on_small_stack(|| parse(&format!("osc = {}", "[".repeat(200)))).unwrap_err();
        assert!(e.message.contains("nested far too deep"), "{e}");
    }

    #[test]
    fn files_past_the_size_bound_are_refused_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("playhead-show-size-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big.playhead.toml");
        let mut text = "[[song]]\nvideo = \"a.mp4\"\n".to_string();
        while text.len() as u64 <= MAX_SHOW_FILE_BYTES {
            text.push_str("# padding padding padding padding padding padding padding\n");
        }
        std::fs::write(&big, &text).unwrap();
        let e = Show::load(&big).unwrap_err();
        assert!(e.to_string().contains("big.playhead.toml"), "{e}");
        assert!(e.message.contains("larger than 1024 KiB"), "{e}");
        let binary = dir.join("video.toml");
        std::fs::write(&binary, [0u8, 0xFF, 0xFE, 0x00]).unwrap();
        let e = Show::load(&binary).unwrap_err();
        assert!(e.message.contains("not text"), "{e}");
        // Just under the bound is read.
        text.truncate(usize::try_from(MAX_SHOW_FILE_BYTES).unwrap() - 100);
        let cut = text.rfind('\n').unwrap();
        std::fs::write(&big, &text[..=cut]).unwrap();
        assert!(Show::load(&big).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn defaults_and_relative_paths() {
        let show =
            parse("[[song]]\nvideo = \"a.mp4\"\n[[song]]\nvideo = \"/abs/b.mp4\"\ntitle = \"B\"\n")
                .unwrap();
        assert_eq!(show.name, "tour.playhead");
        assert_eq!(show.songs.len(), 2);
        assert_eq!(show.songs[0].video, PathBuf::from("/shows/a.mp4"));
        assert_eq!(show.songs[0].title, "a");
        assert_eq!(show.songs[0].number, 0);
        assert_eq!(show.songs[1].video, PathBuf::from("/abs/b.mp4"));
        assert_eq!(show.songs[1].number, 1);
        assert_eq!(show.on_stop, StopAction::Hold);
        assert_eq!(show.selection, Selection::SongSelect);
        assert_eq!(show.follow, None);
        assert_eq!(show.preload, Preload::Neighbours(1));
    }

    #[test]
    fn preload_window() {
        let show = |v: &str| parse(&format!("preload = {v}\n[[song]]\nvideo = \"a.mp4\"\n"));
        assert_eq!(show("0").unwrap().preload, Preload::Neighbours(0));
        assert_eq!(show("3").unwrap().preload, Preload::Neighbours(3));
        assert_eq!(show("\"all\"").unwrap().preload, Preload::All);
        for bad in ["-1", "200", "\"every\"", "1.5", "true"] {
            let e = show(bad).expect_err(bad);
            assert_eq!((e.line, e.key.as_str()), (Some(1), "preload"), "{e}");
            assert!(e.message.contains("preload = \"all\""), "{e}");
        }
        let one = Preload::Neighbours(1);
        assert!(one.holds(4, 5) && one.holds(5, 5) && one.holds(6, 5));
        assert!(!one.holds(3, 5) && !one.holds(7, 5));
        assert!(!Preload::Neighbours(0).holds(1, 0));
        assert!(Preload::All.holds(11, 0));
    }

    #[test]
    fn every_setting() {
        let show = parse(
            r#"
name = "Tour"
follow = "start"
offset_ms = -40
screen = 2
midi_ports = ["rtpmidid"]
midi_devices = ["/dev/snd/midiC1D0"]
session_name = "Video"
on_stop = "rearm"
select_by = "program-change"
program_channel = 16
bpm = 100
timecode_start = "01:00:00:00"

[[song]]
title = "One"
video = "one.mp4"
number = 5
tempo_map = "1=120, 33=90 3/4"
"#,
        )
        .unwrap();
        assert_eq!(show.follow, Some(FollowMode::Start));
        assert_eq!(show.offset_ms, Some(-40.0));
        assert_eq!(show.screen, Some(2));
        assert_eq!(show.on_stop, StopAction::Rearm);
        assert_eq!(show.selection, Selection::ProgramChange { channel: 15 });
        assert_eq!(show.songs[0].number, 5);
        assert!(show.songs[0].tempo_map.is_some());
        assert_eq!(
            show.songs[0].timecode_start.map(|t| t.hours()),
            Some(1),
            "the show's timecode start applies to its songs"
        );
    }

    fn error(text: &str) -> ShowError {
        parse(text).expect_err("must be refused")
    }

    #[test]
    fn timecode_picks_the_song_of_its_hour_or_range() {
        let show = parse(
            "[[song]]\nvideo = \"a.mp4\"\ntimecode = \"01:00:00:00\"\n\
             [[song]]\nvideo = \"b.mp4\"\ntimecode = \"02:00:10:00\"\n\
             [[song]]\nvideo = \"c.mp4\"\ntimecode_start = \"02:30:00:00\"\n\
             [[song]]\nvideo = \"d.mp4\"\n",
        )
        .unwrap();
        let at =
            |text: &str| show.song_for_timecode(Timecode::parse(text, FrameRate::Fps25).unwrap());
        assert_eq!(at("00:59:59:24"), None);
        assert_eq!(at("01:00:00:00"), Some(0));
        assert_eq!(at("01:59:59:00"), Some(0));
        // The pre-roll before song 2's start is in its hour.
        assert_eq!(at("02:00:05:00"), Some(1));
        assert_eq!(at("02:29:59:00"), Some(1));
        assert_eq!(at("02:30:00:00"), Some(2));
        assert_eq!(at("03:00:00:00"), None);
    }

    #[test]
    fn rigs_are_read_and_checked() {
        use crate::arbiter::RigSource;
        let song = "[[song]]\nvideo = \"a.mp4\"\n";
        assert_eq!(parse(song).unwrap().rigs, None);
        let show = parse(&format!("main = \"Main Live\"\nbackup = \"ltc\"\n{song}")).unwrap();
        let rigs = show.rigs.unwrap();
        assert_eq!(rigs.main, RigSource::Named("Main Live".into()));
        assert_eq!(rigs.backup, RigSource::Ltc);
        assert!((rigs.failover_s - 0.150).abs() < 1e-9);
        let show = parse(&format!(
            "main = \"a\"\nbackup = \"b\"\nfailover_ms = 300\n{song}"
        ))
        .unwrap();
        assert!((show.rigs.unwrap().failover_s - 0.3).abs() < 1e-9);
        for (text, key) in [
            ("main = \"a\"\n", "backup"),
            ("backup = \"a\"\n", "main"),
            ("main = \"a\"\nbackup = \"a\"\n", "backup"),
            ("main = \" \"\nbackup = \"a\"\n", "main"),
            (
                "main = \"a\"\nbackup = \"b\"\nfailover_ms = 5\n",
                "failover_ms",
            ),
            ("failover_ms = 200\n", "failover_ms"),
        ] {
            let e = parse(&format!("{text}{song}")).unwrap_err();
            assert_eq!(e.key, key, "{text}: {e}");
            assert!(e.line.is_some(), "{text}: the line is named");
        }
    }

    #[test]
    fn link_quantum_is_read_and_checked() {
        let show = parse("link_quantum = 3\n[[song]]\nvideo = \"a.mp4\"\n").unwrap();
        assert_eq!(show.link_quantum, Some(3));
        let e = error("\nlink_quantum = 0\n[[song]]\nvideo = \"a.mp4\"\n");
        assert_eq!((e.key.as_str(), e.line), ("link_quantum", Some(2)), "{e}");
    }

    #[test]
    fn mmc_device_is_read_and_checked() {
        let show = parse("mmc_device = 5\n[[song]]\nvideo = \"a.mp4\"\n").unwrap();
        assert_eq!(show.mmc_device, Some(5));
        let e = error("mmc_device = 127\n[[song]]\nvideo = \"a.mp4\"\n");
        assert_eq!((e.key.as_str(), e.line), ("mmc_device", Some(1)), "{e}");
    }

    #[test]
    fn mistakes_name_line_key_and_what_is_allowed() {
        let e = error("[[song]]\nvideo = \"a.mp4\"\nvidoe = \"b.mp4\"\n");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("unknown field `vidoe`"), "{e}");
        assert!(e.message.contains("`video`"), "{e}");

        let e = error("follow = \"chace\"\n[[song]]\nvideo = \"a.mp4\"\n");
        assert_eq!((e.line, e.key.as_str()), (Some(1), "follow"), "{e}");
        assert!(e.message.contains("\"chase\" or \"start\""), "{e}");

        let e = error("on_stop = \"pause\"\n[[song]]\nvideo = \"a.mp4\"\n");
        assert!(
            e.message
                .contains("\"hold\", \"black\", \"rearm\" or \"idle\""),
            "{e}"
        );
        let e = error("on_stop = \"idle\"\n[[song]]\nvideo = \"a.mp4\"\n");
        assert_eq!((e.line, e.key.as_str()), (Some(1), "on_stop"), "{e}");
        assert!(e.message.contains("needs idle content"), "{e}");
        let e = error("[[song]]\nvideo = \"a.mp4\"\nidle = \" \"\n");
        assert_eq!((e.line, e.key.as_str()), (Some(3), "song[1].idle"), "{e}");
        let e = error("remote = \"8080\"\n[[song]]\nvideo = \"a.mp4\"\n");
        assert_eq!((e.line, e.key.as_str()), (Some(1), "remote"), "{e}");

        let e = error(
            "select_by = \"program-change\"\nprogram_channel = 17\n[[song]]\nvideo = \"a.mp4\"\n",
        );
        assert_eq!(
            (e.line, e.key.as_str()),
            (Some(2), "program_channel"),
            "{e}"
        );

        let e = error("select_by = \"program-change\"\n[[song]]\nvideo = \"a.mp4\"\n");
        assert!(e.message.contains("program_channel"), "{e}");

        let e = error("[[song]]\nvideo = \"a.mp4\"\ntempo_map = \"1=120, 33=ninety\"\n");
        assert_eq!(
            (e.line, e.key.as_str()),
            (Some(3), "song[1].tempo_map"),
            "{e}"
        );
        assert!(e.message.contains("ninety"), "{e}");

        let e = error("[[song]]\nvideo = \"a.mp4\"\nnumber = 200\n");
        assert_eq!(e.key, "song[1].number", "{e}");
        assert!(e.message.contains("0 to 127"), "{e}");

        let e = error(
            "[[song]]\nvideo = \"a.mp4\"\nnumber = 3\n[[song]]\nvideo = \"b.mp4\"\nnumber = 3\n",
        );
        assert!(e.message.contains("already used"), "{e}");
        assert_eq!(e.key, "song[2].number");

        let e = error("offset_ms = \"sixty\"\n[[song]]\nvideo = \"a.mp4\"\n");
        assert_eq!(e.line, Some(1), "{e}");

        let e = error("program_channel = 3\n[[song]]\nvideo = \"a.mp4\"\n");
        assert_eq!(
            (e.line, e.key.as_str()),
            (Some(1), "program_channel"),
            "{e}"
        );
        assert!(e.message.contains("select_by = \"program-change\""), "{e}");

        let e = error("[[song]]\nvideo = \"a.mp4\"\nnumber = 1\n[[song]]\nvideo = \"b.mp4\"\n");
        assert!(e.message.contains("takes its place in the list"), "{e}");

        let e = error("name = \"x\"\n");
        assert!(e.message.contains("no song"), "{e}");

        let e = error("[[song]]\nvideo = \"a.mp4\"\ntimecode_start = \"1:00\"\n");
        assert_eq!(e.key, "song[1].timecode_start", "{e}");
        assert!(e.message.contains("HH:MM:SS:FF"), "{e}");

        let e = error("[[song]\nvideo = \"a.mp4\"\n");
        assert_eq!(e.line, Some(1), "{e}");

        let shown = error("screen = 0\n[[song]]\nvideo = \"a.mp4\"\n").to_string();
        assert_eq!(
            shown,
            "show file '/shows/tour.playhead.toml', line 1, screen: screens are counted from 1"
        );
    }

    #[test]
    fn the_commented_example_is_valid() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/example.playhead.toml");
        let show = Show::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(show.songs.len(), 3);
        assert_eq!(show.offset_ms, Some(60.0));
        assert_eq!(show.songs[1].title, "Ballad");
        assert!(show.songs[1].tempo_map.is_some());
    }

    #[test]
    fn selection_by_song_select_and_program_change() {
        use crate::parse::MidiEvent;
        let show = parse("[[song]]\nvideo = \"a.mp4\"\n[[song]]\nvideo = \"b.mp4\"\nnumber = 7\n")
            .unwrap();
        assert_eq!(show.song_for(&MidiEvent::SongSelect { song: 7 }), Some(1));
        assert_eq!(show.song_for(&MidiEvent::SongSelect { song: 0 }), Some(0));
        assert_eq!(show.song_for(&MidiEvent::SongSelect { song: 3 }), None);
        assert_eq!(
            show.song_for(&MidiEvent::ProgramChange {
                channel: 0,
                program: 7
            }),
            None
        );
        let show = parse(
            "select_by = \"program-change\"\nprogram_channel = 2\n[[song]]\nvideo = \"a.mp4\"\n",
        )
        .unwrap();
        assert_eq!(
            show.song_for(&MidiEvent::ProgramChange {
                channel: 1,
                program: 0
            }),
            Some(0)
        );
        assert_eq!(
            show.song_for(&MidiEvent::ProgramChange {
                channel: 0,
                program: 0
            }),
            None
        );
    }
}
