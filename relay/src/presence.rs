//! Connections coming and going, and what they tell others: `user_status_<id>` online and
//! offline, `track_*` `subscription` and `unsubscription`, last-seen times.

use std::sync::Arc;

use cometa_protocol::native::ChannelKind;

use crate::frames::channel_frame;
use crate::hub::Handle;
use crate::state::App;
use crate::unix_now;

/// A connection's place in the hub. Dropping it — when the connection task ends, or while a
/// panic unwinds it — unregisters the connection, which frees its device slot and its
/// `max-connections` slot: no code path, however it fails, can leak them.
#[must_use = "dropping the registration disconnects at once"]
pub struct Registration {
    app: App,
    id: Arc<str>,
    /// The device id `track_*` channels are told when this connection leaves them.
    device: String,
}

impl Registration {
    /// The persistent device id of a native connection (`getUUID()` on its page).
    pub fn set_device(&mut self, device: &str) {
        self.device = device.to_string();
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        disconnected(&self.app, &self.id, &self.device);
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
                device: String::new(),
            })
        }
        Err(e) => {
            tracing::info!(error = %e, "connection refused");
            None
        }
    }
}

fn disconnected(app: &App, id: &str, device: &str) {
    let user = app.hub.user_of(id);
    let (change, left) = app.hub.unregister(id);
    for (channel, _) in left {
        track_changed(app, &channel, None, user.as_deref(), device, false);
    }
    if let Some(user) = user {
        app.store.touch_last_seen(&user, unix_now());
        if change.user_online == Some(false) {
            announce_status(app, &user, false);
        }
    }
}

/// CppComet's `track_*` announcements: every connection that starts (`subscription`) or ends
/// (`unsubscription`) a subscription to a `track_*` channel, anonymous ones too (`user_id` 0),
/// tells the channel's other subscribers `{user_id, uuid}`. One frame per connection, as
/// CppComet sends: a user with two tabs is announced twice; `presence` lists users once.
/// `except` is the connection that subscribed: it does not hear about itself.
pub fn track_changed(
    app: &App,
    channel: &str,
    except: Option<&str>,
    user: Option<&str>,
    device: &str,
    subscribed: bool,
) {
    if ChannelKind::of(channel) != ChannelKind::Track {
        return;
    }
    let event = if subscribed {
        TRACK_SUBSCRIPTION
    } else {
        TRACK_UNSUBSCRIPTION
    };
    let user_id = user.map_or(serde_json::Value::from(0), serde_json::Value::from);
    let data = serde_json::json!({ "user_id": user_id, "uuid": device }).to_string();
    let frame = channel_frame(channel, event, &data, None, user);
    match except {
        Some(id) => app.hub.deliver_channel_except(channel, id, &frame),
        None => app.hub.deliver_channel(channel, None, &frame),
    };
}

/// The events of [`track_changed`], CppComet's names.
pub const TRACK_SUBSCRIPTION: &str = "subscription";
pub const TRACK_UNSUBSCRIPTION: &str = "unsubscription";

fn announce_status(app: &App, user: &str, online: bool) {
    let channel = format!("user_status_{user}");
    let event = if online { "online" } else { "offline" };
    let data = serde_json::json!({ "user_id": user }).to_string();
    let frame = channel_frame(&channel, event, &data, None, Some(user));
    app.hub.deliver_channel(&channel, None, &frame);
}
