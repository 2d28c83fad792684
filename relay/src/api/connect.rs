//! `GET /connect`: the native dialect's WebSocket, served by [`crate::native`].

use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::HeaderMap;
use axum::response::Response;

use super::ClientAddr;
use crate::conn;
use crate::error::ApiError;
use crate::state::App;

pub async fn upgrade(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let slot = conn::admit(&app, &headers)?;
    Ok(conn::configure(ws, &app.config)
        .on_upgrade(move |socket| crate::native::serve(app, socket, addr, slot)))
}
