//! `GET /api/v1/stats`: counters an operator (and the abuse tests) can watch; `GET /metrics`,
//! the same and more for Prometheus (see [`crate::metrics`]).

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
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
    scrape(&app).await
}

/// The scrape answer, with the queue depths read now.
async fn scrape(app: &App) -> Result<Response, ApiError> {
    let store = app.store.stats().await?;
    crate::metrics::set_queued("store", store.queued_jobs);
    crate::metrics::set_queued("webhook", app.webhook.as_ref().map_or(0, |w| w.queued()));
    crate::metrics::set_queued("outbox", app.hub.queued());
    crate::metrics::set_store_dropped(store.dropped_writes);
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::metrics::encode_text(),
    )
        .into_response())
}

/// `GET /metrics` on `--metrics-listen`: no key, the address is the operator's.
async fn open(State(app): State<App>) -> Result<Response, ApiError> {
    scrape(&app).await
}

/// The router of `--metrics-listen`.
pub fn metrics_router(app: App) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(open))
        .with_state(app)
}
