//! The one clock: monotonic time since the process started.
//!
//! Every receipt time stamp and every latency in playhead comes from this clock, so figures
//! from different threads compare directly. Threads read it as an [`Instant`]; the core is
//! handed [`Stamp`]s (microseconds since the process started) made here by [`stamp`].

use playhead_core::time::Stamp;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static PROCESS_START: OnceLock<Instant> = OnceLock::new();

/// Marks the process start; call first thing in `main`. Later calls change nothing.
pub fn mark_process_start() -> Instant {
    *PROCESS_START.get_or_init(Instant::now)
}

/// The instant the process started (or the first call into this module).
pub fn process_start() -> Instant {
    mark_process_start()
}

/// Now.
pub fn now() -> Instant {
    Instant::now()
}

/// The core's stamp for `t` (an instant before the process start is the origin).
pub fn stamp(t: Instant) -> Stamp {
    let micros = t.saturating_duration_since(process_start()).as_micros();
    Stamp::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
}

/// The instant of the core's stamp `s`.
pub fn instant(s: Stamp) -> Instant {
    let micros = u64::try_from(s.micros()).unwrap_or(0);
    process_start() + Duration::from_micros(micros)
}

/// Seconds from process start to `t`, for log lines.
pub fn seconds_since_start(t: Instant) -> f64 {
    stamp(t).secs_f64()
}
