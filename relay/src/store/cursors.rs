//! Delivery cursors waiting to be written, coalesced: at most one pending write per cursor.
//!
//! A cursor write is never a job of its own. It is recorded here, a later position replacing
//! the pending one, and the store thread writes everything pending at the start of its next
//! batch, inside that batch's transaction. So a client that acknowledges faster than the store
//! commits costs one row write per commit, not one job per frame, and cannot fill the job
//! queue or delay the publishes queued behind it. The map holds at most one entry per
//! connected device, so it needs no bound of its own.
//!
//! A write recorded before a job is sent is written before that job runs: the store thread
//! takes the map after it has received the job.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, OptionalExtension, params};

use super::channels::{StreamId, stream_key};
use super::sqlite::{raise_delivered, to_i64};
use super::streams;

/// Whose position a cursor is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum CursorKey {
    /// A Wafer tunnel's session.
    Session(i64),
    /// A native device of a user: `(user_id, device)`. The user is part of the key, so one
    /// user cannot move another's cursor by naming its device.
    Device(String, String),
}

/// A cursor write waiting for the store thread.
#[derive(Debug, PartialEq, Eq)]
struct Pending {
    user_id: String,
    seq: u64,
    /// The personal stream's epoch the seq counts in; `None` writes whatever the epoch.
    epoch: Option<String>,
}

#[derive(Default)]
pub(super) struct PendingCursors {
    /// Cursor → the highest position recorded.
    pending: Mutex<HashMap<CursorKey, Pending>>,
    /// Cursor rows written, for `GET /api/v1/stats` and the tests that bound it.
    writes: AtomicU64,
}

impl PendingCursors {
    /// Records that `key` has reached `seq`. Returns `true` when nothing was pending before,
    /// so the caller wakes the store thread (it may be idle); otherwise a wake-up is already
    /// on its way.
    pub(super) fn record(
        &self,
        key: CursorKey,
        user_id: &str,
        seq: u64,
        epoch: Option<&str>,
    ) -> bool {
        let mut map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let was_empty = map.is_empty();
        let fresh = || Pending {
            user_id: user_id.to_string(),
            seq,
            epoch: epoch.map(str::to_string),
        };
        map.entry(key)
            .and_modify(|p| {
                // A position in another history replaces the pending one instead of racing it.
                if p.epoch.as_deref() == epoch {
                    p.seq = p.seq.max(seq);
                } else {
                    *p = fresh();
                }
            })
            .or_insert_with(fresh);
        was_empty
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// Writes everything pending; runs on the store thread inside a transaction.
    pub(super) fn write_all(&self, c: &Connection) -> rusqlite::Result<()> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for (
            key,
            Pending {
                user_id,
                seq,
                epoch,
            },
        ) in pending
        {
            if let Some(epoch) = epoch {
                let current: Option<String> = c
                    .prepare_cached("SELECT epoch FROM stream_epochs WHERE stream = ?1")?
                    .query_row(params![stream_key(StreamId::Personal(&user_id))], |r| {
                        r.get(0)
                    })
                    .optional()?;
                if current.as_deref() != Some(epoch.as_str()) {
                    // The user was deleted (and maybe re-created) or merged since: the seq
                    // belongs to a history that is gone.
                    continue;
                }
            }
            let owner = match &key {
                CursorKey::Session(id) => streams::session_owner(*id),
                CursorKey::Device(_, device) => streams::device_owner(device),
            };
            streams::advance_cursor(c, &streams::personal(&user_id), &owner, seq)?;
            raise_delivered(c, &user_id, to_i64(seq))?;
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    pub(super) fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_position_replaces_the_pending_one() {
        let p = PendingCursors::default();
        assert!(p.record(CursorKey::Session(1), "u", 3, None), "first wakes");
        assert!(!p.record(CursorKey::Session(1), "u", 5, None));
        assert!(
            !p.record(CursorKey::Session(1), "u", 4, None),
            "never goes back"
        );
        assert!(!p.record(CursorKey::Device("u".into(), "d".into()), "u", 2, None));
        let map = p.pending.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(map.len(), 2);
        assert_eq!(map.get(&CursorKey::Session(1)).map(|e| e.seq), Some(5));
    }

    #[tokio::test]
    async fn a_confirmation_from_a_deleted_users_history_moves_no_cursor() -> anyhow::Result<()> {
        use crate::store::Retention;
        use crate::store::accounts::Accounts;
        use crate::store::channels::Channels;
        let dir = tempfile::tempdir()?;
        let retention = Retention {
            max_len: 100,
            max_age_secs: 100,
        };
        let s = super::super::sqlite::SqliteStore::open(
            dir.path(),
            crate::config::Durability::Normal,
            retention,
        )?;
        for i in 1..=5 {
            crate::store::append_personal(&s, "u", "old", &i.to_string(), 1).await?;
        }
        let old = s.stream_info(StreamId::Personal("u")).await?.epoch;
        assert_eq!(s.device_resume_point("d", "u").await?, 0);
        assert!(s.delete_user("u").await?);
        // Re-created: a new history from seq 1, in a new epoch.
        crate::store::append_personal(&s, "u", "new", "1", 2).await?;
        assert_ne!(s.stream_info(StreamId::Personal("u")).await?.epoch, old);
        // The device's connection from before the delete acknowledges 5 late.
        s.advance_device_cursor("d", "u", 5, Some(&old));
        assert_eq!(
            s.device_resume_point("d", "u").await?,
            0,
            "the new history is resumed from its start"
        );
        s.advance_device_cursor("d", "u", 1, None);
        assert_eq!(s.device_resume_point("d", "u").await?, 1);
        Ok(())
    }
}
