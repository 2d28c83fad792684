//! Value parsers of the settings: each turns one setting's text (from the command line, its
//! `COMETA_*` variable or the TOML file alike) into the type the relay runs on, and refuses
//! what the relay cannot run with. The error text is the reason [`super::ConfigError::Invalid`]
//! reports next to the setting's name.

use std::fmt::Display;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

const POSITIVE: &str = "must be greater than 0";

/// serde_json's 128 levels less the levels of the relay's own envelopes.
pub(super) const MAX_JSON_DEPTH_LIMIT: usize = 120;

fn number<T: FromStr>(v: &str) -> Result<T, String>
where
    T::Err: Display,
{
    v.trim().parse().map_err(|e: T::Err| e.to_string())
}

/// A count or size that 0 would make useless (or divide by).
pub(super) fn positive<T: FromStr + Default + PartialEq>(v: &str) -> Result<T, String>
where
    T::Err: Display,
{
    let n: T = number(v)?;
    if n == T::default() {
        return Err(POSITIVE.into());
    }
    Ok(n)
}

pub(super) fn secs(v: &str) -> Result<Duration, String> {
    number(v).map(Duration::from_secs)
}

pub(super) fn positive_secs(v: &str) -> Result<Duration, String> {
    positive(v).map(Duration::from_secs)
}

pub(super) fn millis(v: &str) -> Result<Duration, String> {
    number(v).map(Duration::from_millis)
}

pub(super) fn positive_millis(v: &str) -> Result<Duration, String> {
    positive(v).map(Duration::from_millis)
}

pub(super) fn url(v: &str) -> Result<reqwest::Url, String> {
    reqwest::Url::parse(v).map_err(|e| e.to_string())
}

pub(super) fn http_url(v: &str) -> Result<reqwest::Url, String> {
    let u = url(v)?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err("must be an http(s) URL".into());
    }
    Ok(u)
}

/// `connectUrl` is built by appending paths: a trailing `/` would double.
pub(super) fn public_url(v: &str) -> Result<String, String> {
    if !(v.starts_with("http://") || v.starts_with("https://")) {
        return Err("must start with http:// or https://".into());
    }
    Ok(v.trim_end_matches('/').to_string())
}

/// Browsers send `Origin` without a trailing `/`; empty items and `*` are dropped later.
pub(super) fn origin(v: &str) -> Result<String, String> {
    Ok(v.trim().trim_end_matches('/').to_string())
}

pub(super) fn header_name(v: &str) -> Result<String, String> {
    let v = v.trim();
    if !v.is_empty() && axum::http::HeaderName::from_bytes(v.as_bytes()).is_err() {
        return Err("must be a comma-separated list of header names".into());
    }
    Ok(v.to_string())
}

pub(super) fn api_key(v: &str) -> Result<String, String> {
    if v.len() < 16 {
        return Err("must be at least 16 characters".into());
    }
    Ok(v.to_string())
}

/// RFC 7518 §3.2: an HS256 key must be at least as long as the hash (256 bits).
pub(super) fn jwt_secret(v: &str) -> Result<String, String> {
    if v.len() < 32 {
        return Err("must be at least 32 bytes".into());
    }
    Ok(v.to_string())
}

pub(super) fn json_depth(v: &str) -> Result<usize, String> {
    let n = positive(v)?;
    if n > MAX_JSON_DEPTH_LIMIT {
        return Err(format!(
            "must be at most {MAX_JSON_DEPTH_LIMIT}: deeper payloads in a reply would pass serde_json's 128 levels"
        ));
    }
    Ok(n)
}

/// MySQL packets carry at most 16 MiB − 1; the limit must fit one.
pub(super) fn statement_bytes(v: &str) -> Result<usize, String> {
    let n = positive(v)?;
    if n >= (1 << 22) {
        return Err("must be less than 4194304".into());
    }
    Ok(n)
}

/// `host:port`, or a port alone (`3306`, `:3306`) on loopback, as the design binds by default.
pub(super) fn cometql_addr(v: &str) -> Result<SocketAddr, String> {
    let v = v.trim();
    let port = v.strip_prefix(':').unwrap_or(v);
    if let Ok(p) = port.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], p)));
    }
    v.parse()
        .map_err(|e: std::net::AddrParseError| format!("{e}: give host:port or a port"))
}

/// Argon2 is CPU-bound: one hasher per core.
pub(super) fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_their_limits() {
        assert_eq!(positive::<u32>(" 3 "), Ok(3));
        assert_eq!(positive::<usize>("0"), Err(POSITIVE.to_string()));
        assert!(positive::<u64>("-1").is_err());
        assert_eq!(secs("0"), Ok(Duration::ZERO));
        assert!(positive_secs("0").is_err());
        assert_eq!(millis("1500"), Ok(Duration::from_millis(1500)));
        assert!(json_depth("121").is_err());
        assert!(statement_bytes("4194304").is_err());
        assert_eq!(
            public_url("https://a.example/").as_deref(),
            Ok("https://a.example")
        );
        assert!(http_url("ftp://a.example").is_err());
        assert!(header_name("X Bad").is_err());
    }
}
