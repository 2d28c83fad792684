//! Tunnel events POSTed to the customer's back end, signed with HMAC-SHA256.
//!
//! Events go through a bounded queue to one worker, which keeps them in order and retries
//! with backoff. A tunnel never waits for the webhook: when the queue is full the event is
//! dropped with a warning.

use std::time::Duration;

use cometa_protocol::api::{WebhookEvent, WebhookMessage};
use hmac::{Hmac, Mac};
use serde_json::value::RawValue;
use sha2::Sha256;
use tokio::sync::mpsc;

pub const SIGNATURE_HEADER: &str = "X-Cometa-Signature";

#[derive(Clone)]
pub struct Webhook {
    tx: mpsc::Sender<Vec<u8>>,
}

pub struct WebhookSettings {
    pub url: reqwest::Url,
    pub secret: String,
    pub queue: usize,
    pub max_attempts: u32,
    pub timeout: Duration,
}

/// `sha256=<hex>` of the body.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length; the error arm cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    pub fn start(s: WebhookSettings) -> Self {
        let (tx, rx) = mpsc::channel(s.queue);
        tokio::spawn(worker(s, rx));
        Self { tx }
    }

    pub fn connect(&self, tunnel_id: &str, user_id: &str) {
        self.send("connect", tunnel_id, user_id, None);
    }

    pub fn close(&self, tunnel_id: &str, user_id: &str) {
        self.send("close", tunnel_id, user_id, None);
    }

    pub fn message(&self, tunnel_id: &str, user_id: &str, kind: &str, content: &RawValue) {
        self.send(
            "message",
            tunnel_id,
            user_id,
            Some(WebhookMessage { kind, content }),
        );
    }

    fn send(&self, kind: &str, tunnel_id: &str, user_id: &str, message: Option<WebhookMessage>) {
        let event = WebhookEvent {
            kind,
            tunnel_id,
            user_id,
            message,
        };
        let body = match serde_json::to_vec(&event) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode webhook event");
                return;
            }
        };
        if self.tx.try_send(body).is_err() {
            tracing::warn!(
                kind,
                tunnel = tunnel_id,
                "webhook queue full; event dropped"
            );
        }
    }
}

async fn worker(s: WebhookSettings, mut rx: mpsc::Receiver<Vec<u8>>) {
    let client = match reqwest::Client::builder().timeout(s.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook client; webhook disabled");
            return;
        }
    };
    while let Some(body) = rx.recv().await {
        let signature = sign(&s.secret, &body);
        for attempt in 1..=s.max_attempts {
            let res = client
                .post(s.url.clone())
                .header("Content-Type", "application/json")
                .header(SIGNATURE_HEADER, &signature)
                .body(body.clone())
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => break,
                Ok(r) => tracing::warn!(status = %r.status(), attempt, "webhook refused event"),
                Err(e) => tracing::warn!(error = %e, attempt, "webhook unreachable"),
            }
            if attempt < s.max_attempts {
                let backoff = Duration::from_millis(200u64 << attempt.min(6));
                tokio::time::sleep(backoff).await;
            } else {
                tracing::error!(attempts = attempt, "webhook event given up");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_known_vector() {
        // RFC 4231 test case 2.
        let sig = sign("Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
