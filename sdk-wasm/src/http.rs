//! The host functions of `js/host.js`: HTTP calls shaped like `wx.request` (`fetch` plus the
//! encoding of `data`: building requests property by property across the wasm boundary cost
//! several KB of module for no gain in behaviour), the page calls in flight and how they
//! settle and the renewal timer. Async answers come back through
//! the sink set with [`set_sink`] (see `auth.rs`), never as Rust futures: the futures runtime
//! cost the module ~5 KB.

use js_sys::Function;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/host.js")]
extern "C" {
    /// The unanswered emits a durable tunnel to service `url` keeps in `localStorage`: read
    /// (`None`), else written (`""` removes them); nothing where storage is missing or throws,
    /// or `url` is not a string.
    pub fn outbox(url: &JsValue, text: Option<&str>) -> Option<String>;
    /// The tunnel service's `request` options; the connect URL or why there is none goes to
    /// link `link` ([`crate::link::Link::js`]) as its answer to `ticket`.
    #[wasm_bindgen(js_name = connectRequest)]
    pub fn connect_request(url: &JsValue, timeout: f64, link: &JsValue, ticket: u32) -> JsValue;
    /// Records whether the last login was a visitor's.
    #[wasm_bindgen(js_name = setVisitor)]
    pub fn set_visitor(on: bool);

    /// Option `i` of a Tunnel's options and Wafer's statics, as a number (see
    /// `tunnel::tunnel_config`): one number at a time, no array to copy across.
    #[wasm_bindgen(js_name = tunnelOption)]
    pub fn tunnel_option(options: &JsValue, i: u32) -> f64;

    /// The WebSocket constructor: `own` (a tunnel's option) if a function, else the
    /// configured one, else `globalThis.WebSocket`.
    #[wasm_bindgen(js_name = webSocket)]
    pub fn web_socket(own: &JsValue) -> Option<Function>;

    /// Where every async answer goes: `sink(kind, id, value, facts)` (see `auth::Facts`).
    #[wasm_bindgen(js_name = setSink)]
    pub fn set_sink(sink: &Function);

    /// Records page call `id` with its options; returns its Promise, or `undefined` when the
    /// options carry `success`/`fail`/`complete`.
    pub fn begin(id: u32, options: &JsValue, with_user_data: bool) -> JsValue;

    /// Settles call `id`: `ok` with its recorded answer, else with `error`.
    pub fn finish(id: u32, ok: bool, error: &JsValue);

    /// One login exchange (the credentials of call `id`, or the SDK's own: the providers, the
    /// visitor cookie, `extendedAuth`) to `opts.loginUrl` or the configured URL: sink kinds
    /// 0/1 (1 at once, terminal, without a URL).
    /// Not named `login`: the module exports a `login` of its own.
    #[wasm_bindgen(js_name = signIn)]
    pub fn sign_in(op: u32, id: Option<u32>);

    /// Request `id` with the session key: sink kinds 2/3.
    pub fn send(id: u32, skey: Option<&str>);

    /// `POST` the login URL's sibling `refresh` with `X-WX-Skey`: sink kinds 4/5.
    pub fn refresh(op: u32, skey: &str);

    /// `tunnel.emit`'s `content` as JSON text (`""` where JSON has none), once `kind` is
    /// checked to be a string; else the `RequestError(ERR_INVALID_PARAMS)` to throw.
    #[wasm_bindgen(catch, js_name = emitJson)]
    pub fn emit_json(kind: &JsValue, content: &JsValue) -> Result<String, JsValue>;

    /// Why the tunnels end when the session ended with error `e`.
    #[wasm_bindgen(js_name = sessionEnded)]
    pub fn session_ended(e: &JsValue) -> String;

    /// What `request()` needs of its options: 1 when they ask to log in first, else 0; a
    /// problem (see `auth::Problem`: 5 not an object, 6 without a URL) when the call cannot
    /// start.
    #[wasm_bindgen(js_name = requestOptions)]
    pub fn request_options(options: &JsValue) -> u32;

    /// Fails a call that cannot start with `problem` at once, settled the way its options
    /// ask (callbacks or the Promise returned).
    pub fn refuse(options: &JsValue, problem: u32) -> JsValue;

    /// `reply.data.data`: the session in a login or refresh answer.
    #[wasm_bindgen(js_name = sessionOf)]
    pub fn session_of(reply: &JsValue) -> JsValue;

    /// The `RequestError` of failure `what` (see [`crate::auth::Problem`]) of HTTP answer or
    /// options `value`; `terminal` marked on it.
    pub fn problem(what: u32, value: &JsValue, terminal: bool) -> JsValue;

    /// Arms the renewal timer for wall-clock `at` (ms), or disarms it: sink kind 6 when it
    /// fires (one callback into the module for every answer: a closure type costs more).
    pub fn arm(at: Option<f64>);
}
