// The I/O driver of a connection, imported by `src/link.rs`: the socket, the one timer of the
// core's next deadline, the wake-up listeners and the page's handlers. Shipped next to the
// wasm as a wasm-bindgen snippet. It decides nothing: the module tells it what to do (`act`),
// and it reports what happened (`feed` into the module). It never reads a frame, never
// chooses a delay, never decides to reconnect: those are the sans-IO core's (design.md).
// Written here once for both hosts rather than twice in Rust through web-sys and a closure per
// handler: each module is ~1 KB gzipped smaller, and a page with both entries loads it once.
//
// In the mini-program entry the globals read here are the platform's
// (npm/miniprogram/platform.js): `WebSocket` over wx.connectSocket, with WeChat's limit of 5
// SocketTasks; `document` and `addEventListener` over wx.onAppShow and the network status.

// A module's callback `c` as a function `(a, b, value, n)` (src/link.rs's `feed`): it calls the
// module's `feed` export among its instance's `exports`, which reads `value` meanwhile.
let fed;
export const value = () => fed;
export const callback = (exports, c) => (a, b, v, n) => ((fed = v), exports.feed(c, a, b, n));

// A link: `f` its module's input (callback 0), called `f(id, kind, text, number)` (kinds as in
// `src/link.rs`); `s` the socket, `t` the timer, `w` the wake-up listeners, `h` the page's
// handlers. No state outside it (`fed` above lasts one call): a page with both entries runs two
// modules over this one file.
export const link = (exports, id) => ({ f: callback(exports, 0), id, h: [] });
const feed = (l, kind, text, n) => l.f(l.id, kind, text, n);
const g = globalThis;
const message = (e) => (e && e.message) || String(e);

function drop(l) {
  const s = l.s;
  if (!s) return;
  l.s = undefined;
  s.onopen = s.onmessage = s.onclose = null;
  // `ws` (Node) throws an `error` nobody listens to.
  s.onerror = () => {};
  try {
    s.close();
  } catch {
    // Closing a closed socket, or a throwing polyfill: nothing to do.
  }
}

function open(l, url, ctor) {
  drop(l);
  const C = ctor || g.WebSocket;
  if (typeof C !== 'function') return '';
  let s;
  try {
    s = new C(url);
  } catch (e) {
    return message(e) || 'WebSocket error';
  }
  l.s = s;
  // Events of a replaced socket are not reported: `l.s` is no longer it.
  const to = (kind, text, n) => l.s === s && feed(l, kind, text, n);
  s.onopen = () => to(0);
  // Text frames only: the protocol has no binary packets.
  s.onmessage = (e) => typeof e.data === 'string' && to(1, e.data);
  // 1006 (abnormal closure) is what a browser reports when there was no close frame.
  s.onclose = (e) => l.s === s && ((l.s = undefined), feed(l, 2, undefined, (e && e.code) || 1006));
  s.onerror = (e) => to(3, (e && e.message) || 'WebSocket error');
}

// Wake-ups (src/link.rs says why): `online` and `pageshow` from the back/forward cache on the
// global object; `visibilitychange` to visible and `resume` on the document. Nothing where
// they are missing (Node).
const WIN = ['online', 'pageshow'];
const DOC = ['visibilitychange', 'resume'];
function listen(l, on) {
  const m = on ? 'addEventListener' : 'removeEventListener';
  const d = g.document;
  for (const [target, types, f] of [
    [g, WIN, l.w[0]],
    [d, DOC, l.w[1]],
  ])
    if (target && typeof target[m] === 'function') for (const type of types) target[m](type, f);
}
function wake(l, on) {
  if (!on) {
    if (l.w) listen(l, false);
    l.w = undefined;
    return;
  }
  if (l.w) return;
  const up = () => feed(l, 4);
  // Two functions: the mini-program's layer keys its wx listeners by function.
  l.w = [(e) => (e.type !== 'pageshow' || e.persisted) && up(), (e) => (e.type !== 'visibilitychange' || g.document.visibilityState === 'visible') && up()];
  listen(l, true);
}

// Calls the handlers of `type` and the `'*'` ones, in registration order (a snapshot: a
// handler may register more). A handler that throws is reported, like EventTarget does.
function dispatch(l, type, payload) {
  for (const [kind, f] of [...l.h]) {
    try {
      if (kind === '*') f(type, payload);
      else if (kind === type) f(payload);
    } catch (e) {
      console.error('cometa: a callback threw', e);
    }
  }
}

// Registers a page handler of link `l`. A non-string type or a non-function handler is
// ignored, as in Wafer.
export const on = (l, type, f) => typeof type === 'string' && typeof f === 'function' && l.h.push([type, f]);

// Does what the module says, for link `l`:
// 0 open a socket to `a` (constructor `x`, else the global one): returns why it failed ('':
//   no constructor), else undefined;
// 1 send `a`: returns why it failed; 2 close the socket;
// 3 arm the timer in `n` ms (< 0: disarm); 4 wake-up listeners on (`n` 1) or off;
// 5 tell the handlers `a` (payload the JSON `b`, or none when `b` is undefined): returns 'x'
//   when `b` is not JSON; 6 tell the handlers the error `{code: n, message: a}`;
// 7 forget the link (its socket, timer, listeners, handlers and late reports).
export function act(l, op, a, b, n, x) {
  switch (op) {
    case 0:
      return open(l, a, x);
    case 1:
      try {
        l.s && l.s.send(a);
      } catch (e) {
        return message(e);
      }
      return;
    case 2:
      return drop(l);
    case 3:
      clearTimeout(l.t);
      l.t = n < 0 ? undefined : setTimeout(() => ((l.t = undefined), feed(l, 5)), n);
      return;
    case 4:
      return wake(l, n);
    case 5: {
      let p;
      if (b !== undefined) {
        try {
          p = JSON.parse(b);
        } catch {
          return 'x';
        }
      }
      return dispatch(l, a, p);
    }
    case 6:
      return dispatch(l, 'error', { code: n, message: a });
    case 7:
      drop(l);
      clearTimeout(l.t);
      wake(l, 0);
      l.h = [];
      // Late answers (js/host.js's connect-URL request) reach no host that reused the id.
      l.f = () => {};
  }
}
