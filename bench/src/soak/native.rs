//! A native-dialect connection for the soak: requests with ids, and the `pub` frames that
//! arrive meanwhile handed to the caller. Correctness matters here, not speed (the fast
//! read loop of the other scenarios is `crate::client`).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest wait for any answer of the relay.
pub const WAIT: Duration = Duration::from_secs(20);

/// A `pub` frame: its stream (`msg` for the personal one) and seq.
pub struct Delivery {
    pub channel: String,
    pub seq: Option<u64>,
}

pub struct Conn {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        Self::open_url(&format!("ws://{addr}/connect")).await
    }

    pub async fn open_url(url: &str) -> anyhow::Result<Self> {
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .context("connect timed out")??;
        Ok(Self { ws, next_id: 1 })
    }

    pub async fn send(&mut self, frame: String) -> anyhow::Result<()> {
        self.ws.send(Message::text(frame)).await?;
        Ok(())
    }

    /// Sends `kind:{id,...body}` and waits for its reply; `pub`s meanwhile go to `on_pub`.
    /// Returns the reply's `result`, or fails with its `error`.
    pub async fn request(
        &mut self,
        kind: &str,
        mut body: Value,
        on_pub: &mut (dyn FnMut(Delivery) + Send),
    ) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        body["id"] = id.into();
        self.send(format!("{kind}:{body}")).await?;
        loop {
            let Some(text) = self.next(WAIT).await? else {
                bail!("no reply to {kind} within {WAIT:?}");
            };
            if let Some(d) = delivery(&text) {
                on_pub(d);
                continue;
            }
            let Some(reply) = text.strip_prefix("reply:") else {
                continue;
            };
            let reply: Value = serde_json::from_str(reply)?;
            if reply["id"].as_u64() != Some(id) {
                continue;
            }
            if let Some(e) = reply.get("error") {
                bail!("{kind} refused: {e}");
            }
            return Ok(reply["result"].clone());
        }
    }

    /// The next text frame within `wait`; `None` when none came; an error once the socket
    /// is closed.
    pub async fn next(&mut self, wait: Duration) -> anyhow::Result<Option<String>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => bail!("socket closed"),
                Ok(Some(msg)) => match msg? {
                    Message::Text(t) => {
                        if t.as_str() == "ping" {
                            self.send("pong".into()).await?;
                            continue;
                        }
                        return Ok(Some(t.as_str().to_owned()));
                    }
                    Message::Close(c) => bail!("closed by the relay: {c:?}"),
                    _ => {}
                },
            }
        }
    }

    /// A round trip: `ping`, then everything up to the `pong`, `pub`s to `on_pub`.
    pub async fn ping(&mut self, on_pub: &mut (dyn FnMut(Delivery) + Send)) -> anyhow::Result<()> {
        self.send("ping".into()).await?;
        loop {
            match self.next(WAIT).await? {
                None => bail!("no pong within {WAIT:?}"),
                Some(t) if t == "pong" => return Ok(()),
                Some(t) => {
                    if let Some(d) = delivery(&t) {
                        on_pub(d);
                    }
                }
            }
        }
    }

    /// A clean close: the close handshake, then the socket is dropped.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(WAIT, async {
            let _ = self.ws.close(None).await;
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

pub fn delivery(text: &str) -> Option<Delivery> {
    let body: Value = serde_json::from_str(text.strip_prefix("pub:")?).ok()?;
    Some(Delivery {
        channel: body["channel"].as_str()?.to_owned(),
        seq: body["seq"].as_u64(),
    })
}

/// `{"seq":..,"epoch":..}` for a `since`, if there is a position.
pub fn since(position: Option<(u64, String)>) -> Value {
    match position {
        Some((seq, epoch)) => serde_json::json!({ "seq": seq, "epoch": epoch }),
        None => Value::Null,
    }
}
