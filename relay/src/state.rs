//! What every handler and tunnel task shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::Config;
use crate::hub::Hub;
use crate::policy::ChannelPolicy;
use crate::store::Store;
use crate::ticket::Tickets;
use crate::webhook::Webhook;

pub struct AppState {
    pub config: Arc<Config>,
    pub api_key: String,
    pub store: Arc<dyn Store>,
    pub policy: ChannelPolicy,
    pub hub: Arc<Hub>,
    /// Upgraded sockets, counted against `--max-connections` from the upgrade on.
    pub sockets: crate::capacity::Sockets,
    pub tickets: Tickets,
    pub webhook: Option<Webhook>,
    /// Idempotency keys of client messages already handed to the webhook.
    pub dedup: crate::dedup::Dedup,
    pub fanout: crate::fanout::Fanout,
    /// Accounts, password limits, visitors and delegated auth (`crate::auth`).
    pub auth: crate::auth::Auth,
    /// Set once shutdown began: the relay takes no new work and is closing its connections.
    pub draining: AtomicBool,
}

impl AppState {
    /// True from the shutdown signal on (`/readyz` answers 503 then).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

pub type App = Arc<AppState>;
