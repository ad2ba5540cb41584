//! The screen: where frames are drawn and the display is kept showing them.
//!
//! [`window`] is the main thread's winit event loop and the OpenGL drawing of mpv's frames;
//! [`headless`] draws them in memory with mpv's software renderer (tests, benchmarks,
//! `--headless`); [`kiosk`] puts the show back fullscreen when its screen is re-plugged;
//! [`screen_on`] keeps the display from blanking.

pub mod headless;
pub mod kiosk;
pub mod screen_on;
pub mod window;

pub use window::{run, ScreenEvent, ScreenOptions, StartPlayer};
