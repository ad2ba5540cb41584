//! A simulated show for the drift controller: a DAW sending MIDI clock from its tempo map, a
//! receiver turning ticks into positions, a player with its own speed error, and the
//! controller between them. Deterministic for a seed; the bench and the chase tests use it.

use playhead_core::chase::drift::{
    Correction, DawReference, DriftConfig, DriftController, LockState,
};
use playhead_core::chase::position::SongPosition;
use playhead_core::chase::tempo::TempoMap;
use playhead_core::chase::ChaseError;
use playhead_core::rng::Rng;

/// A stretch of the show during which the DAW's clock messages are lost (the DAW itself plays
/// on).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockGap {
    /// Start of the loss, seconds into the show.
    pub from_s: f64,
    /// End of the loss, seconds into the show.
    pub to_s: f64,
}

/// A simulated show for [`simulate_show`]: a DAW sending MIDI clock from its tempo map, a
/// receiver turning ticks into positions, a player with its own speed error, and the drift
/// controller between them.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Length of the show. Default 5400 s (90 minutes).
    pub duration_s: f64,
    /// The song's tempo map, used by the DAW to send ticks and by the receiver to read them.
    /// Default 120 BPM 4/4.
    pub tempo_map: TempoMap,
    /// How fast the DAW's clock runs against ours, in parts per million. Default +100.
    pub daw_clock_ppm: f64,
    /// How fast the player runs at speed 1.0 against our clock, in ppm (−10 000: 1 % slow).
    /// Default 0.
    pub player_rate_ppm: f64,
    /// Uniform jitter on every tick's receipt time, ±this much. Default 2 ms.
    pub tick_jitter_s: f64,
    /// Interval between the player's position reports. Default 20 ms.
    pub report_interval_s: f64,
    /// How long a seek takes; the player reports the target meanwhile, as mpv does. Default 0.
    pub seek_time_s: f64,
    /// Where the video is when the DAW starts at 0 (positive: ahead). Default 0.
    pub initial_offset_s: f64,
    /// Stretches where the clock is lost. Default none.
    pub clock_gaps: Vec<ClockGap>,
    /// Whether the controller acts; `false` measures the uncorrected drift. Default true.
    pub correction: bool,
    /// Controller settings. Default [`DriftConfig::default`].
    pub drift: DriftConfig,
    /// Errors before this time are not counted (pull-in). Default 0.
    pub settle_s: f64,
    /// Seed of the jitter. Default 1.
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            duration_s: 5400.0,
            tempo_map: TempoMap::default(),
            daw_clock_ppm: 100.0,
            player_rate_ppm: 0.0,
            tick_jitter_s: 0.002,
            report_interval_s: 0.02,
            seek_time_s: 0.0,
            initial_offset_s: 0.0,
            clock_gaps: Vec::new(),
            correction: true,
            drift: DriftConfig::default(),
            settle_s: 0.0,
            seed: 1,
        }
    }
}

/// What a simulated show measured. Errors are DAW − video, sampled at every report after
/// `settle_s`, in milliseconds for reading.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DriftReport {
    /// Largest |error| while the reference was present.
    pub max_error_ms: f64,
    /// Root mean square error while the reference was present.
    pub rms_error_ms: f64,
    /// Largest |error| while free-running.
    pub max_free_running_error_ms: f64,
    /// Seeks sent.
    pub seeks: u32,
    /// Speed changes sent (any command that changed the speed).
    pub speed_changes: u32,
    /// Corrections: times the controller left the dead band and adjusted the speed.
    pub corrections: u32,
    /// Times the speed adjustment (speed − 1 − trim) changed sign within one correction: an
    /// overshoot. 0 means no oscillation.
    pub speed_sign_flips: u32,
    /// Times the controller reported "clock lost: free-running".
    pub free_runs: u32,
    /// Times it locked again after free-running.
    pub relocks: u32,
    /// Error samples counted in `max_error_ms` and `rms_error_ms`.
    pub samples: u64,
    /// Speed at the end of the show.
    pub final_speed: f64,
}

/// Runs a simulated show and measures how well the video followed the DAW. Deterministic for
/// a given config (seeded jitter). Fails on settings out of range: durations up to 48 hours,
/// reports every 1 ms to 10 s, clock and player errors within ±10 %, jitter up to 1 s, seek
/// times up to 10 s, finite offsets and gaps.
pub fn simulate_show(config: &SimConfig) -> Result<DriftReport, ChaseError> {
    let bad = |name, value: f64, expected| {
        Err(ChaseError::InvalidSetting {
            name,
            value,
            expected,
        })
    };
    let within = |v: f64, lo: f64, hi: f64| v.is_finite() && v >= lo && v <= hi;
    if !within(config.duration_s, 0.0, 172_800.0) {
        return bad("duration_s", config.duration_s, "0 to 172800 seconds");
    }
    if !within(config.report_interval_s, 0.001, 10.0) {
        return bad(
            "report_interval_s",
            config.report_interval_s,
            "0.001 to 10 seconds",
        );
    }
    if !within(config.daw_clock_ppm, -100_000.0, 100_000.0) {
        return bad(
            "daw_clock_ppm",
            config.daw_clock_ppm,
            "-100000 to 100000 ppm",
        );
    }
    if !within(config.player_rate_ppm, -100_000.0, 100_000.0) {
        return bad(
            "player_rate_ppm",
            config.player_rate_ppm,
            "-100000 to 100000 ppm",
        );
    }
    if !within(config.tick_jitter_s, 0.0, 1.0) {
        return bad("tick_jitter_s", config.tick_jitter_s, "0 to 1 second");
    }
    if !within(config.seek_time_s, 0.0, 10.0) {
        return bad("seek_time_s", config.seek_time_s, "0 to 10 seconds");
    }
    if !within(config.initial_offset_s, -86_400.0, 86_400.0) {
        return bad(
            "initial_offset_s",
            config.initial_offset_s,
            "a finite number of seconds",
        );
    }
    if !within(config.settle_s, 0.0, f64::MAX) {
        return bad("settle_s", config.settle_s, "0 or more seconds");
    }
    for gap in &config.clock_gaps {
        if !(gap.from_s.is_finite() && gap.to_s.is_finite()) {
            return bad("clock_gaps", gap.from_s, "finite times");
        }
    }
    let mut controller = DriftController::new(config.drift)?;
    let daw_rate = 1.0 + config.daw_clock_ppm * 1e-6;
    let mut rng = Rng::seeded(config.seed);
    let mut player = SimPlayer::new(
        config.initial_offset_s,
        1.0 + config.player_rate_ppm * 1e-6,
        config.seek_time_s,
    );

    // The next tick: its clock number, receipt time and song position.
    let tick_at = |index: u64, rng: &mut Rng, last_receipt_s: f64| {
        let song_s = config
            .tempo_map
            .seconds_at(SongPosition::from_clocks(index));
        let sent_s = song_s / daw_rate;
        let receipt_s = (sent_s + config.tick_jitter_s * rng.symmetric()).max(last_receipt_s);
        (sent_s, receipt_s, song_s)
    };
    let mut tick_index = 0u64;
    let mut next_tick = tick_at(0, &mut rng, f64::NEG_INFINITY);
    let mut reference: Option<DawReference> = None;

    let mut report = DriftReport::default();
    let mut sum_sq_ms = 0.0;
    let mut last_sign = 0i8;
    let mut last_state = controller.state();
    let reports = (config.duration_s / config.report_interval_s).floor() as u64;
    for n in 1..=reports {
        let now_s = n as f64 * config.report_interval_s;
        while next_tick.1 <= now_s {
            let (sent_s, receipt_s, song_s) = next_tick;
            let lost = config
                .clock_gaps
                .iter()
                .any(|g| sent_s >= g.from_s && sent_s < g.to_s);
            if !lost {
                reference = Some(DawReference {
                    position_s: song_s,
                    received_at_s: receipt_s,
                });
            }
            tick_index += 1;
            next_tick = tick_at(tick_index, &mut rng, receipt_s);
        }
        let video_s = player.position_s(now_s);
        if config.correction {
            let correction = controller.update(now_s, video_s, reference);
            let before = player.speed;
            match correction {
                Correction::Keep => {}
                Correction::SetSpeed { speed }
                | Correction::Play { speed }
                | Correction::FreeRun { speed } => player.set_speed(now_s, speed),
                Correction::Seek { position_s, speed } => {
                    report.seeks += 1;
                    player.seek(now_s, position_s, speed);
                }
                Correction::Park { position_s } => player.park(now_s, position_s),
            }
            if player.speed != before {
                report.speed_changes += 1;
            }
            let state = controller.state();
            if state == LockState::Correcting {
                let adjust = player.speed - 1.0 - controller.trim();
                let sign = if adjust > 1e-9 {
                    1
                } else if adjust < -1e-9 {
                    -1
                } else {
                    0
                };
                if sign != 0 {
                    if last_sign != 0 && sign != last_sign {
                        report.speed_sign_flips += 1;
                    }
                    last_sign = sign;
                }
            } else {
                last_sign = 0;
            }
            if state != last_state {
                if state == LockState::Correcting {
                    report.corrections += 1;
                }
                if state == LockState::FreeRunning {
                    report.free_runs += 1;
                } else if last_state == LockState::FreeRunning {
                    report.relocks += 1;
                }
                last_state = state;
            }
        }
        if now_s < config.settle_s {
            continue;
        }
        let error_ms = (now_s * daw_rate - player.position_s(now_s)) * 1000.0;
        if config.correction && controller.state() == LockState::FreeRunning {
            report.max_free_running_error_ms = report.max_free_running_error_ms.max(error_ms.abs());
        } else {
            report.max_error_ms = report.max_error_ms.max(error_ms.abs());
            sum_sq_ms += error_ms * error_ms;
            report.samples += 1;
        }
    }
    if report.samples > 0 {
        report.rms_error_ms = (sum_sq_ms / report.samples as f64).sqrt();
    }
    report.final_speed = player.speed;
    Ok(report)
}

/// A player for the simulator: plays at `speed` × its own rate error, seeks take `seek_time_s`
/// and report the target meanwhile (as mpv's `time-pos` does).
#[derive(Clone, Debug)]
struct SimPlayer {
    base_s: f64,
    base_at_s: f64,
    speed: f64,
    rate: f64,
    paused: bool,
    seek_time_s: f64,
    /// Target and completion time of a seek in flight.
    seeking: Option<(f64, f64)>,
}

impl SimPlayer {
    fn new(position_s: f64, rate: f64, seek_time_s: f64) -> Self {
        SimPlayer {
            base_s: position_s,
            base_at_s: 0.0,
            speed: 1.0,
            rate,
            paused: false,
            seek_time_s,
            seeking: None,
        }
    }

    fn position_s(&mut self, now_s: f64) -> f64 {
        if let Some((target_s, done_s)) = self.seeking {
            if now_s < done_s {
                return target_s;
            }
            self.seeking = None;
            self.base_s = target_s;
            self.base_at_s = done_s;
        }
        if self.paused {
            return self.base_s;
        }
        self.base_s + (now_s - self.base_at_s) * self.speed * self.rate
    }

    /// Restarts the straight line at `now_s` so a new speed applies from here on.
    fn rebase(&mut self, now_s: f64) {
        if self.seeking.is_none() {
            self.base_s = self.position_s(now_s);
            self.base_at_s = now_s;
        }
    }

    fn set_speed(&mut self, now_s: f64, speed: f64) {
        self.rebase(now_s);
        self.paused = false;
        self.speed = speed;
    }

    fn seek(&mut self, now_s: f64, target_s: f64, speed: f64) {
        self.paused = false;
        self.speed = speed;
        if self.seek_time_s > 0.0 {
            self.seeking = Some((target_s, now_s + self.seek_time_s));
        } else {
            self.seeking = None;
            self.base_s = target_s;
            self.base_at_s = now_s;
        }
    }

    fn park(&mut self, now_s: f64, position_s: f64) {
        self.seeking = None;
        self.paused = true;
        self.base_s = position_s;
        self.base_at_s = now_s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use playhead_core::chase::position::TimeSignature;
    use playhead_core::chase::tempo::TempoChange;

    fn ninety_minutes() -> SimConfig {
        SimConfig::default()
    }

    #[test]
    fn defaults_are_valid() {
        assert!(DriftConfig::default().validate().is_ok());
        let c = DriftConfig::default();
        assert!(c.gain_per_s * c.filter_tau_s <= 0.25);
    }

    #[test]
    fn a_100_ppm_fast_daw_over_90_minutes() {
        let with = simulate_show(&ninety_minutes()).unwrap();
        let without = simulate_show(&SimConfig {
            correction: false,
            ..ninety_minutes()
        })
        .unwrap();
        eprintln!("100 ppm, 90 min, with correction: {with:?}");
        eprintln!("100 ppm, 90 min, without correction: {without:?}");
        // Uncorrected, 100 ppm of 5400 s is 540 ms.
        assert!((without.max_error_ms - 540.0).abs() < 5.0, "{without:?}");
        // Corrected: within the 10 ms dead band (a quarter frame at 25 fps), and mostly far less.
        assert!(with.max_error_ms < 12.0, "{with:?}");
        assert!(with.rms_error_ms < 5.0, "{with:?}");
        assert_eq!(with.seeks, 0);
        assert_eq!(with.corrections, 1, "{with:?}");
        assert!(with.speed_changes < 20, "{with:?}");
        assert_eq!(with.speed_sign_flips, 0, "{with:?}");
        assert!((with.final_speed - 1.0001).abs() < 10e-6, "{with:?}");
    }

    #[test]
    fn jitter_alone_never_touches_the_speed() {
        for seed in 1..=3 {
            let r = simulate_show(&SimConfig {
                daw_clock_ppm: 0.0,
                seed,
                ..ninety_minutes()
            })
            .unwrap();
            assert_eq!(r.speed_changes, 0, "{r:?}");
            assert_eq!(r.speed_sign_flips, 0);
            assert_eq!(r.seeks, 0);
            assert!(r.max_error_ms < 2.5, "{r:?}");
            assert_eq!(r.final_speed, 1.0);
        }
        // Heavier jitter (±5 ms) still stays inside the dead band.
        let r = simulate_show(&SimConfig {
            daw_clock_ppm: 0.0,
            tick_jitter_s: 0.005,
            duration_s: 600.0,
            ..ninety_minutes()
        })
        .unwrap();
        assert_eq!(r.speed_changes, 0, "{r:?}");
    }

    #[test]
    fn a_player_one_percent_slow_is_pulled_in_and_held() {
        let base = SimConfig {
            daw_clock_ppm: 0.0,
            player_rate_ppm: -10_000.0,
            duration_s: 50.0,
            ..ninety_minutes()
        };
        let pull_in = simulate_show(&SimConfig {
            duration_s: 20.0,
            ..base.clone()
        })
        .unwrap();
        // Before the trim is learned, proportional control holds about 20 ms.
        assert!(pull_in.max_error_ms < 25.0, "{pull_in:?}");
        let held = simulate_show(&SimConfig {
            settle_s: 20.0,
            ..base
        })
        .unwrap();
        eprintln!("1 % slow player, 20-50 s: {held:?}");
        assert!(held.max_error_ms < 3.0, "{held:?}");
        assert_eq!(held.seeks, 0);
        assert_eq!(held.speed_sign_flips, 0);
        assert!((held.final_speed - 1.0 / 0.99).abs() < 2e-4, "{held:?}");
    }

    #[test]
    fn tempo_changes_mid_song() {
        let map = TempoMap::new(&[
            TempoChange::new(1, 120.0, TimeSignature::FOUR_FOUR),
            TempoChange::new(33, 90.0, TimeSignature::new(3, 4).unwrap()),
            TempoChange::new(97, 174.0, TimeSignature::new(7, 8).unwrap()),
        ])
        .unwrap();
        let r = simulate_show(&SimConfig {
            tempo_map: map,
            duration_s: 600.0,
            ..ninety_minutes()
        })
        .unwrap();
        assert!(r.max_error_ms < 12.0, "{r:?}");
        assert_eq!(r.seeks, 0);
        assert_eq!(r.speed_sign_flips, 0);
    }

    #[test]
    fn clock_loss_free_runs_and_relocks() {
        let r = simulate_show(&SimConfig {
            duration_s: 900.0,
            clock_gaps: vec![ClockGap {
                from_s: 400.0,
                to_s: 430.0,
            }],
            ..ninety_minutes()
        })
        .unwrap();
        eprintln!("clock lost for 30 s: {r:?}");
        assert_eq!(r.free_runs, 1, "{r:?}");
        assert_eq!(r.relocks, 1, "{r:?}");
        assert_eq!(r.seeks, 0);
        // The learned trim carries the video through the gap.
        assert!(r.max_free_running_error_ms < 12.0, "{r:?}");
        assert!(r.max_error_ms < 12.0, "{r:?}");
    }

    #[test]
    fn an_uncorrected_player_drifts_off_while_the_clock_is_gone() {
        // A 1 % slow player free-runs at its learned trim, so 30 s without clock cost little.
        let r = simulate_show(&SimConfig {
            daw_clock_ppm: 0.0,
            player_rate_ppm: -10_000.0,
            duration_s: 120.0,
            settle_s: 20.0,
            clock_gaps: vec![ClockGap {
                from_s: 60.0,
                to_s: 90.0,
            }],
            ..ninety_minutes()
        })
        .unwrap();
        assert_eq!((r.free_runs, r.relocks, r.seeks), (1, 1, 0), "{r:?}");
        assert!(r.max_free_running_error_ms < 10.0, "{r:?}");
    }

    #[test]
    fn a_start_far_off_seeks_once_and_learns_the_seek_time() {
        let r = simulate_show(&SimConfig {
            initial_offset_s: -3.0,
            seek_time_s: 0.15,
            duration_s: 120.0,
            settle_s: 30.0,
            ..ninety_minutes()
        })
        .unwrap();
        assert_eq!(r.seeks, 1, "{r:?}");
        assert!(r.max_error_ms < 12.0, "{r:?}");
        // A seek slower than the seek threshold: the first lands late, the lead is learned,
        // the second lands on time.
        let slow = simulate_show(&SimConfig {
            initial_offset_s: 5.0,
            seek_time_s: 0.4,
            duration_s: 60.0,
            settle_s: 20.0,
            ..ninety_minutes()
        })
        .unwrap();
        assert_eq!(slow.seeks, 2, "{slow:?}");
        assert!(slow.max_error_ms < 12.0, "{slow:?}");
    }

    /// Drives a controller and a simulated player by hand: reports every 20 ms against a DAW
    /// whose position is given by `daw` (None: no reference).
    fn drive(
        c: &mut DriftController,
        player: &mut SimPlayer,
        from_s: f64,
        to_s: f64,
        daw: impl Fn(f64) -> Option<f64>,
        log: &mut Vec<Correction>,
    ) {
        let steps = ((to_s - from_s) / 0.02).round() as u64;
        for k in 0..steps {
            let now_s = from_s + k as f64 * 0.02;
            let reference = daw(now_s).map(|p| DawReference {
                position_s: p,
                received_at_s: now_s,
            });
            let video_s = player.position_s(now_s);
            let correction = c.update(now_s, video_s, reference);
            match correction {
                Correction::Keep => continue,
                Correction::SetSpeed { speed }
                | Correction::Play { speed }
                | Correction::FreeRun { speed } => player.set_speed(now_s, speed),
                Correction::Seek { position_s, speed } => player.seek(now_s, position_s, speed),
                Correction::Park { position_s } => player.park(now_s, position_s),
            }
            log.push(correction);
        }
    }

    #[test]
    fn a_daw_locate_seeks_with_the_learned_lead() {
        let mut c = DriftController::new(DriftConfig::default()).unwrap();
        let mut player = SimPlayer::new(0.0, 1.0, 0.12);
        let mut log = Vec::new();
        drive(&mut c, &mut player, 0.0, 5.0, Some, &mut log);
        assert!(log.is_empty(), "{log:?}");
        // The engineer jumps to 60 s into the song.
        drive(&mut c, &mut player, 5.0, 10.0, |t| Some(t + 55.0), &mut log);
        assert!(matches!(log[0], Correction::Seek { .. }), "{log:?}");
        assert!((c.seek_lead_s() - 0.12).abs() < 0.03, "{}", c.seek_lead_s());
        // And again: this time the seek lands on the DAW.
        log.clear();
        drive(
            &mut c,
            &mut player,
            10.0,
            12.0,
            |t| Some(t + 115.0),
            &mut log,
        );
        let seeks = log
            .iter()
            .filter(|c| matches!(c, Correction::Seek { .. }))
            .count();
        assert_eq!(seeks, 1, "{log:?}");
        let error_s = 12.0 + 115.0 - player.position_s(12.0);
        assert!(error_s.abs() < 0.03, "{error_s}");
    }

    #[test]
    fn pre_roll_parks_then_plays() {
        let mut c = DriftController::new(DriftConfig::default()).unwrap();
        let mut player = SimPlayer::new(0.0, 1.0, 0.0);
        let mut log = Vec::new();
        // Timecode rolls from 5 s before the video's start.
        drive(&mut c, &mut player, 0.0, 10.0, |t| Some(t - 5.0), &mut log);
        assert_eq!(log[0], Correction::Park { position_s: 0.0 });
        assert!(matches!(log[1], Correction::Play { .. }), "{log:?}");
        assert_eq!(log.len(), 2, "{log:?}");
        let error_s = 10.0 - 5.0 - player.position_s(10.0);
        assert!(error_s.abs() < 0.025, "{error_s}");
        assert_eq!(c.state(), LockState::Locked);
        // Locating into pre-roll parks again.
        log.clear();
        drive(
            &mut c,
            &mut player,
            10.0,
            11.0,
            |t| Some(t - 20.0),
            &mut log,
        );
        assert_eq!(log, vec![Correction::Park { position_s: 0.0 }]);
        assert_eq!(c.state().label(), "parked before the video start");
    }

    #[test]
    fn losing_the_reference_is_reported_once() {
        let mut c = DriftController::new(DriftConfig::default()).unwrap();
        let mut player = SimPlayer::new(0.0, 1.0, 0.0);
        let mut log = Vec::new();
        drive(&mut c, &mut player, 0.0, 2.0, Some, &mut log);
        drive(&mut c, &mut player, 2.0, 4.0, |_| None, &mut log);
        assert_eq!(log, vec![Correction::FreeRun { speed: 1.0 }]);
        assert_eq!(c.state().label(), "clock lost: free-running");
        drive(&mut c, &mut player, 4.0, 5.0, Some, &mut log);
        assert_eq!(c.state(), LockState::Locked);
        assert_eq!(log.len(), 1, "{log:?}");
        // A stale reference counts as lost too.
        let stale = DawReference {
            position_s: 5.0,
            received_at_s: 5.0,
        };
        assert_eq!(c.update(5.2, 5.2, Some(stale)), Correction::Keep);
        assert!(matches!(
            c.update(5.6, 5.6, Some(stale)),
            Correction::FreeRun { .. }
        ));
    }

    #[test]
    fn one_bad_report_does_not_seek() {
        let mut c = DriftController::new(DriftConfig::default()).unwrap();
        let mut player = SimPlayer::new(0.0, 1.0, 0.0);
        let mut log = Vec::new();
        drive(&mut c, &mut player, 0.0, 2.0, Some, &mut log);
        drive(&mut c, &mut player, 2.0, 2.02, |t| Some(t + 1.0), &mut log);
        drive(&mut c, &mut player, 2.02, 4.0, Some, &mut log);
        assert!(
            !log.iter().any(|c| matches!(c, Correction::Seek { .. })),
            "{log:?}"
        );
    }

    #[test]
    fn nonsense_input_does_not_panic() {
        let mut c = DriftController::new(DriftConfig::default()).unwrap();
        let weird = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1e308,
            1e308,
            0.0,
            -0.0,
        ];
        for &a in &weird {
            for &b in &weird {
                for &p in &weird {
                    for &r in &weird {
                        let reference = Some(DawReference {
                            position_s: p,
                            received_at_s: r,
                        });
                        let _ = c.update(a, b, reference);
                        let _ = c.update(a, b, None);
                    }
                }
            }
        }
        // Reports going back in time are ignored.
        let mut c = DriftController::new(DriftConfig::default()).unwrap();
        let reference = Some(DawReference {
            position_s: 10.0,
            received_at_s: 10.0,
        });
        c.update(10.0, 10.0, reference);
        assert_eq!(c.update(9.0, 50.0, reference), Correction::Keep);
        // Bad settings are errors.
        for bad in [
            DriftConfig {
                dead_band_s: f64::NAN,
                ..DriftConfig::default()
            },
            DriftConfig {
                release_s: 0.02,
                ..DriftConfig::default()
            },
            DriftConfig {
                gain_per_s: 5.0,
                ..DriftConfig::default()
            },
            DriftConfig {
                max_speed_adjust: 0.5,
                ..DriftConfig::default()
            },
            DriftConfig {
                seek_confirm_reports: 0,
                ..DriftConfig::default()
            },
        ] {
            assert!(DriftController::new(bad).is_err(), "{bad:?}");
        }
        for bad in [
            SimConfig {
                duration_s: f64::NAN,
                ..SimConfig::default()
            },
            SimConfig {
                report_interval_s: 0.0,
                ..SimConfig::default()
            },
            SimConfig {
                clock_gaps: vec![ClockGap {
                    from_s: f64::NAN,
                    to_s: 1.0,
                }],
                ..SimConfig::default()
            },
        ] {
            assert!(simulate_show(&bad).is_err());
        }
    }
}
