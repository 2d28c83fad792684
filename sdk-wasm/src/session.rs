//! The login session (`{skey, userinfo, time, expires_at?, remember?}`), kept where Wafer
//! keeps it, under `weapp_session_F2C224D4-2BCE-4C64-AF9F-A6D872000D1A`, as JSON in
//! `localStorage`.
//! Where `localStorage` is missing (Node), or throws (Safari private mode, storage disabled,
//! quota), it lives in memory for the life of the page or process.

use std::cell::RefCell;

use js_sys::JSON;
use wasm_bindgen::prelude::*;

use crate::js::{self, storage};

pub const SESSION_KEY: &str = "weapp_session_F2C224D4-2BCE-4C64-AF9F-A6D872000D1A";

thread_local! {
    /// The fallback copy; `None` when the session is in `localStorage` or absent.
    static MEMORY: RefCell<Option<JsValue>> = const { RefCell::new(None) };
}

// `Session.get()`, `Session.set(session)`, `Session.clear()`: static methods only.
#[wasm_bindgen]
pub struct Session {
    _private: (),
}

#[wasm_bindgen]
impl Session {
    // The stored session, or `null`.
    pub fn get() -> JsValue {
        if let Some(v) = MEMORY.with(|m| m.borrow().clone()) {
            return v;
        }
        let stored = storage().and_then(|s| s.get_item(SESSION_KEY).ok().flatten());
        match stored.map(|text| JSON::parse(&text)) {
            Some(Ok(v)) if !v.is_null() && !v.is_undefined() => v,
            _ => JsValue::NULL,
        }
    }

    // Stores `session`; `null`/`undefined` clears it.
    pub fn set(session: JsValue) {
        if session.is_null() || session.is_undefined() {
            return Session::clear();
        }
        let text = JSON::stringify(&session).ok().and_then(|t| t.as_string());
        let saved = match (storage(), text) {
            (Some(s), Some(t)) => s.set_item(SESSION_KEY, &t).is_ok(),
            _ => false,
        };
        if saved {
            MEMORY.with(|m| m.borrow_mut().take());
        } else {
            // Never leave an older session in storage behind the newer one in memory.
            if let Some(s) = storage() {
                let _ = s.remove_item(SESSION_KEY);
            }
            MEMORY.with(|m| *m.borrow_mut() = Some(session));
        }
        // Whoever stores a session (a login, a refresh, the page) re-arms its renewal.
        crate::renew::schedule(false);
    }

    pub fn clear() {
        MEMORY.with(|m| m.borrow_mut().take());
        if let Some(s) = storage() {
            let _ = s.remove_item(SESSION_KEY);
        }
        crate::renew::schedule(false);
    }
}

// `clearSession()`, Wafer's alias of `Session.clear`.
#[wasm_bindgen(js_name = clearSession)]
pub fn clear_session() {
    Session::clear();
}

/// The `skey` of the stored session, sent as `X-WX-Skey`.
pub fn skey() -> Option<String> {
    js::get_string(&Session::get(), "skey").filter(|s| !s.is_empty())
}
