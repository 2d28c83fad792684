//! `Tunnel`: Wafer's tunnel API over the sans-IO core. This file is the host loop only: after
//! every input it performs the core's actions (fetch the connect URL, open, send, close)
//! through the driver ([`crate::link`]), hands its events to the page's handlers there, and
//! arms the driver's one timer for the next deadline.
//!
//! Re-entrancy: a handler may call `emit`, `close` or `open` on the same tunnel, so no
//! `RefCell` borrow is ever held while user code runs.

use std::cell::RefCell;
use std::rc::Rc;

use cometa_client::event::{ERR_BAD_PACKET, ERR_SOCKET_ERROR};
use cometa_client::{Action, Event, Status, TunnelConfig};
use wasm_bindgen::prelude::*;

use crate::link::{self, Driven, Input, Link, OpenError};
use crate::{auth, http, js};

/// The tunnel `error` code when the session ended: the relay's own close code for a revoked
/// session, terminal class like every 45xx.
pub const SESSION_ENDED: u32 = 4502;

/// How long the connect-URL request may take when the tunnel config sets no limit of its own.
const CONNECT_URL_TIMEOUT_MS: f64 = 15_000.0;

struct Host {
    core: cometa_client::Tunnel,
    service_url: JsValue,
    /// The last connect URL received (a JS string), or `null`.
    socket_url: JsValue,
    /// The `WebSocket` option, as given.
    web_socket: JsValue,
    link: Link,
    /// The page let go of its `Tunnel`: the link is freed once the tunnel is closed (a
    /// running tunnel stays alive, as a JS WebSocket with listeners does).
    dropped: bool,
}

/// The host, held by the page's `Tunnel` and by the driver, which keeps it alive until its
/// link is freed. One `Rc` for both (not an `Rc` of the host inside the driver's): one
/// allocation and one drop glue less.
struct Driver(RefCell<Host>);

impl link::Core for cometa_client::Tunnel {
    fn handle_socket_open(&mut self, now: u64) {
        self.handle_socket_open(now);
    }
    fn handle_socket_message(&mut self, now: u64, text: &str) {
        self.handle_socket_message(now, text);
    }
    fn handle_socket_close(&mut self, now: u64, code: u16) {
        self.handle_socket_close(now, code);
    }
    fn handle_socket_error(&mut self, now: u64, why: &str) {
        self.handle_socket_error(now, why);
    }
    fn handle_timeout(&mut self, now: u64) {
        self.handle_timeout(now);
    }
    fn reconnect_now(&mut self, now: u64) {
        self.reconnect_now(now);
    }
}

impl Driven for Driver {
    fn input(&self, input: Input) {
        if let Input::Fetched(result, ticket) = input {
            return fetched(self, result, ticket);
        }
        self::input(self, |h, now| {
            link::route(&mut h.core, &mut h.link, now, input)
        });
    }

    /// Ends the tunnel for good with [`SESSION_ENDED`]: the session it runs on is over, so
    /// reconnecting could only fail again.
    fn end(&self, why: &str) {
        self::input(self, |h, now| {
            h.core.end(now, SESSION_ENDED, why.to_owned())
        });
    }
}

/// The core's config: defaults, then Wafer's statics, then the constructor's options (read
/// by `js/host.js`: -1 for unset).
fn tunnel_config(options: &JsValue) -> TunnelConfig {
    let mut c = TunnelConfig::default();
    // One call each, not an array of them mapped (`try_map`'s code).
    let o = |i| http::tunnel_option(options, i);
    let tries = o(0);
    if tries >= 0.0 {
        c.max_reconnect_tries = (tries >= 1.0).then_some(tries as u32);
    }
    let base = o(1);
    if base >= 0.0 {
        c.backoff_base_ms = base as u64;
    }
    let cap = o(2);
    if cap >= 0.0 {
        c.backoff_cap_ms = cap as u64;
    }
    let ping = o(3);
    if ping >= 0.0 {
        c.ping_interval_ms = ping as u64;
    }
    let pong = o(4);
    if pong >= 0.0 {
        c.pong_timeout_ms = pong as u64;
    }
    let connect = o(5);
    if connect >= 0.0 {
        c.connect_timeout_ms = (connect > 0.0).then_some(connect as u64);
    }
    let outbox = o(6);
    if outbox >= 0.0 {
        c.max_outbox = (outbox as usize).max(1);
    }
    c.durable = o(7) != 0.0;
    c
}

/// Something to do after borrowing the host: perform an action or tell the page.
enum Step {
    Act(Action),
    Tell(JsValue, Event),
}

/// Drains the core, then arms the timer and updates what depends on open/closed.
fn pump(rc: &Driver) {
    loop {
        let step = {
            let mut h = rc.0.borrow_mut();
            if let Some(a) = h.core.poll_action() {
                Step::Act(a)
            } else if let Some(e) = h.core.poll_event() {
                Step::Tell(h.link.js.clone(), e)
            } else {
                break;
            }
        };
        match step {
            Step::Act(a) => perform(rc, a),
            Step::Tell(l, e) => dispatch(&l, e),
        }
    }
    after_pump(rc);
}

/// Feeds one input to the core and runs the loop.
fn input(rc: &Driver, f: impl FnOnce(&mut Host, u64)) {
    f(&mut rc.0.borrow_mut(), js::now_ms());
    pump(rc);
}

fn perform(rc: &Driver, action: Action) {
    let now = js::now_ms();
    let mut h = rc.0.borrow_mut();
    match action {
        Action::FetchConnectUrl => {
            let timeout = h.core.config().connect_timeout_ms;
            let timeout = timeout.map_or(CONNECT_URL_TIMEOUT_MS, |t| t as f64);
            // The request's options and its answer's reading are `js/host.js`'s (module
            // size); the answer comes back through the link (`Input::Fetched`), tagged with
            // the attempt it answers (each attempt fetches once).
            let ticket = h.core.socket_generation();
            let options = http::connect_request(&h.service_url, timeout, &h.link.js, ticket);
            // Released first: the request runs the session core, which may end tunnels.
            drop(h);
            auth::request(options);
        }
        Action::OpenSocket { url } => {
            match h.link.open(&url, http::web_socket(&h.web_socket)) {
                Ok(()) => {}
                // A configuration error: no retry can fix it, so the tunnel ends (and a Node
                // process is free to exit) instead of backing off forever.
                Err(OpenError::NoConstructor) => {
                    let why = "no WebSocket implementation: pass one with configure({ WebSocket }) \
                               (in Node, the `ws` package's)";
                    h.core.end(now, ERR_SOCKET_ERROR, why.to_owned());
                }
                // Reported like a browser reports a failed connection: error, then close.
                Err(OpenError::Failed(why)) => {
                    h.core.handle_socket_error(now, &why);
                    h.core.handle_socket_close(now, 1006);
                }
            }
        }
        Action::Send(text) => {
            if let Err(why) = h.link.send(&text) {
                h.core.handle_socket_error(now, &why);
            }
        }
        Action::CloseSocket => h.link.close(),
        // Quota or disabled storage: the emits are still resent while the page lives.
        Action::Persist(text) => {
            http::outbox(&h.service_url, Some(&text));
        }
    }
}

/// The answer to the connect-URL request `ticket`: `GET serviceUrl` through `request()`'s
/// logic (session header, re-login on 401), as Wafer's tunnel does; the answer must be
/// `{data: {connectUrl}}` with status 200. `extendedAuth.tunnel` travels as its query: this
/// GET is the tunnel's handshake, a query needs no CORS permission (custom headers would), and
/// the socket URL itself stays the relay's credential-free single-use ticket. A late answer
/// (`ticket` not the current attempt's) is ignored; a freed link reports nothing.
fn fetched(rc: &Driver, result: Result<String, String>, ticket: u32) {
    if rc.0.borrow().core.socket_generation() != ticket {
        return;
    }
    input(rc, |h, now| {
        if let Ok(u) = &result {
            h.socket_url = JsValue::from_str(u);
        }
        h.core.handle_connect_url(now, result);
    });
}

/// Hands an event to the page's handlers (the driver calls those of its name and `'*'`).
fn dispatch(l: &JsValue, event: Event) {
    match event {
        Event::Error { code, message } => link::tell_error(l, code, &message),
        Event::Message {
            event,
            content_json,
        } => {
            if !link::tell(l, &event, Some(&content_json)) {
                let why = "a message packet carried invalid JSON content";
                link::tell_error(l, ERR_BAD_PACKET, why);
            }
        }
        other => {
            link::tell(l, other.name(), None);
        }
    }
}

/// Re-arms the timer; listens to wake-ups while the tunnel runs; frees a closed tunnel the
/// page let go of.
fn after_pump(rc: &Driver) {
    let mut h = rc.0.borrow_mut();
    let due = h.core.poll_timeout();
    h.link.arm(due);
    let running = h.core.status() != Status::Closed;
    h.link.listen(running);
    if !running && h.dropped {
        // Not the last reference: the caller holds one.
        h.dropped = false;
        h.link.free();
    }
}

// Wafer's `Tunnel`: `new Tunnel(serviceUrl, options?)`, `open`, `on`, `emit`, `close`,
// `status`, `socketUrl`; the `STATUS_*`/`ERR_*` statics are `js/host.js`'s `TUNNEL`. The
// entries define `is*()` over `status` (an export each cost more module than the test).
#[wasm_bindgen]
pub struct Tunnel {
    host: Rc<Driver>,
}

/// The page let go of the tunnel (wasm-bindgen's `free`, or its finalizer): a closed one is
/// forgotten now, a running one when it closes.
impl Drop for Tunnel {
    fn drop(&mut self) {
        let mut h = self.host.0.borrow_mut();
        h.dropped = h.core.status() != Status::Closed;
        if !h.dropped {
            h.link.free();
        }
    }
}

#[wasm_bindgen]
impl Tunnel {
    // `options` (ours, all optional): `WebSocket` (a constructor, e.g. `ws`'s in Node),
    // `maxReconnectTries`, `backoffBaseMs`, `backoffCapMs`, `pingIntervalMs`,
    // `pongTimeoutMs`, `connectTimeoutMs`, `maxOutbox`, `persist` (default true: emits the
    // relay has not answered are kept in storage and sent again after a lost connection or
    // a reload, each with a key the relay deduplicates).
    //
    // Unlike Wafer, several tunnels may be open at once: the single-socket limit was
    // `wx.connectSocket`'s, not the browser's.
    #[wasm_bindgen(constructor)]
    pub fn new(service_url: JsValue, options: JsValue) -> Tunnel {
        let seed = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64 ^ js::now_ms();
        let mut core = cometa_client::Tunnel::new(tunnel_config(&options), seed);
        if let Some(text) = http::outbox(&service_url, None) {
            core.restore(&text);
        }
        let host = Rc::new(Driver(RefCell::new(Host {
            core,
            service_url,
            socket_url: JsValue::NULL,
            web_socket: js::get(&options, "WebSocket"),
            link: Link::default(),
            dropped: false,
        })));
        let link = Link::new(host.clone());
        host.0.borrow_mut().link = link;
        Tunnel { host }
    }

    // Connects (fetch the connect URL, then open the socket). No-op unless closed.
    pub fn open(&self) {
        input(&self.host, |h, now| h.core.open(now));
    }

    // Registers `handler` for `type`: `connect`, `close`, `reconnecting`, `reconnect`,
    // `error`, a message type (reserved names arrive as `@name`), or `'*'` for all as
    // `(type, payload)`. A non-function handler is ignored, as in Wafer.
    pub fn on(&self, kind: JsValue, handler: JsValue) {
        link::on(&self.host.0.borrow().link.js, &kind, &handler);
    }

    // Sends `{type, content}`; queued until the tunnel is active. Throws
    // `RequestError(ERR_INVALID_PARAMS)` when `type` is not a string or `content` cannot be
    // encoded as JSON (a cycle, a BigInt). With `ack`, asks the relay to acknowledge and
    // returns the id its outcome carries, as a message of the core's `ACK_EVENT` type (the npm
    // entry's `emit` turns it into a Promise); else 0.
    pub fn emit(&self, kind: JsValue, content: JsValue, ack: bool) -> Result<f64, JsValue> {
        // Checked and encoded by `js/host.js`.
        let json = http::emit_json(&kind, &content)?;
        let kind = kind.as_string().unwrap_or_default();
        let mut id = 0;
        input(&self.host, |h, now| {
            if ack {
                id = h.core.emit_with_ack(now, &kind, &json);
            } else {
                h.core.emit(now, &kind, &json);
            }
        });
        Ok(id as f64)
    }

    // Whether unanswered emits are kept and sent again (the `persist` option).
    #[wasm_bindgen(getter)]
    pub fn persist(&self) -> bool {
        self.host.0.borrow().core.config().durable
    }

    // Closes the tunnel (a `close` packet first when active) and dispatches `close`.
    pub fn close(&self) {
        input(&self.host, |h, now| h.core.close(now));
    }

    // A `JsValue`, not a `String`: no copy to free in the glue.
    #[wasm_bindgen(getter)]
    pub fn status(&self) -> JsValue {
        JsValue::from_str(self.host.0.borrow().core.status().as_str())
    }

    // The last connect URL received, or `null` before the first.
    #[wasm_bindgen(getter, js_name = socketUrl)]
    pub fn socket_url(&self) -> JsValue {
        self.host.0.borrow().socket_url.clone()
    }

    #[wasm_bindgen(getter, js_name = serviceUrl)]
    pub fn service_url(&self) -> JsValue {
        self.host.0.borrow().service_url.clone()
    }
}
