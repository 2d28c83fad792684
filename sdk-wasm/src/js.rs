//! Global JS functions imported by name. They exist in browsers, workers and Node ≥ 20 alike,
//! which is why they are imported from the global scope instead of through `web_sys::Window`
//! (Node has no `window`).

use js_sys::{Function, Object, Reflect};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The handle is a number in browsers but a `Timeout` object in Node, hence `JsValue`.
    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout(handler: &Function, ms: f64) -> JsValue;

    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(handle: &JsValue);

    /// Monotonic clock: wall-clock jumps must not fire or starve the tunnel's timers.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;

    #[wasm_bindgen(js_namespace = console, js_name = error)]
    pub fn console_error(message: &str, detail: &JsValue);

    /// `String(value)`: null and undefined become "null" and "undefined".
    #[wasm_bindgen(js_name = String)]
    fn js_string(value: &JsValue) -> String;
}

/// Milliseconds on the monotonic clock, the time base handed to the core.
pub fn now_ms() -> u64 {
    performance_now().max(0.0) as u64
}

/// `obj[key]`, or `undefined` when `obj` is not an object or the getter throws (`Reflect.get`
/// throws on anything but an object or a function).
pub fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// `obj[key]` when it is a string.
pub fn get_string(obj: &JsValue, key: &str) -> Option<String> {
    get(obj, key).as_string()
}

/// `obj[key]` when it is a function.
pub fn get_function(obj: &JsValue, key: &str) -> Option<Function> {
    get(obj, key).dyn_into::<Function>().ok()
}

/// Sets a property on an object we created ourselves, so it cannot fail.
pub fn set(obj: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

/// `String(value)`, but "" for null and undefined (as `[value].join("")` gives).
pub fn to_js_string(value: &JsValue) -> String {
    if value.is_null() || value.is_undefined() {
        return String::new();
    }
    js_string(value)
}

/// A short description of a thrown JS value, for error messages.
pub fn describe(err: &JsValue) -> String {
    if let Some(s) = err.as_string() {
        return s;
    }
    match get_string(err, "message") {
        Some(m) if !m.is_empty() => m,
        _ => to_js_string(err),
    }
}

/// Calls a user callback; an exception thrown by it is reported, not propagated, so one
/// faulty handler cannot break the SDK's own bookkeeping (like `EventTarget` does).
pub fn call_user(f: &Function, args: &[&JsValue]) {
    let result = match args {
        [] => f.call0(&JsValue::UNDEFINED),
        [a] => f.call1(&JsValue::UNDEFINED, a),
        [a, b, ..] => f.call2(&JsValue::UNDEFINED, a, b),
    };
    if let Err(e) = result {
        console_error("cometa: a callback threw", &e);
    }
}
