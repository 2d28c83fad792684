//! Process-wide settings, like Wafer's module-level `defaultOptions.loginUrl`: the login URL,
//! the code and token providers, the WebSocket constructor, `extendedAuth` and `credentials`.
//! They are kept and validated by `js/host.js` (`cfg`), next to the login and the fetch that
//! use them: as Rust copies they cost the module ~1 KB gzipped. These are the exports.

use wasm_bindgen::prelude::*;

use crate::http;

// `setLoginUrl(url)`: the URL `login`, `loginWithCode` and the re-login rule use.
#[wasm_bindgen(js_name = setLoginUrl)]
pub fn set_login_url(url: JsValue) -> Result<(), JsValue> {
    http::settings(0, &url)
}

// `setCodeProvider(fn)`: browsers have no `wx.login`; `fn()` returns (a Promise of) a
// single-use login code that the application's back end obtained from the relay's API.
#[wasm_bindgen(js_name = setCodeProvider)]
pub fn set_code_provider(provider: JsValue) -> Result<(), JsValue> {
    http::settings(1, &provider)
}

// `setTokenProvider(getToken)`: `getToken()` returns (a Promise of) a JWT for the relay's
// `--jwt-secret`, sent as `Authorization: Bearer`. Asked for every login without explicit
// credentials, before the code provider, and when a renewal needs a new token; an empty
// answer ends the session.
#[wasm_bindgen(js_name = setTokenProvider)]
pub fn set_token_provider(provider: JsValue) -> Result<(), JsValue> {
    http::settings(2, &provider)
}

// `configure({ WebSocket?, codeProvider?, getToken?, loginUrl?, extendedAuth?,
// credentials? })`: one call for every setting; keys that are absent keep their value.
#[wasm_bindgen]
pub fn configure(options: JsValue) -> Result<(), JsValue> {
    http::settings(3, &options)
}
