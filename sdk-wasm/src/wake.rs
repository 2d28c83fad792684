//! Wake-ups: the moments a page comes back from sleep, when a connection should be checked and
//! restored at once rather than when a backoff timer says so. Hidden tabs have their timers
//! throttled (once a minute in Chrome), frozen and bfcached pages and a phone's suspended
//! mini-program run none, so recovery must hang off these events, not off timers:
//!
//! - `online` (window): the network is back;
//! - `pageshow` with `persisted` (window): the page came back from the back/forward cache;
//! - `visibilitychange` to `visible` (document): the tab or the mini-program (`wx.onAppShow`,
//!   see `npm/miniprogram/platform.js`) is shown again;
//! - `resume` (document): a frozen page (Page Lifecycle) runs again.
//!
//! Where `addEventListener` or `document` is missing (Node) nothing is attached. The
//! listeners belong to the value: dropping it removes them.

use wasm_bindgen::prelude::*;

use crate::js;

/// A socket found closed within this long after a wake-up is reopened at once too: a page
/// resumed from a freeze or the cache first runs its wake-up events, then the socket events
/// queued while it slept.
pub const GRACE_MS: u64 = 5_000;

type Listener = Closure<dyn FnMut(JsValue)>;

pub struct Wake {
    window: Listener,
    document: Listener,
}

const WINDOW_EVENTS: [&str; 2] = ["online", "pageshow"];
const DOCUMENT_EVENTS: [&str; 2] = ["visibilitychange", "resume"];

fn listen(target: &JsValue, method: &str, kinds: &[&str], cb: &Listener) {
    if let Some(f) = js::get_function(target, method) {
        for kind in kinds {
            let _ = f.call2(target, &JsValue::from_str(kind), cb.as_ref());
        }
    }
}

fn document() -> JsValue {
    js::get(&js_sys::global(), "document")
}

impl Wake {
    /// Calls `on_wake` at each wake-up until dropped.
    pub fn attach(on_wake: impl Fn() + Clone + 'static) -> Wake {
        let f = on_wake.clone();
        let window: Listener = Closure::new(move |ev: JsValue| {
            // A first `pageshow` (not from the cache) is the page loading, not waking.
            if js::get_string(&ev, "type").as_deref() != Some("pageshow")
                || js::get(&ev, "persisted").is_truthy()
            {
                f();
            }
        });
        let document: Listener = Closure::new(move |ev: JsValue| {
            if js::get_string(&ev, "type").as_deref() != Some("visibilitychange")
                || js::get_string(&self::document(), "visibilityState").as_deref()
                    == Some("visible")
            {
                on_wake();
            }
        });
        listen(
            &js_sys::global(),
            "addEventListener",
            &WINDOW_EVENTS,
            &window,
        );
        listen(
            &self::document(),
            "addEventListener",
            &DOCUMENT_EVENTS,
            &document,
        );
        Wake { window, document }
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        listen(
            &js_sys::global(),
            "removeEventListener",
            &WINDOW_EVENTS,
            &self.window,
        );
        listen(
            &self::document(),
            "removeEventListener",
            &DOCUMENT_EVENTS,
            &self.document,
        );
    }
}
