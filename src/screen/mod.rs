//! The screen: where frames are drawn and the display is kept showing them.
//!
//! [`window`] is the main thread's winit event loop; [`render_thread`] draws mpv's frames with
//! OpenGL on a thread of its own, and [`outputs`] draws several outputs' windows (`[[output]]`);
//! [`headless`] draws them in memory with mpv's software renderer (tests, benchmarks,
//! `--headless`); [`present`] times each frame to its due time for both; [`kiosk`] puts the show back fullscreen when its screen is re-plugged;
//! [`screen_on`] keeps the display from blanking; [`urgent`] gives a screen's thread
//! real-time priority while it waits for a frame's moment and presents it.

pub mod headless;
pub mod kiosk;
pub mod outputs;
pub mod present;
pub mod render_thread;
pub mod retime;
pub mod screen_on;
pub mod stage;
pub mod urgent;
pub mod window;

pub use window::{run, ScreenEvent, ScreenOptions, StartPlayer};

/// Where the show is drawn: the one thing the program chooses between, once, where it wires
/// the player, the inputs, the remotes and the screens together (`main`). Either way the
/// player cues the screens through a [`stage`] and never waits for them.
#[derive(Clone, Debug)]
pub enum Outputs {
    /// Windows: one on `--screen`, or one per `[[output]]` on its monitor, each with its own
    /// rectangle of the picture, edge blend and delay ([`window`], [`outputs`]).
    Windows(ScreenOptions),
    /// No window (`--headless`): each deck drawn in memory by mpv's software renderer at
    /// this size ([`headless::run`]).
    Headless { width: usize, height: usize },
}
