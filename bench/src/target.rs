//! The generator's side of each peer: how a client gets its WebSocket URL, and how the
//! back end publishes (to everybody, or to one user). One type for all three peers keeps
//! every scenario peer-agnostic: same generator, same N, same rates.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::peer::{API_KEY, FanoutVia, Peer, Running};

/// The event name every publisher uses.
pub const EVENT: &str = "bench";
/// The channel (or room) fan-out goes to; on the relay it is made live-only, like the peers'.
pub const CHANNEL: &str = "bench";
/// The relay's second fan-out channel, left stored as every channel is by default. Outside
/// the prefix `bench` so the live-only setting does not reach it.
pub const STORED_CHANNEL: &str = "stored_bench";

#[derive(Clone)]
pub struct Target {
    pub peer: Peer,
    pub addr: SocketAddr,
    base: String,
    pub http: reqwest::Client,
    pub fanout_via: FanoutVia,
    /// Where [`Target::publish_all`] goes on the relay.
    channel: &'static str,
}

/// Keep-alive HTTP client for loopback; `from` pins the source address (worker processes).
pub fn http_client(pool: usize, from: Option<Ipv4Addr>) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(pool)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(20))
        .local_address(from.map(std::net::IpAddr::V4))
        .build()?)
}

impl Target {
    pub fn new(running: &Running, fanout_via: FanoutVia, http: reqwest::Client) -> Self {
        Self::at(running.peer, running.addr, fanout_via, http)
    }

    pub fn at(peer: Peer, addr: SocketAddr, fanout_via: FanoutVia, http: reqwest::Client) -> Self {
        Self {
            peer,
            addr,
            base: format!("http://{addr}"),
            http,
            fanout_via,
            channel: CHANNEL,
        }
    }

    /// The same target, publishing to another relay channel.
    pub fn on_channel(&self, channel: &'static str) -> Self {
        Self {
            channel,
            ..self.clone()
        }
    }

    /// Makes the relay keep no history for channels starting with `prefix`.
    pub async fn make_live_only(&self, prefix: &str) -> anyhow::Result<()> {
        let url = format!("{}/api/v1/channel-settings/{prefix}", self.base);
        let r = self
            .http
            .put(url)
            .bearer_auth(API_KEY)
            .json(&serde_json::json!({"history_len": 0, "history_age_secs": 0}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("channel setting refused: {}", r.status());
        }
        Ok(())
    }

    /// A login for `user`: the relay's session key; the peers have no auth (empty).
    pub async fn login(&self, user: &str) -> anyhow::Result<String> {
        if self.peer != Peer::Cometa {
            return Ok(String::new());
        }
        let code: Value = self
            .api_post(
                "/api/v1/login-codes",
                serde_json::json!({ "user_id": user }),
            )
            .await?;
        let code = code["code"].as_str().context("no code")?;
        let login: Value = self
            .http
            .get(format!("{}/weapp/login", self.base))
            .header("X-WX-Code", code)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(wafer_data(&login)?["skey"]
            .as_str()
            .context("no skey")?
            .to_string())
    }

    /// A Wafer tunnel's `connectUrl` for the session `skey` (`GET /weapp/tunnel`).
    pub async fn tunnel_url(&self, skey: &str) -> anyhow::Result<String> {
        let tunnel: Value = self
            .http
            .get(format!("{}/weapp/tunnel", self.base))
            .header("X-WX-Skey", skey)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(wafer_data(&tunnel)?["connectUrl"]
            .as_str()
            .context("no connectUrl")?
            .to_string())
    }

    /// The URL a client of `user` (logged in as `skey`) opens its socket on.
    pub async fn ws_url(&self, user: &str, skey: &str) -> anyhow::Result<String> {
        Ok(match self.peer {
            // Channel subscribers are native-dialect connections; anonymous is enough.
            Peer::Cometa if self.fanout_via == FanoutVia::Channel => {
                format!("ws://{}/connect", self.addr)
            }
            Peer::Cometa => self.tunnel_url(skey).await?,
            Peer::Socketio => format!(
                "ws://{}/socket.io/?EIO=4&transport=websocket&user={user}",
                self.addr
            ),
            Peer::Ceiling => format!("ws://{}/ws?user={user}", self.addr),
        })
    }

    /// Text frames a client sends right after connecting, if the dialect needs them.
    pub fn subscribe_frames(&self) -> Vec<String> {
        match (self.peer, self.fanout_via) {
            (Peer::Cometa, FanoutVia::Channel) => [CHANNEL, STORED_CHANNEL]
                .iter()
                .enumerate()
                .map(|(i, c)| format!("subscribe:{{\"id\":{},\"channel\":\"{c}\"}}", i + 1))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Publishes `content` (a JSON object) to every client; returns how many took it.
    pub async fn publish_all(&self, content: &str) -> anyhow::Result<u64> {
        let body = match (self.peer, self.fanout_via) {
            (Peer::Cometa, FanoutVia::Broadcast) => {
                return self
                    .raw_post(
                        "/api/v1/broadcast",
                        format!("{{\"type\":\"{EVENT}\",\"content\":{content}}}"),
                    )
                    .await;
            }
            (Peer::Cometa, FanoutVia::Channel) => {
                return self
                    .raw_post(
                        &format!("/api/v1/channels/{}/messages", self.channel),
                        format!("{{\"event\":\"{EVENT}\",\"data\":{content}}}"),
                    )
                    .await;
            }
            (Peer::Socketio, _) => {
                format!("{{\"room\":\"{CHANNEL}\",\"event\":\"{EVENT}\",\"data\":{content}}}")
            }
            // The ceiling sends the body verbatim: give it the relay's frame, byte for byte.
            (Peer::Ceiling, _) => wafer_frame(content),
        };
        self.raw_post("/publish", body).await
    }

    /// Publishes `content` to `user`'s devices (durably, on the relay).
    pub async fn publish_to(&self, user: &str, content: &str) -> anyhow::Result<u64> {
        match self.peer {
            Peer::Cometa => {
                self.raw_post(
                    &format!("/api/v1/users/{user}/messages"),
                    format!("{{\"event\":\"{EVENT}\",\"data\":{content}}}"),
                )
                .await
            }
            Peer::Socketio => {
                self.raw_post(
                    "/publish",
                    format!("{{\"room\":\"u:{user}\",\"event\":\"{EVENT}\",\"data\":{content}}}"),
                )
                .await
            }
            Peer::Ceiling => {
                self.raw_post(&format!("/publish/{user}"), wafer_frame(content))
                    .await
            }
        }
    }

    pub async fn api_post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.api(reqwest::Method::POST, path, body).await
    }

    /// A back-end API call with the key; fails on a non-2xx answer.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        Ok(self
            .http
            .request(method, self.url(path))
            .bearer_auth(API_KEY)
            .json(&body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// `path` on the peer, e.g. `/weapp/login`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs a JSON body; returns the `delivered` count of the answer.
    async fn raw_post(&self, path: &str, body: String) -> anyhow::Result<u64> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if self.peer == Peer::Cometa {
            req = req.bearer_auth(API_KEY);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            bail!(
                "{} {path} answered {status}: {}",
                self.peer.name(),
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            );
        }
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(v["delivered"].as_u64().unwrap_or(0))
    }
}

fn wafer_frame(content: &str) -> String {
    format!("message:{{\"type\":\"{EVENT}\",\"content\":{content}}}")
}

fn wafer_data(v: &Value) -> anyhow::Result<&Value> {
    if v["code"].as_i64() != Some(0) {
        bail!("wafer error: {v}");
    }
    Ok(&v["data"])
}
