//! Replays every recorded DAW byte stream in `tests/recordings/` through the parser and the
//! transport state machine at the recorded times, with a simulated video following the cues,
//! and compares the transport trace and the video's position with the ones recorded beside the
//! bytes. The format is described in `tests/recordings/README.md`.

use playhead::chase::position::TimeSignature;
use playhead::chase::tempo::TempoMap;
use playhead::parse::{MidiEvent, Parser};
use playhead::plan::{self, SeekTimer, StartStep};
use playhead::show::StopAction;
use playhead::stop::StopWindow;
use playhead::time::Stamp;
use playhead::transport::{ChaseSettings, Cue, FollowMode, OperatorCommand, State, Transport};
use std::path::Path;

/// How often the player thread ticks the transport when nothing else happens.
const TICK_S: f64 = 0.020;
/// How often the simulated video reports its position while playing (25 fps, one per frame).
const FRAME_S: f64 = 0.040;

/// One chunk of bytes delivered at one time (one OS MIDI message or one network packet).
#[derive(Clone, Debug)]
struct Chunk {
    at_s: f64,
    bytes: Vec<u8>,
}

/// What the video must look like at a time: its position (and whether it runs), or the tempo
/// the operator is shown.
#[derive(Clone, Debug)]
enum Check {
    Video {
        at_s: f64,
        position_s: f64,
        within_s: f64,
        playing: Option<bool>,
        line: usize,
    },
    Tempo {
        at_s: f64,
        bpm: f64,
        within: f64,
        line: usize,
    },
    /// The frame on screen at a time (its index at the recording's `fps`).
    Frame {
        at_s: f64,
        frame: u64,
        playing: Option<bool>,
        line: usize,
    },
}

impl Check {
    fn at_s(&self) -> f64 {
        match self {
            Check::Video { at_s, .. } | Check::Tempo { at_s, .. } | Check::Frame { at_s, .. } => {
                *at_s
            }
        }
    }
}

struct Recording {
    follow: FollowMode,
    /// The simulated video's frame rate (`fps N`, default 25).
    fps: f64,
    bpm: Option<f64>,
    quiet_quarter_frames: bool,
    /// The show's stop behaviour (`on_stop hold|black|rearm|idle`), applied by the core's
    /// stop window as the player applies it; `None`: not simulated.
    on_stop: Option<StopAction>,
    chunks: Vec<Chunk>,
    checks: Vec<Check>,
    expected: Vec<String>,
    clocks: Option<u64>,
    garbage: Option<u64>,
    quarter_frames: Option<u64>,
}

fn parse_hex(token: &str, line_no: usize) -> Vec<u8> {
    let (byte, count) = match token.split_once('*') {
        Some((b, n)) => (b, n.parse::<usize>().expect("repeat count")),
        None => (token, 1),
    };
    let b = u8::from_str_radix(byte, 16)
        .unwrap_or_else(|_| panic!("line {line_no}: '{token}' is not a hex byte"));
    vec![b; count]
}

/// A time: seconds (`1.25`), milliseconds (`12.5ms`), either after the previous chunk line
/// when it starts with `+`.
fn parse_time(token: &str, previous_s: f64, line_no: usize) -> f64 {
    let (relative, t) = match token.strip_prefix('+') {
        Some(t) => (true, t),
        None => (false, token),
    };
    let value = match t.strip_suffix("ms") {
        Some(ms) => ms.parse::<f64>().map(|v| v / 1000.0),
        None => t.parse::<f64>(),
    }
    .unwrap_or_else(|_| panic!("line {line_no}: '{token}' is not a time"));
    if relative {
        previous_s + value
    } else {
        value
    }
}

/// `F1 xx` quarter-frame messages of a timecode running forward from `start` (HH:MM:SS:FF) at
/// `fps` (24, 25 or 30), one every quarter of a frame from `at_s`.
fn quarter_frames(fps: &str, start: &str, count: usize, at_s: f64, line_no: usize) -> Vec<Chunk> {
    let (nominal, code): (u32, u8) = match fps {
        "24" => (24, 0),
        "25" => (25, 1),
        "30" => (30, 3),
        other => panic!("line {line_no}: '{other}' is not a timecode rate (24, 25 or 30)"),
    };
    let parts: Vec<u32> = start
        .split(':')
        .map(|p| p.parse().expect("timecode field"))
        .collect();
    assert_eq!(parts.len(), 4, "line {line_no}: timecode is HH:MM:SS:FF");
    let mut frame = ((parts[0] * 60 + parts[1]) * 60 + parts[2]) * nominal + parts[3];
    let quarter_s = 1.0 / (f64::from(nominal) * 4.0);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let piece = (i % 8) as u32;
        if piece == 0 && i > 0 {
            // Eight quarter frames span two frames.
            frame += 2;
        }
        let (h, m, s, f) = (
            frame / (nominal * 3600),
            frame / (nominal * 60) % 60,
            frame / nominal % 60,
            frame % nominal,
        );
        let nibble = match piece {
            0 => f & 0x0F,
            1 => f >> 4,
            2 => s & 0x0F,
            3 => s >> 4,
            4 => m & 0x0F,
            5 => m >> 4,
            6 => h & 0x0F,
            _ => (h >> 4) | (u32::from(code) << 1),
        };
        out.push(Chunk {
            at_s: at_s + i as f64 * quarter_s,
            bytes: vec![0xF1, ((piece as u8) << 4) | nibble as u8],
        });
    }
    out
}

/// Reads `key VALUE` pairs after the position of a `check` line.
fn check_option(words: &[&str], key: &str, line_no: usize) -> Option<f64> {
    words.iter().position(|w| *w == key).map(|i| {
        let v = words
            .get(i + 1)
            .unwrap_or_else(|| panic!("line {line_no}: '{key}' needs a value"));
        parse_time(v, 0.0, line_no)
    })
}

fn load(path: &Path) -> Recording {
    let text = std::fs::read_to_string(path).unwrap();
    let mut r = Recording {
        follow: FollowMode::Start,
        fps: 25.0,
        bpm: None,
        quiet_quarter_frames: false,
        on_stop: None,
        chunks: Vec::new(),
        checks: Vec::new(),
        expected: Vec::new(),
        clocks: None,
        garbage: None,
        quarter_frames: None,
    };
    // The time of the last chunk line, for `+` times.
    let mut previous_s = 0.0;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let words: Vec<&str> = rest.split_whitespace().collect();
        let here = || format!("{}:{line_no}", path.display());
        match word {
            "@" => {
                let at_s = parse_time(
                    words
                        .first()
                        .unwrap_or_else(|| panic!("{}: no time", here())),
                    previous_s,
                    line_no,
                );
                previous_s = at_s;
                let body = &words[1..];
                if body.first() == Some(&"mtc") {
                    // @ T mtc FPS HH:MM:SS:FF x N
                    assert!(
                        body.len() == 5 && body[3] == "x",
                        "{}: mtc FPS HH:MM:SS:FF x N",
                        here()
                    );
                    let n = body[4].parse().expect("quarter-frame count");
                    r.chunks
                        .extend(quarter_frames(body[1], body[2], n, at_s, line_no));
                    continue;
                }
                // @ T BYTES [x N every D [jitter J]]
                let end = body.iter().position(|w| *w == "x").unwrap_or(body.len());
                let bytes: Vec<u8> = body[..end]
                    .iter()
                    .flat_map(|t| parse_hex(t, line_no))
                    .collect();
                if end == body.len() {
                    r.chunks.push(Chunk { at_s, bytes });
                    continue;
                }
                let n: usize = body
                    .get(end + 1)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("{}: 'x' needs a count", here()));
                assert_eq!(body.get(end + 2), Some(&"every"), "{}: x N every D", here());
                let every_s = parse_time(body[end + 3], 0.0, line_no);
                let jitter_s = match body.get(end + 4) {
                    Some(&"jitter") => parse_time(body[end + 5], 0.0, line_no),
                    None => 0.0,
                    Some(other) => panic!("{}: unknown '{other}'", here()),
                };
                // The one random source, seeded per line: a recording replays the same way every time.
                let mut rng =
                    playhead_core::rng::Rng::seeded(0x9E37_79B9_7F4A_7C15 ^ line_no as u64);
                for k in 0..n {
                    let jitter = jitter_s * rng.symmetric();
                    r.chunks.push(Chunk {
                        at_s: (at_s + k as f64 * every_s + jitter).max(0.0),
                        bytes: bytes.clone(),
                    });
                }
            }
            "check" => {
                // check @ T video S [within E] [playing|paused] / check @ T tempo BPM within E
                assert!(
                    words.len() >= 4 && words[0] == "@",
                    "{}: check @ T video S ...",
                    here()
                );
                let at_s = parse_time(words[1], previous_s, line_no);
                let value: f64 = words[3]
                    .parse()
                    .unwrap_or_else(|_| panic!("{}: '{}' is not a number", here(), words[3]));
                let within = check_option(&words, "within", line_no);
                let playing = if words.contains(&"playing") {
                    Some(true)
                } else if words.contains(&"paused") {
                    Some(false)
                } else {
                    None
                };
                match words[2] {
                    "video" => r.checks.push(Check::Video {
                        at_s,
                        position_s: value,
                        within_s: within.unwrap_or(0.001),
                        playing,
                        line: line_no,
                    }),
                    "frame" => r.checks.push(Check::Frame {
                        at_s,
                        frame: words[3]
                            .parse()
                            .unwrap_or_else(|_| panic!("{}: a frame number", here())),
                        playing,
                        line: line_no,
                    }),
                    "tempo" => r.checks.push(Check::Tempo {
                        at_s,
                        bpm: value,
                        within: within.unwrap_or(0.1),
                        line: line_no,
                    }),
                    other => panic!("{}: cannot check '{other}'", here()),
                }
            }
            "expect" => r.expected.push(rest.trim().to_string()),
            "follow" => {
                r.follow = match rest.trim() {
                    "start" => FollowMode::Start,
                    "chase" => FollowMode::Chase,
                    other => panic!("{}: unknown follow mode '{other}'", here()),
                }
            }
            "bpm" => r.bpm = Some(rest.trim().parse().unwrap()),
            "fps" => r.fps = rest.trim().parse().unwrap(),
            "on_stop" => {
                r.on_stop = Some(match rest.trim() {
                    "hold" => StopAction::Hold,
                    "black" => StopAction::Black,
                    "rearm" => StopAction::Rearm,
                    "idle" => StopAction::Idle,
                    other => panic!("{}: unknown stop behaviour '{other}'", here()),
                })
            }
            "quiet" => {
                assert_eq!(rest.trim(), "quarter-frames", "{}", here());
                r.quiet_quarter_frames = true;
            }
            "clocks" => r.clocks = Some(rest.trim().parse().unwrap()),
            "garbage" => r.garbage = Some(rest.trim().parse().unwrap()),
            "quarter-frames" => r.quarter_frames = Some(rest.trim().parse().unwrap()),
            "send" => panic!(
                "{}: 'send' lines carry no time; write '@ TIME BYTES'",
                here()
            ),
            other => panic!("{}: unknown item '{other}'", here()),
        }
    }
    // Delivery in time order; chunks at the same time keep the order they were written in.
    r.chunks.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    r
}

/// How long the simulated deck's seeks take to show their frame.
const SEEK_TAKES_S: f64 = 0.012;

/// The video as the player drives it. A cue that starts playback at a known position (Start,
/// Continue after a Song Position, a locate while rolling) is carried out by the core's plan
/// ([`plan::TimedStart`]) as the player carries it out on mpv: on the frame on screen when it
/// is the one, else by a seek (which takes [`SEEK_TAKES_S`] here) to the first frame it can
/// reach, unpaused when that frame is due; until then the picture stays as it was. Other cues
/// apply at once; speed as cued.
#[derive(Clone, Debug)]
struct Video {
    position_s: f64,
    since_s: f64,
    playing: bool,
    speed: f64,
    frame_s: f64,
    seeks: SeekTimer,
    /// Until a start's unpause, the picture as it was before it.
    before: Option<Before>,
}

/// The picture before a start's unpause at `until_s`: as it was (`position_s` at `since_s`,
/// running or not at `speed`), paused from the start's seek on (`seek_s`), as the player
/// pauses the deck when it seeks.
#[derive(Clone, Copy, Debug)]
struct Before {
    until_s: f64,
    seek_s: Option<f64>,
    position_s: f64,
    since_s: f64,
    playing: bool,
    speed: f64,
}

impl Video {
    fn new(fps: f64) -> Video {
        Video {
            position_s: 0.0,
            since_s: 0.0,
            playing: false,
            speed: 1.0,
            frame_s: 1.0 / fps,
            seeks: SeekTimer::default(),
            before: None,
        }
    }

    fn at(&self, t_s: f64) -> f64 {
        if let Some(b) = self.before.filter(|b| t_s < b.until_s) {
            return if b.playing {
                b.position_s + (b.seek_s.map_or(t_s, |s| t_s.min(s)) - b.since_s) * b.speed
            } else {
                b.position_s
            };
        }
        if self.playing {
            self.position_s + (t_s - self.since_s) * self.speed
        } else {
            self.position_s
        }
    }

    fn playing_at(&self, t_s: f64) -> bool {
        match self.before {
            Some(b) if t_s < b.until_s => b.playing && b.seek_s.is_none_or(|s| t_s < s),
            _ => self.playing,
        }
    }

    /// A start is waiting for its moment at `t_s`: the player reports no position then.
    fn start_pending(&self, t_s: f64) -> bool {
        self.before.is_some_and(|b| t_s < b.until_s)
    }

    /// The frame on screen at `t_s`: the last whose time the video has reached.
    fn frame_at(&self, t_s: f64) -> u64 {
        plan::frame_index(self.at(t_s), self.frame_s)
    }

    fn set(&mut self, t_s: f64, position_s: f64, playing: bool) {
        self.before = None;
        self.position_s = position_s;
        self.since_s = t_s;
        self.playing = playing;
    }

    /// Video time `position_s` due at `due_s`, planned and carried out from `due_s` on (the
    /// replay delivers each message at its own time).
    fn start(&mut self, position_s: f64, due_s: f64) {
        let now = Stamp::from_secs_f64(due_s);
        let on_screen = self.at(due_s);
        let cued =
            (!self.playing_at(due_s) && (on_screen - position_s).abs() < 1e-4).then_some(on_screen);
        let mut run =
            plan::TimedStart::new(position_s, now, now, cued, self.frame_s, self.seeks.lead());
        let (mut t, mut landed, mut seek_s) = (now, None, None);
        loop {
            match run.step(t, landed) {
                StartStep::WaitUntil(at) => t = at,
                StartStep::Seek { .. } => {
                    seek_s = Some(t.secs_f64());
                    landed = Some(t.plus_secs(SEEK_TAKES_S));
                }
                StartStep::AwaitLanding => t = landed.expect("a seek landing"),
                StartStep::PlanAgain { .. } => panic!("a seek of the simulated deck was late"),
                StartStep::Unpause { on_plan, took, .. } => {
                    assert!(on_plan, "the simulated deck's start was off its plan");
                    if let Some(took) = took {
                        self.seeks.measured(took);
                    }
                    break;
                }
            }
        }
        let before = Before {
            until_s: run.plan.unpause_at.secs_f64(),
            seek_s,
            position_s: self.at(due_s),
            since_s: due_s,
            playing: self.playing_at(due_s),
            speed: self.speed,
        };
        self.set(t.secs_f64(), run.plan.from_s, true);
        self.speed = 1.0;
        if run.plan.unpause_at > now {
            self.before = Some(before);
        }
    }

    fn apply(&mut self, cue: Cue, t_s: f64) {
        let here = self.at(t_s);
        match cue {
            Cue::Play => self.start(here, t_s),
            Cue::PlayFromTop => self.start(0.0, t_s),
            Cue::Hold => self.set(t_s, here, false),
            Cue::Arm => self.set(t_s, 0.0, false),
            Cue::Locate {
                position_s,
                play: true,
            } => self.start(position_s, t_s),
            Cue::Locate {
                position_s,
                play: false,
            } => self.set(t_s, position_s, false),
            Cue::Speed { speed } => {
                self.set(t_s, here, self.playing);
                self.speed = speed;
            }
            Cue::Jump { position_s, speed } => {
                self.set(t_s, position_s, true);
                self.speed = speed;
            }
            Cue::Resume { speed } => {
                self.set(t_s, here, true);
                self.speed = speed;
            }
        }
    }
}

#[derive(Debug, PartialEq)]
struct Outcome {
    trace: Vec<String>,
    clocks: u64,
    garbage: u64,
    quarter_frames: u64,
    /// One line per failed `check`.
    failed_checks: Vec<String>,
}

fn replay(r: &Recording) -> Outcome {
    let mut parser = Parser::new();
    let settings = ChaseSettings {
        tempo_map: r
            .bpm
            .map(|b| TempoMap::fixed(b, TimeSignature::FOUR_FOUR).unwrap()),
        ..ChaseSettings::default()
    };
    let mut transport = Transport::with_mode(r.follow, settings).unwrap();
    let mut video = Video::new(r.fps);
    let mut out = Outcome {
        trace: Vec::new(),
        clocks: 0,
        garbage: 0,
        quarter_frames: 0,
        failed_checks: Vec::new(),
    };
    let mut checks = r.checks.clone();
    checks.sort_by(|a, b| a.at_s().total_cmp(&b.at_s()));
    let mut checks = checks.into_iter().peekable();
    let mut chunks = r.chunks.iter().peekable();
    let mut stops = StopWindow::default();
    // The player's own steps: a tick every TICK_S, a position report every frame while playing.
    let mut next_tick_s: f64 = 0.0;
    let mut next_report_s: f64 = 0.0;
    loop {
        let chunk_s = chunks.peek().map(|c| c.at_s);
        let check_s = checks.peek().map(|c| c.at_s());
        let Some(until_s) = [chunk_s, check_s].into_iter().flatten().reduce(f64::min) else {
            break;
        };
        // The player runs up to the next chunk or check.
        while next_tick_s.min(next_report_s) < until_s {
            let t = next_tick_s.min(next_report_s);
            let cue = if t == next_report_s {
                next_report_s += FRAME_S;
                if video.playing_at(t) && !video.start_pending(t) {
                    transport.on_video_position(Stamp::from_secs_f64(t), video.at(t))
                } else {
                    None
                }
            } else {
                next_tick_s += TICK_S;
                if let Some((cue, at)) = transport.late_start(Stamp::from_secs_f64(t)) {
                    // A Start with no clock after it starts once the wait for one is over.
                    out.trace
                        .push(format!("No clock -> {:?} {cue:?}", transport.state()));
                    // Timed from the Start itself, as the player does.
                    video.apply(cue, at.secs_f64());
                }
                let cue = transport.on_tick(Stamp::from_secs_f64(t));
                if let Some(cue) = cue.filter(|c| !matches!(c, Cue::Speed { .. })) {
                    out.trace
                        .push(format!("Tick -> {:?} {cue:?}", transport.state()));
                }
                if let Some(on_stop) = r.on_stop {
                    if cue == Some(Cue::Hold) {
                        // Timecode that stopped: the DAW stopped, no jump to wait for.
                        stops.held(Stamp::from_secs_f64(t), false);
                        video.apply(Cue::Hold, t);
                        after_stop(on_stop, &mut transport, &mut video, t, &mut out);
                        continue;
                    }
                    let stopped =
                        transport.state() != State::Playing && transport.start_deadline().is_none();
                    let due = stops.due(Stamp::from_secs_f64(t), stopped, on_stop);
                    if due.behaviour {
                        after_stop(on_stop, &mut transport, &mut video, t, &mut out);
                    }
                }
                cue
            };
            if let Some(cue) = cue {
                video.apply(cue, t);
            }
        }
        if chunk_s == Some(until_s) {
            let chunk = chunks.next().unwrap();
            let t = chunk.at_s;
            parser.feed(&chunk.bytes, |event| {
                let before = transport.state();
                let cue = transport.on_midi(event, Stamp::from_secs_f64(t));
                if let Some(cue) = cue {
                    video.apply(cue, t);
                }
                // The stop window, as the player keeps it.
                let now = Stamp::from_secs_f64(t);
                match cue {
                    Some(Cue::Hold) => stops.held(now, true),
                    Some(Cue::Speed { .. }) | None => {}
                    Some(_) => stops.moved_on(),
                }
                let stopped_at_jump = matches!(event, MidiEvent::Stop)
                    && matches!(cue, Some(Cue::Locate { play: false, .. }));
                if cue == Some(Cue::Hold) || stopped_at_jump {
                    stops.daw_stopped(now);
                }
                let quiet = match event {
                    // A clock is quiet unless it starts the song (the first after a Start or
                    // Continue, by the MIDI specification).
                    MidiEvent::Clock => !matches!(
                        cue,
                        Some(
                            Cue::Play
                                | Cue::PlayFromTop
                                | Cue::Locate { play: true, .. }
                                | Cue::Resume { .. }
                        )
                    ),
                    MidiEvent::TimecodeQuarterFrame { .. } => {
                        out.quarter_frames += 1;
                        r.quiet_quarter_frames && cue.is_none() && transport.state() == before
                    }
                    _ => false,
                };
                if !quiet {
                    let cue = cue.map(|c| format!(" {c:?}")).unwrap_or_default();
                    out.trace
                        .push(format!("{event:?} -> {:?}{cue}", transport.state()));
                }
            });
            continue;
        }
        match checks.next().unwrap() {
            Check::Video {
                at_s,
                position_s,
                within_s,
                playing,
                line,
            } => {
                let seen = video.at(at_s);
                if (seen - position_s).abs() > within_s {
                    out.failed_checks.push(format!(
                        "line {line}: at {at_s} s the video shows {seen:.4} s, not {position_s} s (±{within_s})"
                    ));
                }
                if playing.is_some_and(|p| p != video.playing_at(at_s)) {
                    out.failed_checks.push(format!(
                        "line {line}: at {at_s} s the video is {}",
                        if video.playing_at(at_s) { "playing" } else { "paused" }
                    ));
                }
            }
            Check::Frame {
                at_s,
                frame,
                playing,
                line,
            } => {
                let seen = video.frame_at(at_s);
                if seen != frame {
                    out.failed_checks.push(format!(
                        "line {line}: at {at_s} s frame {seen} is on screen, not frame {frame} \
                         (the video at {:.6} s)",
                        video.at(at_s)
                    ));
                }
                if playing.is_some_and(|p| p != video.playing_at(at_s)) {
                    out.failed_checks.push(format!(
                        "line {line}: at {at_s} s the video is {}",
                        if video.playing_at(at_s) { "playing" } else { "paused" }
                    ));
                }
            }
            Check::Tempo {
                at_s,
                bpm,
                within,
                line,
            } => match transport.tempo_bpm() {
                Some(seen) if (seen - bpm).abs() <= within => {}
                seen => out.failed_checks.push(format!(
                    "line {line}: at {at_s} s the operator is shown tempo {seen:?}, not {bpm} (±{within})"
                )),
            },
        }
    }
    out.clocks = transport.clocks_received();
    out.garbage = parser.stats().garbage_bytes;
    out
}

/// The show's stop behaviour, as the player applies it once the DAW stayed stopped: re-arm
/// (and idle content) through the transport's Rewind; black is noted in the trace.
fn after_stop(
    on_stop: StopAction,
    transport: &mut Transport,
    video: &mut Video,
    t: f64,
    out: &mut Outcome,
) {
    match on_stop {
        StopAction::Hold => {}
        StopAction::Black => out.trace.push("After stop -> black".into()),
        StopAction::Rearm | StopAction::Idle => {
            let cue = transport.on_operator(OperatorCommand::Rewind);
            if let Some(cue) = cue {
                video.apply(cue, t);
            }
            let cue = cue.map(|c| format!(" {c:?}")).unwrap_or_default();
            out.trace
                .push(format!("After stop -> {:?}{cue}", transport.state()));
        }
    }
}

fn recordings() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recordings");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 17, "recordings missing in {}", dir.display());
    paths
}

#[test]
fn every_recording_replays_to_its_trace() {
    let mut failures = Vec::new();
    for path in &recordings() {
        let rec = load(path);
        assert!(
            !rec.expected.is_empty(),
            "{}: no expectations",
            path.display()
        );
        let got = replay(&rec);
        let name = path.file_name().unwrap().to_string_lossy();
        if got.trace != rec.expected {
            failures.push(format!(
                "{name}:\n  expected:\n    {}\n  got:\n    {}",
                rec.expected.join("\n    "),
                got.trace.join("\n    ")
            ));
        }
        for f in &got.failed_checks {
            failures.push(format!("{name}: {f}"));
        }
        let counts = [
            ("clocks", rec.clocks, got.clocks),
            ("garbage bytes", rec.garbage, got.garbage),
            ("quarter frames", rec.quarter_frames, got.quarter_frames),
        ];
        for (what, want, seen) in counts {
            if want.is_some_and(|w| w != seen) {
                failures.push(format!(
                    "{name}: expected {} {what}, counted {seen}",
                    want.unwrap()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn delivery_in_single_bytes_gives_the_same_outcome() {
    // A network packet or a serial line may split a stream anywhere: the bytes of a chunk
    // arrive one by one, at the chunk's time.
    for path in &recordings() {
        let rec = load(path);
        let split = Recording {
            chunks: rec
                .chunks
                .iter()
                .flat_map(|c| {
                    c.bytes.iter().map(|&b| Chunk {
                        at_s: c.at_s,
                        bytes: vec![b],
                    })
                })
                .collect(),
            checks: rec.checks.clone(),
            expected: Vec::new(),
            ..rec
        };
        let rec = load(path);
        assert_eq!(replay(&split), replay(&rec), "{}", path.display());
    }
}

#[test]
fn the_recordings_checks_can_fail() {
    // A check against the wrong position must be reported: the checks are not decoration.
    for path in &recordings() {
        let mut rec = load(path);
        if rec.checks.is_empty() {
            continue;
        }
        for c in &mut rec.checks {
            match c {
                Check::Video { position_s, .. } => *position_s += 1.0,
                Check::Tempo { bpm, .. } => *bpm += 5.0,
                // A frame's neighbour is wrong too: the checks tell frames apart.
                Check::Frame { frame, .. } => *frame += 1,
            }
        }
        let got = replay(&rec);
        assert_eq!(
            got.failed_checks.len(),
            rec.checks.len(),
            "{}: {:?}",
            path.display(),
            got.failed_checks
        );
    }
}
