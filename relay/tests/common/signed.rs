//! The relay's signature on webhook and delegated-auth requests, checked as a receiver would.

use axum::http::HeaderMap;

/// Oldest timestamp a receiver accepts, as the README tells receivers to do.
pub const MAX_AGE_SECS: u64 = 300;

/// Whether `headers` carry a fresh `X-Cometa-Timestamp` and an `X-Cometa-Signature` over
/// `<timestamp>.<body>` under `secret`.
pub fn signed(headers: &HeaderMap, body: &[u8], secret: &str) -> bool {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let Ok(timestamp) = get("x-cometa-timestamp").parse::<u64>() else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    timestamp.abs_diff(now) <= MAX_AGE_SECS
        && get("x-cometa-signature") == cometa_relay::webhook::sign(secret, timestamp, body)
}
