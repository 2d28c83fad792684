//! The OpenAPI 3.1 document of `/api/v1`, served at `GET /api/v1/openapi.json`. It is built
//! from the same `routes!` lists that route the requests ([`utoipa_axum`]), and each
//! operation's types are the handlers' own, so a route cannot exist undocumented.

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::routing::{MethodRouter, get};
use cometa_protocol::api::ErrorBody;
use utoipa::openapi::path::{HttpMethod, OperationBuilder};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, ResponseBuilder, ResponsesBuilder};
use utoipa::{Modify, OpenApi};

use super::extract::ApiKey;
use crate::error::ApiError;
use crate::state::App;

/// Where the document is served.
pub const PATH: &str = "/api/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cometa relay back-end API",
        description = "What a site's back end calls with the relay's API key \
                       (`Authorization: Bearer <key>`). Every error is \
                       `{\"code\":<HTTP status>,\"error\":\"ERR_…\",\"message\"}`."
    ),
    modifiers(&BearerKey),
    security(("api_key" = [])),
    tags(
        (name = "users", description = "Users, their sessions, keys, data and personal stream"),
        (name = "tunnels", description = "Live Wafer tunnels"),
        (name = "channels", description = "Channels and their retention settings"),
        (name = "relay", description = "The relay itself"),
    )
)]
struct Base;

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The answers every operation may give besides its own.
// Never built: it only describes `ApiError`'s answers to utoipa.
#[allow(dead_code)]
#[derive(utoipa::IntoResponses)]
pub(super) enum Refused {
    /// Bad input (a name, a limit, the JSON): the message says which.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No API key, or the wrong one.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The store failed; nothing was changed.
    #[response(status = 500)]
    Internal(ErrorBody),
}

/// The document's skeleton, before the routes add their operations.
pub(super) fn base() -> Document {
    Base::openapi()
}

/// `GET /api/v1/openapi.json`: `doc`, with this route itself added to it.
pub(super) fn serve(mut doc: Document) -> MethodRouter<App> {
    doc.paths.add_path_operation(
        PATH,
        vec![HttpMethod::Get],
        OperationBuilder::new()
            .operation_id(Some("openapi"))
            .tag("relay")
            .summary(Some("This document"))
            .responses(
                ResponsesBuilder::new()
                    .response(
                        "200",
                        ResponseBuilder::new().description("The OpenAPI 3.1 document of /api/v1"),
                    )
                    .responses_from_into_responses::<Refused>(),
            )
            .build(),
    );
    let json = match doc.to_json() {
        Ok(json) => Bytes::from(json),
        // Serialising a document of plain data cannot fail; answer 503 rather than panic.
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise the OpenAPI document");
            Bytes::new()
        }
    };
    get(move |_: ApiKey| {
        let json = json.clone();
        async move {
            if json.is_empty() {
                return Err(ApiError::Unavailable("no OpenAPI document".into()));
            }
            Ok(([(CONTENT_TYPE, "application/json")], json))
        }
    })
}
