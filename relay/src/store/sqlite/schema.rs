//! The tables, and the migrations that bring a data dir of an earlier layout up to them on
//! open. `CREATE ... IF NOT EXISTS` is the migration of a data dir made before a table.

use rusqlite::{Connection, OptionalExtension, params};

use super::rows::to_i64;
use crate::store::types::Retention;

const USERS: &str = "
CREATE TABLE IF NOT EXISTS users (
    user_id       TEXT PRIMARY KEY,
    userinfo      TEXT NOT NULL,
    delivered_seq INTEGER NOT NULL DEFAULT 0,
    last_seen     INTEGER
);
CREATE TABLE IF NOT EXISTS login_codes (
    code_hash  BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id         INTEGER PRIMARY KEY,
    key_hash   BLOB NOT NULL UNIQUE,
    user_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user_id);
";

/// Each stream's head, keyed by stream name (`msg:<user_id>` or the channel): the seq its
/// next message gets, and its epoch — `NULL` until one is needed (a personal stream makes one
/// on first read; a channel derives one from the store's salt, see `heads::read_epoch`).
const HEADS: &str = "
CREATE TABLE IF NOT EXISTS streams (
    stream   TEXT PRIMARY KEY,
    next_seq INTEGER NOT NULL DEFAULT 1,
    epoch    TEXT
) WITHOUT ROWID;
";

const CHANNELS: &str = "
CREATE TABLE IF NOT EXISTS user_keys (
    user_id  TEXT PRIMARY KEY,
    key_hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS users_data (
    user_id TEXT PRIMARY KEY,
    data    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS channel_settings (
    prefix       TEXT PRIMARY KEY,
    max_len      INTEGER NOT NULL,
    max_age_secs INTEGER NOT NULL
);
";

const ACCOUNTS: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    user_id       TEXT PRIMARY KEY,
    username      TEXT UNIQUE COLLATE NOCASE,
    email         TEXT,
    avatar_url    TEXT,
    password_hash TEXT,
    created_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS session_meta (
    session_id INTEGER PRIMARY KEY,
    remember   INTEGER NOT NULL,
    not_after  INTEGER
);
CREATE TRIGGER IF NOT EXISTS session_meta_gc AFTER DELETE ON sessions BEGIN
    DELETE FROM session_meta WHERE session_id = OLD.id;
END;
";

/// One storage layout for every stream's messages: a user's personal stream is the stream
/// `msg:<user_id>`, a channel is the stream named like the channel. A message carries its
/// expiry from the append on. Cursors are one table too: a position per (stream, owner), the
/// owner a Wafer tunnel's session (`session:<id>`) or a native device (`device:<id>`).
///
/// Messages are rows in append order (`id`), found by (stream, seq) through a small index:
/// an append writes the table's last page and one index entry, where a table keyed by
/// (stream, seq) wrote, split and rebalanced a page in the middle of the table per message.
/// The expiry index is in append order too (ties on `expires_at` go by `id`, not by stream).
const STREAMS: &str = "
CREATE TABLE IF NOT EXISTS stream_messages (
    id         INTEGER PRIMARY KEY,
    stream     TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    event      TEXT NOT NULL,
    data       TEXT NOT NULL,
    user_id    TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS stream_messages_by_seq ON stream_messages(stream, seq);
CREATE INDEX IF NOT EXISTS stream_messages_by_expiry ON stream_messages(expires_at);
CREATE TABLE IF NOT EXISTS stream_cursors (
    stream TEXT NOT NULL,
    owner  TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    PRIMARY KEY (stream, owner)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS stream_cursors_by_owner ON stream_cursors(owner);
";

const GUESTS: &str = "
CREATE TABLE IF NOT EXISTS demo_users (
    user_id TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// Creates what is missing and migrates older layouts; returns the store's epoch salt.
/// `personal` is the retention of personal streams, which migrated messages expire by.
pub(super) fn create(c: &Connection, personal: Retention) -> rusqlite::Result<String> {
    c.execute_batch(USERS)?;
    c.execute_batch(HEADS)?;
    c.execute_batch(CHANNELS)?;
    c.execute_batch(ACCOUNTS)?;
    migrate_keyed_messages(c)?;
    c.execute_batch(STREAMS)?;
    migrate_per_kind_tables(c, personal)?;
    migrate_heads(c)?;
    c.execute_batch(GUESTS)?;
    epoch_salt(c)
}

/// This store's epoch salt, made on first open. A wiped data dir gets a new one, so the
/// epochs it derives change with it, as an epoch must when the store lost data.
fn epoch_salt(c: &Connection) -> rusqlite::Result<String> {
    c.execute(
        "INSERT INTO store_meta (key, value) VALUES ('epoch_salt', ?1) ON CONFLICT DO NOTHING",
        params![crate::secret::generate()],
    )?;
    c.query_row(
        "SELECT value FROM store_meta WHERE key = 'epoch_salt'",
        [],
        |r| r.get(0),
    )
}

fn has_table(c: &Connection, table: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        params![table],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
}

/// Data dirs from before one stream layout kept personal messages in `messages`, channel
/// ones in `channel_messages`, and cursors in `cursors` and `device_cursors`: moves them into
/// `stream_messages` and `stream_cursors` and drops the old tables, in one transaction.
/// Personal messages had no expiry of their own: they get their creation time plus the
/// configured age, which is what the old sweep applied.
fn migrate_per_kind_tables(c: &Connection, personal: Retention) -> rusqlite::Result<()> {
    let (old_personal, old_channels) =
        (has_table(c, "messages")?, has_table(c, "channel_messages")?);
    let (old_sessions, old_devices) = (has_table(c, "cursors")?, has_table(c, "device_cursors")?);
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

/// Data dirs from before messages had rows in append order kept `stream_messages` keyed by
/// (stream, seq) `WITHOUT ROWID`: rebuilds it in the layout of [`STREAMS`], in one
/// transaction, oldest first.
fn migrate_keyed_messages(c: &Connection) -> rusqlite::Result<()> {
    if !has_table(c, "stream_messages")? || has_column(c, "stream_messages", "id")? {
        return Ok(());
    }
    let tx = c.unchecked_transaction()?;
    tx.execute_batch(
        "DROP INDEX IF EXISTS stream_messages_by_expiry;
         ALTER TABLE stream_messages RENAME TO stream_messages_keyed;",
    )?;
    tx.execute_batch(STREAMS)?;
    tx.execute_batch(
        "INSERT INTO stream_messages
         (stream, seq, event, data, user_id, created_at, expires_at)
         SELECT stream, seq, event, data, user_id, created_at, expires_at
         FROM stream_messages_keyed ORDER BY created_at, stream, seq;
         DROP TABLE stream_messages_keyed;",
    )?;
    tx.commit()?;
    tracing::info!("stream messages rebuilt in append order");
    Ok(())
}

fn has_column(c: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
        params![table, column],
        |r| r.get(0),
    )
}

/// Data dirs from before the `streams` table kept a personal stream's next seq in
/// `users.next_seq`, a channel's in `channels`, and epochs in `stream_epochs` (a channel's
/// under `ch:<name>`): moves them into `streams` and drops the old column and tables, in one
/// transaction. Seqs go on where they were: none is handed out twice.
fn migrate_heads(c: &Connection) -> rusqlite::Result<()> {
    let old_users = has_column(c, "users", "next_seq")?;
    let (old_channels, old_epochs) = (has_table(c, "channels")?, has_table(c, "stream_epochs")?);
    if !old_users && !old_channels && !old_epochs {
        return Ok(());
    }
    let tx = c.unchecked_transaction()?;
    // `WHERE true` keeps SQLite from reading `ON CONFLICT` as part of the SELECT.
    if old_users {
        tx.execute_batch(
            "INSERT INTO streams (stream, next_seq)
             SELECT 'msg:' || user_id, next_seq FROM users WHERE next_seq > 1
             ON CONFLICT(stream) DO UPDATE SET next_seq = max(next_seq, excluded.next_seq);
             ALTER TABLE users DROP COLUMN next_seq;",
        )?;
    }
    if old_channels {
        tx.execute_batch(
            "INSERT INTO streams (stream, next_seq)
             SELECT name, next_seq FROM channels WHERE true
             ON CONFLICT(stream) DO UPDATE SET next_seq = max(next_seq, excluded.next_seq);
             DROP TABLE channels;",
        )?;
    }
    if old_epochs {
        tx.execute_batch(
            "INSERT INTO streams (stream, epoch)
             SELECT CASE WHEN substr(stream, 1, 3) = 'ch:' THEN substr(stream, 4) ELSE stream END,
                    epoch
             FROM stream_epochs WHERE true
             ON CONFLICT(stream) DO UPDATE SET epoch = excluded.epoch;
             DROP TABLE stream_epochs;",
        )?;
    }
    tx.commit()?;
    tracing::info!("stream heads migrated to the streams table");
    Ok(())
}
