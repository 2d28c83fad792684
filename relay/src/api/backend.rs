//! The back-end API under `/api/v1`: what the customer's server calls with its API key.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use cometa_protocol::api::{
    BroadcastRequest, BroadcastResponse, DeliveredResponse, LoginCodeRequest, LoginCodeResponse,
    Presence, PushRequest, PushResponse, RevokedResponse, TunnelMessage,
};
use cometa_protocol::{CloseCode, names};
use serde_json::json;

use super::extract::{ApiKey, Body, Path, user_id};
use crate::error::ApiError;
use crate::secret;
use crate::state::App;
use crate::unix_now;

/// Tunnel ids listed in one broadcast call at most.
const MAX_BROADCAST_IDS: usize = 10_000;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/login-codes", post(login_code))
        .route("/users/{user_id}/messages", post(push_to_user))
        .route("/users/{user_id}/sessions", delete(revoke_sessions))
        .route("/users/{user_id}/presence", get(presence))
        .route("/tunnels/{tunnel_id}/messages", post(push_to_tunnel))
        .route("/tunnels/{tunnel_id}", delete(close_tunnel))
        .route("/broadcast", post(broadcast))
}

async fn login_code(
    _: ApiKey,
    State(app): State<App>,
    Body(req): Body<LoginCodeRequest>,
) -> Result<Response, ApiError> {
    user_id(&req.user_id)?;
    let cfg = &app.config;
    let ttl = req.ttl_secs.unwrap_or(cfg.login_code_ttl.as_secs());
    if ttl == 0 || ttl > cfg.max_login_code_ttl.as_secs() {
        return Err(ApiError::BadRequest(format!(
            "ttl_secs must be between 1 and {}",
            cfg.max_login_code_ttl.as_secs()
        )));
    }
    // Validates `userinfo`; stores `username`/`email`/`avatar_url` (creating the user).
    let userinfo = super::users::login_code_userinfo(&app, &req).await?;
    let code = secret::generate();
    let expires_at = unix_now().saturating_add(ttl);
    app.store
        .put_login_code(secret::hash(&code), &req.user_id, userinfo, expires_at)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(LoginCodeResponse { code, expires_at }),
    )
        .into_response())
}

async fn push_to_user(
    _: ApiKey,
    State(app): State<App>,
    Path(uid): Path<String>,
    Body(req): Body<PushRequest>,
) -> Result<Json<PushResponse>, ApiError> {
    user_id(&uid)?;
    event_name(&req.event)?;
    let published = crate::publish::personal(&app, &uid, &req.event, req.data.get()).await?;
    let seq = published.seq.unwrap_or_default();
    let delivered = published.delivered;
    Ok(Json(PushResponse { seq, delivered }))
}

async fn push_to_tunnel(
    _: ApiKey,
    State(app): State<App>,
    Path(tunnel_id): Path<String>,
    Body(msg): Body<TunnelMessage>,
) -> Result<Json<DeliveredResponse>, ApiError> {
    event_name(&msg.kind)?;
    let frame = crate::frames::wafer_frame(&msg.kind, msg.content.get());
    match app.hub.send_to(&tunnel_id, frame) {
        Some(took) => Ok(Json(DeliveredResponse {
            delivered: usize::from(took),
        })),
        None => Err(ApiError::NotFound(format!("no live tunnel {tunnel_id:?}"))),
    }
}

async fn broadcast(
    _: ApiKey,
    State(app): State<App>,
    Body(req): Body<BroadcastRequest>,
) -> Result<Json<BroadcastResponse>, ApiError> {
    event_name(&req.kind)?;
    if req
        .tunnel_ids
        .as_ref()
        .is_some_and(|ids| ids.len() > MAX_BROADCAST_IDS)
    {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_BROADCAST_IDS} tunnel_ids per call"
        )));
    }
    let frame = crate::frames::wafer_frame(&req.kind, req.content.get());
    let (delivered, invalid_tunnel_ids) = app.hub.broadcast(req.tunnel_ids.as_deref(), &frame);
    Ok(Json(BroadcastResponse {
        delivered,
        invalid_tunnel_ids,
    }))
}

async fn close_tunnel(
    _: ApiKey,
    State(app): State<App>,
    Path(tunnel_id): Path<String>,
) -> Result<Response, ApiError> {
    if app.hub.close(&tunnel_id, CloseCode::ClosedByServer) {
        Ok(Json(json!({ "closed_tunnels": 1 })).into_response())
    } else {
        Err(ApiError::NotFound(format!("no live tunnel {tunnel_id:?}")))
    }
}

async fn revoke_sessions(
    _: ApiKey,
    State(app): State<App>,
    Path(uid): Path<String>,
) -> Result<Json<RevokedResponse>, ApiError> {
    user_id(&uid)?;
    let revoked_sessions = app.store.revoke_user_sessions(&uid).await?;
    app.tickets.revoke_user(&uid);
    let closed_tunnels = app.hub.close_user(&uid, None, CloseCode::SessionRevoked);
    tracing::info!(user = %uid, revoked_sessions, closed_tunnels, "sessions revoked");
    Ok(Json(RevokedResponse {
        revoked_sessions,
        closed_tunnels,
    }))
}

async fn presence(
    _: ApiKey,
    State(app): State<App>,
    Path(uid): Path<String>,
) -> Result<Json<Presence>, ApiError> {
    user_id(&uid)?;
    let devices = app.hub.devices(&uid);
    let last_seen = if devices > 0 {
        Some(unix_now())
    } else {
        app.store.last_seen(&uid).await?
    };
    Ok(Json(Presence {
        online: devices > 0,
        devices,
        last_seen,
    }))
}

pub(crate) fn event_name(name: &str) -> Result<(), ApiError> {
    names::check_event(name).map_err(|e| ApiError::BadRequest(format!("event name {e}")))
}
