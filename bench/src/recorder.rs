//! What the receiving connections count: deliveries per step, the last receipt of each step,
//! and (for one chosen step) a latency histogram.
//!
//! Every published content carries its step number `s` and its send time `t` (µs on the
//! [`crate::clock`] base), so late deliveries of an earlier step never count for a later one.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use hdrhistogram::Histogram;

/// Steps one recorder tells apart; scenarios number their steps below this.
pub const STEPS: usize = 96;
/// Counter shards, one per thread: with one shared counter per step, every delivery moved
/// the same cache lines between the cores, which cost the generator more than the count.
/// Threads beyond this many share shards (still correct, only slower).
const SHARDS: usize = 64;
const NO_STEP: u64 = u64::MAX;

/// Hands out shard numbers to threads in the order they first record.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
}

/// One thread's counters. The alignment keeps neighbours' hot lines (and the adjacent-line
/// prefetcher's pairs) out of each other's way.
#[repr(align(128))]
struct Shard {
    received: [AtomicU64; STEPS],
    last_us: [AtomicU64; STEPS],
    /// Made on first use: a histogram is ~170 KiB and most shards never see the latency step.
    latency: Mutex<Option<Histogram<u64>>>,
}

impl Default for Shard {
    fn default() -> Self {
        Self {
            received: std::array::from_fn(|_| AtomicU64::new(0)),
            last_us: std::array::from_fn(|_| AtomicU64::new(0)),
            latency: Mutex::new(None),
        }
    }
}

pub struct Recorder {
    shards: Box<[Shard]>,
    latency_step: AtomicU64,
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
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            latency_step: AtomicU64::new(NO_STEP),
            closed: AtomicU64::new(0),
        }
    }
}

impl Recorder {
    /// One delivery of content stamped (`step`, `sent_us`) that arrived at `now_us` (clock
    /// base); frames that came in one socket read share their receipt time.
    pub fn record(&self, step: u64, sent_us: u64, now_us: u64) {
        let Some(i) = usize::try_from(step).ok().filter(|&i| i < STEPS) else {
            return;
        };
        let shard = &self.shards[SHARD.with(|s| *s)];
        shard.received[i].fetch_add(1, Ordering::Relaxed);
        // A thread's clock readings only grow, so after its first delivery of a read the
        // read-only check skips the compare-and-swap loop of `fetch_max`.
        let last = &shard.last_us[i];
        if last.load(Ordering::Relaxed) < now_us {
            last.fetch_max(now_us, Ordering::Relaxed);
        }
        if self.latency_step.load(Ordering::Relaxed) == step {
            let mut h = shard.latency.lock().unwrap_or_else(|p| p.into_inner());
            h.get_or_insert_with(histogram)
                .saturating_record(now_us.saturating_sub(sent_us).max(1));
        }
    }

    pub fn received(&self, step: usize) -> u64 {
        let i = step % STEPS;
        self.shards
            .iter()
            .map(|s| s.received[i].load(Ordering::Relaxed))
            .sum()
    }

    /// When the last delivery of `step` arrived (µs on the clock base), 0 if none did.
    pub fn last_us(&self, step: usize) -> u64 {
        let i = step % STEPS;
        self.shards
            .iter()
            .map(|s| s.last_us[i].load(Ordering::Relaxed))
            .max()
            .unwrap_or(0)
    }

    /// From now on, deliveries of `step` go into a fresh latency histogram.
    pub fn measure_latency_of(&self, step: usize) {
        self.latency_step.store(step as u64, Ordering::Relaxed);
        for shard in &self.shards {
            *shard.latency.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }

    /// The merged latency histogram.
    pub fn latency(&self) -> Histogram<u64> {
        let mut all = histogram();
        for shard in &self.shards {
            let h = shard.latency.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(h) = &*h {
                // Same bounds on both sides, so adding cannot fail.
                let _ = all.add(h);
            }
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
        r.record(1, 0, 10);
        r.measure_latency_of(2);
        r.record(2, 0, 10);
        r.record(99, 0, 10);
        assert_eq!((r.received(1), r.received(2)), (1, 1));
        assert_eq!(r.latency().len(), 1);
    }

    #[test]
    fn threads_add_up() {
        let r = Recorder::default();
        r.measure_latency_of(3);
        std::thread::scope(|s| {
            for t in 0..(SHARDS as u64 + 6) {
                let r = &r;
                s.spawn(move || {
                    for k in 0..100 {
                        r.record(3, 0, 1000 * t + k);
                    }
                });
            }
        });
        let threads = SHARDS as u64 + 6;
        assert_eq!(r.received(3), 100 * threads);
        assert_eq!(r.last_us(3), 1000 * (threads - 1) + 99);
        assert_eq!(r.latency().len(), 100 * threads);
        assert_eq!(r.last_us(4), 0);
    }
}
