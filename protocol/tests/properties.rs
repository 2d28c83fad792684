//! Property tests of the framing and the name rules: whatever the input, encoding then
//! parsing gives it back, and the rules accept exactly what they document.

use cometa_protocol::native::{self, ChannelKind};
use cometa_protocol::packet::{self, Packet, PacketType};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Arbitrary JSON values, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn message_packets_round_trip(event in any::<String>(), content in json_value()) {
        let event_json = serde_json::to_string(&event).unwrap_or_default();
        let content_json = content.to_string();
        let frame = packet::encode_message(&event_json, &content_json);
        let p = Packet::parse(&frame);
        prop_assert_eq!(p.kind, PacketType::Message);
        let body: Value = serde_json::from_str(p.content.unwrap_or_default())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&body["type"], &Value::String(event));
        prop_assert_eq!(&body["content"], &content);
    }

    #[test]
    fn parse_splits_at_the_first_colon_only(kind in "[a-z]{1,10}", rest in any::<String>()) {
        let raw = format!("{kind}:{rest}");
        let p = Packet::parse(&raw);
        prop_assert_eq!(p.kind.as_str(), kind.as_str());
        prop_assert_eq!(p.content, (!rest.is_empty()).then_some(rest.as_str()));
    }

    #[test]
    fn parse_never_panics(raw in any::<String>()) {
        let _ = Packet::parse(&raw);
        let _ = native::split_subscription(&raw);
        let _ = ChannelKind::of(&raw);
    }

    #[test]
    fn channel_names_follow_the_documented_rule(name in any::<String>()) {
        let body = name.strip_prefix('@').unwrap_or(&name);
        let documented = !body.is_empty()
            && name.len() <= native::MAX_CHANNEL_LEN
            && body.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        prop_assert_eq!(native::check_channel(&name).is_ok(), documented);
    }

    #[test]
    fn valid_channel_names_are_accepted(name in "@?[A-Za-z0-9_-]{1,100}") {
        prop_assert!(native::check_channel(&name).is_ok());
    }

    #[test]
    fn only_web_channels_take_client_publishes(name in "[a-z_@]{1,20}") {
        let kind = ChannelKind::of(&name);
        let anyone = kind.client_may_publish(false);
        prop_assert_eq!(anyone, name.starts_with("web_") || name.starts_with("@web_"));
        if kind.client_may_publish(true) && !anyone {
            prop_assert!(name.starts_with("webauth_"));
        }
    }
}
