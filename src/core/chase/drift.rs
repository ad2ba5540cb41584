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
