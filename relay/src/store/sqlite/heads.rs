//! Stream heads, one row per stream in `streams`, keyed by the stream's name: the seq its
//! next message gets, and its epoch, the history its seqs count in. The one append takes its
//! seq here whatever the stream; deleting a user drops the row, so a re-created user starts
//! again at seq 1 in a new epoch.
//!
//! A stream's next seq is one past the higher of its head row and its newest kept message,
//! so an append writes no head: the row is raised only before a stream's newest message may
//! go ([`keep_past`]), which keeps a seq from being handed out twice in one epoch.

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::types::StreamId;

/// The seq the stream's next message gets (1 for a stream with no head and no message).
pub(super) fn next_seq(c: &Connection, stream: &str) -> rusqlite::Result<i64> {
    c.prepare_cached(
        "SELECT max(coalesce((SELECT next_seq FROM streams WHERE stream = ?1), 1),
                    coalesce((SELECT max(seq) FROM stream_messages WHERE stream = ?1) + 1, 1))",
    )?
    .query_row(params![stream], |r| r.get(0))
}

/// Raises the stream's head past `last`, before messages up to `last` are deleted.
pub(super) fn keep_past(c: &Connection, stream: &str, last: i64) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO streams (stream, next_seq) VALUES (?1, ?2)
         ON CONFLICT(stream) DO UPDATE SET next_seq = max(next_seq, excluded.next_seq)",
    )?
    .execute(params![stream, last.saturating_add(1)])?;
    Ok(())
}

/// [`keep_past`] for every stream with a message past its expiry at `now`, before a sweep.
pub(super) fn keep_past_expired(c: &Connection, now: i64) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO streams (stream, next_seq)
         SELECT stream, max(seq) + 1 FROM stream_messages WHERE expires_at < ?1 GROUP BY stream
         ON CONFLICT(stream) DO UPDATE SET next_seq = max(next_seq, excluded.next_seq)",
    )?
    .execute(params![now])?;
    Ok(())
}

/// The epoch stored for the stream, if any.
pub(super) fn stored_epoch(c: &Connection, stream: &str) -> rusqlite::Result<Option<String>> {
    Ok(
        c.prepare_cached("SELECT epoch FROM streams WHERE stream = ?1")?
            .query_row(params![stream], |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten(),
    )
}

/// The stream's epoch, stored now if it had none.
pub(super) fn make_epoch(c: &Connection, stream: &str) -> rusqlite::Result<String> {
    // Writes only when there is no epoch yet: this runs on every connect.
    c.prepare_cached(
        "INSERT INTO streams (stream, epoch) VALUES (?1, ?2)
         ON CONFLICT(stream) DO UPDATE SET epoch = excluded.epoch WHERE epoch IS NULL",
    )?
    .execute(params![stream, crate::secret::generate_id()])?;
    c.prepare_cached("SELECT epoch FROM streams WHERE stream = ?1")?
        .query_row(params![stream], |r| r.get(0))
}

/// A stream's epoch without writing: its stored one (streams from before derived epochs, or
/// rotated), else one derived from the store's salt. Reads by anonymous clients used to store
/// a row per name they asked about.
pub(super) fn read_epoch(
    c: &Connection,
    salt: &str,
    stream: StreamId<'_>,
) -> rusqlite::Result<String> {
    use sha2::{Digest, Sha256};
    Ok(stored_epoch(c, &stream.name())?.unwrap_or_else(|| {
        // The key derived epochs have always been made from; changing it would change them.
        let key = match stream {
            StreamId::Personal(u) => format!("msg:{u}"),
            StreamId::Channel(c) => format!("ch:{c}"),
        };
        let digest = Sha256::digest(format!("{salt}:{key}").as_bytes());
        hex::encode(&digest[..12])
    }))
}

/// Gives the stream a new epoch (made on next use): its history is no longer the one a
/// device's position was taken in (a visitor merged into the user).
pub(super) fn rotate_epoch(c: &Connection, stream: &str) -> rusqlite::Result<()> {
    c.prepare_cached("UPDATE streams SET epoch = NULL WHERE stream = ?1")?
        .execute(params![stream])?;
    Ok(())
}

/// Drops the stream's head: its next append starts again at seq 1, in a new epoch.
pub(super) fn delete(c: &Connection, stream: &str) -> rusqlite::Result<()> {
    c.prepare_cached("DELETE FROM streams WHERE stream = ?1")?
        .execute(params![stream])?;
    Ok(())
}
