//! The `type[:json]` framing and the name rules, on any text.
//!
//! Properties: a frame is exactly its type, `:` and its content put back together; the type
//! names round-trip; `encode_message` gives a frame whose body decodes to the event and the
//! very content bytes it was built from; each name rule accepts exactly what it documents.

#![no_main]

use cometa_protocol::api::TunnelMessage;
use cometa_protocol::names;
use cometa_protocol::native::{self, ChannelKind};
use cometa_protocol::packet::{self, Packet, PacketType};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    framing(raw);
    names_rules(raw);
    // The first line is an event name, the rest a content payload.
    let (event, content) = raw.split_once('\n').unwrap_or((raw, "null"));
    message_round_trip(event, content);
});

fn framing(raw: &str) {
    let p = Packet::parse(raw);
    let kind = p.kind.as_str();
    assert!(!kind.contains(':'), "the type stops at the first colon");
    assert_eq!(PacketType::parse(kind), p.kind);
    match p.content {
        Some(c) => {
            assert!(!c.is_empty());
            assert_eq!(format!("{kind}:{c}"), raw);
        }
        None => assert!(raw == kind || raw == format!("{kind}:")),
    }
}

fn names_rules(raw: &str) {
    let body = raw.strip_prefix('@').unwrap_or(raw);
    let channel_ok = !body.is_empty()
        && raw.len() <= native::MAX_CHANNEL_LEN
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    assert_eq!(native::check_channel(raw).is_ok(), channel_ok);

    // `.` and `..` are refused: a user id ends up in URL paths.
    let user_ok = !raw.is_empty()
        && !matches!(raw, "." | "..")
        && raw.len() <= names::MAX_USER_ID_LEN
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.@:".contains(c));
    assert_eq!(names::check_user_id(raw).is_ok(), user_ok);

    let event_ok =
        !raw.is_empty() && raw.len() <= names::MAX_EVENT_LEN && !raw.chars().any(char::is_control);
    assert_eq!(names::check_event(raw).is_ok(), event_ok);

    match native::split_subscription(raw) {
        (pipe, Some(event)) => {
            assert_eq!(format!("{pipe}.{event}"), raw);
            assert!(!pipe.is_empty() && !event.is_empty() && !event.contains('.'));
        }
        (pipe, None) => assert_eq!(pipe, raw),
    }

    // Being authenticated never takes a right away.
    let kind = ChannelKind::of(raw);
    assert!(!kind.client_may_publish(false) || kind.client_may_publish(true));
    assert!(!kind.may_subscribe(false) || kind.may_subscribe(true));
}

fn message_round_trip(event: &str, content: &str) {
    // Only valid JSON content is sent; a raw value has no depth limit, so this also covers
    // content nested far deeper than a parser into a tree would take.
    let Ok(content) = serde_json::from_str::<Box<RawValue>>(content) else {
        return;
    };
    let event_json = serde_json::to_string(event).unwrap_or_else(|e| panic!("a str encodes: {e}"));
    let frame = packet::encode_message(&event_json, content.get());
    let p = Packet::parse(&frame);
    assert_eq!(p.kind, PacketType::Message);
    let body = p.content.unwrap_or_else(|| panic!("a message has content"));
    let m: TunnelMessage =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("an encoded message decodes: {e}"));
    assert_eq!(m.kind, event);
    assert_eq!(m.content.get(), content.get());
}
