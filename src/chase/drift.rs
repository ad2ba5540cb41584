//! The drift controller: keeps the video on the DAW's position while both run.
//!
//! Every time the player reports its position the caller hands [`DriftController::update`] the
//! report time, the video position and the latest DAW reference (the DAW position derived from
//! a clock tick or a timecode, and when it was received). The controller answers with one
//! [`Correction`]: keep going, change the playback speed a little, seek, park before the video
//! start, play, or free-run because the reference is lost.
//!
//! # The control law
//!
//! The error is `DAW position − video position`, the DAW position extrapolated from its
//! reference to the report time at real-time speed. It is used in three ways:
//!
//! - **Filter.** An exponential moving average with time constant `filter_tau_s` (0.3 s) takes
//!   the error. With ±2 ms of jitter on every clock tick its standard deviation is about
//!   0.2 ms; the thresholds below are compared with it, never with the raw error.
//! - **Dead band with hysteresis.** While the filtered error stays within `dead_band_s` (10 ms,
//!   a quarter of a 25 fps frame) the speed is left alone: nothing is wrong, nothing is
//!   touched. Beyond it the controller corrects, and it stops correcting only once the error is
//!   back under `release_s` (2 ms). The gap between the two is what keeps it from switching on
//!   and off at the edge.
//! - **Proportional speed with a learned trim.** While correcting, speed = 1 + trim +
//!   `gain_per_s` × filtered error, limited to ±`max_speed_adjust` (2 %, enough to pull in
//!   20 ms per second, small enough to go unnoticed in moving pictures). The gain (0.5 per
//!   second) times the filter's time constant is 0.15, below the 0.25 at which this loop (an
//!   integrator behind a first-order filter) would start to overshoot, so a correction
//!   approaches zero without crossing it: no oscillation. New speeds are sent only in steps
//!   of `speed_step` (0.1 %).
//!
//! The trim is the speed at which the error would stand still: the rate difference between
//! the DAW's clock and the player's. Proportional control alone would leave an error of
//! difference ÷ gain (20 ms for a 1 % slow player); the trim removes it. It is measured, not
//! integrated: `error + ∫(speed − 1) dt` is a straight line whose slope is that rate
//! difference whatever speeds were commanded, so a least-squares fit over the last
//! `rate_window_s` (30 s, exponentially weighted) gives it without feeding back into the loop.
//! The trim is taken from that fit only while correcting, once it spans `min_rate_baseline_s`
//! (10 s); when the correction ends the speed stays at 1 + trim. A DAW clock 100 ppm fast thus
//! costs one correction (at the first 10 ms of error, after 100 s), then the video runs at
//! speed 1.0001 and stays within a few ms.
//!
//! # Seeks
//!
//! An error beyond `seek_threshold_s` (250 ms, which 2 % would take 12 s to pull in) on
//! `seek_confirm_reports` reports in a row is a jump (the DAW located) and gets a seek. A seek
//! takes time, during which the DAW moves on, so the target is the DAW position plus a learned
//! `seek lead`: after each seek the error once the video moves again is the seek's lateness,
//! and it is added to the lead (up to `max_seek_lead_s`). While seeking, the controller waits
//! until the reported position advances near the target again; mpv reports the target while
//! it seeks, so a frozen position means "not landed yet". A seek that does not land within
//! `seek_timeout_s` is retried, each retry waiting twice as long (up to 16 ×).
//!
//! # Lost reference
//!
//! A reference older than `lost_after_s` (0.5 s: 24 clock ticks missed at 120 BPM, or six
//! complete MTC times at 25 fps) means the clock is gone. The controller answers once with
//! [`Correction::FreeRun`]: play on at 1 + trim, and tell the operator "clock lost:
//! free-running". When references come back it relocks without a seek if the error is small.
//! A DAW that stops also stops its clock: the transport layer pauses the video on Stop and
//! calls [`DriftController::reset`], so free-running is for a clock that vanished mid-song.
//!
//! # Before the video start
//!
//! With timecode the DAW can roll before the video's frame 0 (pre-roll). The controller then
//! answers [`Correction::Park`] (pause on frame 0) once, and [`Correction::Play`] when the DAW
//! reaches it.

use super::position::SongPosition;
use super::tempo::TempoMap;
use super::ChaseError;

/// Thresholds and gains of a [`DriftController`]. The defaults are explained in the module
/// documentation; [`DriftConfig::validate`] says what is accepted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DriftConfig {
    /// Filtered error the controller tolerates without touching the speed. Default 10 ms.
    pub dead_band_s: f64,
    /// Filtered error under which a correction ends. Default 2 ms.
    pub release_s: f64,
    /// Error beyond which the controller seeks instead of nudging the speed. Default 250 ms.
    pub seek_threshold_s: f64,
    /// Consecutive reports beyond `seek_threshold_s` before a seek, so one bad report never
    /// seeks. Default 3.
    pub seek_confirm_reports: u32,
    /// Largest speed change, as a fraction of 1.0. Default 0.02 (±2 %).
    pub max_speed_adjust: f64,
    /// Speed change per second of filtered error. Default 0.5 (10 ms of error: +0.5 %).
    pub gain_per_s: f64,
    /// Time constant of the error filter. Default 0.3 s.
    pub filter_tau_s: f64,
    /// Smallest speed change worth sending while correcting. Default 0.001 (0.1 %).
    pub speed_step: f64,
    /// Age at which the DAW reference counts as lost. Default 0.5 s.
    pub lost_after_s: f64,
    /// How long a seek may take before it is retried. Default 2 s.
    pub seek_timeout_s: f64,
    /// Largest learned seek lead. Default 1 s.
    pub max_seek_lead_s: f64,
    /// Time constant of the rate fit behind the trim. Default 30 s.
    pub rate_window_s: f64,
    /// How long the rate fit must have run before its trim is used. Default 10 s.
    pub min_rate_baseline_s: f64,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            dead_band_s: 0.010,
            release_s: 0.002,
            seek_threshold_s: 0.250,
            seek_confirm_reports: 3,
            max_speed_adjust: 0.02,
            gain_per_s: 0.5,
            filter_tau_s: 0.3,
            speed_step: 0.001,
            lost_after_s: 0.5,
            seek_timeout_s: 2.0,
            max_seek_lead_s: 1.0,
            rate_window_s: 30.0,
            min_rate_baseline_s: 10.0,
        }
    }
}

impl DriftConfig {
    /// Checks every setting: all finite; `0 <= release_s < dead_band_s < seek_threshold_s`;
    /// `max_speed_adjust` in (0, 0.1]; `gain_per_s > 0`, `filter_tau_s >= 0` and their product
    /// at most 0.25 (beyond it the loop overshoots); `speed_step` in [0, max_speed_adjust];
    /// `seek_confirm_reports >= 1`; positive `lost_after_s`, `seek_timeout_s`, `rate_window_s`;
    /// non-negative `max_seek_lead_s`, `min_rate_baseline_s`.
    pub fn validate(&self) -> Result<(), ChaseError> {
        let check = |ok: bool, name: &'static str, value: f64, expected: &'static str| {
            if ok && value.is_finite() {
                Ok(())
            } else {
                Err(ChaseError::InvalidSetting {
                    name,
                    value,
                    expected,
                })
            }
        };
        check(
            self.dead_band_s > 0.0,
            "dead_band_s",
            self.dead_band_s,
            "a positive number of seconds below seek_threshold_s",
        )?;
        check(
            self.release_s >= 0.0 && self.release_s < self.dead_band_s,
            "release_s",
            self.release_s,
            "0 or more seconds, below dead_band_s",
        )?;
        check(
            self.seek_threshold_s > self.dead_band_s,
            "seek_threshold_s",
            self.seek_threshold_s,
            "seconds above dead_band_s",
        )?;
        check(
            self.seek_confirm_reports >= 1,
            "seek_confirm_reports",
            f64::from(self.seek_confirm_reports),
            "1 or more",
        )?;
        check(
            self.max_speed_adjust > 0.0 && self.max_speed_adjust <= 0.1,
            "max_speed_adjust",
            self.max_speed_adjust,
            "a fraction above 0 and at most 0.1",
        )?;
        check(
            self.gain_per_s > 0.0,
            "gain_per_s",
            self.gain_per_s,
            "a positive gain",
        )?;
        check(
            self.filter_tau_s >= 0.0 && self.gain_per_s * self.filter_tau_s <= 0.25,
            "filter_tau_s",
            self.filter_tau_s,
            "0 or more seconds, with gain_per_s x filter_tau_s at most 0.25",
        )?;
        check(
            self.speed_step >= 0.0 && self.speed_step <= self.max_speed_adjust,
            "speed_step",
            self.speed_step,
            "a fraction from 0 up to max_speed_adjust",
        )?;
        check(
            self.lost_after_s > 0.0,
            "lost_after_s",
            self.lost_after_s,
            "a positive number of seconds",
        )?;
        check(
            self.seek_timeout_s > 0.0,
            "seek_timeout_s",
            self.seek_timeout_s,
            "a positive number of seconds",
        )?;
        check(
            self.max_seek_lead_s >= 0.0,
            "max_seek_lead_s",
            self.max_seek_lead_s,
            "0 or more seconds",
        )?;
        check(
            self.rate_window_s > 0.0,
            "rate_window_s",
            self.rate_window_s,
            "a positive number of seconds",
        )?;
        check(
            self.min_rate_baseline_s >= 0.0,
            "min_rate_baseline_s",
            self.min_rate_baseline_s,
            "0 or more seconds",
        )
    }
}

/// Where the DAW said the song was, in video seconds, and when that was received.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DawReference {
    /// DAW position in video seconds (after the tempo map or the timecode start offset).
    pub position_s: f64,
    /// When that position was true, on the caller's clock: the receipt time of the tick or of
    /// the last quarter frame (a smoothed one, such as
    /// [`ClockTempoEstimator::latest_tick_fitted_s`](super::tempo::ClockTempoEstimator::latest_tick_fitted_s),
    /// is better still).
    pub received_at_s: f64,
}

impl DawReference {
    /// The DAW position at `now_s`, assuming it kept playing at real-time speed since the
    /// reference; a reference from the future counts as current.
    pub fn position_at_s(&self, now_s: f64) -> f64 {
        self.position_s + (now_s - self.received_at_s).max(0.0)
    }
}

/// What the controller is doing, for the operator's status line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockState {
    /// No DAW reference since the controller was made or reset.
    Waiting,
    /// Within the dead band; the speed is 1 + trim.
    Locked,
    /// Pulling the error in with the speed.
    Correcting,
    /// A seek was sent; waiting for the video to move again.
    Seeking,
    /// The DAW is before the video's start; the video waits paused on frame 0.
    Parked,
    /// The DAW reference was lost; the video plays on at 1 + trim.
    FreeRunning,
}

impl LockState {
    /// Short text for the operator.
    pub fn label(self) -> &'static str {
        match self {
            LockState::Waiting => "waiting for the DAW",
            LockState::Locked => "locked",
            LockState::Correcting => "correcting drift",
            LockState::Seeking => "seeking",
            LockState::Parked => "parked before the video start",
            LockState::FreeRunning => "clock lost: free-running",
        }
    }
}

/// What the player should do after a position report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Correction {
    /// Nothing: leave the player as it is.
    Keep,
    /// Set the playback speed.
    SetSpeed {
        /// Playback speed factor, 1.0 being normal.
        speed: f64,
    },
    /// Seek, then play on.
    Seek {
        /// Where to seek, in video seconds; never negative.
        position_s: f64,
        /// Speed to play at once there.
        speed: f64,
    },
    /// Pause on a position: the DAW has not reached the video yet.
    Park {
        /// Where to wait, in video seconds (0: the first frame).
        position_s: f64,
    },
    /// Unpause: the DAW has reached the parked position.
    Play {
        /// Speed to play at.
        speed: f64,
    },
    /// The DAW reference is lost: play on and show "clock lost: free-running". Sent once when
    /// the loss is noticed.
    FreeRun {
        /// Speed to play at meanwhile: 1.0 plus the learned trim.
        speed: f64,
    },
}

/// Keeps the video on the DAW's position. See the module documentation for the control law.
#[derive(Clone, Debug)]
pub struct DriftController {
    config: DriftConfig,
    state: LockState,
    /// The speed last commanded; the player is assumed to follow it.
    speed: f64,
    /// Learned rate difference: the speed − 1 at which the error stands still.
    trim: f64,
    seek_lead_s: f64,
    filtered_error_s: Option<f64>,
    last_report: Option<(f64, f64)>,
    /// ∫(speed − 1) dt: how far the video ran beyond real time because of our speeds.
    speed_integral_s: f64,
    rate_fit: RateFit,
    big_error_reports: u32,
    seek: Option<PendingSeek>,
    consecutive_seeks: u32,
}

/// A seek in flight.
#[derive(Clone, Copy, Debug)]
struct PendingSeek {
    target_s: f64,
    issued_at_s: f64,
    timeout_s: f64,
}

impl DriftController {
    /// A controller in [`LockState::Waiting`]; the player is assumed to play at speed 1.0.
    pub fn new(config: DriftConfig) -> Result<Self, ChaseError> {
        config.validate()?;
        Ok(DriftController {
            config,
            state: LockState::Waiting,
            speed: 1.0,
            trim: 0.0,
            seek_lead_s: 0.0,
            filtered_error_s: None,
            last_report: None,
            speed_integral_s: 0.0,
            rate_fit: RateFit::default(),
            big_error_reports: 0,
            seek: None,
            consecutive_seeks: 0,
        })
    }

    /// Forgets the DAW's position (back to [`LockState::Waiting`]) but keeps what was learned
    /// about the clocks (trim, seek lead). Call it when the transport layer stops, starts or
    /// locates the player itself; the player is assumed to keep [`Self::speed`].
    pub fn reset(&mut self) {
        self.state = LockState::Waiting;
        self.filtered_error_s = None;
        self.last_report = None;
        self.rate_fit = RateFit::default();
        self.big_error_reports = 0;
        self.seek = None;
        self.consecutive_seeks = 0;
    }

    /// What the controller is doing now.
    pub fn state(&self) -> LockState {
        self.state
    }

    /// The playback speed last commanded.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// The learned rate difference (speed − 1 that holds the error still).
    pub fn trim(&self) -> f64 {
        self.trim
    }

    /// The learned seek lead: how far ahead of the DAW seeks aim.
    pub fn seek_lead_s(&self) -> f64 {
        self.seek_lead_s
    }

    /// The filtered error (DAW − video), once there is one.
    pub fn filtered_error_s(&self) -> Option<f64> {
        self.filtered_error_s
    }

    /// The settings in use.
    pub fn config(&self) -> &DriftConfig {
        &self.config
    }

    /// Takes one position report: the player was at `video_position_s` at `now_s`, and
    /// `reference` is the latest DAW reference (`None` if there has been none). Returns what
    /// the player should do. Reports with a non-finite time or position, or older than the
    /// previous report, are ignored (`Keep`); a reference with a non-finite field counts as
    /// none.
    pub fn update(
        &mut self,
        now_s: f64,
        video_position_s: f64,
        reference: Option<DawReference>,
    ) -> Correction {
        if !now_s.is_finite() || !video_position_s.is_finite() {
            return Correction::Keep;
        }
        let previous = self.last_report;
        let dt_s = match previous {
            Some((last_s, _)) if now_s < last_s => return Correction::Keep,
            Some((last_s, _)) => now_s - last_s,
            None => 0.0,
        };
        self.last_report = Some((now_s, video_position_s));
        self.speed_integral_s += (self.speed - 1.0) * dt_s;
        if !self.speed_integral_s.is_finite() {
            // Only absurd report times get here; start the rate fit over rather than carry
            // infinities.
            self.speed_integral_s = 0.0;
            self.rate_fit = RateFit::default();
        }

        let daw_now_s = reference
            .filter(|r| r.position_s.is_finite() && r.received_at_s.is_finite())
            .filter(|r| now_s - r.received_at_s <= self.config.lost_after_s)
            .map(|r| r.position_at_s(now_s));

        if let Some(seek) = self.seek {
            let elapsed_s = now_s - seek.issued_at_s;
            // Landed: moving at about normal speed, somewhere between the target and where the
            // target has got to since the seek was sent.
            let moving = previous.is_some_and(|(last_s, last_video_s)| {
                let dt = now_s - last_s;
                dt > 0.0 && ((video_position_s - last_video_s) / dt - 1.0).abs() < 0.5
            });
            let slack_s = self.config.seek_threshold_s;
            let near = video_position_s >= seek.target_s - slack_s
                && video_position_s <= seek.target_s + elapsed_s * 1.1 + slack_s;
            if !(moving && near) {
                if elapsed_s < seek.timeout_s {
                    return Correction::Keep;
                }
                // Never landed: judge the position afresh. A large error seeks again, with a
                // longer wait (consecutive_seeks is not cleared).
                self.seek = None;
                self.relock();
            } else if let Some(daw_s) = daw_now_s {
                self.seek = None;
                // The error right after landing is how late the seek was, unless the DAW
                // itself jumped meanwhile (then the error says nothing about the seek).
                let lateness_s = daw_s - video_position_s;
                let max_lead_s = self.config.max_seek_lead_s;
                if daw_s >= 0.0 && lateness_s.abs() <= max_lead_s + self.config.seek_threshold_s {
                    self.seek_lead_s = (self.seek_lead_s + lateness_s).clamp(0.0, max_lead_s);
                }
                if lateness_s.abs() > self.config.seek_threshold_s && daw_s >= 0.0 {
                    return self.seek_to(now_s, daw_s);
                }
                self.consecutive_seeks = 0;
                self.relock();
            } else {
                self.seek = None;
                self.relock();
            }
        }

        let Some(daw_now_s) = daw_now_s else {
            return self.lose_reference();
        };

        if daw_now_s < -self.config.dead_band_s {
            if self.state == LockState::Parked {
                return Correction::Keep;
            }
            self.state = LockState::Parked;
            self.filtered_error_s = None;
            self.big_error_reports = 0;
            return Correction::Park { position_s: 0.0 };
        }
        if self.state == LockState::Parked {
            if daw_now_s > self.config.seek_threshold_s {
                return self.seek_to(now_s, daw_now_s);
            }
            self.relock();
            self.rate_fit = RateFit::default();
            self.speed = 1.0 + self.trim;
            return Correction::Play { speed: self.speed };
        }
        match self.state {
            LockState::Waiting => {
                self.rate_fit = RateFit::default();
                self.relock();
            }
            LockState::FreeRunning => self.relock(),
            _ => {}
        }

        let error_s = daw_now_s - video_position_s;
        if error_s.abs() > self.config.seek_threshold_s {
            self.big_error_reports += 1;
            if self.big_error_reports >= self.config.seek_confirm_reports {
                return self.seek_to(now_s, daw_now_s.max(0.0));
            }
            // Until confirmed it may be one bad report: keep it out of the filter and the
            // rate fit, and do not start nudging the speed towards a jump about to be seeked.
            return Correction::Keep;
        }
        self.big_error_reports = 0;

        let filtered_s = match self.filtered_error_s {
            Some(f) if self.config.filter_tau_s > 0.0 => {
                let alpha = 1.0 - (-dt_s / self.config.filter_tau_s).exp();
                f + alpha * (error_s - f)
            }
            _ => error_s,
        };
        self.filtered_error_s = Some(filtered_s);
        self.rate_fit.add(
            now_s,
            error_s + self.speed_integral_s,
            self.config.rate_window_s,
        );

        let max = self.config.max_speed_adjust;
        let target = match self.state {
            LockState::Locked if filtered_s.abs() <= self.config.dead_band_s => 1.0 + self.trim,
            LockState::Correcting if filtered_s.abs() < self.config.release_s => {
                self.state = LockState::Locked;
                1.0 + self.trim
            }
            _ => {
                self.state = LockState::Correcting;
                if let Some(rate) = self.rate_fit.slope(now_s, self.config.min_rate_baseline_s) {
                    self.trim = rate.clamp(-max, max);
                }
                1.0 + (self.trim + self.config.gain_per_s * filtered_s).clamp(-max, max)
            }
        };
        let change = (target - self.speed).abs();
        let needed = if self.state == LockState::Correcting {
            self.config.speed_step.max(1e-12)
        } else {
            1e-12
        };
        if change >= needed {
            self.speed = target;
            Correction::SetSpeed { speed: target }
        } else {
            Correction::Keep
        }
    }

    /// Back to [`LockState::Locked`] with a fresh filter, after a gap in the error signal.
    fn relock(&mut self) {
        self.state = LockState::Locked;
        self.filtered_error_s = None;
        self.big_error_reports = 0;
    }

    fn lose_reference(&mut self) -> Correction {
        match self.state {
            LockState::Locked | LockState::Correcting | LockState::Seeking => {
                self.state = LockState::FreeRunning;
                self.seek = None;
                self.filtered_error_s = None;
                self.big_error_reports = 0;
                self.speed = 1.0 + self.trim;
                Correction::FreeRun { speed: self.speed }
            }
            LockState::Waiting | LockState::Parked | LockState::FreeRunning => Correction::Keep,
        }
    }

    fn seek_to(&mut self, now_s: f64, daw_now_s: f64) -> Correction {
        let target_s = (daw_now_s + self.seek_lead_s).max(0.0);
        let backoff = 1u32 << self.consecutive_seeks.min(4);
        self.consecutive_seeks = self.consecutive_seeks.saturating_add(1);
        self.seek = Some(PendingSeek {
            target_s,
            issued_at_s: now_s,
            timeout_s: self.config.seek_timeout_s * f64::from(backoff),
        });
        self.state = LockState::Seeking;
        self.filtered_error_s = None;
        self.big_error_reports = 0;
        // Seeking breaks the straight line the rate fit relies on.
        self.rate_fit = RateFit::default();
        self.speed = 1.0 + self.trim;
        Correction::Seek {
            position_s: target_s,
            speed: self.speed,
        }
    }
}

/// Exponentially weighted least-squares line through (time, error + ∫(speed − 1) dt); its
/// slope is the rate difference between DAW and player. Sums are kept relative to a reference
/// point that moves along, so hours of play cost no precision.
#[derive(Clone, Debug, Default)]
struct RateFit {
    started_s: Option<f64>,
    last_s: f64,
    t_ref_s: f64,
    y_ref_s: f64,
    weight: f64,
    sum_t: f64,
    sum_y: f64,
    sum_tt: f64,
    sum_ty: f64,
    samples: u64,
}

impl RateFit {
    fn add(&mut self, t_s: f64, y_s: f64, window_s: f64) {
        if self.started_s.is_none() {
            self.started_s = Some(t_s);
            self.last_s = t_s;
            self.t_ref_s = t_s;
            self.y_ref_s = y_s;
        }
        let decay = (-(t_s - self.last_s).max(0.0) / window_s).exp();
        self.last_s = t_s;
        self.weight *= decay;
        self.sum_t *= decay;
        self.sum_y *= decay;
        self.sum_tt *= decay;
        self.sum_ty *= decay;
        let (t, y) = (t_s - self.t_ref_s, y_s - self.y_ref_s);
        self.weight += 1.0;
        self.sum_t += t;
        self.sum_y += y;
        self.sum_tt += t * t;
        self.sum_ty += t * y;
        self.samples += 1;
        if !(self.sum_tt.is_finite() && self.sum_ty.is_finite()) {
            // Absurd inputs: begin again from this point instead of carrying infinities.
            *self = RateFit::default();
            return;
        }
        if t > 4.0 * window_s {
            // Move the reference to the weighted mean: same line, smaller numbers.
            let (mt, my) = (self.sum_t / self.weight, self.sum_y / self.weight);
            self.sum_tt -= mt * self.sum_t;
            self.sum_ty -= mt * my * self.weight;
            self.sum_t = 0.0;
            self.sum_y = 0.0;
            self.t_ref_s += mt;
            self.y_ref_s += my;
        }
    }

    /// The fitted slope, once the fit spans `min_baseline_s` and has enough points.
    fn slope(&self, now_s: f64, min_baseline_s: f64) -> Option<f64> {
        let started_s = self.started_s?;
        if now_s - started_s < min_baseline_s || self.samples < 10 {
            return None;
        }
        let spread = self.weight * self.sum_tt - self.sum_t * self.sum_t;
        // Also refuses NaN.
        if spread.is_nan() || spread <= 0.0 {
            return None;
        }
        let slope = (self.weight * self.sum_ty - self.sum_t * self.sum_y) / spread;
        slope.is_finite().then_some(slope)
    }
}

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
    let mut rng = XorShift::new(config.seed);
    let mut player = SimPlayer::new(
        config.initial_offset_s,
        1.0 + config.player_rate_ppm * 1e-6,
        config.seek_time_s,
    );

    // The next tick: its clock number, receipt time and song position.
    let tick_at = |index: u64, rng: &mut XorShift, last_receipt_s: f64| {
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

/// Seeded xorshift64* for the simulator's jitter (and the chase tests'): repeatable, no crate.
#[derive(Clone, Debug)]
pub(crate) struct XorShift(u64);

impl XorShift {
    pub(crate) fn new(seed: u64) -> Self {
        // Zero is xorshift's one fixed point.
        XorShift(seed.max(1))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [-1, 1).
    pub(crate) fn symmetric(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::super::position::TimeSignature;
    use super::super::tempo::TempoChange;
    use super::*;

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
