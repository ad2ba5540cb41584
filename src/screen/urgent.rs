//! Real-time priority for the moment a frame goes out.
//!
//! A screen's thread sleeps until a frame is due and then presents it. On a busy processor
//! (decoding, other outputs, the desktop) the wake-up can wait for a core for milliseconds,
//! and the frame is late by that. So the thread asks for real-time priority (`SCHED_FIFO`,
//! low) just before that sleep and gives it back after the swap: it is urgent only while it
//! waits and presents, never while it draws, so it cannot starve the decoders. Users allowed
//! real-time priority get it (on Debian, the `audio` group with jackd2's real-time setting);
//! others present at normal priority, and the log says which once.

use log::info;
use std::sync::atomic::{AtomicBool, Ordering};

/// The real-time priority asked for (1-99; low: above every normal thread, below audio).
const PRIORITY: libc::c_int = 5;

static SAID: AtomicBool = AtomicBool::new(false);

/// Whether this thread may be urgent, found once per thread at its start.
#[derive(Clone, Copy, Debug)]
pub struct Urgent {
    allowed: bool,
}

impl Urgent {
    /// Tries once: the answer holds for this thread.
    pub fn probe() -> Urgent {
        let allowed = set(true);
        if allowed {
            set(false);
        }
        if !SAID.swap(true, Ordering::Relaxed) {
            if allowed {
                info!(
                    "frames go out at real-time priority: a busy processor does not delay the \
                     moment a frame is presented"
                );
            } else {
                info!(
                    "frames go out at normal priority (this user may not use real-time \
                     priority: see \"Several screens\" in the README); a busy processor may \
                     delay a frame by a few milliseconds"
                );
            }
        }
        Urgent { allowed }
    }

    /// From now until [`Urgent::done`]: real-time priority, when allowed.
    pub fn begin(&self) {
        if self.allowed {
            set(true);
        }
    }

    /// Back to normal priority.
    pub fn done(&self) {
        if self.allowed {
            set(false);
        }
    }
}

/// Sets this thread's policy: real-time at [`PRIORITY`], or normal. Whether it took.
fn set(urgent: bool) -> bool {
    let (policy, priority) = if urgent {
        (libc::SCHED_FIFO, PRIORITY)
    } else {
        (libc::SCHED_OTHER, 0)
    };
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: a plain value and this thread's own handle.
    unsafe { libc::pthread_setschedparam(libc::pthread_self(), policy, &param) == 0 }
}
