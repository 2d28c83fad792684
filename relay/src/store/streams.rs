//! One storage layout for every stream's messages: a user's personal stream is the stream
//! `msg:<user_id>`, a channel is the stream named like the channel (channel names cannot
//! contain `:`, so the two never meet). One table keyed by (stream, seq), one append, one
//! read after a position, one page before a position, and one retention rule: a message
//! carries its expiry from the append on, and an append trims the stream to its length.
//!
//! Cursors are one table too: a position per (stream, owner), the owner a Wafer tunnel's
//! session (`session:<id>`) or a native device (`device:<id>`).
//!
//! Data dirs from before this layout kept personal messages in `messages`, channel ones in
//! `channel_messages`, and cursors in `cursors` and `device_cursors`; [`migrate`] moves them
//! on open.

use rusqlite::{Connection, OptionalExtension, params};

use super::channels::StreamId;
use super::sqlite::{to_i64, to_u64};
use super::{Retention, StreamMessage};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS stream_messages (
    stream     TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    event      TEXT NOT NULL,
    data       TEXT NOT NULL,
    user_id    TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (stream, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS stream_messages_by_expiry ON stream_messages(expires_at);
CREATE TABLE IF NOT EXISTS stream_cursors (
    stream TEXT NOT NULL,
    owner  TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    PRIMARY KEY (stream, owner)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS stream_cursors_by_owner ON stream_cursors(owner);
";

/// Who holds a cursor: a Wafer tunnel's session, or a native client's device.
pub(super) fn session_owner(session_id: i64) -> String {
    format!("session:{session_id}")
}

pub(super) fn device_owner(device: &str) -> String {
    format!("device:{device}")
}

/// `owner`'s position in `stream`, if it has one.
pub(super) fn cursor(c: &Connection, stream: &str, owner: &str) -> rusqlite::Result<Option<u64>> {
    Ok(
        c.prepare_cached("SELECT seq FROM stream_cursors WHERE stream = ?1 AND owner = ?2")?
            .query_row(params![stream, owner], |r| r.get::<_, i64>(0))
            .optional()?
            .map(to_u64),
    )
}

/// Gives `owner` a position at `seq` unless it has one.
pub(super) fn claim_cursor(
    c: &Connection,
    stream: &str,
    owner: &str,
    seq: u64,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO stream_cursors (stream, owner, seq) VALUES (?1, ?2, ?3)
         ON CONFLICT(stream, owner) DO NOTHING",
    )?
    .execute(params![stream, owner, to_i64(seq)])?;
    Ok(())
}

/// Moves `owner`'s position forward to `seq` (never back), creating it if needed.
pub(super) fn advance_cursor(
    c: &Connection,
    stream: &str,
    owner: &str,
    seq: u64,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO stream_cursors (stream, owner, seq) VALUES (?1, ?2, ?3)
         ON CONFLICT(stream, owner) DO UPDATE SET seq = max(seq, excluded.seq)",
    )?
    .execute(params![stream, owner, to_i64(seq)])?;
    Ok(())
}

/// The stream name of `user_id`'s personal stream.
pub(super) fn personal(user_id: &str) -> String {
    format!("msg:{user_id}")
}

/// The stream name of `stream`.
pub(super) fn key(stream: StreamId<'_>) -> String {
    match stream {
        StreamId::Personal(u) => personal(u),
        StreamId::Channel(c) => c.to_string(),
    }
}

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<StreamMessage> {
    Ok(StreamMessage {
        seq: to_u64(r.get(0)?),
        event: r.get(1)?,
        data: r.get(2)?,
        user_id: r.get(3)?,
    })
}

/// A message to store at `seq` (the caller's counter assigned it).
pub(super) struct Append<'a> {
    pub stream: &'a str,
    pub seq: i64,
    pub event: &'a str,
    pub data: &'a str,
    pub user_id: Option<&'a str>,
    pub created_at: u64,
}

/// Stores `m` and applies the stream's retention: it expires `max_age_secs` after its
/// creation, and the stream keeps its newest `max_len` messages.
pub(super) fn append(c: &Connection, m: &Append<'_>, retention: Retention) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO stream_messages (stream, seq, event, data, user_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        m.stream,
        m.seq,
        m.event,
        m.data,
        m.user_id,
        to_i64(m.created_at),
        to_i64(m.created_at.saturating_add(retention.max_age_secs)),
    ])?;
    trim(c, m.stream, m.seq, retention.max_len)
}

/// Keeps the newest `max_len` messages of a stream whose last seq is `last`.
pub(super) fn trim(c: &Connection, stream: &str, last: i64, max_len: u64) -> rusqlite::Result<()> {
    let max_len = to_i64(max_len);
    if last > max_len {
        c.prepare_cached("DELETE FROM stream_messages WHERE stream = ?1 AND seq <= ?2")?
            .execute(params![stream, last - max_len])?;
    }
    Ok(())
}

/// Up to `limit` messages with `seq > after`, in order.
pub(super) fn after(
    c: &Connection,
    stream: &str,
    after: u64,
    limit: usize,
) -> rusqlite::Result<Vec<StreamMessage>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut st = c.prepare_cached(
        "SELECT seq, event, data, user_id FROM stream_messages
         WHERE stream = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = st.query_map(params![stream, to_i64(after), limit], read)?;
    rows.collect()
}

/// The newest `limit` messages with `seq < before`, oldest first.
pub(super) fn before(
    c: &Connection,
    stream: &str,
    before: u64,
    limit: usize,
) -> rusqlite::Result<Vec<StreamMessage>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut st = c.prepare_cached(
        "SELECT seq, event, data, user_id FROM stream_messages
         WHERE stream = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
    )?;
    let mut rows: Vec<StreamMessage> = st
        .query_map(params![stream, to_i64(before), limit], read)?
        .collect::<rusqlite::Result<_>>()?;
    rows.reverse();
    Ok(rows)
}

/// The oldest seq the stream still keeps.
pub(super) fn oldest(c: &Connection, stream: &str) -> rusqlite::Result<Option<i64>> {
    c.prepare_cached("SELECT min(seq) FROM stream_messages WHERE stream = ?1")?
        .query_row(params![stream], |r| r.get(0))
}

/// Copies message `seq` of `from` to `to` at `to_seq`, keeping its times (a visitor merged
/// into a user).
pub(super) fn copy(
    c: &Connection,
    from: &str,
    seq: u64,
    to: &str,
    to_seq: i64,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO stream_messages (stream, seq, event, data, user_id, created_at, expires_at)
         SELECT ?1, ?2, event, data, user_id, created_at, expires_at FROM stream_messages
         WHERE stream = ?3 AND seq = ?4",
        params![to, to_seq, from, to_i64(seq)],
    )?;
    Ok(())
}

/// Drops every message and cursor of the stream.
pub(super) fn delete(c: &Connection, stream: &str) -> rusqlite::Result<()> {
    c.execute(
        "DELETE FROM stream_messages WHERE stream = ?1",
        params![stream],
    )?;
    c.execute(
        "DELETE FROM stream_cursors WHERE stream = ?1",
        params![stream],
    )?;
    Ok(())
}

/// Drops the messages past their expiry, every stream alike.
pub(super) fn sweep(c: &Connection, now: u64) -> rusqlite::Result<()> {
    c.execute(
        "DELETE FROM stream_messages WHERE expires_at < ?1",
        params![to_i64(now)],
    )?;
    Ok(())
}

/// Moves messages of the old per-kind tables into `stream_messages` and drops the tables,
/// in one transaction. Personal messages had no expiry of their own: they get their creation
/// time plus the configured age, which is what the old sweep applied.
pub(super) fn migrate(c: &Connection, personal: Retention) -> rusqlite::Result<()> {
    let has = |c: &Connection, table: &str| -> rusqlite::Result<bool> {
        c.query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            params![table],
            |_| Ok(()),
        )
        .optional()
        .map(|r| r.is_some())
    };
    let (old_personal, old_channels) = (has(c, "messages")?, has(c, "channel_messages")?);
    let (old_sessions, old_devices) = (has(c, "cursors")?, has(c, "device_cursors")?);
    if !old_personal && !old_channels && !old_sessions && !old_devices {
        return Ok(());
    }
    let tx = c.unchecked_transaction()?;
    if old_sessions {
        tx.execute_batch(
            "INSERT OR IGNORE INTO stream_cursors (stream, owner, seq)
             SELECT 'msg:' || user_id, 'session:' || session_id, seq FROM cursors;
             DROP TABLE cursors;",
        )?;
    }
    if old_devices {
        // Both earlier layouts (keyed by device alone, then by (user, device)) have these
        // three columns.
        tx.execute_batch(
            "INSERT OR IGNORE INTO stream_cursors (stream, owner, seq)
             SELECT 'msg:' || user_id, 'device:' || device, seq FROM device_cursors;
             DROP TABLE device_cursors;",
        )?;
    }
    if old_personal {
        tx.execute(
            "INSERT OR IGNORE INTO stream_messages
             (stream, seq, event, data, user_id, created_at, expires_at)
             SELECT 'msg:' || user_id, seq, event, data, NULL, created_at, created_at + ?1
             FROM messages",
            params![to_i64(personal.max_age_secs)],
        )?;
        tx.execute_batch("DROP TABLE messages;")?;
    }
    if old_channels {
        tx.execute_batch(
            "INSERT OR IGNORE INTO stream_messages
             (stream, seq, event, data, user_id, created_at, expires_at)
             SELECT channel, seq, event, data, user_id, created_at, expires_at
             FROM channel_messages;
             DROP TABLE channel_messages;",
        )?;
    }
    tx.commit()?;
    tracing::info!("stream messages and cursors migrated to one table each");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Durability;
    use crate::store::Store;
    use crate::store::channels::Channels;
    use crate::store::sqlite::SqliteStore;

    /// A data dir as the relay before one stream table left it: personal messages in
    /// `messages`, channel messages in `channel_messages`, cursors per session and per device.
    fn old_store(dir: &std::path::Path) -> anyhow::Result<()> {
        let c = Connection::open(dir.join("cometa.sqlite3"))?;
        c.execute_batch(
            "CREATE TABLE users (user_id TEXT PRIMARY KEY, userinfo TEXT NOT NULL,
                 next_seq INTEGER NOT NULL DEFAULT 1, delivered_seq INTEGER NOT NULL DEFAULT 0,
                 last_seen INTEGER);
             CREATE TABLE messages (user_id TEXT NOT NULL, seq INTEGER NOT NULL,
                 event TEXT NOT NULL, data TEXT NOT NULL, created_at INTEGER NOT NULL,
                 PRIMARY KEY (user_id, seq)) WITHOUT ROWID;
             CREATE INDEX messages_by_age ON messages(created_at);
             CREATE TABLE channels (name TEXT PRIMARY KEY, next_seq INTEGER NOT NULL DEFAULT 1);
             CREATE TABLE channel_messages (channel TEXT NOT NULL, seq INTEGER NOT NULL,
                 event TEXT NOT NULL, data TEXT NOT NULL, user_id TEXT,
                 created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
                 PRIMARY KEY (channel, seq)) WITHOUT ROWID;
             INSERT INTO users (user_id, userinfo, next_seq) VALUES ('u', '{}', 3);
             INSERT INTO messages VALUES ('u', 1, 'e', '1', 100), ('u', 2, 'e', '2', 100);
             INSERT INTO channels VALUES ('web_a', 2);
             INSERT INTO channel_messages VALUES ('web_a', 1, 'c', '\"x\"', 'bob', 100, 1000);
             CREATE TABLE cursors (session_id INTEGER PRIMARY KEY, user_id TEXT NOT NULL,
                 seq INTEGER NOT NULL);
             INSERT INTO cursors VALUES (7, 'u', 2);
             CREATE TABLE device_cursors (user_id TEXT NOT NULL, device TEXT NOT NULL,
                 seq INTEGER NOT NULL, PRIMARY KEY (user_id, device)) WITHOUT ROWID;
             INSERT INTO device_cursors VALUES ('u', 'phone', 1);",
        )?;
        Ok(())
    }

    #[tokio::test]
    async fn a_data_dir_with_the_old_tables_opens_with_its_messages() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        old_store(dir.path())?;
        let retention = Retention {
            max_len: 100,
            max_age_secs: 50,
        };
        let s = SqliteStore::open(dir.path(), Durability::Normal, retention)?;
        let personal: Vec<u64> = s
            .after(StreamId::Personal("u"), 0, 10)
            .await?
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(personal, vec![1, 2]);
        assert_eq!(
            crate::store::append_personal(&s, "u", "e", "3", 120).await?,
            3,
            "the counter goes on"
        );
        let ch = s.after(StreamId::Channel("web_a"), 0, 10).await?;
        assert_eq!(ch.len(), 1);
        assert_eq!(
            (ch[0].data.as_str(), ch[0].user_id.as_deref()),
            ("\"x\"", Some("bob"))
        );
        assert_eq!(
            s.resume_point(7, "u").await?,
            2,
            "a session's cursor is kept"
        );
        assert_eq!(
            s.device_resume_point("phone", "u").await?,
            1,
            "a device's too"
        );
        // Personal messages got their age limit as an expiry: created at 100, kept 50 s.
        s.sweep(151).await?;
        let left: Vec<u64> = s
            .after(StreamId::Personal("u"), 0, 10)
            .await?
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(
            left,
            vec![3],
            "the migrated ones expired, the new one is kept"
        );
        assert_eq!(
            s.after(StreamId::Channel("web_a"), 0, 10).await?.len(),
            1,
            "expires at 1000"
        );
        drop(s);
        let c = Connection::open(dir.path().join("cometa.sqlite3"))?;
        let old: i64 = c.query_row(
            "SELECT count(*) FROM sqlite_master
             WHERE name IN ('messages', 'channel_messages', 'cursors', 'device_cursors')",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(old, 0, "the old tables are gone");
        Ok(())
    }
}
