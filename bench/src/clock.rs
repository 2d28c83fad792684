//! One monotonic time base for the whole process, in microseconds.
//!
//! Publishers and receivers live in the same process, so a send timestamp taken from this
//! base and compared on receipt measures publish → callback without trusting the wall clock.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static BASE: OnceLock<Instant> = OnceLock::new();

fn base() -> Instant {
    *BASE.get_or_init(Instant::now)
}

/// Microseconds since the process's time base.
pub fn now_us() -> u64 {
    micros(base().elapsed())
}

/// The [`Instant`] a base-relative timestamp stands for.
pub fn instant_of(us: u64) -> Instant {
    base() + Duration::from_micros(us)
}

pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
