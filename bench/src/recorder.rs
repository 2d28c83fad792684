//! What the receiving connections count: deliveries per step, the last receipt of each step,
//! and (for one chosen step) a latency histogram.
//!
//! Every published content carries its step number `s` and its send time `t` (µs on the
//! [`crate::clock`] base), so late deliveries of an earlier step never count for a later one.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;

use crate::clock::now_us;

/// Steps one recorder tells apart; scenarios number their steps below this.
pub const STEPS: usize = 64;
/// Histogram shards: receivers on different threads rarely wait for each other.
const SHARDS: usize = 16;
const NO_STEP: u64 = u64::MAX;

pub struct Recorder {
    received: [AtomicU64; STEPS],
    last_us: [AtomicU64; STEPS],
    latency_step: AtomicU64,
    shards: Vec<Mutex<Histogram<u64>>>,
    /// Connections that ended while the fleet was up.
    pub closed: AtomicU64,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Percentiles {
    pub samples: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// 1 µs to 10 minutes at 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3)
        .unwrap_or_else(|e| unreachable!("constant histogram bounds: {e}"))
}

pub fn percentiles(h: &Histogram<u64>) -> Percentiles {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Percentiles {
        samples: h.len(),
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: h.max() as f64 / 1000.0,
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            received: std::array::from_fn(|_| AtomicU64::new(0)),
            last_us: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_step: AtomicU64::new(NO_STEP),
            shards: (0..SHARDS).map(|_| Mutex::new(histogram())).collect(),
            closed: AtomicU64::new(0),
        }
    }
}

impl Recorder {
    /// One delivery of content stamped (`step`, `sent_us`) to connection `conn`.
    pub fn record(&self, conn: usize, step: u64, sent_us: u64) {
        let now = now_us();
        let Some(i) = usize::try_from(step).ok().filter(|&i| i < STEPS) else {
            return;
        };
        self.received[i].fetch_add(1, Ordering::Relaxed);
        self.last_us[i].fetch_max(now, Ordering::Relaxed);
        if self.latency_step.load(Ordering::Relaxed) == step {
            let mut h = self.shards[conn % SHARDS]
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            h.saturating_record(now.saturating_sub(sent_us).max(1));
        }
    }

    pub fn received(&self, step: usize) -> u64 {
        self.received[step % STEPS].load(Ordering::Relaxed)
    }

    /// When the last delivery of `step` arrived (µs on the clock base), 0 if none did.
    pub fn last_us(&self, step: usize) -> u64 {
        self.last_us[step % STEPS].load(Ordering::Relaxed)
    }

    /// From now on, deliveries of `step` also go into the latency histogram.
    pub fn measure_latency_of(&self, step: usize) {
        self.latency_step.store(step as u64, Ordering::Relaxed);
    }

    /// The merged latency histogram.
    pub fn latency(&self) -> Histogram<u64> {
        let mut all = histogram();
        for shard in &self.shards {
            let h = shard.lock().unwrap_or_else(|p| p.into_inner());
            // Same bounds on both sides, so adding cannot fail.
            let _ = all.add(&*h);
        }
        all
    }

    pub fn closed(&self) -> u64 {
        self.closed.load(Ordering::Relaxed)
    }
}

/// The `s` and `t` of a delivered frame, found by the shape every publisher writes:
/// the content starts with `{"s":<step>,"i":<index>,"t":<µs>`. All three peers pass the
/// content through verbatim (socket.io re-serialises it, keeping key order).
pub fn stamp(frame: &str) -> Option<(u64, u64)> {
    let rest = &frame[frame.find("{\"s\":")? + 5..];
    let (step, rest) = number(rest)?;
    let rest = rest.strip_prefix(",\"i\":")?;
    let (_, rest) = number(rest)?;
    let rest = rest.strip_prefix(",\"t\":")?;
    let (t, _) = number(rest)?;
    Some((step, t))
}

fn number(s: &str) -> Option<(u64, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    Some((s[..end].parse().ok()?, &s[end..]))
}

/// The content every publisher sends: step, index, send time, then padding.
pub fn content(step: usize, index: u64, sent_us: u64, pad: &str) -> String {
    format!("{{\"s\":{step},\"i\":{index},\"t\":{sent_us},\"p\":\"{pad}\"}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_survive_every_dialect() {
        let c = content(3, 17, 123_456, "xx");
        for frame in [
            format!("message:{{\"type\":\"bench\",\"content\":{c}}}"),
            format!("42[\"bench\",{c}]"),
        ] {
            assert_eq!(stamp(&frame), Some((3, 123_456)));
        }
        assert_eq!(stamp("pong"), None);
    }

    #[test]
    fn latency_only_for_the_chosen_step() {
        let r = Recorder::default();
        r.record(0, 1, 0);
        r.measure_latency_of(2);
        r.record(5, 2, 0);
        r.record(6, 99, 0);
        assert_eq!((r.received(1), r.received(2)), (1, 1));
        assert_eq!(r.latency().len(), 1);
    }
}
