//! Wafer's client-facing contract, as `wafer2-client-sdk` 2.1.0 expects it: login with a
//! single-use code, the session key in `X-WX-Skey`, and `/weapp/tunnel` handing out a
//! `connectUrl` with a single-use ticket.

use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cometa_protocol::api::{TunnelData, WaferOk};
use serde::Deserialize;

use super::extract::header;
use crate::error::ApiError;
use crate::secret;
use crate::state::App;
use crate::store::Session;
use crate::ticket::Ticket;
use crate::unix_now;

pub fn routes() -> Router<App> {
    // The OPTIONS routes exist so preflights reach the CORS layer, which answers them.
    let preflight = || async { StatusCode::NO_CONTENT };
    Router::new()
        .route(
            "/weapp/login",
            get(super::login::login)
                .post(super::login::login)
                .options(preflight),
        )
        .route(
            "/weapp/refresh",
            axum::routing::post(super::login::refresh).options(preflight),
        )
        .route("/weapp/user", get(user).post(user).options(preflight))
        .route("/weapp/logout", get(logout).post(logout).options(preflight))
        .route("/weapp/tunnel", get(tunnel).post(tunnel).options(preflight))
        .route("/weapp/ws", get(upgrade))
}

async fn user(State(app): State<App>, headers: HeaderMap) -> Result<Response, ApiError> {
    let session = session(&app, &headers).await?;
    Ok(Json(WaferOk::new(userinfo(&session))).into_response())
}

async fn logout(State(app): State<App>, headers: HeaderMap) -> Result<Response, ApiError> {
    let skey = header(&headers, "x-wx-skey").ok_or(ApiError::SkeyInvalid)?;
    let session = app
        .store
        .revoke_session(secret::hash(skey))
        .await?
        .ok_or(ApiError::SkeyInvalid)?;
    app.tickets.revoke_session(session.id);
    let closed = app
        .hub
        .close_session(session.id, cometa_protocol::CloseCode::SessionRevoked);
    tracing::info!(user = %session.user_id, closed, "logout");
    Ok(Json(WaferOk::new(serde_json::json!({}))).into_response())
}

async fn tunnel(State(app): State<App>, headers: HeaderMap) -> Result<Response, ApiError> {
    let session = session(&app, &headers).await?;
    let tunnel_id = secret::generate_id();
    let ticket = app.tickets.issue(
        Ticket {
            tunnel_id: tunnel_id.clone(),
            session_id: session.id,
            user_id: session.user_id,
            expires_at: session.expires_at,
        },
        Instant::now(),
    );
    let connect_url = format!("{}/weapp/ws?ticket={ticket}", ws_base(&app, &headers));
    Ok(Json(WaferOk::new(TunnelData {
        tunnel_id,
        connect_url,
    }))
    .into_response())
}

#[derive(Deserialize)]
struct TicketQuery {
    ticket: Option<String>,
}

async fn upgrade(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<TicketQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let slot = crate::conn::admit(&app, &headers)?;
    let token = q.ticket.as_deref().ok_or(ApiError::TicketInvalid)?;
    let ticket = app
        .tickets
        .redeem(token, Instant::now())
        .ok_or(ApiError::TicketInvalid)?;
    let app2 = app.clone();
    Ok(crate::conn::configure(ws, &app.config)
        .on_upgrade(move |socket| crate::tunnel::serve(app2, socket, ticket, slot)))
}

async fn session(app: &App, headers: &HeaderMap) -> Result<Session, ApiError> {
    let skey = header(headers, "x-wx-skey").ok_or(ApiError::SkeyInvalid)?;
    app.store
        .session(secret::hash(skey), unix_now())
        .await?
        .ok_or(ApiError::SkeyInvalid)
}

fn userinfo(s: &Session) -> serde_json::Value {
    serde_json::from_str(&s.userinfo).unwrap_or_else(|_| serde_json::json!({}))
}

/// `ws(s)://host` for `connectUrl`: the configured public URL, else the request's own host.
fn ws_base(app: &App, headers: &HeaderMap) -> String {
    if let Some(public) = &app.config.public_url {
        return public.replacen("http", "ws", 1);
    }
    let host = header(headers, "x-forwarded-host")
        .or_else(|| header(headers, "host"))
        .map(str::to_string)
        .unwrap_or_else(|| app.config.listen.to_string());
    let tls = header(headers, "x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"));
    format!("{}://{host}", if tls { "wss" } else { "ws" })
}
