//! The embedded store: one SQLite file in WAL mode, owned by one thread.
//!
//! Every call becomes a job on that thread. The thread runs whatever jobs are waiting inside
//! one transaction (each under its own savepoint, so one failing job cannot leave half its
//! writes in the others' commit) and answers them only after the commit: a burst of API
//! publishes costs one fsync, not one each (group commit).
//!
//! The job queue is bounded (`--store-queue`). When it is full, a caller that waits for its
//! answer (every publish, read and account change) waits for room, so nothing it asked for is
//! lost; a write nobody waits for (last seen) is dropped with a warning and counted. Cursor
//! writes take no queue slot: they are coalesced ([`super::cursors`]).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use super::channels::StreamId;
use super::cursors::{CursorKey, PendingCursors};
use super::streams;
use super::{
    AfterCommit, NewMessage, Result, Retention, SecretHash, Session, Store, StoreError, StoreStats,
    StreamMessage,
};
use crate::config::Durability;

/// A job runs on the store thread and returns whether it succeeded and what to do once its
/// transaction has committed.
type Job = Box<dyn FnOnce(&Connection) -> (bool, Completion) + Send>;
type Completion = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;

/// Jobs folded into one transaction at most; bounds the latency a burst adds to its first job.
const MAX_BATCH: usize = 512;

pub use crate::config::DEFAULT_STORE_QUEUE as DEFAULT_QUEUE;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    user_id       TEXT PRIMARY KEY,
    userinfo      TEXT NOT NULL,
    next_seq      INTEGER NOT NULL DEFAULT 1,
    delivered_seq INTEGER NOT NULL DEFAULT 0,
    last_seen     INTEGER
);
CREATE TABLE IF NOT EXISTS login_codes (
    code_hash  BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id         INTEGER PRIMARY KEY,
    key_hash   BLOB NOT NULL UNIQUE,
    user_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user_id);
";

pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
    retention: Retention,
    cursors: Arc<PendingCursors>,
    /// Fire-and-forget writes dropped because the queue was full.
    dropped: AtomicU64,
    /// See [`super::guests::epoch_salt`].
    pub(super) epoch_salt: Arc<str>,
}

impl SqliteStore {
    pub fn open(dir: &Path, durability: Durability, retention: Retention) -> Result<Self> {
        Self::open_with_queue(dir, durability, retention, DEFAULT_QUEUE)
    }

    /// [`Self::open`] with at most `queue` jobs waiting for the store thread.
    pub fn open_with_queue(
        dir: &Path,
        durability: Durability,
        retention: Retention,
        queue: usize,
    ) -> Result<Self> {
        crate::private_dir(dir)?;
        let path = dir.join("cometa.sqlite3");
        // SQLite gives the -wal and -shm files the mode of the database file.
        private_file(&path)?;
        let conn = Connection::open(&path)?;
        let sync = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON;"
        ))?;
        // A data dir from before this rule may hold them world-readable.
        for suffix in ["-wal", "-shm"] {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            private_file(Path::new(&side))?;
        }
        // Every hot statement is cached; the default 16 slots would evict them.
        conn.set_prepared_statement_cache_capacity(128);
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(super::channels::SCHEMA)?;
        conn.execute_batch(super::accounts::SCHEMA)?;
        conn.execute_batch(super::streams::SCHEMA)?;
        super::streams::migrate(&conn, retention)?;
        conn.execute_batch(super::guests::SCHEMA)?;
        let epoch_salt = super::guests::epoch_salt(&conn)?.into();
        let (tx, rx) = mpsc::channel::<Job>(queue.max(1));
        let cursors = Arc::new(PendingCursors::default());
        let pending = cursors.clone();
        std::thread::Builder::new()
            .name("cometa-store".into())
            .spawn(move || run_jobs(conn, rx, &pending))?;
        Ok(Self {
            jobs: tx,
            retention,
            cursors,
            dropped: AtomicU64::new(0),
            epoch_salt,
        })
    }

    /// Records a cursor position; the store thread writes it with its next batch.
    pub(super) fn record_cursor(
        &self,
        key: CursorKey,
        user_id: &str,
        seq: u64,
        epoch: Option<&str>,
    ) {
        if self.cursors.record(key, user_id, seq, epoch) {
            // The thread may be idle: an empty job wakes it. When the queue is full it is
            // busy and writes the cursor with its next batch anyway.
            let wake: Job = Box::new(|_| (true, Box::new(|_| {})));
            let _ = self.jobs.try_send(wake);
        }
    }

    /// Runs `f` on the store thread and waits until its transaction has committed.
    pub(super) async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        Ok(self.call_then(f, |_| ()).await?.0)
    }

    /// Like [`Self::call`], and runs `then` on the store thread right after the commit, in
    /// commit order. Publishes fan out from there: seqs reach the hub in the order they were
    /// assigned without any lock held across the (fsync-long) commit, so one stream's
    /// publishes share a commit instead of queueing behind each other's.
    pub(super) async fn call_then<T, R, F, C>(&self, f: F, then: C) -> Result<(T, R)>
    where
        T: Send + 'static,
        R: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        C: FnOnce(&T) -> R + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let out = f(conn);
            let ok = out.is_ok();
            let complete: Completion = Box::new(move |commit| {
                let res = match (out, commit) {
                    (Ok(v), Ok(())) => {
                        let r = then(&v);
                        Ok((v, r))
                    }
                    (Err(e), _) => Err(StoreError::Db(e)),
                    (Ok(_), Err(e)) => Err(StoreError::Commit(e)),
                };
                let _ = tx.send(res);
            });
            (ok, complete)
        });
        // Waits for room when the queue is full: back pressure, never a lost publish.
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Queues `f` without waiting for it; failures are logged, and so is a write dropped
    /// because the queue is full.
    pub(super) fn fire<F>(&self, what: &'static str, f: F)
    where
        F: FnOnce(&Connection) -> rusqlite::Result<()> + Send + 'static,
    {
        let job: Job = Box::new(move |conn| {
            let res = f(conn);
            if let Err(e) = &res {
                tracing::warn!(error = %e, what, "store write failed");
            }
            (res.is_ok(), Box::new(|_| {}))
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(what, "store queue full; write dropped");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::warn!(what, "store is shut down; write dropped");
            }
        }
    }
}

fn run_jobs(conn: Connection, mut rx: mpsc::Receiver<Job>, cursors: &PendingCursors) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let began = run_cached(&conn, "BEGIN IMMEDIATE");
        // After the batch was received, so every cursor recorded before one of its jobs was
        // sent is written before that job runs.
        if !cursors.is_empty() {
            let _ = run_cached(&conn, "SAVEPOINT job");
            let _ = match cursors.write_all(&conn) {
                Ok(()) => run_cached(&conn, "RELEASE job"),
                Err(e) => {
                    tracing::warn!(error = %e, "cursor writes failed");
                    conn.execute_batch("ROLLBACK TO job; RELEASE job")
                }
            };
        }
        let mut done = Vec::with_capacity(batch.len());
        for job in batch {
            let _ = run_cached(&conn, "SAVEPOINT job");
            let (ok, complete) = job(&conn);
            // A failed job tells its own caller; undo whatever it half did so the rest of
            // the batch commits clean.
            let _ = if ok {
                run_cached(&conn, "RELEASE job")
            } else {
                conn.execute_batch("ROLLBACK TO job; RELEASE job")
            };
            done.push(complete);
        }
        let committing = std::time::Instant::now();
        let commit = began
            .and_then(|_| run_cached(&conn, "COMMIT"))
            .map_err(|e| {
                tracing::error!(error = %e, "store commit failed");
                let _ = conn.execute_batch("ROLLBACK");
                e.to_string()
            });
        crate::metrics::store_committed(committing);
        for complete in done {
            complete(commit.clone());
        }
    }
    tracing::debug!("store thread finished");
}

/// Makes `path` readable by the relay's user only, creating it empty if missing: it holds
/// every user's messages and session hashes.
fn private_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Raises the user's "delivered to some device" mark; every delivery to a device does this.
/// The highest seq any device of the user confirmed: where a device with no cursor starts.
pub(super) fn delivered(c: &Connection, user_id: &str) -> rusqlite::Result<u64> {
    let any: Option<i64> = c
        .prepare_cached("SELECT delivered_seq FROM users WHERE user_id = ?1")?
        .query_row(params![user_id], |r| r.get(0))
        .optional()?;
    Ok(any.map_or(0, to_u64))
}

pub(super) fn raise_delivered(c: &Connection, user_id: &str, seq: i64) -> rusqlite::Result<()> {
    c.prepare_cached("UPDATE users SET delivered_seq = max(delivered_seq, ?2) WHERE user_id = ?1")?
        .execute(params![user_id, seq])
        .map(|_| ())
}

/// Runs one parameterless statement from the statement cache: the transaction statements
/// run for every job, and parsing them each time was a visible share of the store thread.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

pub(super) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn default_userinfo(user_id: &str) -> String {
    serde_json::json!({ "user_id": user_id }).to_string()
}

fn ensure_user(conn: &Connection, user_id: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO users (user_id, userinfo) VALUES (?1, ?2) ON CONFLICT(user_id) DO NOTHING",
    )?
    .execute(params![user_id, default_userinfo(user_id)])?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
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

    async fn append(
        &self,
        stream: StreamId<'_>,
        m: NewMessage,
        then: AfterCommit,
    ) -> Result<(u64, usize)> {
        let (personal, name) = match stream {
            StreamId::Personal(u) => (true, u.to_string()),
            StreamId::Channel(c) => (false, c.to_string()),
        };
        let retention = m.retention.unwrap_or(self.retention);
        self.call_then(
            move |c| {
                let (key, seq) = if personal {
                    ensure_user(c, &name)?;
                    let seq: i64 = c
                        .prepare_cached(
                            "UPDATE users SET next_seq = next_seq + 1 WHERE user_id = ?1
                             RETURNING next_seq - 1",
                        )?
                        .query_row(params![name], |r| r.get(0))?;
                    (streams::personal(&name), seq)
                } else {
                    c.prepare_cached(
                        "INSERT INTO channels (name) VALUES (?1) ON CONFLICT DO NOTHING",
                    )?
                    .execute(params![name])?;
                    let seq: i64 = c
                        .prepare_cached(
                            "UPDATE channels SET next_seq = next_seq + 1 WHERE name = ?1
                             RETURNING next_seq - 1",
                        )?
                        .query_row(params![name], |r| r.get(0))?;
                    (name, seq)
                };
                let row = streams::Append {
                    stream: &key,
                    seq,
                    event: &m.event,
                    data: &m.data,
                    user_id: m.sender.as_deref(),
                    created_at: m.now,
                };
                streams::append(c, &row, retention)?;
                Ok(to_u64(seq))
            },
            move |seq| then(*seq),
        )
        .await
    }

    async fn after(
        &self,
        stream: StreamId<'_>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StreamMessage>> {
        let key = streams::key(stream);
        self.call(move |c| streams::after(c, &key, after, limit))
            .await
    }

    async fn before(
        &self,
        stream: StreamId<'_>,
        before: u64,
        limit: usize,
    ) -> Result<Vec<StreamMessage>> {
        let key = streams::key(stream);
        self.call(move |c| streams::before(c, &key, before, limit))
            .await
    }

    async fn resume_point(&self, session_id: i64, user_id: &str) -> Result<u64> {
        let user_id = user_id.to_string();
        self.call(move |c| {
            let (stream, owner) = (
                streams::personal(&user_id),
                streams::session_owner(session_id),
            );
            if let Some(seq) = streams::cursor(c, &stream, &owner)? {
                return Ok(seq);
            }
            let start = delivered(c, &user_id)?;
            // A live session's device owns its position from its first connection: what it
            // is sent but never confirms comes again, even once another device confirmed it.
            let live: bool = c
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1)")?
                .query_row(params![session_id], |r| r.get(0))?;
            if live {
                streams::claim_cursor(c, &stream, &owner, start)?;
            }
            Ok(start)
        })
        .await
    }

    fn advance_cursor(&self, session_id: i64, user_id: &str, seq: u64, epoch: Option<&str>) {
        self.record_cursor(CursorKey::Session(session_id), user_id, seq, epoch);
    }

    async fn stats(&self) -> Result<StoreStats> {
        // A round trip first, so every write recorded before this call is counted.
        self.call(|_| Ok(())).await?;
        Ok(StoreStats {
            cursor_writes: self.cursors.writes(),
            dropped_writes: self.dropped.load(Ordering::Relaxed),
            queued_jobs: self.jobs.max_capacity() - self.jobs.capacity(),
            queue_capacity: self.jobs.max_capacity(),
        })
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

    async fn sweep(&self, now: u64) -> Result<()> {
        self.call(move |c| {
            streams::sweep(c, now)?;
            let now = to_i64(now);
            c.execute(
                "DELETE FROM login_codes WHERE expires_at <= ?1",
                params![now],
            )?;
            c.execute(
                "DELETE FROM stream_cursors WHERE owner IN
                 (SELECT 'session:' || id FROM sessions WHERE expires_at <= ?1)",
                params![now],
            )?;
            c.execute("DELETE FROM sessions WHERE expires_at <= ?1", params![now])?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc as std_mpsc;

    fn open(dir: &Path) -> SqliteStore {
        SqliteStore::open(
            dir,
            Durability::Normal,
            Retention {
                max_len: 3,
                max_age_secs: 100,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Holds the store thread in a job of its own until the returned sender sends: the jobs
    /// sent meanwhile wait in the queue.
    fn hold(s: &SqliteStore) -> anyhow::Result<std_mpsc::Sender<()>> {
        let (started_tx, started_rx) = std_mpsc::channel();
        let (gate_tx, gate_rx) = std_mpsc::channel::<()>();
        s.fire("gate", move |_| {
            let _ = started_tx.send(());
            let _ = gate_rx.recv();
            Ok(())
        });
        started_rx.recv()?;
        Ok(gate_tx)
    }

    #[tokio::test]
    async fn login_code_is_single_use_and_expires() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let s = open(dir.path());
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
        let s = open(dir.path());
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

    #[tokio::test]
    async fn personal_stream_order_retention_and_cursors() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let s = open(dir.path());
        for i in 1..=5u64 {
            assert_eq!(
                crate::store::append_personal(&s, "u", "e", &i.to_string(), 10).await?,
                i
            );
        }
        let kept: Vec<u64> = s
            .after(StreamId::Personal("u"), 0, 10)
            .await?
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(kept, vec![3, 4, 5], "max_len 3 keeps the newest three");
        assert_eq!(s.resume_point(1, "u").await?, 0);
        s.advance_cursor(1, "u", 4, None);
        assert_eq!(s.resume_point(1, "u").await?, 4);
        assert_eq!(
            s.resume_point(2, "u").await?,
            4,
            "a new device starts after what any got"
        );
        s.advance_cursor(1, "u", 2, None);
        assert_eq!(s.resume_point(1, "u").await?, 4, "cursors never go back");
        s.sweep(200).await?;
        assert!(s.after(StreamId::Personal("u"), 0, 10).await?.is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn a_failing_job_is_undone_and_the_rest_of_its_batch_commits() -> anyhow::Result<()> {
        use futures_util::FutureExt;
        let dir = tempfile::tempdir()?;
        let s = open(dir.path());
        // Hold the store thread so the next two queue up as one batch.
        let gate_tx = hold(&s)?;
        let add = |user: &'static str, fail: bool| {
            s.call(move |c| {
                c.execute(
                    "INSERT INTO users (user_id, userinfo) VALUES (?1, '{}')",
                    params![user],
                )?;
                if fail {
                    c.execute("INSERT INTO no_such_table VALUES (1)", [])?;
                }
                Ok(())
            })
        };
        let mut failing = Box::pin(add("half-done", true));
        let mut fine = Box::pin(add("whole", false));
        // One poll each sends both jobs while the store thread is still held.
        assert!(failing.as_mut().now_or_never().is_none());
        assert!(fine.as_mut().now_or_never().is_none());
        gate_tx.send(())?;
        assert!(failing.await.is_err());
        fine.await?;
        let users = || {
            s.call(|c| {
                c.prepare("SELECT user_id FROM users ORDER BY user_id")?
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
        };
        assert_eq!(users().await?, vec!["whole".to_string()]);
        // The cached transaction statements still work after a rollback.
        add("later", false).await?;
        assert_eq!(
            users().await?,
            vec!["later".to_string(), "whole".to_string()]
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_full_queue_makes_callers_wait_and_drops_only_unawaited_writes() -> anyhow::Result<()>
    {
        use futures_util::FutureExt;
        let dir = tempfile::tempdir()?;
        let r = Retention {
            max_len: 10,
            max_age_secs: 100,
        };
        let s = SqliteStore::open_with_queue(dir.path(), Durability::Normal, r, 2)?;
        let gate_tx = hold(&s)?;
        s.touch_last_seen("a", 1);
        s.touch_last_seen("b", 1);
        s.touch_last_seen("c", 1);
        let mut publish = Box::pin(crate::store::append_personal(&s, "u", "e", "1", 1));
        assert!(publish.as_mut().now_or_never().is_none(), "waits for room");
        for seq in 1..=3 {
            s.advance_cursor(1, "u", seq, None);
        }
        gate_tx.send(())?;
        assert_eq!(publish.await?, 1, "a publish is never dropped");
        let stats = s.stats().await?;
        assert_eq!(stats.dropped_writes, 1, "the third last-seen write");
        assert_eq!(stats.cursor_writes, 1, "three positions, one write");
        assert_eq!(s.resume_point(1, "u").await?, 3);
        assert_eq!(s.last_seen("b").await?, Some(1));
        assert_eq!(s.last_seen("c").await?, None);
        Ok(())
    }

    #[tokio::test]
    async fn data_survives_reopen() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        {
            let s = open(dir.path());
            crate::store::append_personal(&s, "u", "e", "{}", 10).await?;
        }
        let s = open(dir.path());
        assert_eq!(
            crate::store::append_personal(&s, "u", "e", "{}", 10).await?,
            2
        );
        Ok(())
    }
}
