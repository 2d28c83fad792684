//! What every handler and tunnel task shares.

use std::sync::Arc;

use crate::config::Config;
use crate::hub::Hub;
use crate::policy::ChannelPolicy;
use crate::store::Store;
use crate::store::channels::Channels;
use crate::ticket::Tickets;
use crate::webhook::Webhook;

pub struct AppState {
    pub config: Arc<Config>,
    pub api_key: String,
    pub store: Arc<dyn Store>,
    pub channels: Arc<dyn Channels>,
    pub policy: ChannelPolicy,
    pub hub: Hub,
    /// Upgraded sockets, counted against `--max-connections` from the upgrade on.
    pub sockets: crate::capacity::Sockets,
    pub tickets: Tickets,
    pub webhook: Option<Webhook>,
    pub fanout: crate::publish::Fanout,
    /// Accounts, password limits, visitors and delegated auth (`crate::auth`).
    pub auth: crate::auth::Auth,
}

pub type App = Arc<AppState>;
