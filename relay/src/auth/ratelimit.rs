//! Limits on failed logins and key checks, per account and per client address, and on
//! anonymous (visitor) logins per address.
//!
//! A sliding window of failure times per key, in memory. Not `governor`: a GCRA limiter
//! charges a cell on every check, while this needs "refuse when N failures happened in the
//! last window, count only failures" and an exact `Retry-After` — a few lines of code.
//! Memory is bounded: a key holds at most `limit` instants, and stale keys are swept.
//!
//! Per-relay state: behind a load balancer each relay counts on its own, which multiplies
//! the limits by the number of relays but never lifts them.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked before stale ones are swept on the next failure.
const SWEEP_ABOVE: usize = 10_000;

/// `Retry-After` seconds for a wait, rounded up: retrying at the advertised second must succeed.
pub fn retry_after(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// The key a client address is limited by. An IPv6 client usually holds a whole /64 (SLAAC,
/// privacy addresses), so one client could otherwise take a fresh limit per address; an
/// IPv4-mapped IPv6 address is its IPv4 address.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

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
        self.record(&mut map, key, now);
    }

    fn record(&self, map: &mut HashMap<String, VecDeque<Instant>>, key: &str, now: Instant) {
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

    /// Records a failure unless `key` is already at its limit (then `Err(wait)`), in one step:
    /// concurrent callers cannot all pass the check before any of them is recorded.
    pub fn try_fail(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(times) = map.get_mut(key) {
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.window)
            {
                times.pop_front();
            }
            if let Some(oldest) = times.front().filter(|_| times.len() >= self.limit) {
                // The oldest failure inside the window is the one whose expiry lets one more in.
                return Err(self.window.saturating_sub(now.duration_since(*oldest)));
            }
        }
        self.record(&mut map, key, now);
        Ok(())
    }

    /// Takes back one failure recorded at `at` (the attempt turned out not to be one).
    pub fn forgive(&self, key: &str, at: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(times) = map.get_mut(key) {
            if let Some(i) = times.iter().rposition(|t| *t == at) {
                times.remove(i);
            }
            if times.is_empty() {
                map.remove(key);
            }
        }
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

/// Both limits of one kind of credential check (password logins, native-dialect keys).
pub struct LoginLimits {
    pub per_account: Window,
    pub per_address: Window,
}

/// One credential check, counted as a failure from before it runs until it succeeds.
#[derive(Debug)]
pub struct Attempt {
    account: Option<String>,
    address: String,
    at: Instant,
}

impl LoginLimits {
    /// Counts an attempt on `account` (when the credential names one) from `address` before
    /// the credential is checked, so that concurrent attempts cannot all pass the limit while
    /// the first ones are still being checked. `Err(wait)` when either limit is reached.
    pub fn begin(
        &self,
        account: Option<&str>,
        address: &str,
        now: Instant,
    ) -> Result<Attempt, Duration> {
        let account = account.map(str::to_lowercase);
        if let Some(a) = &account {
            self.per_account.try_fail(a, now)?;
        }
        if let Err(wait) = self.per_address.try_fail(address, now) {
            if let Some(a) = &account {
                self.per_account.forgive(a, now);
            }
            return Err(wait);
        }
        Ok(Attempt {
            account,
            address: address.to_string(),
            at: now,
        })
    }

    /// A success clears the account's count and takes back this attempt from the address
    /// (not the address's earlier failures: one good password from an address must not reset
    /// a spray against other accounts from it).
    pub fn succeeded(&self, attempt: &Attempt) {
        if let Some(a) = &attempt.account {
            self.per_account.clear(a);
        }
        self.per_address.forgive(&attempt.address, attempt.at);
    }

    /// The check never ran (the hasher was busy, the store failed): not a failure.
    pub fn forgive(&self, attempt: &Attempt) {
        if let Some(a) = &attempt.account {
            self.per_account.forgive(a, attempt.at);
        }
        self.per_address.forgive(&attempt.address, attempt.at);
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
        assert!(l.begin(Some("Alice"), "1.2.3.4", t).is_ok());
        assert!(l.begin(Some("alice"), "5.6.7.8", t).is_ok());
        assert!(
            l.begin(Some("ALICE"), "9.9.9.9", t).is_err(),
            "account key ignores case"
        );
        let ok = l.begin(Some("carl"), "9.9.9.9", t);
        assert!(ok.is_ok());
        if let Ok(a) = ok {
            l.succeeded(&a);
        }
        assert!(l.per_address.blocked("9.9.9.9", t).is_none());
        l.per_account.clear("alice");
        assert!(l.begin(Some("alice"), "9.9.9.9", t).is_ok());
        assert!(l.begin(Some("bob"), "1.2.3.4", t).is_ok());
        assert!(l.begin(None, "1.2.3.4", t).is_ok());
        assert!(
            l.begin(Some("dave"), "1.2.3.4", t).is_err(),
            "address limit"
        );
        assert!(
            l.per_account.blocked("dave", t).is_none(),
            "a refused attempt is not counted on the account"
        );
    }

    #[test]
    fn concurrent_attempts_cannot_pass_the_limit() {
        let w = std::sync::Arc::new(Window::new(5, Duration::from_secs(60)));
        let t = Instant::now();
        let passed: usize = (0..60)
            .map(|_| {
                let w = w.clone();
                std::thread::spawn(move || w.try_fail("k", t).is_ok())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| usize::from(h.join().unwrap_or(false)))
            .sum();
        assert_eq!(passed, 5);
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::from([0u8; 4]));
        let a = address_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd"));
        assert_eq!(a, address_key(ip("2001:db8:1:2::1")), "same /64");
        assert_eq!(a, ip("2001:db8:1:2::"));
        assert_ne!(a, address_key(ip("2001:db8:1:3::1")), "next /64");
        assert_eq!(address_key(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(address_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }
}
