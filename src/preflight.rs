//! Probing a video before the show: does it open, how fast is its first frame, how fast does
//! it locate. Runs a separate mpv core with no video output, so it never touches the picture on
//! screen.

use crate::clock;
use crate::mpv::{EndReason, Event, Mpv};
use std::path::Path;
use std::time::Duration;

/// A locate slower than this makes a mid-song start or a drift seek visibly late.
pub const SLOW_LOCATE: Duration = Duration::from_millis(250);

/// What a probe found out about a video.
#[derive(Clone, Debug)]
pub struct VideoProbe {
    /// Length in seconds.
    pub duration_s: f64,
    /// Picture size in pixels.
    pub width_px: i64,
    pub height_px: i64,
    /// Frames per second, as the container says.
    pub fps: f64,
    /// Time to open the file and decode its first frame.
    pub first_frame: Duration,
    /// The slowest of a few exact seeks to places between keyframes.
    pub slowest_locate: Duration,
    /// Where the video ends before its container says it does (a file cut short, or with a
    /// broken index), as the operator is told it; `None` when it plays to its end.
    pub ends_early: Option<String>,
}

impl VideoProbe {
    /// True when locating is slow enough to show in a show.
    pub fn locates_slowly(&self) -> bool {
        self.slowest_locate > SLOW_LOCATE
    }
}

fn wait_for(
    events: &mut crate::mpv::Events,
    video: &Path,
    timeout: Duration,
    want: impl Fn(&Event) -> bool,
) -> Result<(), String> {
    let deadline = clock::now() + timeout;
    loop {
        let left = deadline
            .checked_duration_since(clock::now())
            .ok_or_else(|| {
                format!(
                    "'{}' took longer than {timeout:?} to respond",
                    video.display()
                )
            })?;
        match events.wait(left.as_secs_f64().min(0.5)) {
            Some(Event::EndFile(EndReason::Error(code))) => {
                return Err(format!(
                    "cannot play video '{}': {}",
                    video.display(),
                    crate::mpv::error_string(code)
                ))
            }
            Some(ev) if want(&ev) => return Ok(()),
            _ => {}
        }
    }
}

/// Opens `video` in a core of its own, decodes its first frame and times `seeks` exact seeks
/// spread over the file (at positions between keyframes, where a long keyframe interval hurts).
pub fn probe_video(video: &Path, seeks: usize) -> Result<VideoProbe, String> {
    crate::player::check_video_file(video)?;
    let started = clock::now();
    // The show's own core settings, with nothing drawn and no sound.
    let mut settings = crate::player::CORE_OPTIONS.to_vec();
    settings.extend([("vo", "null"), ("audio", "no")]);
    let (mpv, mut events) = Mpv::new(&settings).map_err(|e| e.to_string())?;
    let path = video.display();
    mpv.load_file(video)
        .map_err(|e| format!("cannot load video '{path}': {e}"))?;
    let timeout = Duration::from_secs(10);
    wait_for(&mut events, video, timeout, |e| *e == Event::FileLoaded)?;
    match mpv.get_string("vid") {
        Ok(v) if v != "no" && !v.is_empty() => {}
        _ => return Err(crate::player::Player::no_video_track(video)),
    }
    wait_for(&mut events, video, timeout, |e| {
        *e == Event::PlaybackRestart
    })?;
    let first_frame = started.elapsed();
    let duration_s = mpv.get_double("duration").unwrap_or(0.0);
    let fps = mpv.get_double("container-fps").unwrap_or(0.0);
    let width_px = mpv.get_int("width").unwrap_or(0);
    let height_px = mpv.get_int("height").unwrap_or(0);
    if mpv.get_flag("eof-reached").unwrap_or(false) {
        // mpv reached the end before it had a frame: the index points at nothing it can read.
        return Err(format!(
            "no frame of video '{path}' decodes (its index is damaged, or the file is cut \
             short): copy the file again, or re-encode it"
        ));
    }
    let image = mpv.get_flag("current-tracks/video/image").unwrap_or(false);
    let ends_early = if image {
        None
    } else {
        check_end(&mpv, &mut events, video, duration_s)?
    };

    let mut times = Vec::new();
    for i in 0..seeks {
        // Spread over the file, each just before a whole second: the farthest from a keyframe
        // in files with one keyframe a second, and anywhere in longer groups of pictures.
        let target_s = (duration_s * (i as f64 + 0.5) / seeks as f64).floor() + 0.96;
        if duration_s <= 0.0 || target_s >= duration_s {
            continue;
        }
        let t = clock::now();
        mpv.command(&["seek", &format!("{target_s:.3}"), "absolute+exact"])
            .map_err(|e| format!("cannot seek in '{path}': {e}"))?;
        wait_for(&mut events, video, timeout, |e| {
            *e == Event::PlaybackRestart
        })?;
        times.push(t.elapsed());
    }
    let slowest_locate = times.iter().max().copied().unwrap_or_default();
    Ok(VideoProbe {
        duration_s,
        width_px,
        height_px,
        fps,
        first_frame,
        slowest_locate,
        ends_early,
    })
}

/// How much shorter than its container says a video's picture may end (an audio track a
/// little longer than the picture is common) before the file is taken as cut short.
pub const END_TOLERANCE_S: f64 = 1.0;

/// Decodes the last frames of `video` (loaded in `mpv`, paused on its first frame): a file cut
/// short, or whose index points past its data, ends before `duration_s`, the length its
/// container gives; then the answer says where it ends.
fn check_end(
    mpv: &Mpv,
    events: &mut crate::mpv::Events,
    video: &Path,
    duration_s: f64,
) -> Result<Option<String>, String> {
    if !(duration_s.is_finite() && duration_s > END_TOLERANCE_S) {
        return Ok(None);
    }
    let mut probe = EndProbe {
        mpv,
        events,
        video,
        duration_s,
    };
    let from_s = (duration_s - END_TOLERANCE_S - 0.5).max(0.0);
    let ends_at = match probe.play(from_s, f64::INFINITY)? {
        Played::To(end_s) if end_s >= duration_s - END_TOLERANCE_S => return Ok(None),
        Played::To(end_s) => end_s,
        // Nothing decodes at the end: where do the frames stop? Halve the span between the
        // first frame and there until a play reaches the end (or 0.1 s is left).
        Played::Nothing => {
            let (mut good_s, mut bad_s) = (0.0, from_s);
            loop {
                if bad_s - good_s <= 0.1 {
                    break good_s;
                }
                let mid_s = (good_s + bad_s) / 2.0;
                match probe.play(mid_s, mid_s + 1.0)? {
                    Played::To(end_s) => break end_s,
                    Played::Past => good_s = mid_s,
                    Played::Nothing => bad_s = mid_s,
                }
            }
        }
        Played::Past => return Ok(None),
    };
    Ok(Some(format!(
        "video '{}' ends at {ends_at:.1} s of its {duration_s:.1} s: the file is cut short \
         or its index is damaged (an unfinished copy or download?); the picture would freeze \
         there in the show. Copy the file again, or re-encode it",
        video.display()
    )))
}

/// What playing a stretch of a video found.
enum Played {
    /// Frames up to the time asked.
    Past,
    /// Frames, and then the end, with its last frame at this time.
    To(f64),
    /// No frame there.
    Nothing,
}

/// Plays stretches of a video in the preflight's core, as fast as it decodes.
struct EndProbe<'a> {
    mpv: &'a Mpv,
    events: &'a mut crate::mpv::Events,
    video: &'a Path,
    duration_s: f64,
}

impl EndProbe<'_> {
    const TIMEOUT: Duration = Duration::from_secs(10);

    /// Seeks to `at_s` and waits until mpv has landed there: true on a frame (or what mpv
    /// takes for one until it reads on), false at the end. A restart elsewhere is an earlier
    /// seek's (mpv seeks again by itself at the end of a file): this one's comes after it.
    fn seek(&mut self, at_s: f64) -> Result<bool, String> {
        let path = self.video.display();
        self.mpv
            .command(&["seek", &format!("{at_s:.3}"), "absolute+exact"])
            .map_err(|e| format!("cannot seek in '{path}': {e}"))?;
        loop {
            wait_for(self.events, self.video, Self::TIMEOUT, |e| {
                *e == Event::PlaybackRestart
            })?;
            if self.mpv.get_flag("eof-reached").unwrap_or(false) {
                return Ok(false);
            }
            let pos_s = self.mpv.get_double("time-pos").unwrap_or(f64::NAN);
            if (pos_s - at_s).abs() < 0.5 {
                return Ok(true);
            }
        }
    }

    /// Plays from `from_s` until `until_s` or the end. At the end mpv holds the last frame it
    /// decoded, or, when it decoded none, stands at the container's length.
    fn play(&mut self, from_s: f64, until_s: f64) -> Result<Played, String> {
        let path = self.video.display().to_string();
        let result = if self.seek(from_s)? {
            self.mpv
                .set_double("speed", 100.0)
                .and_then(|_| self.mpv.set_flag("pause", false))
                .map_err(|e| format!("cannot play '{path}': {e}"))?;
            let deadline = clock::now() + Self::TIMEOUT;
            let played = loop {
                if self.mpv.get_flag("eof-reached").unwrap_or(false) {
                    let end_s = self.mpv.get_double("time-pos").unwrap_or(self.duration_s);
                    break if end_s > from_s + 1e-3 && end_s < self.duration_s - 1e-3 {
                        Played::To(end_s)
                    } else {
                        Played::Nothing
                    };
                }
                if self.mpv.get_double("time-pos").unwrap_or(0.0) >= until_s {
                    break Played::Past;
                }
                if clock::now() >= deadline {
                    let _ = self.mpv.set_flag("pause", true);
                    return Err(format!(
                        "'{path}' did not play from {from_s:.1} s to its end in {} s",
                        Self::TIMEOUT.as_secs()
                    ));
                }
                if let Some(Event::EndFile(EndReason::Error(code))) = self.events.wait(0.01) {
                    return Err(format!(
                        "cannot play video '{path}': {}",
                        crate::mpv::error_string(code)
                    ));
                }
            };
            let _ = self.mpv.set_flag("pause", true);
            let _ = self.mpv.set_double("speed", 1.0);
            played
        } else {
            Played::Nothing
        };
        if !matches!(result, Played::Past) {
            // Back to the first frame, so that what mpv does at the end is over before the
            // next seek: an end reached then is that seek's.
            while !self.seek(0.0)? {}
        }
        Ok(result)
    }
}

/// The advice for a file that locates slowly.
pub fn slow_locate_advice(video: &Path, probe: &VideoProbe) -> String {
    format!(
        "locating in '{}' takes up to {} ms: starts away from the top and drift seeks will be late. \
         Re-encode it with a keyframe every second, e.g. \
         ffmpeg -i IN -c:v libx264 -crf 18 -g {} -bf 0 -movflags +faststart OUT.mp4",
        video.display(),
        probe.slowest_locate.as_millis(),
        probe.fps.round().max(1.0)
    )
}

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Worth knowing; the show would still run.
    Warn,
    /// The show would fail.
    Fail,
}

/// The preflight report: one line per finding.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub findings: Vec<(Level, String, String)>,
}

impl Report {
    fn add(&mut self, level: Level, topic: &str, text: impl Into<String>) {
        self.findings.push((level, topic.to_string(), text.into()));
    }

    /// True when anything would fail in the show.
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|(l, _, _)| *l == Level::Fail)
    }

    /// A report of a show file that could not be read.
    pub fn show_file_error(message: String) -> Report {
        let mut r = Report::default();
        r.add(Level::Fail, "show file", message);
        r
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "playhead check")?;
        for (level, topic, text) in &self.findings {
            let tag = match level {
                Level::Ok => "ok  ",
                Level::Warn => "warn",
                Level::Fail => "FAIL",
            };
            writeln!(f, "  {tag}  {topic:<12} {text}")?;
        }
        let fails = self
            .findings
            .iter()
            .filter(|(l, _, _)| *l == Level::Fail)
            .count();
        let warns = self
            .findings
            .iter()
            .filter(|(l, _, _)| *l == Level::Warn)
            .count();
        if fails > 0 {
            writeln!(
                f,
                "NOT READY: {fails} problem{} would stop the show{}.",
                if fails == 1 { "" } else { "s" },
                if warns > 0 {
                    format!(", and {warns} warning{}", if warns == 1 { "" } else { "s" })
                } else {
                    String::new()
                }
            )
        } else if warns > 0 {
            writeln!(
                f,
                "READY, with {warns} warning{} to read.",
                if warns == 1 { "" } else { "s" }
            )
        } else {
            writeln!(f, "READY for the show.")
        }
    }
}

/// Song `song`'s crops on the outputs fit its files (of `sizes`, in the order the song's
/// composite lists them).
fn check_crops(show: &crate::show::Show, song: usize, sizes: &[(i64, i64)], r: &mut Report) {
    if show.outputs.is_empty() {
        return;
    }
    let s = &show.songs[song];
    let names: Vec<String> = show.outputs.iter().map(|o| o.name.clone()).collect();
    let composite = crate::outputs::Composite::of(&s.outputs_video(), &names);
    let sizes: Vec<(u32, u32)> = sizes
        .iter()
        .map(|&(w, h)| {
            (
                u32::try_from(w).unwrap_or(0).max(1),
                u32::try_from(h).unwrap_or(0).max(1),
            )
        })
        .collect();
    if let Err(e) = crate::outputs::views(&composite, &sizes, &show.outputs) {
        r.add(
            Level::Fail,
            &format!("video {}", song + 1),
            format!("'{}': {e}", s.title),
        );
    }
}

/// A song with a file per output: each file plays, and the crops fit.
fn check_per_output(show: &crate::show::Show, song: usize, r: &mut Report) {
    let s = &show.songs[song];
    let topic = format!("video {}", song + 1);
    let names: Vec<String> = show.outputs.iter().map(|o| o.name.clone()).collect();
    let composite = crate::outputs::Composite::of(&s.outputs_video(), &names);
    let mut sizes = Vec::new();
    for file in &composite.files {
        let on: Vec<&str> = s
            .per_output
            .iter()
            .filter(|(_, f)| f == file)
            .map(|(n, _)| n.as_str())
            .collect();
        match probe_video(file, 3) {
            Ok(VideoProbe {
                ends_early: Some(e),
                ..
            }) => r.add(Level::Fail, &topic, format!("'{}': {e}", s.title)),
            Ok(p) => {
                r.add(
                    Level::Ok,
                    &topic,
                    format!(
                        "'{}' {} on {}: {}x{}, {:.2} fps, {}:{:02}",
                        s.title,
                        file.display(),
                        on.join(", "),
                        p.width_px,
                        p.height_px,
                        p.fps,
                        (p.duration_s / 60.0).floor(),
                        (p.duration_s % 60.0).floor(),
                    ),
                );
                sizes.push((p.width_px, p.height_px));
            }
            Err(e) => r.add(Level::Fail, &topic, format!("'{}': {e}", s.title)),
        }
    }
    let black: Vec<&str> = names
        .iter()
        .filter(|n| !s.per_output.iter().any(|(o, _)| o == *n))
        .map(|n| n.as_str())
        .collect();
    if !black.is_empty() {
        r.add(
            Level::Ok,
            &topic,
            format!("'{}': black on {}", s.title, black.join(", ")),
        );
    }
    if sizes.len() == composite.files.len() {
        check_crops(show, song, &sizes, r);
    }
}

/// Each output: the monitor it goes on (found or not), its offset and its crop.
fn check_outputs(show: &crate::show::Show, screens: Option<&[(String, u32, u32)]>, r: &mut Report) {
    use crate::outputs::Monitor;
    for (i, o) in show.outputs.iter().enumerate() {
        let topic = format!("output {}", i + 1);
        let found = screens.and_then(|screens| match &o.monitor {
            None => screens.first().map(|s| (1, s)),
            Some(Monitor::Index(n)) => screens.get(n.wrapping_sub(1)).map(|s| (*n, s)),
            Some(Monitor::Name(name)) => screens
                .iter()
                .enumerate()
                .find(|(_, s)| s.0.eq_ignore_ascii_case(name))
                .map(|(k, s)| (k + 1, s)),
        });
        let wanted = o
            .monitor
            .as_ref()
            .map_or("the primary screen".to_string(), |m| m.to_string());
        let offset = o
            .offset_ms
            .map_or("the show's latency offset".to_string(), |ms| {
                format!("latency offset {ms:+.1} ms")
            });
        let crop = o.crop.map_or("the whole video".to_string(), |c| {
            format!(
                "[{}, {}, {}, {}] of the video, blend gamma {}",
                c.x, c.y, c.width, c.height, o.blend_gamma
            )
        });
        match (screens, found) {
            (Some(_), Some((n, (name, w, h)))) => r.add(
                Level::Ok,
                &topic,
                format!(
                    "'{}' on screen {n} {name} {w}x{h}; {offset}; shows {crop}",
                    o.name
                ),
            ),
            (Some(_), None) => r.add(
                Level::Warn,
                &topic,
                format!(
                    "'{}': there is no {wanted} now; it goes on the primary screen until that \
                     one is plugged in; {offset}; shows {crop}",
                    o.name
                ),
            ),
            (None, _) => r.add(
                Level::Ok,
                &topic,
                format!("'{}' on {wanted}; {offset}; shows {crop}", o.name),
            ),
        }
    }
}

/// The screens the window system offers, as (name, width, height), or why there are none.
pub fn list_screens() -> Result<Vec<(String, u32, u32)>, String> {
    use winit::application::ApplicationHandler;
    use winit::event_loop::{ActiveEventLoop, EventLoop};
    struct Lister(Vec<(String, u32, u32)>);
    impl ApplicationHandler for Lister {
        fn resumed(&mut self, event_loop: &ActiveEventLoop) {
            self.0 = event_loop
                .available_monitors()
                .map(|m| {
                    let size = m.size();
                    (
                        m.name().unwrap_or_else(|| "(unnamed)".into()),
                        size.width,
                        size.height,
                    )
                })
                .collect();
            event_loop.exit();
        }
        fn window_event(
            &mut self,
            _: &ActiveEventLoop,
            _: winit::window::WindowId,
            _: winit::event::WindowEvent,
        ) {
        }
    }
    if !crate::screen::window::display_is_set() {
        return Err("no display (DISPLAY and WAYLAND_DISPLAY are not set)".into());
    }
    let event_loop = EventLoop::new().map_err(|e| format!("cannot reach the display: {e}"))?;
    let mut lister = Lister(Vec::new());
    event_loop
        .run_app(&mut lister)
        .map_err(|e| format!("the window system failed: {e}"))?;
    Ok(lister.0)
}

/// Checks everything a show needs, as far as it can be checked before the show.
pub fn check(show: &crate::show::Show, cli: &crate::cli::Cli, port_filters: &[String]) -> Report {
    let mut r = Report::default();
    match &show.file {
        Some(file) => r.add(
            Level::Ok,
            "show file",
            format!(
                "{} is valid: '{}', {} song{}",
                file.display(),
                show.name,
                show.songs.len(),
                if show.songs.len() == 1 { "" } else { "s" }
            ),
        ),
        None => r.add(
            Level::Ok,
            "show",
            format!("a single video: '{}'", show.name),
        ),
    }
    if let Err(e) = cli.chase_settings() {
        r.add(Level::Fail, "options", e.to_string());
    }

    let mut first_frames = vec![None; show.songs.len()];
    for (i, song) in show.songs.iter().enumerate() {
        let topic = format!("video {}", i + 1);
        if song.test_card {
            let tempo = cli.chase_settings().ok().and_then(|c| c.tempo_map);
            let card = crate::test_card::card_for(song, tempo.as_ref());
            r.add(
                Level::Ok,
                &topic,
                format!(
                    "'{}': the test card, drawn by playhead at {}x{}: {} BPM, {}/{} time, {:.3} frames a second, a flash on every beat",
                    song.title,
                    playhead_core::test_card::WIDTH,
                    playhead_core::test_card::HEIGHT,
                    card.bpm(),
                    card.beats_per_bar(),
                    card.beat_unit(),
                    card.fps()
                ),
            );
            if crate::test_card::fonts().is_none() {
                r.add(
                    Level::Warn,
                    &topic,
                    "the test card's numbers need the DejaVu fonts: sudo apt install fonts-dejavu-core",
                );
            }
            continue;
        }
        if !song.per_output.is_empty() {
            check_per_output(show, i, &mut r);
            continue;
        }
        match probe_video(&song.video, 3) {
            Ok(VideoProbe {
                ends_early: Some(e),
                ..
            }) => r.add(Level::Fail, &topic, format!("'{}': {e}", song.title)),
            Ok(p) => {
                first_frames[i] = Some(p.first_frame);
                r.add(
                    Level::Ok,
                    &topic,
                    format!(
                        "'{}' {}: {}x{}, {:.2} fps, {}:{:02}, first frame in {} ms, locates in {} ms at most",
                        song.title,
                        song.video.display(),
                        p.width_px,
                        p.height_px,
                        p.fps,
                        (p.duration_s / 60.0).floor(),
                        (p.duration_s % 60.0).floor(),
                        p.first_frame.as_millis(),
                        p.slowest_locate.as_millis()
                    ),
                );
                if p.locates_slowly() {
                    r.add(Level::Warn, &topic, slow_locate_advice(&song.video, &p));
                }
                check_crops(show, i, &[(p.width_px, p.height_px)], &mut r);
            }
            Err(e) => r.add(Level::Fail, &topic, format!("'{}': {e}", song.title)),
        }
    }
    if show.songs.len() > 1 {
        check_preload(show, &first_frames, &mut r);
    }
    // Idle content: each file once, whichever songs share it.
    let mut idle: Vec<&std::path::Path> = show
        .songs
        .iter()
        .filter_map(|s| s.idle.as_deref())
        .collect();
    idle.sort();
    idle.dedup();
    for path in idle {
        if let Err(e) = std::fs::File::open(path) {
            r.add(
                Level::Fail,
                "idle",
                format!(
                    "the idle content '{}' cannot be opened: {e}. Correct the path in the show \
                     file, or copy the file there; else the song's first frame shows instead",
                    path.display()
                ),
            );
            continue;
        }
        match probe_video(path, 0) {
            Ok(VideoProbe {
                ends_early: Some(e),
                ..
            }) => r.add(Level::Fail, "idle", format!("the idle content {e}")),
            Ok(p) => r.add(
                Level::Ok,
                "idle",
                format!(
                    "'{}': {}x{}, looped between songs",
                    path.display(),
                    p.width_px,
                    p.height_px
                ),
            ),
            // The show would run (the song's first frame shows instead), but not as designed:
            // the audience would see the song's picture where the walk-in was meant to be.
            Err(e) => r.add(
                Level::Fail,
                "idle",
                format!(
                    "the idle content cannot play: {e}. The song's first frame would show \
                     instead"
                ),
            ),
        }
    }

    let screens = list_screens();
    match screens.clone() {
        Ok(screens) if screens.is_empty() => {
            r.add(Level::Fail, "screens", "the display reports no screen")
        }
        Ok(screens) => {
            let listed: Vec<String> = screens
                .iter()
                .enumerate()
                .map(|(i, (name, w, h))| format!("{} {name} {w}x{h}", i + 1))
                .collect();
            r.add(Level::Ok, "screens", listed.join(", "));
            if let Some(n) = cli.screen {
                if usize::from(n) > screens.len() {
                    r.add(
                        Level::Fail,
                        "screen",
                        format!(
                            "screen {n} is asked for, but there {} only {}",
                            if screens.len() == 1 { "is" } else { "are" },
                            screens.len()
                        ),
                    );
                }
            }
        }
        Err(e) => r.add(
            Level::Warn,
            "screens",
            format!(
                "{e}: cannot list screens from here; run the check on the show machine's desktop"
            ),
        ),
    }
    check_outputs(show, screens.as_deref().ok(), &mut r);

    match crate::sources::list_os_ports() {
        Ok(ports) => {
            if ports.is_empty() {
                r.add(Level::Warn, "MIDI ports", "no MIDI input port right now");
            } else {
                r.add(Level::Ok, "MIDI ports", ports.join(", "));
            }
            for f in port_filters {
                if !ports.iter().any(|p| p.contains(f.as_str())) {
                    r.add(
                        Level::Fail,
                        "MIDI port",
                        format!(
                            "no MIDI port's name contains '{f}': connect it, or correct the name"
                        ),
                    );
                }
            }
        }
        Err(e) => {
            if port_filters.is_empty() {
                r.add(Level::Warn, "MIDI ports", e);
            } else {
                r.add(
                    Level::Fail,
                    "MIDI port",
                    format!(
                        "{e}, so the port(s) '{}' cannot be found",
                        port_filters.join("', '")
                    ),
                );
            }
        }
    }
    for dev in &cli.midi_device {
        match std::fs::metadata(dev) {
            Ok(_) => r.add(Level::Ok, "MIDI device", dev.display().to_string()),
            Err(e) => r.add(
                Level::Fail,
                "MIDI device",
                format!("{}: {e}", dev.display()),
            ),
        }
    }
    check_network(&cli.network, &mut r);
    check_remote(cli, &mut r);
    check_ltc(cli, &mut r);
    check_link(cli, &mut r);
    r.add(
        Level::Ok,
        "sync",
        "sources lead in this order: LTC > MTC > MIDI clock/SPP > Ableton Link; MMC locates and rolls from any",
    );
    if let Some(rigs) = &show.rigs {
        r.add(
            Level::Ok,
            "rigs",
            format!(
                "the main rig '{}' leads; the backup rig '{}' is watched, and leads when the \
                 main's clock stops for {:.0} ms while playing, it leaves, or its Stop is not \
                 echoed by the backup (keys M and B, the page and OSC switch by hand)",
                rigs.main.describe(),
                rigs.backup.describe(),
                rigs.failover_s * 1000.0
            ),
        );
    }
    r
}

/// Ableton Link: the peers seen in the session.
#[cfg(feature = "link")]
fn check_link(cli: &crate::cli::Cli, r: &mut Report) {
    if !cli.link {
        return;
    }
    let peers = crate::sources::link::peers_seen(Duration::from_secs(2));
    if peers == 0 {
        r.add(
            Level::Warn,
            "Link",
            "no Ableton Link peer in 2 s: is Link on in the DAW, on this network?",
        );
    } else {
        r.add(
            Level::Ok,
            "Link",
            format!("{peers} Ableton Link peer(s) in the session"),
        );
    }
}

/// Without the `link` build, `--link` cannot work.
#[cfg(not(feature = "link"))]
fn check_link(cli: &crate::cli::Cli, r: &mut Report) {
    if cli.link {
        r.add(
            Level::Fail,
            "Link",
            "--link needs playhead built with Ableton Link (cargo build --features link)",
        );
    }
}

/// How long `--check` listens to the LTC input.
const LTC_LISTEN: Duration = Duration::from_secs(2);

/// LTC in: the input opens, and what it carries now (time, rate, level).
fn check_ltc(cli: &crate::cli::Cli, r: &mut Report) {
    let Some(source) = &cli.ltc else { return };
    let input = crate::sources::ltc::LtcInput::parse(source);
    match crate::sources::ltc::probe(&input, cli.ltc_connect.clone(), LTC_LISTEN) {
        Ok(Some(t)) => r.add(
            Level::Ok,
            "LTC",
            format!(
                "{} from {} at {:.2} fps, level {:.1} dBFS",
                t.timecode,
                t.source,
                t.measured_fps,
                20.0 * f64::from(t.peak_level.max(1e-6)).log10()
            ),
        ),
        Ok(None) => r.add(
            Level::Warn,
            "LTC",
            format!(
                "'{source}' opened, but no timecode in {} s: roll the DAW with its LTC output on \
                 to check the signal (cable, gain{})",
                LTC_LISTEN.as_secs(),
                if input == crate::sources::ltc::LtcInput::Jack {
                    ", --ltc-connect"
                } else {
                    ""
                }
            ),
        ),
        Err(e) => r.add(Level::Fail, "LTC", e),
    }
}

/// Network MIDI: off, or its UDP ports free to take (a busy port usually means playhead is
/// already running, as the kiosk unit starts it).
/// How long a song selected from outside the preload window may take to show its first frame
/// before the operator is told to widen the window.
const ON_DEMAND_GOAL: Duration = Duration::from_millis(300);

/// Which songs are not held ready at the start (the first song on screen), and whether any of
/// them loads slowly. `first_frames` are the probed load times, per song.
fn check_preload(show: &crate::show::Show, first_frames: &[Option<Duration>], r: &mut Report) {
    use crate::show::Preload;
    let window = match show.preload {
        Preload::All => "preload = \"all\"".to_string(),
        Preload::Neighbours(n) => format!("preload = {n}"),
    };
    let cold: Vec<usize> = (0..show.songs.len())
        .filter(|&i| !show.preload.holds(i, 0))
        .collect();
    if cold.is_empty() {
        r.add(
            Level::Ok,
            "preload",
            format!("{window}: every song is held ready from the start"),
        );
        return;
    }
    let list = |songs: &[usize]| {
        songs
            .iter()
            .map(|&i| format!("{} '{}'", i + 1, show.songs[i].title))
            .collect::<Vec<_>>()
            .join(", ")
    };
    r.add(
        Level::Ok,
        "preload",
        format!(
            "{window}: at the start, song{} {} {} not preloaded; each is loaded when the \
             window around the song on screen reaches it, or when the DAW selects it: then \
             the picture changes once its first frame is loaded (the first-frame times \
             above), and the log says how long that took",
            if cold.len() == 1 { "" } else { "s" },
            list(&cold),
            if cold.len() == 1 { "is" } else { "are" },
        ),
    );
    let slow: Vec<usize> = cold
        .iter()
        .copied()
        .filter(|&i| {
            first_frames
                .get(i)
                .copied()
                .flatten()
                .is_some_and(|t| t > ON_DEMAND_GOAL)
        })
        .collect();
    if !slow.is_empty() {
        let worst_ms = slow
            .iter()
            .filter_map(|&i| first_frames[i])
            .max()
            .unwrap_or_default()
            .as_millis();
        r.add(
            Level::Warn,
            "preload",
            format!(
                "song{} {} take{} more than {} ms to show the first frame (up to {worst_ms} ms): \
                 a jump to {} from afar shows the previous picture that long; widen the \
                 window (preload = 2, or \"all\") if the DAW jumps there",
                if slow.len() == 1 { "" } else { "s" },
                list(&slow),
                if slow.len() == 1 { "s" } else { "" },
                ON_DEMAND_GOAL.as_millis(),
                if slow.len() == 1 { "it" } else { "them" },
            ),
        );
    }
}

/// The remote page: where, and the HTTPS certificate's fingerprint (to compare with what the
/// phone's browser shows when it is asked to trust it).
fn check_remote(cli: &crate::cli::Cli, r: &mut Report) {
    let Some(listen) = cli.remote else { return };
    match crate::remote::tls::for_cli(cli) {
        Ok(t) => r.add(
            Level::Ok,
            "remote",
            format!(
                "status page on http://{listen}/ and https://{listen}/; certificate {}, SHA-256 {}",
                t.origin, t.fingerprint
            ),
        ),
        Err(e) => r.add(Level::Fail, "remote", e),
    }
}

fn check_network(options: &crate::sources::network::NetworkOptions, r: &mut Report) {
    if options.no_rtp {
        r.add(Level::Ok, "network", "network MIDI is off (--no-rtp)");
        return;
    }
    let control = options.rtp_port;
    let data = control.wrapping_add(1);
    let busy: Vec<u16> = [control, data]
        .into_iter()
        .filter(|p| std::net::UdpSocket::bind(("0.0.0.0", *p)).is_err())
        .collect();
    if !options.no_mdns {
        match crate::sources::network::discovery::browse_sessions(Duration::from_secs(2)) {
            Ok(sessions) if sessions.is_empty() => r.add(
                Level::Warn,
                "network",
                "no network-MIDI session seen over mDNS in 2 s: is the DAW machine on this network with its session enabled?",
            ),
            Ok(sessions) => r.add(
                Level::Ok,
                "network",
                format!(
                    "network-MIDI sessions seen: {}",
                    sessions
                        .iter()
                        .map(|(name, addrs, port)| format!("'{name}' ({} port {port})", addrs.join(", ")))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Err(e) => r.add(Level::Warn, "network", e),
        }
    }
    if busy.is_empty() {
        r.add(
            Level::Ok,
            "network",
            format!("UDP {control} and {data} are free for the network-MIDI session"),
        );
    } else {
        r.add(
            Level::Warn,
            "network",
            format!(
                "UDP port {} is in use: is playhead already running (systemctl --user status playhead)? \
                 Otherwise pick other ports with --rtp-port",
                busy.iter().map(u16::to_string).collect::<Vec<_>>().join(" and ")
            ),
        );
    }
}
