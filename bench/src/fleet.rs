//! N client sockets of one peer, one task each, sharing one [`Recorder`].
//!
//! Slot `i` belongs to user `users[i]` and binds source address `sources[i / PER_SOURCE]`.
//! A slot whose socket ended (a slow-consumer close, say) can be refilled with [`Fleet::fill`].
//! Dropping the fleet aborts every task, which closes every socket.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use futures_util::StreamExt;
use futures_util::stream;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use crate::client;
use crate::net::{self, PER_SOURCE};
use crate::recorder::Recorder;
use crate::target::Target;

/// Attempts per slot in [`Fleet::fill`].
const ATTEMPTS: usize = 3;

pub struct Fleet {
    target: Target,
    users: Vec<String>,
    sources: Vec<Ipv4Addr>,
    tasks: Vec<Option<JoinHandle<()>>>,
    pub recorder: Arc<Recorder>,
}

impl Fleet {
    /// A fleet on fresh source addresses.
    pub fn new(target: Target, users: Vec<String>) -> anyhow::Result<Self> {
        let sources = net::take_sources(users.len())?;
        Ok(Self::with_sources(target, users, sources))
    }

    /// A fleet on given source addresses (worker processes get theirs from the parent).
    pub fn with_sources(target: Target, users: Vec<String>, sources: Vec<Ipv4Addr>) -> Self {
        Self {
            tasks: users.iter().map(|_| None).collect(),
            target,
            users,
            sources,
            recorder: Arc::new(Recorder::default()),
        }
    }

    /// Swaps the HTTP client; dropping the old one closes its pooled keep-alive connections,
    /// so a memory reading of the server counts sockets only.
    pub fn set_http(&mut self, http: reqwest::Client) {
        self.target.http = http;
    }

    /// Slots with no live socket.
    pub fn missing(&self) -> Vec<usize> {
        (0..self.tasks.len())
            .filter(|&i| self.tasks[i].as_ref().is_none_or(JoinHandle::is_finished))
            .collect()
    }

    pub fn alive(&self) -> usize {
        self.tasks.len() - self.missing().len()
    }

    /// Session keys for `slots`, `concurrency` logins at a time; failed logins are left out.
    pub async fn login(&self, slots: &[usize], concurrency: usize) -> Vec<(usize, String)> {
        let target = &self.target;
        stream::iter(slots.iter().copied())
            .map(|i| async move { anyhow::Ok((i, target.login(&self.users[i]).await?)) })
            .buffer_unordered(concurrency.max(1))
            .filter_map(|r| async move { r.ok() })
            .collect()
            .await
    }

    /// Connect URLs (single-use tickets on the relay) for logged-in slots.
    pub async fn urls(
        &self,
        logins: Vec<(usize, String)>,
        concurrency: usize,
    ) -> Vec<(usize, String)> {
        let target = &self.target;
        stream::iter(logins)
            .map(|(i, skey)| async move {
                anyhow::Ok((i, target.ws_url(&self.users[i], &skey).await?))
            })
            .buffer_unordered(concurrency.max(1))
            .filter_map(|r| async move { r.ok() })
            .collect()
            .await
    }

    /// Logins and connect URLs for `slots`.
    pub async fn prepare(&self, slots: &[usize], concurrency: usize) -> Vec<(usize, String)> {
        let logins = self.login(slots, concurrency).await;
        self.urls(logins, concurrency).await
    }

    /// Opens the sockets of prepared slots, `concurrency` at a time; returns how many failed.
    pub async fn connect(
        &mut self,
        urls: Vec<(usize, String)>,
        concurrency: usize,
        timeout: Duration,
    ) -> usize {
        // One task per socket (not one future set) so handshakes use every core.
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut set = JoinSet::new();
        for (i, url) in urls {
            let (target, permits) = (self.target.clone(), permits.clone());
            let from = self.sources[i / PER_SOURCE];
            set.spawn(async move {
                let _permit = permits.acquire_owned().await;
                (i, client::open(&target, &url, from, timeout).await)
            });
        }
        let mut opened = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok(r) = r {
                opened.push(r);
            }
        }
        let mut failed = 0;
        for (i, conn) in opened {
            match conn {
                Ok(conn) => {
                    let rec = self.recorder.clone();
                    self.tasks[i] = Some(tokio::spawn(client::run(conn, rec)));
                }
                Err(e) => {
                    failed += 1;
                    if failed == 1 {
                        eprintln!("  {}: a connection failed: {e:#}", self.target.peer.name());
                    }
                }
            }
        }
        failed
    }

    /// Connects every missing slot, retrying a few times; fails if some stay missing.
    pub async fn fill(&mut self, concurrency: usize) -> anyhow::Result<()> {
        for _ in 0..ATTEMPTS {
            let missing = self.missing();
            if missing.is_empty() {
                return Ok(());
            }
            let urls = self.prepare(&missing, concurrency).await;
            self.connect(urls, concurrency, Duration::from_secs(20))
                .await;
        }
        let missing = self.missing().len();
        if missing > 0 {
            bail!(
                "{}: {missing} of {} connections could not be opened",
                self.target.peer.name(),
                self.tasks.len()
            );
        }
        Ok(())
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for t in self.tasks.iter().flatten() {
            t.abort();
        }
    }
}
