//! The command line.

use crate::chase::drift::DriftConfig;
use crate::chase::position::TimeSignature;
use crate::chase::tempo::{parse_tempo_map, TempoMap};
use crate::chase::timecode::{FrameRate, Timecode};
use crate::error::Error;
use crate::transport::{ChaseSettings, FollowMode};
use clap::Parser;
use std::path::PathBuf;

/// playhead: starts the show's video on the exact frame when the DAW presses play.
///
/// It loads the video paused on its first frame, fullscreen, and follows MIDI transport
/// (Song Position Pointer, Start, Stop) from every MIDI input it can find.
#[derive(Parser, Debug)]
#[command(name = "playhead", version)]
pub struct Cli {
    /// The show file (.toml) or a video file. Without it, playhead looks for
    /// ~/.config/playhead/show.playhead.toml, then /etc/playhead/show.playhead.toml, and
    /// otherwise plays the bundled demo show.
    #[arg(value_name = "SHOW|VIDEO")]
    pub video: Option<PathBuf>,

    /// Show the built-in test card instead of a video: a flash on every beat (white on the
    /// downbeat), the bar, beat and frame, a sweep once per beat. It follows the DAW like a
    /// song, at --bpm (default 120).
    #[arg(long, conflicts_with = "video")]
    pub test_card: bool,

    /// Connect only the OS MIDI input ports whose name contains TEXT (default: every port
    /// but playhead's own).
    #[arg(long, value_name = "TEXT")]
    pub midi_port: Option<String>,

    /// Also read raw MIDI bytes from a device file such as /dev/snd/midiC1D0, or a named pipe.
    /// Repeatable.
    #[arg(long, value_name = "PATH")]
    pub midi_device: Vec<PathBuf>,

    /// Check the show before doors open: every video opens, decodes and locates, screens and
    /// MIDI inputs are there, the show file is valid. Prints a report; exits non-zero when
    /// anything would fail in the show.
    #[arg(long)]
    pub check: bool,

    /// Print the OS MIDI input ports playhead can see, and exit.
    #[arg(long)]
    pub list_midi_ports: bool,

    /// Show the video in a window instead of fullscreen (for rehearsal).
    #[arg(long)]
    pub windowed: bool,

    /// The screen to go fullscreen on, counted from 1 (default: the primary screen).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub screen: Option<u16>,

    /// Play the video's own sound (off by default: the DAW plays the sound).
    #[arg(long)]
    pub audio: bool,

    /// Kiosk mode: keys cannot quit or leave fullscreen.
    #[arg(long)]
    pub kiosk: bool,

    /// mpv hardware decoding mode: "no", "auto-safe", "vaapi", ...
    #[arg(long, value_name = "MODE", default_value = "no")]
    pub hwdec: String,

    /// How the video follows the DAW: "chase" follows it anywhere in the song (SPP, clock,
    /// MIDI Time Code, with drift correction); "start" plays only when the DAW starts from the
    /// top.
    #[arg(long, default_value_t = FollowMode::Chase, value_parser = parse_follow_mode)]
    pub follow: FollowMode,

    /// The song's fixed tempo in BPM, to turn song positions into video time (default: the
    /// tempo measured from the DAW's MIDI clock).
    #[arg(long, value_name = "BPM", conflicts_with = "tempo_map")]
    pub bpm: Option<f64>,

    /// The song's tempo map: "BAR=BPM[ N/D], ...", e.g. "1=120, 33=90 3/4, 49=120 4/4".
    #[arg(long, value_name = "MAP")]
    pub tempo_map: Option<String>,

    /// Latency offset in milliseconds: positive shows the video earlier (to make up for a
    /// projector's or LED processor's delay), negative later.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub offset_ms: f64,

    /// The MIDI Time Code at which the video's first frame plays, e.g. 01:00:00:00.
    #[arg(long, value_name = "HH:MM:SS:FF", default_value = "00:00:00:00")]
    pub timecode_start: String,

    /// Drift left alone, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10.0)]
    pub drift_dead_band_ms: f64,

    /// Drift beyond which playhead seeks instead of adjusting the speed, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 250.0)]
    pub drift_seek_ms: f64,

    /// Largest playback-speed change used to pull drift in, in percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 2.0)]
    pub drift_max_speed_percent: f64,

    /// Time without clock or timecode after which the video plays on freely, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 500.0)]
    pub clock_lost_ms: f64,

    /// Read SMPTE linear timecode (LTC) from an audio input: an ALSA capture device
    /// ("default", "hw:1,0", a PipeWire or Pulse device through ALSA) or, in the JACK build,
    /// "jack" for a JACK audio input port playhead:ltc. LTC leads MTC and MIDI clock.
    #[arg(long, value_name = "SOURCE")]
    pub ltc: Option<String>,

    /// With --ltc jack: connect the JACK audio outputs whose name contains TEXT to
    /// playhead:ltc (and again whenever they reappear).
    #[arg(long, value_name = "TEXT")]
    pub ltc_connect: Option<String>,

    /// How long LTC may drop out while playing before the video holds, in milliseconds: the
    /// video free-wheels on through shorter dropouts.
    #[arg(long, value_name = "MS", default_value_t = 250.0)]
    pub ltc_freewheel_ms: f64,

    /// Join the Ableton Link session with start/stop sync: when the session plays, the
    /// video starts from the top on the next bar, at the session's tempo; Stop stops it.
    /// Link has no song position: mid-song starts need MIDI or timecode (the `link` build).
    #[arg(long)]
    pub link: bool,

    /// Beats to the bar for --link's quantized start (default 4, or the show file's
    /// link_quantum).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub link_quantum: Option<u16>,

    /// Draw in memory with no window (benchmarks and tests).
    #[arg(long, hide = true)]
    pub headless: bool,

    /// Serve the status page and JSON API on ADDR:PORT (e.g. 0.0.0.0:8080), for a phone or
    /// tablet at front of house. Read-only unless --remote-token is given. --allow applies.
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_remote)]
    pub remote: Option<std::net::SocketAddr>,

    /// Lets the status page and API control the show (arm, play, stop, song, black): each
    /// request must carry "Authorization: Bearer TOKEN".
    #[arg(long, value_name = "TOKEN")]
    pub remote_token: Option<String>,

    /// The remote's HTTPS certificate (PEM), with --remote-key, instead of the one playhead
    /// makes on first start and keeps in its state folder.
    #[arg(long, value_name = "PEM", requires = "remote_key")]
    pub remote_cert: Option<PathBuf>,

    /// The private key (PEM) of --remote-cert.
    #[arg(long, value_name = "PEM", requires = "remote_cert")]
    pub remote_key: Option<PathBuf>,

    /// Take OSC commands (/playhead/play, /playhead/song i, ...) on UDP [ADDR:]PORT and send
    /// state changes to the clients that sent /playhead/subscribe (renewed at least every
    /// 60 s). --allow applies.
    #[arg(long, value_name = "[ADDR:]PORT", value_parser = parse_osc)]
    pub osc: Option<std::net::SocketAddr>,

    #[command(flatten)]
    pub network: crate::sources::network::NetworkOptions,
}

/// Parses `--remote`.
fn parse_remote(text: &str) -> Result<std::net::SocketAddr, String> {
    crate::show::parse_listen(text, false)
}

/// Parses `--osc`.
fn parse_osc(text: &str) -> Result<std::net::SocketAddr, String> {
    crate::show::parse_listen(text, true)
}

/// Parses `--follow` (clap's list of possible values is in the help text above).
fn parse_follow_mode(text: &str) -> Result<FollowMode, String> {
    text.parse()
}

impl Cli {
    /// The chase settings from the options, or an error naming the option that is wrong.
    pub fn chase_settings(&self) -> Result<ChaseSettings, Error> {
        let wrong = |option: String, reason: String| Error::Option { option, reason };
        let tempo_map = match (&self.tempo_map, self.bpm) {
            (Some(text), _) => Some(
                parse_tempo_map(text).map_err(|e| wrong("--tempo-map".into(), e.to_string()))?,
            ),
            (None, Some(bpm)) => Some(
                TempoMap::fixed(bpm, TimeSignature::FOUR_FOUR)
                    .map_err(|e| wrong(format!("--bpm {bpm}"), e.to_string()))?,
            ),
            (None, None) => None,
        };
        let rate = if self.timecode_start.contains(';') {
            FrameRate::Fps2997Drop
        } else {
            FrameRate::Fps30
        };
        let video_start = Timecode::parse(&self.timecode_start, rate).map_err(|e| {
            wrong(
                format!("--timecode-start {}", self.timecode_start),
                format!("{e} (write it as HH:MM:SS:FF, e.g. 01:00:00:00)"),
            )
        })?;
        if !self.offset_ms.is_finite() || self.offset_ms.abs() > 10_000.0 {
            return Err(wrong(
                format!("--offset-ms {}", self.offset_ms),
                "give a number of milliseconds between -10000 and 10000".into(),
            ));
        }
        let drift = DriftConfig {
            dead_band_s: self.drift_dead_band_ms / 1000.0,
            seek_threshold_s: self.drift_seek_ms / 1000.0,
            max_speed_adjust: self.drift_max_speed_percent / 100.0,
            lost_after_s: self.clock_lost_ms / 1000.0,
            ..DriftConfig::default()
        };
        if !(self.ltc_freewheel_ms.is_finite() && (0.0..=10_000.0).contains(&self.ltc_freewheel_ms))
        {
            return Err(wrong(
                format!("--ltc-freewheel-ms {}", self.ltc_freewheel_ms),
                "give milliseconds from 0 to 10000".into(),
            ));
        }
        drift
            .validate()
            .map_err(|e| wrong("drift settings".into(), e.to_string()))?;
        Ok(ChaseSettings {
            tempo_map,
            offset_s: self.offset_ms / 1000.0,
            video_start,
            drift,
            ltc_freewheel_s: self.ltc_freewheel_ms / 1000.0,
        })
    }
}

/// Where the bundled demo show is: installed under /usr/share/playhead, or in the source tree.
pub fn demo_video() -> PathBuf {
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(prefix) = exe.parent().and_then(|bin| bin.parent()) {
            candidates.push(prefix.join("share/playhead/demo.mp4"));
        }
    }
    candidates.push(PathBuf::from("/usr/share/playhead/demo.mp4"));
    candidates.push(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/media/demo.mp4"
    )));
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| candidates.pop().unwrap_or_default())
}
