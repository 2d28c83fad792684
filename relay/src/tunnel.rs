//! Wafer tunnels: one task per socket opened through `/weapp/tunnel`'s `connectUrl`. The
//! tunnel registers in the hub, catches up on the user's personal stream from its session's
//! cursor ([`crate::stream`]), then pumps.

use std::sync::Arc;

use axum::extract::ws::{Utf8Bytes, WebSocket};
use cometa_protocol::frames::{ClientMessage, RequestId};
use cometa_protocol::native::code;
use cometa_protocol::packet::{self, Packet, PacketType};
use cometa_protocol::{CloseCode, names};
use tracing::Instrument;

use crate::capacity::SocketSlot;
use crate::conn::{self, Cursor, Inbound, Io};
use crate::dedup::Claim;
use crate::frames::Dialect;
use crate::hub::{Handle, Outbox};
use crate::state::App;
use crate::store::StoreError;
use crate::ticket::Ticket;
use crate::webhook::WebhookError;

/// The tunnel's whole life as one future; `slot` counts the socket until it ends. An idle
/// connection is mostly this future, so it is kept free of copies: everything it owns is
/// built here and captured by the `async` block, which uses it in place (an `async fn` keeps
/// a second copy of its arguments, the socket alone being a few hundred bytes, for the
/// connection's whole life), and the caller hands it to `on_upgrade` as it is (a future held
/// in a variable and then awaited is stored twice).
pub fn serve(
    app: App,
    socket: WebSocket,
    ticket: Ticket,
    slot: SocketSlot,
) -> impl Future<Output = ()> + Send {
    let span = tracing::info_span!("tunnel", id = %ticket.tunnel_id, user = %ticket.user_id);
    let user: Arc<str> = ticket.user_id.as_str().into();
    let handle = Handle {
        id: ticket.tunnel_id.as_str().into(),
        user_id: Some(user.clone()),
        session: Some(crate::hub::SessionLink {
            id: ticket.session_id,
            user_id: user,
            expires_at: ticket.expires_at,
        }),
        dialect: Dialect::Wafer,
        outbox: Arc::new(Outbox::new(app.config.outbound_queue)),
    };
    let mut io = Io::new(app, socket, Dialect::Wafer);
    io.user_id = Some(ticket.user_id.clone());
    io.cursor = Cursor::Session(ticket.session_id);
    let tunnel = async move {
        let _slot = slot;
        let mut inbound = WaferInbound {
            ticket: &ticket,
            _closed: None,
        };
        let code = crate::connection::serve(&mut io, handle, &mut inbound, None).await;
        tracing::debug!(code, "tunnel closed");
    }
    .instrument(span);
    #[cfg(feature = "test-hooks")]
    crate::test_hooks::record_size(&crate::test_hooks::TUNNEL_FUTURE_BYTES, &tunnel);
    tunnel
}

/// Tells the back end the tunnel closed however its task ends, a panic included: a `connect`
/// event is always followed by its `close`.
struct WebhookClose {
    app: App,
    tunnel_id: String,
    user_id: String,
}

impl Drop for WebhookClose {
    fn drop(&mut self) {
        if let Some(w) = &self.app.webhook {
            w.close(&self.tunnel_id, &self.user_id);
        }
    }
}

struct WaferInbound<'a> {
    ticket: &'a Ticket,
    /// Set once the back end was told the tunnel connected.
    _closed: Option<WebhookClose>,
}

impl Inbound for WaferInbound<'_> {
    async fn started(&mut self, io: &mut Io) -> Result<Option<u64>, StoreError> {
        if let Some(w) = &io.app.webhook {
            w.connect(&self.ticket.tunnel_id, &self.ticket.user_id);
        }
        if io.app.webhook.is_some() {
            self._closed = Some(WebhookClose {
                app: io.app.clone(),
                tunnel_id: self.ticket.tunnel_id.clone(),
                user_id: self.ticket.user_id.clone(),
            });
        }
        Ok(None)
    }

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
    /// A client's message goes to the webhook. With an `id` (Cometa's SDK) the client learns
    /// the outcome in a `reply`, including that nobody can receive it; without one (Wafer's
    /// SDK) only a refusal is told, as an `error` packet.
    async fn client_message(&self, io: &mut Io, content: Option<&str>) {
        let parsed = content
            .ok_or_else(|| "a message packet needs content".to_string())
            .and_then(|c| {
                serde_json::from_str::<ClientMessage>(c).map_err(|e| format!("bad message: {e}"))
            })
            .and_then(|m| {
                names::check_event(&m.kind).map_err(|e| format!("bad message type: {e}"))?;
                match m.mid.as_deref().map(names::check_mid) {
                    Some(Err(e)) => Err(format!("bad message mid: {e}")),
                    _ => Ok(m),
                }
            });
        let (id, outcome) = match parsed {
            Ok(m) => (m.id, self.forward(io, &m)),
            Err(e) => {
                tracing::debug!(error = %e, "bad message packet");
                // Only an object's `id`: serde would also read one out of an array.
                let id = content
                    .filter(|c| c.trim_start().starts_with('{'))
                    .and_then(|c| serde_json::from_str::<RequestId>(c).ok()?.id);
                (id, Err((code::BAD_PACKET, e)))
            }
        };
        match (id, outcome) {
            (Some(id), Ok(())) => crate::native::reply_ok(io, id, &serde_json::json!({})).await,
            (Some(id), Err((c, m))) => crate::native::reply_err(io, id, c, &m).await,
            (None, Err((c, m))) if c != code::NO_RECEIVER => io.error_packet(c, &m).await,
            (None, _) => {}
        }
    }

    /// Hands the message to the webhook, once per idempotency key: a resend of a message the
    /// relay took is acknowledged again without a second delivery.
    fn forward(&self, io: &Io, m: &ClientMessage) -> Result<(), (u16, String)> {
        let Some(mid) = m.mid.as_deref() else {
            return self.deliver(io, m);
        };
        let user = &self.ticket.user_id;
        if matches!(io.app.dedup.claim(user, user, mid), Claim::Seen { .. }) {
            crate::metrics::duplicate_message();
            return Ok(());
        }
        let delivered = self.deliver(io, m);
        if delivered.is_err() {
            io.app.dedup.release(user, mid);
        }
        delivered
    }

    fn deliver(&self, io: &Io, m: &ClientMessage) -> Result<(), (u16, String)> {
        let Some(w) = &io.app.webhook else {
            let msg = "nobody receives tunnel messages: the relay has no webhook configured";
            return Err((code::NO_RECEIVER, msg.into()));
        };
        let t = self.ticket;
        w.message(&t.tunnel_id, &t.user_id, &m.kind, &m.content)
            .map_err(|e| {
                let c = match e {
                    WebhookError::QueueFull => code::LIMIT_EXCEEDED,
                    _ => code::INTERNAL,
                };
                (c, e.to_string())
            })
    }
}
