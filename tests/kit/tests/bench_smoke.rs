//! Every case of `playhead-bench` runs to its end on this machine: a smoke run, a few trials
//! each, against the build of the program beside the bench (the debug build here). It proves
//! that each case still works; its figures mean nothing (a debug build on a loaded CI machine)
//! and are not checked: the figures belong to the bench, run by hand on a release build.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// One case at a time: each starts its own virtual screens, servers and peers.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs the bench with `args` and returns what it printed; fails the test on an error.
fn bench(args: &[&str]) -> String {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_playhead-bench"));
    let program = exe.with_file_name("playhead");
    assert!(
        program.is_file(),
        "the program is not built at {} (cargo test --workspace builds it)",
        program.display()
    );
    let out = Command::new(&exe)
        .args(args)
        .env_remove("PLAYHEAD_BENCH_PROGRAM")
        .output()
        .expect("start playhead-bench");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "playhead-bench {args:?} failed:\n{stdout}\n{stderr}"
    );
    // Every case ends with the machine's load, printed once it measured everything.
    assert!(
        stdout.contains("machine load"),
        "playhead-bench {args:?} did not finish:\n{stdout}\n{stderr}"
    );
    stdout
}

/// `line` is printed with a p50 figure that is a number.
fn has_row(out: &str, line: &str) -> bool {
    out.lines().any(|l| {
        l.contains(line)
            && l.split("p50=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .is_some_and(|v| {
                    v.trim_end_matches("ms")
                        .parse::<f64>()
                        .is_ok_and(f64::is_finite)
                })
    })
}

#[test]
fn the_trigger_and_start_up_bench_runs() {
    let out = bench(&["--triggers", "5", "--starts", "2"]);
    assert!(out.contains("process start"), "{out}");
}

#[test]
fn the_network_bench_runs() {
    let out = bench(&["--network", "--triggers", "5"]);
    assert!(out.to_lowercase().contains("flood"), "{out}");
}

#[test]
fn the_chase_bench_runs() {
    let out = bench(&["--chase", "--triggers", "3"]);
    assert!(out.contains("drift"), "{out}");
}

#[test]
fn the_on_screen_timing_bench_runs() {
    let out = bench(&["--timing", "--trials", "1"]);
    assert!(
        has_row(&out, "origin error, frames 1..25 after Start"),
        "{out}"
    );
}

#[test]
fn the_rigs_bench_runs() {
    let out = bench(&["--rigs", "--trials", "3"]);
    assert!(out.contains("failovers logged: 1 of 1"), "{out}");
    assert!(
        has_row(&out, "frame error, the second before (main)"),
        "{out}"
    );
}

#[test]
fn the_test_card_bench_runs() {
    let out = bench(&["--test-card", "--trials", "1", "--screen-size", "640x360"]);
    assert!(out.contains("p50"), "{out}");
}

#[test]
fn the_outputs_bench_runs() {
    let out = bench(&["--outputs", "--trials", "1"]);
    assert!(out.contains("p50"), "{out}");
}

#[test]
fn the_codecs_bench_runs() {
    let out = bench(&["--codecs", "--trials", "1"]);
    for codec in [
        "H.264, keyframe every 1 s",
        "H.264, keyframe every 10 s",
        "HEVC, keyframe every 10 s",
        "VP9",
        "Motion JPEG",
        "ProRes 422 Proxy",
    ] {
        // Its rows printed (a figure may be missing: one trial of a debug build on a busy
        // machine may not follow within its 2.5 s, which the row then says).
        // The method names every codec too: a codec's rows follow its own heading line.
        let after = out
            .split(&format!("\n{codec}:\n"))
            .nth(1)
            .unwrap_or_default();
        // Its own rows only: they are indented, the next codec's heading is not.
        let rows: Vec<&str> = after.lines().take_while(|l| l.starts_with("  ")).collect();
        assert!(
            rows.iter()
                .any(|l| l.contains("error, first second after the follow")),
            "no rows for {codec}:\n{out}"
        );
    }
}

/// Needs the JACK build of the program and of the bench (`--features jack`), jackd and x42's
/// jack_midi_clock.
#[cfg(feature = "jack")]
#[test]
fn the_jack_bench_runs() {
    let out = bench(&["--jack", "--trials", "2"]);
    for row in [
        "start from the top (Start)",
        "start mid-song (Continue)",
        "after a locate while rolling",
        "LTC 25 fps",
    ] {
        assert!(has_row(&out, row), "no figure for '{row}':\n{out}");
    }
}

/// The Link case: a real Link peer (PyPI aalink) in a network namespace the bench makes (CI
/// runs as root, as tests/link.rs needs too).
#[test]
fn the_link_bench_runs() {
    let out = bench(&["--link", "--trials", "1"]);
    for row in [
        "Link start: frames 1..25 after the launch",
        "Link running: frames 26..60",
    ] {
        assert!(has_row(&out, row), "no figure for '{row}':\n{out}");
    }
    assert!(
        out.contains("Link Stop: frames due after it shown"),
        "{out}"
    );
}
