//! Data dirs of earlier layouts open with their data: each test builds one with the SQL of
//! that layout and reads it back through the traits.

use rusqlite::Connection;

use super::SqliteStore;
use crate::config::Durability;
use crate::store::streams::{Streams, append_personal};
use crate::store::types::{Retention, StreamId};
use crate::store::upkeep::Upkeep;

fn open(dir: &std::path::Path) -> SqliteStore {
    super::open_for_test(dir, 100)
}

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
        append_personal(&s, "u", "e", "3", 120).await?,
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

#[tokio::test]
async fn a_data_dir_with_device_keyed_cursors_keeps_them() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    {
        let c = Connection::open(dir.path().join("cometa.sqlite3"))?;
        c.execute_batch(
            "CREATE TABLE device_cursors (
                 device TEXT PRIMARY KEY, user_id TEXT NOT NULL, seq INTEGER NOT NULL);
             INSERT INTO device_cursors VALUES ('dev1', '7', 4);",
        )?;
    }
    let s = open(dir.path());
    assert_eq!(s.device_resume_point("dev1", "7").await?, 4);
    s.advance_device_cursor("dev1", "8", 1, None);
    assert_eq!(s.device_resume_point("dev1", "8").await?, 1);
    assert_eq!(
        s.device_resume_point("dev1", "7").await?,
        4,
        "another user naming the device leaves its cursor alone"
    );
    drop(s);
    let s = open(dir.path());
    assert_eq!(s.device_resume_point("dev1", "7").await?, 4, "reopened");
    Ok(())
}

/// A data dir as the relay before the `streams` table left it: next seqs in `users` and
/// `channels`, epochs in `stream_epochs` (a channel's under `ch:<name>`).
fn dir_with_heads_apart(dir: &std::path::Path) -> anyhow::Result<()> {
    let c = Connection::open(dir.join("cometa.sqlite3"))?;
    c.execute_batch(
        "CREATE TABLE users (user_id TEXT PRIMARY KEY, userinfo TEXT NOT NULL,
             next_seq INTEGER NOT NULL DEFAULT 1, delivered_seq INTEGER NOT NULL DEFAULT 0,
             last_seen INTEGER);
         CREATE TABLE stream_epochs (stream TEXT PRIMARY KEY, epoch TEXT NOT NULL);
         CREATE TABLE channels (name TEXT PRIMARY KEY, next_seq INTEGER NOT NULL DEFAULT 1);
         CREATE TABLE stream_messages (stream TEXT NOT NULL, seq INTEGER NOT NULL,
             event TEXT NOT NULL, data TEXT NOT NULL, user_id TEXT,
             created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
             PRIMARY KEY (stream, seq)) WITHOUT ROWID;
         CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         INSERT INTO store_meta VALUES ('epoch_salt', 'salt');
         INSERT INTO users (user_id, userinfo, next_seq) VALUES ('u', '{}', 4), ('v', '{}', 1);
         INSERT INTO stream_messages VALUES
             ('msg:u', 1, 'e', '1', NULL, 10, 1000), ('msg:u', 2, 'e', '2', NULL, 10, 1000),
             ('msg:u', 3, 'e', '3', NULL, 10, 1000),
             ('web_a', 1, 'c', '1', 'bob', 10, 1000), ('web_a', 2, 'c', '2', 'bob', 10, 1000),
             ('web_b', 5, 'c', '5', 'bob', 10, 1000);
         INSERT INTO channels VALUES ('web_a', 3), ('web_b', 6);
         INSERT INTO stream_epochs VALUES ('msg:u', 'epoch-u'), ('ch:web_a', 'epoch-a');",
    )?;
    Ok(())
}

#[tokio::test]
async fn a_data_dir_with_heads_apart_goes_on_with_its_seqs_and_epochs() -> anyhow::Result<()> {
    use crate::store::accounts::Accounts;
    use crate::store::types::NewMessage;
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir()?;
    dir_with_heads_apart(dir.path())?;
    let s = open(dir.path());
    let info = |id| s.stream_info(id);
    let u = info(StreamId::Personal("u")).await?;
    assert_eq!((u.epoch.as_str(), u.top, u.oldest), ("epoch-u", 3, 1));
    let a = info(StreamId::Channel("web_a")).await?;
    assert_eq!((a.epoch.as_str(), a.top), ("epoch-a", 2));
    // A channel that never stored an epoch keeps the one derived from the salt.
    let derived = hex::encode(&Sha256::digest(b"salt:ch:web_b")[..12]);
    let b = info(StreamId::Channel("web_b")).await?;
    assert_eq!(
        (b.epoch.as_str(), b.top, b.oldest),
        (derived.as_str(), 5, 5)
    );

    assert_eq!(
        append_personal(&s, "u", "e", "4", 20).await?,
        4,
        "no seq twice"
    );
    assert_eq!(append_personal(&s, "v", "e", "1", 20).await?, 1);
    let channel = |name, data| {
        let m = NewMessage {
            sender: Some("bob".into()),
            ..NewMessage::new("c", data, 20)
        };
        s.append(StreamId::Channel(name), m, Box::new(|_| 0))
    };
    assert_eq!(channel("web_a", "3").await?.0, 3);
    assert_eq!(channel("web_b", "6").await?.0, 6);
    drop(s);

    let c = Connection::open(dir.path().join("cometa.sqlite3"))?;
    let old: i64 = c.query_row(
        "SELECT (SELECT count(*) FROM sqlite_master WHERE name IN ('channels', 'stream_epochs'))
              + (SELECT count(*) FROM pragma_table_info('users') WHERE name = 'next_seq')",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(old, 0, "the old tables and column are gone");
    let in_append_order: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('stream_messages') WHERE name = 'id')",
        [],
        |r| r.get(0),
    )?;
    assert!(
        in_append_order,
        "messages keyed by (stream, seq) were rebuilt"
    );
    drop(c);

    let s = open(dir.path());
    assert_eq!(append_personal(&s, "u", "e", "5", 30).await?, 5, "reopened");
    assert_eq!(
        s.stream_info(StreamId::Personal("u")).await?.epoch,
        "epoch-u"
    );
    // A deleted and re-created user starts a new history.
    assert!(s.delete_user("u").await?);
    assert_eq!(append_personal(&s, "u", "e", "1", 40).await?, 1);
    assert_ne!(
        s.stream_info(StreamId::Personal("u")).await?.epoch,
        "epoch-u"
    );
    Ok(())
}
