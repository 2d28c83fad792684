//! What the relay encodes, the client core decodes. The relay writes frames with serde
//! (`relay/src/frames.rs`, `cometa_protocol::frames`); the SDK reads them with its own small
//! scanner (`cometa_client`, no JSON library in the wasm module). Both sides name the same
//! members, so this test feeds every frame shape the relay sends, with arbitrary names, ids and
//! payloads, through the client's decoders and checks each member comes back unchanged.

use cometa_client::comet::wire::{Publication, Reply, StreamState};
use cometa_client::message;
use cometa_protocol::frames::{self, AuthResult, ErrorInfo};
use cometa_protocol::packet::{Packet, PacketType};
use cometa_relay::frames::{channel_frame, personal_frames, wafer_frame};
use proptest::prelude::*;
use serde_json::Value;

/// Any JSON value, nested a few levels, with strings that need escaping.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The body after `kind:` of a packet the relay wrote.
fn body<'a>(frame: &'a str, kind: &str) -> &'a str {
    let p = Packet::parse(frame);
    match p.kind {
        PacketType::Other(k) if k == kind => {}
        PacketType::Message if kind == "message" => {}
        other => panic!("{frame}: packet {other:?}, not {kind}"),
    }
    p.content.unwrap_or_else(|| panic!("{frame}: no body"))
}

/// The payload reaches the host byte for byte as the back end gave it (the client hands it on
/// as raw text, for the host's `JSON.parse`).
fn same_json(raw: &str, want: &Value) {
    assert_eq!(raw, want.to_string());
}

proptest! {
    #[test]
    fn channel_and_personal_publications(
        channel in "[a-z_.]{1,12}",
        event in any::<String>(),
        data in json(),
        seq in proptest::option::of(any::<u64>()),
        user_id in proptest::option::of(any::<String>()),
    ) {
        let text = data.to_string();
        let frame = channel_frame(&channel, &event, &text, seq, user_id.as_deref());
        let p = Publication::scan(body(frame.as_str(), "pub")).expect("client reads the pub");
        prop_assert_eq!(&p.channel, &channel);
        prop_assert_eq!(&p.event, &event);
        prop_assert_eq!(p.seq, seq);
        prop_assert_eq!(p.user_id, user_id);
        same_json(&p.data_json, &data);
    }

    #[test]
    fn personal_messages_in_both_dialects(event in any::<String>(), data in json(), seq in any::<u64>()) {
        let text = data.to_string();
        let frames = personal_frames(&event, &text, seq);

        let p = Publication::scan(body(frames.native.as_str(), "pub")).expect("native pub");
        prop_assert_eq!(p.channel.as_str(), cometa_protocol::native::PERSONAL);
        prop_assert_eq!(&p.event, &event);
        prop_assert_eq!(p.seq, Some(seq));
        same_json(&p.data_json, &data);

        let m = message::scan(body(frames.wafer.as_str(), "message")).expect("wafer message");
        prop_assert_eq!(m.event.as_ref(), event.as_str());
        prop_assert_eq!(m.seq, Some(seq));
        same_json(m.content_json, &data);

        let plain = wafer_frame(&event, &text);
        let m = message::scan(body(plain.as_str(), "message")).expect("wafer broadcast");
        prop_assert_eq!(m.event.as_ref(), event.as_str());
        prop_assert_eq!(m.seq, None);
        same_json(m.content_json, &data);
    }

    #[test]
    fn replies_and_stream_states(
        id in any::<u64>(),
        epoch in any::<String>(),
        seq in any::<u64>(),
        recovered in any::<bool>(),
        code in any::<u16>(),
        message in any::<String>(),
    ) {
        let state = frames::StreamState { epoch: epoch.clone(), seq, recovered };
        let auth = AuthResult { user_id: Some("u".into()), device: "d".into(), personal: Some(state) };
        let ok = serde_json::to_string(&frames::Reply { id, result: Some(&auth), error: None })
            .expect("encode");
        let r = Reply::scan(&ok).expect("client reads the reply");
        prop_assert_eq!(r.id, id);
        let result = r.outcome.expect("a result");
        // The client takes `personal` out of the result with the same scanner.
        let result: Value = serde_json::from_str(result).expect("result is JSON");
        let s = StreamState::scan(&result["personal"].to_string()).expect("stream state");
        prop_assert_eq!(s.position.seq, seq);
        prop_assert_eq!(&s.position.epoch, &epoch);
        prop_assert_eq!(s.recovered, recovered);

        let info = ErrorInfo { code, message: message.clone() };
        let err = serde_json::to_string(&frames::Reply::<()> { id, result: None, error: Some(&info) })
            .expect("encode");
        let r = Reply::scan(&err).expect("client reads the error");
        prop_assert_eq!(r.id, id);
        let failure = r.outcome.expect_err("an error");
        prop_assert_eq!(failure.code, u32::from(code));
        prop_assert_eq!(failure.message, message);
    }
}
