//! Error types. The `ERR_*` strings are those of Wafer's `lib/constants.js` (same names, same
//! values, including `ERR_LOGIN_SESSION_NOT_RECEIVED = 'ERR_LOGIN_MISSING_SESSION'`) plus one
//! of ours for network failures, which Wafer left to `wx.request`'s `{errMsg}` object. The
//! exported ones are defined in `js/host.js` (`ERRORS`): only those the module raises are here.

use wasm_bindgen::prelude::*;

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

// A real JS class (defined in `js/host.js`, which the npm entry imports to re-export it) so
// that `err instanceof RequestError`, `err instanceof Error` and stack traces work; a
// Rust-exported struct could not extend `Error`.
#[wasm_bindgen(module = "/js/host.js")]
extern "C" {
    #[wasm_bindgen(js_name = RequestError)]
    type RequestErrorJs;

    #[wasm_bindgen(constructor, js_class = "RequestError")]
    fn new(kind: &str, message: &str) -> RequestErrorJs;
}

/// `new RequestError(kind, message)` as a value to reject or throw with.
pub fn request_error(kind: &str, message: &str) -> JsValue {
    RequestErrorJs::new(kind, message).into()
}
