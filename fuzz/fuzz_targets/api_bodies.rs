//! The JSON bodies of `/api/v1/*` and `/weapp/*` as `cometa_protocol::api` types. (The bodies
//! only the relay's handlers know are fuzzed through its router: `relay_http`.)
//!
//! Properties: any body decodes or fails cleanly, never a panic or a stack overflow; what
//! decodes re-encodes to JSON that decodes to the same value; raw payloads keep their bytes;
//! nesting far past serde_json's limit fails with an error in tree-typed fields and is kept
//! verbatim in raw ones (the relay must cap it itself: issue 12, item 1).

#![no_main]

use cometa_protocol::api::{
    BroadcastRequest, BroadcastResponse, DeliveredResponse, ErrorBody, LoginCodeRequest,
    LoginCodeResponse, LoginData, Presence, PushRequest, PushResponse, RevokedResponse, TunnelData,
    TunnelMessage, WaferOk,
};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector == b'#' {
        return nesting(rest);
    }
    let Ok(body) = std::str::from_utf8(rest) else {
        return;
    };
    round_trip::<LoginCodeRequest>(body);
    round_trip::<PushRequest>(body);
    round_trip::<TunnelMessage>(body);
    round_trip::<BroadcastRequest>(body);
    round_trip::<ErrorBody>(body);
    round_trip::<PushResponse>(body);
    round_trip::<DeliveredResponse>(body);
    round_trip::<BroadcastResponse>(body);
    round_trip::<Presence>(body);
    round_trip::<RevokedResponse>(body);
    round_trip::<LoginCodeResponse>(body);
    round_trip::<WaferOk<LoginData>>(body);
    round_trip::<WaferOk<TunnelData>>(body);
    raw_payload::<PushRequest>(body, "data", |r| r.data.get().to_owned());
    raw_payload::<TunnelMessage>(body, "content", |r| r.content.get().to_owned());
});

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

/// A raw payload is the caller's bytes: the member as written, not a reprint.
fn raw_payload<T: DeserializeOwned>(body: &str, key: &str, get: impl Fn(&T) -> String) {
    let Ok(req) = serde_json::from_str::<T>(body) else {
        return;
    };
    let members: Vec<(String, Box<RawValue>)> = match serde_json::from_str::<
        serde_json::Map<String, Value>,
    >(body)
    {
        // Only flat enough bodies can be taken apart by key with a tree; others are covered
        // by `nesting`.
        Ok(_) => {
            match serde_json::from_str::<std::collections::BTreeMap<String, Box<RawValue>>>(body) {
                Ok(m) => m.into_iter().collect(),
                Err(_) => return,
            }
        }
        Err(_) => return,
    };
    if let Some((_, v)) = members.iter().find(|(k, _)| k == key) {
        assert_eq!(get(&req), v.get());
    }
}

/// `depth` levels of arrays (from the first two bytes) around the rest, as a payload and as
/// a tree-typed field.
fn nesting(rest: &[u8]) {
    let Some((d, leaf)) = rest.split_first_chunk::<2>() else {
        return;
    };
    let depth = usize::from(u16::from_le_bytes(*d)) % 20_000;
    let leaf = std::str::from_utf8(leaf)
        .ok()
        .filter(|l| serde_json::from_str::<Value>(l).is_ok());
    let leaf = leaf.unwrap_or("0").trim_matches([' ', '\t', '\n', '\r']);
    let deep = format!("{}{leaf}{}", "[".repeat(depth), "]".repeat(depth));

    let push = format!("{{\"event\":\"e\",\"data\":{deep}}}");
    let p: PushRequest = serde_json::from_str(&push)
        .unwrap_or_else(|e| panic!("a raw payload of depth {depth}: {e}"));
    assert_eq!(p.data.get(), deep);

    let login = format!("{{\"user_id\":\"u\",\"userinfo\":{deep}}}");
    let decoded = serde_json::from_str::<LoginCodeRequest>(&login);
    if depth > 200 {
        assert!(decoded.is_err(), "a tree of depth {depth} must be refused");
    }
}
