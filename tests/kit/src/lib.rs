//! playhead-testkit: the tools playhead's tests and benchmark use, kept out of the program.
//!
//! [`framecode`] reads which frame of the demo show is on a picture; [`peer`] is a scripted
//! network-MIDI participant that plays a DAW's side on loopback; [`simulator`] runs the drift
//! controller against a simulated DAW and player over a whole show; [`ltc`] encodes linear
//! timecode into audio samples. The `playhead-bench`
//! binary (`src/bench.rs`) measures latency, start-up and chase figures for the README.
//!
//! Nothing here is linked into the `playhead` binary or shipped in the .deb.

pub mod framecode;
pub mod jackd;
pub mod ltc;
pub mod onscreen;
pub mod peer;
pub mod simulator;

use playhead::screen::headless::Frame;

/// Reads the demo show's frame code off a rendered picture.
pub trait FrameCode {
    /// The frame number drawn in the demo show's frame code, if one is visible, for a video
    /// of `video_width` x `video_height` fitted into the picture.
    fn frame_number(&self, video_width: u32, video_height: u32) -> Option<u32>;
}

impl FrameCode for Frame {
    fn frame_number(&self, video_width: u32, video_height: u32) -> Option<u32> {
        let view = framecode::ImageView {
            pixels: &self.pixels,
            width: self.width,
            height: self.height,
            stride_bytes: self.stride_bytes,
            bytes_per_pixel: 4,
        };
        let rect = framecode::VideoRect::fit(video_width, video_height, self.width, self.height);
        framecode::read_frame_number(&view, &rect)
    }
}
