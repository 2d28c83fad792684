//! Session expiry for live connections: a connection opened with a session is closed (4502,
//! terminal) when the session's expiry passes without a refresh.
//!
//! One timer task per session-bound connection, aborted when the connection ends (the
//! [`Watch`] guard, so a panicking connection task cannot leave its timer behind). The timer
//! reads the expiry from the hub each time it wakes, so a refresh (which moves the expiry in
//! the hub) simply makes it sleep again.

use std::sync::Arc;
use std::time::Duration;

use cometa_protocol::CloseCode;
use tokio::task::JoinHandle;

use crate::hub::Outbox;
use crate::state::App;
use crate::unix_now;

/// Aborts the timer when dropped.
pub struct Watch(JoinHandle<()>);

impl Drop for Watch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Closes `outbox` once session `session` has expired.
pub fn watch(app: &App, session: i64, outbox: Arc<Outbox>) -> Watch {
    let app = app.clone();
    Watch(tokio::spawn(async move {
        loop {
            // Gone from the hub: the connection has ended already.
            let Some(expires_at) = app.hub.session_expires(session) else {
                return;
            };
            let now = unix_now();
            // A session is valid while `expires_at > now` (the store's rule).
            if expires_at <= now {
                tracing::debug!(session, "session expired; closing its connection");
                outbox.close(CloseCode::SessionRevoked);
                return;
            }
            tokio::time::sleep(Duration::from_secs(expires_at - now)).await;
        }
    }))
}
