//! Where the login session (`{skey, userinfo, time, expires_at?, remember?}`) is kept: where
//! Wafer keeps it, under `weapp_session_F2C224D4-2BCE-4C64-AF9F-A6D872000D1A`, as JSON in
//! `localStorage`. Where `localStorage` is missing (Node), or throws (Safari private mode,
//! storage disabled, quota), it lives in memory for the life of the page or process (both
//! `js/host.js`'s `loginSession`: storage is cheaper reached from JS). Storage only: the
//! page's `Session` class, which also tells the session core, is in
//! [`crate::auth`].

use wasm_bindgen::prelude::*;

use crate::js;

#[wasm_bindgen(module = "/js/host.js")]
extern "C" {
    /// The stored session, or `null`: storage is JS's to reach.
    #[wasm_bindgen(js_name = sessionGet)]
    pub fn load() -> JsValue;

    /// Stores `session`; `null` or `undefined` clears it.
    #[wasm_bindgen(js_name = loginSession)]
    pub fn store(session: &JsValue);
}

pub fn clear() {
    store(&JsValue::NULL);
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
