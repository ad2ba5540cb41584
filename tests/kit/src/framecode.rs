//! Reads the frame number that the demo show (`media/demo.mp4`) draws into every picture.
//!
//! Tests use this to check which frame is on screen, from a screenshot or from a buffer that
//! libmpv's software renderer filled, without trusting the player's own idea of its position.
//! The code is drawn by `media/make-demo.sh`; the layout below must match the one documented
//! there.
//!
//! # Layout, in pixels of the 640x360 video picture (origin top left)
//!
//! ```text
//! band:   x 0..640, y 320..360, black
//! cells:  21 cells, each 30x30; cell k spans x 5+30k .. 35+30k, y 325..355
//!         (centre of cell k: x = 20 + 30k, y = 340)
//! k = 0       marker, always white
//! k = 1       marker, always black
//! k = 2..17   frame number, bit 15 (k = 2) down to bit 0 (k = 17); white = 1, black = 0
//! k = 18      odd parity: white when bits 15..0 hold an even number of ones
//! k = 19      marker, always black
//! k = 20      marker, always white
//! ```
//!
//! The layout is defined in fractions of the video picture, so it reads the same at 640x360,
//! scaled 2x to 1280x720, or scaled to any size and letterboxed inside a larger screen: the
//! caller says where the picture sits with a [`VideoRect`].
//!
//! # How a cell is read
//!
//! Each cell is sampled over its middle half in each direction (15x15 video pixels), away from
//! the edges that H.264 and scaling filters smear. The sample's brightness is the plain mean of
//! R, G and B: equal weights make the channel order irrelevant, so RGB, RGBx and BGRx buffers all
//! read the same, and the cells are pure black or white, where any luma formula agrees. A mean
//! of at least [`WHITE_MIN`] is white, at most [`BLACK_MAX`] is black; anything between (a grey
//! picture, a cross-fade, a cell drawn over by something else) makes the whole code unreadable
//! rather than guessed at.
//!
//! A code is valid only when the four markers and the parity cell agree, so a black screen, a
//! white screen, another picture or a misplaced [`VideoRect`] reads as `None`.

/// Width of the video picture the layout is defined in, in video pixels.
pub const VIDEO_WIDTH_PX: u32 = 640;
/// Height of the video picture the layout is defined in, in video pixels.
pub const VIDEO_HEIGHT_PX: u32 = 360;

/// Number of cells in the band: 4 markers, 16 data bits, 1 parity.
const CELL_COUNT: usize = 21;
/// Side of one square cell, in video pixels.
const CELL_SIZE_PX: f64 = 30.0;
/// Left edge of cell 0, in video pixels.
const CELLS_X0_PX: f64 = 5.0;
/// Top edge of every cell, in video pixels.
const CELLS_Y_PX: f64 = 325.0;
/// Index of the first data cell (bit 15).
const FIRST_DATA_CELL: usize = 2;
/// Number of data cells.
const DATA_BITS: usize = 16;
/// Index of the parity cell.
const PARITY_CELL: usize = FIRST_DATA_CELL + DATA_BITS;
/// Marker cells and the value each always holds (true = white).
const MARKERS: [(usize, bool); 4] = [(0, true), (1, false), (19, false), (20, true)];

/// Half the side of the square sampled at a cell's centre, in video pixels: the middle half of
/// the cell, clear of the edges that compression and scaling blur.
const SAMPLE_HALF_PX: f64 = CELL_SIZE_PX / 4.0;
/// Below this many image pixels per cell, neighbouring cells blend in any scaler and a read
/// would be a guess.
const MIN_CELL_IMAGE_PX: f64 = 3.0;

/// Mean of R, G, B (0-255) at or above which a cell reads as white (1).
pub const WHITE_MIN: u8 = 170;
/// Mean of R, G, B (0-255) at or below which a cell reads as black (0).
pub const BLACK_MAX: u8 = 85;

/// A view of an image in memory: 8-bit channels, `bytes_per_pixel` 3 (RGB) or 4 (RGBx/BGRx),
/// rows `stride_bytes` apart.
///
/// Only the first three channels of a pixel are read, and with equal weights, so their order
/// does not matter.
#[derive(Clone, Copy)]
pub struct ImageView<'a> {
    /// The pixel bytes, row after row, starting with the top row.
    pub pixels: &'a [u8],
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Distance from the start of one row to the start of the next, in bytes (at least
    /// `width * bytes_per_pixel`).
    pub stride_bytes: usize,
    /// 3 or 4.
    pub bytes_per_pixel: usize,
}

/// Where the video picture sits inside the image, in image pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VideoRect {
    /// Left edge, in image pixels from the image's left edge.
    pub x: f64,
    /// Top edge, in image pixels from the image's top edge.
    pub y: f64,
    /// Width, in image pixels.
    pub width: f64,
    /// Height, in image pixels.
    pub height: f64,
}

impl VideoRect {
    /// The rectangle a video of any aspect fills when letterboxed or pillarboxed into an image of
    /// the given size, centred, as mpv shows it with its default options.
    ///
    /// mpv rounds the rectangle to whole pixels; this one is exact, which is within a pixel and
    /// far inside a cell's sampled area. Any size of zero gives an empty rectangle, which
    /// [`read_frame_number`] rejects.
    #[must_use]
    pub fn fit(
        video_width: u32,
        video_height: u32,
        image_width: usize,
        image_height: usize,
    ) -> VideoRect {
        if video_width == 0 || video_height == 0 || image_width == 0 || image_height == 0 {
            return VideoRect {
                x: 0.0,
                y: 0.0,
                width: 0.0,
                height: 0.0,
            };
        }
        let (video_w, video_h) = (f64::from(video_width), f64::from(video_height));
        let (image_w, image_h) = (image_width as f64, image_height as f64);
        let scale = (image_w / video_w).min(image_h / video_h);
        let (width, height) = (video_w * scale, video_h * scale);
        VideoRect {
            x: (image_w - width) / 2.0,
            y: (image_h - height) / 2.0,
            width,
            height,
        }
    }
}

/// Reads the frame number, or `None` when no valid frame code is visible (black screen, other
/// picture, parity wrong).
///
/// Never panics: a buffer shorter than its sizes say, zero sizes, an unsupported pixel size or a
/// rectangle that is not finite or reaches outside the image all give `None`.
#[must_use]
pub fn read_frame_number(image: &ImageView, video: &VideoRect) -> Option<u32> {
    if !image_is_consistent(image) {
        return None;
    }
    let scale_x = video.width / f64::from(VIDEO_WIDTH_PX);
    let scale_y = video.height / f64::from(VIDEO_HEIGHT_PX);
    let all_finite = [video.x, video.y, scale_x, scale_y]
        .iter()
        .all(|v| v.is_finite());
    if !all_finite
        || CELL_SIZE_PX * scale_x < MIN_CELL_IMAGE_PX
        || CELL_SIZE_PX * scale_y < MIN_CELL_IMAGE_PX
    {
        return None;
    }

    decode(|k| {
        let centre_x_px = CELLS_X0_PX + CELL_SIZE_PX * (k as f64 + 0.5);
        let centre_y_px = CELLS_Y_PX + CELL_SIZE_PX / 2.0;
        sample_mean(
            image,
            video.x + centre_x_px * scale_x,
            video.y + centre_y_px * scale_y,
            SAMPLE_HALF_PX * scale_x,
            SAMPLE_HALF_PX * scale_y,
        )
    })
}

/// Reads the frame number from a strip of a few image rows taken across the middle of the
/// code band (a screen poller reads only these, to poll fast): `image` is the strip, and
/// `video` says where the picture sits in the whole image, whose row `strip_top` is the
/// strip's first. Each cell is sampled over the middle half of its width and the strip's
/// rows but its top and bottom ones. `None` as for [`read_frame_number`], and when the strip
/// does not lie inside the band's cells.
#[must_use]
pub fn read_frame_number_strip(
    image: &ImageView,
    video: &VideoRect,
    strip_top: f64,
) -> Option<u32> {
    if !image_is_consistent(image) || image.height < 3 {
        return None;
    }
    let scale_x = video.width / f64::from(VIDEO_WIDTH_PX);
    let scale_y = video.height / f64::from(VIDEO_HEIGHT_PX);
    if !(video.x.is_finite() && scale_x.is_finite() && scale_y.is_finite())
        || CELL_SIZE_PX * scale_x < MIN_CELL_IMAGE_PX
    {
        return None;
    }
    // The strip must lie within the cells' rows.
    let cells_top = video.y + CELLS_Y_PX * scale_y;
    let cells_bottom = cells_top + CELL_SIZE_PX * scale_y;
    if !(strip_top >= cells_top && strip_top + image.height as f64 <= cells_bottom) {
        return None;
    }
    let half_y = image.height as f64 / 2.0 - 1.0;
    decode(|k| {
        let centre_x_px = CELLS_X0_PX + CELL_SIZE_PX * (k as f64 + 0.5);
        sample_mean(
            image,
            video.x + centre_x_px * scale_x,
            image.height as f64 / 2.0,
            SAMPLE_HALF_PX * scale_x,
            half_y,
        )
    })
}

/// The frame number from each cell's mean brightness (`mean(k)` for cell k), or `None`.
fn decode(mean: impl Fn(usize) -> Option<f64>) -> Option<u32> {
    let mut cells = [false; CELL_COUNT];
    for (k, cell) in cells.iter_mut().enumerate() {
        let mean = mean(k)?;
        *cell = if mean >= f64::from(WHITE_MIN) {
            true
        } else if mean <= f64::from(BLACK_MAX) {
            false
        } else {
            return None;
        };
    }
    let frame_number = cells[FIRST_DATA_CELL..PARITY_CELL]
        .iter()
        .fold(0u16, |number, &bit| (number << 1) | u16::from(bit));
    // Drawing the number back and comparing checks the markers and the parity in one place, with
    // the same code the tests draw with.
    if cells_for(frame_number) == cells {
        Some(u32::from(frame_number))
    } else {
        None
    }
}

/// The cells the demo show draws for `frame_number` (true = white), cell 0 first.
fn cells_for(frame_number: u16) -> [bool; CELL_COUNT] {
    let mut cells = [false; CELL_COUNT];
    for &(k, white) in &MARKERS {
        cells[k] = white;
    }
    for bit in 0..DATA_BITS {
        // Bit 15 goes in the first data cell, so the code reads left to right like the number.
        cells[FIRST_DATA_CELL + DATA_BITS - 1 - bit] = frame_number & (1 << bit) != 0;
    }
    cells[PARITY_CELL] = frame_number.count_ones().is_multiple_of(2);
    cells
}

/// True when the buffer holds every pixel its sizes promise, so that indexing inside
/// `width x height` cannot go out of bounds.
fn image_is_consistent(image: &ImageView) -> bool {
    if image.width == 0 || image.height == 0 || !matches!(image.bytes_per_pixel, 3 | 4) {
        return false;
    }
    let Some(row_bytes) = image.width.checked_mul(image.bytes_per_pixel) else {
        return false;
    };
    let needed_bytes = (image.height - 1)
        .checked_mul(image.stride_bytes)
        .and_then(|rows| rows.checked_add(row_bytes));
    image.stride_bytes >= row_bytes && needed_bytes.is_some_and(|n| n <= image.pixels.len())
}

/// Mean of (R+G+B)/3 over the pixels whose centres lie within `half_x` x `half_y` of
/// (`centre_x`, `centre_y`), in image pixels; the nearest pixel alone when the area holds none.
/// `None` when the area reaches outside the image. The image must be consistent.
fn sample_mean(
    image: &ImageView,
    centre_x: f64,
    centre_y: f64,
    half_x: f64,
    half_y: f64,
) -> Option<f64> {
    let (x_first, x_last) = pixel_span(centre_x, half_x, image.width)?;
    let (y_first, y_last) = pixel_span(centre_y, half_y, image.height)?;
    let mut sum: u64 = 0;
    let mut count: u64 = 0;
    for y in y_first..=y_last {
        let row = image.pixels.get(y * image.stride_bytes..)?;
        for x in x_first..=x_last {
            let at = x * image.bytes_per_pixel;
            let rgb = row.get(at..at + 3)?;
            sum += rgb.iter().map(|&c| u64::from(c)).sum::<u64>();
            count += 3;
        }
    }
    if count == 0 {
        return None;
    }
    Some(sum as f64 / count as f64)
}

/// The first and last pixel index (inclusive) whose centre lies in `centre ± half`, or the pixel
/// under `centre` when the span is narrower than a pixel. `None` unless it lies within
/// `0..size`.
fn pixel_span(centre: f64, half: f64, size: usize) -> Option<(usize, usize)> {
    // Pixel i covers [i, i + 1), so its centre is at i + 0.5.
    let mut first = (centre - half - 0.5).ceil();
    let mut last = (centre + half - 0.5).floor();
    if first > last {
        first = centre.floor();
        last = first;
    }
    if !(first >= 0.0 && last < size as f64) {
        return None;
    }
    // Both are whole numbers in 0..size here, so the casts are exact.
    Some((first as usize, last as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Background of the demo show's picture, a dark blue-grey.
    const BACKGROUND: [u8; 3] = [0x20, 0x28, 0x38];

    /// An owned image for the tests to draw into.
    struct Canvas {
        pixels: Vec<u8>,
        width: usize,
        height: usize,
        stride_bytes: usize,
        bytes_per_pixel: usize,
    }

    impl Canvas {
        fn new(width: usize, height: usize, bytes_per_pixel: usize, padding_bytes: usize) -> Self {
            let stride_bytes = width * bytes_per_pixel + padding_bytes;
            // Fill padding and the unused 4th channel with a bright value, so a reader that
            // strays into them would be caught.
            Canvas {
                pixels: vec![0xEE; stride_bytes * height],
                width,
                height,
                stride_bytes,
                bytes_per_pixel,
            }
        }

        fn view(&self) -> ImageView<'_> {
            ImageView {
                pixels: &self.pixels,
                width: self.width,
                height: self.height,
                stride_bytes: self.stride_bytes,
                bytes_per_pixel: self.bytes_per_pixel,
            }
        }

        /// Fills the image pixels whose centres lie in the video-pixel rectangle
        /// (`x`, `y`, `w`, `h`), mapped through `video`.
        fn fill(&mut self, video: &VideoRect, rect_px: [f64; 4], rgb: [u8; 3]) {
            let [x, y, w, h] = rect_px;
            let sx = video.width / f64::from(VIDEO_WIDTH_PX);
            let sy = video.height / f64::from(VIDEO_HEIGHT_PX);
            let (left, right) = (video.x + x * sx, video.x + (x + w) * sx);
            let (top, bottom) = (video.y + y * sy, video.y + (y + h) * sy);
            // Pixel i is filled when its centre i + 0.5 lies in [start, end).
            let span = |start: f64, end: f64, size: usize| {
                let first = (start - 0.5).ceil().max(0.0) as usize;
                let past_last = ((end - 0.5).ceil().max(0.0) as usize).min(size);
                first..past_last
            };
            for row in span(top, bottom, self.height) {
                for col in span(left, right, self.width) {
                    let at = row * self.stride_bytes + col * self.bytes_per_pixel;
                    self.pixels[at..at + 3].copy_from_slice(&rgb);
                }
            }
        }

        /// Draws the band with the given cells, over a demo-coloured picture.
        fn draw_cells(&mut self, video: &VideoRect, cells: &[bool; CELL_COUNT]) {
            self.fill(video, [0.0, 0.0, 640.0, 320.0], BACKGROUND);
            self.fill(video, [0.0, 320.0, 640.0, 40.0], [0, 0, 0]);
            self.redraw_cells(video, cells);
        }

        /// Draws only the cells, over a band drawn before.
        fn redraw_cells(&mut self, video: &VideoRect, cells: &[bool; CELL_COUNT]) {
            for (k, &white) in cells.iter().enumerate() {
                let x = CELLS_X0_PX + CELL_SIZE_PX * k as f64;
                let rgb = if white { [255, 255, 255] } else { [0, 0, 0] };
                self.fill(video, [x, CELLS_Y_PX, CELL_SIZE_PX, CELL_SIZE_PX], rgb);
            }
        }

        fn draw_code(&mut self, video: &VideoRect, frame_number: u16) {
            self.draw_cells(video, &cells_for(frame_number));
        }
    }

    fn read(canvas: &Canvas, video: &VideoRect) -> Option<u32> {
        read_frame_number(&canvas.view(), video)
    }

    fn full_frame(width: usize, height: usize) -> VideoRect {
        VideoRect {
            x: 0.0,
            y: 0.0,
            width: width as f64,
            height: height as f64,
        }
    }

    #[test]
    fn reads_frames_at_native_size() {
        let video = full_frame(640, 360);
        let mut canvas = Canvas::new(640, 360, 3, 0);
        for frame in [0u16, 1, 2, 1234, 2999, 0x5555, 0xAAAA, 0xFFFF] {
            canvas.draw_code(&video, frame);
            assert_eq!(
                read(&canvas, &video),
                Some(u32::from(frame)),
                "frame {frame}"
            );
        }
    }

    #[test]
    fn reads_every_frame_of_the_demo_show() {
        let video = full_frame(640, 360);
        let mut canvas = Canvas::new(640, 360, 3, 0);
        canvas.draw_code(&video, 0);
        for frame in 0..3000u16 {
            canvas.redraw_cells(&video, &cells_for(frame));
            assert_eq!(read(&canvas, &video), Some(u32::from(frame)));
        }
    }

    #[test]
    fn reads_a_strip_across_the_band() {
        let video = full_frame(1280, 720);
        let mut canvas = Canvas::new(1280, 720, 4, 0);
        // Rows 676..684: the middle of the band at 2x (cells span 650..710).
        let strip = |c: &Canvas, top: usize, rows: usize| {
            let view = ImageView {
                pixels: &c.pixels[top * c.stride_bytes..(top + rows) * c.stride_bytes],
                height: rows,
                ..c.view()
            };
            read_frame_number_strip(&view, &video, top as f64)
        };
        for frame in [0u16, 1, 2999, 0xFFFF] {
            canvas.draw_code(&video, frame);
            assert_eq!(strip(&canvas, 676, 8), Some(u32::from(frame)));
        }
        // Outside the cells' rows, or too thin, it reads nothing.
        assert_eq!(strip(&canvas, 600, 8), None);
        assert_eq!(strip(&canvas, 705, 8), None);
        assert_eq!(strip(&canvas, 676, 2), None);
        // A black strip reads nothing.
        canvas.fill(&video, [0.0, 320.0, 640.0, 40.0], [0, 0, 0]);
        assert_eq!(strip(&canvas, 676, 8), None);
    }

    #[test]
    fn reads_when_scaled_2x() {
        let video = full_frame(1280, 720);
        let mut canvas = Canvas::new(1280, 720, 3, 0);
        for frame in [0u16, 1, 2999, 0xFFFF] {
            canvas.draw_code(&video, frame);
            assert_eq!(read(&canvas, &video), Some(u32::from(frame)));
        }
    }

    #[test]
    fn reads_when_letterboxed_and_pillarboxed() {
        // 4:3 screen: bars above and below. 16:10 wider-than-tall-enough: bars on the sides.
        for (width, height) in [(1024, 768), (1000, 800), (2000, 720), (331, 500)] {
            let video = VideoRect::fit(VIDEO_WIDTH_PX, VIDEO_HEIGHT_PX, width, height);
            let mut canvas = Canvas::new(width, height, 3, 0);
            canvas.draw_code(&video, 2999);
            assert_eq!(read(&canvas, &video), Some(2999), "{width}x{height}");
        }
    }

    #[test]
    fn reads_four_byte_pixels_with_padded_rows() {
        let video = VideoRect::fit(VIDEO_WIDTH_PX, VIDEO_HEIGHT_PX, 1920, 1200);
        let mut canvas = Canvas::new(1920, 1200, 4, 64);
        canvas.draw_code(&video, 1234);
        assert_eq!(read(&canvas, &video), Some(1234));
    }

    #[test]
    fn reads_through_noise() {
        let video = full_frame(640, 360);
        let mut canvas = Canvas::new(640, 360, 3, 0);
        canvas.draw_code(&video, 0xA5C3);
        // Deterministic noise of up to ±60 per channel, well beyond what H.264 leaves on flat cells.
        let mut state: u32 = 12345;
        for byte in &mut canvas.pixels {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let noise = ((state >> 16) % 121) as i32 - 60;
            *byte = (i32::from(*byte) + noise).clamp(0, 255) as u8;
        }
        assert_eq!(read(&canvas, &video), Some(0xA5C3));
    }

    #[test]
    fn black_and_white_screens_read_none() {
        let video = full_frame(640, 360);
        for value in [0u8, 255, 128] {
            let canvas = Canvas {
                pixels: vec![value; 640 * 360 * 3],
                ..Canvas::new(640, 360, 3, 0)
            };
            assert_eq!(read(&canvas, &video), None, "all {value}");
        }
    }

    #[test]
    fn parity_flipped_reads_none() {
        let video = full_frame(640, 360);
        let mut canvas = Canvas::new(640, 360, 3, 0);
        for frame in [0u16, 1, 2999, 0xFFFF] {
            let mut cells = cells_for(frame);
            cells[PARITY_CELL] = !cells[PARITY_CELL];
            canvas.draw_cells(&video, &cells);
            assert_eq!(read(&canvas, &video), None, "frame {frame}");
        }
    }

    #[test]
    fn any_marker_wrong_reads_none() {
        let video = full_frame(640, 360);
        let mut canvas = Canvas::new(640, 360, 3, 0);
        for &(k, _) in &MARKERS {
            let mut cells = cells_for(1234);
            cells[k] = !cells[k];
            canvas.draw_cells(&video, &cells);
            assert_eq!(read(&canvas, &video), None, "marker {k}");
        }
    }

    #[test]
    fn grey_cell_reads_none() {
        let video = full_frame(640, 360);
        let mut canvas = Canvas::new(640, 360, 3, 0);
        canvas.draw_code(&video, 1234);
        let x = CELLS_X0_PX + CELL_SIZE_PX * 5.0;
        canvas.fill(
            &video,
            [x, CELLS_Y_PX, CELL_SIZE_PX, CELL_SIZE_PX],
            [128, 128, 128],
        );
        assert_eq!(read(&canvas, &video), None);
    }

    #[test]
    fn wrong_rectangle_reads_none() {
        let mut canvas = Canvas::new(1280, 720, 3, 0);
        canvas.draw_code(&full_frame(1280, 720), 1234);
        // Told the picture is at native size in the corner while it fills the screen.
        assert_eq!(read(&canvas, &full_frame(640, 360)), None);
    }

    #[test]
    fn truncated_buffer_reads_none() {
        let video = full_frame(640, 360);
        let mut canvas = Canvas::new(640, 360, 3, 0);
        canvas.draw_code(&video, 1234);
        canvas.pixels.pop();
        assert_eq!(read(&canvas, &video), None);
        canvas.pixels.truncate(1000);
        assert_eq!(read(&canvas, &video), None);
        canvas.pixels.clear();
        assert_eq!(read(&canvas, &video), None);
    }

    #[test]
    fn inconsistent_image_descriptions_read_none() {
        let video = full_frame(640, 360);
        let mut canvas = Canvas::new(640, 360, 3, 0);
        canvas.draw_code(&video, 1234);
        let good = canvas.view();
        assert_eq!(read_frame_number(&good, &video), Some(1234));
        let cases = [
            ImageView { width: 0, ..good },
            ImageView { height: 0, ..good },
            ImageView {
                bytes_per_pixel: 0,
                ..good
            },
            ImageView {
                bytes_per_pixel: 2,
                ..good
            },
            ImageView {
                bytes_per_pixel: 5,
                ..good
            },
            ImageView {
                stride_bytes: 0,
                ..good
            },
            ImageView {
                stride_bytes: 640 * 3 - 1,
                ..good
            },
            ImageView {
                stride_bytes: usize::MAX,
                ..good
            },
            ImageView {
                width: usize::MAX,
                ..good
            },
            ImageView {
                height: usize::MAX,
                ..good
            },
            ImageView {
                width: usize::MAX / 3 + 1,
                stride_bytes: usize::MAX,
                ..good
            },
        ];
        for (i, image) in cases.iter().enumerate() {
            assert_eq!(read_frame_number(image, &video), None, "case {i}");
        }
    }

    #[test]
    fn odd_rectangles_read_none_without_panicking() {
        let mut canvas = Canvas::new(640, 360, 4, 0);
        canvas.draw_code(&full_frame(640, 360), 7);
        let values = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN,
            -1e9,
            -640.0,
            -0.5,
            0.0,
            1.0,
            10.0,
            639.5,
            640.0,
            1e12,
        ];
        for &x in &values {
            for &width in &values {
                for &height in &[f64::NAN, 0.0, 1.0, 360.0, 361.0, 1e12, -360.0] {
                    let video = VideoRect {
                        x,
                        y: x,
                        width,
                        height,
                    };
                    let read = read(&canvas, &video);
                    assert!(read.is_none() || read == Some(7), "{video:?} read {read:?}");
                }
            }
        }
        // Too small to read: a cell under 3 image pixels.
        let tiny = VideoRect {
            x: 0.0,
            y: 0.0,
            width: 60.0,
            height: 34.0,
        };
        assert_eq!(read(&canvas, &tiny), None);
    }

    #[test]
    fn fit_centres_the_picture() {
        assert_eq!(
            VideoRect::fit(640, 360, 1280, 720),
            VideoRect {
                x: 0.0,
                y: 0.0,
                width: 1280.0,
                height: 720.0
            }
        );
        assert_eq!(
            VideoRect::fit(640, 360, 1920, 1200),
            VideoRect {
                x: 0.0,
                y: 60.0,
                width: 1920.0,
                height: 1080.0
            }
        );
        assert_eq!(
            VideoRect::fit(640, 360, 2000, 720),
            VideoRect {
                x: 360.0,
                y: 0.0,
                width: 1280.0,
                height: 720.0
            }
        );
        let empty = VideoRect {
            x: 0.0,
            y: 0.0,
            width: 0.0,
            height: 0.0,
        };
        assert_eq!(VideoRect::fit(0, 360, 1280, 720), empty);
        assert_eq!(VideoRect::fit(640, 360, 1280, 0), empty);
    }
}
