//! Connections coming and going, and what they tell others: `user_status_<id>` online and
//! offline, `track_*` join and leave, last-seen times.

use std::sync::Arc;

use cometa_protocol::native::ChannelKind;

use crate::frames::channel_frame;
use crate::hub::{Handle, Membership};
use crate::state::App;
use crate::unix_now;

/// A connection's place in the hub. Dropping it — when the connection task ends, or while a
/// panic unwinds it — unregisters the connection, which frees its device slot and its
/// `max-connections` slot: no code path, however it fails, can leak them.
#[must_use = "dropping the registration disconnects at once"]
pub struct Registration {
    app: App,
    id: Arc<str>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        disconnected(&self.app, &self.id);
    }
}

/// Registers a connection; `None` when the user is at the device cap.
pub async fn connected(app: &App, handle: Handle) -> Option<Registration> {
    let user = handle.user_id.clone();
    let id = handle.id.clone();
    match app.hub.register(handle) {
        Ok(change) => {
            if let Some(user) = user {
                app.store.touch_last_seen(&user, unix_now());
                if change.user_online == Some(true) {
                    announce_status(app, &user, true);
                }
            }
            Some(Registration {
                app: app.clone(),
                id,
            })
        }
        Err(e) => {
            tracing::info!(error = %e, "connection refused");
            None
        }
    }
}

fn disconnected(app: &App, id: &str) {
    let user = app.hub.user_of(id);
    let (change, left) = app.hub.unregister(id);
    for (channel, m) in left {
        if let Some(u) = &user {
            membership_changed(app, &channel, u, &m);
        }
    }
    if let Some(user) = user {
        app.store.touch_last_seen(&user, unix_now());
        if change.user_online == Some(false) {
            announce_status(app, &user, false);
        }
    }
}

/// Sends `join`/`leave` on `track_*` channels when a user's first subscription starts or
/// their last one ends.
pub fn membership_changed(app: &App, channel: &str, user: &str, m: &Membership) {
    let Some(joined) = m.user_joined else { return };
    if ChannelKind::of(channel) != ChannelKind::Track {
        return;
    }
    let event = if joined { "join" } else { "leave" };
    let data = serde_json::json!({ "user_id": user }).to_string();
    let frame = channel_frame(channel, event, &data, None, Some(user));
    app.hub.deliver_channel(channel, None, &frame);
}

fn announce_status(app: &App, user: &str, online: bool) {
    let channel = format!("user_status_{user}");
    let event = if online { "online" } else { "offline" };
    let data = serde_json::json!({ "user_id": user }).to_string();
    let frame = channel_frame(&channel, event, &data, None, Some(user));
    app.hub.deliver_channel(&channel, None, &frame);
}
