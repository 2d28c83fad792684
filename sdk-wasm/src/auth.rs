//! `login`, `loginWithCode`, `request` and the session's `set`/`clear`, following Wafer
//! 2.1.0's `login.js` and `request.js`, as the host of the sans-IO session core
//! (`cometa_client::auth`): the core decides (when to log in again, renew, retry, give up);
//! this file performs its commands through `js/host.js` and feeds the answers back. The
//! browser differences: there is no `wx.login`, so the login code comes from `opts.code` or
//! from the provider set with `setCodeProvider`; and a login may prove who the user is in
//! other ways (a JWT, a password, nothing for a visitor, the site's own `extendedAuth`
//! headers), all answered by `/weapp/login` in the same shape.
//!
//! The answers come digested: `js/host.js` reads what the core's verdicts need of an HTTP
//! answer into one number ([`Facts`]), and words the failures the verdicts name ([`Problem`]);
//! each property read and message built here cost the module more than there.

use std::cell::{Cell, RefCell};

use cometa_client::auth::{self as core, Auth, Command, LoginFailure, LoginResult, RefreshResult};
use wasm_bindgen::prelude::*;

use crate::{http, session};

thread_local! {
    static CORE: RefCell<Auth<JsValue>> = const { RefCell::new(Auth::new()) };
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
        Command::Login { op, call } => http::sign_in(op, call),
        Command::Refresh { op, skey } => http::refresh(op, &skey),
        Command::Send { call, skey } => http::send(call, skey.as_deref()),
        Command::ClearSession => session::clear(),
        Command::EndTunnels(e) => crate::link::end_all(&http::session_ended(&e)),
        Command::Settle { call, result } => match result {
            Ok(()) => http::finish(call, true, &JsValue::UNDEFINED),
            Err(e) => http::finish(call, false, &e),
        },
    }
}

/// The failures `js/host.js`'s `problem` words as a `RequestError` (and 5 and 6, request
/// options that are not an object or have no URL: see `http::request_options`).
#[derive(Clone, Copy)]
pub enum Problem {
    LoginRefused,
    NoSession,
    NoUserinfo,
    KeyRefused,
    RefreshFailed,
}

fn problem(what: Problem, value: &JsValue, terminal: bool) -> JsValue {
    http::problem(what as u32, value, terminal)
}

/// What `js/host.js` read of an answer for the core's verdicts, as bits of one number (see
/// `facts` there): HTTP status and body code, session key and userinfo present, whether the
/// login was a visitor's, a failure's `terminal`, whether a provider can give a new credential.
#[derive(Clone, Copy)]
struct Facts(u32);

/// The bits of [`Facts`] (the status is bits 0-15 of an answer, the body code 16-17).
const TERMINAL: u32 = 0;
const SKEY: u32 = 18;
const USERINFO: u32 = 19;
const VISITOR: u32 = 20;
const RELOGIN: u32 = 21;

impl Facts {
    fn status(self) -> u16 {
        self.0 as u16
    }
    fn code(self) -> Option<f64> {
        // Other codes mean what no code means to the core: not a success, not a refused key.
        match self.0 >> 16 & 3 {
            1 => Some(0.0),
            2 => Some(-1.0),
            _ => None,
        }
    }
    fn bit(self, n: u32) -> bool {
        self.0 & 1 << n != 0
    }
}

/// What an answer of the host tells the core.
enum Answer {
    Login(LoginResult<JsValue>),
    Reply(Option<JsValue>),
    SendFailed(JsValue),
    Refresh(RefreshResult<JsValue>),
    Timer,
}

/// An answer of the host (see `js/host.js`: `signIn`, `send`, `refresh`, the renewal timer),
/// fed to the core in one place.
fn answer(kind: u32, id: u32, value: JsValue, facts: f64) {
    let f = Facts(facts as u32);
    let answer = match kind {
        0 => Answer::Login(login_reply(value, f)),
        1 => Answer::Login(Err((value, f.bit(TERMINAL)))),
        // The error a request fails with when the relay refused its key and no retry is left
        // (`None`: the key was accepted).
        2 => Answer::Reply(
            core::session_rejected(f.status(), f.code())
                .then(|| problem(Problem::KeyRefused, &value, false)),
        ),
        3 => Answer::SendFailed(value),
        4 => Answer::Refresh(
            match core::refresh_verdict(f.status(), f.code(), f.bit(SKEY)) {
                Some(true) => {
                    session_set(http::session_of(&value));
                    RefreshResult::Fresh
                }
                Some(false) => RefreshResult::Dead,
                None => RefreshResult::Failed(problem(Problem::RefreshFailed, &value, false)),
            },
        ),
        // The renewal timer fired. The host's timer is spent: forget it, so `pump` arms it
        // again when the core's deadline is not reached by the wall clock (timers run on a
        // monotonic clock and may fire a millisecond early by `Date.now()`, or the clock was
        // set back).
        6 => {
            ARMED.set(None);
            Answer::Timer
        }
        _ => Answer::Refresh(RefreshResult::Failed(value)),
    };
    input(|a, now| match answer {
        Answer::Login(result) => a.login_done(now, id, result),
        Answer::Reply(rejected) => a.handle_reply(now, id, rejected),
        Answer::SendFailed(e) => a.send_failed(now, id, e),
        Answer::Refresh(result) => a.refresh_done(now, id, result, f.bit(RELOGIN)),
        Answer::Timer => a.handle_timeout(now),
    });
}

/// Wafer's login answer: `{code: 0, data: {skey, userinfo}}` stores the session.
fn login_reply(reply: JsValue, f: Facts) -> LoginResult<JsValue> {
    match core::login_verdict(f.status(), f.code(), f.bit(SKEY), f.bit(USERINFO)) {
        Ok(()) => {
            // A visitor's login is the one that sent credentials (for its cookie).
            http::set_visitor(f.bit(VISITOR));
            session_set(http::session_of(&reply));
            Ok(())
        }
        Err(failure) => {
            let what = match failure {
                LoginFailure::Refused { .. } => Problem::LoginRefused,
                LoginFailure::NoSession => Problem::NoSession,
                LoginFailure::NoUserinfo => Problem::NoUserinfo,
            };
            let terminal = failure.terminal();
            Err((problem(what, &reply, terminal), terminal))
        }
    }
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
    let check = http::request_options(&options);
    if check > 1 {
        return http::refuse(&options, check);
    }
    let login = check == 1;
    let id = CORE.with(|c| {
        let mut a = c.borrow_mut();
        let now = now();
        // Another page load or tab may have stored the session.
        a.set_session(now, session::info(&session::load()), true);
        a.request(now, login)
    });
    begin(id, &options, false)
}

// The entries' `Session.set(session)` and `Session.clear()` (`clearSession`): plain
// functions, not a class of static methods, which cost the module and its glue a class with a
// destructor and a finalizer nobody uses. `Session.get()` is `js/host.js`'s `sessionGet`.

// Stores `session`; `null`/`undefined` clears it. Whoever stores a session (a login, a
// refresh, the page) re-arms its renewal.
#[wasm_bindgen(js_name = sessionSet)]
pub fn session_set(value: JsValue) {
    session::store(&value);
    // No session of a cleared one (`info` reads nothing from null or undefined).
    input(|a, now| a.set_session(now, session::info(&value), false));
}

// `clearSession()`, Wafer's alias of `Session.clear`.
#[wasm_bindgen(js_name = clearSession)]
pub fn clear_session() {
    session_set(JsValue::NULL);
}
