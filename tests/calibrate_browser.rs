//! The latency calibration page in a real browser: headless chromium opens
//! `https://…/calibrate` on the running program (its own certificate), and its fake capture
//! devices play files this test writes as the phone's camera and microphone: a picture that
//! flashes and a click track, with known offsets between them.
//!
//! Chromium reads such files with a different lag for the picture and the sound at each start
//! (12-21 ms), and under load its fake microphone's time stamps also step by whole 10 ms
//! buffers now and then. So the files carry reference beats, with the flash on the click,
//! and beats under test, with the flash a known time after the click, in turn: each beat under
//! test is compared with the reference beat just before it, and the median difference must be
//! the known offset within 2 ms. Each block of beats has its own offset and rhythm (the
//! interval from a beat under test to the next reference beat), so the test tells the blocks
//! apart. The flashes fall at times that are not on the camera's frames: the page places each
//! inside its frame by how bright that frame is, as a camera that saw the flash begin part way
//! through its exposure.
//!
//! Needs Debian's chromium and npm playwright-core in tests/peers (packaging/quickstart.sh
//! test installs both). `PLAYHEAD_CALIBRATE_SCREENSHOT=path.png` keeps a picture of the page.

mod common;

use common::Playhead;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);
const TOKEN: &str = "front-of-house-9";
const WIDTH: usize = 160;
const HEIGHT: usize = 90;
const RATE: u32 = 48_000;
/// How long each flash lasts, as the test card's.
const FLASH_S: f64 = 0.1;
const LEAD_IN_S: f64 = 1.0;
const GAP_S: f64 = 3.0;

/// A block of beats in pairs: a reference beat (flash on the click), then `REF_TO_TEST_S`
/// later a beat whose flash comes `offset_ms` after its click, then `rest_s` to the next pair.
#[derive(Clone, Copy, Debug)]
struct Block {
    offset_ms: f64,
    rest_s: f64,
}

/// From a reference beat to the beat under test after it.
const REF_TO_TEST_S: f64 = 0.5;
/// Pairs of beats in each block.
const PAIRS: usize = 10;

/// Each block's clicks with their flash delays (s), and the files' length.
fn layout(blocks: &[Block]) -> (Vec<(f64, f64)>, f64) {
    let mut t = LEAD_IN_S;
    let mut beats = Vec::new();
    for (k, b) in blocks.iter().enumerate() {
        for n in 0..PAIRS {
            // Off the camera's frames: a phase that moves by a few ms from beat to beat.
            let phase = 0.0037 * ((n * 7 + k * 3) % 9) as f64;
            beats.push((t + phase, 0.0));
            beats.push((t + phase + REF_TO_TEST_S, b.offset_ms / 1000.0));
            t += REF_TO_TEST_S + b.rest_s;
        }
        t += GAP_S;
    }
    (beats, t)
}

/// A camera's view of the flashes: each frame as bright as the part of its exposure (its whole
/// frame period) the flash lit. 4:2:0, dark 16, lit 235.
fn write_y4m(path: &Path, fps: u32, flashes: &[f64], length_s: f64, lit: bool) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "YUV4MPEG2 W{WIDTH} H{HEIGHT} F{fps}:1 Ip A1:1 C420jpeg").unwrap();
    let frame_s = 1.0 / f64::from(fps);
    let frames = (length_s * f64::from(fps)).ceil() as usize;
    let chroma = vec![128u8; WIDTH * HEIGHT / 2];
    for i in 0..frames {
        let (a, b) = (i as f64 * frame_s, (i + 1) as f64 * frame_s);
        let covered: f64 = flashes
            .iter()
            .map(|&s| (b.min(s + FLASH_S) - a.max(s)).max(0.0))
            .sum::<f64>()
            .min(frame_s);
        let fraction = if lit { covered / frame_s } else { 0.0 };
        let y = (16.0 + fraction * (235.0 - 16.0)).round() as u8;
        f.write_all(b"FRAME\n").unwrap();
        f.write_all(&vec![y; WIDTH * HEIGHT]).unwrap();
        f.write_all(&chroma).unwrap();
    }
}

/// A click track: 3 ms of a 2 kHz tone at each click, silence between.
fn write_wav(path: &Path, clicks: &[f64], length_s: f64, audible: bool) {
    let n = (length_s * f64::from(RATE)).ceil() as usize;
    let mut samples = vec![0i16; n];
    if audible {
        for &c in clicks {
            let start = (c * f64::from(RATE)).round() as usize;
            for k in 0..(RATE as usize * 3 / 1000) {
                if let Some(s) = samples.get_mut(start + k) {
                    let phase = 2.0 * std::f64::consts::PI * 2000.0 * k as f64 / f64::from(RATE);
                    // Starts at its peak: the onset is the first sample.
                    *s = (phase.cos() * 0.7 * f64::from(i16::MAX)) as i16;
                }
            }
        }
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let data = (n * 2) as u32;
    f.write_all(b"RIFF").unwrap();
    f.write_all(&(36 + data).to_le_bytes()).unwrap();
    f.write_all(b"WAVEfmt ").unwrap();
    f.write_all(&16u32.to_le_bytes()).unwrap();
    f.write_all(&1u16.to_le_bytes()).unwrap();
    f.write_all(&1u16.to_le_bytes()).unwrap();
    f.write_all(&RATE.to_le_bytes()).unwrap();
    f.write_all(&(RATE * 2).to_le_bytes()).unwrap();
    f.write_all(&2u16.to_le_bytes()).unwrap();
    f.write_all(&16u16.to_le_bytes()).unwrap();
    f.write_all(b"data").unwrap();
    f.write_all(&data.to_le_bytes()).unwrap();
    for s in samples {
        f.write_all(&s.to_le_bytes()).unwrap();
    }
}

/// The files for `blocks` (or a dark, silent pair), and how long they last.
fn media(
    dir: &Path,
    name: &str,
    fps: u32,
    blocks: &[Block],
    signal: bool,
) -> (PathBuf, PathBuf, f64) {
    let (beats, length) = layout(blocks);
    let clicks: Vec<f64> = beats.iter().map(|(c, _)| *c).collect();
    let flashes: Vec<f64> = beats.iter().map(|(c, d)| c + d).collect();
    let (video, audio) = (
        dir.join(format!("{name}.y4m")),
        dir.join(format!("{name}.wav")),
    );
    write_y4m(&video, fps, &flashes, length, signal);
    write_wav(&audio, &clicks, length, signal);
    (video, audio, length)
}

/// The program with its remote on loopback and a show file holding an offset and a comment.
/// The program on a show whose offset is a guess; with `outputs`, a projector and an LED wall,
/// each with its own guessed offset.
fn program(dir: &Path, outputs: bool) -> (Playhead, u16, PathBuf) {
    let show = dir.join("calibrate.playhead.toml");
    let outputs = if outputs {
        "[[output]]\nname = \"projector\"\n\n[[output]]\nname = \"led\"\noffset_ms = 50   # the LED processor, guessed\n\n"
    } else {
        ""
    };
    std::fs::write(
        &show,
        format!(
            "# the calibration test's show\noffset_ms = 10   # the projector, guessed\n\n{outputs}[[song]]\nvideo = \"{}\"\n",
            common::demo().display()
        ),
    )
    .unwrap();
    let mut ph = Playhead::spawn({
        let mut c = Playhead::command();
        c.args([
            "--headless",
            "--remote",
            "127.0.0.1:0",
            "--remote-token",
            TOKEN,
        ])
        .arg(&show);
        c
    });
    let port = ph.remote_port();
    ph.wait_log("remote page also on https://127.0.0.1:", 20 * SECOND);
    ph.wait_log("armed:", 20 * SECOND);
    (ph, port, show)
}

/// Runs the page in chromium; its lines.
fn browser(
    url: &str,
    video: &Path,
    audio: &Path,
    mode: &str,
    seconds: f64,
    shot: Option<&str>,
    output: Option<&str>,
) -> Vec<String> {
    let peers = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers"));
    assert!(
        peers.join("node_modules/playwright-core").is_dir(),
        "npm playwright-core is missing in tests/peers: run 'packaging/quickstart.sh test'"
    );
    assert!(
        Path::new("/usr/bin/chromium").is_file(),
        "Debian's chromium is missing: run 'packaging/quickstart.sh test'"
    );
    let mut child = Command::new("node")
        .current_dir(&peers)
        .arg("calibrate-page.js")
        .args([url, TOKEN])
        .arg(video)
        .arg(audio)
        .args([mode, &format!("{seconds}")])
        .args(shot)
        .envs(output.map(|o| ("PLAYHEAD_CALIBRATE_OUTPUT", o)))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run node");
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    let _ = child.wait();
    if let Some(e) = lines.iter().find(|l| l.starts_with("error")) {
        panic!("the browser: {e} (it said {lines:?})");
    }
    lines
}

fn line<'a>(lines: &'a [String], word: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(word))
        .unwrap_or_else(|| panic!("the page never said '{word}': {lines:?}"))
        .trim()
}

/// The pairs the page found, grouped into blocks (a gap of over 2.5 s between clicks starts
/// the next: within a block a beat or two the page missed leave at most 1.8 s), each told apart by its rhythm: for each block, the median of (beat under test -
/// the reference beat before it), and how many such differences there were.
fn block_offsets(pairs: &serde_json::Value, blocks: &[Block]) -> Vec<(Block, f64, usize)> {
    let pairs: Vec<(f64, f64)> = pairs
        .as_array()
        .expect("pairs")
        .iter()
        .map(|p| (p["click"].as_f64().unwrap(), p["offset"].as_f64().unwrap()))
        .collect();
    let mut groups: Vec<Vec<(f64, f64)>> = Vec::new();
    for p in pairs {
        match groups.last_mut() {
            Some(g) if p.0 - g.last().unwrap().0 < 2500.0 => g.push(p),
            _ => groups.push(vec![p]),
        }
    }
    let mut out = Vec::new();
    for g in groups.into_iter().filter(|g| g.len() >= 8) {
        // A beat under test comes REF_TO_TEST_S after its reference beat (the phase is shared).
        let is_test = |gap_ms: f64| (gap_ms - REF_TO_TEST_S * 1000.0).abs() < 20.0;
        let mut diffs = Vec::new();
        let mut rests = Vec::new();
        for w in g.windows(2) {
            let gap = w[1].0 - w[0].0;
            if is_test(gap) {
                diffs.push(w[1].1 - w[0].1);
            } else {
                rests.push(gap);
            }
        }
        if diffs.len() < 6 || rests.is_empty() {
            continue;
        }
        rests.sort_by(f64::total_cmp);
        let rest_ms = rests[rests.len() / 2];
        let block = *blocks
            .iter()
            .min_by(|a, b| {
                (a.rest_s * 1000.0 - rest_ms)
                    .abs()
                    .total_cmp(&(b.rest_s * 1000.0 - rest_ms).abs())
            })
            .unwrap();
        diffs.sort_by(f64::total_cmp);
        println!(
            "block {:+.0} ms: differences {:?}",
            block.offset_ms,
            diffs
                .iter()
                .map(|d| (d * 10.0).round() / 10.0)
                .collect::<Vec<_>>()
        );
        out.push((block, diffs[diffs.len() / 2], diffs.len()));
    }
    out
}

/// The status, over plain HTTP on the same port.
fn status(port: u16) -> serde_json::Value {
    let (code, body) = common::http_from(
        std::net::Ipv4Addr::LOCALHOST,
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        "GET",
        "/api/status",
        &[],
    );
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("status JSON")
}

/// The offset the page says Apply set (`applied Offset set to X ms.`).
fn applied_offset(lines: &[String]) -> f64 {
    line(lines, "applied ")
        .trim_start_matches("Offset set to ")
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no offset in {lines:?}"))
}

/// Where Apply and Save go: the show's offset, or (with outputs) the LED wall's.
#[derive(Clone, Copy, PartialEq)]
enum Apply {
    Show,
    LedOutput,
}

fn calibrate(fps: u32, blocks: &[Block], apply: Apply) -> Vec<f64> {
    let dir = common::temp_dir(&format!("calibrate-{fps}"));
    let (video, audio, length) = media(&dir, "camera", fps, blocks, true);
    let (mut ph, port, show) = program(&dir, apply == Apply::LedOutput);
    let url = format!("https://127.0.0.1:{port}/calibrate");
    let shot = std::env::var("PLAYHEAD_CALIBRATE_SCREENSHOT")
        .ok()
        .filter(|_| apply == Apply::Show);
    let lines = browser(
        &url,
        &video,
        &audio,
        "measure",
        length - 0.5,
        shot.as_deref(),
        (apply == Apply::LedOutput).then_some("led"),
    );
    let pairs: serde_json::Value = serde_json::from_str(line(&lines, "pairs ")).unwrap();
    let found = block_offsets(&pairs, blocks);
    let mut errors = Vec::new();
    for b in blocks {
        let (_, measured, n) = found
            .iter()
            .find(|(f, _, _)| f.rest_s == b.rest_s)
            .unwrap_or_else(|| panic!("the block {b:?} was not measured: {found:?}"));
        println!(
            "{fps} fps: flash {:+.0} ms after the click measured {measured:+.2} ms against the reference beats ({n} pairs of beats)",
            b.offset_ms
        );
        errors.push(measured - b.offset_ms);
        assert!(
            (measured - b.offset_ms).abs() <= 2.0,
            "{fps} fps: {:+.0} ms measured as {measured:+.2} ms",
            b.offset_ms
        );
    }
    if apply == Apply::LedOutput {
        // The LED wall's own offset goes up by what the page measured; the projector's and
        // the show's stay; Save writes it into the LED wall's table, keeping its comment.
        assert!(
            line(&lines, "output ").starts_with("led at +50.0 ms"),
            "{lines:?}"
        );
        assert!(
            line(&lines, "applied ").starts_with("Offset set to"),
            "{lines:?}"
        );
        ph.wait_log("output 'led': latency offset +50.0 ms -> ", 10 * SECOND);
        ph.wait_log("output 'led': offset_ms = ", 10 * SECOND);
        let set = applied_offset(&lines);
        let st = status(port);
        let led = st["outputs"][1]["offset_ms"]
            .as_f64()
            .expect("the LED wall's offset");
        assert!(
            (led - set).abs() < 0.051,
            "the page set {set} ms, the LED wall has {led}: {st}"
        );
        assert_eq!(st["outputs"][0]["offset_ms"], 10.0, "{st}");
        let text = std::fs::read_to_string(&show).unwrap();
        let saved = text
            .lines()
            .find(|l| l.starts_with("offset_ms = ") && l.ends_with("# the LED processor, guessed"))
            .unwrap_or_else(|| panic!("the LED wall's offset_ms in the show file: {text}"));
        let value: f64 = saved
            .trim_start_matches("offset_ms = ")
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((value - led).abs() < 0.051, "{saved} against {led}");
        assert!(
            text.starts_with("# the calibration test's show\noffset_ms = 10   #"),
            "{text}"
        );
    }
    if apply == Apply::Show {
        // Apply: the offset goes up by what the page measured over everything it saw; the
        // program says so, and Save writes it into the show file keeping its comment.
        let result = line(&lines, "result ");
        assert!(
            line(&lines, "applied ").starts_with("Offset set to"),
            "{lines:?}"
        );
        // The offset in force is what the page set: +10 ms and the median it measured over
        // every beat it saw (the reference beats at 0 ms among them, so it may be near 0).
        let set = applied_offset(&lines);
        ph.wait_log("latency offset +10.0 ms -> ", 10 * SECOND);
        let st = status(port);
        let now = st["offset_ms"].as_f64().expect("offset_ms");
        assert!(
            (now - set).abs() < 0.051,
            "the page set {set} ms ({result}), the program has {now}: {st}"
        );
        ph.wait_log("offset_ms = ", 10 * SECOND);
        let text = std::fs::read_to_string(&show).unwrap();
        let saved = text
            .lines()
            .find(|l| l.starts_with("offset_ms = "))
            .expect("offset_ms in the show file");
        assert!(saved.ends_with("# the projector, guessed"), "{text}");
        let value: f64 = saved
            .trim_start_matches("offset_ms = ")
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((value - now).abs() < 0.051, "{saved} against {now}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    errors
}

#[test]
fn a_camera_at_30_fps_measures_known_offsets_and_applies_them() {
    calibrate(
        30,
        &[
            Block {
                offset_ms: -40.0,
                rest_s: 0.6,
            },
            Block {
                offset_ms: 150.0,
                rest_s: 0.7,
            },
        ],
        Apply::Show,
    );
}

#[test]
fn a_camera_at_60_fps_measures_known_offsets_and_corrects_the_output_it_sees() {
    calibrate(
        60,
        &[
            Block {
                offset_ms: 45.0,
                rest_s: 0.6,
            },
            Block {
                offset_ms: 100.0,
                rest_s: 0.7,
            },
        ],
        Apply::LedOutput,
    );
}

#[test]
fn no_flash_and_no_click_are_said_and_nothing_is_applied() {
    let dir = common::temp_dir("calibrate-nothing");
    let blocks = [Block {
        offset_ms: 0.0,
        rest_s: 0.6,
    }];
    let (video, audio, _) = media(&dir, "dark", 30, &blocks, false);
    let (mut ph, port, _) = program(&dir, false);
    let url = format!("https://127.0.0.1:{port}/calibrate");
    let lines = browser(&url, &video, &audio, "nothing", 0.0, None, None);
    assert!(
        line(&lines, "said ").contains("I see no flash"),
        "{lines:?}"
    );
    assert!(
        line(&lines, "said ").contains("I hear no click"),
        "{lines:?}"
    );
    assert_eq!(line(&lines, "apply "), "disabled");
    assert_eq!(line(&lines, "without token "), "401");
    assert_eq!(status(port)["offset_ms"].as_f64(), Some(10.0));
    // The page called up the test card, with the token.
    ph.wait_log("the test card is added to the setlist", 10 * SECOND);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The SHA-256 the program logged for its certificate.
fn fingerprint(ph: &mut Playhead) -> String {
    let line = ph.wait_log("remote page also on https://", 20 * SECOND);
    line.split("SHA-256 ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .expect("a fingerprint in the log")
        .trim()
        .to_string()
}

#[test]
fn the_certificate_is_kept_across_restarts_and_shown_by_check() {
    let dir = common::temp_dir("calibrate-cert");
    let state = dir.join("state");
    let start = || {
        Playhead::spawn({
            let mut c = Playhead::command();
            c.env("PLAYHEAD_STATE_DIR", &state)
                .args([
                    "--headless",
                    "--remote",
                    "127.0.0.1:0",
                    "--remote-token",
                    TOKEN,
                ])
                .arg(common::demo());
            c
        })
    };
    let mut first = start();
    let made = fingerprint(&mut first);
    assert!(first.count_log("(made now)") == 1, "{:?}", first.log());
    drop(first);
    let mut again = start();
    assert_eq!(fingerprint(&mut again), made);
    assert!(again.count_log("(kept)") == 1, "{:?}", again.log());
    let port = again.remote_port();
    assert_eq!(
        status(port)["remote_cert_sha256"].as_str(),
        Some(made.as_str())
    );
    // Rubbish after a handshake's first byte, and a handshake begun and never finished, hurt
    // nobody: the next requests are answered (TLS from chromium in the tests above).
    {
        use std::io::{Read, Write};
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut junk = std::net::TcpStream::connect(addr).unwrap();
        junk.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0, 1, 2, 3, 4, 5, 6, 7])
            .unwrap();
        let mut answer = Vec::new();
        junk.set_read_timeout(Some(10 * SECOND)).unwrap();
        let _ = junk.read_to_end(&mut answer);
        let mut half = std::net::TcpStream::connect(addr).unwrap();
        half.write_all(&[0x16, 0x03, 0x01]).unwrap();
        assert_eq!(
            status(port)["remote_cert_sha256"].as_str(),
            Some(made.as_str())
        );
        drop(half);
        assert!(
            !again.log().iter().any(|l| l.contains("panicked")),
            "{:?}",
            again.log()
        );
    }
    drop(again);
    let check = Command::new(env!("CARGO_BIN_EXE_playhead"))
        .env("PLAYHEAD_STATE_DIR", &state)
        .args(["--check", "--no-rtp", "--remote", "127.0.0.1:8"])
        .arg(common::demo())
        .output()
        .expect("playhead --check");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(report.contains(&format!("SHA-256 {made}")), "{report}");
    // A key that is not the certificate's: the program says which file, and does not start.
    let (other_cert, other_key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::copy(state.join("remote-cert.pem"), &other_cert).unwrap();
    std::fs::write(
        &other_key,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let bad = Command::new(env!("CARGO_BIN_EXE_playhead"))
        .env("PLAYHEAD_STATE_DIR", &state)
        .args(["--headless", "--no-rtp", "--remote", "127.0.0.1:0"])
        .arg("--remote-cert")
        .arg(&other_cert)
        .arg("--remote-key")
        .arg(&other_key)
        .arg(common::demo())
        .stderr(Stdio::piped())
        .output()
        .expect("playhead");
    assert!(!bad.status.success());
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(said.contains("key.pem"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}
