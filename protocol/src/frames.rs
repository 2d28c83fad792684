//! JSON bodies of the native dialect's packets (see [`crate::native`] and README.md).
//!
//! Requests serialise as well as parse: Rust clients can build them, and the fuzz targets
//! (`fuzz/`) check that whatever the relay accepts encodes back to an equal request.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A position in a stream: resume after `seq` if the stream is still in `epoch`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Position {
    pub seq: u64,
    pub epoch: String,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthRequest {
    pub id: u64,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub user_key: Option<String>,
    /// An HS256 JWT (`sub` or `user_id`, `exp`).
    #[serde(default)]
    pub token: Option<String>,
    /// A session key from `/weapp/login`.
    #[serde(default)]
    pub skey: Option<String>,
    /// A persistent device id; the relay keeps the device's personal-stream cursor under it.
    #[serde(default)]
    pub device: Option<String>,
    /// Where the device's personal stream resumes, as the client last saw it.
    #[serde(default)]
    pub since: Option<Position>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeRequest {
    pub id: u64,
    pub channel: String,
    #[serde(default)]
    pub since: Option<Position>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelRequest {
    pub id: u64,
    pub channel: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    pub id: u64,
    pub channel: String,
    pub event: String,
    #[serde(default = "null_raw")]
    pub data: Box<RawValue>,
    /// An idempotency key, as a Wafer [`ClientMessage`]'s: a publish resent with the same
    /// `mid` (after a lost reply or a page reload) is stored once and answered with the first
    /// one's seq.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mid: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryRequest {
    pub id: u64,
    pub channel: String,
    #[serde(default)]
    pub limit: Option<usize>,
    /// Only messages with a smaller seq: the next page of a reply that said `more`.
    #[serde(default)]
    pub before: Option<u64>,
}

/// The answer to `history` (native and API): the newest kept messages within the request,
/// oldest first, as many as fit the relay's reply size.
#[derive(Debug, Serialize)]
pub struct HistoryPage<'a> {
    pub epoch: &'a str,
    /// The stream's newest seq.
    pub seq: u64,
    /// Each an encoded [`Publication`], written out as stored.
    pub publications: &'a [Box<RawValue>],
    /// Older messages are kept: ask again with `before` set to the first publication's seq.
    pub more: bool,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserDataRequest {
    pub id: u64,
    pub user_id: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    pub seq: u64,
}

/// Only the `id` of a request, to answer a request whose body could not be read.
#[derive(Debug, Deserialize, Serialize)]
pub struct RequestId {
    pub id: Option<u64>,
}

/// A message as clients see it (`pub` packets, history and recovery lists).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Publication<'a> {
    pub channel: &'a str,
    pub event: &'a str,
    #[serde(borrow)]
    pub data: &'a RawValue,
    /// Absent on live-only channels (`user_status_*`, `sys`, `track_*` subscription/unsubscription).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The sender, stamped by the relay; absent for the back end and anonymous senders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<&'a str>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub code: u16,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct Reply<'a, T: Serialize> {
    pub id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<&'a T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a ErrorInfo>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AuthResult {
    pub user_id: Option<String>,
    pub device: String,
    /// The personal stream's position after the replay that follows this reply.
    pub personal: Option<StreamState>,
}

/// A stream's state in a reply: where it is, and whether a requested resume succeeded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StreamState {
    pub epoch: String,
    /// The stream's newest seq.
    pub seq: u64,
    /// `false` when the requested position could not be resumed (other epoch, or older than
    /// retention): the client missed messages that are gone.
    pub recovered: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PublishResult {
    pub seq: Option<u64>,
}

/// The answer to `user_data`; `data` is `null` when the back end set none.
#[derive(Debug, Serialize)]
pub struct UserDataResult<'a> {
    pub user_id: &'a str,
    pub data: &'a RawValue,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PresenceResult {
    pub count: usize,
    /// Authenticated members (`track_*` channels only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<String>>,
}

/// A Wafer tunnel client's `message:` body: Wafer's `{"type","content"}`, and an optional
/// `"id"` asking the relay to answer with a [`Reply`] once it has taken the message (Cometa's
/// SDK sends one; the real `wafer2-client-sdk` never does, and then gets no reply), and an
/// optional `"mid"`, an idempotency key: the relay hands a user's message with a given `mid`
/// to the back end once, however often the SDK resends it.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientMessage {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default = "null_raw")]
    pub content: Box<RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mid: Option<String>,
}

fn null_raw() -> Box<RawValue> {
    RawValue::NULL.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_publication() {
        let data = RawValue::from_string("{\"t\":1}".into()).unwrap_or_else(|_| null_raw());
        let p = Publication {
            channel: "web_chat",
            event: "message",
            data: &data,
            seq: Some(3),
            user_id: Some("42"),
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap_or_default(),
            r#"{"channel":"web_chat","event":"message","data":{"t":1},"seq":3,"user_id":"42"}"#
        );
    }

    #[test]
    fn golden_requests() {
        let s: SubscribeRequest =
            serde_json::from_str(r#"{"id":2,"channel":"web_x","since":{"seq":5,"epoch":"e1"}}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.since,
            Some(Position {
                seq: 5,
                epoch: "e1".into()
            })
        );
        let a: AuthRequest = serde_json::from_str(r#"{"id":1,"user_id":"7","user_key":"k"}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.user_id.as_deref(), Some("7"));
        assert!(serde_json::from_str::<AuthRequest>(r#"{"id":1,"nope":1}"#).is_err());
        let r = Reply::<PublishResult> {
            id: 4,
            result: Some(&PublishResult { seq: Some(9) }),
            error: None,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap_or_default(),
            r#"{"id":4,"result":{"seq":9}}"#
        );
    }

    #[test]
    fn client_messages_with_and_without_an_id() {
        let m: ClientMessage = serde_json::from_str(r#"{"type":"say","content":{"a":1},"id":7}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (m.kind.as_str(), m.content.get(), m.id),
            ("say", r#"{"a":1}"#, Some(7))
        );
        let m: ClientMessage =
            serde_json::from_str(r#"{"type":"say"}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((m.content.get(), m.id), ("null", None));
        assert_eq!(
            serde_json::to_string(&m).unwrap_or_default(),
            r#"{"type":"say","content":null}"#
        );
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"x","id":-1}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"x","bogus":1}"#).is_err());
    }
}
