//! One task per live tunnel: replays what the device missed, then relays frames both ways.
//!
//! Order of events at connect matters for exactly-once delivery: the tunnel registers in the
//! hub first (so live messages start queueing), then reads the backlog from the store and
//! sends it, then drains the queue while dropping any seq it already sent. Publishes hold the
//! stream lock from append to fan-out, so nothing can fall between the two.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use cometa_protocol::api::TunnelMessage;
use cometa_protocol::packet::{self, Packet, PacketType};
use cometa_protocol::{CloseClass, CloseCode, names};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::hub::{Closer, Outbound, TunnelHandle};
use crate::state::App;
use crate::ticket::Ticket;
use crate::unix_now;

/// Backlog rows fetched per store round trip during replay.
const REPLAY_PAGE: usize = 256;
/// Queued frames written before one flush; bounds the latency a burst adds to a tunnel.
const MAX_COALESCE: usize = 64;

type Sink = SplitSink<WebSocket, Message>;

/// Error packet codes (`error:{"code","message"}`); Wafer clients ignore the packet type.
mod error_code {
    pub const BAD_PACKET: u16 = 4000;
    pub const UNKNOWN_PACKET: u16 = 4001;
    pub const BINARY: u16 = 4002;
}

pub async fn serve(app: App, socket: WebSocket, ticket: Ticket) {
    let span = tracing::info_span!("tunnel", id = %ticket.tunnel_id, user = %ticket.user_id);
    run(app, socket, ticket).instrument(span).await;
}

async fn run(app: App, socket: WebSocket, ticket: Ticket) {
    let (tx, rx) = mpsc::channel(app.config.outbound_queue);
    let handle = TunnelHandle {
        id: ticket.tunnel_id.clone().into(),
        user_id: ticket.user_id.clone().into(),
        session_id: ticket.session_id,
        tx,
        closer: Arc::new(Closer::default()),
    };
    let (mut sink, stream) = socket.split();
    if let Err(e) = app.hub.register(handle.clone()) {
        tracing::info!(error = %e, "tunnel refused");
        let _ = close(&mut sink, CloseCode::TooManyDevices).await;
        return;
    }
    tracing::debug!("tunnel open");
    app.store.touch_last_seen(&ticket.user_id, unix_now());
    if let Some(w) = &app.webhook {
        w.connect(&ticket.tunnel_id, &ticket.user_id);
    }

    let mut conn = Conn {
        app: app.clone(),
        ticket,
        sink,
        last_sent: 0,
        last_inbound: Instant::now(),
    };
    let code = match conn.replay().await {
        Ok(()) => conn.relay(stream, rx, &handle.closer).await,
        Err(e) => {
            tracing::error!(error = %e, "replay failed");
            CloseCode::Shutdown.code()
        }
    };
    tracing::debug!(code, "tunnel closed");

    app.hub.unregister(&conn.ticket.tunnel_id);
    app.store.touch_last_seen(&conn.ticket.user_id, unix_now());
    if let Some(w) = &app.webhook {
        w.close(&conn.ticket.tunnel_id, &conn.ticket.user_id);
    }
}

struct Conn {
    app: App,
    ticket: Ticket,
    sink: Sink,
    /// Highest personal seq written to this socket.
    last_sent: u64,
    last_inbound: Instant,
}

impl Conn {
    async fn replay(&mut self) -> Result<(), crate::store::StoreError> {
        let store = &self.app.store;
        let mut after = store
            .resume_point(self.ticket.session_id, &self.ticket.user_id)
            .await?;
        self.last_sent = after;
        loop {
            let page = store
                .personal_after(&self.ticket.user_id, after, REPLAY_PAGE)
                .await?;
            let Some(last) = page.last().map(|m| m.seq) else {
                break;
            };
            for m in &page {
                let event = serde_json::to_string(&m.event).unwrap_or_else(|_| "\"\"".into());
                let frame = packet::encode_message(&event, &m.data);
                if self.sink.feed(Message::Text(frame.into())).await.is_err() {
                    return Ok(());
                }
            }
            if self.sink.flush().await.is_err() {
                return Ok(());
            }
            after = last;
            self.last_sent = last;
            store.advance_cursor(self.ticket.session_id, &self.ticket.user_id, last);
            if page.len() < REPLAY_PAGE {
                break;
            }
        }
        Ok(())
    }

    /// Runs until the tunnel ends; returns the close code.
    async fn relay(
        &mut self,
        mut stream: SplitStream<WebSocket>,
        mut rx: mpsc::Receiver<Outbound>,
        closer: &Closer,
    ) -> u16 {
        let cfg = self.app.config.clone();
        let mut ping = tokio::time::interval(cfg.ws_ping);
        ping.tick().await;
        loop {
            tokio::select! {
                biased;
                code = closer.closed() => {
                    let code = known_close(code);
                    if code.class() == CloseClass::Terminal {
                        // Wafer's SDK reconnects after any unexpected socket close; only the
                        // `close` packet makes it stop.
                        let _ = self.sink.feed(Message::Text(Utf8Bytes::from_static(packet::CLOSE))).await;
                    }
                    let _ = close(&mut self.sink, code).await;
                    return code.code();
                }
                inbound = stream.next() => {
                    self.last_inbound = Instant::now();
                    match inbound {
                        Some(Ok(Message::Close(_))) => {
                            // tungstenite queues the close reply itself; flushing sends it.
                            let _ = self.sink.flush().await;
                            return CloseCode::Normal.code();
                        }
                        Some(Ok(msg)) => {
                            // Whatever was queued before this frame arrived goes out before
                            // its answer, so a `ping` round trip proves earlier pushes arrived.
                            while let Ok(out) = rx.try_recv() {
                                if self.outbound(out, &mut rx).await.is_err() {
                                    return 1006;
                                }
                            }
                            if let Some(code) = self.inbound(msg).await {
                                let _ = close(&mut self.sink, code).await;
                                return code.code();
                            }
                        }
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "socket read failed");
                            let _ = close(&mut self.sink, CloseCode::Protocol).await;
                            return CloseCode::Protocol.code();
                        }
                        None => return 1005,
                    }
                }
                out = rx.recv() => {
                    let Some(out) = out else { return CloseCode::Shutdown.code() };
                    if self.outbound(out, &mut rx).await.is_err() {
                        return 1006;
                    }
                }
                _ = ping.tick() => {
                    if self.last_inbound.elapsed() > cfg.idle_timeout {
                        tracing::info!("no frame within the idle timeout");
                        let _ = close(&mut self.sink, CloseCode::NoPing).await;
                        return CloseCode::NoPing.code();
                    }
                    if self.sink.send(Message::Ping(Default::default())).await.is_err() {
                        return 1006;
                    }
                }
            }
        }
    }

    /// Writes one queued frame and whatever else is already waiting, then flushes once.
    async fn outbound(
        &mut self,
        first: Outbound,
        rx: &mut mpsc::Receiver<Outbound>,
    ) -> Result<(), axum::Error> {
        let before = self.last_sent;
        let mut next = Some(first);
        let mut written = 0;
        while let Some(out) = next.take() {
            let frame = match out {
                Outbound::Frame(f) => Some(f),
                Outbound::Personal { seq, frame } if seq > self.last_sent => {
                    self.last_sent = seq;
                    Some(frame)
                }
                Outbound::Personal { .. } => None,
            };
            if let Some(f) = frame {
                self.sink.feed(Message::Text(f)).await?;
                written += 1;
            }
            if written < MAX_COALESCE {
                next = rx.try_recv().ok();
            }
        }
        self.sink.flush().await?;
        if self.last_sent > before {
            self.app.store.advance_cursor(
                self.ticket.session_id,
                &self.ticket.user_id,
                self.last_sent,
            );
        }
        Ok(())
    }

    /// Handles one inbound message; `Some(code)` ends the tunnel.
    async fn inbound(&mut self, msg: Message) -> Option<CloseCode> {
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(_) => {
                self.error_packet(error_code::BINARY, "binary frames are not supported")
                    .await;
                return None;
            }
            Message::Close(_) | Message::Ping(_) | Message::Pong(_) => return None,
        };
        let p = Packet::parse(text.as_str());
        match p.kind {
            PacketType::Ping => {
                let pong = Message::Text(Utf8Bytes::from_static(packet::PONG));
                if self.sink.send(pong).await.is_err() {
                    return Some(CloseCode::Normal);
                }
            }
            PacketType::Pong | PacketType::Timeout => {}
            PacketType::Close => return Some(CloseCode::Normal),
            PacketType::Message => self.client_message(p.content).await,
            PacketType::Other(kind) => {
                tracing::debug!(kind, "unknown packet type");
                let msg = format!("unknown packet type {:?}", truncate(kind, 32));
                self.error_packet(error_code::UNKNOWN_PACKET, &msg).await;
            }
        }
        None
    }

    async fn client_message(&mut self, content: Option<&str>) {
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
                if let Some(w) = &self.app.webhook {
                    w.message(
                        &self.ticket.tunnel_id,
                        &self.ticket.user_id,
                        &m.kind,
                        &m.content,
                    );
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "bad message packet");
                self.error_packet(error_code::BAD_PACKET, &e).await;
            }
        }
    }

    async fn error_packet(&mut self, code: u16, message: &str) {
        let body = serde_json::json!({ "code": code, "message": message });
        let _ = self
            .sink
            .send(Message::Text(format!("error:{body}").into()))
            .await;
    }
}

fn known_close(code: u16) -> CloseCode {
    [
        CloseCode::Normal,
        CloseCode::Shutdown,
        CloseCode::Protocol,
        CloseCode::NoPing,
        CloseCode::SlowConsumer,
        CloseCode::ClosedByServer,
        CloseCode::SessionRevoked,
        CloseCode::TooManyDevices,
    ]
    .into_iter()
    .find(|c| c.code() == code)
    .unwrap_or(CloseCode::Shutdown)
}

async fn close(sink: &mut Sink, code: CloseCode) -> Result<(), axum::Error> {
    let frame = CloseFrame {
        code: code.code(),
        reason: Utf8Bytes::from_static(code.reason()),
    };
    sink.send(Message::Close(Some(frame))).await?;
    sink.close().await
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
