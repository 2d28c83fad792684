//! Process-wide settings, like Wafer's module-level `defaultOptions.loginUrl`.

use std::cell::RefCell;

use js_sys::Function;
use wasm_bindgen::prelude::*;

use crate::error::{ERR_INVALID_PARAMS, request_error};
use crate::js;

#[derive(Default)]
struct Settings {
    login_url: Option<String>,
    code_provider: Option<Function>,
    token_provider: Option<Function>,
    web_socket: Option<Function>,
    /// The last login the page asked for was anonymous: logging in again (after a 401, or
    /// when a renewal is refused) then stays anonymous, which the visitor cookie makes the
    /// same visitor.
    visitor: bool,
}

thread_local! {
    static SETTINGS: RefCell<Settings> = RefCell::default();
}

pub fn login_url() -> Option<String> {
    SETTINGS.with(|s| s.borrow().login_url.clone())
}

pub fn code_provider() -> Option<Function> {
    SETTINGS.with(|s| s.borrow().code_provider.clone())
}

pub fn token_provider() -> Option<Function> {
    SETTINGS.with(|s| s.borrow().token_provider.clone())
}

pub fn visitor() -> bool {
    SETTINGS.with(|s| s.borrow().visitor)
}

pub fn set_visitor(on: bool) {
    SETTINGS.with(|s| s.borrow_mut().visitor = on);
}

/// The WebSocket constructor: the configured one, else `globalThis.WebSocket` (browsers,
/// Node ≥ 22). Looked up at each connect so a polyfill installed later is seen.
pub fn web_socket() -> Option<Function> {
    SETTINGS
        .with(|s| s.borrow().web_socket.clone())
        .or_else(|| js::get_function(&js_sys::global(), "WebSocket"))
}

fn invalid(message: &str) -> JsValue {
    request_error(ERR_INVALID_PARAMS, message)
}

/// `null`/`undefined` → `None`; a function → `Some`; anything else is a caller bug.
fn optional_function(value: &JsValue, what: &str) -> Result<Option<Function>, JsValue> {
    if value.is_null() || value.is_undefined() {
        return Ok(None);
    }
    value
        .clone()
        .dyn_into::<Function>()
        .map(Some)
        .map_err(|_| invalid(&[what, " must be a function"].concat()))
}

// `setLoginUrl(url)`: the URL `login`, `loginWithCode` and the re-login rule use.
#[wasm_bindgen(js_name = setLoginUrl)]
pub fn set_login_url(url: JsValue) -> Result<(), JsValue> {
    let url = if url.is_null() || url.is_undefined() {
        None
    } else {
        Some(
            url.as_string()
                .ok_or_else(|| invalid("setLoginUrl(url): url must be a string"))?,
        )
    };
    SETTINGS.with(|s| s.borrow_mut().login_url = url);
    Ok(())
}

// `setCodeProvider(fn)`: browsers have no `wx.login`; `fn()` returns (a Promise of) a
// single-use login code that the application's back end obtained from the relay's API.
#[wasm_bindgen(js_name = setCodeProvider)]
pub fn set_code_provider(provider: JsValue) -> Result<(), JsValue> {
    let f = optional_function(&provider, "setCodeProvider(fn): fn")?;
    SETTINGS.with(|s| s.borrow_mut().code_provider = f);
    Ok(())
}

// `setTokenProvider(getToken)`: `getToken()` returns (a Promise of) a JWT for the relay's
// `--jwt-secret`, sent as `Authorization: Bearer`. Asked for every login without explicit
// credentials, before the code provider, and when a renewal needs a new token; an empty
// answer ends the session.
#[wasm_bindgen(js_name = setTokenProvider)]
pub fn set_token_provider(provider: JsValue) -> Result<(), JsValue> {
    let f = optional_function(&provider, "setTokenProvider(fn): fn")?;
    SETTINGS.with(|s| s.borrow_mut().token_provider = f);
    Ok(())
}

// `configure({ WebSocket?, codeProvider?, getToken?, loginUrl?, extendedAuth?,
// credentials? })`: one call for every setting; keys that are absent keep their value.
#[wasm_bindgen]
pub fn configure(options: JsValue) -> Result<(), JsValue> {
    if !options.is_object() {
        return Err(invalid("configure(options): options must be an object"));
    }
    let ws = js::get(&options, "WebSocket");
    if !ws.is_undefined() {
        let f = optional_function(&ws, "configure: WebSocket")?;
        SETTINGS.with(|s| s.borrow_mut().web_socket = f);
    }
    let provider = js::get(&options, "codeProvider");
    if !provider.is_undefined() {
        set_code_provider(provider)?;
    }
    let provider = js::get(&options, "getToken");
    if !provider.is_undefined() {
        set_token_provider(provider)?;
    }
    let url = js::get(&options, "loginUrl");
    if !url.is_undefined() {
        set_login_url(url)?;
    }
    // `extendedAuth` and `credentials` live in the host, next to the fetch that uses them.
    crate::http::set_http(&options)
}
