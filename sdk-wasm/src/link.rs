//! The one driver of both hosts (the Wafer [`crate::tunnel`] and the CometServer
//! `crate::comet`): `js/link.js` owns the socket, the one timer, the wake-up listeners and the
//! page's handlers; this file is its Rust side. A host tells the driver what to do through
//! [`Link`]'s methods (one imported function, numbered operations) and gets what happened as
//! an [`Input`] through [`Driven::input`]; every decision stays in the host and its sans-IO
//! core. Written twice in Rust, as web-sys calls and a `Closure` per socket handler, timer and
//! listener, the same I/O cost each module ~1 KB gzipped more, and a page with both twice.
//!
//! Wake-ups: the moments a page comes back from sleep, when a connection should be checked and
//! restored at once rather than when a backoff timer says so. Hidden tabs have their timers
//! throttled (once a minute in Chrome), frozen and bfcached pages and a phone's suspended
//! mini-program run none, so recovery must hang off these events, not off timers: `online`,
//! `pageshow` from the back/forward cache, `visibilitychange` to visible (in a mini-program
//! `wx.onAppShow`, see `npm/miniprogram/platform.js`) and `resume` of a frozen page.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Function;
use wasm_bindgen::prelude::*;

use crate::js;

#[wasm_bindgen(module = "/js/link.js")]
extern "C" {
    /// The driver's side of link `id`, reporting to callback 0 (see [`feed`]) of the module's
    /// `exports`.
    fn link(exports: &JsValue, id: u32) -> JsValue;
    /// A function `(a, b, value, n)` that calls callback `c` through the module's [`feed`]
    /// export among its `exports`.
    #[cfg(feature = "wafer")]
    #[wasm_bindgen(js_name = callback)]
    fn callback_js(exports: &JsValue, c: u32) -> Function;
    /// The value of the callback call being fed (see [`feed`]).
    fn value() -> JsValue;
    /// Registers a page handler of link `l` (ignored unless a string and a function).
    pub fn on(l: &JsValue, kind: &JsValue, handler: &JsValue);
    fn act(
        l: &JsValue,
        op: u32,
        a: &str,
        b: Option<&str>,
        n: f64,
        x: Option<Function>,
    ) -> Option<String>;
}

/// A socket found closed within this long after a wake-up is reopened at once too: a page
/// resumed from a freeze or the cache first runs its wake-up events, then the socket events
/// queued while it slept.
pub const GRACE_MS: u64 = 5_000;

/// What the driver reports (`feed` kinds of `js/link.js`).
pub enum Input {
    Open,
    Message(String),
    Close(u16),
    Error(String),
    Wake,
    Timer,
    /// The answer to a Wafer tunnel's connect-URL request `ticket`: the URL, or why there is
    /// none (`js/host.js`'s `connectRequest` reports it through the link, so the module has
    /// no closure type of its own for it).
    #[cfg(feature = "wafer")]
    Fetched(Result<String, String>, u32),
}

/// What both sans-IO cores take from the socket, the timer and wake-ups.
pub trait Core {
    fn handle_socket_open(&mut self, now: u64);
    fn handle_socket_message(&mut self, now: u64, text: &str);
    fn handle_socket_close(&mut self, now: u64, code: u16);
    /// Only the Wafer tunnel reports socket errors; a close follows every one and drives
    /// the recovery either way.
    fn handle_socket_error(&mut self, _now: u64, _why: &str) {}
    fn handle_timeout(&mut self, now: u64);
    fn reconnect_now(&mut self, now: u64);
}

/// Hands what the driver reported to `core`. A socket found closed while the page was waking
/// up reconnects at once; a wake-up runs the timers that came due while the page slept (an
/// overdue ping probes a socket that may have died meanwhile) and ends a backoff wait: the
/// network is likely back, and the user is looking. Inlined: each module has one caller, and
/// the call cost 22–50 B gzipped.
#[inline(always)]
pub fn route(core: &mut impl Core, link: &mut Link, now: u64, input: Input) {
    match input {
        Input::Open => core.handle_socket_open(now),
        Input::Message(text) => core.handle_socket_message(now, &text),
        Input::Close(code) => {
            core.handle_socket_close(now, code);
            if link.waking(now) {
                core.reconnect_now(now);
            }
        }
        Input::Error(why) => core.handle_socket_error(now, &why),
        Input::Wake => {
            link.woke(now);
            core.handle_timeout(now);
            core.reconnect_now(now);
        }
        Input::Timer => {
            link.fired();
            core.handle_timeout(now);
        }
        // The tunnel's host takes it before routing.
        #[cfg(feature = "wafer")]
        Input::Fetched(..) => {}
    }
}

/// A host the driver feeds.
pub trait Driven {
    fn input(&self, input: Input);
    /// The session the host runs on ended (see [`end_all`]); only the Wafer tunnel cares.
    fn end(&self, _why: &str) {}
}

type Entry = Rc<dyn Driven>;

thread_local! {
    /// The hosts by link id: the driver names a link by its index here.
    static LINKS: RefCell<Vec<Option<Entry>>> = const { RefCell::new(Vec::new()) };
    /// The functions JS calls back through [`callback`], from number 1.
    #[cfg(feature = "wafer")]
    static CALLBACKS: RefCell<Vec<Callee>> = const { RefCell::new(Vec::new()) };
}

/// The shape of every callback from JS into the module (the driver's, the Wafer host's
/// answers), as a `Closure` type: [`callback`] makes them without one.
pub type Callback = dyn FnMut(u32, u32, JsValue, f64);

/// A function JS calls back through [`callback`].
pub type Callee = fn(u32, u32, JsValue, f64);

/// A JS function `(a, b, value, n)` that calls `f` with them, for as long as the module runs:
/// what `Closure::<Callback>::new(f).into_js_value()` gives, without a `Closure`: every
/// callback goes through the one [`feed`] export, and the module and its glue carry none of
/// wasm-bindgen's closure code (0.2 KB gzipped in each glue). Only the Wafer host has any
/// (its answers), so the CometServer module carries no code for them.
#[cfg(feature = "wafer")]
pub fn callback(f: Callee) -> Function {
    let c = CALLBACKS.with(|cs| {
        let mut cs = cs.borrow_mut();
        cs.push(f);
        cs.len()
    });
    callback_js(&wasm_bindgen::exports(), c as u32)
}

/// JS calling callback `c` with `a`, `b`, `n` and the value `value()` (`js/link.js` sets it
/// just before): 0 is the driver's reports, called directly; the others come from
/// [`callback`]. Not an entry's API: the entries re-export by name.
#[wasm_bindgen]
pub fn feed(c: u32, a: u32, b: u32, n: f64) {
    #[cfg(feature = "wafer")]
    if c != 0 {
        let f = CALLBACKS.with(|cs| cs.borrow().get(c as usize - 1).copied());
        if let Some(f) = f {
            f(a, b, value(), n);
        }
        return;
    }
    #[cfg(not(feature = "wafer"))]
    let _ = c;
    input(a, b, value(), n);
}

/// The driver's reports: `kind` happened on link `id`, with `text` and the number `n`.
fn input(id: u32, kind: u32, text: JsValue, n: f64) {
    let Some(host) = LINKS.with(|l| l.borrow().get(id as usize).cloned().flatten()) else {
        return;
    };
    let text = text.as_string().unwrap_or_default();
    host.input(match kind {
        0 => Input::Open,
        1 => Input::Message(text),
        2 => Input::Close(n as u16),
        3 => Input::Error(text),
        4 => Input::Wake,
        #[cfg(feature = "wafer")]
        6 => Input::Fetched(Ok(text), n as u32),
        #[cfg(feature = "wafer")]
        7 => Input::Fetched(Err(text), n as u32),
        _ => Input::Timer,
    });
}

/// Ends every host's connection for good (the Wafer session they run on is over).
pub fn end_all(why: &str) {
    // A plain loop, not an iterator chain collected (module size).
    let mut all = Vec::new();
    LINKS.with(|l| {
        for e in l.borrow().iter().flatten() {
            all.push(e.clone());
        }
    });
    for host in all {
        host.end(why);
    }
}

/// Calls the page's handlers of `name` (and `'*'`) on link `l` ([`Link::js`]) with the JSON
/// `payload` parsed, or none; `false` when `payload` is not JSON (nobody was called). Takes
/// the driver's object, not the [`Link`]: the host is not borrowed while user code runs.
pub fn tell(l: &JsValue, name: &str, payload: Option<&str>) -> bool {
    act(l, 5, name, payload, 0.0, None).is_none()
}

/// Calls the page's `error` handlers on link `l` with `{code, message}`.
pub fn tell_error(l: &JsValue, code: u32, message: &str) {
    act(l, 6, message, None, f64::from(code), None);
}

/// A host's side of its link: the id the driver knows it by, and what the host needs to
/// know about the driver's state (the armed deadline, the listeners, the last wake-up).
/// `Link::default()` is a placeholder until the host exists to register.
#[derive(Default)]
pub struct Link {
    id: u32,
    /// The driver's object for this link.
    pub js: JsValue,
    armed: Option<u64>,
    awake: bool,
    woke_at: Option<u64>,
}

/// Why a socket could not be created.
pub enum OpenError {
    /// There is no WebSocket constructor at all: a configuration error.
    NoConstructor,
    /// The constructor threw (a bad URL, the mini-program's socket limit).
    Failed(String),
}

impl Link {
    /// Registers `host` with the driver.
    pub fn new(host: Entry) -> Link {
        let id = LINKS.with(|l| {
            let mut l = l.borrow_mut();
            match l.iter().position(Option::is_none) {
                Some(i) => {
                    l[i] = Some(host);
                    i
                }
                None => {
                    l.push(Some(host));
                    l.len() - 1
                }
            }
        }) as u32;
        Link {
            id,
            js: link(&wasm_bindgen::exports(), id),
            armed: None,
            awake: false,
            woke_at: None,
        }
    }

    fn act(&self, op: u32, a: &str, b: Option<&str>, n: f64) -> Option<String> {
        act(&self.js, op, a, b, n, None)
    }

    /// Opens a socket to `url` (replacing the current one) with `ctor` or the global one.
    pub fn open(&self, url: &str, ctor: Option<Function>) -> Result<(), OpenError> {
        match act(&self.js, 0, url, None, 0.0, ctor) {
            None => Ok(()),
            Some(why) if why.is_empty() => Err(OpenError::NoConstructor),
            Some(why) => Err(OpenError::Failed(why)),
        }
    }

    /// Sends a text frame; `Err` with why when the socket threw.
    pub fn send(&self, text: &str) -> Result<(), String> {
        self.act(1, text, None, 0.0).map_or(Ok(()), Err)
    }

    /// Closes the socket; it reports nothing more.
    pub fn close(&self) {
        self.act(2, "", None, 0.0);
    }

    /// Arms the one timer for the core's deadline `due` (or disarms it), if it changed.
    pub fn arm(&mut self, due: Option<u64>) {
        if self.armed == due {
            return;
        }
        self.armed = due;
        // +1 ms: timers may fire a hair before `performance.now()` reaches the deadline.
        let delay = due.map_or(-1.0, |d| (d.saturating_sub(js::now_ms()) + 1) as f64);
        self.act(3, "", None, delay);
    }

    /// The timer fired: it is no longer armed.
    pub fn fired(&mut self) {
        self.armed = None;
    }

    /// Listens to wake-ups while `on`.
    pub fn listen(&mut self, on: bool) {
        if self.awake != on {
            self.awake = on;
            self.act(4, "", None, f64::from(u8::from(on)));
        }
    }

    /// A wake-up happened at `now`.
    pub fn woke(&mut self, now: u64) {
        self.woke_at = Some(now);
    }

    /// Whether a socket that closed at `now` closed while the page was waking up.
    pub fn waking(&self, now: u64) -> bool {
        self.woke_at
            .is_some_and(|t| now.saturating_sub(t) < GRACE_MS)
    }

    /// Forgets the link, here and in the driver.
    pub fn free(&self) {
        self.act(7, "", None, 0.0);
        LINKS.with(|l| {
            // Dropped after the borrow ends: it may be the last reference to the host.
            let gone = l
                .borrow_mut()
                .get_mut(self.id as usize)
                .and_then(Option::take);
            drop(gone);
        });
    }
}
