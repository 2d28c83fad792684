//! The SDK inside headless Chromium against a live relay: login with a code obtained from the
//! back-end API → request → tunnel connect → a queued push arrives.
//!
//! `scripts/test-sdk.sh` starts the relay, mints the code, queues the push, and compiles the
//! facts in through these variables. Without them (a bare `cargo test`) the test only says so.

use cometa_sdk::Tunnel;
use cometa_sdk::auth::{login_with_code, request};
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const RELAY: Option<&str> = option_env!("COMETA_TEST_RELAY");
const CODE: Option<&str> = option_env!("COMETA_TEST_CODE");
/// The `event` of the message queued for the user before the test runs.
const EVENT: &str = "queued-greeting";

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).expect("set on a fresh object");
    }
    o.into()
}

fn field(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
}

/// Resolves with the first payload of `event`, or rejects after `ms`.
fn next_event(tunnel: &Tunnel, event: &str, ms: i32) -> Promise {
    let mut resolve_slot = None;
    let got = Promise::new(&mut |resolve, _| resolve_slot = Some(resolve));
    let resolve: Function = resolve_slot.expect("the executor runs synchronously");
    let handler = Closure::<dyn FnMut(JsValue)>::new(move |payload: JsValue| {
        let _ = resolve.call1(&JsValue::UNDEFINED, &payload);
    });
    tunnel.on(event.into(), handler.into_js_value());
    let timeout = Promise::new(&mut |_, reject| {
        let global = js_sys::global();
        let set_timeout: Function = field(&global, "setTimeout").unchecked_into();
        let message = JsValue::from_str("timed out waiting for a tunnel event");
        let fire = Closure::once_into_js(move || reject.call1(&JsValue::UNDEFINED, &message));
        let _ = set_timeout.call2(&global, &fire, &JsValue::from(ms));
    });
    Promise::race(&js_sys::Array::of2(&got, &timeout))
}

#[wasm_bindgen_test]
async fn login_request_tunnel_push() {
    let (Some(relay), Some(code)) = (RELAY, CODE) else {
        web_sys_free_log("COMETA_TEST_RELAY/COMETA_TEST_CODE unset: run scripts/test-sdk.sh");
        return;
    };

    let userinfo = JsFuture::from(Promise::from(login_with_code(obj(&[
        ("loginUrl", format!("{relay}/weapp/login").into()),
        ("code", code.into()),
    ]))))
    .await
    .expect("login with a code minted by the back-end API");
    assert!(userinfo.is_object(), "login answers the userinfo");

    let res = JsFuture::from(Promise::from(request(obj(&[(
        "url",
        format!("{relay}/weapp/user").into(),
    )]))))
    .await
    .expect("request /weapp/user");
    assert_eq!(field(&res, "statusCode").as_f64(), Some(200.0));

    let tunnel = Tunnel::new(format!("{relay}/weapp/tunnel").into(), JsValue::UNDEFINED);
    let connected = next_event(&tunnel, "connect", 10_000);
    let pushed = next_event(&tunnel, EVENT, 10_000);
    tunnel.open();
    JsFuture::from(connected)
        .await
        .expect("the tunnel connects");
    assert_eq!(tunnel.status(), "ACTIVE");
    let payload = JsFuture::from(pushed)
        .await
        .expect("the queued push arrives");
    assert_eq!(
        field(&payload, "from").as_string().as_deref(),
        Some("test-sdk.sh")
    );
    tunnel.close();
    assert_eq!(tunnel.status(), "CLOSED");
}

fn web_sys_free_log(message: &str) {
    wasm_bindgen_test::console_log!("{message}");
}
