//! Per-connection rate limits: a token bucket, and the limit on inbound frames built on it.
//!
//! Hand-written rather than `governor`: a connection owns its buckets (no sharing, no atomics)
//! and they are a few words each, which matters at a hundred thousand idle connections.

use std::time::Instant;

/// `rate` tokens a second, holding at most `burst`; starts full.
#[derive(Debug)]
pub struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
}

impl Bucket {
    pub fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            refilled: Instant::now(),
        }
    }

    /// Takes a token if there is one.
    pub fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.refilled).as_secs_f64() * self.rate;
        self.refilled = now;
        self.tokens = (self.tokens + refill).min(self.burst);
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// What to do with an inbound frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Handle,
    /// Drop it; `first` when it starts a run of refused frames (tell the client once per run,
    /// so the refusals cannot become a flood of their own).
    Refuse {
        first: bool,
    },
    /// The client kept sending through a whole burst's worth of refusals: close.
    Close,
}

/// The inbound-frame limit of one connection, whatever its dialect.
#[derive(Debug)]
pub struct FrameLimit {
    bucket: Bucket,
    /// Frames refused since the last one handled.
    refused: u32,
    max_refused: u32,
}

impl FrameLimit {
    pub fn new(rate: u32, burst: u32) -> Self {
        Self {
            bucket: Bucket::new(rate, burst),
            refused: 0,
            max_refused: burst,
        }
    }

    pub fn check(&mut self) -> Verdict {
        if self.bucket.take() {
            self.refused = 0;
            return Verdict::Handle;
        }
        self.refused = self.refused.saturating_add(1);
        if self.refused > self.max_refused {
            Verdict::Close
        } else {
            Verdict::Refuse {
                first: self.refused == 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_one_refusal_is_told_then_abuse_closes() {
        // A rate so low that no token comes back during the test.
        let mut l = FrameLimit::new(1, 3);
        for _ in 0..3 {
            assert_eq!(l.check(), Verdict::Handle);
        }
        assert_eq!(l.check(), Verdict::Refuse { first: true });
        assert_eq!(l.check(), Verdict::Refuse { first: false });
        assert_eq!(l.check(), Verdict::Refuse { first: false });
        assert_eq!(l.check(), Verdict::Close);
    }
}
