//! The clock tempo estimator: the DAW's tempo from the arrival times of its MIDI clock ticks.

use super::is_daw_tempo;
use crate::chase::position::CLOCKS_PER_QUARTER_NOTE;
use crate::chase::ChaseError;
use std::collections::VecDeque;

/// Settings of a [`ClockTempoEstimator`]; the defaults suit MIDI clock over a network.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockTempoConfig {
    /// Ticks in the fit window. Default 96 (four beats): long enough to average ±2 ms jitter to
    /// 0.02 %, short enough that a stale tempo cannot linger once step 4 has fired.
    pub window_ticks: usize,
    /// Ticks after a reset before the first estimate. Default 12 (half a beat, 0.5 % at ±2 ms).
    pub min_ticks: usize,
    /// A gap between ticks longer than this restarts the estimate. Default 0.5 s: a tick period
    /// at 5 BPM, far slower than any song, yet short enough to notice a stopped clock.
    pub reset_gap_s: f64,
    /// Consecutive ticks off the line on the same side that count as a tempo change. Default 3:
    /// one or two late ticks are jitter, three in a row growing apart is a new tempo.
    pub change_ticks: usize,
    /// Smallest outlier threshold. Default 3 ms, above the ±2 ms jitter of network MIDI.
    pub jitter_floor_s: f64,
}

impl Default for ClockTempoConfig {
    fn default() -> Self {
        ClockTempoConfig {
            window_ticks: 96,
            min_ticks: 12,
            reset_gap_s: 0.5,
            change_ticks: 3,
            jitter_floor_s: 0.003,
        }
    }
}

/// One received clock tick: its number since the last reset and its receipt time.
#[derive(Clone, Copy, Debug)]
struct Tick {
    index: u64,
    time_s: f64,
}

/// A fitted line: receipt time of tick `index` = `time0_s + intercept_s + (index - index0) ×
/// seconds_per_clock`. Times are kept relative to the window's first tick so the fit does not
/// lose precision after hours of play.
#[derive(Clone, Copy, Debug)]
struct Line {
    index0: u64,
    time0_s: f64,
    intercept_s: f64,
    seconds_per_clock: f64,
}

impl Line {
    fn time_at_s(&self, index: u64) -> f64 {
        let x = index as f64 - self.index0 as f64;
        self.time0_s + self.intercept_s + x * self.seconds_per_clock
    }
}

/// Estimates the DAW's tempo from the receipt times of its MIDI clock ticks. See the module
/// documentation for the method.
#[derive(Clone, Debug)]
pub struct ClockTempoEstimator {
    config: ClockTempoConfig,
    window: VecDeque<Tick>,
    next_index: u64,
    ticks_since_reset: u64,
    line: Option<Line>,
    /// Robust residual scale (σ) of the last fit.
    scale_s: f64,
    /// Consecutive ticks off the line: how many, on which side, and the first one's index.
    run_len: usize,
    run_late: bool,
    run_start: u64,
    /// One-step prediction errors of the last `min_ticks` ticks.
    recent_residuals_s: VecDeque<f64>,
    tempo_changes: u64,
}

impl Default for ClockTempoEstimator {
    fn default() -> Self {
        Self::with_valid_config(ClockTempoConfig::default())
    }
}

impl ClockTempoEstimator {
    /// An estimator with `config`; fails if a setting is out of range (windows of 3 to 100 000
    /// ticks, `min_ticks` 3 or more, positive finite times, `change_ticks` 2 or more).
    pub fn new(config: ClockTempoConfig) -> Result<Self, ChaseError> {
        let bad = |name, value: f64, expected| {
            Err(ChaseError::InvalidSetting {
                name,
                value,
                expected,
            })
        };
        if !(3..=100_000).contains(&config.window_ticks) {
            return bad("window_ticks", config.window_ticks as f64, "3 to 100000");
        }
        if config.min_ticks < 3 || config.min_ticks > config.window_ticks {
            return bad("min_ticks", config.min_ticks as f64, "3 up to window_ticks");
        }
        if config.change_ticks < 2 || config.change_ticks > config.window_ticks {
            return bad(
                "change_ticks",
                config.change_ticks as f64,
                "2 up to window_ticks",
            );
        }
        if !(config.reset_gap_s > 0.0 && config.reset_gap_s.is_finite()) {
            return bad(
                "reset_gap_s",
                config.reset_gap_s,
                "a positive number of seconds",
            );
        }
        if !(config.jitter_floor_s > 0.0 && config.jitter_floor_s.is_finite()) {
            return bad(
                "jitter_floor_s",
                config.jitter_floor_s,
                "a positive number of seconds",
            );
        }
        Ok(Self::with_valid_config(config))
    }

    fn with_valid_config(config: ClockTempoConfig) -> Self {
        ClockTempoEstimator {
            config,
            window: VecDeque::with_capacity(config.window_ticks + 1),
            next_index: 0,
            ticks_since_reset: 0,
            line: None,
            scale_s: 0.0,
            run_len: 0,
            run_late: false,
            run_start: 0,
            recent_residuals_s: VecDeque::with_capacity(config.min_ticks + 1),
            tempo_changes: 0,
        }
    }

    /// Forgets every tick. Call it on Start, Stop, Continue and Song Position: the clock that
    /// follows may run at another tempo and is not in phase with the old one.
    pub fn reset(&mut self) {
        self.window.clear();
        self.next_index = 0;
        self.ticks_since_reset = 0;
        self.line = None;
        self.scale_s = 0.0;
        self.run_len = 0;
        self.recent_residuals_s.clear();
    }

    /// Records one `F8` received at `now_s` and returns the tempo estimate in BPM, if there is
    /// one yet. A non-finite time is ignored; a time before the previous tick counts as the
    /// same instant (bunched delivery) unless it is more than `reset_gap_s` earlier, which
    /// restarts the estimate like a long gap does.
    pub fn tick(&mut self, now_s: f64) -> Option<f64> {
        if !now_s.is_finite() {
            return self.bpm();
        }
        if let Some(last) = self.window.back() {
            if (now_s - last.time_s).abs() > self.config.reset_gap_s {
                self.reset();
            }
        }
        let time_s = match self.window.back() {
            Some(last) => now_s.max(last.time_s),
            None => now_s,
        };
        let index = self.next_index;
        self.next_index += 1;
        self.ticks_since_reset += 1;
        self.watch_for_change(index, time_s);
        self.window.push_back(Tick { index, time_s });
        while self.window.len() > self.config.window_ticks {
            self.window.pop_front();
        }
        self.refit();
        self.bpm()
    }

    /// The latest tick came after `n` ticks that never arrived: it is numbered past them, and
    /// the line fitted again (it was an outlier one interval late; it is on the line).
    pub fn skipped_before_latest(&mut self, n: u64) {
        self.skipped_before_last(1, n);
    }

    /// The last `ticks` ticks came after `n` ticks that never arrived: they are numbered past
    /// them, and the line fitted again (they were outliers, late by the ticks lost; they are
    /// on the line).
    pub fn skipped_before_last(&mut self, ticks: usize, n: u64) {
        if n == 0 || ticks == 0 || self.window.is_empty() {
            return;
        }
        for t in self.window.iter_mut().rev().take(ticks) {
            t.index += n;
        }
        self.next_index += n;
        self.run_len = 0;
        self.refit();
    }

    /// The current tempo estimate in BPM, or `None` until enough ticks have arrived, and
    /// `None` while the ticks come at a tempo no DAW sends (outside 20-999 BPM, see
    /// [`is_daw_tempo`]): a flood of clock bytes is not a tempo.
    pub fn bpm(&self) -> Option<f64> {
        self.seconds_per_clock()
            .map(|s| 60.0 / (s * CLOCKS_PER_QUARTER_NOTE as f64))
    }

    /// The current estimate as seconds between ticks (`None` as for [`Self::bpm`]).
    pub fn seconds_per_clock(&self) -> Option<f64> {
        self.believable_line().map(|l| l.seconds_per_clock)
    }

    /// When the latest tick "really" happened: the fitted line at its number, which strips that
    /// tick's own jitter. A caller interpolating the position between ticks starts from here.
    /// `None` while there is no believable tempo.
    pub fn latest_tick_fitted_s(&self) -> Option<f64> {
        let last = self.window.back()?;
        self.believable_line().map(|l| l.time_at_s(last.index))
    }

    /// The fitted line, when its slope is a tempo a DAW can send.
    fn believable_line(&self) -> Option<Line> {
        self.line.filter(|l| {
            let s = l.seconds_per_clock;
            s.is_finite() && s > 0.0 && is_daw_tempo(60.0 / (s * CLOCKS_PER_QUARTER_NOTE as f64))
        })
    }

    /// Ticks since the last reset.
    pub fn ticks_since_reset(&self) -> u64 {
        self.ticks_since_reset
    }

    /// How many times the tempo was seen to change (step 4 of the method) since this estimator
    /// was made; for diagnostics.
    pub fn tempo_changes_detected(&self) -> u64 {
        self.tempo_changes
    }

    /// The outlier threshold: the jitter floor, or 4 σ when the ticks are noisier than that.
    fn threshold_s(&self) -> f64 {
        self.config.jitter_floor_s.max(4.0 * self.scale_s)
    }

    /// Step 4: compares the new tick with the line's prediction and cuts the window when the
    /// ticks have left it.
    fn watch_for_change(&mut self, index: u64, time_s: f64) {
        let Some(line) = self.line else {
            return;
        };
        if self.window.len() < self.config.min_ticks {
            // Too few ticks since the last cut for the line or its scale to be trusted.
            return;
        }
        let residual_s = time_s - line.time_at_s(index);
        let threshold_s = self.threshold_s();

        // A run of clear misses on one side: a big tempo change, or the clock jumped.
        if residual_s.abs() > threshold_s {
            let late = residual_s > 0.0;
            if self.run_len > 0 && self.run_late == late {
                self.run_len += 1;
            } else {
                self.run_len = 1;
                self.run_late = late;
                self.run_start = index;
            }
            if self.run_len >= self.config.change_ticks {
                // Keep only the run: all of it is on the new line, none of the old ticks are.
                self.cut_before(self.run_start);
                return;
            }
        } else {
            self.run_len = 0;
        }

        // A small change never misses by much: watch the average of the last `min_ticks`
        // predictions instead, leaving out the clear misses so that late ticks do not count.
        self.recent_residuals_s.push_back(residual_s);
        while self.recent_residuals_s.len() > self.config.min_ticks {
            self.recent_residuals_s.pop_front();
        }
        if self.recent_residuals_s.len() < self.config.min_ticks {
            return;
        }
        let (sum_s, count) = self
            .recent_residuals_s
            .iter()
            .filter(|r| r.abs() <= threshold_s)
            .fold((0.0, 0usize), |(s, n), r| (s + r, n + 1));
        if count * 2 < self.recent_residuals_s.len() {
            return;
        }
        let mean_s = sum_s / count as f64;
        // Five standard errors of a mean of `count` residuals; the floor keeps jitter-free
        // clocks (σ = 0) from tripping on rounding.
        let limit_s =
            (5.0 * self.scale_s / (count as f64).sqrt()).max(self.config.jitter_floor_s / 4.0);
        if mean_s.abs() > limit_s {
            let first_kept = (index + 1).saturating_sub(self.config.min_ticks as u64);
            self.cut_before(first_kept);
        }
    }

    /// Drops the ticks before `first_kept`: they belong to the old tempo.
    fn cut_before(&mut self, first_kept: u64) {
        while self.window.front().is_some_and(|t| t.index < first_kept) {
            self.window.pop_front();
        }
        self.run_len = 0;
        self.recent_residuals_s.clear();
        self.tempo_changes += 1;
    }

    /// Steps 2 and 3: least squares, drop outliers, least squares again.
    fn refit(&mut self) {
        let enough = self.ticks_since_reset >= self.config.min_ticks as u64;
        let Some(first) = self.window.front().copied() else {
            self.line = None;
            return;
        };
        if !enough || self.window.len() < 2 {
            self.line = None;
            return;
        }
        let points: Vec<(f64, f64)> = self
            .window
            .iter()
            .map(|t| ((t.index - first.index) as f64, t.time_s - first.time_s))
            .collect();
        let Some((intercept, slope)) = least_squares(points.iter().copied()) else {
            return;
        };
        let mut residuals: Vec<f64> = points
            .iter()
            .map(|&(x, y)| (y - intercept - slope * x).abs())
            .collect();
        let (mut intercept, mut slope) = (intercept, slope);
        if points.len() >= self.config.min_ticks {
            self.scale_s = 1.4826 * median(&mut residuals);
            let threshold = self.threshold_s();
            let inliers = points
                .iter()
                .copied()
                .filter(|&(x, y)| (y - intercept - slope * x).abs() <= threshold);
            let kept = inliers.clone().count();
            // Refit only when most points survive; otherwise the first fit is the best guess.
            if kept < points.len() && kept * 2 >= points.len() {
                if let Some(fit) = least_squares(inliers) {
                    (intercept, slope) = fit;
                }
            }
        }
        self.line = Some(Line {
            index0: first.index,
            time0_s: first.time_s,
            intercept_s: intercept,
            seconds_per_clock: slope,
        });
    }
}

/// Least-squares line through `points`: `(intercept, slope)`, or `None` when the x values do
/// not spread (fewer than two distinct ones).
fn least_squares(points: impl Iterator<Item = (f64, f64)> + Clone) -> Option<(f64, f64)> {
    let (mut n, mut sum_x, mut sum_y) = (0.0, 0.0, 0.0);
    for (x, y) in points.clone() {
        n += 1.0;
        sum_x += x;
        sum_y += y;
    }
    if n < 2.0 {
        return None;
    }
    let (mean_x, mean_y) = (sum_x / n, sum_y / n);
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (x, y) in points {
        sxx += (x - mean_x) * (x - mean_x);
        sxy += (x - mean_x) * (y - mean_y);
    }
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    Some((mean_y - slope * mean_x, slope))
}

/// Median of `values` (reordered in place); 0 for an empty slice.
fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chase::tempo::seconds_per_clock;
    use crate::rng::Rng;

    /// Feeds `ticks` ticks at `bpm` starting at `start_s`, with uniform ±`jitter_s`, and returns
    /// the time of the next tick.
    fn play(
        est: &mut ClockTempoEstimator,
        rng: &mut Rng,
        start_s: f64,
        bpm: f64,
        ticks: usize,
        jitter_s: f64,
    ) -> f64 {
        let period = seconds_per_clock(bpm);
        for k in 0..ticks {
            est.tick(start_s + k as f64 * period + jitter_s * rng.symmetric());
        }
        start_s + ticks as f64 * period
    }

    #[test]
    fn settles_within_a_few_beats_despite_jitter() {
        let mut rng = Rng::seeded(0x9E37_79B9_7F4A_7C15);
        let mut est = ClockTempoEstimator::default();
        assert_eq!(est.tick(0.0), None);
        let mut t = seconds_per_clock(120.0);
        t = play(&mut est, &mut rng, t, 120.0, 10, 0.002);
        assert_eq!(est.bpm(), None, "11 ticks are not enough");
        t = play(&mut est, &mut rng, t, 120.0, 1, 0.002);
        let first = est.bpm().expect("estimate after half a beat");
        assert!((first - 120.0).abs() < 2.0, "{first}");
        t = play(&mut est, &mut rng, t, 120.0, 12, 0.002);
        let one_beat = est.bpm().unwrap();
        assert!((one_beat - 120.0).abs() < 0.6, "{one_beat}");
        t = play(&mut est, &mut rng, t, 120.0, 72, 0.002);
        let mut worst: f64 = 0.0;
        for _ in 0..5000 {
            t = play(&mut est, &mut rng, t, 120.0, 1, 0.002);
            worst = worst.max((est.bpm().unwrap() - 120.0).abs());
        }
        assert!(worst < 0.15, "worst {worst}");
        assert_eq!(est.tempo_changes_detected(), 0);
        let fitted = est.latest_tick_fitted_s().unwrap();
        let truth = t - seconds_per_clock(120.0);
        assert!((fitted - truth).abs() < 0.001, "{fitted} vs {truth}");
    }

    #[test]
    fn late_and_bunched_ticks_do_not_move_it() {
        let mut est = ClockTempoEstimator::default();
        let period = seconds_per_clock(120.0);
        let mut worst: f64 = 0.0;
        for k in 0..3000u64 {
            let mut t = k as f64 * period;
            if k % 37 == 0 {
                t += 0.012; // one tick late by 12 ms
            }
            if k % 53 == 0 {
                t += 0.9 * period; // delivered together with the next one
            }
            if let Some(bpm) = est.tick(t) {
                if k > 96 {
                    worst = worst.max((bpm - 120.0).abs());
                }
            }
        }
        assert!(worst < 0.05, "worst {worst}");
        assert_eq!(est.tempo_changes_detected(), 0);
    }

    #[test]
    fn bursts_of_three_average_out() {
        // A transport that delivers ticks three at a time, every 62.5 ms.
        let mut est = ClockTempoEstimator::default();
        let period = seconds_per_clock(120.0);
        for k in 0..2000u64 {
            let burst = (k / 3) as f64 * 3.0 * period + 2.0 * period;
            est.tick(burst);
        }
        let bpm = est.bpm().unwrap();
        assert!((bpm - 120.0).abs() < 0.2, "{bpm}");
        assert_eq!(est.tempo_changes_detected(), 0);
    }

    #[test]
    fn follows_a_tempo_change_within_a_couple_of_beats() {
        for (from, to) in [(120.0, 90.0), (90.0, 140.0), (120.0, 118.0)] {
            let mut rng = Rng::seeded(42);
            let mut est = ClockTempoEstimator::default();
            let t = play(&mut est, &mut rng, 0.0, from, 480, 0.002);
            let t = play(&mut est, &mut rng, t, to, 24, 0.002);
            let after_one_beat = est.bpm().unwrap();
            eprintln!("{from}->{to}: {after_one_beat}");
            let t = play(&mut est, &mut rng, t, to, 24, 0.002);
            let after_two_beats = est.bpm().unwrap();
            eprintln!("{from}->{to}: {after_two_beats}");
            play(&mut est, &mut rng, t, to, 48, 0.002);
            let after_four_beats = est.bpm().unwrap();
            eprintln!("{from}->{to}: {after_four_beats}");
            // Big changes are detected (step 4); small ones are absorbed by the window.
            if (from - to).abs() / to > 0.05 {
                assert!(
                    (after_one_beat - to).abs() < to * 0.003,
                    "{from}->{to}: {after_one_beat}"
                );
            }
            assert!(
                (after_two_beats - to).abs() < to * 0.003,
                "{from}->{to}: {after_two_beats}"
            );
            assert!(
                (after_four_beats - to).abs() < to * 0.001,
                "{from}->{to}: {after_four_beats}"
            );
        }
    }

    #[test]
    fn a_jump_in_phase_is_absorbed() {
        // The clock pauses 30 ms (a lost tick, a hiccup) and carries on at the same tempo.
        let mut rng = Rng::seeded(7);
        let mut est = ClockTempoEstimator::default();
        let t = play(&mut est, &mut rng, 0.0, 120.0, 200, 0.002);
        let t = play(&mut est, &mut rng, t + 0.030, 120.0, 48, 0.002);
        let bpm = est.bpm().unwrap();
        assert!((bpm - 120.0).abs() < 0.5, "{bpm}");
        play(&mut est, &mut rng, t, 120.0, 96, 0.002);
        assert!((est.bpm().unwrap() - 120.0).abs() < 0.1);
    }

    #[test]
    fn resets_on_gaps_and_on_request() {
        let mut rng = Rng::seeded(3);
        let mut est = ClockTempoEstimator::default();
        let t = play(&mut est, &mut rng, 0.0, 120.0, 100, 0.0);
        // Stopped for a second, then a new song at 100 BPM.
        play(&mut est, &mut rng, t + 1.0, 100.0, 11, 0.0);
        assert_eq!(est.bpm(), None, "only 11 ticks since the gap");
        assert_eq!(est.ticks_since_reset(), 11);
        play(
            &mut est,
            &mut rng,
            t + 1.0 + 11.0 * seconds_per_clock(100.0),
            100.0,
            1,
            0.0,
        );
        assert!((est.bpm().unwrap() - 100.0).abs() < 1e-6);
        est.reset();
        assert_eq!(est.bpm(), None);
        assert_eq!(est.ticks_since_reset(), 0);
    }

    #[test]
    fn a_clock_flood_is_not_a_tempo() {
        let mut rng = Rng::seeded(11);
        let mut est = ClockTempoEstimator::default();
        let t = play(&mut est, &mut rng, 0.0, 120.0, 96, 0.0);
        assert!((est.bpm().unwrap() - 120.0).abs() < 0.01);
        // F8 bytes as fast as a network link carries them: 21,531 BPM, as seen in the field.
        let t = play(&mut est, &mut rng, t, 21_531.0, 5000, 0.0);
        assert_eq!(est.bpm(), None, "a flood is not a tempo");
        assert_eq!(est.seconds_per_clock(), None);
        assert_eq!(est.latest_tick_fitted_s(), None);
        // The DAW's clock again: believed once the window holds it.
        play(&mut est, &mut rng, t, 120.0, 96, 0.0);
        assert!((est.bpm().unwrap() - 120.0).abs() < 0.01);
        // Every tempo a DAW sends is measured, to its ends; a crawl below it is not.
        for bpm in [20.0, 999.0] {
            let mut est = ClockTempoEstimator::default();
            play(&mut est, &mut rng, 0.0, bpm, 96, 0.0);
            let got = est.bpm().expect("a DAW's tempo");
            assert!((got - bpm).abs() < bpm * 0.001, "{bpm}: {got}");
        }
        for bpm in [1100.0, 5000.0, 21_531.0] {
            let mut est = ClockTempoEstimator::default();
            play(&mut est, &mut rng, 0.0, bpm, 200, 0.0);
            assert_eq!(est.bpm(), None, "{bpm} BPM");
        }
        assert!(is_daw_tempo(20.0) && is_daw_tempo(999.0) && is_daw_tempo(1010.0));
        assert!(!is_daw_tempo(18.0) && !is_daw_tempo(1100.0) && !is_daw_tempo(f64::NAN));
    }

    #[test]
    fn odd_times_do_not_panic() {
        let mut est = ClockTempoEstimator::default();
        for t in [
            f64::NAN,
            f64::INFINITY,
            -1.0,
            0.0,
            0.0,
            0.0,
            f64::NEG_INFINITY,
        ] {
            est.tick(t);
        }
        // All at the same instant: no tempo can be told.
        for _ in 0..50 {
            assert_eq!(est.tick(5.0), None);
        }
        // Time going backwards a little is bunching, a lot is a restart.
        est.reset();
        for k in 0..30 {
            est.tick(10.0 + f64::from(k) * 0.02);
        }
        est.tick(10.5);
        assert!(est.bpm().is_some());
        est.tick(1.0);
        assert_eq!(est.ticks_since_reset(), 1);
        // Absurdly fast and slow clocks give finite estimates or none.
        est.reset();
        for k in 0..50 {
            est.tick(f64::from(k) * 1e-9);
        }
        assert!(est.bpm().is_none_or(f64::is_finite));
        assert!(ClockTempoEstimator::new(ClockTempoConfig {
            window_ticks: 0,
            ..ClockTempoConfig::default()
        })
        .is_err());
        assert!(ClockTempoEstimator::new(ClockTempoConfig {
            reset_gap_s: f64::NAN,
            ..ClockTempoConfig::default()
        })
        .is_err());
        assert!(ClockTempoEstimator::new(ClockTempoConfig::default()).is_ok());
    }
}
