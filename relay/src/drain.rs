//! Graceful shutdown of the live connections: each is told to reconnect elsewhere (close
//! 1001, reconnect class), one after another evenly over `--drain-secs`, so the clients of a
//! relay being rolled do not all land on its peers in the same instant.
//!
//! The accept loop has stopped by then, so a client that comes straight back finds the port
//! closed and tries elsewhere (the SDK backs off with full jitter on top of this spread).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cometa_protocol::CloseCode;
use tokio::time::Instant;

use crate::state::App;

/// Marks the relay as draining and closes its connections spread over `window`; returns when
/// the last close has been asked for.
pub async fn drain(app: App, window: Duration) {
    app.draining.store(true, Ordering::Relaxed);
    let ids: Vec<Arc<str>> = app.hub.ids();
    tracing::info!(
        connections = ids.len(),
        window_secs = window.as_secs_f64(),
        "draining"
    );
    let start = Instant::now();
    let n = ids.len() as u32;
    for (i, id) in (0u32..).zip(ids) {
        // Everyone left on their own: nothing to wait for.
        if app.hub.live() == 0 {
            break;
        }
        // The i-th of n closes at i/n of the window: the first at once, the last one step
        // before the end, so the whole drain fits in the window.
        tokio::time::sleep_until(start + window.mul_f64(f64::from(i) / f64::from(n.max(1)))).await;
        app.hub.close(&id, CloseCode::Shutdown);
    }
    // Whatever registered after the snapshot (an upgrade already under way).
    app.hub.close_all(CloseCode::Shutdown);
}
