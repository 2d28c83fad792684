//! Delegated auth: the site's own server decides who a login request is.
//!
//! The relay POSTs `{"headers":{name:value…}}` — only the configured headers the request
//! carried — to the site's verification URL, signed like webhooks (`X-Cometa-Timestamp` and
//! `X-Cometa-Signature` over both, so a captured request cannot be replayed later).
//! A `200` with `{"user_id", "userinfo"?}` admits; anything else refuses: another status, a
//! body that is not that JSON, a bad user id, a timeout, a refused connection. An outage of
//! the site's server can lock users out, never let anyone in.

use std::time::Duration;

use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};

/// Largest answer read from the verification URL.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DelegatedError {
    #[error("the login request carries none of the verified headers")]
    NoCredentials,
    #[error("the verification URL timed out")]
    Timeout,
    #[error("the verification URL is unreachable: {0}")]
    Unreachable(String),
    #[error("the verification URL refused the login ({0})")]
    Refused(u16),
    #[error("the verification URL answered something else than {{user_id, userinfo}}: {0}")]
    BadAnswer(String),
}

/// Who the site says the request is.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub user_id: String,
    pub userinfo: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct Answer {
    user_id: String,
    #[serde(default)]
    userinfo: Option<Value>,
}

pub struct Delegated {
    client: reqwest::Client,
    url: reqwest::Url,
    /// Header names as configured (sent with this spelling).
    headers: Vec<String>,
    secret: String,
}

impl Delegated {
    pub fn new(
        url: reqwest::Url,
        headers: Vec<String>,
        timeout: Duration,
        secret: String,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirect could carry the signed credentials somewhere unexpected.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
            url,
            headers,
            secret,
        })
    }

    /// Whether the request carries any header this verifier forwards.
    pub fn applies(&self, request: &HeaderMap) -> bool {
        self.headers
            .iter()
            .any(|h| request.contains_key(h.as_str()))
    }

    pub async fn verify(&self, request: &HeaderMap) -> Result<Identity, DelegatedError> {
        let forwarded: Map<String, Value> = self
            .headers
            .iter()
            .filter_map(|name| {
                let value = request.get(name.as_str())?.to_str().ok()?;
                Some((name.clone(), Value::from(value)))
            })
            .collect();
        if forwarded.is_empty() {
            return Err(DelegatedError::NoCredentials);
        }
        let body = serde_json::json!({ "headers": forwarded }).to_string();
        let timestamp = crate::unix_now();
        let res = self
            .client
            .post(self.url.clone())
            .header("Content-Type", "application/json")
            .header(TIMESTAMP_HEADER, timestamp)
            .header(
                SIGNATURE_HEADER,
                sign(&self.secret, timestamp, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    DelegatedError::Timeout
                } else {
                    DelegatedError::Unreachable(e.without_url().to_string())
                }
            })?;
        let status = res.status();
        if status != reqwest::StatusCode::OK {
            return Err(DelegatedError::Refused(status.as_u16()));
        }
        if res
            .content_length()
            .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
        {
            return Err(DelegatedError::BadAnswer("answer too large".into()));
        }
        let bytes = res.bytes().await.map_err(|e| {
            if e.is_timeout() {
                DelegatedError::Timeout
            } else {
                DelegatedError::Unreachable(e.without_url().to_string())
            }
        })?;
        if bytes.len() > MAX_ANSWER_BYTES {
            return Err(DelegatedError::BadAnswer("answer too large".into()));
        }
        parse_answer(&bytes)
    }
}

fn parse_answer(bytes: &[u8]) -> Result<Identity, DelegatedError> {
    let answer: Answer =
        serde_json::from_slice(bytes).map_err(|e| DelegatedError::BadAnswer(e.to_string()))?;
    cometa_protocol::names::check_user_id(&answer.user_id)
        .map_err(|e| DelegatedError::BadAnswer(format!("user_id {e}")))?;
    let userinfo = match answer.userinfo {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => {
            return Err(DelegatedError::BadAnswer(
                "userinfo is not an object".into(),
            ));
        }
    };
    Ok(Identity {
        user_id: answer.user_id,
        userinfo,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let ok = parse_answer(br#"{"user_id":"u1","userinfo":{"n":1}}"#);
        assert!(matches!(ok, Ok(Identity { ref user_id, userinfo: Some(_) }) if user_id == "u1"));
        assert!(parse_answer(br#"{"user_id":"u1"}"#).is_ok());
        for bad in [
            &br#"{"user_id":""}"#[..],
            br#"{"user_id":"a/b"}"#,
            br#"{"userinfo":{}}"#,
            br#"{"user_id":"u","userinfo":3}"#,
            b"not json",
            b"",
        ] {
            assert!(
                parse_answer(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
