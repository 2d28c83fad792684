//! The client core's own JSON scanner (it carries no JSON library, to keep the wasm module
//! small) against serde_json, and the native session fed arbitrary relay frames.
//!
//! Properties: a `message:` body the scanner accepts is a JSON object serde_json accepts, with
//! the same `type` (last one wins, as with `JSON.parse`) and the very `content` bytes; a body
//! serde_json accepts with a string `type` is accepted by the scanner; whatever the relay
//! sends (replies, publications, closes and reconnects), the session neither panics nor ever
//! sends a frame whose body is not valid JSON.

#![no_main]

use std::collections::BTreeMap;

use cometa_client::TunnelConfig;
use cometa_client::comet::{Credentials, Output, Session};
use cometa_client::message;
use cometa_protocol::packet::Packet;
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    message_body(raw);
    session(raw);
});

fn message_body(body: &str) {
    let scanned = message::scan(body);
    let is_object = body
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{');
    let valid = is_object && serde_json::from_str::<Box<RawValue>>(body).is_ok();
    if scanned.is_ok() {
        assert!(
            valid,
            "the scanner accepted what serde_json refuses: {body:?}"
        );
    }
    // Keys with lone surrogates do not decode into Rust strings; JSON.parse takes them, so
    // nothing is said about such bodies.
    let Ok(members) = serde_json::from_str::<BTreeMap<String, Box<RawValue>>>(body) else {
        return;
    };
    let event = members
        .get("type")
        .and_then(|t| serde_json::from_str::<String>(t.get()).ok());
    match (scanned, event) {
        (Ok(m), Some(event)) => {
            assert_eq!(m.event, event);
            let content = members.get("content").map_or("null", |c| c.get());
            assert_eq!(m.content_json, content);
        }
        (Err(e), Some(_)) => panic!("the scanner refused a valid message {body:?}: {e}"),
        _ => {}
    }
}

/// A session with an auth, two subscriptions and a publish in flight, then every line of the
/// input as a frame from the relay.
fn session(input: &str) {
    let mut s = Session::new(TunnelConfig::default(), 7);
    let creds = Credentials::Key {
        user_id: "u1".into(),
        user_key: "k".into(),
    };
    s.start(0, Some(creds), "dev1".into(), None);
    s.subscribe(0, "web_a", None);
    s.subscribe(0, "b", None);
    s.handle_socket_open(1);
    s.publish(1, "web_a", "e", "{\"x\":1}");
    let _ = s.history(1, "b", Some(5));
    drain(&mut s);
    for (i, line) in input.split('\n').enumerate() {
        let now = 2 + i as u64;
        if line == "!close" {
            s.handle_socket_close(now, 1001);
            s.handle_timeout(now + 60_000);
            s.handle_socket_open(now + 60_001);
        } else {
            s.handle_socket_message(now, line);
        }
        drain(&mut s);
    }
}

fn drain(s: &mut Session) {
    while let Some(out) = s.poll_output() {
        if let Output::Send(frame) = out
            && let Some(body) = Packet::parse(&frame).content
        {
            assert!(
                serde_json::from_str::<Box<RawValue>>(body).is_ok(),
                "the session sent invalid JSON: {frame:?}"
            );
        }
    }
}
