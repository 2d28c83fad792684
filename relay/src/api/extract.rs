//! Extractors that turn bad input into [`ApiError`]s instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::secret;
use crate::state::App;

/// `Json<T>` whose rejections are `{code, error, message}`, and which refuses JSON nested
/// deeper than `max-json-depth` before parsing it.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<App> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &App) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                _ => ApiError::BadRequest(e.body_text()),
            })?;
        check_depth(state, &bytes)?;
        let axum::Json(v) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Body(v))
    }
}

/// `axum::extract::Path<T>` whose rejections (a segment that percent-decodes to invalid
/// UTF-8, a wrong type) are `{code, error, message}` like every other bad input.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<App> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &App) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// The ingress depth limit, for every JSON body (see [`cometa_protocol::depth`]).
pub fn check_depth(app: &App, json: &[u8]) -> Result<(), ApiError> {
    cometa_protocol::depth::check(json, app.config.max_json_depth)
        .map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// `application/json` or `application/*+json`, as axum's `Json` accepts.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = header(headers, "content-type") else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Proof that the request carried the API key.
pub struct ApiKey;

impl FromRequestParts<App> for ApiKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let given = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        if secret::matches(given.trim(), &app.api_key) {
            Ok(ApiKey)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

/// A path segment checked against the user id rules.
pub fn user_id(raw: &str) -> Result<&str, ApiError> {
    cometa_protocol::names::check_user_id(raw)
        .map(|()| raw)
        .map_err(|e| ApiError::BadRequest(format!("user_id {e}")))
}

/// A header's value as text, if present and visible ASCII.
pub fn header<'a>(parts: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    parts
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// An event name as the API accepts it (what a client may subscribe to).
pub fn event_name(name: &str) -> Result<(), ApiError> {
    cometa_protocol::names::check_event(name)
        .map_err(|e| ApiError::BadRequest(format!("event name {e}")))
}
