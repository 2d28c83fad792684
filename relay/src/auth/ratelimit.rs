//! Limits on failed password logins, per account and per client address, and on anonymous
//! (visitor) logins per address.
//!
//! A sliding window of failure times per key, in memory. Not `governor`: a GCRA limiter
//! charges a cell on every check, while this needs "refuse when N failures happened in the
//! last window, count only failures" and an exact `Retry-After` — a few lines of code.
//! Memory is bounded: a key holds at most `limit` instants, and stale keys are swept.
//!
//! Per-relay state: behind a load balancer each relay counts on its own, which multiplies
//! the limits by the number of relays but never lifts them.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked before stale ones are swept on the next failure.
const SWEEP_ABOVE: usize = 10_000;

pub struct Window {
    limit: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// Serialises [`Window::take`] (check then count).
    taking: Mutex<()>,
}

impl Window {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: usize::try_from(limit).unwrap_or(usize::MAX).max(1),
            window,
            failures: Mutex::default(),
            taking: Mutex::default(),
        }
    }

    /// `Some(wait)` when `key` already has `limit` failures within the window.
    pub fn blocked(&self, key: &str, now: Instant) -> Option<Duration> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let times = map.get(key)?;
        let live = times
            .iter()
            .filter(|t| now.duration_since(**t) < self.window)
            .count();
        if live < self.limit {
            return None;
        }
        // The oldest failure still inside the window is the one whose expiry lets one more in.
        let oldest = times
            .iter()
            .find(|t| now.duration_since(**t) < self.window)?;
        Some(self.window.saturating_sub(now.duration_since(*oldest)))
    }

    pub fn fail(&self, key: &str, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= SWEEP_ABOVE {
            let window = self.window;
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < window)
            });
        }
        let times = map.entry(key.to_string()).or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
        if times.len() >= self.limit {
            times.pop_front();
        }
        times.push_back(now);
    }

    pub fn clear(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }

    /// Counts an event for `key` unless the limit is reached (`Err(wait)` then), in one step:
    /// concurrent requests cannot all pass the check before any of them is counted.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let _one_at_a_time = self.taking.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(wait) = self.blocked(key, now) {
            return Err(wait);
        }
        self.fail(key, now);
        Ok(())
    }
}

/// Both limits of password logins.
pub struct LoginLimits {
    pub per_account: Window,
    pub per_address: Window,
}

impl LoginLimits {
    /// How long to wait before another try, if either limit is reached.
    pub fn blocked(&self, account: &str, address: &str, now: Instant) -> Option<Duration> {
        let a = self.per_account.blocked(&account.to_lowercase(), now);
        let b = self.per_address.blocked(address, now);
        a.into_iter().chain(b).max()
    }

    pub fn failed(&self, account: &str, address: &str, now: Instant) {
        self.per_account.fail(&account.to_lowercase(), now);
        self.per_address.fail(address, now);
    }

    /// A success clears the account's count (not the address's: one good password from an
    /// address must not reset a spray against other accounts from it).
    pub fn succeeded(&self, account: &str) {
        self.per_account.clear(&account.to_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_blocks_then_releases() {
        let w = Window::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(w.blocked("k", t0), None, "after {i} failures");
            w.fail("k", t0 + Duration::from_secs(i));
        }
        let at = t0 + Duration::from_secs(4);
        assert_eq!(w.blocked("k", at), Some(Duration::from_secs(6)));
        assert_eq!(w.blocked("other", at), None);
        assert_eq!(w.blocked("k", t0 + Duration::from_secs(10)), None);
        w.clear("k");
        assert_eq!(w.blocked("k", at), None);
    }

    #[test]
    fn limits_combine() {
        let l = LoginLimits {
            per_account: Window::new(2, Duration::from_secs(60)),
            per_address: Window::new(3, Duration::from_secs(60)),
        };
        let t = Instant::now();
        l.failed("Alice", "1.2.3.4", t);
        l.failed("alice", "5.6.7.8", t);
        assert!(
            l.blocked("ALICE", "9.9.9.9", t).is_some(),
            "account key ignores case"
        );
        l.succeeded("alice");
        assert!(l.blocked("alice", "9.9.9.9", t).is_none());
        l.failed("bob", "1.2.3.4", t);
        l.failed("carol", "1.2.3.4", t);
        assert!(l.blocked("dave", "1.2.3.4", t).is_some(), "address limit");
    }
}
