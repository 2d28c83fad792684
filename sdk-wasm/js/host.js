// Host I/O of cometa-sdk, imported by `src/http.rs` and `src/error.rs`. Shipped next to the
// wasm as a wasm-bindgen snippet. Only what is cheaper in JS than through the wasm boundary
// lives here: the RequestError class (it must extend Error), the wx.request-shaped fetch and
// its plumbing (extendedAuth, credentials, which header or body carries a login's
// credentials), and the small state that costs kilobytes as Rust (a timer, the renewal in
// flight, the list of running tunnels). Decisions about sessions, login and the tunnel (when
// to renew, when a session ends, what a tunnel does then) stay in Rust.

// Wafer's `lib/constants.js` (same names and values, `ERR_LOGIN_SESSION_NOT_RECEIVED` included)
// plus ERR_REQUEST_FAILED and ERR_CREDENTIALS_FAILED, the web's name for a login that could not
// get its credentials (a page has no wx.login; the web entry exports ERR_WX_LOGIN_FAILED as an
// alias of it). Exported by the npm entries, raised here and by `src/error.rs`'s copies.
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

// Set by configure(): extendedAuth `{headers, tunnel}` and the fetch credentials mode
// (undefined: fetch's default, 'same-origin').
let ext = {}, credentials;

export function setHttp(o) {
  const a = o.extendedAuth;
  if (a !== undefined) {
    if (typeof a !== 'object') throw new RequestError('ERR_INVALID_PARAMS', 'extendedAuth must be an object or null');
    ext = Object(a);
  }
  if (o.credentials !== undefined) credentials = o.credentials || undefined;
}

const ended = (message) => Object.assign(new RequestError(ERRORS.ERR_CREDENTIALS_FAILED, message), { terminal: true });
const failed = (e) => (e && e.message) || e;

// What one login sends, as wxRequest options `{header, data?, method?, credentials?}`: the
// explicit credentials of `o` first, else what the SDK can use alone (auth.rs decides when):
// getToken's JWT, the code provider's code, the visitor cookie again, or the extendedAuth
// headers only (delegated auth: the relay asks the site). A password travels in a JSON body,
// never the URL; a visitor's login sends credentials so its cookie reaches the relay.
// `login` (not `loginWithCode`) also sends Wafer's encrypted user data when given. Rejects
// with a RequestError; `terminal` when there is nothing to send (no way at all, an empty
// answer from a provider), not when a provider throws (its back end may be down).
export async function proof(o, getToken, getCode, visitor, userData) {
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
  else if (!ext.headers)
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

// POST the login URL's sibling `refresh` (/weapp/login → /weapp/refresh) with the key.
// Resolves with the new session (`data`), or null when the relay refused the key (401 or
// code -1); rejects when nothing can be concluded (network, 5xx).
export async function refresh(url, skey) {
  const r = await wxRequest({}, url.split(/[?#]/)[0].replace(/[^/]*$/, 'refresh'), 'POST', { 'X-WX-Skey': skey });
  const body = Object(r.data);
  if (body.code === 0 && body.data && body.data.skey) return body.data;
  if (r.statusCode === 401 || body.code === -1) return null;
  throw new RequestError('ERR_SESSION_INVALID', 'session refresh failed: HTTP ' + r.statusCode);
}

// The running tunnels, each as its timer callback (see tunnel.rs): called with why the
// session ended, a callback ends its tunnel instead of ticking.
const live = new Set();
export const track = (f, on) => (on ? live.add(f) : live.delete(f));
export const endAll = (why) => [...live].forEach((f) => f(why));

// The session's renewal timer and the renewal in flight (renew.rs decides when and what).
let timer, flight;

// Arms `f` to renew session `s` at `expires_at` minus a margin: a tenth of its lifetime, at
// least 30 s, at most half of it (lifetime from `time`, the relay's clock at issue, or from
// now for a session loaded from storage: the sooner wins, so a wrong local clock cannot make
// a fresh session look expired). Without `expires_at` (a Wafer back end that does not expire
// sessions), only disarms. `keep`: an armed timer stays. Clamped (setTimeout fires at once
// past 2^31-1 ms) and unref'd in Node: a renewal due in days must not hold a script open.
export function arm(f, s, keep) {
  if (keep && timer) return;
  clearTimeout(timer);
  timer = undefined;
  const end = Object(s).expires_at;
  if (typeof end !== 'number') return;
  const now = Date.now() / 1000;
  const life = end - (s.time || now);
  const left = Math.min(end - now, life);
  timer = setTimeout(() => {
    timer = undefined;
    f();
  }, Math.min(Math.max((left - Math.min(Math.max(life / 10, 30), life / 2)) * 1000, 0), 2147483647));
  if (timer.unref) timer.unref();
}
// One renewal at a time: `start()` runs unless one is in flight, and every caller awaits the
// same; with none in flight, `skip` (a newer key exists already) resolves at once instead.
export const once = (start, skip) => flight || (skip ? Promise.resolve() : (flight = start().finally(() => (flight = undefined))));

// The page's last login (`login`/`loginWithCode`), settled: a request or tunnel started
// without a session waits for it (auth.rs).
let landing = Promise.resolve();
export const flying = (p) => ((landing = p.then(Boolean, Boolean)), p);
export const landed = () => landing;

// One exchange shaped like wx.request: `data` goes in the query for GET/HEAD and in the body
// otherwise (JSON unless a form content-type is set, raw for strings and binary); every HTTP
// status resolves to `{ data, statusCode, header }`, `data` JSON-parsed when it parses (the
// default `dataType: 'json'`). Only a failed exchange rejects, with a RequestError.
export async function wxRequest(o, url, method, extra) {
  o = Object(o);
  const header = {};
  let contentType = '';
  // extendedAuth headers first: the caller's and then the SDK's own win over them.
  for (const h of [ext.headers, o.header]) {
    for (const [k, v] of Object.entries(Object(h))) if (v != null) header[k] = String(v);
  }
  Object.assign(header, extra);
  for (const k in header) if (k.toLowerCase() === 'content-type') contentType = header[k];
  const init = { method, headers: header, credentials: o.credentials || credentials };
  // The tunnel service request (tunnel.rs) carries extendedAuth.tunnel as its query.
  const data = o.tunnel ? ext.tunnel : o.data;
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
