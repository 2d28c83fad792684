//! Idempotency keys of client messages and publishes: an SDK that resends a message it is not
//! sure arrived (the socket died before the relay's reply, or the page reloaded with the message
//! still in its persisted queue) tags it with a `mid`, and the relay hands a given `(scope, mid)`
//! to the back end, or stores it in a channel, once. A publish's key remembers the seq it got,
//! so a resend is answered as the first one was.
//!
//! Kept in memory, newest last, bounded twice: by age (`--dedup-window-secs`) and by count
//! (`--dedup-capacity`, oldest evicted first), so no client can make the relay hold more. A
//! relay restart forgets the keys: a resend across a restart may reach the back end twice
//! (at least once, as before). Keys are per user, so one user cannot suppress another's.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hashlink::LinkedHashMap;

/// What [`Dedup::claim`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First sight: deliver it, and [`Dedup::release`] the key if delivery fails.
    New,
    /// Taken before, inside the window: answer as before (with the seq [`Dedup::settle`]
    /// recorded, if any yet), deliver nothing.
    Seen { seq: Option<u64> },
}

/// `(scope, mid)`: the scope is the user, or for a publish the sender and channel.
type Key = (Box<str>, Box<str>);

pub struct Dedup {
    /// When each key was claimed, and the seq its publish got.
    keys: Mutex<LinkedHashMap<Key, (Instant, Option<u64>)>>,
    window: Duration,
    capacity: usize,
}

impl Dedup {
    pub fn new(window: Duration, capacity: usize) -> Self {
        Self {
            keys: Mutex::new(LinkedHashMap::new()),
            window,
            capacity,
        }
    }

    pub fn claim(&self, user: &str, mid: &str) -> Claim {
        self.claim_at(user, mid, Instant::now())
    }

    fn claim_at(&self, user: &str, mid: &str, now: Instant) -> Claim {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((_, (at, _))) = keys.front() {
            if now.saturating_duration_since(*at) < self.window {
                break;
            }
            keys.pop_front();
        }
        let key = (Box::from(user), Box::from(mid));
        if let Some((_, seq)) = keys.get(&key) {
            return Claim::Seen { seq: *seq };
        }
        while keys.len() >= self.capacity {
            keys.pop_front();
        }
        keys.insert(key, (now, None));
        Claim::New
    }

    /// Records the seq a claimed publish got, for the answer to its resends.
    pub fn settle(&self, scope: &str, mid: &str, seq: Option<u64>) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = keys.get_mut(&(Box::from(scope), Box::from(mid))) {
            v.1 = seq;
        }
    }

    /// Forgets a key whose message was refused, so a resend is tried again.
    pub fn release(&self, user: &str, mid: &str) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.remove(&(Box::from(user), Box::from(mid)));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.lock().map_or(0, |k| k.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_user_inside_the_window() {
        let d = Dedup::new(Duration::from_secs(10), 100);
        let t = Instant::now();
        assert_eq!(d.claim_at("u", "m1", t), Claim::New);
        assert_eq!(d.claim_at("u", "m1", t), Claim::Seen { seq: None });
        assert_eq!(d.claim_at("v", "m1", t), Claim::New, "another user's key");
        let later = t + Duration::from_secs(11);
        assert_eq!(d.claim_at("u", "m1", later), Claim::New, "window over");
    }

    #[test]
    fn bounded_by_capacity_oldest_first() {
        let d = Dedup::new(Duration::from_secs(60), 3);
        let t = Instant::now();
        for m in ["a", "b", "c", "d"] {
            assert_eq!(d.claim_at("u", m, t), Claim::New);
        }
        assert_eq!(d.len(), 3);
        assert_eq!(d.claim_at("u", "a", t), Claim::New, "evicted");
        assert_eq!(d.claim_at("u", "d", t), Claim::Seen { seq: None });
    }

    #[test]
    fn a_resend_is_answered_with_the_settled_seq() {
        let d = Dedup::new(Duration::from_secs(60), 3);
        assert_eq!(d.claim("s", "m"), Claim::New);
        assert_eq!(
            d.claim("s", "m"),
            Claim::Seen { seq: None },
            "still in flight"
        );
        d.settle("s", "m", Some(7));
        assert_eq!(d.claim("s", "m"), Claim::Seen { seq: Some(7) });
    }

    #[test]
    fn a_released_key_is_new_again() {
        let d = Dedup::new(Duration::from_secs(60), 3);
        assert_eq!(d.claim("u", "m"), Claim::New);
        d.release("u", "m");
        assert_eq!(d.claim("u", "m"), Claim::New);
    }
}
