//! Text framing: `type` or `type:json`, exactly Wafer's tunnel packet format.
//!
//! The split happens at the first `:` only; the rest is the JSON content, which may itself
//! contain colons.

/// Packet types known to this version. Unknown types are kept as [`PacketType::Other`] so a
/// peer can ignore them, as Wafer clients do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType<'a> {
    Ping,
    Pong,
    Timeout,
    Close,
    Message,
    Other(&'a str),
}

impl<'a> PacketType<'a> {
    pub fn parse(s: &'a str) -> Self {
        match s {
            "ping" => Self::Ping,
            "pong" => Self::Pong,
            "timeout" => Self::Timeout,
            "close" => Self::Close,
            "message" => Self::Message,
            other => Self::Other(other),
        }
    }

    pub fn as_str(&self) -> &'a str {
        match self {
            Self::Ping => "ping",
            Self::Pong => "pong",
            Self::Timeout => "timeout",
            Self::Close => "close",
            Self::Message => "message",
            Self::Other(s) => s,
        }
    }
}

/// One decoded packet, borrowing from the frame it came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub kind: PacketType<'a>,
    /// Raw JSON after the first `:`; `None` when absent or empty (Wafer treats both alike).
    pub content: Option<&'a str>,
}

impl<'a> Packet<'a> {
    pub fn parse(raw: &'a str) -> Self {
        // A byte search, not `split_once(':')`: the char pattern's searcher costs the wasm
        // SDK modules ~0.2 KB gzipped.
        let (kind, content) = match raw.bytes().position(|b| b == b':') {
            Some(i) => (&raw[..i], Some(&raw[i + 1..]).filter(|c| !c.is_empty())),
            None => (raw, None),
        };
        Packet {
            kind: PacketType::parse(kind),
            content,
        }
    }
}

/// `message:{"type":<event>,"content":<content>}` where `event_json` and `content_json` are
/// already-encoded JSON values. Built by hand so the relay can encode a message once with the
/// caller's JSON and share the bytes among every recipient.
pub fn encode_message(event_json: &str, content_json: &str) -> String {
    let mut s = String::with_capacity(32 + event_json.len() + content_json.len());
    s.push_str("message:{\"type\":");
    s.push_str(event_json);
    s.push_str(",\"content\":");
    s.push_str(content_json);
    s.push('}');
    s
}

/// A message of a user's personal stream in Wafer's shape, with its `seq` as one more member:
/// `message:{"type":..,"content":..,"seq":<n>}`. Wafer clients read `type` and `content` only;
/// the `cometa` SDK drops a seq it already delivered (see [`STREAM`]).
pub fn encode_stream_message(event_json: &str, content_json: &str, seq: u64) -> String {
    let mut s = encode_message(event_json, content_json);
    s.pop();
    s.push_str(",\"seq\":");
    s.push_str(&seq.to_string());
    s.push('}');
    s
}

/// `stream:{"epoch":<text>}`, the first packet of a tunnel with a personal stream: the seqs of
/// the `message` packets that follow count in this epoch. A different epoch than before means
/// a different history (user re-created, store lost), so seqs seen before no longer count.
/// Wafer clients ignore it, as any packet type they do not know.
pub const STREAM: &str = "stream";

/// The [`STREAM`] packet for `epoch` (an id of letters and digits, sent as a JSON string).
pub fn encode_stream(epoch_json: &str) -> String {
    format!("{STREAM}:{{\"epoch\":{epoch_json}}}")
}

/// `timeout:<seconds>`: tells a Wafer client how often to ping.
pub fn encode_timeout(secs: u32) -> String {
    format!("timeout:{secs}")
}

pub const PING: &str = "ping";
pub const PONG: &str = "pong";
pub const CLOSE: &str = "close";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_packets() {
        assert_eq!(
            Packet::parse("ping"),
            Packet {
                kind: PacketType::Ping,
                content: None
            }
        );
        assert_eq!(
            Packet::parse("timeout:15"),
            Packet {
                kind: PacketType::Timeout,
                content: Some("15")
            }
        );
        let p = Packet::parse(r#"message:{"type":"a:b","content":"x:y"}"#);
        assert_eq!(p.kind, PacketType::Message);
        assert_eq!(p.content, Some(r#"{"type":"a:b","content":"x:y"}"#));
        assert_eq!(Packet::parse("close:").content, None);
        assert_eq!(Packet::parse("hello").kind, PacketType::Other("hello"));
        assert_eq!(Packet::parse("").kind, PacketType::Other(""));
    }

    #[test]
    fn message_encoding_is_wafer_shaped() {
        let m = encode_message("\"speak\"", r#"{"word":"hi"}"#);
        assert_eq!(m, r#"message:{"type":"speak","content":{"word":"hi"}}"#);
        let back: serde_json::Value =
            serde_json::from_str(Packet::parse(&m).content.unwrap_or_default()).unwrap_or_default();
        assert_eq!(back["type"], "speak");
        assert_eq!(back["content"]["word"], "hi");
        assert_eq!(encode_timeout(30), "timeout:30");
    }

    #[test]
    fn golden_stream_packets() {
        let m = encode_stream_message("\"n\"", "[1]", 42);
        assert_eq!(m, r#"message:{"type":"n","content":[1],"seq":42}"#);
        let back: serde_json::Value =
            serde_json::from_str(Packet::parse(&m).content.unwrap_or_default()).unwrap_or_default();
        assert_eq!(
            (back["type"].clone(), back["seq"].clone()),
            ("n".into(), 42.into())
        );
        let e = encode_stream("\"a1b2\"");
        assert_eq!(e, r#"stream:{"epoch":"a1b2"}"#);
        assert_eq!(Packet::parse(&e).kind, PacketType::Other(STREAM));
    }
}
