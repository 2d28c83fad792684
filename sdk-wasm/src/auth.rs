//! `login`, `loginWithCode`, `request` and the session's `get`/`set`/`clear`, following Wafer 2.1.0's `login.js` and
//! `request.js`, as the host of the sans-IO session core (`cometa_client::auth`): the core
//! decides (when to log in again, renew, retry, give up); this file performs its commands
//! through `js/host.js` and feeds the answers back. The browser differences: there is no
//! `wx.login`, so the login code comes from `opts.code` or from the provider set with
//! `setCodeProvider`; and a login may prove who the user is in other ways (a JWT, a password,
//! nothing for a visitor, the site's own `extendedAuth` headers), all answered by
//! `/weapp/login` in the same shape.
//!
//! Messages are built by appending to an owned `String` rather than with `format!` (the
//! formatting machinery) or slice `concat` (a generic join): both cost module size (see
//! `scripts/build-sdk.sh`).

use std::cell::{Cell, RefCell};

use cometa_client::auth::{self as core, Auth, Command, LoginFailure, RefreshResult};
use js_sys::JSON;
use wasm_bindgen::prelude::*;

use crate::error::{
    ERR_INVALID_PARAMS, ERR_LOGIN_FAILED, ERR_LOGIN_SESSION_NOT_RECEIVED, ERR_SESSION_INVALID,
    request_error,
};
use crate::{http, js, session};

thread_local! {
    static CORE: RefCell<Auth<JsValue>> = RefCell::default();
    /// The renewal timer's due time as armed in the host.
    static ARMED: Cell<Option<u64>> = const { Cell::new(None) };
    /// Registers the sink of every async answer with the host, once.
    static SINK: () = http::set_sink(&crate::link::callback(answer));
}

/// Wall-clock ms: session expiries are wall-clock seconds.
fn now() -> u64 {
    js_sys::Date::now() as u64
}

/// Feeds one input to the core, then performs its commands.
fn input(f: impl FnOnce(&mut Auth<JsValue>, u64)) {
    CORE.with(|c| f(&mut c.borrow_mut(), now()));
    pump();
}

/// Performs the core's commands (no borrow held: a command may feed the core again), then
/// re-arms the renewal timer.
fn pump() {
    SINK.with(|_| ());
    while let Some(cmd) = CORE.with(|c| c.borrow_mut().poll_command()) {
        perform(cmd);
    }
    let due = CORE.with(|c| c.borrow().poll_timeout());
    if ARMED.replace(due) != due {
        http::arm(due.map(|d| d as f64));
    }
}

fn perform(cmd: Command<JsValue>) {
    match cmd {
        Command::Login { op, call } => start_login(op, call),
        Command::Refresh { op, skey } => {
            http::refresh(op, &http::login_url().unwrap_or_default(), &skey)
        }
        Command::Send { call, skey } => http::send(call, skey),
        Command::ClearSession => session::clear(),
        Command::EndTunnels(e) => {
            crate::link::end_all(&("the session ended: ".to_owned() + &js::describe(&e)))
        }
        Command::Settle { call, result } => match result {
            Ok(()) => http::finish(call, true, &JsValue::UNDEFINED),
            Err(e) => http::finish(call, false, &e),
        },
    }
}

fn not_an_object(what: &str, value: &JsValue) -> JsValue {
    let kind = value.js_typeof().as_string().unwrap_or_default();
    request_error(
        ERR_INVALID_PARAMS,
        &(what.to_owned() + " options must be an object, got " + &kind),
    )
}

/// A login exchange: with the page's options (`call`) or the SDK's own credentials.
fn start_login(op: u32, call: Option<u32>) {
    let opts = call.map_or(JsValue::UNDEFINED, http::opts);
    if !(opts.is_undefined() || opts.is_null() || opts.is_object()) {
        return login_failed(op, not_an_object("login", &opts), true);
    }
    let url = js::get_string(&opts, "loginUrl")
        .filter(|u| !u.is_empty())
        .or_else(http::login_url);
    let Some(url) = url else {
        let why = "no login URL: set one with setLoginUrl(url) or pass opts.loginUrl";
        return login_failed(op, request_error(ERR_INVALID_PARAMS, why), true);
    };
    http::sign_in(op, call, &url);
}

/// Marks a `terminal` failure (logging in again cannot help without new credentials) on the
/// error too, as the page sees it, and tells the core.
fn login_failed(op: u32, error: JsValue, terminal: bool) {
    if terminal {
        js::set(error.unchecked_ref(), "terminal", &JsValue::TRUE);
    }
    input(|a, now| a.login_done(now, op, Err((error, terminal))));
}

fn status(reply: &JsValue) -> u16 {
    js::get(reply, "statusCode").as_f64().unwrap_or(0.0) as u16
}

fn code(body: &JsValue) -> Option<f64> {
    js::get(body, "code").as_f64()
}

fn has_skey(session: &JsValue) -> bool {
    js::get_string(session, "skey").is_some_and(|s| !s.is_empty())
}

/// An answer of the host (see `js/host.js`: `login`, `send`, `refresh`, the renewal timer).
fn answer(kind: u32, id: u32, value: JsValue, _: f64) {
    match kind {
        0 => login_reply(id, &value),
        1 => {
            let terminal = js::get(&value, "terminal").is_truthy();
            input(|a, now| a.login_done(now, id, Err((value, terminal))));
        }
        2 => {
            let rejected = rejection(&value);
            input(|a, now| a.handle_reply(now, id, rejected));
        }
        3 => input(|a, now| a.send_failed(now, id, value)),
        4 => refresh_reply(id, &value),
        // The renewal timer fired. The host's timer is spent: forget it, so `pump` arms it
        // again when the core's deadline is not reached by the wall clock (timers run on a
        // monotonic clock and may fire a millisecond early by `Date.now()`, or the clock was
        // set back).
        6 => {
            ARMED.set(None);
            input(|a, now| a.handle_timeout(now));
        }
        _ => input(|a, now| {
            a.refresh_done(now, id, RefreshResult::Failed(value), http::can_relogin())
        }),
    }
}

/// Wafer's login answer: `{code: 0, data: {skey, userinfo}}` stores the session.
fn login_reply(op: u32, reply: &JsValue) {
    let body = js::get(reply, "data");
    let res = js::get(&body, "data");
    let userinfo = js::get(&res, "userinfo");
    let verdict = core::login_verdict(
        status(reply),
        code(&body),
        has_skey(&res),
        !(userinfo.is_undefined() || userinfo.is_null()),
    );
    let failure = match verdict {
        Ok(()) => {
            // A visitor's login is the one that sent credentials (for its cookie).
            http::set_visitor(js::get(reply, "cred").is_truthy());
            session_set(res);
            return input(|a, now| a.login_done(now, op, Ok(())));
        }
        Err(f) => f,
    };
    let error = match failure {
        LoginFailure::Refused { .. } => {
            let kind = js::get_string(&body, "error").unwrap_or_else(|| ERR_LOGIN_FAILED.into());
            let message = js::get_string(&body, "message").unwrap_or_else(|| {
                let text = JSON::stringify(&body).ok().and_then(|s| s.as_string());
                let status = js::to_js_string(&js::get(reply, "statusCode"));
                "login failed: unexpected response (HTTP ".to_owned()
                    + &status
                    + ") "
                    + &text.unwrap_or_default()
            });
            request_error(&kind, &message)
        }
        LoginFailure::NoSession => request_error(
            ERR_LOGIN_SESSION_NOT_RECEIVED,
            "login answered without a session (data.skey)",
        ),
        LoginFailure::NoUserinfo => {
            request_error(ERR_LOGIN_FAILED, "login answered without data.userinfo")
        }
    };
    login_failed(op, error, failure.terminal());
}

/// The error a request fails with when the relay refused its key and no retry is left, or
/// `None` when the key was accepted.
fn rejection(reply: &JsValue) -> Option<JsValue> {
    let body = js::get(reply, "data");
    if !core::session_rejected(status(reply), code(&body)) {
        return None;
    }
    let kind = js::get_string(&body, "error").unwrap_or_else(|| ERR_SESSION_INVALID.into());
    let message = js::get_string(&body, "message")
        .unwrap_or_else(|| "the session has expired (login state invalid)".into());
    Some(request_error(&kind, &message))
}

fn refresh_reply(op: u32, reply: &JsValue) {
    let body = js::get(reply, "data");
    let fresh = js::get(&body, "data");
    let result = match core::refresh_verdict(status(reply), code(&body), has_skey(&fresh)) {
        Some(true) => {
            session_set(fresh);
            RefreshResult::Fresh
        }
        Some(false) => RefreshResult::Dead,
        None => RefreshResult::Failed(request_error(
            ERR_SESSION_INVALID,
            &("session refresh failed: HTTP ".to_owned()
                + &js::to_js_string(&js::get(reply, "statusCode"))),
        )),
    };
    input(|a, now| a.refresh_done(now, op, result, http::can_relogin()));
}

/// A call that fails before it starts, settled the way the page asked (callbacks or Promise).
fn fail_now(options: &JsValue, error: JsValue) -> JsValue {
    let p = http::begin(0, options, false);
    http::finish(0, false, &error);
    p
}

/// Registers page call `id` with the host, then lets the core start it.
fn begin(id: u32, options: &JsValue, with_user_data: bool) -> JsValue {
    let p = http::begin(id, options, with_user_data);
    pump();
    p
}

// `login({loginUrl?, method?, code?, token?, username?, password?, rememberMe?, anonymous?,
// encryptedData?, iv?, success?, fail?})`.
#[wasm_bindgen]
pub fn login(options: JsValue) -> JsValue {
    page_login(&options, true)
}

// `loginWithCode({loginUrl?, method?, code?, success?, fail?})` (and the other credentials,
// as `login`).
#[wasm_bindgen(js_name = loginWithCode)]
pub fn login_with_code(options: JsValue) -> JsValue {
    page_login(&options, false)
}

/// A login the page asked for: a request or a tunnel started meanwhile without a session
/// waits for it instead of being refused without one.
fn page_login(options: &JsValue, with_user_data: bool) -> JsValue {
    let id = CORE.with(|c| c.borrow_mut().page_login(now()));
    begin(id, options, with_user_data)
}

// `request({url, method?, data?, header?, login?, dataType?, responseType?, timeout?,
// success?, fail?, complete?})`. Tunnels fetch their connect URL through here.
#[wasm_bindgen]
pub fn request(options: JsValue) -> JsValue {
    if !options.is_object() {
        return fail_now(&options, not_an_object("request", &options));
    }
    if js::get_string(&options, "url").is_none_or(|u| u.is_empty()) {
        let e = request_error(ERR_INVALID_PARAMS, "options.url must be a string");
        return fail_now(&options, e);
    }
    let login = js::get(&options, "login").is_truthy();
    let id = CORE.with(|c| {
        let mut a = c.borrow_mut();
        let now = now();
        // Another page load or tab may have stored the session.
        a.set_session(now, session::info(&session::load()), true);
        a.request(now, login)
    });
    begin(id, &options, false)
}

// The entries' `Session.get()`, `Session.set(session)` and `Session.clear()` (`clearSession`):
// plain functions, not a class of static methods, which cost the module and its glue a class
// with a destructor and a finalizer nobody uses.

// The stored session, or `null`.
#[wasm_bindgen(js_name = sessionGet)]
pub fn session_get() -> JsValue {
    session::load()
}

// Stores `session`; `null`/`undefined` clears it. Whoever stores a session (a login, a
// refresh, the page) re-arms its renewal.
#[wasm_bindgen(js_name = sessionSet)]
pub fn session_set(value: JsValue) {
    if value.is_null() || value.is_undefined() {
        return clear_session();
    }
    session::store(&value);
    input(|a, now| a.set_session(now, session::info(&value), false));
}

// `clearSession()`, Wafer's alias of `Session.clear`.
#[wasm_bindgen(js_name = clearSession)]
pub fn clear_session() {
    session::clear();
    input(|a, now| a.set_session(now, None, false));
}
