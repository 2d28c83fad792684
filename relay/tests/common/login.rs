//! Helpers for the login tests: raw requests with status, headers and body.

use anyhow::{Context, Result};
use base64::Engine;
use reqwest::RequestBuilder;
use serde_json::{Value, json};

use super::TestRelay;

/// Status, headers and JSON body of a request.
pub async fn send(req: RequestBuilder) -> Result<(u16, reqwest::header::HeaderMap, Value)> {
    let res = req.send().await?;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await?;
    Ok((
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

pub fn login(r: &TestRelay) -> RequestBuilder {
    r.http.post(r.url("/weapp/login"))
}

pub fn basic(user: &str, pass: &str) -> String {
    let raw = format!("{user}:{pass}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

pub fn skey(body: &Value) -> Result<String> {
    Ok(body["data"]["skey"]
        .as_str()
        .with_context(|| format!("no skey in {body}"))?
        .to_string())
}

pub fn assert_login_failed(st: u16, body: &Value) {
    assert_eq!(
        (st, &body["code"], body["error"].as_str()),
        (401, &json!(-1), Some("ERR_LOGIN_FAILED")),
        "{body}"
    );
}

pub async fn register(r: &TestRelay, body: Value) -> Result<Value> {
    let (st, user) = r.api("POST", "/users", Some(body)).await?;
    anyhow::ensure!(st == 201, "register: {st} {user}");
    Ok(user)
}

/// The `cometa_visitor=…` pair of a `Set-Cookie` header.
pub fn visitor_cookie(headers: &reqwest::header::HeaderMap) -> Result<String> {
    let set = headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .context("no Set-Cookie")?;
    Ok(set.split(';').next().unwrap_or_default().to_string())
}
