//! Accounts: the profile and password of users registered through the users API, per-session
//! login options (remember-me, hard expiry), key rotation on refresh, deletion and the merge
//! of an anonymous visitor into a user.
//!
//! A separate trait from [`Store`](super::Store) so account features can grow without
//! touching the streaming hot path; the SQLite engine implements both on one connection.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use super::sqlite::SqliteStore;
use super::{Result, SecretHash, Session, StoredMessage};

/// Created next to the core schema by `SqliteStore::open`.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    user_id       TEXT PRIMARY KEY,
    username      TEXT UNIQUE COLLATE NOCASE,
    email         TEXT,
    avatar_url    TEXT,
    password_hash TEXT,
    created_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS session_meta (
    session_id INTEGER PRIMARY KEY,
    remember   INTEGER NOT NULL,
    not_after  INTEGER
);
CREATE TRIGGER IF NOT EXISTS session_meta_gc AFTER DELETE ON sessions BEGIN
    DELETE FROM session_meta WHERE session_id = OLD.id;
END;
";

/// A change to a profile. The outer `Option` is "mentioned?", the inner one "set or clear".
#[derive(Debug, Default, Clone)]
pub struct ProfilePatch {
    pub username: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
    /// A PHC string (Argon2id), never the password.
    pub password_hash: Option<Option<String>>,
    /// Replaces the free-form part of `userinfo`; profile fields are merged on top.
    pub userinfo: Option<Map<String, Value>>,
}

/// How [`Accounts::write_profile`] treats an existing or missing user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Register: the user must not exist yet.
    Create,
    /// Edit: the user must exist.
    Update,
    /// Create when missing, else edit (login codes, delegated auth).
    Upsert,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    Done(Profile),
    UserExists,
    UsernameTaken,
    NotFound,
}

/// What the users API shows; never the password hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Profile {
    pub user_id: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub has_password: bool,
    pub userinfo: Value,
    pub created_at: Option<u64>,
}

/// Session lifetimes in seconds: remembered, and ending with the browser session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTtl {
    pub remembered: u64,
    pub short: u64,
}

impl SessionTtl {
    pub fn for_session(self, remember: bool) -> u64 {
        if remember {
            self.remembered
        } else {
            self.short
        }
    }
}

/// Login options of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    pub remember: bool,
    /// A hard end no refresh can pass (the `exp` of the JWT it came from).
    pub not_after: Option<u64>,
}

/// Runs on the store's thread right after a merge commits, with the moved messages.
pub type AfterMerge = Box<dyn FnOnce(&[StoredMessage]) + Send>;

#[async_trait]
pub trait Accounts: Send + Sync + 'static {
    async fn write_profile(
        &self,
        user_id: &str,
        patch: ProfilePatch,
        mode: WriteMode,
        now: u64,
    ) -> Result<WriteOutcome>;

    async fn profile(&self, user_id: &str) -> Result<Option<Profile>>;

    /// `(user_id, password_hash)` of the account with this username, if it has a password.
    async fn password_of(&self, username: &str) -> Result<Option<(String, String)>>;

    /// Deletes the user's profile, password, key, stream, cursors, sessions and pending login
    /// codes. `false` if there was no such user.
    async fn delete_user(&self, user_id: &str) -> Result<bool>;

    /// Appends the visitor's personal messages to the user's stream (new seqs after the
    /// user's), trims to `max_len`, deletes the visitor, and returns the moved messages with
    /// their new seqs. `None` if the visitor does not exist.
    /// Moves the visitor's messages after the user's and deletes the visitor; `then` runs
    /// with the moved messages right after the commit, in commit order with every other
    /// append (see [`super::AfterCommit`]), so their fan-out stays in seq order.
    async fn merge_visitor(
        &self,
        user_id: &str,
        visitor_id: &str,
        max_len: u64,
        then: AfterMerge,
    ) -> Result<Option<Vec<StoredMessage>>>;

    async fn set_session_options(&self, session_id: i64, opts: SessionOptions) -> Result<()>;

    /// Swaps the session's key for `new_key` and moves its expiry to `now + ttl(remember)`
    /// (capped by `not_after`). The old key stops working at once. The session keeps its id,
    /// so the device's delivery cursor and live tunnels carry over.
    async fn rotate_session(
        &self,
        old_key: SecretHash,
        new_key: SecretHash,
        now: u64,
        ttl: SessionTtl,
    ) -> Result<Option<(Session, SessionOptions)>>;

    /// Visitors (ids starting with `prefix`) idle since `cutoff`: see `guests::idle_visitors`.
    async fn idle_visitors(&self, prefix: &str, cutoff: u64, limit: usize) -> Result<Vec<String>>;

    /// Whether demo mode may hand out a key for `user_id` (never a user the back end made).
    async fn claim_demo_user(&self, user_id: &str) -> Result<bool>;
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

type Row = (
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
    Option<i64>,
);

fn load_profile(c: &Connection, user_id: &str) -> rusqlite::Result<Option<Profile>> {
    let Some(info) = c
        .query_row(
            "SELECT userinfo FROM users WHERE user_id = ?1",
            params![user_id],
            |r| r.get::<_, String>(0),
        )
        .optional()?
    else {
        return Ok(None);
    };
    let row: Option<Row> = c
        .query_row(
            "SELECT username, email, avatar_url, password_hash IS NOT NULL, created_at
             FROM accounts WHERE user_id = ?1",
            params![user_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let (username, email, avatar_url, has_password, created_at) =
        row.unwrap_or((None, None, None, false, None));
    Ok(Some(Profile {
        user_id: user_id.to_string(),
        username,
        email,
        avatar_url,
        has_password,
        userinfo: serde_json::from_str(&info).unwrap_or_else(|_| Value::Object(Map::new())),
        created_at: created_at.map(to_u64),
    }))
}

/// The new `userinfo`: the given free-form part (or the stored one), with the profile fields
/// the patch mentions set or removed, and, when the free-form part was replaced, the stored
/// profile fields put back so they are not lost.
fn merged_userinfo(old: Option<&Profile>, user_id: &str, patch: &ProfilePatch) -> Value {
    let replaced = patch.userinfo.is_some();
    let mut info = match (&patch.userinfo, old) {
        (Some(given), _) => given.clone(),
        (None, Some(p)) => p.userinfo.as_object().cloned().unwrap_or_default(),
        (None, None) => Map::from_iter([("user_id".to_string(), Value::from(user_id))]),
    };
    let fields = [
        (
            "username",
            &patch.username,
            old.and_then(|p| p.username.as_ref()),
        ),
        ("email", &patch.email, old.and_then(|p| p.email.as_ref())),
        (
            "avatar_url",
            &patch.avatar_url,
            old.and_then(|p| p.avatar_url.as_ref()),
        ),
    ];
    for (key, given, stored) in fields {
        match (given, stored) {
            (Some(Some(v)), _) => {
                info.insert(key.into(), Value::from(v.as_str()));
            }
            (Some(None), _) => {
                info.remove(key);
            }
            (None, Some(v)) if replaced => {
                info.insert(key.into(), Value::from(v.as_str()));
            }
            (None, _) => {}
        }
    }
    Value::Object(info)
}

fn write(
    c: &Connection,
    user_id: &str,
    patch: &ProfilePatch,
    mode: WriteMode,
    now: u64,
) -> rusqlite::Result<WriteOutcome> {
    let old = load_profile(c, user_id)?;
    match (mode, &old) {
        (WriteMode::Create, Some(_)) => return Ok(WriteOutcome::UserExists),
        (WriteMode::Update, None) => return Ok(WriteOutcome::NotFound),
        _ => {}
    }
    if let Some(Some(name)) = &patch.username {
        let owner: Option<String> = c
            .query_row(
                "SELECT user_id FROM accounts WHERE username = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()?;
        if owner.is_some_and(|o| o != user_id) {
            return Ok(WriteOutcome::UsernameTaken);
        }
    }
    let info = merged_userinfo(old.as_ref(), user_id, patch).to_string();
    c.execute(
        "INSERT INTO users (user_id, userinfo) VALUES (?1, ?2)
         ON CONFLICT(user_id) DO UPDATE SET userinfo = excluded.userinfo",
        params![user_id, info],
    )?;
    c.execute(
        "INSERT INTO accounts (user_id, created_at) VALUES (?1, ?2)
         ON CONFLICT(user_id) DO NOTHING",
        params![user_id, to_i64(now)],
    )?;
    let columns = [
        ("username", &patch.username),
        ("email", &patch.email),
        ("avatar_url", &patch.avatar_url),
        ("password_hash", &patch.password_hash),
    ];
    for (column, value) in columns {
        if let Some(v) = value {
            // Column names come from the fixed list above, never from input.
            c.execute(
                &format!("UPDATE accounts SET {column} = ?2 WHERE user_id = ?1"),
                params![user_id, v],
            )?;
        }
    }
    Ok(load_profile(c, user_id)?.map_or(WriteOutcome::NotFound, WriteOutcome::Done))
}

/// Removes everything kept about a user; returns whether the user existed.
fn purge(c: &Connection, user_id: &str) -> rusqlite::Result<bool> {
    let existed = c.execute("DELETE FROM users WHERE user_id = ?1", params![user_id])? > 0;
    // A user re-created with this id starts again at seq 1: never under the old epoch, or a
    // device holding an old position would be told it had recovered.
    super::channels::rotate_personal_epoch(c, user_id)?;
    super::streams::delete(c, &super::streams::personal(user_id))?;
    for sql in [
        "DELETE FROM accounts WHERE user_id = ?1",
        "DELETE FROM sessions WHERE user_id = ?1",
        "DELETE FROM login_codes WHERE user_id = ?1",
    ] {
        c.execute(sql, params![user_id])?;
    }
    // Tables of the channel features (per-user keys, user data),
    // checked at run time so deletion works whichever of them this schema has.
    for table in ["user_keys", "users_data"] {
        let has: bool = c.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = 'user_id')",
            params![table],
            |r| r.get(0),
        )?;
        if has {
            // Table names come from the fixed list above, never from input.
            c.execute(
                &format!("DELETE FROM {table} WHERE user_id = ?1"),
                params![user_id],
            )?;
        }
    }
    Ok(existed)
}

fn merge(
    c: &Connection,
    user_id: &str,
    visitor_id: &str,
    max_len: u64,
) -> rusqlite::Result<Option<Vec<StoredMessage>>> {
    let visitor_exists: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM users WHERE user_id = ?1)",
        params![visitor_id],
        |r| r.get(0),
    )?;
    if !visitor_exists {
        return Ok(None);
    }
    c.execute(
        "INSERT INTO users (user_id, userinfo) VALUES (?1, ?2) ON CONFLICT(user_id) DO NOTHING",
        params![
            user_id,
            serde_json::json!({ "user_id": user_id }).to_string()
        ],
    )?;
    let (from, to) = (
        super::streams::personal(visitor_id),
        super::streams::personal(user_id),
    );
    let mut moved: Vec<StoredMessage> = super::streams::after(c, &from, 0, usize::MAX)?
        .into_iter()
        .map(|r| StoredMessage {
            seq: r.seq,
            event: r.event,
            data: r.data,
        })
        .collect();
    let next: i64 = c.query_row(
        "UPDATE users SET next_seq = next_seq + ?2 WHERE user_id = ?1 RETURNING next_seq - ?2",
        params![user_id, i64::try_from(moved.len()).unwrap_or(i64::MAX)],
        |r| r.get(0),
    )?;
    // The visitor's messages keep their order and their creation times (so age retention
    // treats them as it would have), and come after everything the user already has.
    let mut seq = next;
    for m in &mut moved {
        super::streams::copy(c, &from, m.seq, &to, seq)?;
        m.seq = to_u64(seq);
        seq += 1;
    }
    super::streams::trim(c, &to, seq - 1, max_len)?;
    purge(c, visitor_id)?;
    // The user's stream now holds messages no device of the user was sent under its epoch.
    super::channels::rotate_personal_epoch(c, user_id)?;
    Ok(Some(moved))
}

/// id, user_id, userinfo, created_at, remember, not_after.
type SessionRow = (i64, String, String, i64, Option<bool>, Option<i64>);

fn rotate(
    c: &Connection,
    old_key: SecretHash,
    new_key: SecretHash,
    now: u64,
    ttl: SessionTtl,
) -> rusqlite::Result<Option<(Session, SessionOptions)>> {
    let row: Option<SessionRow> = c
        .query_row(
            "SELECT s.id, s.user_id, u.userinfo, s.created_at, m.remember, m.not_after
             FROM sessions s JOIN users u ON u.user_id = s.user_id
             LEFT JOIN session_meta m ON m.session_id = s.id
             WHERE s.key_hash = ?1 AND s.expires_at > ?2",
            params![&old_key[..], to_i64(now)],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .optional()?;
    let Some((id, user_id, userinfo, created_at, remember, not_after)) = row else {
        return Ok(None);
    };
    let opts = SessionOptions {
        remember: remember.unwrap_or(true),
        not_after: not_after.map(to_u64),
    };
    let mut expires_at = now.saturating_add(ttl.for_session(opts.remember));
    if let Some(end) = opts.not_after {
        expires_at = expires_at.min(end);
    }
    if expires_at <= now {
        return Ok(None);
    }
    c.execute(
        "UPDATE sessions SET key_hash = ?2, expires_at = ?3 WHERE id = ?1",
        params![id, &new_key[..], to_i64(expires_at)],
    )?;
    Ok(Some((
        Session {
            id,
            user_id,
            userinfo,
            created_at: to_u64(created_at),
            expires_at,
        },
        opts,
    )))
}

#[async_trait]
impl Accounts for SqliteStore {
    async fn write_profile(
        &self,
        user_id: &str,
        patch: ProfilePatch,
        mode: WriteMode,
        now: u64,
    ) -> Result<WriteOutcome> {
        let user_id = user_id.to_string();
        self.call(move |c| write(c, &user_id, &patch, mode, now))
            .await
    }

    async fn profile(&self, user_id: &str) -> Result<Option<Profile>> {
        let user_id = user_id.to_string();
        self.call(move |c| load_profile(c, &user_id)).await
    }

    async fn password_of(&self, username: &str) -> Result<Option<(String, String)>> {
        let username = username.to_string();
        self.call(move |c| {
            c.query_row(
                "SELECT user_id, password_hash FROM accounts
                 WHERE username = ?1 AND password_hash IS NOT NULL",
                params![username],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })
        .await
    }

    async fn delete_user(&self, user_id: &str) -> Result<bool> {
        let user_id = user_id.to_string();
        self.call(move |c| purge(c, &user_id)).await
    }

    async fn merge_visitor(
        &self,
        user_id: &str,
        visitor_id: &str,
        max_len: u64,
        then: AfterMerge,
    ) -> Result<Option<Vec<StoredMessage>>> {
        let (user_id, visitor_id) = (user_id.to_string(), visitor_id.to_string());
        let (moved, ()) = self
            .call_then(
                move |c| merge(c, &user_id, &visitor_id, max_len),
                move |moved: &Option<Vec<StoredMessage>>| {
                    if let Some(moved) = moved {
                        then(moved);
                    }
                },
            )
            .await?;
        Ok(moved)
    }

    async fn set_session_options(&self, session_id: i64, opts: SessionOptions) -> Result<()> {
        self.call(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO session_meta (session_id, remember, not_after)
                 VALUES (?1, ?2, ?3)",
                params![session_id, opts.remember, opts.not_after.map(to_i64)],
            )?;
            Ok(())
        })
        .await
    }

    async fn rotate_session(
        &self,
        old_key: SecretHash,
        new_key: SecretHash,
        now: u64,
        ttl: SessionTtl,
    ) -> Result<Option<(Session, SessionOptions)>> {
        self.call(move |c| rotate(c, old_key, new_key, now, ttl))
            .await
    }

    async fn idle_visitors(&self, prefix: &str, cutoff: u64, limit: usize) -> Result<Vec<String>> {
        let prefix = prefix.to_string();
        self.call(move |c| super::guests::idle_visitors(c, &prefix, cutoff, limit))
            .await
    }

    async fn claim_demo_user(&self, user_id: &str) -> Result<bool> {
        let user_id = user_id.to_string();
        self.call(move |c| super::guests::claim_demo_user(c, &user_id))
            .await
    }
}
