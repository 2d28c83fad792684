// Entry of the `cometa` package: the Wafer API. All behaviour lives in the WebAssembly module
// (Rust, `sdk-wasm/`); this file only loads it (`load.js`: no top-level await, so any bundler's
// default target takes it) and holds calls made before it is there. What is needed at once
// comes from the part of the module's JS host (`js/host.js`) that the build puts in a file of
// its own, which the glue imports too; the glue itself (this entry's, or the one with both
// APIs: see `load.js`) is imported on the first load, and `install` then puts the methods
// below on its `Tunnel`.
import { RequestError, ERRORS, TUNNEL, statics } from './dist/snippets/cometa-sdk/js/host-static.js';
import { loader, deferredClass, LATER_QUIET } from './load.js';

// The loaded glue (set by `install`, below).
let sdk;

/** Resolves once the module is loaded; every call also loads it, so awaiting this is optional. */
export const ready = () => L.ready();

// Settings: applied at once, or in call order once the module is there.
const setter = (name) => (...a) => L.now(() => sdk[name](...a));
export const setLoginUrl = setter('setLoginUrl');
export const setCodeProvider = setter('setCodeProvider');
export const setTokenProvider = setter('setTokenProvider');
export const configure = setter('configure');
export const clearSession = setter('clearSession');

const later = (name) => (options) => L.later(() => sdk[name](options), options);
export const login = later('login');
export const loginWithCode = later('loginWithCode');
export const request = later('request');

// Where `session.rs` keeps it: read directly while the module is not there yet.
const SESSION_KEY = 'weapp_session_F2C224D4-2BCE-4C64-AF9F-A6D872000D1A';
export class Session {
  static get() {
    if (L.isLoaded()) return sdk.sessionGet();
    try {
      return JSON.parse(globalThis.localStorage?.getItem(SESSION_KEY) ?? 'null');
    } catch {
      return null;
    }
  }
  static set(session) {
    L.now(() => sdk.sessionSet(session));
  }
  static clear() {
    L.now(() => sdk.clearSession());
  }
}

// `off` and `once` (socket.io's names) over the module's `on`: one dispatcher per event type
// is registered there and keeps the page's handlers, in order; a handler that throws is logged
// and does not stop the others, as with the module's own dispatch.
let realOn, realEmit;
const registries = new WeakMap();
const methods = {
  on(type, handler) {
    if (typeof handler !== 'function') return;
    let m = registries.get(this);
    if (!m) registries.set(this, (m = new Map()));
    if (!m.has(type)) {
      const list = [];
      m.set(type, list);
      realOn.call(this, type, (...args) => {
        if (type === '*' && args[0] === ACK) return;
        for (const f of [...list]) {
          try {
            f(...args);
          } catch (e) {
            console.error('cometa: a callback threw', e);
          }
        }
      });
    }
    m.get(type).push(handler);
  },
  // Wafer's status tests, over `status` (not in the module: an export each costs more).
  isActive() {
    return this.status === TUNNEL.STATUS_ACTIVE;
  },
  isClosed() {
    return this.status === TUNNEL.STATUS_CLOSED;
  },
  isConnecting() {
    return this.status === TUNNEL.STATUS_CONNECTING;
  },
  isReconnecting() {
    return this.status === TUNNEL.STATUS_RECONNECTING;
  },
  // Without `handler`: every handler of `type`.
  off(type, handler) {
    const list = registries.get(this)?.get(type);
    if (!list) return;
    const keep = list.filter((f) => handler !== undefined && f !== handler && f.handler !== handler);
    list.splice(0, list.length, ...keep);
  },
  once(type, handler) {
    const once = (...args) => {
      this.off(type, once);
      handler(...args);
    };
    once.handler = handler;
    this.on(type, once);
  },
};

// `emit` with an acknowledgement (socket.io's): a Promise resolved once the relay has taken the
// message, rejected with a `TunnelError`-shaped Error when nobody can receive it (4008: the
// relay has no webhook), its webhook queue is full (4006), it was dropped from the full outbox
// while offline (3003), or the connection was lost before the answer (3004: it may have been
// taken). `ack`, when given, is called Node-style (`ack(null)` / `ack(error)`). The Promise is
// marked handled, so a page that ignores it (Wafer code) gets no unhandled-rejection report;
// one that awaits it gets the error. Invalid arguments still throw at once, as Wafer's emit.
//
// The module puts the id on the frame and hands back the relay's reply as a message of a type
// no server can send (ACK); what the relay cannot answer is read from the tunnel's own events:
// packets queued while offline go out when it connects; a connection closed loses those in
// flight, and so does one lost ('reconnecting') unless the tunnel persists (the default:
// then the module sends them again with their keys and the relay's reply still settles them);
// the outbox drops its oldest packets when full, and its size is learnt from the first
// overflow error (3003), raised during the emit that overflowed.
const ACK = '\u0001ack';
const LOST = { code: 3004, message: 'the connection was lost before the relay answered' };
const DROPPED = { code: 3003, message: 'dropped from the full outbox while not connected' };
const emits = new WeakMap();
function emitState(tunnel) {
  let st = emits.get(tunnel);
  if (st) return st;
  st = { settle: new Map(), unsent: [], inFlight: [], cap: undefined, emitting: false };
  emits.set(tunnel, st);
  // A persisting tunnel keeps every unanswered emit, in flight or not, in one bounded list.
  const durable = tunnel.persist !== false;
  const queued = () => st.unsent.length + (durable ? st.inFlight.length : 0);
  const settle = (id, error) => {
    const f = st.settle.get(id);
    st.settle.delete(id);
    st.inFlight = st.inFlight.filter((i) => i !== id);
    if (typeof f === 'function') f(error);
    // An outcome during the emit call itself: kept until the call has the id. (Replies to
    // emits restored from storage after a reload have no caller.)
    else if (st.emitting) st.settle.set(id, { early: error || null });
  };
  realOn.call(tunnel, ACK, (r) => settle(r.id, r.error));
  const sent = () => {
    st.inFlight.push(...st.unsent);
    st.unsent = [];
  };
  const lost = () => {
    for (const id of st.inFlight.splice(0)) settle(id, LOST);
  };
  realOn.call(tunnel, 'connect', sent);
  realOn.call(tunnel, 'reconnect', sent);
  if (!durable) realOn.call(tunnel, 'reconnecting', lost);
  realOn.call(tunnel, 'close', lost);
  realOn.call(tunnel, 'error', (e) => {
    if (e && e.code === DROPPED.code && st.emitting) st.cap = queued();
  });
  st.drop = () => {
    while (st.cap !== undefined && queued() > st.cap) {
      settle(durable && st.inFlight.length ? st.inFlight[0] : st.unsent.shift(), DROPPED);
    }
  };
  return st;
}
Object.assign(methods, {
  emit(type, content, ack) {
    const st = emitState(this);
    const active = this.status === 'ACTIVE';
    st.emitting = true;
    let id;
    try {
      id = realEmit.call(this, type, content, true);
    } finally {
      st.emitting = false;
    }
    const p = new Promise((resolve, reject) => {
      const done = (e) => (e ? reject(Object.assign(new Error(e.message), { name: 'TunnelError', code: e.code })) : resolve());
      const early = st.settle.get(id);
      st.settle.delete(id);
      if (early) return done(early.early);
      st.settle.set(id, done);
      (active ? st.inFlight : st.unsent).push(id);
    });
    st.drop();
    p.catch(() => {});
    if (typeof ack === 'function') p.then(() => ack(null), (e) => ack(e));
    return p;
  },
});

// Before the module is there a tunnel has done nothing yet: closed, or connecting once opened.
const tunnelBefore = (prop, [serviceUrl, options], calls) => {
  const opened = calls.lastIndexOf('open') > calls.lastIndexOf('close');
  const status = opened ? 'CONNECTING' : 'CLOSED';
  return {
    serviceUrl,
    socketUrl: null,
    status,
    persist: !options || options.persist !== false,
    isActive: () => false,
    isClosed: () => status === 'CLOSED',
    isConnecting: () => status === 'CONNECTING',
    isReconnecting: () => false,
    emit: LATER_QUIET,
  }[prop];
};
// Wafer's constants and statics on a Tunnel class; the statics, read when a tunnel is
// constructed, are kept by host.js, which the module asks.
function statuses(Class) {
  Object.assign(Class, TUNNEL);
  for (const name of ['MAX_RECONNECT_TRY_TIMES', 'RECONNECT_TIME_INCREASE']) {
    Object.defineProperty(Class, name, { get: () => statics[name], set: (v) => (statics[name] = v) });
  }
}
// The module is there: its Tunnel gets the methods above.
function install(glue) {
  sdk = glue;
  realOn = sdk.Tunnel.prototype.on;
  realEmit = sdk.Tunnel.prototype.emit;
  Object.assign(sdk.Tunnel.prototype, methods);
  statuses(sdk.Tunnel);
}
const L = loader('wafer', () => import('./dist/cometa_sdk.js'), new URL('./dist/cometa_sdk_bg.wasm', import.meta.url), install);
const LazyTunnel = deferredClass(L, () => sdk.Tunnel, tunnelBefore);
statuses(LazyTunnel);
/** Wafer's `Tunnel`; in Node (module loaded at import) the module's own class. */
export const Tunnel = L.isLoaded() ? sdk.Tunnel : LazyTunnel;

export { RequestError };

export const {
  ERR_INVALID_PARAMS,
  ERR_CREDENTIALS_FAILED,
  ERR_WX_GET_USER_INFO,
  ERR_LOGIN_TIMEOUT,
  ERR_LOGIN_FAILED,
  ERR_LOGIN_SESSION_NOT_RECEIVED,
  ERR_SESSION_INVALID,
  ERR_CHECK_LOGIN_FAILED,
  ERR_REQUEST_FAILED,
} = ERRORS;
/** Wafer's name, kept for Wafer code: on the web the error is ERR_CREDENTIALS_FAILED. */
export const ERR_WX_LOGIN_FAILED = ERR_CREDENTIALS_FAILED;

// Wafer's module was one object (`const qcloud = require('wafer2-client-sdk')`); the default
// export keeps that style working: `import qcloud from 'cometa'`.
export default {
  ready,
  setLoginUrl,
  setCodeProvider,
  setTokenProvider,
  configure,
  login,
  loginWithCode,
  request,
  Session,
  clearSession,
  Tunnel,
  RequestError,
  ...ERRORS,
  ERR_WX_LOGIN_FAILED,
};
