//! The values the store's traits speak, engine-neutral: streams and their messages, sessions,
//! profiles, retention and counters. A leaf: it imports nothing of the store or its engines.

use serde_json::{Map, Value};

/// Which stream a message or a position belongs to.
#[derive(Debug, Clone, Copy)]
pub enum StreamId<'a> {
    Personal(&'a str),
    Channel(&'a str),
}

impl StreamId<'_> {
    /// The stream's name, its key in every engine: `msg:<user_id>` for a user's personal
    /// stream, the channel's own name for a channel (channel names cannot contain `:`, so the
    /// two never meet).
    pub fn name(self) -> String {
        match self {
            StreamId::Personal(u) => personal_stream(u),
            StreamId::Channel(c) => c.to_string(),
        }
    }
}

/// The name of `user_id`'s personal stream.
pub fn personal_stream(user_id: &str) -> String {
    format!("msg:{user_id}")
}

/// A stream's identity and extent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub epoch: String,
    /// Newest seq (0 when empty).
    pub top: u64,
    /// Oldest seq still kept (`top + 1` when nothing is kept).
    pub oldest: u64,
}

impl StreamInfo {
    /// Whether a client at `seq` of `epoch` can be given exactly what it missed: same epoch,
    /// and nothing after `seq` has been dropped by retention.
    pub fn can_resume(&self, epoch: &str, seq: u64) -> bool {
        epoch == self.epoch && seq.saturating_add(1) >= self.oldest
    }
}

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

/// One message of a user's personal stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub seq: u64,
    pub event: String,
    /// JSON text, exactly as the back end sent it.
    pub data: String,
}

/// Runs on the store's thread right after an append commits, with the new seq; appends'
/// callbacks run in commit order. Must not block: it fans out to in-memory queues.
pub type AfterCommit = Box<dyn FnOnce(u64) -> usize + Send>;

/// Runs on the store's thread right after a merge commits, with the moved messages.
pub type AfterMerge = Box<dyn FnOnce(&[StoredMessage]) + Send>;

/// Retention of a stream; enforced on append (length) and by the sweep (age).
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_len: u64,
    pub max_age_secs: u64,
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

/// Session lifetimes in seconds: remembered, and ending with the browser session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTtl {
    pub remembered: u64,
    pub short: u64,
}

impl SessionTtl {
    pub fn for_session(self, remember: bool) -> u64 {
        if remember {
            self.remembered
        } else {
            self.short
        }
    }
}

/// Login options of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    pub remember: bool,
    /// A hard end no refresh can pass (the `exp` of the JWT it came from).
    pub not_after: Option<u64>,
}

/// A change to a profile. The outer `Option` is "mentioned?", the inner one "set or clear".
#[derive(Debug, Default, Clone)]
pub struct ProfilePatch {
    pub username: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
    /// A PHC string (Argon2id), never the password.
    pub password_hash: Option<Option<String>>,
    /// Replaces the free-form part of `userinfo`; profile fields are merged on top.
    pub userinfo: Option<Map<String, Value>>,
}

/// How a profile write treats an existing or missing user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Register: the user must not exist yet.
    Create,
    /// Edit: the user must exist.
    Update,
    /// Create when missing, else edit (login codes, delegated auth).
    Upsert,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    Done(Profile),
    UserExists,
    UsernameTaken,
    NotFound,
}

/// What the users API shows; never the password hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Profile {
    pub user_id: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub has_password: bool,
    pub userinfo: Value,
    pub created_at: Option<u64>,
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
