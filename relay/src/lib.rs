//! Cometa relay: Wafer-compatible login, sessions and tunnels, and the back-end HTTP API.
//!
//! - [`config`]: flags, environment and TOML settings, validated into [`Config`].
//! - [`api`]: HTTP routes — `/weapp/*` for clients, `/api/v1/*` for the customer's back end.
//! - [`tunnel`]: Wafer tunnels (one task per socket from `/weapp/tunnel`'s `connectUrl`).
//! - [`native`]: native-dialect connections at `/connect`: auth, channels, history, presence.
//! - [`connection`]: the life of a connection in both dialects, written once: register →
//!   greet → replay → pump → unregister.
//! - [`conn`]: the socket both share: the writer with its stream positions and the pump loop.
//! - [`stream`]: personal streams and channels alike as a connection sees them: one replay,
//!   one position per stream, the personal stream's resume from a device's cursor.
//! - [`frames`]: every frame the relay writes, encoded once per [`frames::Dialect`].
//! - [`history`]: a stream's kept messages read back, in pages that fit a reply.
//! - [`hub`]: the registry of live connections and fan-out (encode once, share the bytes).
//! - [`expiry`]: closing a session's connections when it expires.
//! - [`outbox`]: each connection's bounded outgoing queue and close request.
//! - [`publish`]: storing a personal or channel message, then its fan-out.
//! - [`fanout`]: stored messages to live connections in commit order, through the [`hub`].
//! - [`presence`]: online/offline, `track_*` subscription/unsubscription, last seen.
//! - [`policy`]: per-channel-prefix retention.
//! - [`store`]: durable state behind one trait per noun — [`store::Streams`] (messages,
//!   heads, cursors; a personal stream is `msg:<user_id>`), [`store::Sessions`],
//!   [`store::Accounts`], [`store::Upkeep`] — and [`store::Store`], all four; the embedded
//!   engine is [`store::sqlite`] (one file per concern), the traits name no SQL.
//! - [`throttle`]: per-connection rate limits (inbound frames, client publishes).
//! - [`ticket`]: single-use tickets for `connectUrl`.
//! - [`webhook`]: signed tunnel events to the back end; [`dedup`]: client messages' idempotency
//!   keys, so a resent message reaches it once.
//! - [`cometql`]: CppComet's back-end API over the MySQL protocol (`--cometql-listen`).
//! - [`secret`], [`error`], [`state`]: secrets and hashing, the HTTP error type, shared state.
//! - [`drain`]: graceful shutdown, closes spread over `--drain-secs`.
//! - [`metrics`]: Prometheus metrics at `/metrics` (and on `--metrics-listen`).
//! - [`listener`]: the accept loop (header timeout, per-address cap); [`capacity`]: open
//!   sockets per address and in all.
//!
//! [`run`] serves on a bound listener until a shutdown future resolves, so tests bind port 0.

pub mod api;
pub mod auth;
pub mod capacity;
pub mod cometql;
pub mod config;
pub mod conn;
pub mod connection;
pub mod dedup;
pub mod drain;
pub mod error;
pub mod expiry;
pub mod fanout;
pub mod frames;
pub mod history;
pub mod hub;
pub mod listener;
pub mod metrics;
pub mod native;
pub mod outbox;
pub mod policy;
pub mod presence;
pub mod publish;
pub mod secret;
pub mod state;
pub mod store;
pub mod stream;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;
pub mod throttle;
pub mod ticket;
pub mod tunnel;
pub mod webhook;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;

pub use config::Config;
use state::{App, AppState};
use store::{Retention, Store, StoreError, sqlite::SqliteStore};

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read or write the API key file: {0}")]
    ApiKeyFile(std::io::Error),
    #[error("server: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Auth(#[from] auth::SetupError),
}

/// A relay with its store open, ready to serve.
pub struct Relay {
    app: App,
    /// Set when this start generated the API key (print it once).
    pub generated_api_key: Option<String>,
    cometql: Option<TcpListener>,
}

impl Relay {
    pub fn open(config: Config) -> Result<Self, RelayError> {
        private_dir(&config.data_dir).map_err(StoreError::Io)?;
        let (api_key, generated_api_key) = match &config.api_key {
            Some(k) => (k.clone(), None),
            None => load_or_generate_key(&config.data_dir)?,
        };
        let sqlite = Arc::new(SqliteStore::open_with(
            &config.data_dir,
            store::sqlite::SqliteOptions {
                durability: config.durability,
                retention: Retention {
                    max_len: config.queue_max_len,
                    max_age_secs: config.queue_max_age.as_secs(),
                },
                queue: config.store_queue,
                cursor_flush: config.cursor_flush,
                checkpoint_pages: config.store_checkpoint_pages,
            },
        )?);
        let store: Arc<dyn Store> = sqlite.clone();
        let accounts: Arc<dyn store::Accounts> = sqlite;
        let policy = policy::ChannelPolicy::new(
            Retention {
                max_len: config.channel_history_len,
                max_age_secs: config.channel_history_age.as_secs(),
            },
            Vec::new(),
        );
        let webhook = config.webhook_url.clone().map(|url| {
            webhook::Webhook::start(webhook::WebhookSettings {
                url,
                secret: config
                    .webhook_secret
                    .clone()
                    .unwrap_or_else(|| api_key.clone()),
                queue: config.webhook_queue,
                queue_bytes: config.webhook_queue_bytes,
                max_attempts: config.webhook_max_attempts,
                timeout: config.webhook_timeout,
            })
        });
        let auth = auth::Auth::open(
            &config,
            accounts,
            config.webhook_secret.as_deref().unwrap_or(&api_key),
        )?;
        let hub = Arc::new(hub::Hub::new(config.max_devices_per_user));
        let app = Arc::new(AppState {
            auth,
            fanout: fanout::Fanout::start(hub.clone()),
            dedup: dedup::Dedup::new(
                config.dedup_window,
                config.dedup_capacity,
                config.dedup_per_sender,
            ),
            hub,
            sockets: capacity::Sockets::new(config.max_connections),
            tickets: ticket::Tickets::new(config.ticket_ttl),
            config: Arc::new(config),
            api_key,
            store,
            policy,
            webhook,
            draining: std::sync::atomic::AtomicBool::new(false),
        });
        Ok(Self {
            app,
            generated_api_key,
            cometql: None,
        })
    }

    pub fn api_key(&self) -> &str {
        &self.app.api_key
    }

    /// The state the relay will serve with: lets tests and embedders look inside (the hub's
    /// tables) while it runs.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// Binds `--cometql-listen` before serving, so a caller on port 0 learns the address.
    pub async fn bind_cometql(&mut self) -> Result<Option<std::net::SocketAddr>, RelayError> {
        let Some(addr) = self.app.config.cometql_listen else {
            return Ok(None);
        };
        let l = TcpListener::bind(addr).await.map_err(RelayError::Serve)?;
        let local = l.local_addr().map_err(RelayError::Serve)?;
        self.cometql = Some(l);
        Ok(Some(local))
    }

    /// Serves until `shutdown` resolves, then drains: stops accepting, closes the connections
    /// with a reconnect-class code spread over `--drain-secs` (see [`drain`]), lets requests
    /// in flight and their store writes finish, and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), RelayError> {
        let app = self.app;
        for (prefix, r) in app.store.channel_settings().await? {
            app.policy.set(&prefix, r);
        }
        let cometql = cometql::Running::start(&app, self.cometql)
            .await
            .map_err(RelayError::Serve)?;
        let cometql_stop = cometql.stopper();
        let sweeper = tokio::spawn(sweep(app.clone()));
        let expiry = tokio::spawn(expiry::run(app.hub.clone()));
        let router = api::router(app.clone());
        let drain_app = app.clone();
        let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
        let per_address = capacity::PerAddress::new(app.config.max_connections_per_address);
        let timeouts = listener::Timeouts {
            header: app.config.http_header_timeout,
            request: app.config.http_request_timeout,
        };
        let metrics_server = match app.config.metrics_listen {
            Some(addr) => {
                let l = TcpListener::bind(addr).await.map_err(RelayError::Serve)?;
                tracing::info!(addr = %addr, "metrics served without a key");
                Some(tokio::spawn(listener::serve(
                    l,
                    api::metrics_router(app.clone()),
                    per_address.clone(),
                    timeouts,
                    std::future::pending(),
                )))
            }
            None => None,
        };
        listener::serve(listener, router, per_address, timeouts, async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = cometql_stop.send(true);
            // Runs beside the accept loop's own wind-down (requests in flight finishing).
            tokio::spawn(async move {
                let window = drain_app.config.drain;
                drain::drain(drain_app, window).await;
                let _ = drained_tx.send(());
            });
        })
        .await;
        sweeper.abort();
        expiry.abort();
        cometql.stopped().await;
        if let Some(m) = metrics_server {
            m.abort();
        }
        // The accept loop returns only after the shutdown began, so the drain is under way.
        let _ = drained_rx.await;
        // Give tunnel tasks a moment to send their close frames.
        let deadline = Instant::now() + Duration::from_secs(2);
        while app.hub.live() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A round trip through the store thread: every write queued before it (the last
        // cursors included) is committed when it answers.
        if let Err(e) = app.store.stats().await {
            tracing::warn!(error = %e, "store not flushed at shutdown");
        }
        Ok(())
    }
}

/// Opens the relay on `config` and serves on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RelayError> {
    Relay::open(config)?.serve(listener, shutdown).await
}

fn load_or_generate_key(dir: &std::path::Path) -> Result<(String, Option<String>), RelayError> {
    let path = dir.join("api-key");
    match std::fs::read_to_string(&path) {
        Ok(k) if !k.trim().is_empty() => return Ok((k.trim().to_string(), None)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(RelayError::ApiKeyFile(e)),
    }
    let key = secret::generate();
    write_private(&path, &key).map_err(RelayError::ApiKeyFile)?;
    Ok((key.clone(), Some(key)))
}

/// Creates the data dir (and missing parents) readable by the relay's user only; an existing
/// one keeps the mode its operator gave it.
pub(crate) fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

pub(crate) fn write_private(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(content.as_bytes())
}

async fn sweep(app: App) {
    let mut every = tokio::time::interval(app.config.sweep_interval);
    loop {
        every.tick().await;
        if let Err(e) = app.store.sweep(unix_now()).await {
            tracing::warn!(error = %e, "sweep failed");
        }
        app.tickets.sweep(Instant::now());
        if app.config.anonymous
            && let Err(e) = sweep_visitors(&app).await
        {
            tracing::warn!(error = %e, "visitor sweep failed");
        }
    }
}

/// Deletes visitors idle past `--visitor-idle-max-age-secs` — their user, sessions and
/// stream — unless one of their connections is live here.
async fn sweep_visitors(app: &App) -> Result<(), StoreError> {
    let cutoff = unix_now().saturating_sub(app.config.visitor_idle_max_age.as_secs());
    let idle = app
        .auth
        .accounts
        .idle_visitors(auth::visitor::PREFIX, cutoff, store::accounts::SWEEP_BATCH)
        .await?;
    if idle.is_empty() {
        return Ok(());
    }
    let live = app.hub.session_users();
    let mut swept = 0;
    for user in idle {
        if app.hub.devices(&user) > 0 || live.contains(user.as_str()) {
            continue;
        }
        swept += usize::from(app.auth.accounts.delete_user(&user).await?);
    }
    tracing::info!(swept, "idle visitors swept");
    Ok(())
}
