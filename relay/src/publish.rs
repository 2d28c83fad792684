//! Storing then fanning out a message, in order. The store assigns the seq inside its
//! transaction; right after the commit, in commit order, its thread hands the fan-out to one
//! [`crate::fanout::Fanout`] task ([`crate::store::AfterCommit`]), which runs them in that order: every
//! connection sees a stream's seqs in increasing order, nothing is sent before it is durable,
//! and a connection that registered before reading the stream gets every later message either
//! from its replay or live (see [`crate::stream`]). No lock is held across the commit, so
//! publishes to one busy channel share fsyncs instead of queueing for them; and the fan-out
//! runs on the runtime, where waking a thousand connection tasks is cheap, not on the store
//! thread.

use crate::frames::channel_frame;
use crate::state::App;
use crate::store::NewMessage;
use crate::store::StoreError;
use crate::store::StreamId;
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
    let arrived = std::time::Instant::now();
    let (fan_out, delivered) =
        app.fanout
            .personal(user.to_string(), event.to_string(), data.to_string());
    let m = NewMessage::new(event, data, unix_now());
    let (seq, _) = app
        .store
        .append(StreamId::Personal(user), m, fan_out)
        .await?;
    let delivered = delivered.await.unwrap_or(0);
    crate::metrics::published(crate::metrics::Kind::Personal, delivered, arrived);
    Ok(Published {
        seq: Some(seq),
        delivered,
    })
}

/// To a channel's subscribers; stored first unless the channel is live-only (a kind that
/// never is, or a prefix set to keep no history). Either way the fan-out runs on the ordering
/// task, so every subscriber sees a channel's messages in the same order.
pub async fn channel(
    app: &App,
    channel: &str,
    event: &str,
    data: &str,
    sender: Option<&str>,
) -> Result<Published, StoreError> {
    let arrived = std::time::Instant::now();
    if !app.policy.stored(channel) {
        let frame = channel_frame(channel, event, data, None, sender);
        let delivered = app.fanout.live(channel.to_string(), frame);
        let delivered = delivered.await.unwrap_or(0);
        crate::metrics::published(crate::metrics::Kind::Channel, delivered, arrived);
        return Ok(Published {
            seq: None,
            delivered,
        });
    }
    let m = NewMessage {
        sender: sender.map(str::to_string),
        retention: Some(app.policy.retention(channel)),
        ..NewMessage::new(event, data, unix_now())
    };
    let (fan_out, delivered) = app.fanout.channel(
        channel.to_string(),
        m.event.clone(),
        m.data.clone(),
        m.sender.clone(),
    );
    let (seq, _) = app
        .store
        .append(StreamId::Channel(channel), m, fan_out)
        .await?;
    let delivered = delivered.await.unwrap_or(0);
    crate::metrics::published(crate::metrics::Kind::Channel, delivered, arrived);
    Ok(Published {
        seq: Some(seq),
        delivered,
    })
}
