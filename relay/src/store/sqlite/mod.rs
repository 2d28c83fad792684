//! The embedded engine: one SQLite file in WAL mode, owned by one thread ([`writer`]).
//!
//! Files, bottom to top; a file imports only files below it (and the store's `types`,
//! `error` and traits):
//! 1. [`rows`]: integer columns, cursor-owner names, the user row; SQLite errors into
//!    `StoreError`.
//! 2. [`schema`]: the tables and the migrations of older data dirs.
//! 3. [`heads`]: each stream's next seq and epoch.
//! 4. [`cursors`]: cursor rows and the coalesced cursor writes.
//! 5. [`writer`]: the store thread, its bounded job queue and group commit.
//! 6. this file: [`SqliteStore`], opening a data dir.
//! 7. the traits' implementations, one file per noun: [`streams`] (append, reads, retention,
//!    positions), [`sessions`] (sessions, login codes), [`guests`] (visitors, demo users).
//! 8. [`accounts`] (profiles, keys, data, last seen; delete and merge, which use the stream
//!    files below), [`upkeep`] (retention settings, sweep, stats).
//! 9. [`upgrades`] (tests only): data dirs of earlier layouts opened through the traits.

mod accounts;
mod cursors;
mod guests;
mod heads;
mod rows;
mod schema;
mod sessions;
mod streams;
#[cfg(test)]
mod upgrades;
mod upkeep;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

use crate::config::Durability;
use crate::config::{DEFAULT_CHECKPOINT_PAGES, DEFAULT_STORE_QUEUE};
use crate::store::error::Result;
use crate::store::types::Retention;
use cursors::{CursorKey, PendingCursors};
use writer::Writer;

pub struct SqliteStore {
    writer: Writer,
    /// Of personal streams; a channel's comes with each append.
    retention: Retention,
    cursors: Arc<PendingCursors>,
    /// Salts the epochs of streams that never stored one (see [`heads::read_epoch`]).
    epoch_salt: Arc<str>,
}

/// How a data dir is opened: the relay's settings for its store.
#[derive(Clone, Copy, Debug)]
pub struct SqliteOptions {
    pub durability: Durability,
    /// Of personal streams.
    pub retention: Retention,
    /// Jobs waiting for the store thread at most (`--store-queue`).
    pub queue: usize,
    /// Cursor writes coalesced for up to this long (`--cursor-flush-ms`); zero writes them
    /// with every commit.
    pub cursor_flush: Duration,
    /// WAL pages after which a commit copies them into the database file
    /// (`--store-checkpoint-pages`).
    pub checkpoint_pages: u32,
}

impl SqliteOptions {
    /// Defaults of everything but what is given; cursors written with every commit.
    pub fn new(durability: Durability, retention: Retention) -> Self {
        Self {
            durability,
            retention,
            queue: DEFAULT_STORE_QUEUE,
            cursor_flush: Duration::ZERO,
            checkpoint_pages: DEFAULT_CHECKPOINT_PAGES,
        }
    }
}

impl SqliteStore {
    /// A store with [`SqliteOptions::new`].
    pub fn open(dir: &Path, durability: Durability, retention: Retention) -> Result<Self> {
        Self::open_with(dir, SqliteOptions::new(durability, retention))
    }

    pub fn open_with(dir: &Path, o: SqliteOptions) -> Result<Self> {
        crate::private_dir(dir)?;
        let path = dir.join("cometa.sqlite3");
        // SQLite gives the -wal and -shm files the mode of the database file.
        private_file(&path)?;
        let conn = Connection::open(&path)?;
        let sync = match o.durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON;
             PRAGMA wal_autocheckpoint={};",
            o.checkpoint_pages
        ))?;
        // A data dir from before this rule may hold them world-readable.
        for suffix in ["-wal", "-shm"] {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            private_file(Path::new(&side))?;
        }
        // Every hot statement is cached; the default 16 slots would evict them.
        conn.set_prepared_statement_cache_capacity(128);
        let epoch_salt = schema::create(&conn, o.retention)?.into();
        let cursors = Arc::new(PendingCursors::default());
        let writer = Writer::start(conn, o.queue, cursors.clone(), o.cursor_flush)?;
        Ok(Self {
            writer,
            retention: o.retention,
            cursors,
            epoch_salt,
        })
    }

    /// Records a cursor position; the store thread writes it with its next batch.
    fn record_cursor(&self, key: CursorKey, user_id: &str, seq: u64, epoch: Option<&str>) {
        if self.cursors.record(key, user_id, seq, epoch) {
            self.writer.wake();
        }
    }

    /// See [`Writer::call`].
    async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.writer.call(f).await
    }

    /// See [`Writer::call_then`].
    async fn call_then<T, R, F, C>(&self, f: F, then: C) -> Result<(T, R)>
    where
        T: Send + 'static,
        R: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        C: FnOnce(&T) -> R + Send + 'static,
    {
        self.writer.call_then(f, then).await
    }

    /// See [`Writer::fire`].
    fn fire<F>(&self, what: &'static str, f: F)
    where
        F: FnOnce(&Connection) -> rusqlite::Result<()> + Send + 'static,
    {
        self.writer.fire(what, f);
    }
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

/// A store for the engine's unit tests: personal streams keep `max_len` messages for 100 s.
#[cfg(test)]
fn open_for_test(dir: &Path, max_len: u64) -> SqliteStore {
    let r = Retention {
        max_len,
        max_age_secs: 100,
    };
    SqliteStore::open(dir, Durability::Normal, r).unwrap_or_else(|e| panic!("{e}"))
}
