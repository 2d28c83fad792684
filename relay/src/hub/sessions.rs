//! Which live connections each session opened, so that every one of them ends with its session:
//! logout, revocation, deletion of the user, and expiry (see [`crate::expiry`]).
//!
//! Expiry needs no timer per connection: the registry keeps the live sessions' deadlines in
//! order, and one task ([`crate::expiry::run`]) sleeps until the earliest.
//!
//! A visitor's native connection is anonymous in the hub (no user id: visitors get no channel
//! rights), so its session is the only way to find it; the index keeps the session's user too.

use std::sync::Arc;

use cometa_protocol::CloseCode;

use super::{Hub, Registry};

/// The session behind a connection.
#[derive(Debug, Clone)]
pub struct SessionLink {
    pub id: i64,
    pub user_id: Arc<str>,
    /// Unix seconds; the connection is closed when the session has not been refreshed by then.
    pub expires_at: u64,
}

pub(super) struct LiveSession {
    user_id: Arc<str>,
    expires_at: u64,
    conns: Vec<Arc<str>>,
}

impl Registry {
    /// Returns whether the session's deadline is now the earliest, so the expiry task must
    /// wake sooner than it planned.
    pub(super) fn add_to_session(&mut self, link: &SessionLink, conn: &Arc<str>) -> bool {
        let s = self.sessions.entry(link.id).or_insert_with(|| LiveSession {
            user_id: link.user_id.clone(),
            expires_at: link.expires_at,
            conns: Vec::new(),
        });
        // A ticket read before a refresh carries the older expiry; never move it back.
        let before = s.expires_at;
        s.expires_at = s.expires_at.max(link.expires_at);
        s.conns.push(conn.clone());
        let at = s.expires_at;
        // Inserted again even when unchanged: a session whose deadline already fired still
        // closes a connection that joins it late.
        self.set_deadline(link.id, before, at)
    }

    pub(super) fn remove_from_session(&mut self, session: i64, conn: &str) {
        if let Some(s) = self.sessions.get_mut(&session) {
            s.conns.retain(|c| &**c != conn);
            if s.conns.is_empty() {
                let at = s.expires_at;
                self.sessions.remove(&session);
                self.deadlines.remove(&(at, session));
            }
        }
    }

    /// Moves the session's deadline from `before` to `at`; true when it is now the earliest.
    fn set_deadline(&mut self, session: i64, before: u64, at: u64) -> bool {
        self.deadlines.remove(&(before, session));
        self.deadlines.insert((at, session));
        self.deadlines.first() == Some(&(at, session))
    }

    /// Connections opened by the user's sessions (or by one of them).
    pub(super) fn session_conns_of<'a>(
        &'a self,
        user_id: &'a str,
        only: Option<i64>,
    ) -> impl Iterator<Item = &'a Arc<str>> + 'a {
        self.sessions
            .iter()
            .filter(move |(id, s)| &*s.user_id == user_id && only.is_none_or(|o| o == **id))
            .flat_map(|(_, s)| s.conns.iter())
    }
}

impl Hub {
    /// Closes every connection the session opened; returns how many.
    pub fn close_session(&self, session: i64, code: CloseCode) -> usize {
        let reg = self.registry();
        let Some(s) = reg.sessions.get(&session) else {
            return 0;
        };
        s.conns
            .iter()
            .filter_map(|id| reg.conns.get(id))
            .inspect(|h| h.outbox.close(code))
            .count()
    }

    /// A refresh moved the session's expiry: its connections live on until then.
    pub fn extend_session(&self, session: i64, expires_at: u64) {
        let mut reg = self.registry();
        let Some(s) = reg.sessions.get_mut(&session) else {
            return;
        };
        let before = std::mem::replace(&mut s.expires_at, expires_at);
        if reg.set_deadline(session, before, expires_at) {
            self.deadline_moved.notify_one();
        }
    }

    /// Closes (4502) the connections of every session whose expiry is at or before `now`
    /// (unix seconds); returns the next deadline, if any session is left.
    pub fn expire(&self, now: u64) -> Option<u64> {
        let mut reg = self.registry();
        while let Some(&(at, session)) = reg.deadlines.first() {
            if at > now {
                return Some(at);
            }
            reg.deadlines.pop_first();
            tracing::debug!(session, "session expired; closing its connections");
            let Some(s) = reg.sessions.get(&session) else {
                continue;
            };
            for h in s.conns.iter().filter_map(|id| reg.conns.get(id)) {
                h.outbox.close(CloseCode::SessionRevoked);
            }
        }
        None
    }

    /// Completes when a deadline earlier than the known ones was set.
    pub fn deadline_moved(&self) -> tokio::sync::futures::Notified<'_> {
        self.deadline_moved.notified()
    }

    /// Users with a session that has a live connection here.
    pub fn session_users(&self) -> std::collections::HashSet<Arc<str>> {
        let reg = self.registry();
        reg.sessions.values().map(|s| s.user_id.clone()).collect()
    }

    /// When the session ends, while it has live connections here.
    pub fn session_expires(&self, session: i64) -> Option<u64> {
        self.registry().sessions.get(&session).map(|s| s.expires_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{Handle, Outbox};

    fn handle(id: &str, user: Option<&str>, session: i64) -> Handle {
        Handle {
            id: id.into(),
            user_id: user.map(Into::into),
            session: Some(SessionLink {
                id: session,
                user_id: "v".into(),
                expires_at: 100,
            }),
            dialect: crate::frames::Dialect::Wafer,
            outbox: Arc::new(Outbox::new(4)),
        }
    }

    #[tokio::test]
    async fn one_sweep_expires_sessions_in_deadline_order() {
        let hub = Hub::new(16);
        let at = |id: &str, session: i64, expires_at: u64| {
            let mut h = handle(id, Some("v"), session);
            if let Some(link) = &mut h.session {
                link.expires_at = expires_at;
            }
            let outbox = h.outbox.clone();
            assert!(hub.register(h).is_ok());
            outbox
        };
        let a = at("a", 1, 100);
        let b = at("b", 2, 50);
        assert_eq!(hub.expire(10), Some(50));
        hub.extend_session(2, 300);
        assert_eq!(hub.expire(10), Some(100), "a refresh moves the deadline");
        assert_eq!(hub.expire(100), Some(300));
        let mut buf = std::collections::VecDeque::new();
        assert!(!b.take(&mut buf));
        assert_eq!(
            a.next(&mut buf).await,
            crate::outbox::Next::Close(CloseCode::SessionRevoked.code())
        );
        let late = at("c", 1, 100);
        assert_eq!(
            hub.expire(100),
            Some(300),
            "a late joiner of an expired session"
        );
        assert_eq!(
            late.next(&mut buf).await,
            crate::outbox::Next::Close(CloseCode::SessionRevoked.code())
        );
        hub.unregister("b");
        assert_eq!(hub.expire(100), None, "gone with its last connection");
    }

    #[test]
    fn sessions_track_their_connections() {
        let hub = Hub::new(16);
        assert!(hub.register(handle("a", None, 1)).is_ok());
        assert!(hub.register(handle("b", Some("v"), 1)).is_ok());
        assert!(hub.register(handle("c", None, 2)).is_ok());
        assert_eq!(hub.session_expires(1), Some(100));
        hub.extend_session(1, 200);
        assert_eq!(hub.session_expires(1), Some(200));
        assert_eq!(hub.close_session(1, CloseCode::SessionRevoked), 2);
        assert_eq!(
            hub.close_user("v", None, CloseCode::SessionRevoked),
            3,
            "anonymous connections of the user's sessions too, each once"
        );
        assert_eq!(hub.close_user("v", Some(2), CloseCode::SessionRevoked), 1);
        hub.unregister("a");
        hub.unregister("b");
        assert_eq!(
            hub.session_expires(1),
            None,
            "gone with its last connection"
        );
    }
}
