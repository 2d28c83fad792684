//! Every native-dialect packet, decoded the way the relay decodes it (`commands.rs`,
//! `native/mod.rs`): the body after the first `:`, `{}` when there is none.
//!
//! Properties: decoding never panics, whatever the nesting or size; a request that decodes
//! re-encodes to JSON that decodes to the same request (decode → encode → decode is stable);
//! a request that decodes always yields its `id` through `RequestId`, which the relay relies
//! on to answer it; the relay → client bodies round-trip too.

#![no_main]

use cometa_protocol::frames::{
    AckRequest, AuthRequest, AuthResult, ChannelRequest, ErrorInfo, HistoryRequest, Position,
    PresenceResult, PublishRequest, PublishResult, RequestId, StreamState, SubscribeRequest,
    UserDataRequest,
};
use cometa_protocol::native;
use cometa_protocol::packet::Packet;
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let p = Packet::parse(raw);
    let body = p.content.unwrap_or("{}");
    match p.kind.as_str() {
        native::AUTH => request::<AuthRequest>(body, |r| Some(r.id)),
        native::SUBSCRIBE => request::<SubscribeRequest>(body, |r| Some(r.id)),
        native::UNSUBSCRIBE | native::PRESENCE => request::<ChannelRequest>(body, |r| Some(r.id)),
        native::PUBLISH => request::<PublishRequest>(body, |r| Some(r.id)),
        native::HISTORY => request::<HistoryRequest>(body, |r| Some(r.id)),
        native::USER_DATA => request::<UserDataRequest>(body, |r| Some(r.id)),
        native::ACK => request::<AckRequest>(body, |_| None),
        // What the relay sends, as a client decodes it.
        native::REPLY => {
            round_trip::<StreamState>(body);
            round_trip::<AuthResult>(body);
            round_trip::<PublishResult>(body);
            round_trip::<PresenceResult>(body);
            round_trip::<Position>(body);
        }
        native::ERROR => round_trip::<ErrorInfo>(body),
        // Any other type: every request shape must still fail cleanly on its body.
        _ => {
            request::<AuthRequest>(body, |r| Some(r.id));
            request::<PublishRequest>(body, |r| Some(r.id));
            request::<SubscribeRequest>(body, |r| Some(r.id));
        }
    }
});

/// Decodes `body` as a request; if it decodes, checks the id fallback and the round trip.
fn request<R: DeserializeOwned + Serialize>(body: &str, id: impl Fn(&R) -> Option<u64>) {
    let fallback = serde_json::from_str::<RequestId>(body);
    let Ok(req) = serde_json::from_str::<R>(body) else {
        return;
    };
    if let Some(id) = id(&req) {
        let seen = fallback.ok().and_then(|r| r.id);
        assert_eq!(
            seen,
            Some(id),
            "RequestId disagrees with the request on {body:?}"
        );
    }
    round_trip::<R>(body);
}

/// If `body` decodes as `T`, its encoding decodes again and encodes to the same bytes.
fn round_trip<T: DeserializeOwned + Serialize>(body: &str) {
    let Ok(first) = serde_json::from_str::<T>(body) else {
        return;
    };
    let once = serde_json::to_string(&first).unwrap_or_else(|e| panic!("encode: {e}"));
    let second: T = serde_json::from_str(&once)
        .unwrap_or_else(|e| panic!("re-encoded {once:?} does not decode: {e}"));
    let twice = serde_json::to_string(&second).unwrap_or_else(|e| panic!("encode: {e}"));
    assert_eq!(once, twice);
}
