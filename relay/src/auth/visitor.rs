//! Anonymous visitors: an identity kept in a signed `cometa_visitor` cookie.
//!
//! The cookie holds `<id>.<issued_at>.<hmac>`: the random part of the visitor id, when the
//! cookie was issued, and an HMAC-SHA256 of both under a key kept in the data dir
//! (`visitor-key`). Forging or editing it needs that key; a cookie older than its `Max-Age`
//! is refused even if a client kept it longer. Every login re-issues it, so a visitor who
//! keeps coming back keeps the identity.

use std::path::Path;

use axum::http::{HeaderMap, HeaderValue};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const COOKIE: &str = "cometa_visitor";
/// Visitor user ids are this prefix and a random part.
pub const PREFIX: &str = "visitor:";

pub struct Visitors {
    key: Vec<u8>,
    max_age_secs: u64,
}

impl Visitors {
    /// Loads the signing key from `dir/visitor-key`, making it on first start.
    pub fn open(dir: &Path, max_age_secs: u64) -> std::io::Result<Self> {
        let path = dir.join("visitor-key");
        let key = match std::fs::read_to_string(&path) {
            Ok(k) if k.trim().len() >= 32 => k.trim().to_string(),
            Ok(_) => new_key(&path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => new_key(&path)?,
            Err(e) => return Err(e),
        };
        Ok(Self::with_key(key.into_bytes(), max_age_secs))
    }

    pub fn with_key(key: Vec<u8>, max_age_secs: u64) -> Self {
        Self { key, max_age_secs }
    }

    /// A new visitor's user id.
    pub fn new_id() -> String {
        format!("{PREFIX}{}", crate::secret::generate_id())
    }

    /// The cookie value for `visitor_id` issued at `now`.
    pub fn issue(&self, visitor_id: &str, now: u64) -> Option<String> {
        let random = visitor_id.strip_prefix(PREFIX)?;
        let payload = format!("{random}.{now}");
        Some(format!("{payload}.{}", self.mac(&payload)))
    }

    /// The visitor id in a cookie value, if it is signed with our key and not too old.
    pub fn check(&self, value: &str, now: u64) -> Option<String> {
        let (payload, sig) = value.rsplit_once('.')?;
        let (random, issued) = payload.split_once('.')?;
        let expected = self.mac(payload);
        // Constant-time: the comparison must not reveal how much of a forgery was right.
        if !crate::secret::matches(sig, &expected) {
            return None;
        }
        let issued: u64 = issued.parse().ok()?;
        if issued > now.saturating_add(60) || now.saturating_sub(issued) > self.max_age_secs {
            return None;
        }
        let id = format!("{PREFIX}{random}");
        cometa_protocol::names::check_user_id(&id).ok()?;
        Some(id)
    }

    /// `Set-Cookie` for the value; `Secure` when the page talks to us over https.
    pub fn set_cookie(&self, value: &str, secure: bool) -> Option<HeaderValue> {
        let secure = if secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{COOKIE}={value}; Max-Age={}; Path=/; HttpOnly; SameSite=Lax{secure}",
            self.max_age_secs
        ))
        .ok()
    }

    fn mac(&self, payload: &str) -> String {
        // HMAC takes keys of any length; the error arm cannot happen.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(b"cometa-visitor-v1:");
        mac.update(payload.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

fn new_key(path: &Path) -> std::io::Result<String> {
    let key = crate::secret::generate();
    crate::write_private(path, &key)?;
    Ok(key)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_round_trip_and_tamper() {
        let v = Visitors::with_key(b"k".repeat(32), 100);
        let id = Visitors::new_id();
        let value = v.issue(&id, 1000).unwrap_or_default();
        assert_eq!(v.check(&value, 1050), Some(id.clone()));
        assert_eq!(v.check(&value, 1101), None, "too old");
        let other = Visitors::with_key(b"x".repeat(32), 100);
        assert_eq!(other.check(&value, 1050), None, "other key");
        let tampered = value.replacen(&id[PREFIX.len()..PREFIX.len() + 2], "zz", 1);
        assert_eq!(v.check(&tampered, 1050), None);
        assert_eq!(v.check("garbage", 1050), None);
        assert_eq!(v.issue("alice", 1000), None, "only visitor ids");
    }

    #[test]
    fn parses_cookie_header() {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_static("a=1; cometa_visitor=abc.1.ff; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("abc.1.ff"));
        assert_eq!(cookie(&h, "c"), None);
        let set = Visitors::with_key(vec![1; 32], 60).set_cookie("v", true);
        assert_eq!(
            set.as_ref().and_then(|s| s.to_str().ok()),
            Some("cometa_visitor=v; Max-Age=60; Path=/; HttpOnly; SameSite=Lax; Secure")
        );
    }
}
