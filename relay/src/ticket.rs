//! Short-lived, single-use tickets carried in `connectUrl`, so that no long-lived credential
//! ever appears in a URL (and so in proxy logs or browser history).
//!
//! Tickets live in memory only: a relay restart drops them, and a client simply asks
//! `/weapp/tunnel` for a new `connectUrl`, as Wafer's SDK does on every reconnect.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::secret;
use crate::store::SecretHash;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub tunnel_id: String,
    pub session_id: i64,
    pub user_id: String,
    /// When the session ends (unix seconds); the tunnel is closed then.
    pub expires_at: u64,
}

pub struct Tickets {
    ttl: Duration,
    pending: Mutex<HashMap<SecretHash, (Ticket, Instant)>>,
}

impl Tickets {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            pending: Mutex::default(),
        }
    }

    /// Returns the secret to put in the URL.
    pub fn issue(&self, ticket: Ticket, now: Instant) -> String {
        let token = secret::generate();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.insert(secret::hash(&token), (ticket, now + self.ttl));
        token
    }

    /// Consumes a ticket; `None` if unknown, used or expired.
    pub fn redeem(&self, token: &str, now: Instant) -> Option<Ticket> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let (ticket, expires) = pending.remove(&secret::hash(token))?;
        (now < expires).then_some(ticket)
    }

    /// Drops every pending ticket of a user whose sessions were revoked, so none is redeemed
    /// after the revocation.
    pub fn revoke_user(&self, user_id: &str) -> usize {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let before = pending.len();
        pending.retain(|_, (t, _)| t.user_id != user_id);
        before - pending.len()
    }

    /// Drops the pending tickets of one session (logout).
    pub fn revoke_session(&self, session_id: i64) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, (t, _)| t.session_id != session_id);
    }

    /// A refresh moved the session's expiry: a tunnel opened with a ticket issued before it
    /// must not end at the old one.
    pub fn extend_session(&self, session_id: i64, expires_at: u64) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for (t, _) in pending.values_mut() {
            if t.session_id == session_id {
                t.expires_at = expires_at;
            }
        }
    }

    /// Forgets expired tickets; run periodically so unused ones do not pile up.
    pub fn sweep(&self, now: Instant) -> usize {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let before = pending.len();
        pending.retain(|_, (_, exp)| now < *exp);
        before - pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> Ticket {
        Ticket {
            tunnel_id: "t".into(),
            session_id: 1,
            user_id: "u".into(),
            expires_at: 0,
        }
    }

    #[test]
    fn single_use_and_expiring() {
        let t = Tickets::new(Duration::from_secs(30));
        let now = Instant::now();
        let tok = t.issue(ticket(), now);
        assert_eq!(t.redeem(&tok, now), Some(ticket()));
        assert_eq!(t.redeem(&tok, now), None);
        let tok = t.issue(ticket(), now);
        assert_eq!(t.redeem(&tok, now + Duration::from_secs(31)), None);
        t.issue(ticket(), now);
        assert_eq!(t.sweep(now + Duration::from_secs(31)), 1);
        let tok = t.issue(ticket(), now);
        t.extend_session(1, 99);
        assert_eq!(t.redeem(&tok, now).map(|t| t.expires_at), Some(99));
        let tok = t.issue(ticket(), now);
        assert_eq!(t.revoke_user("u"), 1);
        assert_eq!(t.redeem(&tok, now), None);
        assert_eq!(t.redeem("garbage", now), None);
    }
}
