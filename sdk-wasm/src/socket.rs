//! One WebSocket and its four handlers. The handlers belong to this struct (gloo-net style):
//! dropping it detaches them and closes the socket, so a replaced socket can never report into
//! the tunnel again.

use js_sys::{Array, Function, Reflect};
use wasm_bindgen::prelude::*;

use crate::js;

/// What a socket reported.
pub enum SocketEvent {
    Open,
    Message(String),
    Close(u16),
    Error(String),
}

type Handler = Closure<dyn FnMut(JsValue)>;

thread_local! {
    /// Installed as `onerror` on a detached socket: the `ws` package (Node) is an
    /// EventEmitter and would throw an uncaught exception for an `error` nobody listens to.
    static NOOP: Handler = Closure::new(|_: JsValue| {});
}

pub struct Socket {
    ws: web_sys::WebSocket,
    _handlers: [Handler; 4],
}

impl Socket {
    /// `new ctor(url)` with `report` receiving its events. Works with any constructor that
    /// follows the browser API (`onopen`, `onmessage`, `onclose`, `onerror`, `send`, `close`),
    /// such as `ws`'s in Node: the calls go through JS properties, not `instanceof` checks.
    pub fn connect<F>(ctor: &Function, url: &str, report: F) -> Result<Socket, JsValue>
    where
        F: Fn(SocketEvent) + Clone + 'static,
    {
        let ws: web_sys::WebSocket =
            Reflect::construct(ctor, &Array::of1(&url.into()))?.unchecked_into();
        let r = report.clone();
        let on_open: Handler = Closure::new(move |_: JsValue| r(SocketEvent::Open));
        let r = report.clone();
        let on_message: Handler = Closure::new(move |ev: JsValue| {
            // Text frames only: the protocol has no binary packets, so a binary frame is
            // dropped like any packet type a Wafer client does not know.
            if let Some(text) = js::get(&ev, "data").as_string() {
                r(SocketEvent::Message(text));
            }
        });
        let r = report.clone();
        let on_close: Handler = Closure::new(move |ev: JsValue| {
            // 1006 (abnormal closure) is what a browser reports when there was no close frame.
            let code = js::get(&ev, "code").as_f64().unwrap_or(1006.0) as u16;
            r(SocketEvent::Close(code));
        });
        let on_error: Handler = Closure::new(move |ev: JsValue| {
            let message = js::get_string(&ev, "message")
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "WebSocket error".into());
            report(SocketEvent::Error(message));
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(Socket {
            ws,
            _handlers: [on_open, on_message, on_close, on_error],
        })
    }

    pub fn send(&self, text: &str) -> Result<(), JsValue> {
        self.ws.send_with_str(text)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        NOOP.with(|noop| self.ws.set_onerror(Some(noop.as_ref().unchecked_ref())));
        // Closing an already closed socket is a no-op; a throwing polyfill must not matter.
        let _ = self.ws.close();
    }
}
