//! Who a native connection's `auth` frame says the client is: a user key registered by the
//! back end (CometServer's `users_auth`), an HS256 JWT, or a Wafer session key.
//!
//! Failed checks are limited per user (user keys are chosen by the back end and may be
//! guessable) and per client address (`--key-failures-per-*`), like password logins.
//!
//! An anonymous visitor's session key opens an anonymous connection: only a user the back end
//! knows is authorised for channel rules (`private_*`, `webauth_*`, `msg`), whatever session
//! the visitor holds. Either way a session-key connection is bound to its session and ends
//! with it.

use std::time::Instant;

use cometa_protocol::frames::{AuthRequest, Position};
use cometa_protocol::names;

use crate::auth::ratelimit::retry_after;
use crate::auth::visitor;
use crate::hub::SessionLink;
use crate::secret;
use crate::state::App;
use crate::unix_now;

pub struct Identity {
    pub user_id: Option<String>,
    pub device: String,
    pub since: Option<Position>,
    /// The session of a session-key login.
    pub session: Option<SessionLink>,
}

impl Identity {
    pub fn anonymous() -> Self {
        Self {
            user_id: None,
            device: String::new(),
            since: None,
            session: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("user_id and user_key do not match a registered key")]
    BadKey,
    #[error("invalid token: {0}")]
    BadToken(String),
    #[error("tokens are not enabled on this relay (no --jwt-secret)")]
    NoTokens,
    #[error("the session key is unknown, expired or revoked")]
    BadSkey,
    #[error("user_id {0}")]
    BadUserId(names::NameError),
    #[error("give user_id with user_key, or token, or skey")]
    Incomplete,
    #[error("the store failed")]
    Store(#[from] crate::store::StoreError),
    #[error("too many failed authentications; retry in {0} s")]
    TooManyFailures(u64),
}

/// Checks the credential of an `auth` frame from `addr` (a per-address limit key).
pub async fn authenticate(app: &App, req: &AuthRequest, addr: &str) -> Result<Identity, AuthError> {
    if req.user_id.is_none() && req.user_key.is_none() && req.token.is_none() && req.skey.is_none()
    {
        return Ok(Identity::anonymous());
    }
    let limits = &app.auth.key_limits;
    // Only a user key names its account before the check; tokens and session keys count
    // against the address alone.
    let account = req.user_key.as_ref().and(req.user_id.as_deref());
    let attempt = limits
        .begin(account, addr, Instant::now())
        .map_err(|wait| AuthError::TooManyFailures(retry_after(wait)))?;
    let result = check(app, req).await;
    match &result {
        Ok(_) => limits.succeeded(&attempt),
        // Not a guess: a malformed frame or the store failing.
        Err(
            AuthError::Store(_)
            | AuthError::Incomplete
            | AuthError::BadUserId(_)
            | AuthError::NoTokens,
        ) => limits.forgive(&attempt),
        Err(_) => {}
    }
    result
}

async fn check(app: &App, req: &AuthRequest) -> Result<Identity, AuthError> {
    let user = match (&req.user_id, &req.user_key, &req.token, &req.skey) {
        (Some(user), Some(key), None, None) => {
            names::check_user_id(user).map_err(AuthError::BadUserId)?;
            if !app.store.user_key_matches(user, secret::hash(key)).await? {
                return Err(AuthError::BadKey);
            }
            user.clone()
        }
        (None, None, Some(token), None) => {
            let secret = app
                .config
                .jwt_secret
                .as_deref()
                .ok_or(AuthError::NoTokens)?;
            let expect = crate::auth::jwt::Expect::from_config(&app.config);
            let claims =
                crate::auth::jwt::verify_expecting(secret.as_bytes(), token, unix_now(), expect)
                    .map_err(|e| AuthError::BadToken(e.to_string()))?;
            names::check_user_id(&claims.user_id).map_err(AuthError::BadUserId)?;
            claims.user_id
        }
        (None, None, None, Some(skey)) => {
            let session = app
                .store
                .session(secret::hash(skey), unix_now())
                .await?
                .ok_or(AuthError::BadSkey)?;
            let link = SessionLink {
                id: session.id,
                user_id: session.user_id.as_str().into(),
                expires_at: session.expires_at,
            };
            let user_id =
                (!session.user_id.starts_with(visitor::PREFIX)).then_some(session.user_id);
            return Ok(Identity {
                user_id,
                session: Some(link),
                ..Identity::anonymous()
            });
        }
        (None, None, None, None) => return Ok(Identity::anonymous()),
        _ => return Err(AuthError::Incomplete),
    };
    Ok(Identity {
        user_id: Some(user),
        ..Identity::anonymous()
    })
}

/// The client's persistent device id if it is well-formed, else a fresh one (returned in the
/// auth reply so the client keeps it).
pub fn device_id(given: Option<&str>) -> String {
    match given {
        Some(d)
            if (8..=64).contains(&d.len())
                && d.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            d.to_string()
        }
        _ => secret::generate_id(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids() {
        assert_eq!(device_id(Some("abcdef12-3456")), "abcdef12-3456");
        assert_ne!(device_id(Some("short")), "short");
        assert_ne!(device_id(Some("bad/chars/here")), "bad/chars/here");
        assert_eq!(device_id(None).len(), 24);
    }
}
