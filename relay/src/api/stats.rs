//! `GET /api/v1/stats`: counters an operator (and the abuse tests) can watch.

use axum::extract::State;
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
