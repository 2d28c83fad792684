//! `GET /api/v1/stats`: counters an operator (and the abuse tests) can watch; `GET /metrics`,
//! the same and more for Prometheus (see [`crate::metrics`]).

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::extract::ApiKey;
use crate::error::ApiError;
use crate::state::App;

pub fn routes() -> Router<App> {
    Router::new().route("/stats", get(stats))
}

async fn stats(_: ApiKey, State(app): State<App>) -> Result<Json<Value>, ApiError> {
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
