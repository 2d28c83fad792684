//! Extractors that turn bad input into [`ApiError`]s instead of axum's plain-text rejections.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::secret;
use crate::state::App;

/// `Json<T>` whose rejections are `{code, error, message}`.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<App> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &App) -> Result<Self, ApiError> {
        let axum::Json(v) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Body(v))
    }
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
