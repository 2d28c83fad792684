//! The store thread: it owns the connection, and every call becomes a job on it.
//!
//! The thread runs whatever jobs are waiting inside one transaction (each under its own
//! savepoint, so one failing job cannot leave half its writes in the others' commit) and
//! answers them only after the commit: a burst of API publishes costs one fsync, not one each
//! (group commit).
//!
//! The job queue is bounded (`--store-queue`). When it is full, a caller that waits for its
//! answer (every publish, read and account change) waits for room, so nothing it asked for is
//! lost; a write nobody waits for (last seen) is dropped with a warning and counted. Cursor
//! writes take no queue slot: they are coalesced ([`super::cursors`]) and written once per
//! `--cursor-flush-ms`, and before every job but an append (reads may need them; the last-seen
//! write at each disconnect writes a closed connection's receipts at once). Under a stream of
//! personal pushes each receipt used to cost its rows in every commit; now a cursor that moves
//! many times in the interval is written once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::cursors::PendingCursors;
use crate::store::error::{Result, StoreError};

/// A job runs on the store thread and returns whether it succeeded and what to do once its
/// transaction has committed.
type Job = Box<dyn FnOnce(&Connection) -> (bool, Completion) + Send>;
type Completion = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;

/// A job, and whether it must see every cursor recorded before it was sent. Only appends
/// need not: they read no cursor, and they are the jobs a busy relay runs most.
struct Queued {
    job: Job,
    sees_cursors: bool,
}

/// Jobs folded into one transaction at most; bounds the latency a burst adds to its first job.
const MAX_BATCH: usize = 512;

pub(super) struct Writer {
    jobs: mpsc::Sender<Queued>,
    /// Fire-and-forget writes dropped because the queue was full.
    dropped: AtomicU64,
}

impl Writer {
    /// Starts the store thread on `conn` with at most `queue` jobs waiting; it writes the
    /// cursors pending in `cursors` at most `flush` after the last time it wrote them, and
    /// before any job that may read them.
    pub(super) fn start(
        conn: Connection,
        queue: usize,
        cursors: Arc<PendingCursors>,
        flush: Duration,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Queued>(queue.max(1));
        // The thread's own clock for "the pending cursors are due", so it can wait for a job
        // or that deadline, whichever comes first.
        let clock = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        std::thread::Builder::new()
            .name("cometa-store".into())
            .spawn(move || run_jobs(conn, rx, &cursors, &clock, flush))?;
        Ok(Self {
            jobs: tx,
            dropped: AtomicU64::new(0),
        })
    }

    /// Wakes the thread, which may be idle, so that it writes the pending cursors when they
    /// are due. When the queue is full it is busy and sees them with its next batch anyway.
    pub(super) fn wake(&self) {
        let job: Job = Box::new(|_| (true, Box::new(|_| {})));
        let _ = self.jobs.try_send(Queued {
            job,
            sees_cursors: false,
        });
    }

    pub(super) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub(super) fn queued(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }

    pub(super) fn capacity(&self) -> usize {
        self.jobs.max_capacity()
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
        self.send_then(f, then, true).await
    }

    /// [`Self::call_then`] for an append, which reads no cursor: the cursors recorded before
    /// it may be written after it, in a later commit.
    pub(super) async fn append_then<T, R, F, C>(&self, f: F, then: C) -> Result<(T, R)>
    where
        T: Send + 'static,
        R: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        C: FnOnce(&T) -> R + Send + 'static,
    {
        self.send_then(f, then, false).await
    }

    async fn send_then<T, R, F, C>(&self, f: F, then: C, sees_cursors: bool) -> Result<(T, R)>
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
                    (Err(e), _) => Err(StoreError::from(e)),
                    (Ok(_), Err(e)) => Err(StoreError::Commit(e)),
                };
                let _ = tx.send(res);
            });
            (ok, complete)
        });
        // Waits for room when the queue is full: back pressure, never a lost publish.
        let queued = Queued { job, sees_cursors };
        self.jobs
            .send(queued)
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Queues `f` without waiting for it; failures are logged, and so is a write dropped
    /// because the queue is full. It writes the pending cursors first: the one such write,
    /// last seen, comes with every connect and disconnect, so a closed connection's last
    /// receipts do not wait for the interval.
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
        match self.jobs.try_send(Queued {
            job,
            sees_cursors: true,
        }) {
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

fn run_jobs(
    conn: Connection,
    mut rx: mpsc::Receiver<Queued>,
    cursors: &PendingCursors,
    clock: &tokio::runtime::Runtime,
    flush: Duration,
) {
    let mut flushed = Instant::now();
    loop {
        // Pending cursors are due `flush` after the last write of them: wait for a job until
        // then, and write them on their own if none comes.
        let due = (!cursors.is_empty())
            .then(|| flushed.checked_add(flush))
            .flatten()
            .map(tokio::time::Instant::from_std);
        let first = clock.block_on(async {
            match due {
                Some(due) => tokio::time::timeout_at(due, rx.recv()).await.ok(),
                None => Some(rx.recv().await),
            }
        });
        let mut batch = match first {
            Some(Some(first)) => vec![first],
            Some(None) => break,
            None => Vec::new(),
        };
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let write_cursors =
            batch.is_empty() || batch.iter().any(|q| q.sees_cursors) || flushed.elapsed() >= flush;
        if write_cursors && !cursors.is_empty() {
            flushed = Instant::now();
        }
        run_batch(&conn, batch, write_cursors.then_some(cursors));
    }
    // Shutting down: what the clients confirmed last is not left behind.
    if !cursors.is_empty() {
        run_batch(&conn, Vec::new(), Some(cursors));
    }
    tracing::debug!("store thread finished");
}

/// Runs `batch` in one transaction, first writing the pending `cursors` if given, and
/// answers its jobs after the commit.
fn run_batch(conn: &Connection, batch: Vec<Queued>, cursors: Option<&PendingCursors>) {
    let began = run_cached(conn, "BEGIN IMMEDIATE");
    // After the batch was received, so every cursor recorded before one of its jobs was
    // sent is written before that job runs.
    if let Some(cursors) = cursors.filter(|c| !c.is_empty()) {
        let _ = run_cached(conn, "SAVEPOINT job");
        let _ = match cursors.write_all(conn) {
            Ok(()) => run_cached(conn, "RELEASE job"),
            Err(e) => {
                tracing::warn!(error = %e, "cursor writes failed");
                conn.execute_batch("ROLLBACK TO job; RELEASE job")
            }
        };
    }
    let mut done = Vec::with_capacity(batch.len());
    for Queued { job, .. } in batch {
        let _ = run_cached(conn, "SAVEPOINT job");
        let (ok, complete) = job(conn);
        // A failed job tells its own caller; undo whatever it half did so the rest of
        // the batch commits clean.
        let _ = if ok {
            run_cached(conn, "RELEASE job")
        } else {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")
        };
        done.push(complete);
    }
    let committing = std::time::Instant::now();
    let commit = began.and_then(|_| run_cached(conn, "COMMIT")).map_err(|e| {
        tracing::error!(error = %e, "store commit failed");
        let _ = conn.execute_batch("ROLLBACK");
        e.to_string()
    });
    crate::metrics::store_committed(committing);
    for complete in done {
        complete(commit.clone());
    }
}

/// Runs one parameterless statement from the statement cache: the transaction statements
/// run for every job, and parsing them each time was a visible share of the store thread.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Holds the store thread in a job of its own until the returned sender sends: the jobs
/// sent meanwhile wait in the queue.
#[cfg(test)]
pub(super) fn hold(w: &Writer) -> anyhow::Result<std::sync::mpsc::Sender<()>> {
    use std::sync::mpsc as std_mpsc;
    let (started_tx, started_rx) = std_mpsc::channel();
    let (gate_tx, gate_rx) = std_mpsc::channel::<()>();
    w.fire("gate", move |_| {
        let _ = started_tx.send(());
        let _ = gate_rx.recv();
        Ok(())
    });
    started_rx.recv()?;
    Ok(gate_tx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    #[tokio::test]
    async fn a_failing_job_is_undone_and_the_rest_of_its_batch_commits() -> anyhow::Result<()> {
        use futures_util::FutureExt;
        let dir = tempfile::tempdir()?;
        let conn = Connection::open(dir.path().join("w.sqlite3"))?;
        conn.execute_batch("CREATE TABLE users (user_id TEXT PRIMARY KEY, userinfo TEXT)")?;
        let s = Writer::start(conn, 16, Arc::default(), Duration::ZERO)?;
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
}
