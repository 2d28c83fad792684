//! Every way a page's user gets a session, besides the login codes of the back-end API.
//!
//! - [`jwt`]: HS256 tokens minted by the site's back end (`Authorization: Bearer`).
//! - [`password`]: Argon2id hashes of passwords set through the users API (`Basic` login),
//!   computed a bounded number at a time.
//! - [`ratelimit`]: limits on failed password logins and native-dialect key checks, per
//!   account and per address.
//! - [`visitor`]: anonymous visitors kept in a signed cookie.
//! - [`delegated`]: asking the site's own server who a login request is.
//!
//! [`Auth`] holds what these need at run time; the HTTP side is `api::login`.

pub mod delegated;
pub mod jwt;
pub mod password;
pub mod ratelimit;
pub mod visitor;

use std::sync::Arc;

use crate::config::Config;
use crate::store::{Accounts, SessionTtl};

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read or write the visitor key file: {0}")]
    VisitorKey(std::io::Error),
    #[error("cannot build the client of the verification URL: {0}")]
    VerifyClient(reqwest::Error),
}

pub struct Auth {
    pub accounts: Arc<dyn Accounts>,
    pub limits: ratelimit::LoginLimits,
    /// Failed `auth` frames on native connections (user keys, tokens, session keys).
    pub key_limits: ratelimit::LoginLimits,
    pub hasher: password::Hasher,
    /// Present when anonymous visitors are enabled.
    pub visitors: Option<visitor::Visitors>,
    /// Present when a verification URL is configured.
    pub delegated: Option<delegated::Delegated>,
    pub ttl: SessionTtl,
    /// Anonymous logins per client address (each one stores a visitor and a session).
    pub visitor_logins: ratelimit::Window,
}

impl Auth {
    /// `signing_secret` signs requests to the verification URL (the webhook secret).
    pub fn open(
        config: &Config,
        accounts: Arc<dyn Accounts>,
        signing_secret: &str,
    ) -> Result<Self, SetupError> {
        let visitors = if config.anonymous {
            Some(
                visitor::Visitors::open(&config.data_dir, config.visitor_cookie_max_age.as_secs())
                    .map_err(SetupError::VisitorKey)?,
            )
        } else {
            None
        };
        let delegated = match &config.auth_verify_url {
            Some(url) => Some(
                delegated::Delegated::new(
                    url.clone(),
                    config.auth_verify_headers.clone(),
                    config.auth_verify_timeout,
                    signing_secret.to_string(),
                )
                .map_err(SetupError::VerifyClient)?,
            ),
            None => None,
        };
        let window = config.login_failure_window;
        Ok(Self {
            accounts,
            limits: ratelimit::LoginLimits {
                per_account: ratelimit::Window::new(config.login_failures_per_account, window),
                per_address: ratelimit::Window::new(config.login_failures_per_address, window),
            },
            key_limits: ratelimit::LoginLimits {
                per_account: ratelimit::Window::new(config.key_failures_per_user, window),
                per_address: ratelimit::Window::new(config.key_failures_per_address, window),
            },
            hasher: password::Hasher::new(config.hash_concurrency, config.hash_wait),
            visitors,
            delegated,
            ttl: SessionTtl {
                remembered: config.session_ttl.as_secs(),
                short: config.session_ttl_short.as_secs(),
            },
            visitor_logins: ratelimit::Window::new(
                config.anonymous_logins_per_address,
                config.anonymous_login_window,
            ),
        })
    }
}
