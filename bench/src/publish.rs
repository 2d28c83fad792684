//! The back end's side of the load: paced publishes (open loop) and as-fast-as-answered
//! publishes from many concurrent HTTP clients (closed loop).
//!
//! Paced publishes stamp the time each one was *due*, not the time it went out, so a
//! publisher that falls behind shows up as latency instead of hiding it (coordinated
//! omission).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::clock::{instant_of, micros, now_us};
use crate::recorder::{content, histogram};
use crate::target::Target;

#[derive(Debug, Default)]
pub struct Published {
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// When the first publish was due and when the last answer came (µs, clock base).
    pub start_us: u64,
    pub end_us: u64,
}

impl Published {
    fn add(&mut self, r: anyhow::Result<u64>) {
        match r {
            Ok(_) => self.ok += 1,
            Err(e) => {
                self.errors += 1;
                if self.first_error.is_none() {
                    self.first_error = Some(format!("{e:#}"));
                }
            }
        }
    }
}

/// Publishes `count` fan-out messages of `step` at `rate` per second, with at most
/// `in_flight` requests outstanding.
pub async fn paced(
    target: &Target,
    step: usize,
    rate: f64,
    count: u64,
    in_flight: usize,
    pad: &Arc<str>,
) -> Published {
    let permits = Arc::new(Semaphore::new(in_flight.max(1)));
    let mut set = JoinSet::new();
    let start_us = now_us();
    let mut out = Published {
        start_us,
        ..Published::default()
    };
    for i in 0..count {
        let due_us = start_us + (i as f64 * 1e6 / rate) as u64;
        tokio::time::sleep_until(instant_of(due_us).into()).await;
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let (target, pad) = (target.clone(), pad.clone());
        set.spawn(async move {
            let r = target.publish_all(&content(step, i, due_us, &pad)).await;
            drop(permit);
            r
        });
        // Reap finished publishes as we go so the set stays small.
        while let Some(r) = set.try_join_next() {
            out.add(r.unwrap_or_else(|e| Err(e.into())));
        }
    }
    while let Some(r) = set.join_next().await {
        out.add(r.unwrap_or_else(|e| Err(e.into())));
    }
    out.end_us = now_us();
    out
}

/// `workers` HTTP clients each publishing to random users of `users`, one request at a time,
/// for `duration`. Returns the counts and the histogram of request latencies (µs).
pub async fn closed_loop(
    target: &Target,
    step: usize,
    users: Arc<Vec<String>>,
    workers: usize,
    duration: Duration,
    pad: &Arc<str>,
) -> (Published, Histogram<u64>) {
    let deadline = Instant::now() + duration;
    let start_us = now_us();
    let mut set = JoinSet::new();
    for w in 0..workers.max(1) {
        let (target, users, pad) = (target.clone(), users.clone(), pad.clone());
        set.spawn(async move {
            let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ (w as u64 + 1));
            let mut out = Published::default();
            let mut hist = histogram();
            let mut i = 0u64;
            while Instant::now() < deadline {
                let user = &users[(rng.next() % users.len() as u64) as usize];
                let t = now_us();
                let r = target.publish_to(user, &content(step, i, t, &pad)).await;
                if r.is_ok() {
                    hist.saturating_record(now_us().saturating_sub(t).max(1));
                }
                out.add(r);
                i += 1;
            }
            (out, hist)
        });
    }
    let mut total = Published {
        start_us,
        ..Published::default()
    };
    let mut hist = histogram();
    while let Some(r) = set.join_next().await {
        if let Ok((p, h)) = r {
            total.ok += p.ok;
            total.errors += p.errors;
            total.first_error = total.first_error.or(p.first_error);
            let _ = hist.add(&h);
        }
    }
    total.end_us = now_us();
    (total, hist)
}

/// Waits until `done` holds or `limit` passes; returns whether it held.
pub async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

pub fn secs_between(from_us: u64, to_us: u64) -> f64 {
    micros(Duration::from_micros(to_us.saturating_sub(from_us))) as f64 / 1e6
}

/// xorshift64: picking random users needs no crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
