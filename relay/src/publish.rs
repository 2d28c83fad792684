//! Storing then fanning out a message, in order: each stream's lock is held from the append
//! (which assigns the seq) to the fan-out, so every connection sees seqs in increasing order
//! and a connection replaying from the store cannot miss one (see [`crate::tunnel`]).

use cometa_protocol::native::ChannelKind;

use crate::presence::{channel_frame, personal_frames};
use crate::state::App;
use crate::store::StoreError;
use crate::unix_now;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// `None` on live-only channels.
    pub seq: Option<u64>,
    pub delivered: usize,
}

/// To every live device of the user; stored first.
pub async fn personal(
    app: &App,
    user: &str,
    event: &str,
    data: &str,
) -> Result<Published, StoreError> {
    let _order = app.hub.stream_lock(user).await;
    let seq = app
        .store
        .append_personal(user, event, data, unix_now())
        .await?;
    let frame = personal_frames(event, data, seq);
    let delivered = app.hub.deliver_personal(user, &frame);
    Ok(Published {
        seq: Some(seq),
        delivered,
    })
}

/// To a channel's subscribers; stored first unless the channel is live-only.
pub async fn channel(
    app: &App,
    channel: &str,
    event: &str,
    data: &str,
    sender: Option<&str>,
) -> Result<Published, StoreError> {
    if !ChannelKind::of(channel).is_stored() {
        let frame = channel_frame(channel, event, data, None, sender);
        return Ok(Published {
            seq: None,
            delivered: app.hub.deliver_channel(channel, None, &frame),
        });
    }
    let retention = app.policy.retention(channel);
    let lock_key = format!("ch:{channel}");
    let _order = app.hub.stream_lock(&lock_key).await;
    let seq = app
        .channels
        .append_channel(channel, event, data, sender, unix_now(), retention)
        .await?;
    let frame = channel_frame(channel, event, data, Some(seq), sender);
    Ok(Published {
        seq: Some(seq),
        delivered: app.hub.deliver_channel(channel, Some(seq), &frame),
    })
}
