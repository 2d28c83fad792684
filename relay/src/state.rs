//! What every handler and tunnel task shares.

use std::sync::Arc;

use crate::config::Config;
use crate::hub::Hub;
use crate::store::Store;
use crate::ticket::Tickets;
use crate::webhook::Webhook;

pub struct AppState {
    pub config: Arc<Config>,
    pub api_key: String,
    pub store: Arc<dyn Store>,
    pub hub: Hub,
    pub tickets: Tickets,
    pub webhook: Option<Webhook>,
}

pub type App = Arc<AppState>;
