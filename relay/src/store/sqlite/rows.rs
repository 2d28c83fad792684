//! What every part of the engine shares about rows: integers in and out of SQLite's signed
//! columns, the `StoreError` a SQLite error becomes, the names of cursor owners, and the user
//! row that appends and sessions create on first use. A leaf of the engine.

use rusqlite::{Connection, params};

use crate::store::error::StoreError;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Engine(Box::new(e))
    }
}

pub(super) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Who holds a cursor: a Wafer tunnel's session, or a native client's device.
pub(super) fn session_owner(session_id: i64) -> String {
    format!("session:{session_id}")
}

pub(super) fn device_owner(device: &str) -> String {
    format!("device:{device}")
}

pub(super) fn default_userinfo(user_id: &str) -> String {
    serde_json::json!({ "user_id": user_id }).to_string()
}

pub(super) fn ensure_user(conn: &Connection, user_id: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO users (user_id, userinfo) VALUES (?1, ?2) ON CONFLICT(user_id) DO NOTHING",
    )?
    .execute(params![user_id, default_userinfo(user_id)])?;
    Ok(())
}
