//! The back-end API under `/api/v1` for login codes and tunnels: what the customer's server
//! calls with its API key. The `/users/*` routes are in [`super::users`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cometa_protocol::CloseCode;
use cometa_protocol::api::{
    BroadcastRequest, BroadcastResponse, DeliveredResponse, ErrorBody, LoginCodeRequest,
    LoginCodeResponse, TunnelMessage,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiKey, Body, Path, event_name, user_id};
use super::openapi;
use crate::error::ApiError;
use crate::secret;
use crate::state::App;
use crate::unix_now;

/// Tunnel ids listed in one broadcast call at most.
const MAX_BROADCAST_IDS: usize = 10_000;

/// The routes under `/users/` are listed with the others in [`super::users::routes`].
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(login_code))
        .routes(routes!(push_to_tunnel))
        .routes(routes!(close_tunnel))
        .routes(routes!(broadcast))
}

#[utoipa::path(
    post,
    path = "/login-codes",
    operation_id = "create_login_code",
    tag = "users",
    summary = "Make a login code for a user",
    request_body = LoginCodeRequest,
    responses(
        (status = 201, description = "A single-use login code; the user is created or its userinfo updated", body = LoginCodeResponse),
        openapi::Refused
    )
)]
pub(super) async fn login_code(
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

#[utoipa::path(
    post,
    path = "/tunnels/{tunnel_id}/messages",
    operation_id = "push_to_tunnel",
    tag = "tunnels",
    summary = "Send a message to one live tunnel",
    params(("tunnel_id" = String, Path, description = "A live tunnel's id")),
    request_body = TunnelMessage,
    responses(
        (status = 200, description = "Sent to the tunnel", body = DeliveredResponse),
        (status = 404, description = "The tunnel is not live", body = ErrorBody),
        openapi::Refused
    )
)]
pub(super) async fn push_to_tunnel(
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

#[utoipa::path(
    post,
    path = "/broadcast",
    operation_id = "broadcast",
    tag = "tunnels",
    summary = "Send a message to many live tunnels",
    request_body = BroadcastRequest,
    responses(
        (status = 200, description = "Sent to the listed (or all) live tunnels", body = BroadcastResponse),
        openapi::Refused
    )
)]
pub(super) async fn broadcast(
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

#[utoipa::path(
    delete,
    path = "/tunnels/{tunnel_id}",
    operation_id = "close_tunnel",
    tag = "tunnels",
    summary = "Close a live tunnel",
    params(("tunnel_id" = String, Path, description = "A live tunnel's id")),
    responses(
        (status = 200, description = "The tunnel got `close` and code 4501", body = TunnelClosed),
        (status = 404, description = "The tunnel is not live", body = ErrorBody),
        openapi::Refused
    )
)]
pub(super) async fn close_tunnel(
    _: ApiKey,
    State(app): State<App>,
    Path(tunnel_id): Path<String>,
) -> Result<Json<TunnelClosed>, ApiError> {
    if app.hub.close(&tunnel_id, CloseCode::ClosedByServer) {
        Ok(Json(TunnelClosed { closed_tunnels: 1 }))
    } else {
        Err(ApiError::NotFound(format!("no live tunnel {tunnel_id:?}")))
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct TunnelClosed {
    closed_tunnels: usize,
}
