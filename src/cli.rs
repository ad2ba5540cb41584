//! The command line.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// playhead: starts the show's video on the exact frame when the DAW presses play.
///
/// It loads the video paused on its first frame, fullscreen, and follows MIDI transport
/// (Song Position Pointer, Start, Stop) from every MIDI input it can find.
#[derive(Parser, Debug)]
#[command(name = "playhead", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// The show's video file. Without it, playhead plays the bundled demo show.
    #[arg(value_name = "VIDEO")]
    pub video: Option<PathBuf>,

    /// Connect only the OS MIDI input ports whose name contains TEXT (default: every port
    /// but playhead's own).
    #[arg(long, value_name = "TEXT")]
    pub midi_port: Option<String>,

    /// Also read raw MIDI bytes from a device file such as /dev/snd/midiC1D0, or a named pipe.
    /// Repeatable.
    #[arg(long, value_name = "PATH")]
    pub midi_device: Vec<PathBuf>,

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

    /// Draw in memory with no window (benchmarks and tests).
    #[arg(long, hide = true)]
    pub headless: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Measure trigger latency and start-up time on this machine (no window needed).
    Bench(BenchArgs),
}

/// Options of `playhead bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// How many Start triggers to time.
    #[arg(long, default_value_t = 200)]
    pub triggers: u32,

    /// How many cold starts of the program to time.
    #[arg(long, default_value_t = 20)]
    pub starts: u32,

    /// The video to use (default: the bundled demo show).
    #[arg(value_name = "VIDEO")]
    pub video: Option<PathBuf>,
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
