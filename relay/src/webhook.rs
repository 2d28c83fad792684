//! Tunnel events POSTed to the customer's back end, signed with HMAC-SHA256.
//!
//! Events go through a queue bounded by count and by bytes to one worker, which keeps them in
//! order and retries with backoff. A tunnel never waits for the webhook: when the queue is
//! full a client's message is refused (the tunnel answers with an `error:` packet) and a
//! connect or close event is dropped with a warning.
//!
//! Each attempt is signed over `<timestamp>.<body>`, the timestamp (Unix seconds) sent in
//! [`TIMESTAMP_HEADER`], so a receiver that refuses old timestamps cannot be fed a replayed
//! event. Redirects are never followed (the signed body must reach the configured URL or
//! nobody), and the URL is never logged: its query may hold a secret.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cometa_protocol::api::{WebhookEvent, WebhookMessage};
use hmac::{Hmac, Mac};
use serde_json::value::RawValue;
use sha2::Sha256;
use tokio::sync::mpsc;

pub const SIGNATURE_HEADER: &str = "X-Cometa-Signature";
/// Unix seconds of the attempt; part of what [`SIGNATURE_HEADER`] signs.
pub const TIMESTAMP_HEADER: &str = "X-Cometa-Timestamp";

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook queue is full; the message was not forwarded")]
    QueueFull,
    #[error("the webhook worker has stopped")]
    Closed,
    #[error("cannot encode the webhook event: {0}")]
    Encode(#[from] serde_json::Error),
}

#[derive(Clone)]
pub struct Webhook {
    tx: mpsc::Sender<Vec<u8>>,
    /// Bytes of the events queued or being delivered.
    queued_bytes: Arc<AtomicUsize>,
    max_bytes: usize,
}

pub struct WebhookSettings {
    pub url: reqwest::Url,
    pub secret: String,
    pub queue: usize,
    pub queue_bytes: usize,
    pub max_attempts: u32,
    pub timeout: Duration,
}

/// `sha256=<hex>` of HMAC-SHA256(secret, `<timestamp>.<body>`).
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    // HMAC accepts keys of any length; the error arm cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    pub fn start(s: WebhookSettings) -> Self {
        let (tx, rx) = mpsc::channel(s.queue);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let max_bytes = s.queue_bytes;
        tokio::spawn(worker(s, rx, queued_bytes.clone()));
        Self {
            tx,
            queued_bytes,
            max_bytes,
        }
    }

    /// Events waiting for the worker.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub fn connect(&self, tunnel_id: &str, user_id: &str) {
        self.notify("connect", tunnel_id, user_id);
    }

    pub fn close(&self, tunnel_id: &str, user_id: &str) {
        self.notify("close", tunnel_id, user_id);
    }

    /// Queues a client's message; `Err` tells the client it was not forwarded.
    pub fn message(
        &self,
        tunnel_id: &str,
        user_id: &str,
        kind: &str,
        content: &RawValue,
    ) -> Result<(), WebhookError> {
        self.send(
            "message",
            tunnel_id,
            user_id,
            Some(WebhookMessage { kind, content }),
        )
    }

    /// A connect or close event: nobody to tell when it cannot be queued, so it is logged.
    fn notify(&self, kind: &str, tunnel_id: &str, user_id: &str) {
        if let Err(e) = self.send(kind, tunnel_id, user_id, None) {
            tracing::warn!(kind, tunnel = tunnel_id, error = %e, "webhook event dropped");
        }
    }

    fn send(
        &self,
        kind: &str,
        tunnel_id: &str,
        user_id: &str,
        message: Option<WebhookMessage>,
    ) -> Result<(), WebhookError> {
        let event = WebhookEvent {
            kind,
            tunnel_id,
            user_id,
            message,
        };
        let body = serde_json::to_vec(&event)?;
        let len = body.len();
        // Reserve the bytes first, so concurrent tunnels cannot overshoot the bound together.
        if self.queued_bytes.fetch_add(len, Ordering::AcqRel) + len > self.max_bytes {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            return Err(WebhookError::QueueFull);
        }
        self.tx.try_send(body).map_err(|e| {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            match e {
                mpsc::error::TrySendError::Full(_) => WebhookError::QueueFull,
                mpsc::error::TrySendError::Closed(_) => WebhookError::Closed,
            }
        })
    }
}

async fn worker(s: WebhookSettings, mut rx: mpsc::Receiver<Vec<u8>>, queued: Arc<AtomicUsize>) {
    let client = match reqwest::Client::builder()
        .timeout(s.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e.without_url(), "cannot build the webhook client; webhook disabled");
            return;
        }
    };
    while let Some(body) = rx.recv().await {
        deliver(&s, &client, &body).await;
        queued.fetch_sub(body.len(), Ordering::AcqRel);
    }
}

async fn deliver(s: &WebhookSettings, client: &reqwest::Client, body: &[u8]) {
    for attempt in 1..=s.max_attempts {
        let timestamp = crate::unix_now();
        let res = client
            .post(s.url.clone())
            .header("Content-Type", "application/json")
            .header(TIMESTAMP_HEADER, timestamp)
            .header(SIGNATURE_HEADER, sign(&s.secret, timestamp, body))
            .body(body.to_vec())
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => return,
            // A redirect is a refusal too: following it would send the event elsewhere.
            Ok(r) => tracing::warn!(status = %r.status(), attempt, "webhook refused event"),
            // Without the URL: its query may hold a token.
            Err(e) => tracing::warn!(error = %e.without_url(), attempt, "webhook unreachable"),
        }
        if attempt < s.max_attempts {
            let backoff = Duration::from_millis(200u64 << attempt.min(6));
            tokio::time::sleep(backoff).await;
        } else {
            tracing::error!(attempts = attempt, "webhook event given up");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_covers_the_timestamp_and_the_body() {
        // RFC 4231 test case 2, its message split as `<timestamp>.<body>` would be.
        let sig = sign("Jefe", 1_700_000_000, b"what do ya want for nothing?");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap_or_else(|e| panic!("{e}"));
        mac.update(b"1700000000.what do ya want for nothing?");
        assert_eq!(
            sig,
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        );
        assert_ne!(
            sig,
            sign("Jefe", 1_700_000_001, b"what do ya want for nothing?")
        );
    }

    /// Collects what the log subscriber writes and says when it wrote.
    #[derive(Clone, Default)]
    struct Capture(Arc<(std::sync::Mutex<Vec<u8>>, tokio::sync::Notify)>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut b) = self.0.0.lock() {
                b.extend_from_slice(buf);
            }
            self.0.1.notify_one();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_query_of_an_unreachable_url_is_never_logged() -> anyhow::Result<()> {
        let log = Capture::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        // The test runtime has one thread: the worker task logs through this subscriber too.
        let _guard = tracing::subscriber::set_default(subscriber);
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let hook = Webhook::start(WebhookSettings {
            url: format!("http://127.0.0.1:{port}/hook?token=s3cret-in-query").parse()?,
            secret: "k".into(),
            queue: 4,
            queue_bytes: 1 << 20,
            max_attempts: 1,
            timeout: Duration::from_secs(5),
        });
        hook.connect("t1", "u1");
        let text = loop {
            tokio::time::timeout(Duration::from_secs(10), log.0.1.notified()).await?;
            let text = String::from_utf8_lossy(&log.0.0.lock().map_or(Vec::new(), |b| b.clone()))
                .into_owned();
            if text.contains("given up") {
                break text;
            }
        };
        assert!(text.contains("webhook unreachable"), "{text}");
        assert!(!text.contains("s3cret-in-query"), "{text}");
        Ok(())
    }
}
