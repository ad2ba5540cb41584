//! Replays every recorded DAW byte stream in `tests/recordings/` through the parser and the
//! transport state machine, and compares the transport trace with the one recorded beside the
//! bytes. The format is described in `tests/recordings/README.md`.

use playhead::chase::position::TimeSignature;
use playhead::chase::tempo::TempoMap;
use playhead::parse::{MidiEvent, Parser};
use playhead::time::Stamp;
use playhead::transport::{ChaseSettings, FollowMode, Transport};
use std::path::Path;

struct Recording {
    follow: FollowMode,
    bpm: Option<f64>,
    chunks: Vec<Vec<u8>>,
    expected: Vec<String>,
    clocks: Option<u64>,
    garbage: Option<u64>,
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

fn load(path: &Path) -> Recording {
    let text = std::fs::read_to_string(path).unwrap();
    let mut r = Recording {
        follow: FollowMode::Start,
        bpm: None,
        chunks: Vec::new(),
        expected: Vec::new(),
        clocks: None,
        garbage: None,
    };
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "send" => r.chunks.push(
                rest.split_whitespace()
                    .flat_map(|t| parse_hex(t, i + 1))
                    .collect(),
            ),
            "expect" => r.expected.push(rest.trim().to_string()),
            "follow" => {
                r.follow = match rest.trim() {
                    "start" => FollowMode::Start,
                    "chase" => FollowMode::Chase,
                    other => panic!(
                        "{}:{}: unknown follow mode '{other}'",
                        path.display(),
                        i + 1
                    ),
                }
            }
            "bpm" => r.bpm = Some(rest.trim().parse().unwrap()),
            "clocks" => r.clocks = Some(rest.trim().parse().unwrap()),
            "garbage" => r.garbage = Some(rest.trim().parse().unwrap()),
            other => panic!("{}:{}: unknown item '{other}'", path.display(), i + 1),
        }
    }
    r
}

fn replay(r: &Recording) -> (Vec<String>, u64, u64) {
    let mut parser = Parser::new();
    let settings = ChaseSettings {
        tempo_map: r
            .bpm
            .map(|b| TempoMap::fixed(b, TimeSignature::FOUR_FOUR).unwrap()),
        ..ChaseSettings::default()
    };
    let mut transport = Transport::with_mode(r.follow, settings).unwrap();
    let mut trace = Vec::new();
    // Each chunk arrives 10 ms after the one before: the recordings hold no timing.
    for (i, chunk) in r.chunks.iter().enumerate() {
        let at_s = i as f64 * 0.010;
        parser.feed(chunk, |event| {
            let cue = transport.on_midi(event, Stamp::from_secs_f64(at_s));
            if event != MidiEvent::Clock {
                let cue = cue.map(|c| format!(" {c:?}")).unwrap_or_default();
                trace.push(format!("{event:?} -> {:?}{cue}", transport.state()));
            }
        });
    }
    (
        trace,
        transport.clocks_received(),
        parser.stats().garbage_bytes,
    )
}

#[test]
fn every_recording_replays_to_its_trace() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recordings");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 9, "recordings missing in {}", dir.display());
    let mut failures = Vec::new();
    for path in &paths {
        let rec = load(path);
        assert!(
            !rec.expected.is_empty(),
            "{}: no expectations",
            path.display()
        );
        let (trace, clocks, garbage) = replay(&rec);
        let name = path.file_name().unwrap().to_string_lossy();
        if trace != rec.expected {
            failures.push(format!(
                "{name}:\n  expected:\n    {}\n  got:\n    {}",
                rec.expected.join("\n    "),
                trace.join("\n    ")
            ));
        }
        if let Some(c) = rec.clocks {
            if c != clocks {
                failures.push(format!("{name}: expected {c} clocks, counted {clocks}"));
            }
        }
        if let Some(g) = rec.garbage {
            if g != garbage {
                failures.push(format!(
                    "{name}: expected {g} garbage bytes, counted {garbage}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn delivery_in_single_bytes_gives_the_same_trace() {
    // A network packet or a serial line may split a stream anywhere.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recordings");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "txt") {
            continue;
        }
        let rec = load(&path);
        let split = Recording {
            follow: rec.follow,
            bpm: rec.bpm,
            chunks: rec.chunks.concat().into_iter().map(|b| vec![b]).collect(),
            expected: Vec::new(),
            clocks: None,
            garbage: None,
        };
        assert_eq!(replay(&split), replay(&rec), "{}", path.display());
    }
}
