//! Idempotency keys of client messages and publishes: an SDK that resends a message it is not
//! sure arrived (the socket died before the relay's reply, or the page reloaded with the message
//! still in its persisted queue) tags it with a `mid`, and the relay hands a given `(scope, mid)`
//! to the back end, or stores it in a channel, once. A publish's key remembers the seq it got,
//! so a resend is answered as the first one was.
//!
//! Kept in memory, newest last, bounded three times: by age (`--dedup-window-secs`), by count
//! (`--dedup-capacity`, oldest evicted first), and per sender (`--dedup-per-sender`: a sender
//! with that many keys loses its own oldest to its next one), so no client can make the relay
//! hold more, and one sender flooding fresh mids cannot evict everybody else's keys: only the
//! capacity, sized for the senders' quotas, can. A relay restart forgets the keys: a resend
//! across a restart may reach the back end twice (at least once, as before). Keys are per user,
//! so one user cannot suppress another's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hashlink::{LinkedHashMap, LinkedHashSet};

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

struct Entry {
    at: Instant,
    /// The seq its publish got.
    seq: Option<u64>,
    /// Whose quota it counts against.
    sender: Arc<str>,
}

#[derive(Default)]
struct Keys {
    /// Every key, oldest first.
    all: LinkedHashMap<Arc<Key>, Entry>,
    /// Each sender's keys, oldest first. A sender's set goes with its last key, so the map
    /// holds no more senders than `all` holds keys.
    by_sender: HashMap<Arc<str>, LinkedHashSet<Arc<Key>>>,
}

impl Keys {
    fn pop_oldest(&mut self) {
        if let Some((key, entry)) = self.all.pop_front() {
            self.unlink(&entry.sender, &key);
        }
    }

    fn remove(&mut self, key: &Key) {
        if let Some((key, entry)) = self.all.remove_entry(key) {
            self.unlink(&entry.sender, &key);
        }
    }

    fn unlink(&mut self, sender: &str, key: &Key) {
        if let Some(own) = self.by_sender.get_mut(sender) {
            own.remove(key);
            if own.is_empty() {
                self.by_sender.remove(sender);
            }
        }
    }
}

pub struct Dedup {
    keys: Mutex<Keys>,
    window: Duration,
    capacity: usize,
    per_sender: usize,
}

impl Dedup {
    pub fn new(window: Duration, capacity: usize, per_sender: usize) -> Self {
        Self {
            keys: Mutex::new(Keys::default()),
            window,
            capacity,
            per_sender,
        }
    }

    /// Claims `(scope, mid)` for `sender`: the user, or for a publish its sender whatever the
    /// channel, so spreading over channels buys no larger quota.
    pub fn claim(&self, sender: &str, scope: &str, mid: &str) -> Claim {
        self.claim_at(sender, scope, mid, Instant::now())
    }

    fn claim_at(&self, sender: &str, scope: &str, mid: &str, now: Instant) -> Claim {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((_, e)) = keys.all.front() {
            if now.saturating_duration_since(e.at) < self.window {
                break;
            }
            keys.pop_oldest();
        }
        let key: Key = (Box::from(scope), Box::from(mid));
        if let Some(e) = keys.all.get(&key) {
            return Claim::Seen { seq: e.seq };
        }
        let own_oldest = keys
            .by_sender
            .get(sender)
            .filter(|own| own.len() >= self.per_sender)
            .and_then(|own| own.front().cloned());
        if let Some(oldest) = own_oldest {
            keys.remove(&oldest);
        }
        while keys.all.len() >= self.capacity {
            keys.pop_oldest();
        }
        let sender = match keys.by_sender.get_key_value(sender) {
            Some((s, _)) => s.clone(),
            None => Arc::from(sender),
        };
        let key = Arc::new(key);
        keys.by_sender
            .entry(sender.clone())
            .or_default()
            .insert(key.clone());
        let entry = Entry {
            at: now,
            seq: None,
            sender,
        };
        keys.all.insert(key, entry);
        Claim::New
    }

    /// Records the seq a claimed publish got, for the answer to its resends.
    pub fn settle(&self, scope: &str, mid: &str, seq: Option<u64>) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = keys.all.get_mut(&(Box::from(scope), Box::from(mid))) {
            e.seq = seq;
        }
    }

    /// Forgets a key whose message was refused, so a resend is tried again.
    pub fn release(&self, scope: &str, mid: &str) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.remove(&(Box::from(scope), Box::from(mid)));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.lock().map_or(0, |k| k.all.len())
    }

    /// Keys the sender holds, and senders held, checked against `all` so a test sees drift.
    #[cfg(test)]
    fn held(&self, sender: &str) -> (usize, usize) {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = keys.by_sender.values().map(|own| own.len()).sum();
        assert_eq!(total, keys.all.len(), "every key counted once");
        let own = keys.by_sender.get(sender).map_or(0, |own| own.len());
        (own, keys.by_sender.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tunnel message's key: the user is both sender and scope.
    fn claim_at(d: &Dedup, user: &str, mid: &str, t: Instant) -> Claim {
        d.claim_at(user, user, mid, t)
    }

    #[test]
    fn once_per_user_inside_the_window() {
        let d = Dedup::new(Duration::from_secs(10), 100, 100);
        let t = Instant::now();
        assert_eq!(claim_at(&d, "u", "m1", t), Claim::New);
        assert_eq!(claim_at(&d, "u", "m1", t), Claim::Seen { seq: None });
        assert_eq!(claim_at(&d, "v", "m1", t), Claim::New, "another user's key");
        let later = t + Duration::from_secs(11);
        assert_eq!(claim_at(&d, "u", "m1", later), Claim::New, "window over");
    }

    #[test]
    fn bounded_by_capacity_oldest_first() {
        let d = Dedup::new(Duration::from_secs(60), 3, 100);
        let t = Instant::now();
        for m in ["a", "b", "c", "d"] {
            assert_eq!(claim_at(&d, "u", m, t), Claim::New);
        }
        assert_eq!(d.len(), 3);
        assert_eq!(claim_at(&d, "u", "a", t), Claim::New, "evicted");
        assert_eq!(claim_at(&d, "u", "d", t), Claim::Seen { seq: None });
    }

    #[test]
    fn a_sender_over_its_quota_evicts_its_own_oldest() {
        let d = Dedup::new(Duration::from_secs(60), 10, 3);
        let t = Instant::now();
        assert_eq!(claim_at(&d, "alice", "x", t), Claim::New);
        for m in 0..20 {
            assert_eq!(claim_at(&d, "mallory", &m.to_string(), t), Claim::New);
        }
        assert_eq!(d.held("mallory"), (3, 2), "mallory holds her quota");
        assert_eq!(d.len(), 4);
        assert_eq!(
            claim_at(&d, "alice", "x", t),
            Claim::Seen { seq: None },
            "alice's key outlived the flood"
        );
        assert_eq!(claim_at(&d, "mallory", "19", t), Claim::Seen { seq: None });
        assert_eq!(
            claim_at(&d, "mallory", "16", t),
            Claim::New,
            "her oldest went"
        );
    }

    #[test]
    fn a_publisher_is_one_sender_over_every_channel() {
        let d = Dedup::new(Duration::from_secs(60), 10, 2);
        let t = Instant::now();
        for (scope, mid) in [("s/a", "1"), ("s/b", "2"), ("s/c", "3")] {
            assert_eq!(d.claim_at("s", scope, mid, t), Claim::New);
        }
        assert_eq!(d.held("s"), (2, 1));
        assert_eq!(d.claim_at("s", "s/a", "1", t), Claim::New, "evicted");
        assert_eq!(d.claim_at("s", "s/c", "3", t), Claim::Seen { seq: None });
    }

    #[test]
    fn expiry_and_release_keep_the_counts() {
        let d = Dedup::new(Duration::from_secs(10), 100, 2);
        let t = Instant::now();
        claim_at(&d, "u", "a", t);
        claim_at(&d, "u", "b", t + Duration::from_secs(5));
        claim_at(&d, "v", "c", t + Duration::from_secs(5));
        assert_eq!(d.held("u"), (2, 2));
        d.release("u", "b");
        assert_eq!(d.held("u"), (1, 2), "a released key leaves the quota");
        d.release("v", "c");
        assert_eq!(d.held("v"), (0, 1), "a sender goes with its last key");
        // "a" expires on this claim, so "u" holds the new one only and loses nothing to it.
        let later = t + Duration::from_secs(11);
        assert_eq!(claim_at(&d, "u", "d", later), Claim::New);
        assert_eq!(d.held("u"), (1, 1));
        assert_eq!(claim_at(&d, "u", "e", later), Claim::New);
        assert_eq!(claim_at(&d, "u", "d", later), Claim::Seen { seq: None });
        assert_eq!(d.held("u"), (2, 1));
        let gone = t + Duration::from_secs(30);
        assert_eq!(claim_at(&d, "w", "f", gone), Claim::New);
        assert_eq!(d.held("u"), (0, 1), "expired keys leave their sender");
    }

    #[test]
    fn a_resend_is_answered_with_the_settled_seq() {
        let d = Dedup::new(Duration::from_secs(60), 3, 3);
        assert_eq!(d.claim("s", "s/c", "m"), Claim::New);
        assert_eq!(
            d.claim("s", "s/c", "m"),
            Claim::Seen { seq: None },
            "still in flight"
        );
        d.settle("s/c", "m", Some(7));
        assert_eq!(d.claim("s", "s/c", "m"), Claim::Seen { seq: Some(7) });
    }

    #[test]
    fn a_released_key_is_new_again() {
        let d = Dedup::new(Duration::from_secs(60), 3, 3);
        assert_eq!(d.claim("u", "u", "m"), Claim::New);
        d.release("u", "m");
        assert_eq!(d.claim("u", "u", "m"), Claim::New);
    }
}
