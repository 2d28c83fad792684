//! Delivery cursors: a position per (stream, owner), and the writes of them waiting for the
//! store thread, coalesced: at most one pending write per cursor.
//!
//! A cursor write is never a job of its own. It is recorded here, a later position replacing
//! the pending one, and the store thread writes everything pending at the start of a later
//! batch, inside that batch's transaction. So a client that acknowledges faster than the store
//! commits costs one row write per flush, not one job per frame, and cannot fill the job
//! queue or delay the publishes queued behind it. The map holds at most one entry per
//! connected device, so it needs no bound of its own.
//!
//! A write recorded before a job is sent is written before that job runs, unless the job is an
//! append (which reads no cursor): the store thread takes the map after it has received the
//! job. Otherwise the map is written once per `--cursor-flush-ms` ([`super::writer`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, OptionalExtension, params};

use super::heads;
use super::rows::{device_owner, session_owner, to_i64, to_u64};
use crate::store::types::personal_stream;

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
            let stream = personal_stream(&user_id);
            if let Some(epoch) = epoch {
                let current = heads::stored_epoch(c, &stream)?;
                if current.as_deref() != Some(epoch.as_str()) {
                    // The user was deleted (and maybe re-created) or merged since: the seq
                    // belongs to a history that is gone.
                    continue;
                }
            }
            let owner = match &key {
                CursorKey::Session(id) => session_owner(*id),
                CursorKey::Device(_, device) => device_owner(device),
            };
            advance(c, &stream, &owner, seq)?;
            raise_delivered(c, &user_id, to_i64(seq))?;
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    pub(super) fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
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
pub(super) fn claim(c: &Connection, stream: &str, owner: &str, seq: u64) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO stream_cursors (stream, owner, seq) VALUES (?1, ?2, ?3)
         ON CONFLICT(stream, owner) DO NOTHING",
    )?
    .execute(params![stream, owner, to_i64(seq)])?;
    Ok(())
}

/// Moves `owner`'s position forward to `seq` (never back), creating it if needed.
fn advance(c: &Connection, stream: &str, owner: &str, seq: u64) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO stream_cursors (stream, owner, seq) VALUES (?1, ?2, ?3)
         ON CONFLICT(stream, owner) DO UPDATE SET seq = max(seq, excluded.seq)",
    )?
    .execute(params![stream, owner, to_i64(seq)])?;
    Ok(())
}

/// The highest seq any device of the user confirmed: where a device with no cursor starts.
pub(super) fn delivered(c: &Connection, user_id: &str) -> rusqlite::Result<u64> {
    let any: Option<i64> = c
        .prepare_cached("SELECT delivered_seq FROM users WHERE user_id = ?1")?
        .query_row(params![user_id], |r| r.get(0))
        .optional()?;
    Ok(any.map_or(0, to_u64))
}

/// Raises the user's "delivered to some device" mark; every delivery to a device does this.
fn raise_delivered(c: &Connection, user_id: &str, seq: i64) -> rusqlite::Result<()> {
    c.prepare_cached("UPDATE users SET delivered_seq = max(delivered_seq, ?2) WHERE user_id = ?1")?
        .execute(params![user_id, seq])
        .map(|_| ())
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
}
