//! Durable state: users, login codes, sessions, and streams — every stream's messages and
//! delivery cursors in one layout (`streams`), a user's personal stream being `msg:<user_id>`.
//!
//! [`Store`] is the seam for engines; [`sqlite::SqliteStore`] is the embedded default. A Redis
//! engine for scale-out implements the same trait.

pub mod accounts;
pub mod channels;
mod cursors;
pub mod guests;
pub mod sqlite;
mod streams;

use async_trait::async_trait;

pub use crate::secret::SecretHash;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("cannot prepare the data directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("commit failed: {0}")]
    Commit(String),
    #[error("the store is shut down")]
    Closed,
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Runs on the store's thread right after an append commits, with the new seq; appends'
/// callbacks run in commit order. Must not block: it fans out to in-memory queues.
pub type AfterCommit = Box<dyn FnOnce(u64) -> usize + Send>;

/// One stored message of any stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamMessage {
    pub seq: u64,
    pub event: String,
    /// JSON text, exactly as the sender sent it.
    pub data: String,
    /// The sender, on channel messages the relay stamps.
    pub user_id: Option<String>,
}

/// A message to append to a stream.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub event: String,
    /// JSON text, exactly as the sender sent it.
    pub data: String,
    /// The sender as the relay authenticated it (channel messages from clients).
    pub sender: Option<String>,
    pub now: u64,
    /// The stream's retention; `None` for the store's retention of personal streams.
    pub retention: Option<Retention>,
}

impl NewMessage {
    /// A message from the back end, with the default retention.
    pub fn new(event: &str, data: &str, now: u64) -> Self {
        Self {
            event: event.to_string(),
            data: data.to_string(),
            sender: None,
            now,
            retention: None,
        }
    }
}

/// A live or stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: i64,
    pub user_id: String,
    /// The user's profile as JSON text.
    pub userinfo: String,
    pub created_at: u64,
    pub expires_at: u64,
}

/// One message of a user's personal stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub seq: u64,
    pub event: String,
    /// JSON text, exactly as the back end sent it.
    pub data: String,
}

/// What the store has done and has waiting, for `GET /api/v1/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    /// Cursor rows written since start (coalesced: at most one per cursor per commit).
    pub cursor_writes: u64,
    /// Writes nobody waited for (last seen) dropped because the queue was full.
    pub dropped_writes: u64,
    pub queued_jobs: usize,
    pub queue_capacity: usize,
}

/// Retention of personal streams; enforced on append (length) and by [`Store::sweep`] (age).
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_len: u64,
    pub max_age_secs: u64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates the user, or replaces its profile when `userinfo` is given, and keeps a login
    /// code for it.
    async fn put_login_code(
        &self,
        code: SecretHash,
        user_id: &str,
        userinfo: Option<String>,
        expires_at: u64,
    ) -> Result<()>;

    /// Consumes a login code: `Some(user_id)` once, if it exists and has not expired.
    async fn take_login_code(&self, code: SecretHash, now: u64) -> Result<Option<String>>;

    async fn create_session(
        &self,
        key: SecretHash,
        user_id: &str,
        now: u64,
        expires_at: u64,
    ) -> Result<Session>;

    /// The session behind a key, if it exists and has not expired.
    async fn session(&self, key: SecretHash, now: u64) -> Result<Option<Session>>;

    /// Deletes one session; returns it if it existed.
    async fn revoke_session(&self, key: SecretHash) -> Result<Option<Session>>;

    /// Deletes every session of a user; returns how many there were.
    async fn revoke_user_sessions(&self, user_id: &str) -> Result<usize>;

    /// Appends to a stream — a user's personal stream (creating the user if needed) or a
    /// channel — with the stream's retention applied, then runs `then(seq)` right after the
    /// commit, in commit order across all appends; returns the new seq and what `then`
    /// returned (the fan-out count).
    async fn append(
        &self,
        stream: channels::StreamId<'_>,
        m: NewMessage,
        then: AfterCommit,
    ) -> Result<(u64, usize)>;

    /// Up to `limit` messages of the stream with `seq > after`, in order.
    async fn after(
        &self,
        stream: channels::StreamId<'_>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StreamMessage>>;

    /// The newest `limit` messages of the stream with `seq < before`, oldest first.
    async fn before(
        &self,
        stream: channels::StreamId<'_>,
        before: u64,
        limit: usize,
    ) -> Result<Vec<StreamMessage>>;

    /// Where a device resumes: its own cursor, or, for a device that has none yet, the
    /// highest seq any device of the user has received (the offline queue starts after it).
    /// A live session that had no cursor gets one there, so it owns its position from then on.
    async fn resume_point(&self, session_id: i64, user_id: &str) -> Result<u64>;

    /// Records that a device received everything up to `seq`. Not awaited by the hot path;
    /// coalesced with any write of the same cursor still pending. With `epoch`, written only
    /// while that is still the personal stream's epoch (the history the seq counts in).
    fn advance_cursor(&self, session_id: i64, user_id: &str, seq: u64, epoch: Option<&str>);

    /// Counters, after every write recorded before the call has been carried out.
    async fn stats(&self) -> Result<StoreStats>;

    /// Records when a device of the user was last connected. Not awaited.
    fn touch_last_seen(&self, user_id: &str, now: u64);

    async fn last_seen(&self, user_id: &str) -> Result<Option<u64>>;

    /// Drops expired codes and sessions and personal messages older than the retention.
    async fn sweep(&self, now: u64) -> Result<()>;
}

/// A back-end message to a user's personal stream, for the store's unit tests.
#[cfg(test)]
pub(crate) async fn append_personal(
    s: &dyn Store,
    user_id: &str,
    event: &str,
    data: &str,
    now: u64,
) -> Result<u64> {
    let m = NewMessage::new(event, data, now);
    let stream = channels::StreamId::Personal(user_id);
    Ok(s.append(stream, m, Box::new(|_| 0)).await?.0)
}
