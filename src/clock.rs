//! The one clock: monotonic time since the process started.
//!
//! Every receipt timestamp and every latency in playhead is an [`Instant`] from this module's
//! clock, so figures from different threads compare directly.

use std::sync::OnceLock;
use std::time::Instant;

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

/// Seconds from process start to `t`, for log lines.
pub fn seconds_since_start(t: Instant) -> f64 {
    t.saturating_duration_since(process_start()).as_secs_f64()
}
