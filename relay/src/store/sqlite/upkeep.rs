//! [`Upkeep`] on SQLite: retention settings per channel prefix, the sweep of what expired,
//! and the counters of the store thread.

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteStore;
use super::rows::{to_i64, to_u64};
use super::streams;
use crate::store::error::Result;
use crate::store::types::{Retention, StoreStats};
use crate::store::upkeep::Upkeep;

#[async_trait]
impl Upkeep for SqliteStore {
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

    async fn stats(&self) -> Result<StoreStats> {
        // A round trip first, so every write recorded before this call is counted.
        self.call(|_| Ok(())).await?;
        Ok(StoreStats {
            cursor_writes: self.cursors.writes(),
            dropped_writes: self.writer.dropped(),
            queued_jobs: self.writer.queued(),
            queue_capacity: self.writer.capacity(),
        })
    }

    async fn sweep(&self, now: u64) -> Result<()> {
        self.call(move |c| {
            streams::sweep(c, now)?;
            let now = to_i64(now);
            c.execute(
                "DELETE FROM login_codes WHERE expires_at <= ?1",
                params![now],
            )?;
            c.execute(
                "DELETE FROM stream_cursors WHERE owner IN
                 (SELECT 'session:' || id FROM sessions WHERE expires_at <= ?1)",
                params![now],
            )?;
            c.execute("DELETE FROM sessions WHERE expires_at <= ?1", params![now])?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Durability;
    use crate::store::accounts::Accounts;
    use crate::store::streams::{Streams, append_personal};

    #[tokio::test]
    async fn channel_settings_are_kept_and_removed() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let s = super::super::open_for_test(dir.path(), 100);
        let r = Retention {
            max_len: 5,
            max_age_secs: 6,
        };
        s.set_channel_setting("web_", r).await?;
        let kept = s.channel_settings().await?;
        assert_eq!(kept.len(), 1);
        assert_eq!((kept[0].0.as_str(), kept[0].1.max_len), ("web_", 5));
        assert!(s.delete_channel_setting("web_").await?);
        assert!(!s.delete_channel_setting("web_").await?);
        Ok(())
    }

    #[tokio::test]
    async fn a_full_queue_makes_callers_wait_and_drops_only_unawaited_writes() -> anyhow::Result<()>
    {
        use futures_util::FutureExt;
        let dir = tempfile::tempdir()?;
        let r = Retention {
            max_len: 10,
            max_age_secs: 100,
        };
        let s = SqliteStore::open_with(
            dir.path(),
            super::super::SqliteOptions {
                queue: 2,
                ..super::super::SqliteOptions::new(Durability::Normal, r)
            },
        )?;
        let gate_tx = super::super::writer::hold(&s.writer)?;
        s.touch_last_seen("a", 1);
        s.touch_last_seen("b", 1);
        s.touch_last_seen("c", 1);
        let mut publish = Box::pin(append_personal(&s, "u", "e", "1", 1));
        assert!(publish.as_mut().now_or_never().is_none(), "waits for room");
        for seq in 1..=3 {
            s.advance_cursor(1, "u", seq, None);
        }
        gate_tx.send(())?;
        assert_eq!(publish.await?, 1, "a publish is never dropped");
        let stats = s.stats().await?;
        assert_eq!(stats.dropped_writes, 1, "the third last-seen write");
        assert_eq!(stats.cursor_writes, 1, "three positions, one write");
        assert_eq!(s.resume_point(1, "u").await?, 3);
        assert_eq!(s.last_seen("b").await?, Some(1));
        assert_eq!(s.last_seen("c").await?, None);
        Ok(())
    }
}
