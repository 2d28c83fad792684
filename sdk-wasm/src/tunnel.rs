//! `Tunnel`: Wafer's tunnel API over the sans-IO core. This file is the host loop only: after
//! every input it performs the core's actions (fetch the connect URL, open, send, close),
//! dispatches its events to the page's handlers, and arms one timer for the next deadline.
//!
//! Re-entrancy: a handler may call `emit`, `close` or `open` on the same tunnel, so no
//! `RefCell` borrow is ever held while user code runs.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use cometa_client::event::{ERR_BAD_PACKET, ERR_SOCKET_ERROR};
use cometa_client::{Action, Event, Status, TunnelConfig};
use js_sys::{Function, JSON, Object};
use wasm_bindgen::prelude::*;

use crate::error::{ERR_INVALID_PARAMS, request_error};
use crate::socket::{Socket, SocketEvent};
use crate::wake::{self, Wake};
use crate::{auth, http, js};

/// The tunnel `error` code when the session ended: the relay's own close code for a revoked
/// session, terminal class like every 45xx.
pub const SESSION_ENDED: u32 = 4502;

thread_local! {
    /// `Tunnel.MAX_RECONNECT_TRY_TIMES`: read when a tunnel is constructed, as Wafer does.
    static MAX_RECONNECT_TRY_TIMES: RefCell<JsValue> = const { RefCell::new(JsValue::UNDEFINED) };
    /// `Tunnel.RECONNECT_TIME_INCREASE`: Wafer's linear step; here the backoff base.
    static RECONNECT_TIME_INCREASE: RefCell<JsValue> = const { RefCell::new(JsValue::UNDEFINED) };
}

/// How long the connect-URL request may take when the tunnel config sets no limit of its own.
const CONNECT_URL_TIMEOUT_MS: f64 = 15_000.0;

type Shared = Rc<RefCell<Host>>;

struct Host {
    core: cometa_client::Tunnel,
    service_url: JsValue,
    socket_url: Option<String>,
    handlers: Vec<(String, Function)>,
    web_socket: Option<Function>,
    socket: Option<Socket>,
    /// Identifies the current socket, so events of a replaced one are ignored.
    socket_gen: u32,
    /// Identifies the current connect-URL request, so a late answer is ignored.
    fetch_gen: u32,
    /// The armed timer: its deadline and the `setTimeout` handle.
    timer: Option<(u64, JsValue)>,
    /// Called by `setTimeout` (no argument), or by the host's `endAll` with why the session
    /// ended (see [`end_all`]).
    on_timer: Option<Closure<dyn FnMut(JsValue)>>,
    /// Wake-up listeners, present while the tunnel is not closed.
    page: Option<Wake>,
    /// When the last wake-up happened: a socket found closed soon after reconnects at once.
    woke_at: Option<u64>,
    /// A running tunnel owns itself, as a JS WebSocket with listeners stays alive without a
    /// reference from the page; released when the tunnel closes.
    keep_alive: Option<Shared>,
}

/// A number option: finite and non-negative.
fn number(options: &JsValue, key: &str) -> Option<f64> {
    js::get(options, key)
        .as_f64()
        .filter(|n| n.is_finite() && *n >= 0.0)
}

fn positive(value: &JsValue) -> Option<f64> {
    value.as_f64().filter(|n| n.is_finite() && *n >= 1.0)
}

/// The core's config: defaults, then Wafer's statics, then the constructor's options.
fn tunnel_config(options: &JsValue) -> TunnelConfig {
    let mut c = TunnelConfig::default();
    if let Some(n) = MAX_RECONNECT_TRY_TIMES.with(|v| positive(&v.borrow())) {
        c.max_reconnect_tries = Some(n as u32);
    }
    if let Some(n) = RECONNECT_TIME_INCREASE.with(|v| positive(&v.borrow())) {
        c.backoff_base_ms = n as u64;
    }
    if let Some(n) = number(options, "maxReconnectTries") {
        c.max_reconnect_tries = (n >= 1.0).then_some(n as u32);
    }
    if let Some(n) = number(options, "backoffBaseMs") {
        c.backoff_base_ms = n as u64;
    }
    if let Some(n) = number(options, "backoffCapMs") {
        c.backoff_cap_ms = n as u64;
    }
    if let Some(n) = number(options, "pingIntervalMs") {
        c.ping_interval_ms = n as u64;
    }
    if let Some(n) = number(options, "pongTimeoutMs") {
        c.pong_timeout_ms = n as u64;
    }
    if let Some(n) = number(options, "connectTimeoutMs") {
        c.connect_timeout_ms = (n > 0.0).then_some(n as u64);
    }
    if let Some(n) = number(options, "maxOutbox") {
        c.max_outbox = (n as usize).max(1);
    }
    c.durable = js::get(options, "persist").as_bool() != Some(false);
    c
}

/// Where a durable tunnel keeps its unanswered emits: one list per tunnel URL and browser
/// (`localStorage`, wx storage in a mini-program).
fn outbox_key(service_url: &JsValue) -> Option<String> {
    service_url
        .as_string()
        .map(|u| ["cometa:outbox:", &u].concat())
}

/// Something to do after borrowing the host: perform an action or tell the page.
enum Step {
    Act(Action),
    Tell(Event),
}

/// Drains the core, then arms the timer and updates what depends on open/closed.
fn pump(rc: &Shared) {
    loop {
        let step = {
            let mut h = rc.borrow_mut();
            if let Some(a) = h.core.poll_action() {
                Step::Act(a)
            } else if let Some(e) = h.core.poll_event() {
                Step::Tell(e)
            } else {
                break;
            }
        };
        match step {
            Step::Act(a) => perform(rc, a),
            Step::Tell(e) => dispatch(rc, e),
        }
    }
    after_pump(rc);
}

/// Feeds one input to the core and runs the loop.
fn input(rc: &Shared, f: impl FnOnce(&mut Host, u64)) {
    f(&mut rc.borrow_mut(), js::now_ms());
    pump(rc);
}

fn perform(rc: &Shared, action: Action) {
    let now = js::now_ms();
    let mut h = rc.borrow_mut();
    match action {
        Action::FetchConnectUrl => {
            h.fetch_gen = h.fetch_gen.wrapping_add(1);
            let (ticket, url) = (h.fetch_gen, h.service_url.clone());
            let timeout = h.core.config().connect_timeout_ms;
            // Released first: the request runs the session core, which may end tunnels.
            drop(h);
            fetch_connect_url(Rc::downgrade(rc), ticket, url, timeout);
        }
        Action::OpenSocket { url } => {
            h.socket = None;
            h.socket_gen = h.socket_gen.wrapping_add(1);
            let (ticket, weak) = (h.socket_gen, Rc::downgrade(rc));
            let Some(ctor) = h.web_socket.clone().or_else(http::web_socket) else {
                // A configuration error: no retry can fix it, so the tunnel ends (and a Node
                // process is free to exit) instead of backing off forever.
                let why = "no WebSocket implementation: pass one with configure({ WebSocket }) \
                           (in Node, the `ws` package's)";
                h.core.end(now, ERR_SOCKET_ERROR, why.to_owned());
                return;
            };
            let opened = Socket::connect(&ctor, &url, move |ev| on_socket(&weak, ticket, ev))
                .map_err(|e| js::describe(&e));
            match opened {
                Ok(s) => h.socket = Some(s),
                // Reported like a browser reports a failed connection: error, then close.
                Err(why) => {
                    h.core.handle_socket_error(now, &why);
                    h.core.handle_socket_close(now, 1006);
                }
            }
        }
        Action::Send(text) => {
            let failed = match &h.socket {
                Some(s) => s.send(&text).err(),
                None => None,
            };
            if let Some(e) = failed {
                h.core.handle_socket_error(now, &js::describe(&e));
            }
        }
        Action::CloseSocket => h.socket = None,
        Action::Persist(text) => {
            if let (Some(s), Some(k)) = (js::storage("localStorage"), outbox_key(&h.service_url)) {
                // Quota or disabled storage: the emits are still resent while the page lives.
                let _ = if text.is_empty() {
                    s.remove_item(&k)
                } else {
                    s.set_item(&k, &text)
                };
            }
        }
    }
}

fn on_socket(weak: &Weak<RefCell<Host>>, ticket: u32, ev: SocketEvent) {
    let Some(rc) = weak.upgrade() else { return };
    {
        let h = rc.borrow();
        if h.socket_gen != ticket || h.socket.is_none() {
            return;
        }
    }
    input(&rc, |h, now| match ev {
        SocketEvent::Open => h.core.handle_socket_open(now),
        SocketEvent::Message(text) => h.core.handle_socket_message(now, &text),
        SocketEvent::Close(code) => {
            h.socket = None;
            h.core.handle_socket_close(now, code);
            if h.woke_at
                .is_some_and(|t| now.saturating_sub(t) < wake::GRACE_MS)
            {
                h.core.reconnect_now(now);
            }
        }
        SocketEvent::Error(why) => h.core.handle_socket_error(now, &why),
    });
}

/// `GET serviceUrl` through `request()`'s logic (session header, re-login on 401), as
/// Wafer's tunnel does; the answer must be `{data: {connectUrl}}` with status 200.
/// `extendedAuth.tunnel` travels as its query: this GET is the tunnel's handshake, a query
/// needs no CORS permission (custom headers would), and the socket URL itself stays the
/// relay's credential-free single-use ticket. A late answer (`ticket` not the current fetch)
/// is ignored.
fn fetch_connect_url(
    weak: Weak<RefCell<Host>>,
    ticket: u32,
    url: JsValue,
    timeout_ms: Option<u64>,
) {
    let options = Object::new();
    js::set(&options, "url", &url);
    js::set(&options, "method", &"GET".into());
    js::set(&options, "tunnel", &JsValue::TRUE);
    let timeout = timeout_ms.map_or(CONNECT_URL_TIMEOUT_MS, |t| t as f64);
    js::set(&options, "timeout", &JsValue::from(timeout));
    // `complete` gets the reply, or the error.
    let complete = Closure::once_into_js(move |reply: JsValue| {
        let result = connect_url(&reply);
        let Some(rc) = weak.upgrade() else { return };
        if rc.borrow().fetch_gen != ticket {
            return;
        }
        input(&rc, |h, now| {
            if let Ok(u) = &result {
                h.socket_url = Some(u.clone());
            }
            h.core.handle_connect_url(now, result);
        });
    });
    js::set(&options, "complete", &complete);
    auth::request(options.into());
}

fn connect_url(reply: &JsValue) -> Result<String, String> {
    let Some(status) = js::get(reply, "statusCode").as_f64() else {
        return Err(js::describe(reply));
    };
    let connect_url = js::get_string(&js::get(&js::get(reply, "data"), "data"), "connectUrl");
    match connect_url {
        Some(u) if status == 200.0 && !u.is_empty() => Ok(u),
        _ => Err([
            "the tunnel service answered HTTP ",
            &js::to_js_string(&JsValue::from(status)),
            " without data.connectUrl",
        ]
        .concat()),
    }
}

fn error_payload(code: u32, message: &str) -> JsValue {
    let obj = Object::new();
    js::set(&obj, "code", &JsValue::from(code));
    js::set(&obj, "message", &JsValue::from_str(message));
    obj.into()
}

/// Calls the handlers registered for `event` and the `'*'` ones, in registration order.
fn dispatch(rc: &Shared, event: Event) {
    let (name, payload) = match event {
        Event::Error { code, message } => ("error".to_owned(), error_payload(code, &message)),
        Event::Message {
            event,
            content_json,
        } => match JSON::parse(&content_json) {
            Ok(v) => (event, v),
            Err(_) => (
                "error".to_owned(),
                error_payload(
                    ERR_BAD_PACKET,
                    "a message packet carried invalid JSON content",
                ),
            ),
        },
        other => (other.name().to_owned(), JsValue::UNDEFINED),
    };
    // A snapshot: handlers may register more handlers while we iterate.
    let handlers = rc.borrow().handlers.clone();
    let name_js = JsValue::from_str(&name);
    for (kind, f) in &handlers {
        if kind == "*" {
            js::call_user(f, &[&name_js, &payload]);
        } else if *kind == name {
            js::call_user(f, &[&payload]);
        }
    }
}

/// Re-arms the timer; attaches page hooks and keeps the tunnel alive while it runs.
fn after_pump(rc: &Shared) {
    let mut h = rc.borrow_mut();
    let due = h.core.poll_timeout();
    if h.timer.as_ref().map(|t| t.0) != due {
        if let Some((_, handle)) = h.timer.take() {
            js::clear_timeout(&handle);
        }
        if let (Some(due), Some(cb)) = (due, h.on_timer.as_ref()) {
            // +1 ms: timers may fire a hair before `performance.now()` reaches the deadline.
            let delay = due.saturating_sub(js::now_ms()) + 1;
            let handle = js::set_timeout(cb.as_ref().unchecked_ref(), delay as f64);
            h.timer = Some((due, handle));
        }
    }
    let running = h.core.status() != Status::Closed;
    if running && h.keep_alive.is_none() {
        h.keep_alive = Some(rc.clone());
        let weak = Rc::downgrade(rc);
        h.page = Some(Wake::attach(move || on_wake(&weak)));
        track(&h, true);
    } else if !running {
        track(&h, false);
        h.page = None;
        // Dropped after the borrow ends: it may be the last strong reference.
        let me = h.keep_alive.take();
        drop(h);
        drop(me);
    }
}

/// Registers a running tunnel with the host (`on`), or removes it, by its timer callback:
/// the host's list is the registry [`end_all`] goes through, at no cost in the module.
fn track(h: &Host, on: bool) {
    if let Some(cb) = &h.on_timer {
        http::track(cb.as_ref().unchecked_ref(), on);
    }
}

/// Ends every running tunnel for good with [`SESSION_ENDED`]: the session they run
/// on is over, so reconnecting could only fail again. The host calls each tunnel's timer
/// callback with `message`, which ends the tunnel instead of ticking.
pub fn end_all(message: &str) {
    http::end_all(message);
}

/// The page woke up (see [`crate::wake`]): timers that came due while it slept run now (an
/// overdue ping probes a socket that may have died meanwhile), and a backoff wait ends: the
/// network is likely back, and the user is looking.
fn on_wake(weak: &Weak<RefCell<Host>>) {
    if let Some(rc) = weak.upgrade() {
        input(&rc, |h, now| {
            h.woke_at = Some(now);
            h.core.handle_timeout(now);
            h.core.reconnect_now(now);
        });
    }
}

// Wafer's `Tunnel`: `new Tunnel(serviceUrl, options?)`, `open`, `on`, `emit`, `close`,
// `status`, `socketUrl`, `is*()`; the `STATUS_*`/`ERR_*` statics are `js/host.js`'s `TUNNEL`.
#[wasm_bindgen]
pub struct Tunnel {
    host: Shared,
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
        if let (Some(s), Some(k)) = (js::storage("localStorage"), outbox_key(&service_url))
            && let Ok(Some(text)) = s.get_item(&k)
        {
            core.restore(&text);
        }
        let host = Rc::new(RefCell::new(Host {
            core,
            service_url,
            socket_url: None,
            handlers: Vec::new(),
            web_socket: js::get_function(&options, "WebSocket"),
            socket: None,
            socket_gen: 0,
            fetch_gen: 0,
            timer: None,
            on_timer: None,
            page: None,
            woke_at: None,
            keep_alive: None,
        }));
        let weak = Rc::downgrade(&host);
        let on_timer: Closure<dyn FnMut(JsValue)> = Closure::new(move |why: JsValue| {
            if let Some(rc) = weak.upgrade() {
                input(&rc, |h, now| match why.as_string() {
                    Some(why) => h.core.end(now, SESSION_ENDED, why),
                    None => {
                        h.timer = None;
                        h.core.handle_timeout(now);
                    }
                });
            }
        });
        host.borrow_mut().on_timer = Some(on_timer);
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
        if let (Some(kind), Ok(f)) = (kind.as_string(), handler.dyn_into::<Function>()) {
            self.host.borrow_mut().handlers.push((kind, f));
        }
    }

    // Sends `{type, content}`; queued until the tunnel is active. Throws
    // `RequestError(ERR_INVALID_PARAMS)` when `type` is not a string or `content` cannot be
    // encoded as JSON (a cycle, a BigInt). With `ack`, asks the relay to acknowledge and
    // returns the id its outcome carries, as a message of the core's `ACK_EVENT` type (the npm
    // entry's `emit` turns it into a Promise); else 0.
    pub fn emit(&self, kind: JsValue, content: JsValue, ack: bool) -> Result<f64, JsValue> {
        let kind = kind.as_string().ok_or_else(|| {
            request_error(
                ERR_INVALID_PARAMS,
                "tunnel.emit(type, content): type must be a string",
            )
        })?;
        // `undefined` (and functions) stringify to nothing; the core then sends `null`.
        let json = JSON::stringify(&content)
            .map_err(|e| {
                request_error(
                    ERR_INVALID_PARAMS,
                    &[
                        "tunnel.emit: content is not JSON-encodable: ",
                        &js::describe(&e),
                    ]
                    .concat(),
                )
            })?
            .as_string()
            .unwrap_or_default();
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
        self.host.borrow().core.config().durable
    }

    // Closes the tunnel (a `close` packet first when active) and dispatches `close`.
    pub fn close(&self) {
        input(&self.host, |h, now| h.core.close(now));
    }

    #[wasm_bindgen(getter)]
    pub fn status(&self) -> String {
        self.host.borrow().core.status().as_str().to_owned()
    }

    // The last connect URL received, or `null` before the first.
    #[wasm_bindgen(getter, js_name = socketUrl)]
    pub fn socket_url(&self) -> JsValue {
        match &self.host.borrow().socket_url {
            Some(u) => JsValue::from_str(u),
            None => JsValue::NULL,
        }
    }

    #[wasm_bindgen(getter, js_name = serviceUrl)]
    pub fn service_url(&self) -> JsValue {
        self.host.borrow().service_url.clone()
    }

    #[wasm_bindgen(js_name = isActive)]
    pub fn is_active(&self) -> bool {
        self.host.borrow().core.status() == Status::Active
    }

    #[wasm_bindgen(js_name = isClosed)]
    pub fn is_closed(&self) -> bool {
        self.host.borrow().core.status() == Status::Closed
    }

    #[wasm_bindgen(js_name = isConnecting)]
    pub fn is_connecting(&self) -> bool {
        self.host.borrow().core.status() == Status::Connecting
    }

    #[wasm_bindgen(js_name = isReconnecting)]
    pub fn is_reconnecting(&self) -> bool {
        self.host.borrow().core.status() == Status::Reconnecting
    }

    // Unset by default: reconnect forever (Wafer gave up after 5). A positive number makes
    // tunnels constructed afterwards give up after that many failed tries (error 2001).
    #[wasm_bindgen(getter = MAX_RECONNECT_TRY_TIMES)]
    pub fn max_reconnect_try_times() -> JsValue {
        MAX_RECONNECT_TRY_TIMES.with(|v| v.borrow().clone())
    }

    #[wasm_bindgen(setter = MAX_RECONNECT_TRY_TIMES)]
    pub fn set_max_reconnect_try_times(value: JsValue) {
        MAX_RECONNECT_TRY_TIMES.with(|v| *v.borrow_mut() = value);
    }

    // Wafer's linear reconnect step; here the base of the exponential backoff (ms).
    #[wasm_bindgen(getter = RECONNECT_TIME_INCREASE)]
    pub fn reconnect_time_increase() -> JsValue {
        RECONNECT_TIME_INCREASE.with(|v| v.borrow().clone())
    }

    #[wasm_bindgen(setter = RECONNECT_TIME_INCREASE)]
    pub fn set_reconnect_time_increase(value: JsValue) {
        RECONNECT_TIME_INCREASE.with(|v| *v.borrow_mut() = value);
    }
}
