//! The preload window against the real libmpv, headless: which songs are held ready, what a
//! jump outside the window shows and how long it takes, and what a long setlist costs in
//! memory.
//!
//! The memory of a show is the whole process's, so each figure comes from a fresh process:
//! the test runs this test binary again with `PLAYHEAD_PRELOAD_PROBE` set, and the child (the
//! ignored test `memory_probe`) starts the show, waits until its window is loaded and prints
//! its resident memory. The 1080p H.264 songs are made by ffmpeg in a temporary folder.

use playhead::player::{Notice, PlayerOptions};
use playhead::screen::headless::HeadlessShow;
use playhead::show::Show;
use playhead::transport::FollowMode;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{demo, headless_frame as on_screen, second_song, temp_dir, wait_headless_frame};

const W: usize = 640;
const H: usize = 360;

/// How long a notice may take at most (a sanity bound against a hang, not a timing goal).
const NOTICE_TIMEOUT: Duration = Duration::from_secs(30);

fn start(text: &str, dir: &Path) -> HeadlessShow {
    let file = dir.join("tour.playhead.toml");
    std::fs::write(&file, text).expect("write the show file");
    let show = Show::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let options = PlayerOptions {
        follow: FollowMode::Start,
        ..PlayerOptions::default()
    };
    HeadlessShow::start_show(show, &options, W, H).expect("start")
}

/// A show file of `songs` with `preload` (`None`: the default).
fn show_text(songs: &[PathBuf], preload: Option<&str>) -> String {
    let mut text = preload.map_or(String::new(), |p| format!("preload = {p}\n"));
    for song in songs {
        text += &format!("[[song]]\nvideo = \"{}\"\n", song.display());
    }
    text
}

/// Takes the first notice that `pick` takes: from `seen` (notices that came before and were
/// not taken), or else the next ones, which go to `seen` until one is taken.
fn wait_notice<T>(
    h: &HeadlessShow,
    what: &str,
    seen: &mut Vec<Notice>,
    pick: impl Fn(&Notice) -> Option<T>,
) -> T {
    if let Some((i, t)) = seen
        .iter()
        .enumerate()
        .find_map(|(i, n)| Some((i, pick(n)?)))
    {
        seen.remove(i);
        return t;
    }
    let deadline = Instant::now() + NOTICE_TIMEOUT;
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("no notice {what}; saw {seen:?}"));
        let n = h
            .notices
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no notice {what}; saw {seen:?}"));
        if let Notice::Fatal(m) = &n {
            panic!("fatal: {m}");
        }
        if let Some(t) = pick(&n) {
            return t;
        }
        seen.push(n);
    }
}

#[test]
fn a_jump_outside_the_window_loads_the_song_and_one_inside_it_is_instant() {
    let dir = temp_dir("preload-jump");
    // Songs 1-4 are the demo (frame codes from 0), song 5 the encore (frame codes from 1000).
    let mut songs = vec![demo(); 4];
    songs.push(second_song(&dir));
    let h = start(&show_text(&songs, None), &dir);
    let mut seen = Vec::new();
    wait_notice(&h, "ready", &mut seen, ready);
    // The default window: song 1 on screen, song 2 preloaded, nothing else.
    wait_notice(&h, "song 2 preloaded", &mut seen, |n| {
        (*n == Notice::Preloaded { song: 1 }).then_some(())
    });
    let mut midi = h.inlet("daw");
    midi.receive(&[0xFA], Instant::now());
    wait_headless_frame(&h, "song 1 playing", |n| (25..1000).contains(&n));
    midi.receive(&[0xFC], Instant::now());

    // Song 5 is outside the window: loaded on demand, its first frame (1000) on screen.
    let mark = seen.len();
    midi.receive(&[0xF3, 4], Instant::now());
    let took = wait_notice(&h, "song 5 loaded on demand", &mut seen, |n| match n {
        Notice::LoadedOnDemand { song: 4, took } => Some(*took),
        _ => None,
    });
    wait_notice(&h, "the switch to song 5", &mut seen, |n| {
        (*n == Notice::Switched { song: 4 }).then_some(())
    });
    let n = wait_headless_frame(&h, "song 5's first frame", |n| n >= 1000);
    assert!((1000..=1001).contains(&n), "song 5 starts at 1000: {n}");
    assert!(
        !seen[mark..]
            .iter()
            .any(|n| matches!(n, Notice::Switched { .. })),
        "the screen switched only once song 5's frame was ready: {seen:?}"
    );
    eprintln!(
        "jump to a song outside the window (640x360 demo): first frame after {:.0} ms",
        took.as_secs_f64() * 1000.0
    );

    // Song 4 is its neighbour now: preloaded, and selecting it switches without a load.
    wait_notice(&h, "song 4 preloaded", &mut seen, |n| {
        (*n == Notice::Preloaded { song: 3 }).then_some(())
    });
    let mark = seen.len();
    let t = Instant::now();
    midi.receive(&[0xF3, 3], Instant::now());
    wait_notice(&h, "the switch to song 4", &mut seen, |n| {
        (*n == Notice::Switched { song: 3 }).then_some(())
    });
    let switch = t.elapsed();
    assert!(
        !seen[mark..]
            .iter()
            .any(|n| matches!(n, Notice::LoadedOnDemand { .. })),
        "song 4 was preloaded: {seen:?}"
    );
    assert_eq!(
        wait_headless_frame(&h, "song 4's first frame", |n| n < 1000),
        0
    );
    eprintln!(
        "jump to a preloaded song: switched after {:.3} ms",
        switch.as_secs_f64() * 1000.0
    );
    assert_eq!(on_screen(&h), Some(0));
}

#[test]
fn preload_all_holds_every_song() {
    let dir = temp_dir("preload-all");
    let songs = vec![demo(); 4];
    let h = start(&show_text(&songs, Some("\"all\"")), &dir);
    let mut seen = Vec::new();
    wait_notice(&h, "ready", &mut seen, ready);
    let mut preloaded = std::collections::BTreeSet::new();
    while preloaded.len() < 3 {
        preloaded.insert(wait_notice(
            &h,
            "every song preloaded",
            &mut seen,
            |n| match n {
                Notice::Preloaded { song } => Some(*song),
                _ => None,
            },
        ));
    }
    assert_eq!(preloaded.into_iter().collect::<Vec<_>>(), [1, 2, 3]);
    // The farthest song switches without a load.
    let mark = seen.len();
    h.inlet("daw").receive(&[0xF3, 3], Instant::now());
    wait_notice(&h, "the switch to song 4", &mut seen, |n| {
        (*n == Notice::Switched { song: 3 }).then_some(())
    });
    assert!(
        !seen[mark..]
            .iter()
            .any(|n| matches!(n, Notice::LoadedOnDemand { .. })),
        "{seen:?}"
    );
}

fn ready(n: &Notice) -> Option<()> {
    matches!(n, Notice::Ready { .. }).then_some(())
}

/// A 10 s 1080p H.264 song made by ffmpeg (cached in the temporary folder).
fn song_1080p(dir: &Path) -> PathBuf {
    let out = dir.join("song-1080p.mp4");
    if out.exists() {
        return out;
    }
    let partial = dir.join("song-1080p.part.mp4");
    let st = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=1920x1080:rate=25")
        .args([
            "-t",
            "10",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&partial)
        .status()
        .expect("ffmpeg (Debian package ffmpeg; packaging/quickstart.sh test installs it)");
    assert!(st.success(), "ffmpeg failed");
    std::fs::rename(&partial, &out).expect("rename the song");
    out
}

/// What a child process measured: RSS in KiB and, when it jumped, the on-demand load time.
struct Probe {
    rss_kib: u64,
    after_jump_kib: Option<u64>,
    after_walk_kib: Option<u64>,
    jump_ms: Option<f64>,
}

/// Runs `memory_probe` in a fresh process for a show of `songs` copies of `video`.
fn probe(video: &Path, songs: usize, preload: &str) -> Probe {
    let out = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["memory_probe", "--exact", "--ignored", "--nocapture"])
        .env("PLAYHEAD_PRELOAD_PROBE", format!("{songs}:{preload}"))
        .env("PLAYHEAD_PRELOAD_VIDEO", video)
        .output()
        .expect("run the probe");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the probe failed:\n{text}");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    Probe {
        rss_kib: field("PROBE_RSS_KIB=")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no RSS from the probe:\n{text}")),
        after_jump_kib: field("PROBE_RSS_AFTER_JUMP_KIB=").and_then(|v| v.parse().ok()),
        after_walk_kib: field("PROBE_RSS_AFTER_WALK_KIB=").and_then(|v| v.parse().ok()),
        jump_ms: field("PROBE_JUMP_MS=").and_then(|v| v.parse().ok()),
    }
}

#[test]
fn twelve_songs_cost_at_most_twice_one_song_plus_50_mib() {
    let dir = temp_dir("preload-memory");
    let video = song_1080p(&dir);
    let one = probe(&video, 1, "1");
    let twelve = probe(&video, 12, "1");
    let bound_kib = 2 * one.rss_kib + 50 * 1024;
    let after_jump_kib = twelve.after_jump_kib.expect("the 12-song probe jumped");
    let after_walk_kib = twelve
        .after_walk_kib
        .expect("the 12-song probe walked the setlist");
    eprintln!(
        "RSS of a headless show of 1080p H.264 songs: 1 song {} MiB, 12 songs (preload = 1) {} \
         MiB at the start, {} MiB after a jump to song 12, {} MiB after a walk back to song 1, \
         bound {} MiB; song 12 (not preloaded) showed its first frame {:.0} ms after it was \
         selected",
        one.rss_kib / 1024,
        twelve.rss_kib / 1024,
        after_jump_kib / 1024,
        after_walk_kib / 1024,
        bound_kib / 1024,
        twelve.jump_ms.unwrap_or(f64::NAN)
    );
    for (when, kib) in [
        ("at the start", twelve.rss_kib),
        ("after a jump", after_jump_kib),
        ("after a walk through the setlist", after_walk_kib),
    ] {
        assert!(
            kib <= bound_kib,
            "12 songs use {kib} KiB {when}, more than twice one song ({} KiB) plus 50 MiB",
            one.rss_kib
        );
    }
    if std::env::var_os("PLAYHEAD_PRELOAD_ALL").is_some() {
        let all = probe(&video, 12, "\"all\"");
        eprintln!(
            "RSS of 12 songs with preload = \"all\": {} MiB",
            all.rss_kib / 1024
        );
    }
}

/// Run by `twelve_songs_cost_at_most_twice_one_song_plus_50_mib` in a fresh process: starts a
/// show of `PLAYHEAD_PRELOAD_PROBE` = "songs:preload" copies of `PLAYHEAD_PRELOAD_VIDEO`,
/// waits until its window is loaded, prints its RSS, and with more than 3 songs jumps to the
/// last one (outside the window) and prints how long its first frame took, then the RSS again
/// once the window has moved.
#[test]
#[ignore = "run by twelve_songs_cost_at_most_twice_one_song_plus_50_mib"]
fn memory_probe() {
    let spec = std::env::var("PLAYHEAD_PRELOAD_PROBE").expect("PLAYHEAD_PRELOAD_PROBE");
    let (songs, preload) = spec.split_once(':').expect("songs:preload");
    let songs: usize = songs.parse().expect("a number of songs");
    let video = PathBuf::from(std::env::var_os("PLAYHEAD_PRELOAD_VIDEO").expect("a video"));
    let dir = temp_dir("preload-probe");
    let h = start(&show_text(&vec![video; songs], Some(preload)), &dir);
    let mut seen = Vec::new();
    wait_notice(&h, "ready", &mut seen, ready);
    let preloaded = if preload == "1" {
        songs.min(2) - 1
    } else {
        songs - 1
    };
    for _ in 0..preloaded {
        wait_notice(&h, "the window loaded", &mut seen, |n| {
            matches!(n, Notice::Preloaded { .. }).then_some(())
        });
    }
    settle();
    let rss = common::rss_kib();
    if songs > 3 && preload == "1" {
        let last = songs - 1;
        h.inlet("daw").receive(
            &[0xF3, u8::try_from(last).expect("few songs")],
            Instant::now(),
        );
        let took = wait_notice(
            &h,
            "the last song loaded on demand",
            &mut seen,
            |n| match n {
                Notice::LoadedOnDemand { song, took } if *song == last => Some(*took),
                _ => None,
            },
        );
        println!("PROBE_JUMP_MS={:.1}", took.as_secs_f64() * 1000.0);
        wait_notice(&h, "the new neighbour preloaded", &mut seen, |n| {
            matches!(n, Notice::Preloaded { .. }).then_some(())
        });
        settle();
        println!("PROBE_RSS_AFTER_JUMP_KIB={}", common::rss_kib());
        // Back through the setlist song by song, as a show goes: each is a preloaded
        // neighbour, and each step loads the next one and unloads one behind.
        for song in (0..last).rev() {
            h.inlet("daw").receive(
                &[0xF3, u8::try_from(song).expect("few songs")],
                Instant::now(),
            );
            wait_notice(&h, "the switch", &mut seen, |n| {
                (*n == Notice::Switched { song }).then_some(())
            });
            if song > 0 {
                wait_notice(&h, "the next neighbour preloaded", &mut seen, |n| {
                    (*n == Notice::Preloaded { song: song - 1 }).then_some(())
                });
            }
        }
        settle();
        println!("PROBE_RSS_AFTER_WALK_KIB={}", common::rss_kib());
    }
    println!("PROBE_RSS_KIB={rss}");
}

/// Lets mpv's threads finish freeing the buffers of unloaded files before the memory is read:
/// waits 2 s, then until two readings of the RSS a second apart differ by less than 1 MiB (at
/// most 10 s more).
fn settle() {
    std::thread::sleep(Duration::from_secs(2));
    let mut last = common::rss_kib();
    for _ in 0..10 {
        std::thread::sleep(Duration::from_secs(1));
        let now = common::rss_kib();
        if now.abs_diff(last) < 1024 {
            return;
        }
        last = now;
    }
}

#[test]
fn the_program_says_which_songs_are_not_preloaded_and_how_long_a_jump_took() {
    let dir = temp_dir("preload-program");
    let pipe = common::fifo(&dir);
    let songs = vec![demo(); 4];
    let file = dir.join("tour.playhead.toml");
    std::fs::write(
        &file,
        format!(
            "midi_devices = [\"{}\"]\n{}",
            pipe.display(),
            show_text(&songs, None)
        ),
    )
    .expect("write the show file");

    // --check: the songs outside the window at the start.
    let out = Command::new(env!("CARGO_BIN_EXE_playhead"))
        .args(["--check", "--no-rtp"])
        .arg(&file)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("run playhead --check");
    let report = String::from_utf8_lossy(&out.stdout);
    let line = report
        .lines()
        .find(|l| l.contains("preload = "))
        .unwrap_or_else(|| panic!("no preload line:\n{report}"));
    assert!(
        line.contains("preload = 1") && line.contains("songs 3 'demo', 4 'demo' are not preloaded"),
        "{line}"
    );

    // A jump outside the window: the log says the song was not preloaded and how long its
    // first frame took.
    let mut c = common::Playhead::command();
    c.arg("--headless").arg(&file);
    let mut ph = common::Playhead::spawn(c);
    ph.wait_log("armed:", NOTICE_TIMEOUT);
    let (tx, rx) = crossbeam_channel::bounded(1);
    let path = pipe.clone();
    std::thread::spawn(move || {
        let _ = tx.send(common::MidiPipe::open(&path));
    });
    let mut midi = rx
        .recv_timeout(NOTICE_TIMEOUT)
        .expect("playhead did not open the show file's MIDI device");
    ph.wait_log("reading MIDI from", NOTICE_TIMEOUT);
    midi.send(&[0xF3, 3]);
    let line = ph.wait_log("loading it now", NOTICE_TIMEOUT);
    assert!(
        line.contains("song 4 'demo'") && line.contains("not preloaded"),
        "{line}"
    );
    let line = ph.wait_log("its first frame is on screen", NOTICE_TIMEOUT);
    assert!(
        line.contains("song 4 'demo' was not preloaded")
            && line.contains("ms after it was selected"),
        "{line}"
    );
}
