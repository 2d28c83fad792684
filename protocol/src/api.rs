//! JSON bodies of the relay's HTTP API (`/api/v1/*`) and of Wafer's `/weapp/*` replies.
//!
//! Message payloads are kept as [`RawValue`] so the relay stores and forwards the caller's
//! bytes without parsing them into a tree and printing them again.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Every error the relay answers over HTTP: `{code, error, message}`.
///
/// `code` is `-1` for Wafer's authentication failures (the Wafer SDK clears its session and logs
/// in again on `-1`) and the HTTP status otherwise.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub code: i32,
    pub error: String,
    pub message: String,
}

/// Wafer's success envelope `{"code":0,"data":…}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WaferOk<T> {
    pub code: i32,
    pub data: T,
}

impl<T> WaferOk<T> {
    pub fn new(data: T) -> Self {
        Self { code: 0, data }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginData {
    pub skey: String,
    pub userinfo: serde_json::Value,
    /// Unix seconds at which the session was made.
    pub time: u64,
    /// Unix seconds at which the session ends unless refreshed (`POST /weapp/refresh`).
    /// Extra fields: the Wafer SDK ignores them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// `false` when the login asked for a session that ends with the browser session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remember: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TunnelData {
    pub tunnel_id: String,
    pub connect_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginCodeRequest {
    pub user_id: String,
    #[serde(default)]
    pub userinfo: Option<serde_json::Value>,
    #[serde(default)]
    pub ttl_secs: Option<u64>,
    /// Profile fields, stored on the user (created when missing) and merged into `userinfo`.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginCodeResponse {
    pub code: String,
    /// Unix seconds.
    pub expires_at: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushRequest {
    pub event: String,
    #[cfg_attr(feature = "openapi", schema(value_type = serde_json::Value))]
    pub data: Box<RawValue>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResponse {
    pub seq: u64,
    pub delivered: usize,
}

/// A Wafer tunnel message `{"type","content"}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TunnelMessage {
    #[serde(rename = "type")]
    pub kind: String,
    #[cfg_attr(feature = "openapi", schema(value_type = serde_json::Value))]
    #[serde(default = "null_raw")]
    pub content: Box<RawValue>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveredResponse {
    pub delivered: usize,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BroadcastRequest {
    #[serde(default)]
    pub tunnel_ids: Option<Vec<String>>,
    #[serde(rename = "type")]
    pub kind: String,
    #[cfg_attr(feature = "openapi", schema(value_type = serde_json::Value))]
    #[serde(default = "null_raw")]
    pub content: Box<RawValue>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BroadcastResponse {
    pub delivered: usize,
    pub invalid_tunnel_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Presence {
    pub online: bool,
    pub devices: usize,
    /// Unix seconds of the last time a device of the user was connected; `None` if never.
    pub last_seen: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokedResponse {
    pub revoked_sessions: usize,
    pub closed_tunnels: usize,
}

/// The body POSTed to the customer's webhook.
#[derive(Debug, Serialize, Deserialize)]
pub struct WebhookEvent<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub tunnel_id: &'a str,
    pub user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none", borrow)]
    pub message: Option<WebhookMessage<'a>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WebhookMessage<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    #[serde(borrow)]
    pub content: &'a RawValue,
}

fn null_raw() -> Box<RawValue> {
    RawValue::NULL.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wafer_shapes() {
        let ok = WaferOk::new(TunnelData {
            tunnel_id: "t1".into(),
            connect_url: "ws://x/weapp/ws?ticket=a".into(),
        });
        assert_eq!(
            serde_json::to_string(&ok).unwrap_or_default(),
            r#"{"code":0,"data":{"tunnelId":"t1","connectUrl":"ws://x/weapp/ws?ticket=a"}}"#
        );
    }

    #[test]
    fn tunnel_message_keeps_raw_content() {
        let m: TunnelMessage = serde_json::from_str(r#"{"type":"x","content":{"a": 1}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.content.get(), r#"{"a": 1}"#);
        let m: TunnelMessage =
            serde_json::from_str(r#"{"type":"x"}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.content.get(), "null");
        assert!(serde_json::from_str::<TunnelMessage>(r#"{"type":"x","bogus":1}"#).is_err());
    }
}
