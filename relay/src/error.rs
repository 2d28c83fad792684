//! The relay's HTTP error type and its JSON envelope `{code, error, message}`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cometa_protocol::api::ErrorBody;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Wafer's login failure: `code: -1` makes the Wafer SDK drop its session.
    #[error("{0}")]
    LoginFailed(&'static str),
    #[error("the session key is missing, unknown, expired or revoked")]
    SkeyInvalid,
    #[error("missing or wrong API key (use `Authorization: Bearer <key>`)")]
    Unauthorized,
    #[error("the tunnel ticket is missing, unknown, expired or already used")]
    TicketInvalid,
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("expected a JSON body with `Content-Type: application/json`")]
    UnsupportedMediaType,
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Store(#[from] StoreError),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::LoginFailed(_) | Self::SkeyInvalid | Self::Unauthorized | Self::TicketInvalid => {
                StatusCode::UNAUTHORIZED
            }
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn error_name(&self) -> &'static str {
        match self {
            Self::LoginFailed(_) => "ERR_LOGIN_FAILED",
            Self::SkeyInvalid => "ERR_SKEY_INVALID",
            Self::Unauthorized => "ERR_UNAUTHORIZED",
            Self::TicketInvalid => "ERR_TICKET_INVALID",
            Self::MethodNotAllowed => "ERR_METHOD_NOT_ALLOWED",
            Self::BadRequest(_) => "ERR_BAD_REQUEST",
            Self::NotFound(_) => "ERR_NOT_FOUND",
            Self::Forbidden(_) => "ERR_FORBIDDEN",
            Self::Conflict(_) => "ERR_CONFLICT",
            Self::PayloadTooLarge => "ERR_PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "ERR_UNSUPPORTED_MEDIA_TYPE",
            Self::Unavailable(_) => "ERR_UNAVAILABLE",
            Self::Store(_) => "ERR_INTERNAL",
        }
    }

    pub fn body(&self) -> ErrorBody {
        let code = match self {
            Self::LoginFailed(_) | Self::SkeyInvalid => -1,
            other => i32::from(other.status().as_u16()),
        };
        ErrorBody {
            code,
            error: self.error_name().to_string(),
            message: self.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Store(e) => tracing::error!(error = %e, "store failure"),
            other => {
                tracing::debug!(status = %other.status(), error = other.error_name(), "request refused")
            }
        }
        (self.status(), Json(self.body())).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => Self::UnsupportedMediaType,
            JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::PayloadTooLarge
            }
            other => Self::BadRequest(format!("invalid JSON body: {}", other.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wafer_auth_errors_use_minus_one() {
        assert_eq!(ApiError::SkeyInvalid.body().code, -1);
        assert_eq!(ApiError::LoginFailed("x").body().error, "ERR_LOGIN_FAILED");
        assert_eq!(ApiError::NotFound("t".into()).body().code, 404);
    }
}
