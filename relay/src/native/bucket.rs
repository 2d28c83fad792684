//! A token bucket per connection, for requests whose cost falls on others: each `track_*`
//! subscription a user starts sends `join` (and later `leave`) to every member.

use std::time::Instant;

pub struct Bucket {
    tokens: f64,
    refilled: Instant,
    rate: f64,
    burst: f64,
}

impl Bucket {
    /// `rate` tokens per second sustained, up to `burst` saved.
    pub fn new(rate: u32, burst: u32) -> Self {
        Self {
            tokens: f64::from(burst),
            refilled: Instant::now(),
            rate: f64::from(rate),
            burst: f64::from(burst),
        }
    }

    /// Takes a token at `now`; `false` when there is none.
    pub fn take(&mut self, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.refilled).as_secs_f64() * self.rate;
        self.refilled = now;
        self.tokens = (self.tokens + refill).min(self.burst);
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_rate() {
        let t = Instant::now();
        let mut b = Bucket::new(2, 3);
        assert!((0..3).all(|_| b.take(t)));
        assert!(!b.take(t));
        assert!(
            b.take(t + Duration::from_millis(500)),
            "one token per 1/rate s"
        );
        assert!(!b.take(t + Duration::from_millis(500)));
    }
}
