//! Channel streams, stream epochs, device cursors, user keys, `users_data` and per-prefix
//! channel settings — the state behind channels and the CometServer API.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::cursors::CursorKey;
use super::sqlite::{SqliteStore, to_i64, to_u64};
use super::streams;
use super::{Result, Retention, SecretHash};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS stream_epochs (
    stream TEXT PRIMARY KEY,
    epoch  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS channels (
    name     TEXT PRIMARY KEY,
    next_seq INTEGER NOT NULL DEFAULT 1
);
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

/// Which stream a position belongs to.
#[derive(Debug, Clone, Copy)]
pub enum StreamId<'a> {
    Personal(&'a str),
    Channel(&'a str),
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

#[async_trait]
pub trait Channels: Send + Sync + 'static {
    /// The stream's epoch (made on first use) and extent.
    async fn stream_info(&self, stream: StreamId<'_>) -> Result<StreamInfo>;

    /// Where a native device resumes its personal stream when it gives no position; a device
    /// with no cursor gets one there (see [`crate::store::Store::resume_point`]).
    async fn device_resume_point(&self, device: &str, user_id: &str) -> Result<u64>;

    /// Not awaited by the hot path.
    /// See [`crate::store::Store::advance_cursor`].
    fn advance_device_cursor(&self, device: &str, user_id: &str, seq: u64, epoch: Option<&str>);

    async fn set_user_key(&self, user_id: &str, key: SecretHash) -> Result<()>;
    async fn delete_user_key(&self, user_id: &str) -> Result<bool>;
    async fn user_key_matches(&self, user_id: &str, key: SecretHash) -> Result<bool>;
    /// The stored hash of the user's key, if one is set (CometQL's `users_auth` select).
    async fn user_key_hash(&self, user_id: &str) -> Result<Option<SecretHash>>;

    async fn set_user_data(&self, user_id: &str, data: &str) -> Result<()>;
    async fn user_data(&self, user_id: &str) -> Result<Option<String>>;

    async fn set_channel_setting(&self, prefix: &str, retention: Retention) -> Result<()>;
    async fn delete_channel_setting(&self, prefix: &str) -> Result<bool>;
    async fn channel_settings(&self) -> Result<Vec<(String, Retention)>>;
}

pub(super) fn stream_key(s: StreamId<'_>) -> String {
    match s {
        StreamId::Personal(u) => format!("msg:{u}"),
        StreamId::Channel(c) => format!("ch:{c}"),
    }
}

/// Gives the user's personal stream a new epoch (made on next use): its history is no longer
/// the one a device's position was taken in (user deleted and re-created, visitor merged).
pub(super) fn rotate_personal_epoch(c: &Connection, user_id: &str) -> rusqlite::Result<()> {
    c.prepare_cached("DELETE FROM stream_epochs WHERE stream = ?1")?
        .execute(params![stream_key(StreamId::Personal(user_id))])?;
    Ok(())
}

fn epoch_of(c: &Connection, key: &str) -> rusqlite::Result<String> {
    let fresh = crate::secret::generate_id();
    c.execute(
        "INSERT INTO stream_epochs (stream, epoch) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![key, fresh],
    )?;
    c.query_row(
        "SELECT epoch FROM stream_epochs WHERE stream = ?1",
        params![key],
        |r| r.get(0),
    )
}

#[async_trait]
impl Channels for SqliteStore {
    async fn stream_info(&self, stream: StreamId<'_>) -> Result<StreamInfo> {
        let key = stream_key(stream);
        let (personal, name) = match stream {
            StreamId::Personal(u) => (true, u.to_string()),
            StreamId::Channel(c) => (false, c.to_string()),
        };
        let salt = self.epoch_salt.clone();
        self.call(move |c| {
            // Any client may ask about any channel name: that read must not store a row.
            // Personal streams are read only by their authenticated user.
            let epoch = if personal {
                epoch_of(c, &key)?
            } else {
                super::guests::read_epoch(c, &salt, &key)?
            };
            let (next, oldest): (Option<i64>, Option<i64>) = if personal {
                (
                    c.query_row(
                        "SELECT next_seq FROM users WHERE user_id = ?1",
                        params![name],
                        |r| r.get(0),
                    )
                    .optional()?,
                    streams::oldest(c, &streams::personal(&name))?,
                )
            } else {
                (
                    c.query_row(
                        "SELECT next_seq FROM channels WHERE name = ?1",
                        params![name],
                        |r| r.get(0),
                    )
                    .optional()?,
                    streams::oldest(c, &name)?,
                )
            };
            let top = to_u64(next.unwrap_or(1) - 1);
            Ok(StreamInfo {
                epoch,
                top,
                oldest: oldest.map_or(top + 1, to_u64),
            })
        })
        .await
    }

    async fn device_resume_point(&self, device: &str, user_id: &str) -> Result<u64> {
        let (device, user_id) = (device.to_string(), user_id.to_string());
        self.call(move |c| {
            let (stream, owner) = (streams::personal(&user_id), streams::device_owner(&device));
            if let Some(seq) = streams::cursor(c, &stream, &owner)? {
                return Ok(seq);
            }
            let start = super::sqlite::delivered(c, &user_id)?;
            // The device owns its position from its first connection (see `resume_point`).
            streams::claim_cursor(c, &stream, &owner, start)?;
            Ok(start)
        })
        .await
    }

    fn advance_device_cursor(&self, device: &str, user_id: &str, seq: u64, epoch: Option<&str>) {
        let key = CursorKey::Device(user_id.to_string(), device.to_string());
        self.record_cursor(key, user_id, seq, epoch);
    }

    async fn set_user_key(&self, user_id: &str, key: SecretHash) -> Result<()> {
        let user_id = user_id.to_string();
        self.call(move |c| {
            c.execute(
                "INSERT INTO user_keys (user_id, key_hash) VALUES (?1, ?2)
                 ON CONFLICT(user_id) DO UPDATE SET key_hash = excluded.key_hash",
                params![user_id, &key[..]],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_user_key(&self, user_id: &str) -> Result<bool> {
        let user_id = user_id.to_string();
        self.call(move |c| {
            Ok(c.execute("DELETE FROM user_keys WHERE user_id = ?1", params![user_id])? > 0)
        })
        .await
    }

    async fn user_key_matches(&self, user_id: &str, key: SecretHash) -> Result<bool> {
        let stored = self.user_key_hash(user_id).await?;
        Ok(stored.is_some_and(|s| subtle::ConstantTimeEq::ct_eq(&s[..], &key[..]).into()))
    }

    async fn user_key_hash(&self, user_id: &str) -> Result<Option<SecretHash>> {
        let user_id = user_id.to_string();
        let stored: Option<Vec<u8>> = self
            .call(move |c| {
                c.query_row(
                    "SELECT key_hash FROM user_keys WHERE user_id = ?1",
                    params![user_id],
                    |r| r.get(0),
                )
                .optional()
            })
            .await?;
        Ok(stored.and_then(|s| SecretHash::try_from(s.as_slice()).ok()))
    }

    async fn set_user_data(&self, user_id: &str, data: &str) -> Result<()> {
        let (user_id, data) = (user_id.to_string(), data.to_string());
        self.call(move |c| {
            c.execute(
                "INSERT INTO users_data (user_id, data) VALUES (?1, ?2)
                 ON CONFLICT(user_id) DO UPDATE SET data = excluded.data",
                params![user_id, data],
            )?;
            Ok(())
        })
        .await
    }

    async fn user_data(&self, user_id: &str) -> Result<Option<String>> {
        let user_id = user_id.to_string();
        self.call(move |c| {
            c.query_row(
                "SELECT data FROM users_data WHERE user_id = ?1",
                params![user_id],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    async fn set_channel_setting(&self, prefix: &str, retention: Retention) -> Result<()> {
        let prefix = prefix.to_string();
        self.call(move |c| {
            c.execute(
                "INSERT INTO channel_settings (prefix, max_len, max_age_secs) VALUES (?1, ?2, ?3)
                 ON CONFLICT(prefix) DO UPDATE SET
                   max_len = excluded.max_len, max_age_secs = excluded.max_age_secs",
                params![
                    prefix,
                    to_i64(retention.max_len),
                    to_i64(retention.max_age_secs)
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_channel_setting(&self, prefix: &str) -> Result<bool> {
        let prefix = prefix.to_string();
        self.call(move |c| {
            Ok(c.execute(
                "DELETE FROM channel_settings WHERE prefix = ?1",
                params![prefix],
            )? > 0)
        })
        .await
    }

    async fn channel_settings(&self) -> Result<Vec<(String, Retention)>> {
        self.call(|c| {
            let mut st = c.prepare_cached(
                "SELECT prefix, max_len, max_age_secs FROM channel_settings ORDER BY prefix",
            )?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    Retention {
                        max_len: to_u64(r.get(1)?),
                        max_age_secs: to_u64(r.get(2)?),
                    },
                ))
            })?;
            rows.collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Durability;
    use crate::store::Store;

    fn open(dir: &std::path::Path) -> SqliteStore {
        let r = Retention {
            max_len: 100,
            max_age_secs: 100,
        };
        SqliteStore::open(dir, Durability::Normal, r).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn channel_stream_epoch_history_and_retention() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let s = open(dir.path());
        let r = Retention {
            max_len: 3,
            max_age_secs: 10,
        };
        let info = s.stream_info(StreamId::Channel("web_a")).await?;
        assert_eq!((info.top, info.oldest), (0, 1));
        for i in 1..=5u64 {
            let m = crate::store::NewMessage {
                sender: Some("u".into()),
                retention: Some(r),
                ..crate::store::NewMessage::new("m", &i.to_string(), 100)
            };
            let (seq, fanned) = s
                .append(
                    StreamId::Channel("web_a"),
                    m,
                    Box::new(|seq| seq as usize * 10),
                )
                .await?;
            assert_eq!((seq, fanned), (i, i as usize * 10));
        }
        let again = s.stream_info(StreamId::Channel("web_a")).await?;
        assert_eq!(again.epoch, info.epoch, "the epoch is stable");
        assert_eq!((again.top, again.oldest), (5, 3));
        let h: Vec<u64> = s
            .before(StreamId::Channel("web_a"), u64::MAX, 2)
            .await?
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(h, vec![4, 5]);
        let older: Vec<u64> = s
            .before(StreamId::Channel("web_a"), 5, 10)
            .await?
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(older, vec![3, 4], "before is exclusive");
        let after: Vec<u64> = s
            .after(StreamId::Channel("web_a"), 3, 10)
            .await?
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(after, vec![4, 5]);
        assert_eq!(
            s.after(StreamId::Channel("web_a"), 0, 1).await?[0]
                .user_id
                .as_deref(),
            Some("u")
        );
        s.sweep(111).await?;
        assert!(
            s.before(StreamId::Channel("web_a"), u64::MAX, 10)
                .await?
                .is_empty()
        );
        Ok(())
    }

    #[tokio::test]
    async fn keys_data_settings_and_device_cursors() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let s = open(dir.path());
        s.set_user_key("7", [1; 32]).await?;
        assert!(s.user_key_matches("7", [1; 32]).await?);
        assert!(!s.user_key_matches("7", [2; 32]).await?);
        assert_eq!(s.user_key_hash("7").await?, Some([1; 32]));
        assert!(s.delete_user_key("7").await?);
        assert!(!s.user_key_matches("7", [1; 32]).await?);
        assert_eq!(s.user_key_hash("7").await?, None);
        s.set_user_data("7", r#"{"a":1}"#).await?;
        assert_eq!(s.user_data("7").await?.as_deref(), Some(r#"{"a":1}"#));
        let r = Retention {
            max_len: 5,
            max_age_secs: 6,
        };
        s.set_channel_setting("web_", r).await?;
        assert_eq!(s.channel_settings().await?.len(), 1);
        assert!(s.delete_channel_setting("web_").await?);

        crate::store::append_personal(&s, "7", "e", "1", 1).await?;
        assert_eq!(s.device_resume_point("dev1", "7").await?, 0);
        s.advance_device_cursor("dev1", "7", 1, None);
        assert_eq!(s.device_resume_point("dev1", "7").await?, 1);
        assert_eq!(
            s.device_resume_point("dev1", "8").await?,
            0,
            "cursor is per user"
        );
        let p = s.stream_info(StreamId::Personal("7")).await?;
        assert_eq!((p.top, p.oldest), (1, 1));
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
}
