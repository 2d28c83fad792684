//! Error types. The `ERR_*` strings are those of Wafer's `lib/constants.js` (same names, same
//! values, including `ERR_LOGIN_SESSION_NOT_RECEIVED = 'ERR_LOGIN_MISSING_SESSION'`) plus ours
//! for network failures and credentials, which Wafer left to `wx.request`/`wx.login`. They
//! are defined in `js/host.js` (`ERRORS`), which also words the session's failures
//! (`problem`); only the one the module raises itself is here.

use wasm_bindgen::prelude::*;

pub const ERR_INVALID_PARAMS: &str = "ERR_INVALID_PARAMS";

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
