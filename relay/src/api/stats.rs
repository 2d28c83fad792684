//! `GET /api/v1/stats`: counters an operator (and the abuse tests) can watch; `GET /metrics`,
//! the same and more for Prometheus (see [`crate::metrics`]).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::ApiKey;
use super::openapi;
use crate::error::ApiError;
use crate::state::App;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(stats))
}

#[utoipa::path(
    get,
    path = "/stats",
    operation_id = "stats",
    tag = "relay",
    summary = "Counters of the relay",
    responses(
        (status = 200, description = "`{\"connections\",\"store\":{…}}`", body = Object),
        openapi::Refused
    )
)]
pub(super) async fn stats(_: ApiKey, State(app): State<App>) -> Result<Json<Value>, ApiError> {
    let store = app.store.stats().await?;
    Ok(Json(json!({
        "connections": app.hub.live(),
        "store": store,
    })))
}

/// `GET /metrics` on the main port: behind the API key, like `/api/v1`.
pub async fn metrics(_: ApiKey, State(app): State<App>) -> Result<Response, ApiError> {
    crate::metrics::scrape(&app).await
}
