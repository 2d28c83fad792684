//! Session expiry for live connections: a connection opened with a session is closed (4502,
//! terminal) when the session's expiry passes without a refresh.
//!
//! One task for the whole relay, not a timer per connection (a task and its timer cost every
//! idle connection a few hundred bytes): the hub keeps the live sessions' deadlines in order
//! ([`crate::hub::Hub::expire`]); this task sleeps until the earliest, and is woken when a
//! connection or a refresh brings an earlier one. A refresh moves the deadline in the hub, so
//! the connections of a refreshed session simply live on.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::hub::Hub;
use crate::unix_now;

/// Runs until aborted.
pub async fn run(hub: Arc<Hub>) {
    loop {
        // Listening before reading the deadlines: a change in between still wakes us.
        let moved = hub.deadline_moved();
        tokio::pin!(moved);
        moved.as_mut().enable();
        match hub.expire(unix_now()) {
            Some(at) => {
                // A session is valid while `expires_at > now` (the store's rule), so it ends
                // at the start of second `at`.
                let wait = (UNIX_EPOCH + Duration::from_secs(at))
                    .duration_since(SystemTime::now())
                    .unwrap_or_default();
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = moved => {}
                }
            }
            None => moved.await,
        }
    }
}
