//! Where the login session (`{skey, userinfo, time, expires_at?, remember?}`) is kept: where
//! Wafer keeps it, under `weapp_session_F2C224D4-2BCE-4C64-AF9F-A6D872000D1A`, as JSON in
//! `localStorage`. Where `localStorage` is missing (Node), or throws (Safari private mode,
//! storage disabled, quota), it lives in memory for the life of the page or process. Storage
//! only: the page's `Session` class, which also tells the session core, is in
//! [`crate::auth`].

use std::cell::RefCell;

use js_sys::JSON;
use wasm_bindgen::prelude::*;

use crate::js::{self, storage};

pub const SESSION_KEY: &str = "weapp_session_F2C224D4-2BCE-4C64-AF9F-A6D872000D1A";

thread_local! {
    /// The fallback copy; `None` when the session is in `localStorage` or absent.
    static MEMORY: RefCell<Option<JsValue>> = const { RefCell::new(None) };
}

/// The stored session, or `null`.
pub fn load() -> JsValue {
    if let Some(v) = MEMORY.with(|m| m.borrow().clone()) {
        return v;
    }
    let stored = storage("localStorage").and_then(|s| s.get_item(SESSION_KEY).ok().flatten());
    match stored.map(|text| JSON::parse(&text)) {
        Some(Ok(v)) if !v.is_null() && !v.is_undefined() => v,
        _ => JsValue::NULL,
    }
}

/// Stores `session` (not null).
pub fn store(session: &JsValue) {
    let text = JSON::stringify(session).ok().and_then(|t| t.as_string());
    let saved = match (storage("localStorage"), text) {
        (Some(s), Some(t)) => s.set_item(SESSION_KEY, &t).is_ok(),
        _ => false,
    };
    if saved {
        MEMORY.with(|m| m.borrow_mut().take());
    } else {
        // Never leave an older session in storage behind the newer one in memory.
        if let Some(s) = storage("localStorage") {
            let _ = s.remove_item(SESSION_KEY);
        }
        MEMORY.with(|m| *m.borrow_mut() = Some(session.clone()));
    }
}

pub fn clear() {
    MEMORY.with(|m| m.borrow_mut().take());
    if let Some(s) = storage("localStorage") {
        let _ = s.remove_item(SESSION_KEY);
    }
}

/// What the session core keeps of a stored session: none without a non-empty `skey`.
pub fn info(session: &JsValue) -> Option<cometa_client::auth::Session> {
    let skey = js::get_string(session, "skey").filter(|s| !s.is_empty())?;
    Some(cometa_client::auth::Session {
        skey,
        expires_at: js::get(session, "expires_at").as_f64(),
        time: js::get(session, "time").as_f64(),
    })
}
