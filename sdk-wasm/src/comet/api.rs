//! `CometApi`: CppComet's `CometServerApi.js` method names over [`Host`]. The npm entry
//! (`npm/comet.js`) adds `CometServer()`, the page-wide singleton.

use std::cell::RefCell;
use std::rc::Rc;

use cometa_client::TunnelConfig;
use cometa_client::comet::{Credentials, Session};
use js_sys::Array;
use wasm_bindgen::prelude::*;

use super::{AUTH_FAIL, AUTH_OK, Conn, Driver, EMITTER, Host, Query, Shared, input, store};
use crate::js;
use crate::link::Link;

// One connection to the relay with CppComet's API. Use `CometServer()` for the page's
// shared one, or `new CometApi()` for an independent one.
#[wasm_bindgen]
pub struct CometApi {
    host: Shared,
}

/// The page let go of the object (wasm-bindgen's `free`, or its finalizer): a stopped one is
/// forgotten now, a started one when it stops.
impl Drop for CometApi {
    fn drop(&mut self) {
        let mut h = self.host.borrow_mut();
        h.dropped = h.core.is_started();
        if !h.dropped {
            h.link.free();
        }
    }
}

impl Default for CometApi {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
impl CometApi {
    #[wasm_bindgen(constructor)]
    pub fn new() -> CometApi {
        let seed = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64 ^ js::now_ms();
        let host = Rc::new(Conn {
            host: RefCell::new(Host {
                core: Session::new(TunnelConfig::default(), seed),
                url: String::new(),
                next_sub: 1,
                link: Link::default(),
                dropped: false,
            }),
            js: Array::new().into(),
        });
        let link = Link::new(Rc::new(Driver(host.clone())));
        host.borrow_mut().link = link;
        CometApi { host }
    }

    // `start({dev_id, user_id, user_key, node, WebSocket, persist}, callback)`: connects
    // (again, if running) and calls `callback` once the first socket is open. Options are
    // merged into those of earlier calls; without `user_id`+`user_key` the connection is
    // anonymous. `persist: false` keeps `web_pipe_send` calls in memory only.
    // `node` is the relay (`https://host`, `host:port`, `wss://host/connect`); default: the
    // page's origin.
    pub fn start(&self, options: JsValue, callback: JsValue) -> bool {
        self.begin(options, callback, false)
    }

    // Closes the connection; subscriptions stay for the next `start`/`restart`.
    pub fn stop(&self) {
        input(&self.host, |h, now| h.core.stop(now));
    }

    // Reconnects at once, with `options` merged in when given (new credentials re-`auth`).
    pub fn restart(&self, options: JsValue) -> bool {
        self.begin(options, JsValue::UNDEFINED, true)
    }

    /// `start`, and `restart` (`keep`: with the callback of the last `start`), through one
    /// copy.
    #[inline(never)]
    fn begin(&self, options: JsValue, callback: JsValue, keep: bool) -> bool {
        // `[kind (+ 4 persist, + 8 moved), value, user key, url, device id]`: read, and merged into the
        // options kept, by `js/comet.js` (cheaper there), which keeps the owner of stored
        // positions and publishes too.
        let o = super::start_options(&self.host.js, &options, &callback, keep);
        let at = |i| o.get(i).as_string().unwrap_or_default();
        // Its decimal digits, like the rest a string: no number getter in the glue.
        let kind = at(0)
            .bytes()
            .fold(0, |n, d| n * 10 + u32::from(d.wrapping_sub(b'0')));
        let creds = match kind & 3 {
            1 => Some(Credentials::Key {
                user_id: at(1),
                user_key: at(2),
            }),
            2 => Some(Credentials::Token(at(1))),
            3 => Some(Credentials::Skey(at(1))),
            _ => None,
        };
        let (url, device, durable, moved) = (at(3), at(4), kind & 4 != 0, kind > 7);
        input(&self.host, |h, now| {
            // Positions belong to a user: reload them all when the user changes.
            let mut streams = Vec::new();
            for c in h.core.channels() {
                streams.push(c.to_owned());
            }
            for s in &streams {
                h.core.set_position(s, store::load(&self.host.js, s));
            }
            let personal = store::load(&self.host.js, "msg");
            // `persist` (default true): unanswered publishes are kept in storage per relay
            // and user. The stored list replaces the one in memory when either changed (or
            // `persist` was off: `moved`), and on a fresh start (a tab that takes over a
            // shared connection finds what the last one left); a restart while running
            // keeps its requests in flight.
            h.core.set_durable(durable);
            if durable {
                let stored = super::kept(&self.host.js, super::OUTBOX, "", None);
                if moved || (stored.is_some() && !h.core.is_started()) {
                    h.core.restore(&stored.unwrap_or_default());
                }
            }
            h.url = url;
            h.core.start(now, creds, device, personal);
        });
        true
    }

    // `subscription(name, cb)`: `"pipe"`, `"pipe.event"`, `"msg"`, `"msg.event"` (personal
    // messages), `"#pipe"` (delivery reports of `web_pipe_send` to `pipe`), `""` or a
    // function alone (everything), `"sys.recovery"` (a stream could not be resumed).
    // Returns the id for `unsubscription`.
    pub fn subscription(&self, name: JsValue, callback: JsValue) -> u32 {
        let mut id = 0;
        input(&self.host, |h, now| {
            id = h.next_sub;
            h.next_sub += 1;
            if let Some(c) = super::subscribe(&self.host.js, id, &name, &callback) {
                let pos = store::load(&self.host.js, &c);
                h.core.subscribe(now, &c, pos);
            }
        });
        id
    }

    // Removes one subscription; the relay subscription goes when no other one needs it.
    pub fn unsubscription(&self, id: u32) -> bool {
        self.release(Some(id))
    }

    #[wasm_bindgen(js_name = unsubscriptionAll)]
    pub fn unsubscription_all(&self) {
        self.release(None);
    }

    // `web_pipe_send(pipe, event, msg)` or `web_pipe_send("pipe.event", msg)`; queued while
    // offline (with `persist`, kept in storage with a key until the relay answers, and sent
    // again after a reload); the answer goes to `"#pipe"` subscribers. Throws if `msg` is not
    // JSON-encodable.
    pub fn web_pipe_send(
        &self,
        pipe: JsValue,
        event: JsValue,
        msg: JsValue,
    ) -> Result<bool, JsValue> {
        let a = super::pipe_args(&pipe, &event, &msg);
        if a.length() < 3 {
            return Err(a.get(0));
        }
        let at = |i| a.get(i).as_string().unwrap_or_default();
        let (pipe, event, json) = (at(0), at(1), at(2));
        input(&self.host, |h, now| {
            h.core.publish(now, &pipe, &event, &json)
        });
        Ok(true)
    }

    // The pipe's kept messages, oldest first, one `callback` call each with
    // `server_info.history = true` (without a callback: to the pipe's subscribers).
    pub fn get_pipe_log(&self, pipe: JsValue, callback: JsValue) -> bool {
        self.query(Query::History, pipe, callback)
    }

    // `callback({data: {user_in_pipe}})`: how many connections are subscribed to `pipe`.
    pub fn count_users_in_pipe(&self, pipe: JsValue, callback: JsValue) -> bool {
        self.query(Query::Count, pipe, callback)
    }

    // `callback({data: [user ids]})`: the authenticated members of a `track_*` pipe.
    #[wasm_bindgen(js_name = getTrackPipeUsers)]
    pub fn get_track_pipe_users(&self, pipe: JsValue, callback: JsValue) -> bool {
        self.query(Query::Users, pipe, callback)
    }

    // `callback({data})`: the public data the back end set for `user_id` (`null` if none).
    #[wasm_bindgen(js_name = getUserData)]
    pub fn get_user_data(&self, user_id: JsValue, callback: JsValue) -> bool {
        self.query(Query::UserData, user_id, callback)
    }

    #[wasm_bindgen(js_name = onAuthSuccess)]
    pub fn on_auth_success(&self, callback: JsValue) {
        super::keep(&self.host.js, AUTH_OK, &callback);
    }

    // CppComet's spelling. Also called when the relay ends the session (key deleted, kicked).
    #[wasm_bindgen(js_name = onAuthFalill)]
    pub fn on_auth_falill(&self, callback: JsValue) {
        super::keep(&self.host.js, AUTH_FAIL, &callback);
    }

    // The npm entry's dispatcher of `on(event, …)` (`npm/comet.js`): called with `(event,
    // code, text)` for `connecting`, `connected` and `disconnected` (centrifuge-js's states,
    // `text` the reason) and `error` (a refused `auth`, a missing WebSocket or a bad `node`).
    #[wasm_bindgen(js_name = setEmitter)]
    pub fn set_emitter(&self, emitter: JsValue) {
        super::keep(&self.host.js, EMITTER, &emitter);
    }

    #[wasm_bindgen(js_name = isAuthorized)]
    pub fn is_authorized(&self) -> bool {
        self.host.borrow().core.is_authorized()
    }

    #[wasm_bindgen(js_name = isConnected)]
    pub fn is_connected(&self) -> bool {
        self.host.borrow().core.is_connected()
    }

    #[wasm_bindgen(js_name = getUserId)]
    pub fn get_user_id(&self) -> JsValue {
        super::option(&self.host.js, "user_id")
    }

    #[wasm_bindgen(js_name = getUserKey)]
    pub fn get_user_key(&self) -> JsValue {
        super::option(&self.host.js, "user_key")
    }

    #[wasm_bindgen(js_name = getDevId)]
    pub fn get_dev_id(&self) -> JsValue {
        super::option(&self.host.js, "dev_id")
    }

    /// Removes subscription `id` (all of them: `None`) and unsubscribes from the channels no
    /// remaining one needs (`js/comet.js`'s `unsubscribe` says which); false when none went.
    fn release(&self, id: Option<u32>) -> bool {
        let mut found = false;
        input(&self.host, |h, now| {
            if let Some(free) = super::unsubscribe(&self.host.js, id) {
                found = true;
                // By index: `get` is the import `start` reads its options with (module size).
                for i in 0..free.length() {
                    h.core
                        .unsubscribe(now, &free.get(i).as_string().unwrap_or_default());
                }
            }
        });
        found
    }

    /// Every query through one copy (no closure per kind): a call of its own for each of the
    /// four exports, not four inlined copies (module size).
    /// The pipe (or user id) is any value, as `String()` makes it.
    #[inline(never)]
    fn query(&self, kind: Query, pipe: JsValue, callback: JsValue) -> bool {
        let (pipe, cb) = (&super::text(&pipe), callback);
        input(&self.host, |h, now| {
            let s = &mut h.core;
            let id = match kind {
                Query::History => s.history(now, pipe, None),
                Query::Count | Query::Users => s.presence(now, pipe),
                Query::UserData => s.user_data(now, pipe),
            };
            super::ask(&self.host.js, id as f64, kind as u32, pipe, &cb);
        });
        true
    }
}
