//! The test card: a picture playhead draws itself, no media file needed, that follows the DAW
//! like any song and shows at a glance whether picture and sound are together.
//!
//! What it shows (1280x720, drawn by libavfilter inside mpv from the frame's time, so a
//! locate, a loop jump or a chase lands on the right picture like any video):
//! - on every beat the whole picture turns bright for [`FLASH_S`] from the beat's own frame:
//!   white on the downbeat, light grey ([`BEAT_GREY`]) on the other beats; between flashes it
//!   is dark ([`DARK`]);
//! - the beat's number, big, in the middle; the bar, the frame number and the time along the
//!   top;
//! - a green block that sweeps across once per beat: a dropped or late frame shows as a jump
//!   or a stall of the sweep;
//! - the frame code band of the demo show along the bottom (the test kit's reader reads it).
//!
//! Frame-exact beats: the card's frame rate is chosen from the tempo so that every beat starts
//! a frame ([`TestCard::frames_per_beat`] frames per beat, at most [`MAX_FPS`] frames a
//! second): at 120 BPM, 60 frames a second and 30 to a beat. The flash of beat `b` is frame
//! `b x frames_per_beat`, due exactly at the beat.
//!
//! The stream the filters draw on is a tiny raw video ([`TestCard::y4m_header`] and
//! [`Y4M_FRAME`]) the program writes once; its frames carry nothing but their time.

use crate::chase::position::TimeSignature;

/// The name that stands for the test card where a video file is expected (`video =
/// "test-card"` in a show file).
pub const TEST_CARD: &str = "test-card";
/// The tempo of a test card whose song gives none.
pub const DEFAULT_BPM: f64 = 120.0;
/// The highest frame rate the card is drawn at.
pub const MAX_FPS: f64 = 60.0;
/// How long a flash lasts, from its beat.
pub const FLASH_S: f64 = 0.1;
/// The picture's size.
pub const WIDTH: u32 = 1280;
pub const HEIGHT: u32 = 720;
/// The background between flashes (RGB).
pub const DARK: u32 = 0x101010;
/// The flash of a beat other than the downbeat (RGB); the downbeat's is white.
pub const BEAT_GREY: u32 = 0xc0c0c0;
/// How long the raw stream under the card lasts; a song that runs longer ends there.
pub const LENGTH_S: f64 = 2.0 * 3600.0;

/// The raw stream's frame: a 2x2 picture, 4:2:0, after its `FRAME` mark (12 bytes a frame).
pub const Y4M_FRAME: &[u8] = b"FRAME\n\x10\x10\x10\x10\x80\x80";

/// What a frame of the card shows on its own, apart from the numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flash {
    None,
    Beat,
    Downbeat,
}

/// Fonts the card's text is drawn with (DejaVu, as Debian installs it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fonts {
    pub bold: String,
    pub mono: String,
}

/// A test card at one tempo and meter.
#[derive(Clone, Debug, PartialEq)]
pub struct TestCard {
    /// Tempo in quarter notes a minute, to a thousandth.
    bpm: f64,
    /// Beats to a bar.
    beats_per_bar: u32,
    /// The beat's note value (4: quarter notes).
    beat_unit: u32,
    frames_per_beat: u32,
}

impl TestCard {
    /// The card for `bpm` (quarter notes a minute, within the tempo map's range) in
    /// `time_signature`: a beat is one of the signature's units (a quarter in 4/4, an eighth
    /// in 6/8), as a DAW's metronome counts.
    pub fn new(bpm: f64, time_signature: TimeSignature) -> TestCard {
        let bpm = if bpm.is_finite() && bpm > 0.0 {
            (bpm * 1000.0).round() / 1000.0
        } else {
            DEFAULT_BPM
        };
        let beat_unit = u32::from(time_signature.denominator()).max(1);
        let beats_per_bar = u32::from(time_signature.numerator()).max(1);
        let beat_s = 240.0 / (bpm * f64::from(beat_unit));
        let frames_per_beat = ((beat_s * MAX_FPS) + 1e-9).floor().max(1.0) as u32;
        TestCard {
            bpm,
            beats_per_bar,
            beat_unit,
            frames_per_beat,
        }
    }

    /// The tempo the card is drawn at (the one asked for, to a thousandth of a BPM).
    pub fn bpm(&self) -> f64 {
        self.bpm
    }

    /// One beat, in seconds.
    pub fn beat_s(&self) -> f64 {
        240.0 / (self.bpm * f64::from(self.beat_unit))
    }

    pub fn frames_per_beat(&self) -> u32 {
        self.frames_per_beat
    }

    pub fn beats_per_bar(&self) -> u32 {
        self.beats_per_bar
    }

    /// The beat's note value (4: quarter notes).
    pub fn beat_unit(&self) -> u32 {
        self.beat_unit
    }

    /// The frame rate as a fraction (numerator, denominator), lowest terms: `frames_per_beat`
    /// frames in each beat.
    pub fn frame_rate(&self) -> (u64, u64) {
        // fps = frames_per_beat / beat_s = frames_per_beat x bpm x unit / 240, with the bpm
        // in thousandths.
        let milli_bpm = (self.bpm * 1000.0).round() as u64;
        let num = u64::from(self.frames_per_beat) * milli_bpm * u64::from(self.beat_unit);
        let den = 240_000u64;
        let g = gcd(num, den);
        (num / g, den / g)
    }

    pub fn fps(&self) -> f64 {
        let (n, d) = self.frame_rate();
        n as f64 / d as f64
    }

    /// How many frames a flash lasts: [`FLASH_S`], rounded up to whole frames.
    pub fn flash_frames(&self) -> u32 {
        ((FLASH_S * self.fps()) - 1e-9).ceil().max(1.0) as u32
    }

    /// What frame `frame` flashes.
    pub fn flash(&self, frame: u64) -> Flash {
        let beat = u64::from(self.frames_per_beat);
        let bar = beat * u64::from(self.beats_per_bar);
        let lit = u64::from(self.flash_frames());
        if frame % bar < lit {
            Flash::Downbeat
        } else if frame % beat < lit {
            Flash::Beat
        } else {
            Flash::None
        }
    }

    /// The bar and beat (both from 1) frame `frame` is in.
    pub fn bar_beat(&self, frame: u64) -> (u64, u32) {
        let beat = frame / u64::from(self.frames_per_beat);
        let per_bar = u64::from(self.beats_per_bar);
        (beat / per_bar + 1, (beat % per_bar) as u32 + 1)
    }

    /// The time frame `frame` is due, in seconds of the song.
    pub fn frame_time_s(&self, frame: u64) -> f64 {
        let (n, d) = self.frame_rate();
        frame as f64 * d as f64 / n as f64
    }

    /// How many frames the raw stream holds ([`LENGTH_S`]).
    pub fn frame_count(&self) -> u64 {
        (LENGTH_S * self.fps()).ceil() as u64
    }

    /// The raw stream's header: a 2x2 picture at the card's frame rate.
    pub fn y4m_header(&self) -> String {
        let (n, d) = self.frame_rate();
        format!("YUV4MPEG2 W2 H2 F{n}:{d} Ip A1:1 C420jpeg\n")
    }

    /// A file name for the raw stream of this frame rate, so cards of different tempos can
    /// lie side by side.
    pub fn stream_name(&self) -> String {
        let (n, d) = self.frame_rate();
        format!("test-card-{n}-{d}.y4m")
    }

    /// The libavfilter graph that draws the card on the raw stream's frames, as mpv's `vf`
    /// option takes it (`lavfi=[...]`). Without fonts, the numbers are left out and the rest
    /// (flashes, sweep, frame code) is drawn.
    pub fn filter(&self, fonts: Option<&Fonts>) -> String {
        let fps = self.fps();
        let k = self.frames_per_beat;
        let bar = k * self.beats_per_bar;
        let lit = self.flash_frames();
        // The frame's number, from its time: a locate or a loop jump restarts the filters'
        // own count, never the time.
        let f = format!("round(t*{fps:.9})");
        let mut g = vec![format!("pad={WIDTH}:{HEIGHT}:0:0:0x{DARK:06x}")];
        g.push(format!(
            "drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='lt(mod({f}\\,{bar})\\,{lit})'"
        ));
        g.push(format!(
            "drawbox=x=0:y=0:w=iw:h=ih:color=0x{BEAT_GREY:06x}:t=fill:enable='lt(mod({f}\\,{k})\\,{lit})*gte(mod({f}\\,{bar})\\,{lit})'"
        ));
        if let Some(fonts) = fonts {
            let (bold, mono) = (escape_path(&fonts.bold), escape_path(&fonts.mono));
            let text = "fontcolor=white:borderw=6:bordercolor=black";
            g.push(format!(
                "drawtext=fontfile='{bold}':fontsize=300:{text}:x=(w-tw)/2:y=130:text='%{{eif\\:mod(floor({f}/{k})\\,{per})+1\\:d}}'",
                per = self.beats_per_bar
            ));
            g.push(format!(
                "drawtext=fontfile='{mono}':fontsize=44:{text}:x=40:y=30:text='bar %{{eif\\:floor({f}/{bar})+1\\:d}}   frame %{{eif\\:{f}\\:d}}   %{{pts\\:hms}}'"
            ));
            g.push(format!(
                "drawtext=fontfile='{mono}':fontsize=30:{text}:x=40:y=90:text='test card  {bpm} BPM  {num}/{unit}  {fps:.3} fps'",
                bpm = trim(self.bpm),
                num = self.beats_per_bar,
                unit = self.beat_unit,
            ));
        }
        // The sweep: across the picture once per beat, a block a frame.
        g.push("drawbox=x=0:y=560:w=iw:h=60:color=black:t=fill".to_string());
        let step = (WIDTH - 40) / k.max(1);
        for i in 0..k {
            g.push(format!(
                "drawbox=x={}:y=565:w={}:h=50:color=0x00e000:t=fill:enable='eq(mod({f}\\,{k})\\,{i})'",
                20 + i * step,
                step.max(2) - 1,
            ));
        }
        // The frame code band (the layout of media/make-demo.sh, at twice its size).
        g.push(format!(
            "drawbox=x=0:y={}:w=iw:h={}:color=black:t=fill",
            HEIGHT - 80,
            80
        ));
        let cell = |k: u32, enable: &str| {
            let mut s = format!(
                "drawbox=x={}:y={}:w=60:h=60:color=white:t=fill",
                10 + 60 * k,
                HEIGHT - 70
            );
            if !enable.is_empty() {
                s.push_str(&format!(":enable='{enable}'"));
            }
            s
        };
        g.push(cell(0, ""));
        g.push(cell(20, ""));
        let mut ones = String::from("0");
        for b in 0..16u32 {
            let bit = format!("mod(floor({f}/{})\\,2)", 1u32 << b);
            g.push(cell(17 - b, &bit));
            ones.push('+');
            ones.push_str(&bit);
        }
        g.push(cell(18, &format!("eq(mod({ones}\\,2)\\,0)")));
        format!("lavfi=[{}]", g.join(","))
    }
}

/// Escapes a font's path for a filter option inside single quotes.
fn escape_path(path: &str) -> String {
    path.replace('\\', "/")
        .replace('\'', "")
        .replace(':', "\\\\:")
        .replace(']', "")
        .replace(',', "\\,")
}

fn trim(bpm: f64) -> String {
    let s = format!("{bpm:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(bpm: f64) -> TestCard {
        TestCard::new(bpm, TimeSignature::FOUR_FOUR)
    }

    #[test]
    fn every_beat_starts_a_frame_at_most_sixty_a_second() {
        for bpm in [
            20.0, 60.0, 90.0, 100.0, 120.0, 127.5, 128.0, 140.0, 174.0, 999.0,
        ] {
            let c = card(bpm);
            assert!(c.fps() <= MAX_FPS + 1e-9, "{bpm}: {}", c.fps());
            assert!(c.fps() >= 30.0, "{bpm}: {}", c.fps());
            // Beat b's frame is due at exactly the beat's time.
            for b in [1u64, 7, 1000, 7919] {
                let frame = b * u64::from(c.frames_per_beat());
                let due = c.frame_time_s(frame);
                let beat = b as f64 * 60.0 / bpm;
                assert!((due - beat).abs() < 1e-9 * beat.max(1.0), "{bpm} beat {b}");
            }
        }
        assert_eq!(card(120.0).frame_rate(), (60, 1));
        assert_eq!(card(120.0).frames_per_beat(), 30);
        assert_eq!(card(128.0).frames_per_beat(), 28);
        assert_eq!(card(128.0).frame_rate(), (896, 15));
    }

    #[test]
    fn flashes_on_the_beat_white_on_the_downbeat() {
        let c = card(120.0);
        assert_eq!(c.flash_frames(), 6);
        assert_eq!(c.flash(0), Flash::Downbeat);
        assert_eq!(c.flash(5), Flash::Downbeat);
        assert_eq!(c.flash(6), Flash::None);
        assert_eq!(c.flash(29), Flash::None);
        assert_eq!(c.flash(30), Flash::Beat);
        assert_eq!(c.flash(90), Flash::Beat);
        assert_eq!(c.flash(120), Flash::Downbeat);
        assert_eq!(c.bar_beat(0), (1, 1));
        assert_eq!(c.bar_beat(95), (1, 4));
        assert_eq!(c.bar_beat(120), (2, 1));
        let waltz = TestCard::new(120.0, TimeSignature::new(3, 4).unwrap());
        assert_eq!(waltz.flash(90), Flash::Downbeat);
        assert_eq!(waltz.bar_beat(90), (2, 1));
        let six_eight = TestCard::new(120.0, TimeSignature::new(6, 8).unwrap());
        assert_eq!(six_eight.beat_s(), 0.25);
    }

    #[test]
    fn the_stream_header_names_the_rate() {
        let c = card(128.0);
        assert_eq!(c.y4m_header(), "YUV4MPEG2 W2 H2 F896:15 Ip A1:1 C420jpeg\n");
        assert_eq!(c.stream_name(), "test-card-896-15.y4m");
        assert_eq!(Y4M_FRAME.len(), 12);
        assert!(c.frame_count() as f64 >= LENGTH_S * c.fps());
    }

    #[test]
    fn the_filter_draws_the_frame_code_and_quotes_the_fonts() {
        let fonts = Fonts {
            bold: "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf".into(),
            mono: "/opt/my fonts/Mono,1.ttf".into(),
        };
        let f = card(120.0).filter(Some(&fonts));
        assert!(f.starts_with("lavfi=[pad=1280:720"), "{f}");
        assert!(f.ends_with(']'));
        // 16 data cells, two markers and the parity cell.
        assert_eq!(f.matches("w=60:h=60").count(), 19);
        assert!(f.contains("fontfile='/opt/my fonts/Mono\\,1.ttf'"), "{f}");
        // Brackets close the graph for mpv: none inside it.
        assert!(!f[7..f.len() - 1].contains(']'));
        let plain = card(120.0).filter(None);
        assert!(!plain.contains("drawtext"));
    }
}
