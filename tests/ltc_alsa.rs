//! LTC through ALSA: `--check --ltc DEVICE` on a capture device that plays a file of LTC
//! (alsa-lib's `file` plugin reading the test kit's encoder output over the `null` device),
//! and on a device that is not there.

mod common;

use playhead::chase::timecode::{FrameRate, Timecode};
use playhead_testkit::ltc::LtcEncoder;
use std::process::Command;

/// `playhead --check --ltc DEVICE` with `home` as HOME (where alsa-lib reads `.asoundrc`).
fn check(ltc: &str, home: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_playhead"))
        .args(["--check", "--no-rtp", "--ltc", ltc])
        .env("HOME", home)
        .arg(common::demo())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("run playhead --check");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ltc_line(report: &str) -> String {
    report
        .lines()
        .find(|l| l.contains(" LTC "))
        .unwrap_or_else(|| panic!("no LTC line in the report:\n{report}"))
        .to_string()
}

#[test]
fn check_reads_ltc_from_an_alsa_capture_device() {
    let dir = common::temp_dir("ltc-alsa");
    let raw = dir.join("ltc.raw");
    let mut enc = LtcEncoder::new(48_000);
    enc.amplitude = 0.25;
    let mut samples = Vec::new();
    let first = Timecode::parse("01:00:00:00", FrameRate::Fps25).unwrap();
    for i in 0..25 * 60 {
        enc.frame(&first.add_frames(i), 25.0, &mut samples);
    }
    let bytes: Vec<u8> = samples
        .iter()
        .flat_map(|s| ((s * 32767.0) as i16).to_le_bytes())
        .collect();
    std::fs::write(&raw, bytes).unwrap();
    // A capture device whose samples come from the file, at the null device's pace.
    std::fs::write(
        dir.join(".asoundrc"),
        format!(
            "pcm.ltcfile {{\n type plug\n slave {{ pcm {{ type file slave.pcm null \
             file \"/dev/null\" infile \"{}\" format raw }} format S16_LE rate 48000 \
             channels 1 }}\n}}\n",
            raw.display()
        ),
    )
    .unwrap();
    let line = ltc_line(&check("ltcfile", &dir));
    assert!(
        line.contains("ok") && line.contains("01:00:") && line.contains("25.00 fps"),
        "{line}"
    );

    let line = ltc_line(&check("hw:97,0", &dir));
    assert!(line.contains("FAIL") && line.contains("hw:97,0"), "{line}");
}
