//! The CometServer API (`CometApi`, npm `cometa/comet`) over the native dialect. This file is
//! the host loop: it performs the core's outputs (`cometa_client::comet::Session`) — open,
//! send, close through the driver shared with the Wafer tunnel ([`crate::link`]), persist
//! positions — and turns the rest into the page's callbacks. All protocol
//! decisions (ids, replies, positions, dedup, reconnects) are the core's.
//!
//! - [`api`]: the `#[wasm_bindgen]` class and CppComet's method names.
//! - [`store`]: stream positions in `localStorage`/`sessionStorage`.
//!
//! Re-entrancy: callbacks may call back into the API, so no borrow is held while they run.

mod api;
mod store;

use std::cell::RefCell;
use std::rc::Rc;

use cometa_client::comet::{Failure, Output, Session};
use cometa_client::event::ERR_SOCKET_ERROR;
use js_sys::Array;
use wasm_bindgen::prelude::*;

use crate::js;
use crate::link::{self, Driven, Input, Link};

pub use api::CometApi;

#[wasm_bindgen(module = "/js/comet.js")]
extern "C" {
    fn note(kind: u32, a: &str, b: &str, n: f64, text: &str) -> JsValue;
    fn ask(subs: &JsValue, id: f64, kind: u32, pipe: &str, callback: &JsValue);
    fn replied(subs: &JsValue, id: f64, text: Option<&str>, code: u32, message: &str);
    fn kept(js: &JsValue, kind: u32, stream: &str, text: Option<&str>) -> Option<String>;
    #[wasm_bindgen(js_name = pipeArgs)]
    fn pipe_args(pipe: &JsValue, event: &JsValue, msg: &JsValue) -> Array;
    #[wasm_bindgen(js_name = startOptions)]
    fn start_options(js: &JsValue, options: &JsValue, callback: &JsValue, keep: bool) -> Array;
    fn option(js: &JsValue, key: &str) -> JsValue;
    /// `String(value)`, but "" for null and undefined (as `[value].join("")` gives).
    fn text(value: &JsValue) -> String;
    fn subscribe(list: &JsValue, id: u32, name: &JsValue, callback: &JsValue) -> Option<String>;
    fn unsubscribe(list: &JsValue, id: Option<u32>) -> Option<Array>;
    fn tell(js: &JsValue, kind: u32, arg: &JsValue);
    fn keep(js: &JsValue, kind: u32, callback: &JsValue);
    fn signal(js: &JsValue, event: &str, code: u32, text: &str);
}

/// `js/comet.js`'s `tell` and `keep` kinds of the callbacks kept for the page (0 and 1 are
/// messages and reports to the subscriptions): `start`'s, `onAuthSuccess`'s, `onAuthFalill`'s
/// and (`keep` only) the npm entry's dispatcher of state events.
const START: u32 = 3;
/// `js/comet.js`'s `kept` kind of the unanswered publishes (0 and 1 are positions).
const OUTBOX: u32 = 2;
const AUTH_OK: u32 = 4;
const AUTH_FAIL: u32 = 5;
const EMITTER: u32 = 6;

/// What a query's callback is waiting for (the numbers are `js/comet.js`'s `queryAnswer`
/// kinds).
#[derive(Clone, Copy)]
enum Query {
    /// `get_pipe_log`; without a callback the entries go to the pipe's subscribers.
    History = 0,
    /// `count_users_in_pipe`: `{user_in_pipe}`.
    Count = 1,
    /// `getTrackPipeUsers`: the user ids.
    Users = 2,
    /// `getUserData`: the back end's data for a user.
    UserData = 3,
}

type Shared = Rc<Conn>;

/// One connection: the host, and beside it (outside the `RefCell`, so it is read while the
/// page's callbacks run without a clone of the handle: module size) what the page gave,
/// kept by `js/comet.js` in one object: the subscriptions (matched there: `subscribe`,
/// `tell`), the queries waiting for their reply (`ask`, `replied`), `start`'s options merged
/// across calls (CppComet keeps them for `restart`), what it says about storage (whose
/// positions and publishes, whether publishes are kept) and its callback, the
/// `onAuthSuccess`/`onAuthFalill` callbacks and the npm entry's dispatcher of state events
/// (`keep`, `signal`). One handle instead of one per kind: module size.
struct Conn {
    host: RefCell<Host>,
    js: JsValue,
}

/// `conn.borrow_mut()` is its host's.
impl std::ops::Deref for Conn {
    type Target = RefCell<Host>;
    fn deref(&self) -> &RefCell<Host> {
        &self.host
    }
}

struct Host {
    core: Session,
    /// The relay's `/connect` URL.
    url: String,
    next_sub: u32,
    link: Link,
    /// The page let go of its `CometApi`: the link is freed once the session stops (a
    /// started one stays alive, as a WebSocket with listeners does).
    dropped: bool,
}

/// What the driver holds: the host, alive until its link is freed.
struct Driver(Shared);

impl link::Core for Session {
    fn handle_socket_open(&mut self, now: u64) {
        self.handle_socket_open(now);
    }
    fn handle_socket_message(&mut self, now: u64, text: &str) {
        self.handle_socket_message(now, text);
    }
    fn handle_socket_close(&mut self, now: u64, code: u16) {
        self.handle_socket_close(now, code);
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
        self::input(&self.0, |h, now| {
            link::route(&mut h.core, &mut h.link, now, input)
        });
    }
}

/// A step taken after the borrow of the host ends.
enum Step {
    /// `js/comet.js`'s `tell`: the argument to the subscriptions or callbacks of a kind (the
    /// pipe and event of a message are the argument's `server_info`).
    Tell(u32, JsValue),
    /// `js/comet.js`'s `replied`: a query's answer (id, outcome).
    Reply(u64, Result<String, Failure>),
}

fn pump(rc: &Shared) {
    let js = &rc.js;
    loop {
        let Some(out) = rc.borrow_mut().core.poll_output() else {
            break;
        };
        match perform(rc, out) {
            Some(Step::Tell(kind, arg)) => tell(js, kind, &arg),
            Some(Step::Reply(id, outcome)) => {
                let id = id as f64;
                match outcome {
                    Ok(text) => replied(js, id, Some(&text), 0, ""),
                    Err(f) => replied(js, id, None, f.code, &f.message),
                }
            }
            None => {}
        }
    }
    after_pump(rc);
}

fn input(rc: &Shared, f: impl FnOnce(&mut Host, u64)) {
    f(&mut rc.borrow_mut(), js::now_ms());
    pump(rc);
}

/// Performs one output; what needs user code or a new socket is returned as a [`Step`].
fn perform(rc: &Shared, out: Output) -> Option<Step> {
    let (mut h, js) = (rc.borrow_mut(), &rc.js);
    match out {
        Output::Open => open(&mut h, js),
        // A failed send shows up as the socket's close, which reconnects.
        Output::Send(text) => {
            let _ = h.link.send(&text);
        }
        Output::Close => h.link.close(),
        Output::Connected => return Some(Step::Tell(START, JsValue::UNDEFINED)),
        Output::Auth(Ok(identity)) => {
            let arg = note(0, &identity.user_id, &identity.device, 0.0, "");
            return Some(Step::Tell(AUTH_OK, arg));
        }
        Output::Auth(Err(f)) => {
            // CppComet's callback, and the `error` event: the page must fix the credentials.
            emit(js, "error", f.code, &f.message);
            return Some(Step::Tell(AUTH_FAIL, failure("msg", &f)));
        }
        Output::Stopped(f) => return Some(Step::Tell(AUTH_FAIL, failure("msg", &f))),
        Output::State {
            state,
            code,
            reason,
        } => emit(js, state.name(), code, &reason),
        Output::Deliver {
            channel,
            seq,
            json,
            epoch,
        } => {
            let (seq, epoch) = (
                seq.map_or(f64::NAN, |s| s as f64),
                epoch.unwrap_or_default(),
            );
            return Some(Step::Tell(0, note(7, &channel, &epoch, seq, &json)));
        }
        Output::Save { stream, position } => store::save(js, &stream, &position),
        Output::Persist(text) => {
            // Written only with `persist` (`js/comet.js` knows).
            kept(js, OUTBOX, "", Some(&text));
        }
        Output::Gap { stream, position } => {
            // CppComet had no such notice; it goes to `sys` / `sys.recovery` subscribers.
            let arg = note(1, &stream, &position.epoch, position.seq as f64, "");
            return Some(Step::Tell(0, arg));
        }
        Output::Report {
            channel,
            event,
            outcome,
        } => {
            let arg = match outcome {
                Ok(seq) => note(2, &channel, &event, seq.map_or(f64::NAN, |s| s as f64), ""),
                Err(f) => note(3, &channel, &event, f64::from(f.code), &f.message),
            };
            return Some(Step::Tell(1, arg));
        }
        Output::Reply { id, outcome } => return Some(Step::Reply(id, outcome)),
        // Said on the console: nobody waits for a subscription's answer.
        Output::Refused { channel, failure } => {
            note(5, &channel, "", f64::from(failure.code), &failure.message);
        }
    }
    None
}

fn failure(pipe: &str, f: &Failure) -> JsValue {
    note(4, pipe, "", f64::from(f.code), &f.message)
}

/// Tells the page's `on(event, …)` handlers. The dispatcher calls them in a microtask, so
/// it may be called with the host borrowed: a handler that calls `stop()` cannot re-enter.
fn emit(js: &JsValue, event: &str, code: u32, text: &str) {
    signal(js, event, code, text);
}

/// Opens the socket with `start`'s `WebSocket` or the global one.
fn open(h: &mut Host, js: &JsValue) {
    // A function or undefined (`js/comet.js`'s `option`), which `js/link.js` takes for none.
    let ctor = Some(option(js, "WebSocket").unchecked_into());
    if h.url.is_empty() || h.link.open(&h.url, ctor).is_err() {
        let why = "cometa: cannot open a WebSocket to the relay (no `node` and no page \
                   origin, a bad `node`, or no WebSocket: pass one in start({ WebSocket }) \
                   under Node)";
        note(6, &h.url, "", 0.0, why);
        // A configuration error: no retry can fix it, so the session stops (and a Node
        // process is free to exit) instead of backing off forever. `error` first, then
        // the `disconnected` the stop queues.
        emit(js, "error", ERR_SOCKET_ERROR, why);
        h.core.stop(js::now_ms());
    }
}

/// Re-arms the one timer; listens to wake-ups while the session runs; frees a stopped one
/// the page let go of.
fn after_pump(rc: &Shared) {
    let mut h = rc.borrow_mut();
    let due = h.core.poll_timeout();
    h.link.arm(due);
    let started = h.core.is_started();
    h.link.listen(started);
    if !started && h.dropped {
        // Not the last reference: the caller holds one.
        h.dropped = false;
        h.link.free();
    }
}
