//! [`Sessions`] on SQLite: login codes, sessions, their login options (remember-me, hard
//! expiry) and key rotation on refresh.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::rows::{ensure_user, to_i64, to_u64};
use crate::secret::SecretHash;
use crate::store::error::Result;
use crate::store::sessions::Sessions;
use crate::store::types::{Session, SessionOptions, SessionTtl};

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
impl Sessions for SqliteStore {
    async fn put_login_code(
        &self,
        code: SecretHash,
        user_id: &str,
        userinfo: Option<String>,
        expires_at: u64,
    ) -> Result<()> {
        let user_id = user_id.to_string();
        self.call(move |c| {
            match userinfo {
                Some(info) => {
                    c.execute(
                        "INSERT INTO users (user_id, userinfo) VALUES (?1, ?2)
                         ON CONFLICT(user_id) DO UPDATE SET userinfo = excluded.userinfo",
                        params![user_id, info],
                    )?;
                }
                None => ensure_user(c, &user_id)?,
            }
            c.execute(
                "INSERT INTO login_codes (code_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
                params![&code[..], user_id, to_i64(expires_at)],
            )?;
            Ok(())
        })
        .await
    }

    async fn take_login_code(&self, code: SecretHash, now: u64) -> Result<Option<String>> {
        self.call(move |c| {
            let row: Option<(String, i64)> = c
                .query_row(
                    "DELETE FROM login_codes WHERE code_hash = ?1 RETURNING user_id, expires_at",
                    params![&code[..]],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            Ok(row.and_then(|(user, exp)| (to_u64(exp) > now).then_some(user)))
        })
        .await
    }

    async fn create_session(
        &self,
        key: SecretHash,
        user_id: &str,
        now: u64,
        expires_at: u64,
    ) -> Result<Session> {
        let user_id = user_id.to_string();
        self.call(move |c| {
            ensure_user(c, &user_id)?;
            c.execute(
                "INSERT INTO sessions (key_hash, user_id, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![&key[..], user_id, to_i64(now), to_i64(expires_at)],
            )?;
            let id = c.last_insert_rowid();
            let userinfo: String = c.query_row(
                "SELECT userinfo FROM users WHERE user_id = ?1",
                params![user_id],
                |r| r.get(0),
            )?;
            Ok(Session {
                id,
                user_id,
                userinfo,
                created_at: now,
                expires_at,
            })
        })
        .await
    }

    async fn session(&self, key: SecretHash, now: u64) -> Result<Option<Session>> {
        self.call(move |c| {
            c.query_row(
                "SELECT s.id, s.user_id, u.userinfo, s.created_at, s.expires_at
                 FROM sessions s JOIN users u ON u.user_id = s.user_id
                 WHERE s.key_hash = ?1 AND s.expires_at > ?2",
                params![&key[..], to_i64(now)],
                |r| {
                    Ok(Session {
                        id: r.get(0)?,
                        user_id: r.get(1)?,
                        userinfo: r.get(2)?,
                        created_at: to_u64(r.get(3)?),
                        expires_at: to_u64(r.get(4)?),
                    })
                },
            )
            .optional()
        })
        .await
    }

    async fn revoke_session(&self, key: SecretHash) -> Result<Option<Session>> {
        self.call(move |c| {
            c.query_row(
                "DELETE FROM sessions WHERE key_hash = ?1
                 RETURNING id, user_id, created_at, expires_at",
                params![&key[..]],
                |r| {
                    Ok(Session {
                        id: r.get(0)?,
                        user_id: r.get(1)?,
                        userinfo: String::new(),
                        created_at: to_u64(r.get(2)?),
                        expires_at: to_u64(r.get(3)?),
                    })
                },
            )
            .optional()
        })
        .await
    }

    async fn revoke_user_sessions(&self, user_id: &str) -> Result<usize> {
        let user_id = user_id.to_string();
        self.call(move |c| c.execute("DELETE FROM sessions WHERE user_id = ?1", params![user_id]))
            .await
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn login_code_is_single_use_and_expires() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let s = super::super::open_for_test(dir.path(), 3);
        s.put_login_code([1; 32], "u1", None, 100).await?;
        assert_eq!(s.take_login_code([1; 32], 50).await?, Some("u1".into()));
        assert_eq!(s.take_login_code([1; 32], 50).await?, None);
        s.put_login_code([2; 32], "u1", None, 100).await?;
        assert_eq!(s.take_login_code([2; 32], 100).await?, None);
        Ok(())
    }

    #[tokio::test]
    async fn sessions_expire_and_revoke() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let s = super::super::open_for_test(dir.path(), 3);
        s.put_login_code([1; 32], "u1", Some(r#"{"n":1}"#.into()), 100)
            .await?;
        let sess = s.create_session([9; 32], "u1", 10, 20).await?;
        assert_eq!(sess.userinfo, r#"{"n":1}"#);
        assert_eq!(s.session([9; 32], 19).await?.map(|x| x.id), Some(sess.id));
        assert_eq!(s.session([9; 32], 20).await?, None);
        assert!(s.revoke_session([9; 32]).await?.is_some());
        assert_eq!(s.session([9; 32], 11).await?, None);
        Ok(())
    }
}
