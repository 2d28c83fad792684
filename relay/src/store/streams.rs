//! Streams and positions in them: the one append, reads after and before a position, a
//! stream's epoch and extent, and the delivery cursors of sessions and devices.

use async_trait::async_trait;

use super::error::Result;
use super::types::{AfterCommit, NewMessage, StreamId, StreamInfo, StreamMessage};

#[async_trait]
pub trait Streams: Send + Sync + 'static {
    /// Appends to a stream — a user's personal stream (creating the user if needed) or a
    /// channel — with the stream's retention applied, then runs `then(seq)` right after the
    /// commit, in commit order across all appends; returns the new seq and what `then`
    /// returned (the fan-out count).
    async fn append(
        &self,
        stream: StreamId<'_>,
        m: NewMessage,
        then: AfterCommit,
    ) -> Result<(u64, usize)>;

    /// Up to `limit` messages of the stream with `seq > after`, in order.
    async fn after(
        &self,
        stream: StreamId<'_>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StreamMessage>>;

    /// The newest `limit` messages of the stream with `seq < before`, oldest first.
    async fn before(
        &self,
        stream: StreamId<'_>,
        before: u64,
        limit: usize,
    ) -> Result<Vec<StreamMessage>>;

    /// The stream's epoch (made on first use) and extent.
    async fn stream_info(&self, stream: StreamId<'_>) -> Result<StreamInfo>;

    /// Where a device resumes: its own cursor, or, for a device that has none yet, the
    /// highest seq any device of the user has received (the offline queue starts after it).
    /// A live session that had no cursor gets one there, so it owns its position from then on.
    async fn resume_point(&self, session_id: i64, user_id: &str) -> Result<u64>;

    /// Records that a device received everything up to `seq`. Not awaited by the hot path;
    /// coalesced with any write of the same cursor still pending. With `epoch`, written only
    /// while that is still the personal stream's epoch (the history the seq counts in).
    fn advance_cursor(&self, session_id: i64, user_id: &str, seq: u64, epoch: Option<&str>);

    /// Where a native device resumes its personal stream when it gives no position; a device
    /// with no cursor gets one there (see [`Streams::resume_point`]).
    async fn device_resume_point(&self, device: &str, user_id: &str) -> Result<u64>;

    /// Not awaited by the hot path. See [`Streams::advance_cursor`].
    fn advance_device_cursor(&self, device: &str, user_id: &str, seq: u64, epoch: Option<&str>);
}

/// A back-end message to a user's personal stream, for the store's unit tests.
#[cfg(test)]
pub(crate) async fn append_personal(
    s: &dyn Streams,
    user_id: &str,
    event: &str,
    data: &str,
    now: u64,
) -> Result<u64> {
    let m = NewMessage::new(event, data, now);
    Ok(s.append(StreamId::Personal(user_id), m, Box::new(|_| 0))
        .await?
        .0)
}
