// Host I/O of cometa-sdk, imported by `src/http.rs` and `src/session.rs`.
// Shipped next to the wasm as a wasm-bindgen snippet. Only what is cheaper in JS than through
// the wasm boundary lives here: the RequestError class (it must extend Error), the
// wx.request-shaped fetch and its plumbing (extendedAuth, credentials, which header or body
// carries a login's credentials), storage (the login session, the kept emits), and the small
// state that costs kilobytes as Rust (the calls in flight and how they settle, a timer). Decisions about sessions, login and the
// tunnel (when to renew, when a session ends, what a tunnel does then) stay in Rust, in the
// sans-IO core (cometa-client's `auth` and `tunnel`).

// Wafer's `lib/constants.js` (same names and values, `ERR_LOGIN_SESSION_NOT_RECEIVED` included)
// plus ERR_REQUEST_FAILED and ERR_CREDENTIALS_FAILED, the web's name for a login that could not
// get its credentials (a page has no wx.login; the web entry exports ERR_WX_LOGIN_FAILED as an
// alias of it). Exported by the npm entries, raised here.
export const ERRORS = {
  ERR_INVALID_PARAMS: 'ERR_INVALID_PARAMS',
  ERR_WX_LOGIN_FAILED: 'ERR_WX_LOGIN_FAILED',
  ERR_WX_GET_USER_INFO: 'ERR_WX_GET_USER_INFO',
  ERR_LOGIN_TIMEOUT: 'ERR_LOGIN_TIMEOUT',
  ERR_LOGIN_FAILED: 'ERR_LOGIN_FAILED',
  ERR_LOGIN_SESSION_NOT_RECEIVED: 'ERR_LOGIN_MISSING_SESSION',
  ERR_SESSION_INVALID: 'ERR_SESSION_INVALID',
  ERR_CHECK_LOGIN_FAILED: 'ERR_CHECK_LOGIN_FAILED',
  ERR_REQUEST_FAILED: 'ERR_REQUEST_FAILED',
  ERR_CREDENTIALS_FAILED: 'ERR_CREDENTIALS_FAILED',
};

// Wafer's `Tunnel` statics, set on the class by the npm entries: the statuses of the core's
// `Status::as_str`, the codes of `client/src/event.rs` (tunnel-handlers.test.mjs checks both).
export const TUNNEL = {
  STATUS_CLOSED: 'CLOSED',
  STATUS_CONNECTING: 'CONNECTING',
  STATUS_ACTIVE: 'ACTIVE',
  STATUS_RECONNECTING: 'RECONNECTING',
  ERR_CONNECT_SERVICE: 1001,
  ERR_CONNECT_SOCKET: 1002,
  ERR_RECONNECT: 2001,
  ERR_SOCKET_ERROR: 3001,
};

// Wafer's `Tunnel.MAX_RECONNECT_TRY_TIMES` and `RECONNECT_TIME_INCREASE`, read when a tunnel is
// constructed, as in Wafer: the entries define both on the class over this object.
export const statics = {};

// A Tunnel's options by the index tunnel.rs's `tunnel_config` reads them with: each a finite number
// ≥ 0, else -1 (unset); where the first two are unset, the statics when ≥ 1; `persist` last, 0
// or 1. Read here, not by name from the module: the names cost more there.
const TUNNEL_OPTIONS = ['maxReconnectTries', 'backoffBaseMs', 'backoffCapMs', 'pingIntervalMs', 'pongTimeoutMs', 'connectTimeoutMs', 'maxOutbox', 'persist'];
export function tunnelOption(o, i) {
  const n = (v, min) => (typeof v === 'number' && isFinite(v) && v >= min ? v : -1);
  let v;
  try {
    v = o == null ? undefined : o[TUNNEL_OPTIONS[i]];
  } catch {
    // A throwing getter is an unset option.
  }
  if (i === 7) return v === false ? 0 : 1;
  v = n(v, 0);
  return v < 0 && i < 2 ? n([statics.MAX_RECONNECT_TRY_TIMES, statics.RECONNECT_TIME_INCREASE][i], 1) : v;
}

export class RequestError extends Error {
  constructor(type, message) {
    super(message);
    this.name = 'RequestError';
    this.type = type;
  }
}

// `a=1&b=x%20y`; nested objects as JSON, undefined members skipped (wx.request's encoding).
const query = (data) =>
  typeof data !== 'object'
    ? String(data)
    : Object.keys(data)
        .filter((k) => data[k] !== undefined)
        .map((k) => {
          const v = data[k];
          return encodeURIComponent(k) + '=' + encodeURIComponent(v !== null && typeof v === 'object' ? JSON.stringify(v) : v);
        })
        .join('&');

// The process-wide settings: `url` (setLoginUrl), `code` and `token` (the providers), `ws`
// (the WebSocket constructor), `ext` (extendedAuth `{headers, tunnel}`), `cred` (the fetch
// credentials mode; undefined: fetch's default, 'same-origin') and `visitor` (the last login
// was anonymous: logging in again stays anonymous, which the visitor cookie makes the same
// visitor). Kept, validated and exported here (the glue re-exports them): as Rust copies
// they cost the module ~1 KB gzipped, and as module exports that only passed the value on,
// a shim each.
const cfg = { ext: {} };
const invalid = (message) => new RequestError('ERR_INVALID_PARAMS', message);
// null/undefined → unset; a function; anything else is a caller bug.
const fn = (v, what) => {
  if (v != null && typeof v !== 'function') throw invalid(what + ' must be a function');
  return v ?? undefined;
};
// `setLoginUrl(url)`: the URL `login`, `loginWithCode` and the re-login rule use.
export function setLoginUrl(u) {
  if (u != null && typeof u !== 'string') throw invalid('setLoginUrl(url): url must be a string');
  cfg.url = u ?? undefined;
}
// `setCodeProvider(fn)`: browsers have no `wx.login`; `fn()` returns (a Promise of) a
// single-use login code that the application's back end obtained from the relay's API.
export function setCodeProvider(f) {
  cfg.code = fn(f, 'setCodeProvider(fn): fn');
}
// `setTokenProvider(getToken)`: `getToken()` returns (a Promise of) a JWT for the relay's
// `--jwt-secret`, sent as `Authorization: Bearer`. Asked for every login without explicit
// credentials, before the code provider, and when a renewal needs a new token; an empty
// answer ends the session.
export function setTokenProvider(f) {
  cfg.token = fn(f, 'setTokenProvider(fn): fn');
}
// `configure({ WebSocket?, codeProvider?, getToken?, loginUrl?, extendedAuth?,
// credentials? })`: one call for every setting; keys that are absent keep their value.
export function configure(v) {
  if (typeof v !== 'object' || !v) throw invalid('configure(options): options must be an object');
  if (v.WebSocket !== undefined) cfg.ws = fn(v.WebSocket, 'configure: WebSocket');
  if (v.codeProvider !== undefined) setCodeProvider(v.codeProvider);
  if (v.getToken !== undefined) setTokenProvider(v.getToken);
  if (v.loginUrl !== undefined) setLoginUrl(v.loginUrl);
  const a = v.extendedAuth;
  if (a !== undefined) {
    if (typeof a !== 'object') throw invalid('extendedAuth must be an object or null');
    cfg.ext = Object(a);
  }
  if (v.credentials !== undefined) cfg.cred = v.credentials || undefined;
}
export const setVisitor = (on) => (cfg.visitor = on);
// A tunnel's own WebSocket constructor (its `WebSocket` option) when a function, else the
// configured one, else globalThis.WebSocket (browsers, Node ≥ 22), looked up at each connect
// so a polyfill installed later is seen.
export const webSocket = (own) =>
  typeof own === 'function' ? own : cfg.ws || (typeof globalThis.WebSocket === 'function' ? globalThis.WebSocket : undefined);

// A short description of a thrown value, for messages: itself if a string, else its
// non-empty `message`, else String() of it ('' for null and undefined, or when that throws).
const describe = (e) => {
  if (typeof e === 'string') return e;
  try {
    if (typeof e?.message === 'string' && e.message) return e.message;
  } catch {}
  try {
    return e == null ? '' : String(e);
  } catch {
    return '';
  }
};
// `tunnel.emit`'s content as JSON text ('' where JSON has none: undefined, functions; the
// core then sends null), once its type is checked; else a RequestError(ERR_INVALID_PARAMS).
export function emitJson(type, content) {
  if (typeof type !== 'string') throw invalid('tunnel.emit(type, content): type must be a string');
  try {
    return JSON.stringify(content) ?? '';
  } catch (e) {
    throw invalid('tunnel.emit: content is not JSON-encodable: ' + describe(e));
  }
}
// Why the tunnels end when the session did, with the error `e` it ended with.
export const sessionEnded = (e) => 'the session ended: ' + describe(e);

const ended = (message, type = ERRORS.ERR_CREDENTIALS_FAILED) => Object.assign(new RequestError(type, message), { terminal: true });
const failed = (e) => (e && e.message) || e;

// What one login sends, as wxRequest options `{header, data?, method?, credentials?}`: the
// explicit credentials of `o` first, else what the SDK can use alone (auth.rs decides when):
// getToken's JWT, the code provider's code, the visitor cookie again, or the extendedAuth
// headers only (delegated auth: the relay asks the site). A password travels in a JSON body,
// never the URL; a visitor's login sends credentials so its cookie reaches the relay.
// `login` (not `loginWithCode`) also sends Wafer's encrypted user data when given. Rejects
// with a RequestError; `terminal` when there is nothing to send (no way at all, an empty
// answer from a provider), not when a provider throws (its back end may be down).
async function proof(o, getToken, getCode, visitor, userData) {
  o = Object(o);
  const header = {}, r = { header, method: o.method };
  const ask = async (f) => {
    let v;
    try {
      v = await f();
    } catch (e) {
      throw new RequestError(ERRORS.ERR_CREDENTIALS_FAILED, 'the login provider failed: ' + failed(e));
    }
    if (typeof v !== 'string' || !v) throw ended('the login provider returned no credential');
    return v;
  };
  let token = o.token;
  if (o.username) {
    r.data = { username: o.username, password: o.password };
    r.method = 'POST';
  } else if (o.anonymous || (!o.code && !token && !getToken && !getCode && visitor)) r.credentials = 'include';
  else if (o.code) header['X-WX-Code'] = o.code;
  else if (token);
  else if (getToken) token = await ask(getToken);
  else if (getCode) header['X-WX-Code'] = await ask(getCode);
  else if (!cfg.ext.headers)
    throw ended('no credentials: no code, token, password, anonymous, provider or extendedAuth');
  if (token) header.Authorization = 'Bearer ' + token;
  // A short session (--session-ttl-short-secs) for this login.
  if (o.rememberMe === false) header['X-WX-Remember'] = '0';
  if (userData) {
    if (typeof o.encryptedData === 'string') header['X-WX-Encrypted-Data'] = o.encryptedData;
    if (typeof o.iv === 'string') header['X-WX-IV'] = o.iv;
  }
  return r;
}

// The page's calls in flight (login, request, a tunnel's connect-URL fetch) by the id the
// session core (client/src/auth.rs) gave them: their options, their answer, how they settle.
// Every async answer of the host goes back to auth.rs through one sink `(kind, id, value, n)`:
// `n` is what auth.rs needs to know of it, bits read there (`Facts`): of an HTTP answer
// `{data: body, statusCode}`, the status (bits 0-15), whether `body.code` is 0 (bit 16) or -1
// (bit 17), `body.data.skey` a non-empty string (18), `body.data.userinfo` not null (19), the
// login sent the visitor cookie (20); of a failure, whether it is `terminal` (bit 0); of
// both, whether a provider can give a new credential (21: a renewal whose expiry could not
// move logs in again). Read here: each property read from the module costs it more.
const calls = new Map();
let sink;
export const setSink = (f) => (sink = f);
const facts = (r) => {
  const b = r.data, d = b?.data, code = b?.code;
  return r.statusCode | (code === 0 ? 1 << 16 : code === -1 ? 1 << 17 : 0) | (typeof d?.skey === 'string' && d.skey ? 1 << 18 : 0) | (d?.userinfo != null ? 1 << 19 : 0) | (r.cred ? 1 << 20 : 0);
};
const relogin = () => (cfg.token || cfg.code ? 1 << 21 : 0);
const answer = (p, kind, id) => p.then((v) => sink(kind, id, v, facts(v) | relogin()), (e) => sink(kind + 1, id, e, (e?.terminal ? 1 : 0) | relogin()));
const method = (o) => (typeof o.method === 'string' ? o.method.toUpperCase() : 'GET');

// Wafer's calling convention, plus Promises: with `success`, `fail` or `complete` the outcome
// goes to them (and undefined is returned, as Wafer does, so no unobserved rejected Promise
// can appear); otherwise a Promise is returned. A callback that throws is reported, not
// propagated. Callbacks run from a microtask, never inside the call that started the work.
export function begin(id, o, userData) {
  const c = { o: Object(o), u: userData };
  const [s, f, done] = ['success', 'fail', 'complete'].map((k) => (typeof c.o[k] === 'function' ? c.o[k] : undefined));
  calls.set(id, c);
  if (s || f || done) {
    c.s = (ok, v) =>
      [ok ? s : f, done].forEach((g) => {
        try {
          if (g) g(v);
        } catch (e) {
          console.error('cometa: a callback threw', e);
        }
      });
    return;
  }
  return new Promise((res, rej) => (c.s = (ok, v) => (ok ? res : rej)(v)));
}
// Settles call `id` with its answer (the login's userinfo, the request's reply) or `e`.
export function finish(id, ok, e) {
  const c = calls.get(id);
  calls.delete(id);
  if (c) Promise.resolve(ok ? c.v : e).then((v) => c.s(ok, v));
}
// What request() needs of its options `o` (a throwing getter reads as undefined): 1 when
// they ask to log in first, else 0; or why the call cannot start (problem 5 or 6), which
// `refuse` then settles.
export function requestOptions(o) {
  if (typeof o !== 'object' || !o) return 5;
  let u, login;
  try {
    u = o.url;
    login = o.login;
  } catch {}
  return typeof u !== 'string' || !u ? 6 : login ? 1 : 0;
}
export function refuse(o, what) {
  const p = begin(0, o);
  finish(0, false, problem(what, o));
  return p;
}

// One login exchange, with the options of page call `id` or (no id) the SDK's own
// credentials, to `opts.loginUrl` or the one set with setLoginUrl: answers kind 0 with the
// reply (`cred`: it sent the visitor cookie), 1 with the RequestError (at once when there is
// no URL).
export function signIn(op, id) {
  const c = calls.get(id) || {};
  let url;
  try {
    url = c.o?.loginUrl;
  } catch {}
  url = (typeof url === 'string' && url) || cfg.url;
  if (url === undefined) return sink(1, op, ended('no login URL: set one with setLoginUrl(url) or pass opts.loginUrl', 'ERR_INVALID_PARAMS'), 1);
  answer(
    proof(c.o, cfg.token, cfg.code, cfg.visitor, c.u).then((p) =>
      wxRequest(p, url, method(p), {}).then((r) => {
        c.v = Object(Object(r.data).data).userinfo;
        r.cred = !!p.credentials;
        return r;
      }),
    ),
    0,
    op,
  );
}
// Request `id` with the session key: kind 2 with the reply, 3 with the RequestError.
export function send(id, skey) {
  const c = calls.get(id);
  answer(wxRequest(c.o, c.o.url, method(c.o), skey ? { 'X-WX-Skey': skey } : {}).then((r) => (c.v = r)), 2, id);
}
// POST the login URL's sibling `refresh` (/weapp/login → /weapp/refresh) with the key: kind 4
// with the reply, 5 with the RequestError.
export function refresh(op, skey) {
  answer(wxRequest({}, (cfg.url ?? '').split(/[?#]/)[0].replace(/[^/]*$/, 'refresh'), 'POST', { 'X-WX-Skey': skey }), 4, op);
}

// The RequestError of the failure auth.rs names (from the core's verdict): 0 a login refused,
// 1 a login answered without a session, 2 without userinfo, 3 a key refused, 4 a refresh
// that failed (`r` the HTTP answer); 5 request options that are not an object, 6 without a
// URL (`r` the options). `terminal`: logging in again cannot help, marked on the error as the
// page sees it.
export function problem(what, r, terminal) {
  const b = what < 5 && r.data, http = 'HTTP ' + (what < 5 && r.statusCode);
  const say = (k, d) => (typeof b?.[k] === 'string' ? b[k] : d);
  let t;
  try {
    t = JSON.stringify(b);
  } catch {}
  const [type, message] = [
    [say('error', 'ERR_LOGIN_FAILED'), say('message', 'login failed: unexpected response (' + http + ') ' + (t ?? ''))],
    ['ERR_LOGIN_MISSING_SESSION', 'login answered without a session (data.skey)'],
    ['ERR_LOGIN_FAILED', 'login answered without data.userinfo'],
    [say('error', 'ERR_SESSION_INVALID'), say('message', 'the session has expired (login state invalid)')],
    ['ERR_SESSION_INVALID', 'session refresh failed: ' + http],
    ['ERR_INVALID_PARAMS', 'request options must be an object, got ' + typeof r],
    ['ERR_INVALID_PARAMS', 'options.url must be a string'],
  ][what];
  const e = new RequestError(type, message);
  if (terminal) e.terminal = true;
  return e;
}

// The session's renewal timer: sink kind 6 at wall-clock time `at` (ms), or none. Clamped
// (setTimeout fires at once past 2^31-1 ms) and unref'd in Node: a renewal due in days must
// not hold a script open.
let timer;
export function arm(at) {
  clearTimeout(timer);
  timer = undefined;
  if (at === undefined) return;
  timer = setTimeout(() => sink(6, 0), Math.min(Math.max(at - Date.now(), 0), 2147483647));
  if (timer.unref) timer.unref();
}

// One exchange shaped like wx.request: `data` goes in the query for GET/HEAD and in the body
// otherwise (JSON unless a form content-type is set, raw for strings and binary); every HTTP
// status resolves to `{ data, statusCode, header }`, `data` JSON-parsed when it parses (the
// default `dataType: 'json'`). Only a failed exchange rejects, with a RequestError.
async function wxRequest(o, url, method, extra) {
  o = Object(o);
  const header = {};
  let contentType = '';
  // extendedAuth headers first: the caller's and then the SDK's own win over them.
  for (const h of [cfg.ext.headers, o.header]) {
    for (const [k, v] of Object.entries(Object(h))) if (v != null) header[k] = String(v);
  }
  Object.assign(header, extra);
  for (const k in header) if (k.toLowerCase() === 'content-type') contentType = header[k];
  const init = { method, headers: header, credentials: o.credentials || cfg.cred };
  // The tunnel service request (tunnel.rs) carries extendedAuth.tunnel as its query.
  const data = o.tunnel ? cfg.ext.tunnel : o.data;
  if (data != null) {
    if (method === 'GET' || method === 'HEAD') {
      const q = query(data);
      if (q) {
        const hash = url.indexOf('#');
        const base = hash < 0 ? url : url.slice(0, hash);
        const sep = !base.includes('?') ? '?' : /[?&]$/.test(base) ? '' : '&';
        url = base + sep + q + (hash < 0 ? '' : url.slice(hash));
      }
    } else if (typeof data === 'string' || data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
      init.body = data;
    } else if (contentType.includes('x-www-form-urlencoded')) {
      init.body = query(data);
    } else {
      try {
        init.body = JSON.stringify(data);
      } catch (e) {
        throw new RequestError('ERR_INVALID_PARAMS', 'options.data cannot be encoded as JSON: ' + e.message);
      }
      if (!contentType) header['content-type'] = 'application/json';
    }
  }
  if (o.timeout > 0 && typeof AbortSignal.timeout === 'function') init.signal = AbortSignal.timeout(o.timeout);
  let res, body;
  try {
    res = await fetch(url, init);
    body = o.responseType === 'arraybuffer' ? await res.arrayBuffer() : await res.text();
  } catch (e) {
    const err = new RequestError('ERR_REQUEST_FAILED', 'request:fail ' + failed(e));
    err.errMsg = err.message; // what code written for wx.request reads
    throw err;
  }
  if (typeof body === 'string' && body && (o.dataType === undefined || o.dataType === 'json')) {
    try {
      body = JSON.parse(body);
    } catch {
      // wx.request keeps the text when it is not JSON.
    }
  }
  return { data: body, statusCode: res.status, header: Object.fromEntries(res.headers) };
}

// The `request` options that ask tunnel service `url` for a socket URL, answered to link `l`
// (js/link.js's object: its module's input, as kind 6 with the URL or 7 with why there is none
// (a failed request: its error; an answer without `data.connectUrl`), `ticket` as its number.
export function connectRequest(url, timeout, l, ticket) {
  const done = (ok, text) => l.f(l.id, ok ? 6 : 7, text, ticket);
  const complete = (r) => {
    let s, u;
    try {
      s = r?.statusCode;
      u = r.data?.data?.connectUrl;
    } catch {}
    if (typeof s !== 'number') return done(false, describe(r));
    if (s === 200 && typeof u === 'string' && u) return done(true, u);
    done(false, `the tunnel service answered HTTP ${s} without data.connectUrl`);
  };
  return { url, method: 'GET', tunnel: true, timeout, complete };
}

// localStorage (wx storage behind the same API in a mini-program) if usable; its getter may
// throw (opaque origins, disabled storage).
function local() {
  try {
    const s = globalThis.localStorage;
    if (typeof s?.getItem === 'function') return s;
  } catch {}
}

// Item `key` of localStorage: read without `text`, else written ("" removes it). Missing,
// disabled or full storage (Node, Safari private mode, quota): undefined, nothing written.
function stored(key, text) {
  try {
    const s = local();
    if (text === undefined) return s?.getItem(key) ?? undefined;
    text ? s.setItem(key, text) : s.removeItem(key);
  } catch {}
}

// The unanswered emits a durable tunnel keeps (tunnel.rs), as `stored`: one list per tunnel
// URL (a string; nothing is kept for another value) and browser.
export const outbox = (url, text) => (typeof url === 'string' ? stored('cometa:outbox:' + url, text) : undefined);

// The login session (`{skey, userinfo, time, expires_at?, remember?}`) where Wafer keeps it:
// JSON in localStorage under `weapp_session_…`; where that fails, in memory for the life of
// the page or process, and never an older copy left in storage behind it. `sessionGet()`
// reads it (null if none; the entries' `Session.get()` too), `loginSession(v)` stores `v`,
// null or undefined clears it.
const SESSION = 'weapp_session_F2C224D4-2BCE-4C64-AF9F-A6D872000D1A';
let memory;
export function sessionGet() {
  if (memory) return memory[0];
  let v;
  try {
    v = JSON.parse(stored(SESSION));
  } catch {}
  return v ?? null;
}
export function loginSession(v) {
  memory = undefined;
  try {
    const t = JSON.stringify(v);
    if (v != null && typeof t === 'string') return void local().setItem(SESSION, t);
  } catch {}
  stored(SESSION, '');
  if (v != null) memory = [v];
}
// The session in a login or refresh answer.
export const sessionOf = (r) => r.data.data;
