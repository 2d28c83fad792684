//! The frames the relay writes, in each dialect's shape. A message is encoded once per
//! dialect by whoever publishes or replays it, and the bytes are shared by every recipient
//! ([`Utf8Bytes`] clones are reference counts).

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use cometa_protocol::frames::Publication;
use cometa_protocol::native;
use cometa_protocol::packet;
use serde_json::value::RawValue;

/// Which protocol a connection speaks: Wafer's tunnel packets, or the native dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Wafer,
    Native,
}

/// A personal-stream message in both dialects' shapes, shared by every device of the user.
#[derive(Debug)]
pub struct PersonalFrame {
    pub seq: u64,
    pub wafer: Utf8Bytes,
    pub native: Utf8Bytes,
}

impl PersonalFrame {
    /// The bytes a connection of `dialect` is sent.
    pub fn of(&self, dialect: Dialect) -> &Utf8Bytes {
        match dialect {
            Dialect::Wafer => &self.wafer,
            Dialect::Native => &self.native,
        }
    }
}

fn raw(data: &str) -> Box<RawValue> {
    RawValue::from_string(data.to_string()).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// A personal message in both dialects' shapes, once for all of the user's devices.
pub fn personal_frames(event: &str, data: &str, seq: u64) -> Arc<PersonalFrame> {
    Arc::new(PersonalFrame {
        seq,
        wafer: wafer_stream_frame(event, data, seq),
        native: personal_frame(event, data, seq),
    })
}

/// Wafer's `message:{"type","content"}` (broadcasts and messages to one tunnel: no stream).
pub fn wafer_frame(event: &str, data: &str) -> Utf8Bytes {
    let event_json = serde_json::Value::from(event).to_string();
    packet::encode_message(&event_json, data).into()
}

/// Wafer's `message:{"type","content"}` of a personal message, with its `seq` for the SDK's
/// dedup (Wafer clients ignore the extra member).
pub fn wafer_stream_frame(event: &str, data: &str, seq: u64) -> Utf8Bytes {
    let event_json = serde_json::Value::from(event).to_string();
    packet::encode_stream_message(&event_json, data, seq).into()
}

/// The native `pub:` packet of a personal message.
pub fn personal_frame(event: &str, data: &str, seq: u64) -> Utf8Bytes {
    channel_frame(native::PERSONAL, event, data, Some(seq), None)
}

/// The native `pub:` packet of a channel message.
pub fn channel_frame(
    channel: &str,
    event: &str,
    data: &str,
    seq: Option<u64>,
    user_id: Option<&str>,
) -> Utf8Bytes {
    let data = raw(data);
    let p = Publication {
        channel,
        event,
        data: &data,
        seq,
        user_id,
    };
    match serde_json::to_string(&p) {
        Ok(json) => format!("{}:{json}", native::PUB).into(),
        Err(_) => Utf8Bytes::from_static("pub:{}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_message_in_each_dialect() {
        let f = personal_frames("n", r#"{"a":1}"#, 3);
        assert_eq!(
            f.of(Dialect::Wafer).as_str(),
            r#"message:{"type":"n","content":{"a":1},"seq":3}"#
        );
        assert_eq!(
            f.of(Dialect::Native).as_str(),
            r#"pub:{"channel":"msg","event":"n","data":{"a":1},"seq":3}"#
        );
        assert_eq!(
            channel_frame("web_x", "e", "not json", None, Some("u")).as_str(),
            r#"pub:{"channel":"web_x","event":"e","data":null,"user_id":"u"}"#
        );
    }
}
