//! HS256 JSON Web Tokens minted by the customer's back end with a shared secret.
//!
//! Written over `hmac` + `sha2` + `base64` rather than the `jsonwebtoken` crate: its current
//! version makes every user pick a crypto backend, and both choices pull in far more (RSA,
//! ECDSA, EdDSA, or a C build) than the one algorithm accepted here. Accepting exactly one
//! algorithm also closes the classic `alg` confusion attacks (`none`, RS256-with-HMAC-key)
//! by construction.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// What the relay takes from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// From `sub`, or `user_id` when `sub` is absent.
    pub user_id: String,
    /// Unix seconds; required.
    pub exp: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not three base64url parts")]
    Malformed,
    #[error("the token's algorithm is not HS256")]
    Algorithm,
    #[error("the token's signature does not match")]
    Signature,
    #[error("the token has no `exp` claim")]
    MissingExpiry,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token names no valid user (`sub` or `user_id`)")]
    BadSubject,
    #[error("the token's `exp` is further away than the longest lifetime allowed")]
    TooLong,
    #[error("the token's `aud` does not name this relay")]
    Audience,
    #[error("the token's `iss` is not the expected issuer")]
    Issuer,
}

/// What a token must satisfy besides its signature and times: the longest lifetime, and the
/// audience and issuer when configured (`--jwt-max-lifetime-secs`, `--jwt-audience`,
/// `--jwt-issuer`).
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    pub max_lifetime_secs: u64,
    pub audience: Option<&'a str>,
    pub issuer: Option<&'a str>,
}

impl Default for Expect<'_> {
    fn default() -> Self {
        Self {
            max_lifetime_secs: u64::MAX,
            audience: None,
            issuer: None,
        }
    }
}

impl<'a> Expect<'a> {
    pub fn from_config(c: &'a crate::config::Config) -> Self {
        Self {
            max_lifetime_secs: c.jwt_max_lifetime.as_secs(),
            audience: c.jwt_audience.as_deref(),
            issuer: c.jwt_issuer.as_deref(),
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
}

#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    sub: Option<String>,
    /// A string, or a whole number as CppComet's tokens carry it (`{"user_id": 5}`).
    #[serde(default)]
    user_id: Option<serde_json::Value>,
    #[serde(default)]
    exp: Option<serde_json::Number>,
    #[serde(default)]
    nbf: Option<serde_json::Number>,
    /// A string or an array of strings (RFC 7519 §4.1.3).
    #[serde(default)]
    aud: Option<serde_json::Value>,
    #[serde(default)]
    iss: Option<String>,
}

/// Checks an HS256 token against `secret` at time `now` (unix seconds) and returns its claims.
///
/// The signature is checked (in constant time) before any claim is read, so an attacker learns
/// nothing from claim errors without holding the secret.
pub fn verify(secret: &[u8], token: &str, now: u64) -> Result<Claims, JwtError> {
    verify_expecting(secret, token, now, Expect::default())
}

/// [`verify`], and the token must meet `expect`.
pub fn verify_expecting(
    secret: &[u8],
    token: &str,
    now: u64,
    expect: Expect<'_>,
) -> Result<Claims, JwtError> {
    let mut parts = token.trim().split('.');
    let (Some(h64), Some(c64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header: Header = decode_json(h64)?;
    if header.alg != "HS256" {
        return Err(JwtError::Algorithm);
    }
    if header.typ.is_some_and(|t| !t.eq_ignore_ascii_case("JWT")) {
        return Err(JwtError::Malformed);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(s64)
        .map_err(|_| JwtError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| JwtError::Signature)?;
    mac.update(h64.as_bytes());
    mac.update(b".");
    mac.update(c64.as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&signature)
        .map_err(|_| JwtError::Signature)?;

    let raw: RawClaims = decode_json(c64)?;
    let exp = raw
        .exp
        .as_ref()
        .and_then(number_secs)
        .ok_or(JwtError::MissingExpiry)?;
    if exp <= now {
        return Err(JwtError::Expired);
    }
    // A session never outlives its token's `exp`; one centuries away is a minting mistake
    // or a stolen signing key, not a lifetime anyone meant.
    if exp - now > expect.max_lifetime_secs {
        return Err(JwtError::TooLong);
    }
    if let Some(want) = expect.audience {
        let named = match &raw.aud {
            Some(serde_json::Value::String(a)) => a == want,
            Some(serde_json::Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(want)),
            _ => false,
        };
        if !named {
            return Err(JwtError::Audience);
        }
    }
    if let Some(want) = expect.issuer
        && raw.iss.as_deref() != Some(want)
    {
        return Err(JwtError::Issuer);
    }
    if let Some(nbf) = raw.nbf.as_ref().and_then(number_secs)
        && nbf > now
    {
        return Err(JwtError::NotYetValid);
    }
    let user_id = match (raw.sub, raw.user_id) {
        (Some(sub), _) => sub,
        (None, Some(serde_json::Value::String(id))) => id,
        (None, Some(serde_json::Value::Number(n))) if n.is_u64() || n.is_i64() => n.to_string(),
        _ => return Err(JwtError::BadSubject),
    };
    cometa_protocol::names::check_user_id(&user_id).map_err(|_| JwtError::BadSubject)?;
    Ok(Claims { user_id, exp })
}

/// Makes an HS256 token; for tests, examples and back ends written in Rust.
pub fn sign(secret: &[u8], claims: &serde_json::Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{body}");
    // HMAC takes keys of any length; the error arm cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return signing_input;
    };
    mac.update(signing_input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

/// NumericDate may be fractional; whole seconds are enough here.
fn number_secs(n: &serde_json::Number) -> Option<u64> {
    n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &[u8] = b"a-test-secret-of-some-length";

    #[test]
    fn good_token() {
        let t = sign(KEY, &json!({"sub": "alice", "exp": 2000}));
        assert_eq!(
            verify(KEY, &t, 1000),
            Ok(Claims {
                user_id: "alice".into(),
                exp: 2000
            })
        );
        let t = sign(KEY, &json!({"user_id": "bob", "exp": 2000.5}));
        assert_eq!(verify(KEY, &t, 1000).map(|c| c.user_id), Ok("bob".into()));
        // CppComet's tokens: a numeric `user_id`.
        let t = sign(KEY, &json!({"user_id": 5, "exp": 2000}));
        assert_eq!(verify(KEY, &t, 1000).map(|c| c.user_id), Ok("5".into()));
        let t = sign(KEY, &json!({"user_id": 5.5, "exp": 2000}));
        assert_eq!(verify(KEY, &t, 1000), Err(JwtError::BadSubject));
    }

    #[test]
    fn bad_tokens() {
        let t = sign(KEY, &json!({"sub": "alice", "exp": 2000}));
        assert_eq!(verify(KEY, &t, 2000), Err(JwtError::Expired));
        assert_eq!(verify(b"other", &t, 1000), Err(JwtError::Signature));
        let no_exp = sign(KEY, &json!({"sub": "alice"}));
        assert_eq!(verify(KEY, &no_exp, 1000), Err(JwtError::MissingExpiry));
        let early = sign(KEY, &json!({"sub": "a", "exp": 2000, "nbf": 1500}));
        assert_eq!(verify(KEY, &early, 1000), Err(JwtError::NotYetValid));
        let bad_sub = sign(KEY, &json!({"sub": "a/b", "exp": 2000}));
        assert_eq!(verify(KEY, &bad_sub, 1000), Err(JwtError::BadSubject));
        assert_eq!(verify(KEY, "a.b", 1000), Err(JwtError::Malformed));
        assert_eq!(verify(KEY, "", 1000), Err(JwtError::Malformed));
    }

    #[test]
    fn only_hs256() {
        let claims = URL_SAFE_NO_PAD.encode(r#"{"sub":"alice","exp":2000}"#);
        for alg in ["none", "HS512", "RS256", "hs256"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}"}}"#));
            let t = format!("{header}.{claims}.");
            assert_eq!(verify(KEY, &t, 1000), Err(JwtError::Algorithm), "{alg}");
        }
        // A valid HS256 signature under a header claiming another algorithm still fails.
        let good = sign(KEY, &json!({"sub": "alice", "exp": 2000}));
        let sig = good.rsplit('.').next().unwrap_or_default();
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        let t = format!("{header}.{claims}.{sig}");
        assert_eq!(verify(KEY, &t, 1000), Err(JwtError::Algorithm));
    }

    #[test]
    fn lifetime_audience_and_issuer() {
        let expect = Expect {
            max_lifetime_secs: 3600,
            audience: Some("relay"),
            issuer: Some("https://site.example"),
        };
        let check = |claims| verify_expecting(KEY, &sign(KEY, &claims), 1000, expect);
        let ok = json!({"sub": "a", "exp": 4600, "aud": "relay", "iss": "https://site.example"});
        assert!(check(ok.clone()).is_ok());
        let mut listed = ok.clone();
        listed["aud"] = json!(["other", "relay"]);
        assert!(check(listed).is_ok());
        let mut far = ok.clone();
        far["exp"] = json!(4601);
        assert_eq!(check(far), Err(JwtError::TooLong));
        far = ok.clone();
        far["exp"] = json!(u64::MAX);
        assert_eq!(check(far), Err(JwtError::TooLong));
        for aud in [json!("other"), json!(["x"]), json!(null), json!(7)] {
            let mut t = ok.clone();
            t["aud"] = aud;
            assert_eq!(check(t), Err(JwtError::Audience));
        }
        let mut t = ok.clone();
        t["iss"] = json!("https://evil.example");
        assert_eq!(check(t), Err(JwtError::Issuer));
        t = ok;
        t.as_object_mut().map(|o| o.remove("iss"));
        assert_eq!(check(t), Err(JwtError::Issuer));
        // Off by default: neither claim is needed.
        let bare = sign(KEY, &json!({"sub": "a", "exp": 4600}));
        assert!(verify(KEY, &bare, 1000).is_ok());
    }
}
