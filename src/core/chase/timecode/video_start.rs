//! Where the video's frame 0 sits on the DAW's timecode, and timecode to video seconds.

use super::{QuarterFrameTime, Timecode};

/// Where the video's frame 0 sits on the DAW's timecode, e.g. `01:00:00:00`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VideoStart {
    start: Timecode,
}

impl VideoStart {
    /// The video starts at `start`. Give it at the rate the DAW sends; if the rates differ the
    /// two are compared in real seconds (`01:00:00;00` drop-frame is 3599.9964 s, not 3600).
    pub fn new(start: Timecode) -> Self {
        VideoStart { start }
    }

    /// The timecode of the video's frame 0.
    pub fn start(&self) -> Timecode {
        self.start
    }

    /// Video seconds at `timecode` (negative before the start). Differences are taken round
    /// the 24-hour clock, the short way, so a show that starts at `23:59:00:00` keeps counting
    /// past midnight.
    pub fn video_position_s(&self, timecode: Timecode) -> f64 {
        let rate = timecode.rate();
        if rate == self.start.rate() {
            // Whole frames first: exact.
            let day = rate.frames_per_day() as i64;
            let mut frames = timecode.frame_count() as i64 - self.start.frame_count() as i64;
            if frames >= day / 2 {
                frames -= day;
            } else if frames < -day / 2 {
                frames += day;
            }
            rate.seconds_of_frames(frames as f64)
        } else {
            let day_s = rate.seconds_of_frames(rate.frames_per_day() as f64);
            let mut s = timecode.real_time_s() - self.start.real_time_s();
            if s >= day_s / 2.0 {
                s -= day_s;
            } else if s < -day_s / 2.0 {
                s += day_s;
            }
            s
        }
    }

    /// Video seconds at the receipt of the last quarter frame of `time`, the quarter-frame
    /// offset included: the value a chasing player compares with its own position.
    pub fn video_position_at_receipt_s(&self, time: &QuarterFrameTime) -> f64 {
        self.video_position_s(time.timecode)
            + (time.real_time_at_receipt_s() - time.timecode.real_time_s())
    }
}

#[cfg(test)]
mod tests {
    use super::super::quarter_frame::tests::forward_stream;
    use super::super::{FrameRate, QuarterFrameAssembler};
    use super::*;

    use crate::chase::timecode::tests::tc;

    #[test]
    fn video_start_maps_timecode_to_video_seconds() {
        let r25 = FrameRate::Fps25;
        let start = VideoStart::new(tc(1, 0, 0, 0, r25));
        assert_eq!(start.video_position_s(tc(1, 0, 0, 0, r25)), 0.0);
        assert_eq!(start.video_position_s(tc(1, 0, 10, 5, r25)), 10.2);
        assert_eq!(start.video_position_s(tc(0, 59, 58, 0, r25)), -2.0);
        // Across midnight.
        let late = VideoStart::new(tc(23, 59, 0, 0, r25));
        assert_eq!(late.video_position_s(tc(0, 1, 0, 0, r25)), 120.0);
        // Drop-frame: video seconds are real seconds.
        let df = FrameRate::Fps2997Drop;
        let df_start = VideoStart::new(tc(1, 0, 0, 0, df));
        let ten_min = df_start.video_position_s(tc(1, 10, 0, 0, df));
        assert!((ten_min - 17_982.0 * 1001.0 / 30_000.0).abs() < 1e-9);
        assert!((ten_min - 599.9994).abs() < 1e-9);
        // Mixed rates go through real seconds.
        let mixed = start.video_position_s(tc(1, 0, 0, 0, df));
        assert!((mixed - (3599.9964 - 3600.0)).abs() < 1e-9);

        // Quarter frames all the way to video seconds.
        let stream = forward_stream(tc(0, 59, 59, 0, r25), 100);
        let mut asm = QuarterFrameAssembler::new();
        for (byte, at_s) in stream {
            if let Some(t) = asm.push(byte, at_s).unwrap() {
                let video_s = start.video_position_at_receipt_s(&t);
                assert!((video_s - (at_s - 1.0)).abs() < 1e-9, "{video_s} at {at_s}");
            }
        }
    }
}
