//! One simulated client socket: connect, the dialect's handshake, then a read loop that
//! stamps deliveries into the [`Recorder`] and answers the server's keep-alives.
//!
//! "Ready" means a full round trip through the server after the upgrade: the relay's `pong`
//! comes from the tunnel task once it is registered in the hub; socket.io's `40{sid}` comes
//! once the namespace connection (and its room joins) exist; the ceiling answers `ping` once
//! its connection is registered.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::net;
use crate::peer::Peer;
use crate::recorder::{Recorder, stamp};
use crate::target::Target;

pub type Ws = WebSocketStream<TcpStream>;

/// Connects to `url` from `from` and completes the dialect's handshake.
pub async fn open(
    target: &Target,
    url: &str,
    from: Ipv4Addr,
    timeout: Duration,
) -> anyhow::Result<Ws> {
    tokio::time::timeout(timeout, async {
        let tcp = net::connect(from, target.addr, timeout).await?;
        let (mut ws, _) =
            tokio_tungstenite::client_async_with_config(url, tcp, Some(net::ws_config()))
                .await
                .context("WebSocket handshake")?;
        match target.peer {
            Peer::Cometa | Peer::Ceiling => {
                if let Some(frame) = target.subscribe_frame() {
                    ws.send(Message::text(frame)).await?;
                }
                ws.send(Message::text("ping")).await?;
                wait_for(&mut ws, |t| t == "pong").await?;
            }
            Peer::Socketio => {
                // engine.io v4: `0{sid,...}` open, then `40` connects the main namespace.
                wait_for(&mut ws, |t| t.starts_with('0')).await?;
                ws.send(Message::text("40")).await?;
                wait_for(&mut ws, |t| t.starts_with("40")).await?;
            }
        }
        Ok(ws)
    })
    .await
    .context("connect timed out")?
}

async fn wait_for(ws: &mut Ws, done: impl Fn(&str) -> bool) -> anyhow::Result<()> {
    while let Some(msg) = ws.next().await {
        if let Message::Text(t) = msg? {
            if done(t.as_str()) {
                return Ok(());
            }
            if t.as_str() == "2" {
                ws.send(Message::text("3")).await?;
            }
        }
    }
    bail!("closed during the handshake")
}

/// Reads until the server closes the socket or the task is aborted.
pub async fn run(mut ws: Ws, conn: usize, recorder: Arc<Recorder>) {
    while let Some(Ok(msg)) = ws.next().await {
        // WebSocket pings are answered by tungstenite itself on the next read.
        let Message::Text(text) = msg else { continue };
        let text = text.as_str();
        if let Some((step, sent)) = stamp(text) {
            recorder.record(conn, step, sent);
        } else if text == "2" {
            // engine.io ping: the server drops us without the `3`.
            if ws.send(Message::text("3")).await.is_err() {
                break;
            }
        } else if text == "ping" && ws.send(Message::text("pong")).await.is_err() {
            break;
        }
    }
    recorder.closed.fetch_add(1, Ordering::Relaxed);
}
