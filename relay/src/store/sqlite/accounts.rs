//! [`Accounts`] on SQLite: profiles and passwords of users registered through the users API,
//! per-user keys and data, last seen, and the two ways a user's stream loses its history:
//! deletion and the merge of an anonymous visitor into a user (both rotate its epoch).

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use super::rows::{ensure_user, to_i64, to_u64};
use super::{SqliteStore, guests, heads, streams};
use crate::secret::SecretHash;
use crate::store::accounts::Accounts;
use crate::store::error::Result;
use crate::store::types::{
    AfterMerge, Profile, ProfilePatch, StoredMessage, WriteMode, WriteOutcome, personal_stream,
};

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
    let stream = personal_stream(user_id);
    heads::delete(c, &stream)?;
    streams::delete(c, &stream)?;
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
    ensure_user(c, user_id)?;
    let (from, to) = (personal_stream(visitor_id), personal_stream(user_id));
    let mut moved: Vec<StoredMessage> = streams::after(c, &from, 0, usize::MAX)?
        .into_iter()
        .map(|r| StoredMessage {
            seq: r.seq,
            event: r.event,
            data: r.data,
        })
        .collect();
    let next = heads::next_seq(c, &to)?;
    // The visitor's messages keep their order and their creation times (so age retention
    // treats them as it would have), and come after everything the user already has.
    let mut seq = next;
    for m in &mut moved {
        streams::copy(c, &from, m.seq, &to, seq)?;
        m.seq = to_u64(seq);
        seq += 1;
    }
    streams::trim(c, &to, seq - 1, max_len)?;
    purge(c, visitor_id)?;
    // The user's stream now holds messages no device of the user was sent under its epoch.
    heads::rotate_epoch(c, &to)?;
    Ok(Some(moved))
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

    async fn idle_visitors(&self, prefix: &str, cutoff: u64, limit: usize) -> Result<Vec<String>> {
        let prefix = prefix.to_string();
        self.call(move |c| guests::idle_visitors(c, &prefix, cutoff, limit))
            .await
    }

    async fn claim_demo_user(&self, user_id: &str) -> Result<bool> {
        let user_id = user_id.to_string();
        self.call(move |c| guests::claim_demo_user(c, &user_id))
            .await
    }

    fn touch_last_seen(&self, user_id: &str, now: u64) {
        let user_id = user_id.to_string();
        self.fire("last seen", move |c| {
            ensure_user(c, &user_id)?;
            c.execute(
                "UPDATE users SET last_seen = ?2 WHERE user_id = ?1",
                params![user_id, to_i64(now)],
            )?;
            Ok(())
        });
    }

    async fn last_seen(&self, user_id: &str) -> Result<Option<u64>> {
        let user_id = user_id.to_string();
        self.call(move |c| {
            let v: Option<Option<i64>> = c
                .query_row(
                    "SELECT last_seen FROM users WHERE user_id = ?1",
                    params![user_id],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(v.flatten().map(to_u64))
        })
        .await
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::streams::{Streams, append_personal};
    use crate::store::types::StreamId;

    #[tokio::test]
    async fn keys_data_and_device_cursors() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let s = super::super::open_for_test(dir.path(), 100);
        s.set_user_key("7", [1; 32]).await?;
        assert!(s.user_key_matches("7", [1; 32]).await?);
        assert!(!s.user_key_matches("7", [2; 32]).await?);
        assert_eq!(s.user_key_hash("7").await?, Some([1; 32]));
        assert!(s.delete_user_key("7").await?);
        assert!(!s.user_key_matches("7", [1; 32]).await?);
        assert_eq!(s.user_key_hash("7").await?, None);
        s.set_user_data("7", r#"{"a":1}"#).await?;
        assert_eq!(s.user_data("7").await?.as_deref(), Some(r#"{"a":1}"#));

        append_personal(&s, "7", "e", "1", 1).await?;
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
    async fn a_confirmation_from_a_deleted_users_history_moves_no_cursor() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let s = super::super::open_for_test(dir.path(), 100);
        for i in 1..=5 {
            append_personal(&s, "u", "old", &i.to_string(), 1).await?;
        }
        let old = s.stream_info(StreamId::Personal("u")).await?.epoch;
        assert_eq!(s.device_resume_point("d", "u").await?, 0);
        assert!(s.delete_user("u").await?);
        // Re-created: a new history from seq 1, in a new epoch.
        assert_eq!(append_personal(&s, "u", "new", "1", 2).await?, 1);
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
