//! Demo mode (`--demo`): stands in for a site's back end so the chat page in `examples/chat`
//! runs with nothing but the relay. A real site calls `PUT /api/v1/users/{id}/key` from its
//! own server, with its API key, after its own login.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::Body;
use crate::error::ApiError;
use crate::secret;
use crate::state::App;

pub fn routes() -> Router<App> {
    Router::new().route("/demo/login", post(login))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoLogin {
    name: String,
}

/// Anyone may claim any demo user's name here: that is what makes it a demo. A user the back
/// end created (API, login code, key) is never handed out.
async fn login(
    State(app): State<App>,
    Body(req): Body<DemoLogin>,
) -> Result<Json<Value>, ApiError> {
    let name = req.name.trim();
    let user_id: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(32)
        .collect::<String>()
        .to_lowercase();
    if user_id.is_empty() {
        return Err(ApiError::BadRequest(
            "name needs at least one letter or digit".into(),
        ));
    }
    if !app.auth.accounts.claim_demo_user(&user_id).await? {
        return Err(ApiError::Conflict(format!(
            "{user_id} is a user of the back end, not a demo user; pick another name"
        )));
    }
    let key = secret::generate();
    app.store.set_user_key(&user_id, secret::hash(&key)).await?;
    let data = json!({ "name": name.chars().take(32).collect::<String>() });
    app.store.set_user_data(&user_id, &data.to_string()).await?;
    Ok(Json(
        json!({ "user_id": user_id, "user_key": key, "dev_id": "0" }),
    ))
}
