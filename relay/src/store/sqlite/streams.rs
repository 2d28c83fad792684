//! [`Streams`] on SQLite: one table of messages keyed by (stream, seq), one append, one read
//! after a position, one page before a position, and one retention rule: a message carries
//! its expiry from the append on, and an append trims the stream to its length. Positions
//! come from [`super::cursors`], next seqs and epochs from [`super::heads`].

use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::SqliteStore;
use super::cursors::{self, CursorKey};
use super::heads;
use super::rows::{device_owner, ensure_user, session_owner, to_i64, to_u64};
use crate::store::error::Result;
use crate::store::streams::Streams;
use crate::store::types::{
    AfterCommit, NewMessage, Retention, StreamId, StreamInfo, StreamMessage, personal_stream,
};

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<StreamMessage> {
    Ok(StreamMessage {
        seq: to_u64(r.get(0)?),
        event: r.get(1)?,
        data: r.get(2)?,
        user_id: r.get(3)?,
    })
}

/// A message to store at `seq` (the stream's head assigned it).
struct Append<'a> {
    stream: &'a str,
    seq: i64,
    event: &'a str,
    data: &'a str,
    user_id: Option<&'a str>,
    created_at: u64,
}

/// Stores `m` and applies the stream's retention: it expires `max_age_secs` after its
/// creation, and the stream keeps its newest `max_len` messages.
fn append(c: &Connection, m: &Append<'_>, retention: Retention) -> rusqlite::Result<()> {
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
    if max_len == 0 {
        heads::keep_past(c, stream, last)?;
    }
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
fn before(
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
fn oldest(c: &Connection, stream: &str) -> rusqlite::Result<Option<i64>> {
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
    heads::keep_past_expired(c, to_i64(now))?;
    c.execute(
        "DELETE FROM stream_messages WHERE expires_at < ?1",
        params![to_i64(now)],
    )?;
    Ok(())
}

#[async_trait]
impl Streams for SqliteStore {
    async fn append(
        &self,
        stream: StreamId<'_>,
        m: NewMessage,
        then: AfterCommit,
    ) -> Result<(u64, usize)> {
        let user = match stream {
            StreamId::Personal(u) => Some(u.to_string()),
            StreamId::Channel(_) => None,
        };
        let key = stream.name();
        let retention = m.retention.unwrap_or(self.retention);
        self.writer
            .append_then(
                move |c| {
                    if let Some(user) = &user {
                        ensure_user(c, user)?;
                    }
                    let seq = heads::next_seq(c, &key)?;
                    let row = Append {
                        stream: &key,
                        seq,
                        event: &m.event,
                        data: &m.data,
                        user_id: m.sender.as_deref(),
                        created_at: m.now,
                    };
                    append(c, &row, retention)?;
                    Ok(to_u64(seq))
                },
                move |seq| then(*seq),
            )
            .await
    }

    async fn after(
        &self,
        stream: StreamId<'_>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StreamMessage>> {
        let key = stream.name();
        self.call(move |c| self::after(c, &key, after, limit)).await
    }

    async fn before(
        &self,
        stream: StreamId<'_>,
        before: u64,
        limit: usize,
    ) -> Result<Vec<StreamMessage>> {
        let key = stream.name();
        self.call(move |c| self::before(c, &key, before, limit))
            .await
    }

    async fn stream_info(&self, stream: StreamId<'_>) -> Result<StreamInfo> {
        let (personal, name) = match stream {
            StreamId::Personal(u) => (true, u.to_string()),
            StreamId::Channel(c) => (false, c.to_string()),
        };
        let key = stream.name();
        let salt = self.epoch_salt.clone();
        self.call(move |c| {
            // Any client may ask about any channel name: that read must not store a row.
            // Personal streams are read only by their authenticated user.
            let epoch = if personal {
                heads::make_epoch(c, &key)?
            } else {
                heads::read_epoch(c, &salt, StreamId::Channel(&name))?
            };
            let top = to_u64(heads::next_seq(c, &key)? - 1);
            let oldest = oldest(c, &key)?;
            Ok(StreamInfo {
                epoch,
                top,
                oldest: oldest.map_or(top + 1, to_u64),
            })
        })
        .await
    }

    async fn resume_point(&self, session_id: i64, user_id: &str) -> Result<u64> {
        let user_id = user_id.to_string();
        self.call(move |c| {
            let (stream, owner) = (personal_stream(&user_id), session_owner(session_id));
            if let Some(seq) = cursors::cursor(c, &stream, &owner)? {
                return Ok(seq);
            }
            let start = cursors::delivered(c, &user_id)?;
            // A live session's device owns its position from its first connection: what it
            // is sent but never confirms comes again, even once another device confirmed it.
            let live: bool = c
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1)")?
                .query_row(params![session_id], |r| r.get(0))?;
            if live {
                cursors::claim(c, &stream, &owner, start)?;
            }
            Ok(start)
        })
        .await
    }

    fn advance_cursor(&self, session_id: i64, user_id: &str, seq: u64, epoch: Option<&str>) {
        self.record_cursor(CursorKey::Session(session_id), user_id, seq, epoch);
    }

    async fn device_resume_point(&self, device: &str, user_id: &str) -> Result<u64> {
        let (device, user_id) = (device.to_string(), user_id.to_string());
        self.call(move |c| {
            let (stream, owner) = (personal_stream(&user_id), device_owner(&device));
            if let Some(seq) = cursors::cursor(c, &stream, &owner)? {
                return Ok(seq);
            }
            let start = cursors::delivered(c, &user_id)?;
            // The device owns its position from its first connection (see `resume_point`).
            cursors::claim(c, &stream, &owner, start)?;
            Ok(start)
        })
        .await
    }

    fn advance_device_cursor(&self, device: &str, user_id: &str, seq: u64, epoch: Option<&str>) {
        let key = CursorKey::Device(user_id.to_string(), device.to_string());
        self.record_cursor(key, user_id, seq, epoch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::streams::append_personal;
    use crate::store::upkeep::Upkeep;

    #[tokio::test]
    async fn personal_stream_order_retention_and_cursors() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let s = super::super::open_for_test(dir.path(), 3);
        for i in 1..=5u64 {
            assert_eq!(append_personal(&s, "u", "e", &i.to_string(), 10).await?, i);
        }
        let kept: Vec<u64> = s
            .after(StreamId::Personal("u"), 0, 10)
            .await?
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(kept, vec![3, 4, 5], "max_len 3 keeps the newest three");
        assert_eq!(s.resume_point(1, "u").await?, 0);
        s.advance_cursor(1, "u", 4, None);
        assert_eq!(s.resume_point(1, "u").await?, 4);
        assert_eq!(
            s.resume_point(2, "u").await?,
            4,
            "a new device starts after what any got"
        );
        s.advance_cursor(1, "u", 2, None);
        assert_eq!(s.resume_point(1, "u").await?, 4, "cursors never go back");
        s.sweep(200).await?;
        assert!(s.after(StreamId::Personal("u"), 0, 10).await?.is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn channel_stream_epoch_history_and_retention() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let s = super::super::open_for_test(dir.path(), 100);
        let r = Retention {
            max_len: 3,
            max_age_secs: 10,
        };
        let info = s.stream_info(StreamId::Channel("web_a")).await?;
        assert_eq!((info.top, info.oldest), (0, 1));
        for i in 1..=5u64 {
            let m = NewMessage {
                sender: Some("u".into()),
                retention: Some(r),
                ..NewMessage::new("m", &i.to_string(), 100)
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

    /// Appends write no head row: a stream whose every message expired must still go on
    /// after its last seq, or a device holding that seq would skip the next messages.
    #[tokio::test]
    async fn a_stream_emptied_by_expiry_goes_on_after_its_last_seq() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let s = super::super::open_for_test(dir.path(), 100);
        for i in 1..=3u64 {
            assert_eq!(append_personal(&s, "u", "e", "{}", 10).await?, i);
        }
        let channel = || {
            let m = NewMessage::new("c", "{}", 10);
            s.append(StreamId::Channel("web_a"), m, Box::new(|_| 0))
        };
        assert_eq!(channel().await?.0, 1);
        s.sweep(200).await?;
        assert!(s.after(StreamId::Personal("u"), 0, 10).await?.is_empty());
        assert_eq!(s.stream_info(StreamId::Personal("u")).await?.top, 3);
        assert_eq!(append_personal(&s, "u", "e", "{}", 300).await?, 4);
        assert_eq!(channel().await?.0, 2);
        drop(s);
        let s = super::super::open_for_test(dir.path(), 100);
        s.sweep(500).await?;
        assert_eq!(
            append_personal(&s, "u", "e", "{}", 600).await?,
            5,
            "reopened"
        );
        Ok(())
    }

    #[tokio::test]
    async fn data_survives_reopen() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        {
            let s = super::super::open_for_test(dir.path(), 3);
            append_personal(&s, "u", "e", "{}", 10).await?;
        }
        let s = super::super::open_for_test(dir.path(), 3);
        assert_eq!(append_personal(&s, "u", "e", "{}", 10).await?, 2);
        Ok(())
    }
}
