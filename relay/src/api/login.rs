//! `/weapp/login` and `/weapp/refresh`: every way to get a session, answered in Wafer's shape
//! `{"code":0,"data":{"skey","userinfo","time","expires_at","remember"}}`.
//!
//! Which credential wins, in order: `Authorization: Basic` (password), `Authorization: Bearer`
//! (JWT), a JSON body with `username`/`password`, `X-WX-Code` (a login code; when it is not
//! one and delegated auth is on, the site's verification URL decides), the delegated headers
//! alone, and finally — with `--anonymous` and no credential at all — the visitor cookie.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header as h};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use cometa_protocol::api::{ErrorBody, LoginData, WaferOk};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::extract::header;
use crate::auth::delegated::DelegatedError;
use crate::auth::ratelimit::{address_key, retry_after};
use crate::auth::{jwt, password, visitor};
use crate::error::ApiError;
use crate::secret;
use crate::state::App;
use crate::store::StoreError;
use crate::store::{ProfilePatch, SessionOptions, WriteMode};
use crate::unix_now;

const MISSING: &str = "no credentials: send X-WX-Code (a login code from POST \
     /api/v1/login-codes), Authorization: Basic (username:password) or Bearer (a JWT)";
/// One message for every password failure, so answers do not tell which usernames exist.
const BAD_PASSWORD: &str = "wrong username or password";

/// A refused login: Wafer's `-1`, or 429 with `Retry-After`.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("too many failed logins; retry in {0} s")]
    TooManyAttempts(u64),
    #[error("too many logins in progress; retry in {0} s")]
    Busy(u64),
    #[error("too many anonymous logins from this address; retry in {0} s")]
    TooManyVisitors(u64),
}

impl From<StoreError> for LoginError {
    fn from(e: StoreError) -> Self {
        Self::Api(e.into())
    }
}

impl IntoResponse for LoginError {
    fn into_response(self) -> Response {
        match self {
            Self::Api(e) => e.into_response(),
            Self::TooManyAttempts(secs) | Self::TooManyVisitors(secs) => {
                let body = ErrorBody {
                    code: 429,
                    error: "ERR_TOO_MANY_ATTEMPTS".into(),
                    message: self.to_string(),
                };
                tracing::info!(retry_after = secs, reason = %body.message, "login refused");
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(h::RETRY_AFTER, secs.to_string())],
                    Json(body),
                )
                    .into_response()
            }
            Self::Busy(secs) => {
                let body = ErrorBody {
                    code: 503,
                    error: "ERR_BUSY".into(),
                    message: Self::Busy(secs).to_string(),
                };
                tracing::info!("login refused: every password hasher is busy");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(h::RETRY_AFTER, secs.to_string())],
                    Json(body),
                )
                    .into_response()
            }
        }
    }
}

/// The client's address as the per-address limits key it (IPv6 by its /64): the socket
/// peer, or with `--trust-forwarded-for` the last `X-Forwarded-For` entry (the one our own
/// proxy appended; earlier ones are client-supplied).
pub struct ClientAddr(pub String);

impl FromRequestParts<App> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        if app.config.trust_forwarded_for
            && let Some(last) = header(&parts.headers, "x-forwarded-for")
                .and_then(|v| v.rsplit(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        {
            return Ok(Self(match last.parse::<IpAddr>() {
                Ok(ip) => address_key(ip).to_string(),
                Err(_) => last.to_string(),
            }));
        }
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        Ok(Self(peer.map_or_else(
            || "unknown".to_string(),
            |ConnectInfo(a)| address_key(a.ip()).to_string(),
        )))
    }
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    remember: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct LoginBody {
    username: Option<String>,
    password: Option<String>,
    remember_me: Option<bool>,
}

/// Who a login proved to be, before the session is made.
struct Grant {
    user_id: String,
    /// A hard end for the session (the JWT's `exp`).
    not_after: Option<u64>,
    /// The site's profile (delegated auth), replacing the stored free-form userinfo.
    userinfo: Option<Map<String, Value>>,
    set_cookie: Option<HeaderValue>,
}

impl Grant {
    fn user(user_id: String) -> Self {
        Self {
            user_id,
            not_after: None,
            userinfo: None,
            set_cookie: None,
        }
    }
}

pub async fn login(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Query(q): Query<LoginQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, LoginError> {
    let body: LoginBody = if body.iter().all(u8::is_ascii_whitespace) {
        LoginBody::default()
    } else {
        super::extract::check_depth(&app, &body)?;
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?
    };
    let remember = remember(&headers, &q, &body);
    let now = unix_now();
    let method = http_login_method(
        &app,
        &headers,
        body.username.is_some() && body.password.is_some(),
    );
    let grant = authenticate(&app, &addr, &headers, body, now).await;
    crate::metrics::login(
        method,
        match &grant {
            Ok(_) => "ok",
            Err(LoginError::TooManyAttempts(_)) => "limited",
            Err(_) => "failed",
        },
    );
    let grant = grant?;
    if let Some(info) = grant.userinfo.clone() {
        let patch = ProfilePatch {
            userinfo: Some(info),
            ..ProfilePatch::default()
        };
        app.auth
            .accounts
            .write_profile(&grant.user_id, patch, WriteMode::Upsert, now)
            .await?;
    }
    let mut expires_at = now.saturating_add(app.auth.ttl.for_session(remember));
    if let Some(end) = grant.not_after {
        expires_at = expires_at.min(end);
    }
    let skey = secret::generate();
    let session = app
        .store
        .create_session(secret::hash(&skey), &grant.user_id, now, expires_at)
        .await?;
    // Only what differs from the default (remembered, no hard end) costs a write.
    if !remember || grant.not_after.is_some() {
        let opts = SessionOptions {
            remember,
            not_after: grant.not_after,
        };
        app.store.set_session_options(session.id, opts).await?;
    }
    tracing::info!(user = %grant.user_id, remember, "login");
    let mut res = answer(skey, &session.userinfo, now, expires_at, remember);
    if let Some(cookie) = grant.set_cookie {
        res.headers_mut().insert(h::SET_COOKIE, cookie);
    }
    Ok(res)
}

/// `POST /weapp/refresh` with `X-WX-Skey`: a new key and expiry for the same session.
///
/// The old key stops working at once rather than after a grace period: the SDK runs one
/// refresh at a time and swaps keys when the answer comes, so a grace window would only keep a
/// possibly stolen key alive. The price is that a lost answer costs one login. The session
/// keeps its id, so the device's delivery cursor and its open tunnel carry on untouched.
pub async fn refresh(State(app): State<App>, headers: HeaderMap) -> Result<Response, ApiError> {
    let old = header(&headers, "x-wx-skey").ok_or(ApiError::SkeyInvalid)?;
    let now = unix_now();
    let skey = secret::generate();
    let (session, opts) = app
        .store
        .rotate_session(secret::hash(old), secret::hash(&skey), now, app.auth.ttl)
        .await?
        .ok_or(ApiError::SkeyInvalid)?;
    tracing::debug!(user = %session.user_id, "session refreshed");
    app.hub.extend_session(session.id, session.expires_at);
    app.tickets.extend_session(session.id, session.expires_at);
    Ok(answer(
        skey,
        &session.userinfo,
        now,
        session.expires_at,
        opts.remember,
    ))
}

fn answer(skey: String, userinfo: &str, now: u64, expires_at: u64, remember: bool) -> Response {
    let userinfo = serde_json::from_str(userinfo).unwrap_or_else(|_| Value::Object(Map::default()));
    Json(WaferOk::new(LoginData {
        skey,
        userinfo,
        time: now,
        expires_at: Some(expires_at),
        remember: Some(remember),
    }))
    .into_response()
}

/// `X-WX-Remember`, then `rememberMe` in the body, then `?remember=`; remembered by default,
/// as sessions were before the option existed.
fn remember(headers: &HeaderMap, q: &LoginQuery, body: &LoginBody) -> bool {
    let flag = |v: &str| !matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "false" | "no");
    header(headers, "x-wx-remember")
        .map(flag)
        .or(body.remember_me)
        .or(q.remember.as_deref().map(flag))
        .unwrap_or(true)
}

async fn authenticate(
    app: &App,
    addr: &str,
    headers: &HeaderMap,
    body: LoginBody,
    now: u64,
) -> Result<Grant, LoginError> {
    if let Some(auth) = header(headers, "authorization") {
        let (scheme, value) = auth.split_once(' ').unwrap_or((auth, ""));
        return if scheme.eq_ignore_ascii_case("basic") {
            let (user, pass) =
                basic(value.trim()).ok_or(ApiError::LoginFailed("malformed Basic credentials"))?;
            by_password(app, addr, &user, pass).await
        } else if scheme.eq_ignore_ascii_case("bearer") {
            by_jwt(app, value.trim(), now)
        } else {
            Err(ApiError::LoginFailed("unsupported Authorization scheme").into())
        };
    }
    if let (Some(user), Some(pass)) = (body.username, body.password) {
        return by_password(app, addr, &user, pass).await;
    }
    let code = header(headers, "x-wx-code");
    if let Some(code) = code
        && let Some(user_id) = app.store.take_login_code(secret::hash(code), now).await?
    {
        return Ok(Grant::user(user_id));
    }
    if let Some(d) = &app.auth.delegated
        && d.applies(headers)
    {
        return match d.verify(headers).await {
            Ok(id) => Ok(Grant {
                userinfo: id.userinfo,
                ..Grant::user(id.user_id)
            }),
            Err(e) => {
                // A refusal is an ordinary wrong credential; anything else is the site's
                // server misbehaving, which its operator needs to see.
                if matches!(e, DelegatedError::Refused(_)) {
                    tracing::debug!(error = %e, "delegated login refused");
                } else {
                    tracing::warn!(error = %e, "delegated login failed; refusing");
                }
                Err(ApiError::LoginFailed("the site did not accept these credentials").into())
            }
        };
    }
    if code.is_some() {
        // A stale code never falls through to a visitor identity.
        return Err(
            ApiError::LoginFailed("the login code is unknown, expired or already used").into(),
        );
    }
    if app.auth.visitors.is_some() {
        return visitor(app, addr, headers, now).await;
    }
    Err(ApiError::LoginFailed(MISSING).into())
}

/// `base64(username:password)`; the password may contain `:`, the username may not.
fn basic(value: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

async fn by_password(
    app: &App,
    addr: &str,
    username: &str,
    pass: String,
) -> Result<Grant, LoginError> {
    let limits = &app.auth.limits;
    // Counted before the hash runs: checked after, concurrent guesses all passed the limit.
    let attempt = limits
        .begin(Some(username), addr, Instant::now())
        .map_err(|wait| LoginError::TooManyAttempts(retry_after(wait)))?;
    let (user_id, stored) = match app.auth.accounts.password_of(username).await {
        Ok(Some((id, hash))) => (Some(id), Some(hash)),
        Ok(None) => (None, None),
        Err(e) => {
            limits.forgive(&attempt);
            return Err(e.into());
        }
    };
    // Runs Argon2 even for unknown usernames, so both answers take as long.
    let ok = match app.auth.hasher.verify(pass, stored).await {
        Ok(ok) => ok,
        Err(e) => {
            limits.forgive(&attempt);
            return Err(match e {
                password::PasswordError::Busy => LoginError::Busy(1),
                other => {
                    tracing::error!(error = %other, "password check failed");
                    ApiError::Unavailable("cannot check the password now".into()).into()
                }
            });
        }
    };
    match user_id.filter(|_| ok) {
        Some(id) => {
            limits.succeeded(&attempt);
            Ok(Grant::user(id))
        }
        None => Err(ApiError::LoginFailed(BAD_PASSWORD).into()),
    }
}

fn by_jwt(app: &App, token: &str, now: u64) -> Result<Grant, LoginError> {
    let secret = app.config.jwt_secret.as_ref().ok_or(ApiError::LoginFailed(
        "JWT login is not enabled on this relay",
    ))?;
    match jwt::verify_expecting(
        secret.as_bytes(),
        token,
        now,
        jwt::Expect::from_config(&app.config),
    ) {
        Ok(claims) => Ok(Grant {
            not_after: Some(claims.exp),
            ..Grant::user(claims.user_id)
        }),
        Err(e) => {
            tracing::debug!(error = %e, "JWT refused");
            Err(ApiError::LoginFailed("the token is invalid or expired").into())
        }
    }
}

async fn visitor(
    app: &App,
    addr: &str,
    headers: &HeaderMap,
    now: u64,
) -> Result<Grant, LoginError> {
    let Some(visitors) = &app.auth.visitors else {
        return Err(ApiError::LoginFailed(MISSING).into());
    };
    // Every anonymous login stores a session (and maybe a visitor): bound how fast one
    // address can make them.
    app.auth
        .visitor_logins
        .take(addr, Instant::now())
        .map_err(|wait| LoginError::TooManyVisitors(retry_after(wait)))?;
    let from_cookie = visitor::cookie(headers, visitor::COOKIE).and_then(|v| {
        let id = visitors.check(v, now);
        if id.is_none() {
            tracing::debug!("visitor cookie ignored (tampered, foreign or too old)");
        }
        id
    });
    // A valid cookie of a visitor since merged or deleted starts a new visitor instead of
    // bringing the old id back to life.
    let user_id = match from_cookie {
        Some(id) if app.auth.accounts.profile(&id).await?.is_some() => id,
        _ => visitor::Visitors::new_id(),
    };
    let secure = app
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
        || header(headers, "x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let set_cookie = visitors
        .issue(&user_id, now)
        .and_then(|v| visitors.set_cookie(&v, secure));
    Ok(Grant {
        set_cookie,
        ..Grant::user(user_id)
    })
}

/// The method an HTTP login (`/weapp/login`) tries, in the order the handler tries them.
fn http_login_method(
    app: &App,
    headers: &axum::http::HeaderMap,
    has_password: bool,
) -> &'static str {
    let auth = headers
        .get(h::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(' ').next().unwrap_or_default().to_ascii_lowercase());
    match auth.as_deref() {
        Some("basic") => "password",
        Some("bearer") => "jwt",
        Some(_) => "other",
        None if has_password => "password",
        None if headers.contains_key("x-wx-code") => "code",
        None if app
            .auth
            .delegated
            .as_ref()
            .is_some_and(|d| d.applies(headers)) =>
        {
            "delegated"
        }
        None => "visitor",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn basic_credentials() {
        let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(
            basic(&enc("ann:pa:ss")),
            Some(("ann".into(), "pa:ss".into()))
        );
        assert_eq!(basic(&enc("nocolon")), None);
        assert_eq!(basic("%%%"), None);
    }

    #[test]
    fn remember_sources() {
        let q = LoginQuery {
            remember: Some("0".into()),
        };
        let mut hm = HeaderMap::new();
        assert!(!remember(&hm, &q, &LoginBody::default()));
        assert!(remember(&hm, &LoginQuery::default(), &LoginBody::default()));
        hm.insert("x-wx-remember", HeaderValue::from_static("1"));
        assert!(remember(&hm, &q, &LoginBody::default()));
        assert_eq!(retry_after(Duration::from_millis(1500)), 2);
    }
}
