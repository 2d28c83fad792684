//! Native-dialect connections at `/connect`: the CometServer-style API over the shared
//! framing — authenticate in the first frame (or stay anonymous), subscribe with stream
//! positions, publish, history, presence.
//!
//! - this file: the handshake and who the connection is (its life: [`crate::connection`]);
//! - [`auth`]: who the first frame says the client is;
//! - [`commands`]: every request after it.

mod auth;
mod commands;

use std::sync::Arc;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use cometa_protocol::CloseCode;
use cometa_protocol::frames::{AuthRequest, AuthResult, ErrorInfo, Position, Reply, StreamState};
use cometa_protocol::native::{self, code};
use cometa_protocol::packet::Packet;
use serde::Serialize;
use tracing::Instrument;

use crate::capacity::SocketSlot;
use crate::conn::{Cursor, Io};
use crate::frames::Dialect;
use crate::hub::{Handle, Outbox};
use crate::secret;
use crate::state::App;
use crate::store::StreamId;

pub use commands::NativeInbound;

/// Serves one native-dialect WebSocket from `/connect` (see `crate::api`) until it ends;
/// `slot` counts the socket until then. Not an `async fn`, which would keep a second copy of
/// the socket for the connection's whole life (see [`crate::tunnel::serve`]).
pub fn serve(
    app: App,
    socket: WebSocket,
    addr: String,
    slot: SocketSlot,
) -> impl Future<Output = ()> + Send {
    let id = secret::generate_id();
    let span = tracing::info_span!("conn", %id);
    let mut io = Io::new(app, socket, Dialect::Native);
    let conn = async move {
        let _slot = slot;
        run(&mut io, id, addr).await;
    }
    .instrument(span);
    #[cfg(feature = "test-hooks")]
    crate::test_hooks::record_size(&crate::test_hooks::NATIVE_FUTURE_BYTES, &conn);
    conn
}

async fn run(io: &mut Io, id: String, addr: String) {
    // Boxed: the login's state is large and needed once; inlined, every idle connection's
    // future would keep room for it.
    let Some((handle, mut inbound, pending)) = Box::pin(handshake(io, id, &addr)).await else {
        return;
    };
    let code = crate::connection::serve(io, handle, &mut inbound, pending).await;
    tracing::debug!(code, "connection closed");
}

/// Reads the first frame and answers an `auth`; `None` when the connection is to end.
async fn handshake(
    io: &mut Io,
    id: String,
    addr: &str,
) -> Option<(Handle, NativeInbound, Option<Utf8Bytes>)> {
    let app = io.app.clone();
    let first = match tokio::time::timeout(app.config.handshake_timeout, io.socket.recv()).await {
        Ok(Some(Ok(Message::Text(t)))) => Some(t),
        Ok(Some(Ok(_))) => None,
        Ok(_) => return None,
        Err(_) => {
            tracing::debug!("no first frame within the handshake timeout");
            io.close(CloseCode::HandshakeTimeout).await;
            return None;
        }
    };
    // An `auth` first frame decides who this is; anything else starts an anonymous session
    // and is then handled as an ordinary request.
    let (auth_req, pending) = match first.as_ref().map(|t| Packet::parse(t.as_str())) {
        Some(p) if p.kind.as_str() == native::AUTH => {
            (Some(parse_auth(p.content, app.config.max_json_depth)), None)
        }
        _ => (None, first),
    };
    let mut who = auth::Identity::anonymous();
    let mut auth_id = None;
    if let Some(req) = auth_req {
        match req {
            Ok(req) => {
                auth_id = Some(req.id);
                let method = crate::metrics::native_login_method(&req);
                match auth::authenticate(&app, &req, addr).await {
                    Ok(found) => {
                        crate::metrics::login(method, "ok");
                        who = found;
                    }
                    Err(e @ auth::AuthError::TooManyFailures(_)) => {
                        crate::metrics::login(method, "limited");
                        tracing::info!("authentication refused: too many failures");
                        reply_err(io, req.id, code::LIMIT_EXCEEDED, &e.to_string()).await;
                        io.close(CloseCode::TooManyFailures).await;
                        return None;
                    }
                    Err(e) => {
                        crate::metrics::login(method, "failed");
                        tracing::debug!(error = %e, "authentication failed");
                        reply_err(io, req.id, code::UNAUTHORIZED, &e.to_string()).await;
                        auth_id = None;
                    }
                }
                who.device = auth::device_id(req.device.as_deref());
                who.since = req.since;
            }
            Err((id, e)) => match id {
                Some(id) => reply_err(io, id, code::BAD_REQUEST, &e).await,
                None => io.error_packet(code::BAD_PACKET, &e).await,
            },
        }
    }

    let handle = Handle {
        id: id.clone().into(),
        user_id: who.user_id.as_deref().map(Into::into),
        session: who.session.clone(),
        dialect: Dialect::Native,
        outbox: Arc::new(Outbox::new(app.config.outbound_queue)),
    };
    io.user_id = who.user_id.clone();
    if who.user_id.is_some() {
        io.cursor = Cursor::Device(who.device.clone());
    }
    let mut inbound = NativeInbound::new(&app, id.clone(), who.user_id.clone(), who.device.clone());
    inbound.greeting = auth_id.map(|rid| (rid, who));
    Some((handle, inbound, pending))
}

fn parse_auth(
    content: Option<&str>,
    max_depth: usize,
) -> Result<AuthRequest, (Option<u64>, String)> {
    let text = content.unwrap_or("{}");
    let id = || {
        serde_json::from_str::<cometa_protocol::frames::RequestId>(text)
            .ok()
            .and_then(|r| r.id)
    };
    cometa_protocol::depth::check(text.as_bytes(), max_depth)
        .map_err(|e| (id(), format!("bad auth request: {e}")))?;
    serde_json::from_str::<AuthRequest>(text).map_err(|e| (id(), format!("bad auth request: {e}")))
}

/// Answers `auth` with the personal stream's state; returns where the personal replay starts
/// (`None`: from the device's cursor).
async fn greet(
    io: &mut Io,
    reply_id: u64,
    who: &auth::Identity,
) -> Result<Option<u64>, crate::store::StoreError> {
    let Some(user) = who.user_id.clone() else {
        let result = AuthResult {
            user_id: None,
            device: who.device.clone(),
            personal: None,
        };
        reply_ok(io, reply_id, &result).await;
        return Ok(None);
    };
    let info = io.app.store.stream_info(StreamId::Personal(&user)).await?;
    let (after, recovered) = match &who.since {
        // Inside the epoch the device resumes where it says, and is told if retention
        // dropped part of what it missed.
        Some(Position { seq, epoch }) if *epoch == info.epoch => {
            (Some(*seq), info.can_resume(epoch, *seq))
        }
        // A position from another epoch means the store lost data since.
        Some(_) => (None, false),
        None => (None, true),
    };
    io.epoch = Some(info.epoch.clone());
    let result = AuthResult {
        user_id: Some(user),
        device: who.device.clone(),
        personal: Some(StreamState {
            epoch: info.epoch,
            seq: info.top,
            recovered,
        }),
    };
    reply_ok(io, reply_id, &result).await;
    Ok(after)
}

pub(crate) async fn reply_ok<T: Serialize>(io: &mut Io, id: u64, result: &T) {
    let reply = Reply {
        id,
        result: Some(result),
        error: None,
    };
    send_reply(io, &reply).await;
}

pub(crate) async fn reply_err(io: &mut Io, id: u64, code: u16, message: &str) {
    let info = ErrorInfo {
        code,
        message: message.to_string(),
    };
    let reply = Reply::<()> {
        id,
        result: None,
        error: Some(&info),
    };
    send_reply(io, &reply).await;
}

/// A failed write is not lost: [`Io`] remembers it and the connection closes (4002).
async fn send_reply<T: Serialize>(io: &mut Io, reply: &Reply<'_, T>) {
    let json = serde_json::to_string(reply).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot encode a reply");
        // The request still gets its one answer.
        format!(
            r#"{{"id":{},"error":{{"code":{},"message":"internal error"}}}}"#,
            reply.id,
            code::INTERNAL
        )
    });
    let _ = io.send(format!("{}:{json}", native::REPLY)).await;
}
