//! Error types. The `ERR_*` strings are those of Wafer's `lib/constants.js` (same names, same
//! values, including `ERR_LOGIN_SESSION_NOT_RECEIVED = 'ERR_LOGIN_MISSING_SESSION'`) plus one
//! of ours for network failures, which Wafer left to `wx.request`'s `{errMsg}` object.

use js_sys::Object;
use wasm_bindgen::prelude::*;

use crate::js;

pub const ERR_INVALID_PARAMS: &str = "ERR_INVALID_PARAMS";
pub const ERR_WX_LOGIN_FAILED: &str = "ERR_WX_LOGIN_FAILED";
pub const ERR_WX_GET_USER_INFO: &str = "ERR_WX_GET_USER_INFO";
pub const ERR_LOGIN_TIMEOUT: &str = "ERR_LOGIN_TIMEOUT";
pub const ERR_LOGIN_FAILED: &str = "ERR_LOGIN_FAILED";
pub const ERR_LOGIN_SESSION_NOT_RECEIVED: &str = "ERR_LOGIN_MISSING_SESSION";
pub const ERR_SESSION_INVALID: &str = "ERR_SESSION_INVALID";
pub const ERR_CHECK_LOGIN_FAILED: &str = "ERR_CHECK_LOGIN_FAILED";
/// Ours: the HTTP request itself failed (network down, CORS refused, DNS, timeout).
pub const ERR_REQUEST_FAILED: &str = "ERR_REQUEST_FAILED";

/// Every exported constant, in the order of Wafer's `constants.js`.
const ALL: [(&str, &str); 9] = [
    ("ERR_INVALID_PARAMS", ERR_INVALID_PARAMS),
    ("ERR_WX_LOGIN_FAILED", ERR_WX_LOGIN_FAILED),
    ("ERR_WX_GET_USER_INFO", ERR_WX_GET_USER_INFO),
    ("ERR_LOGIN_TIMEOUT", ERR_LOGIN_TIMEOUT),
    ("ERR_LOGIN_FAILED", ERR_LOGIN_FAILED),
    (
        "ERR_LOGIN_SESSION_NOT_RECEIVED",
        ERR_LOGIN_SESSION_NOT_RECEIVED,
    ),
    ("ERR_SESSION_INVALID", ERR_SESSION_INVALID),
    ("ERR_CHECK_LOGIN_FAILED", ERR_CHECK_LOGIN_FAILED),
    ("ERR_REQUEST_FAILED", ERR_REQUEST_FAILED),
];

// A real JS class (defined in `js/host.js`) so that `err instanceof RequestError`,
// `err instanceof Error` and stack traces work; a Rust-exported struct could not extend `Error`.
#[wasm_bindgen(module = "/js/host.js")]
extern "C" {
    #[wasm_bindgen(js_name = RequestError)]
    type RequestErrorJs;

    #[wasm_bindgen(constructor, js_class = "RequestError")]
    fn new(kind: &str, message: &str) -> RequestErrorJs;

    #[wasm_bindgen(thread_local_v2, js_name = RequestError)]
    static REQUEST_ERROR_CLASS: JsValue;
}

/// `new RequestError(kind, message)` as a value to reject or throw with.
pub fn request_error(kind: &str, message: &str) -> JsValue {
    RequestErrorJs::new(kind, message).into()
}

// The `RequestError` class, re-exported by the npm entry.
#[wasm_bindgen(js_name = requestErrorClass)]
pub fn request_error_class() -> JsValue {
    REQUEST_ERROR_CLASS.with(JsValue::clone)
}

// `{ ERR_INVALID_PARAMS: 'ERR_INVALID_PARAMS', … }`, re-exported by the npm entry so the
// strings are defined once, here.
#[wasm_bindgen(js_name = errorTypes)]
pub fn error_types() -> Object {
    let obj = Object::new();
    for (name, value) in ALL {
        js::set(&obj, name, &JsValue::from_str(value));
    }
    obj
}
