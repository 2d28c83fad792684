//! Streams as a connection sees them: a user's personal stream and every stored channel are
//! both a sequence of messages with increasing seqs, and a connection catches up on either
//! with the one [`replay`]. Live messages of both arrive as [`Outbound::Stream`]
//! (`crate::outbox`), named by [`PERSONAL`] or the hub's channel id, and the writer drops a
//! seq it already sent, so replay and live delivery meet without gap or repeat.
//!
//! Order at connect and subscribe: register in the hub first (live messages start queueing),
//! then read the stream from the store and send it, then let the writer drain the queue.
//! Publishes fan out only after their commit, in commit order (see [`crate::publish`]), so a
//! message is either in the replay or queued live — nothing falls between the two.
//!
//! [`Outbound::Stream`]: crate::outbox::Outbound::Stream

use axum::extract::ws::Utf8Bytes;
use cometa_protocol::packet;

use crate::conn::{Cursor, Io};
use crate::frames::{self, Dialect};
pub use crate::outbox::PERSONAL;
use crate::state::App;
use crate::store::StoreError;
use crate::store::StreamId;

/// Messages fetched per store round trip during replay.
pub const REPLAY_PAGE: usize = 256;

/// Sends the messages of `stream` with a seq above `after`, in order and in the connection's
/// dialect, and moves the writer's position `id` ([`PERSONAL`] or the hub's channel id) with
/// them. A failed write ends the replay early; `io` remembers it and the connection closes.
pub async fn replay(
    io: &mut Io,
    stream: StreamId<'_>,
    id: u64,
    mut after: u64,
) -> Result<(), StoreError> {
    let app = io.app.clone();
    loop {
        let page = read_after(&app, io.dialect, stream, after).await?;
        let Some(&(last, _)) = page.last() else {
            break;
        };
        for (_, frame) in &page {
            if io.feed(frame.clone()).await.is_err() {
                return Ok(());
            }
        }
        if io.flush().await.is_err() {
            return Ok(());
        }
        after = last;
        io.set_position(id, last);
        if page.len() < REPLAY_PAGE {
            break;
        }
    }
    if id == PERSONAL {
        // A failed fence or flush is remembered by `io` and closes the connection.
        if io.fence().await.is_ok() {
            let _ = io.flush().await;
        }
    }
    Ok(())
}

/// One page of `stream` after `after`, encoded for the connection.
async fn read_after(
    app: &App,
    dialect: Dialect,
    stream: StreamId<'_>,
    after: u64,
) -> Result<Vec<(u64, Utf8Bytes)>, StoreError> {
    let page = app.store.after(stream, after, REPLAY_PAGE).await?;
    Ok(page
        .iter()
        .map(|m| {
            let frame = match (stream, dialect) {
                (StreamId::Personal(_), Dialect::Wafer) => {
                    frames::wafer_stream_frame(&m.event, &m.data, m.seq)
                }
                (StreamId::Personal(_), Dialect::Native) => {
                    frames::personal_frame(&m.event, &m.data, m.seq)
                }
                (StreamId::Channel(channel), _) => frames::channel_frame(
                    channel,
                    &m.event,
                    &m.data,
                    Some(m.seq),
                    m.user_id.as_deref(),
                ),
            };
            (m.seq, frame)
        })
        .collect())
}

/// Catches the connection's user up on their personal stream: after `after` (a native
/// client's own position), or after the device's stored cursor when `None`. A Wafer tunnel is
/// first told the stream's epoch, for the SDK's dedup.
pub async fn resume_personal(io: &mut Io, after: Option<u64>) -> Result<(), StoreError> {
    let Some(user) = io.user_id.clone() else {
        return Ok(());
    };
    let start = match (after, &io.cursor) {
        (Some(a), _) => a,
        (None, Cursor::Session(id)) => io.app.store.resume_point(*id, &user).await?,
        (None, Cursor::Device(d)) => io.app.store.device_resume_point(d, &user).await?,
        (None, Cursor::None) => return Ok(()),
    };
    if io.dialect == Dialect::Wafer {
        let info = io.app.store.stream_info(StreamId::Personal(&user)).await?;
        let epoch = serde_json::Value::from(info.epoch.as_str()).to_string();
        io.epoch = Some(info.epoch);
        if io.send(packet::encode_stream(&epoch)).await.is_err() {
            return Ok(());
        }
    }
    io.resume_after(start);
    replay(io, StreamId::Personal(&user), PERSONAL, start).await
}
