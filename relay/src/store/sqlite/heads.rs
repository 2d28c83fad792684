//! Stream heads: the next seq of each stream and its epoch, the history its seqs count in.
//! A user's personal stream keeps its next seq in `users`, a channel in `channels`; epochs
//! live in `stream_epochs` under the key of [`epoch_key`].

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::types::StreamId;

/// The key of a stream's epoch row.
pub(super) fn epoch_key(s: StreamId<'_>) -> String {
    match s {
        StreamId::Personal(u) => format!("msg:{u}"),
        StreamId::Channel(c) => format!("ch:{c}"),
    }
}

/// Takes the stream's next seq and moves its head past it. A personal stream's user must
/// exist.
pub(super) fn take_seq(c: &Connection, stream: StreamId<'_>) -> rusqlite::Result<i64> {
    match stream {
        StreamId::Personal(user_id) => c
            .prepare_cached(
                "UPDATE users SET next_seq = next_seq + 1 WHERE user_id = ?1
                 RETURNING next_seq - 1",
            )?
            .query_row(params![user_id], |r| r.get(0)),
        StreamId::Channel(name) => {
            c.prepare_cached("INSERT INTO channels (name) VALUES (?1) ON CONFLICT DO NOTHING")?
                .execute(params![name])?;
            c.prepare_cached(
                "UPDATE channels SET next_seq = next_seq + 1 WHERE name = ?1
                 RETURNING next_seq - 1",
            )?
            .query_row(params![name], |r| r.get(0))
        }
    }
}

/// Takes `n` seqs of the user's personal stream at once; returns the first.
pub(super) fn take_seqs(c: &Connection, user_id: &str, n: usize) -> rusqlite::Result<i64> {
    c.query_row(
        "UPDATE users SET next_seq = next_seq + ?2 WHERE user_id = ?1 RETURNING next_seq - ?2",
        params![user_id, i64::try_from(n).unwrap_or(i64::MAX)],
        |r| r.get(0),
    )
}

/// The stream's next seq, if it has a head.
pub(super) fn next_seq(c: &Connection, stream: StreamId<'_>) -> rusqlite::Result<Option<i64>> {
    match stream {
        StreamId::Personal(user_id) => c
            .query_row(
                "SELECT next_seq FROM users WHERE user_id = ?1",
                params![user_id],
                |r| r.get(0),
            )
            .optional(),
        StreamId::Channel(name) => c
            .query_row(
                "SELECT next_seq FROM channels WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional(),
    }
}

/// The epoch stored for the stream, if any.
pub(super) fn stored_epoch(
    c: &Connection,
    stream: StreamId<'_>,
) -> rusqlite::Result<Option<String>> {
    c.prepare_cached("SELECT epoch FROM stream_epochs WHERE stream = ?1")?
        .query_row(params![epoch_key(stream)], |r| r.get(0))
        .optional()
}

/// The stream's epoch, stored now if it had none.
pub(super) fn make_epoch(c: &Connection, stream: StreamId<'_>) -> rusqlite::Result<String> {
    let key = epoch_key(stream);
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

/// A stream's epoch without writing: its stored one (streams from before derived epochs, or
/// rotated), else one derived from the store's salt. Reads by anonymous clients used to store
/// a row per name they asked about.
pub(super) fn read_epoch(
    c: &Connection,
    salt: &str,
    stream: StreamId<'_>,
) -> rusqlite::Result<String> {
    use sha2::{Digest, Sha256};
    Ok(stored_epoch(c, stream)?.unwrap_or_else(|| {
        let digest = Sha256::digest(format!("{salt}:{}", epoch_key(stream)).as_bytes());
        hex::encode(&digest[..12])
    }))
}

/// Gives the user's personal stream a new epoch (made on next use): its history is no longer
/// the one a device's position was taken in (user deleted and re-created, visitor merged).
pub(super) fn rotate_personal_epoch(c: &Connection, user_id: &str) -> rusqlite::Result<()> {
    c.prepare_cached("DELETE FROM stream_epochs WHERE stream = ?1")?
        .execute(params![epoch_key(StreamId::Personal(user_id))])?;
    Ok(())
}
