//! Identities nobody registered: anonymous visitors, swept once idle, and demo-mode users,
//! which must never take over a user the back end created.

use rusqlite::{Connection, params};

use super::rows::to_i64;

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

#[cfg(test)]
mod tests {
    use crate::store::accounts::Accounts;
    use crate::store::sessions::Sessions;

    #[tokio::test]
    async fn idle_visitors_and_demo_users() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let s = super::super::open_for_test(dir.path(), 3);
        s.touch_last_seen("v:old", 10);
        s.touch_last_seen("v:new", 50);
        s.touch_last_seen("w:other", 10);
        s.create_session([1; 32], "v:busy", 40, 100).await?;
        assert_eq!(
            s.idle_visitors("v:", 30, 10).await?,
            vec!["v:old".to_string()]
        );
        assert!(
            s.claim_demo_user("demo").await?,
            "a new id becomes a demo user"
        );
        assert!(s.claim_demo_user("demo").await?, "and stays one");
        assert!(
            !s.claim_demo_user("v:old").await?,
            "never a user the relay made"
        );
        Ok(())
    }
}
