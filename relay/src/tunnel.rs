//! Wafer tunnels: one task per socket opened through `/weapp/tunnel`'s `connectUrl`. The
//! tunnel registers in the hub, catches up on the user's personal stream from its session's
//! cursor ([`crate::stream`]), then pumps.

use std::sync::Arc;

use axum::extract::ws::{Utf8Bytes, WebSocket};
use cometa_protocol::api::TunnelMessage;
use cometa_protocol::native::code;
use cometa_protocol::packet::{self, Packet, PacketType};
use cometa_protocol::{CloseCode, names};
use tracing::Instrument;

use crate::conn::{self, Cursor, Inbound, Io};
use crate::frames::Dialect;
use crate::hub::{Handle, Outbox};
use crate::presence;
use crate::state::App;
use crate::ticket::Ticket;
use crate::webhook::WebhookError;

pub async fn serve(app: App, socket: WebSocket, ticket: Ticket) {
    let span = tracing::info_span!("tunnel", id = %ticket.tunnel_id, user = %ticket.user_id);
    run(app, socket, ticket).instrument(span).await;
}

async fn run(app: App, socket: WebSocket, ticket: Ticket) {
    let outbox = Arc::new(Outbox::new(app.config.outbound_queue));
    let handle = Handle {
        id: ticket.tunnel_id.clone().into(),
        user_id: Some(ticket.user_id.clone().into()),
        session: Some(crate::hub::SessionLink {
            id: ticket.session_id,
            user_id: ticket.user_id.clone().into(),
            expires_at: ticket.expires_at,
        }),
        dialect: Dialect::Wafer,
        outbox: outbox.clone(),
    };
    let mut io = Io::new(app.clone(), socket, Dialect::Wafer);
    io.user_id = Some(ticket.user_id.clone());
    io.cursor = Cursor::Session(ticket.session_id);
    let Some(registration) = presence::connected(&app, handle).await else {
        io.close(CloseCode::TooManyDevices).await;
        return;
    };
    let _expiry = crate::expiry::watch(&app, ticket.session_id, outbox.clone());
    let _live = crate::metrics::connected(Dialect::Wafer);
    if let Some(w) = &app.webhook {
        w.connect(&ticket.tunnel_id, &ticket.user_id);
    }
    let _closed = WebhookClose {
        app: &app,
        ticket: &ticket,
    };
    let code = match crate::stream::resume_personal(&mut io, None).await {
        Ok(()) => conn::pump(&mut io, &mut WaferInbound { ticket: &ticket }, &outbox).await,
        Err(e) => {
            tracing::error!(error = %e, "replay failed");
            io.close(CloseCode::Shutdown).await;
            CloseCode::Shutdown.code()
        }
    };
    tracing::debug!(code, "tunnel closed");
    drop(registration);
}

/// Tells the back end the tunnel closed however its task ends, a panic included: a `connect`
/// event is always followed by its `close`.
struct WebhookClose<'a> {
    app: &'a App,
    ticket: &'a Ticket,
}

impl Drop for WebhookClose<'_> {
    fn drop(&mut self) {
        if let Some(w) = &self.app.webhook {
            w.close(&self.ticket.tunnel_id, &self.ticket.user_id);
        }
    }
}

struct WaferInbound<'a> {
    ticket: &'a Ticket,
}

impl Inbound for WaferInbound<'_> {
    async fn text(&mut self, io: &mut Io, text: Utf8Bytes) -> Option<CloseCode> {
        let p = Packet::parse(text.as_str());
        match p.kind {
            PacketType::Ping => {
                if io.send(Utf8Bytes::from_static(packet::PONG)).await.is_err() {
                    return Some(CloseCode::Normal);
                }
            }
            PacketType::Pong | PacketType::Timeout => {}
            PacketType::Close => return Some(CloseCode::Normal),
            PacketType::Message => self.client_message(io, p.content).await,
            #[cfg(feature = "test-hooks")]
            PacketType::Other(crate::test_hooks::PANIC_PACKET) => {
                panic!("test hook: a tunnel task panicked")
            }
            PacketType::Other(kind) => {
                tracing::debug!(kind, "unknown packet type");
                let msg = format!("unknown packet type {:?}", conn::truncate(kind, 32));
                io.error_packet(code::UNKNOWN_PACKET, &msg).await;
            }
        }
        None
    }
}

impl WaferInbound<'_> {
    async fn client_message(&self, io: &mut Io, content: Option<&str>) {
        let parsed = content
            .ok_or_else(|| "a message packet needs content".to_string())
            .and_then(|c| {
                serde_json::from_str::<TunnelMessage>(c).map_err(|e| format!("bad message: {e}"))
            })
            .and_then(|m| {
                names::check_event(&m.kind)
                    .map(|()| m)
                    .map_err(|e| format!("bad message type: {e}"))
            });
        match parsed {
            Ok(m) => {
                let Some(w) = &io.app.webhook else { return };
                let sent = w.message(
                    &self.ticket.tunnel_id,
                    &self.ticket.user_id,
                    &m.kind,
                    &m.content,
                );
                if let Err(e) = sent {
                    let c = match e {
                        WebhookError::QueueFull => code::LIMIT_EXCEEDED,
                        _ => code::INTERNAL,
                    };
                    io.error_packet(c, &e.to_string()).await;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "bad message packet");
                io.error_packet(code::BAD_PACKET, &e).await;
            }
        }
    }
}
