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
