//! A MIDI clock flood into a stalled player (real libmpv, headless): transport messages are
//! never lost nor stuck behind the ticks, and the process's memory stays flat.
//!
//! The player is stalled with the test-only `PlayerInput::Stall`, as a player stuck in a slow
//! call would be; the flood goes in through `MidiInlet::receive`, the entry point of every
//! MIDI source. `PLAYHEAD_FLOOD_SECS` (default 20) sets how long the memory test floods.

use crossbeam_channel::Sender;
use playhead::player::lanes::LANE_TICKS;
use playhead::player::{InputCounters, Notice, PlayerInput};
use playhead::screen::headless::HeadlessShow;
use playhead::sources::MidiInlet;
use playhead::transport::Cue;
use std::time::{Duration, Instant};

mod common;

/// The flood's rate: 200 times the clock of a DAW at 120 BPM (48 ticks a second).
const FLOOD_TICKS_PER_S: u64 = 10_000;
/// Ticks sent in each millisecond of the flood.
const TICKS_PER_MS: u64 = FLOOD_TICKS_PER_S / 1000;

/// Held by each test for its whole run: the memory test reads the whole process's RSS, which
/// another show starting or ending beside it would move.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Stalls the player until the returned sender is dropped.
fn stall(show: &HeadlessShow) -> Sender<()> {
    let (release, stalled) = crossbeam_channel::bounded(0);
    show.tx
        .send(PlayerInput::Stall(stalled))
        .expect("the player takes messages");
    release
}

fn counters(show: &HeadlessShow) -> InputCounters {
    let (tx, rx) = crossbeam_channel::bounded(1);
    show.tx
        .send(PlayerInput::Counters(tx))
        .expect("the player takes messages");
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the player answers")
}

/// Sends clock ticks at [`FLOOD_TICKS_PER_S`] for `duration_ms`, calling `each_ms` after each
/// millisecond's ticks with the number of milliseconds done; returns the ticks sent.
fn flood(
    inlet: &mut MidiInlet,
    duration_ms: u64,
    mut each_ms: impl FnMut(u64, &mut MidiInlet),
) -> u64 {
    let ticks = [0xF8u8; TICKS_PER_MS as usize];
    let start = Instant::now();
    for ms in 0..duration_ms {
        // Paced to the schedule, not by sleeping a fixed time: a late wake-up catches up.
        if let Some(wait) =
            (start + Duration::from_millis(ms)).checked_duration_since(Instant::now())
        {
            std::thread::sleep(wait);
        }
        assert!(inlet.receive(&ticks, Instant::now()), "the player is gone");
        each_ms(ms + 1, inlet);
    }
    duration_ms * TICKS_PER_MS
}

#[test]
fn transport_after_a_flood_is_never_lost_nor_stuck_behind_clocks() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let show = common::headless_demo(&common::start_mode());
    let mut inlet = show.inlet("flood");
    let release = stall(&show);
    // Two seconds of flood with Start, Stop, Start, Stop in it: four messages, so the ticks
    // fall into five lanes in turn.
    let sent = flood(&mut inlet, 2000, |ms, inlet| {
        let bytes: &[u8] = match ms {
            500 | 1500 => &[0xFA],
            1000 | 2000 => &[0xFC],
            _ => return,
        };
        assert!(inlet.receive(bytes, Instant::now()));
    });
    let released_at = Instant::now();
    drop(release);
    let mut cues = Vec::new();
    let deadline = released_at + Duration::from_secs(20);
    while cues.iter().filter(|&&c| c == Cue::Hold).count() < 2 {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("only these cues after the release: {cues:?}"));
        match show.notices.recv_timeout(left) {
            Ok(Notice::Cued { cue, .. }) => cues.push(cue),
            Ok(Notice::Fatal(m)) => panic!("fatal: {m}"),
            Ok(_) => {}
            Err(_) => panic!("only these cues after the release: {cues:?}"),
        }
    }
    let took = released_at.elapsed();
    let c = counters(&show);
    assert_eq!(
        cues,
        [Cue::Play, Cue::Hold, Cue::PlayFromTop, Cue::Hold],
        "every Start and Stop applied, in order"
    );
    assert_eq!(c.clocks_received, sent, "every tick counted: {c:?}");
    assert!(
        c.clocks_folded > 0,
        "the stalled player's ticks were folded: {c:?}"
    );
    // Before each message the player took at most one lane: LANE_TICKS single ticks and one
    // folded record, never the flood tick by tick.
    assert!(c.folded_records <= 5, "{c:?}");
    assert!(
        c.clocks_received - c.clocks_folded <= 5 * LANE_TICKS as u64,
        "{c:?}"
    );
    eprintln!(
        "flood of {sent} ticks into a stalled player: {} taken one by one, {} folded into {} \
         records; the last Stop applied {:.3} ms after the release",
        c.clocks_received - c.clocks_folded,
        c.clocks_folded,
        c.folded_records,
        took.as_secs_f64() * 1000.0
    );
}

#[test]
fn memory_stays_flat_under_a_clock_flood_into_a_stalled_player() {
    let flood_secs: u64 = std::env::var("PLAYHEAD_FLOOD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    /// Seconds of flood before the memory is taken as warmed up.
    const WARM_UP_SECS: u64 = 3;
    /// Allowed growth after the warm-up: allocator noise, never a queue. (A tick queued as a
    /// message would grow the process by about 0.5 MiB a second at this rate.)
    const FLAT_KIB: u64 = 4 * 1024;
    assert!(
        flood_secs > WARM_UP_SECS,
        "PLAYHEAD_FLOOD_SECS must be more than {WARM_UP_SECS}"
    );
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let show = common::headless_demo(&common::start_mode());
    let mut inlet = show.inlet("flood");
    let release = stall(&show);
    let mut warm_kib = None;
    let (mut low_kib, mut high_kib) = (u64::MAX, 0);
    let sent = flood(&mut inlet, flood_secs * 1000, |ms, _| {
        if ms % 1000 != 0 || ms < WARM_UP_SECS * 1000 {
            return;
        }
        let rss = common::rss_kib();
        warm_kib.get_or_insert(rss);
        low_kib = low_kib.min(rss);
        high_kib = high_kib.max(rss);
    });
    drop(release);
    let c = counters(&show);
    let warm = warm_kib.expect("samples after the warm-up");
    eprintln!(
        "{sent} ticks over {flood_secs} s into a stalled player: RSS {warm} KiB after the \
         warm-up, {low_kib}..{high_kib} KiB after it ({:+} KiB)",
        high_kib as i64 - warm as i64
    );
    assert_eq!(c.clocks_received, sent, "{c:?}");
    assert!(
        high_kib - low_kib <= FLAT_KIB,
        "memory grew under the flood: {low_kib}..{high_kib} KiB"
    );
}
