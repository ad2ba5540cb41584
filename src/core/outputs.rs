//! Several screens, one show: the outputs a show draws on, what each shows, and the edge blend
//! where two outputs show overlapping parts of one video.
//!
//! An output is a window on a monitor. Every output shows the same frame of the same song at
//! the same moment (moved earlier by its own latency offset); what differs is which file and
//! which part of it. The files one song shows on its outputs are decoded together, once each,
//! and stacked side by side into one picture (the song's *composite*); each output then shows
//! its rectangle of the composite. This module decides the composite's layout and each
//! output's rectangle and blend; the program draws them.

use std::path::PathBuf;

/// Which monitor an output goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// Counted from 1, in the order the window system lists them (as `--screen` counts).
    Index(usize),
    /// The connector or monitor name the system reports (`"HDMI-1"`): a re-plug into another
    /// port does not swap the screens.
    Name(String),
}

impl std::fmt::Display for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Monitor::Index(n) => write!(f, "screen {n}"),
            Monitor::Name(name) => write!(f, "monitor \"{name}\""),
        }
    }
}

/// A rectangle of a video, in the video's pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    pub fn right(&self) -> u32 {
        self.x + self.width
    }
    pub fn bottom(&self) -> u32 {
        self.y + self.height
    }
    /// Whether the rectangle lies inside a video of `width` x `height`.
    pub fn fits(&self, width: u32, height: u32) -> bool {
        self.width > 0 && self.height > 0 && self.right() <= width && self.bottom() <= height
    }
    fn intersection(&self, other: &Rect) -> Option<Rect> {
        let x = self.x.max(other.x);
        let y = self.y.max(other.y);
        let right = self.right().min(other.right());
        let bottom = self.bottom().min(other.bottom());
        (right > x && bottom > y).then(|| Rect {
            x,
            y,
            width: right - x,
            height: bottom - y,
        })
    }
}

/// The blend gamma when an output gives none: a typical projector's.
pub const DEFAULT_BLEND_GAMMA: f64 = 2.2;

/// One output of the show (`[[output]]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// Its name: songs' `video` tables, the status page, OSC and the log use it.
    pub name: String,
    /// Its monitor; `None` = the primary one.
    pub monitor: Option<Monitor>,
    /// Its own latency offset (ms, positive = this screen shows late, so frames go out
    /// earlier); `None` = the show's.
    pub offset_ms: Option<f64>,
    /// The part of the video it shows (`crop = [x, y, width, height]`); `None` = all of it.
    pub crop: Option<Rect>,
    /// The gamma its edge blends are drawn with (`blend_gamma`).
    pub blend_gamma: f64,
}

/// The ramps of one output's edge blend, in the output's picture (its crop's pixels): how far
/// in from each edge its picture fades to black, because the neighbouring output shows the same
/// pixels there.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Blend {
    pub left: u32,
    pub right: u32,
    pub top: u32,
    pub bottom: u32,
    pub gamma: f64,
}

impl Blend {
    pub fn none(gamma: f64) -> Blend {
        Blend {
            left: 0,
            right: 0,
            top: 0,
            bottom: 0,
            gamma,
        }
    }
    pub fn is_none(&self) -> bool {
        self.left == 0 && self.right == 0 && self.top == 0 && self.bottom == 0
    }
}

/// How much of a pixel's value an edge blend keeps at `t` across the overlap: 0 at the outer
/// edge, 1 where the overlap ends inside the picture. The light (`smoothstep`, a smooth ramp
/// with no kink at either end) of the two outputs adds up to 1 everywhere across the overlap
/// (`w(t) + w(1 - t) = 1`); the pixel value is that light through the projector's `gamma`,
/// `w(t)^(1/gamma)`. The renderer's shader draws the same curve.
pub fn blend_factor(t: f64, gamma: f64) -> f64 {
    let t = t.clamp(0.0, 1.0);
    let light = t * t * (3.0 - 2.0 * t);
    light.powf(1.0 / gamma.max(0.01))
}

/// Each output's blend, from where its crop overlaps another output's crop of the same file.
/// `crops[i]` is output i's file (by any key the caller compares) and its crop, `None` for an
/// output that shows no file or the whole of one.
pub fn blends<K: PartialEq>(crops: &[Option<(K, Rect)>], gammas: &[f64]) -> Vec<Blend> {
    let mut out: Vec<Blend> = gammas.iter().map(|g| Blend::none(*g)).collect();
    for (i, a) in crops.iter().enumerate() {
        let Some((file_a, a)) = a else { continue };
        for (j, b) in crops.iter().enumerate() {
            let Some((file_b, b)) = b else { continue };
            if i == j || file_a != file_b {
                continue;
            }
            let Some(overlap) = a.intersection(b) else {
                continue;
            };
            let blend = &mut out[i];
            // Side by side: b starts inside a and reaches past a's edge.
            if b.x > a.x && b.right() > a.right() {
                blend.right = blend.right.max(overlap.width);
            }
            if b.x < a.x && b.right() < a.right() {
                blend.left = blend.left.max(overlap.width);
            }
            if b.y > a.y && b.bottom() > a.bottom() {
                blend.bottom = blend.bottom.max(overlap.height);
            }
            if b.y < a.y && b.bottom() < a.bottom() {
                blend.top = blend.top.max(overlap.height);
            }
        }
    }
    out
}

/// What one song shows on each output: a file for every output, or a file per output name
/// (an output the table leaves out shows black).
#[derive(Clone, Debug, PartialEq)]
pub enum SongVideo {
    /// One file on every output.
    All(PathBuf),
    /// A file per output, by output name.
    PerOutput(Vec<(String, PathBuf)>),
}

/// The files of one song, decoded together and stacked left to right into one picture, and
/// which of them each output shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Composite {
    /// The files, the first one the song's main file; each appears once.
    pub files: Vec<PathBuf>,
    /// For each output (in the show's order), the index in `files` it shows; `None` = black.
    pub shown: Vec<Option<usize>>,
}

impl Composite {
    /// The composite of a song on `outputs` (the show's output names, in order).
    pub fn of(video: &SongVideo, outputs: &[String]) -> Composite {
        match video {
            SongVideo::All(file) => Composite {
                files: vec![file.clone()],
                shown: vec![Some(0); outputs.len().max(1)],
            },
            SongVideo::PerOutput(table) => {
                let mut files: Vec<PathBuf> = Vec::new();
                let shown = outputs
                    .iter()
                    .map(|name| {
                        let (_, file) = table.iter().find(|(n, _)| n == name)?;
                        Some(match files.iter().position(|f| f == file) {
                            Some(i) => i,
                            None => {
                                files.push(file.clone());
                                files.len() - 1
                            }
                        })
                    })
                    .collect();
                Composite { files, shown }
            }
        }
    }

    /// The libavfilter graph that stacks the files (mpv's `lavfi-complex`, its video tracks
    /// `vid1`, `vid2`, ... in the order of `files`), or `None` for a single file.
    pub fn filter_graph(&self) -> Option<String> {
        let n = self.files.len();
        if n < 2 {
            return None;
        }
        let inputs: String = (1..=n).map(|i| format!("[vid{i}]")).collect();
        let layout: Vec<String> = (0..n)
            .map(|i| {
                if i == 0 {
                    "0_0".to_string()
                } else {
                    let x: Vec<String> = (0..i).map(|k| format!("w{k}")).collect();
                    format!("{}_0", x.join("+"))
                }
            })
            .collect();
        Some(format!(
            "{inputs}xstack=inputs={n}:layout={}:fill=black[vo]",
            layout.join("|")
        ))
    }

    /// Where each file lies in the stacked picture, given each file's size: its rectangle.
    pub fn places(sizes: &[(u32, u32)]) -> Vec<Rect> {
        let mut x = 0;
        sizes
            .iter()
            .map(|&(width, height)| {
                let r = Rect {
                    x,
                    y: 0,
                    width,
                    height,
                };
                x += width;
                r
            })
            .collect()
    }
}

/// What one output draws of the composite picture: a rectangle of it (composite pixels) and
/// its blend, or black.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct View {
    pub source: Option<Rect>,
    pub blend: Blend,
}

/// Each output's view of a song's composite, given the sizes of the composite's files (as
/// decoded). A crop applies to the file the output shows; a crop that does not fit that file
/// is refused, naming the output.
pub fn views(
    composite: &Composite,
    sizes: &[(u32, u32)],
    outputs: &[Output],
) -> Result<Vec<View>, String> {
    let places = Composite::places(sizes);
    let mut crops: Vec<Option<(usize, Rect)>> = Vec::new();
    let mut sources = Vec::new();
    for (i, shown) in composite.shown.iter().enumerate() {
        let output = outputs.get(i);
        let Some(file) = *shown else {
            crops.push(None);
            sources.push(None);
            continue;
        };
        let Some(place) = places.get(file) else {
            crops.push(None);
            sources.push(None);
            continue;
        };
        let crop = output.and_then(|o| o.crop);
        if let Some(c) = crop {
            if !c.fits(place.width, place.height) {
                let name = output.map_or("", |o| o.name.as_str());
                return Err(format!(
                    "output \"{name}\": crop = [{}, {}, {}, {}] is outside the video \
                     ({}x{}): give x, y, width, height inside it",
                    c.x, c.y, c.width, c.height, place.width, place.height
                ));
            }
        }
        let region = crop.unwrap_or(Rect {
            x: 0,
            y: 0,
            width: place.width,
            height: place.height,
        });
        crops.push(crop.map(|c| (file, c)));
        sources.push(Some(Rect {
            x: place.x + region.x,
            y: place.y + region.y,
            width: region.width,
            height: region.height,
        }));
    }
    let gammas: Vec<f64> = (0..sources.len())
        .map(|i| {
            outputs
                .get(i)
                .map_or(DEFAULT_BLEND_GAMMA, |o| o.blend_gamma)
        })
        .collect();
    let blends = blends(&crops, &gammas);
    Ok(sources
        .into_iter()
        .zip(blends)
        .map(|(source, blend)| View { source, blend })
        .collect())
}

/// The size to draw a picture of `composite` size at, for outputs of `windows` sizes (pixels)
/// showing `sources` of it (`None`: nothing): as large as the output that enlarges its part
/// most needs, never larger than the picture as decoded. A 1280x720 picture shown whole on
/// 640x360 screens is drawn at 640x360: a quarter of the work, nothing lost on screen.
pub fn picture_size(
    composite: (u32, u32),
    sources: &[Option<Rect>],
    windows: &[(u32, u32)],
) -> (u32, u32) {
    let mut scale: f64 = 0.0;
    for (source, window) in sources.iter().zip(windows) {
        let Some(r) = source else { continue };
        let fit = (f64::from(window.0) / f64::from(r.width.max(1)))
            .min(f64::from(window.1) / f64::from(r.height.max(1)));
        scale = scale.max(fit);
    }
    if scale <= 0.0 || scale >= 1.0 {
        return composite;
    }
    (
        ((f64::from(composite.0) * scale).ceil() as u32).max(1),
        ((f64::from(composite.1) * scale).ceil() as u32).max(1),
    )
}

/// The latency offsets of the outputs (ms), each output's own or the show's: the show's
/// frames go out by the largest, and each output waits the difference before showing a frame.
pub fn delays_ms(outputs: &[Output], show_offset_ms: f64) -> (f64, Vec<f64>) {
    let offsets: Vec<f64> = outputs
        .iter()
        .map(|o| o.offset_ms.unwrap_or(show_offset_ms))
        .collect();
    let lead = offsets.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lead = if lead.is_finite() {
        lead
    } else {
        show_offset_ms
    };
    let delays = offsets.iter().map(|o| lead - o).collect();
    (lead, delays)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x: u32, y: u32, width: u32, height: u32) -> Rect {
        Rect {
            x,
            y,
            width,
            height,
        }
    }

    fn output(name: &str, crop: Option<Rect>) -> Output {
        Output {
            name: name.into(),
            monitor: None,
            offset_ms: None,
            crop,
            blend_gamma: DEFAULT_BLEND_GAMMA,
        }
    }

    #[test]
    fn the_blend_curve_adds_up_to_full_light_across_the_overlap() {
        for gamma in [1.0, 1.8, 2.2, 2.6] {
            assert_eq!(blend_factor(0.0, gamma), 0.0);
            assert!((blend_factor(1.0, gamma) - 1.0).abs() < 1e-12);
            let mut last = 0.0;
            for i in 0..=100 {
                let t = f64::from(i) / 100.0;
                let a = blend_factor(t, gamma).powf(gamma);
                let b = blend_factor(1.0 - t, gamma).powf(gamma);
                assert!((a + b - 1.0).abs() < 1e-9, "t {t}: {a} + {b}");
                let v = blend_factor(t, gamma);
                assert!(v >= last, "the ramp only rises");
                last = v;
            }
        }
        // Through gamma 2.2 the middle of the overlap keeps 73% of the pixel value.
        assert!((blend_factor(0.5, 2.2) - 0.5f64.powf(1.0 / 2.2)).abs() < 1e-12);
    }

    #[test]
    fn two_halves_of_a_wide_video_with_an_overlap_blend_toward_each_other() {
        // A 3840x1080 master across two projectors, 128 pixels shown by both.
        let crops = [
            Some(("wide", rect(0, 0, 1984, 1080))),
            Some(("wide", rect(1856, 0, 1984, 1080))),
            None,
        ];
        let b = blends(&crops, &[2.2, 1.8, 2.2]);
        assert_eq!(
            (b[0].left, b[0].right, b[0].top, b[0].bottom),
            (0, 128, 0, 0)
        );
        assert_eq!((b[1].left, b[1].right), (128, 0));
        assert_eq!(b[1].gamma, 1.8);
        assert!(b[2].is_none());
        // Halves that only meet, or crops of different files, do not blend.
        let meet = [
            Some(("wide", rect(0, 0, 1920, 1080))),
            Some(("wide", rect(1920, 0, 1920, 1080))),
        ];
        assert!(blends(&meet, &[2.2, 2.2]).iter().all(Blend::is_none));
        let other = [
            Some(("a", rect(0, 0, 1984, 1080))),
            Some(("b", rect(1856, 0, 1984, 1080))),
        ];
        assert!(blends(&other, &[2.2, 2.2]).iter().all(Blend::is_none));
    }

    #[test]
    fn stacked_outputs_blend_top_and_bottom() {
        let crops = [
            Some((0, rect(0, 0, 1920, 600))),
            Some((0, rect(0, 480, 1920, 600))),
        ];
        let b = blends(&crops, &[2.2, 2.2]);
        assert_eq!((b[0].bottom, b[0].top), (120, 0));
        assert_eq!((b[1].top, b[1].bottom), (120, 0));
    }

    #[test]
    fn a_song_table_decodes_each_file_once_and_leaves_unnamed_outputs_black() {
        let names: Vec<String> = ["left", "right", "led", "spare"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let table = SongVideo::PerOutput(vec![
            ("left".into(), "wide.mp4".into()),
            ("right".into(), "wide.mp4".into()),
            ("led".into(), "led.mp4".into()),
        ]);
        let c = Composite::of(&table, &names);
        assert_eq!(
            c.files,
            vec![PathBuf::from("wide.mp4"), PathBuf::from("led.mp4")]
        );
        assert_eq!(c.shown, vec![Some(0), Some(0), Some(1), None]);
        assert_eq!(
            c.filter_graph().as_deref(),
            Some("[vid1][vid2]xstack=inputs=2:layout=0_0|w0_0:fill=black[vo]")
        );
        let all = Composite::of(&SongVideo::All("a.mp4".into()), &names);
        assert_eq!(all.files.len(), 1);
        assert_eq!(all.shown, vec![Some(0); 4]);
        assert_eq!(all.filter_graph(), None);
        let three = Composite {
            files: vec!["a".into(), "b".into(), "c".into()],
            shown: vec![],
        };
        assert_eq!(
            three.filter_graph().as_deref(),
            Some("[vid1][vid2][vid3]xstack=inputs=3:layout=0_0|w0_0|w0+w1_0:fill=black[vo]")
        );
    }

    #[test]
    fn each_output_sees_its_crop_of_its_file_in_the_composite() {
        let outputs = vec![
            output("left", Some(rect(0, 0, 704, 360))),
            output("right", Some(rect(576, 0, 704, 360))),
            output("led", None),
            output("spare", None),
        ];
        let names: Vec<String> = outputs.iter().map(|o| o.name.clone()).collect();
        let table = SongVideo::PerOutput(vec![
            ("left".into(), "wide.mp4".into()),
            ("right".into(), "wide.mp4".into()),
            ("led".into(), "led.mp4".into()),
        ]);
        let c = Composite::of(&table, &names);
        let v = views(&c, &[(1280, 360), (640, 360)], &outputs).unwrap();
        assert_eq!(v[0].source, Some(rect(0, 0, 704, 360)));
        assert_eq!(v[1].source, Some(rect(576, 0, 704, 360)));
        assert_eq!(v[0].blend.right, 128);
        assert_eq!(v[1].blend.left, 128);
        // The LED wall's file sits right of the wide one in the composite; no crop: all of it.
        assert_eq!(v[2].source, Some(rect(1280, 0, 640, 360)));
        assert!(v[2].blend.is_none());
        assert_eq!(v[3].source, None);
        // A crop outside its file is refused, naming the output and crop.
        let mut bad = outputs.clone();
        bad[1].crop = Some(rect(640, 0, 704, 360));
        let e = views(&c, &[(1280, 360), (640, 360)], &bad).unwrap_err();
        assert!(e.contains("\"right\"") && e.contains("crop"), "{e}");
    }

    #[test]
    fn a_picture_is_drawn_as_large_as_the_outputs_need_and_no_larger() {
        let whole = rect(0, 0, 1280, 720);
        // Shown whole on two 640x360 screens: half size.
        assert_eq!(
            picture_size(
                (1280, 720),
                &[Some(whole), Some(whole)],
                &[(640, 360), (640, 360)]
            ),
            (640, 360)
        );
        // One of them 1920x1080: as decoded, never enlarged.
        assert_eq!(
            picture_size(
                (1280, 720),
                &[Some(whole), Some(whole)],
                &[(640, 360), (1920, 1080)]
            ),
            (1280, 720)
        );
        // Two halves of 3840x1080 on 1920x1080 projectors: each half needs its full size.
        assert_eq!(
            picture_size(
                (3840, 1080),
                &[
                    Some(rect(0, 0, 1920, 1080)),
                    Some(rect(1920, 0, 1920, 1080))
                ],
                &[(1920, 1080), (1920, 1080)]
            ),
            (3840, 1080)
        );
        // The same on 960x540 screens: half.
        assert_eq!(
            picture_size(
                (3840, 1080),
                &[
                    Some(rect(0, 0, 1920, 1080)),
                    Some(rect(1920, 0, 1920, 1080))
                ],
                &[(960, 540), (960, 540)]
            ),
            (1920, 540)
        );
        // An output showing nothing asks for nothing; none at all: as decoded.
        assert_eq!(
            picture_size(
                (1280, 720),
                &[None, Some(whole)],
                &[(3840, 2160), (640, 360)]
            ),
            (640, 360)
        );
        assert_eq!(
            picture_size((1280, 720), &[None], &[(640, 360)]),
            (1280, 720)
        );
    }

    #[test]
    fn outputs_wait_the_difference_to_the_slowest_screens_offset() {
        let mut outputs = vec![output("projector", None), output("led", None)];
        outputs[1].offset_ms = Some(80.0);
        let (lead, delays) = delays_ms(&outputs, 30.0);
        assert_eq!(lead, 80.0);
        assert_eq!(delays, vec![50.0, 0.0]);
        assert_eq!(delays_ms(&[], 12.0), (12.0, vec![]));
    }
}
