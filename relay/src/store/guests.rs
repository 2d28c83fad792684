//! Identities nobody registered: anonymous visitors, swept once idle, and demo-mode users,
//! which must never take over a user the back end created. Also the per-store salt that
//! gives a never-written channel its epoch without storing a row for it.

use rusqlite::{Connection, OptionalExtension, params};

use super::sqlite::to_i64;

/// Created next to the core schema by `SqliteStore::open`; `IF NOT EXISTS` is the migration
/// of a data dir made before these tables.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS demo_users (
    user_id TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// Idle visitors deleted per sweep at most, so one sweep never holds the store thread long.
pub const SWEEP_BATCH: usize = 500;

/// This store's epoch salt, made on first open. A wiped data dir gets a new one, so the
/// epochs it derives change with it, as an epoch must when the store lost data.
pub(super) fn epoch_salt(c: &Connection) -> rusqlite::Result<String> {
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

/// A stream's epoch without writing: its stored row (streams from before derived epochs, or
/// rotated), else one derived from the salt. Reads by anonymous clients used to store a row
/// per name they asked about.
pub(super) fn read_epoch(c: &Connection, salt: &str, key: &str) -> rusqlite::Result<String> {
    use sha2::{Digest, Sha256};
    let stored: Option<String> = c
        .prepare_cached("SELECT epoch FROM stream_epochs WHERE stream = ?1")?
        .query_row(params![key], |r| r.get(0))
        .optional()?;
    Ok(stored.unwrap_or_else(|| {
        let digest = Sha256::digest(format!("{salt}:{key}").as_bytes());
        hex::encode(&digest[..12])
    }))
}

/// Visitors (ids starting with `prefix`) with no session created and no connection seen
/// since `cutoff`, at most `limit`.
pub(super) fn idle_visitors(
    c: &Connection,
    prefix: &str,
    cutoff: u64,
    limit: usize,
) -> rusqlite::Result<Vec<String>> {
    // `prefix` ends in ':'; ';' is the next character, so the range is exactly the prefix
    // and uses the primary key.
    let end = format!("{};", prefix.trim_end_matches(':'));
    let mut st = c.prepare_cached(
        "SELECT u.user_id FROM users u
         WHERE u.user_id >= ?1 AND u.user_id < ?2 AND coalesce(u.last_seen, 0) < ?3
           AND NOT EXISTS (SELECT 1 FROM sessions s
                           WHERE s.user_id = u.user_id AND s.created_at >= ?3)
         LIMIT ?4",
    )?;
    let rows = st.query_map(
        params![
            prefix,
            end,
            to_i64(cutoff),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
        |r| r.get(0),
    )?;
    rows.collect()
}

/// Lets demo mode use `user_id`: `true` if demo mode made it (or it is new, and now is a demo
/// user), `false` if the back end created it in any way.
pub(super) fn claim_demo_user(c: &Connection, user_id: &str) -> rusqlite::Result<bool> {
    let ours: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM demo_users WHERE user_id = ?1)",
        params![user_id],
        |r| r.get(0),
    )?;
    if ours {
        return Ok(true);
    }
    let taken: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM users WHERE user_id = ?1)
             OR EXISTS (SELECT 1 FROM accounts WHERE user_id = ?1)
             OR EXISTS (SELECT 1 FROM user_keys WHERE user_id = ?1)
             OR EXISTS (SELECT 1 FROM users_data WHERE user_id = ?1)
             OR EXISTS (SELECT 1 FROM login_codes WHERE user_id = ?1)",
        params![user_id],
        |r| r.get(0),
    )?;
    if taken {
        return Ok(false);
    }
    c.execute(
        "INSERT INTO demo_users (user_id) VALUES (?1)",
        params![user_id],
    )?;
    Ok(true)
}
