// A small, faithful stand-in for the parts of the WeChat mini-program `wx` API that
// wafer2-client-sdk@2.1.0 uses, backed by Node's fetch and the `ws` package.
//
// Importing this module installs `globalThis.wx`. It must be imported BEFORE the SDK is
// required: the SDK's lib/wxTunnel.js calls wx.onSocketOpen/Close/Message/Error at load time.
//
// Everything the shim does is recorded (HTTP exchanges, socket traffic, login codes) so tests
// can assert on the wire traffic without reaching into the SDK.

import { EventEmitter } from 'node:events';
import { WebSocket } from 'ws';

/** An append-only log whose entries can be awaited. */
export class Recorder extends EventEmitter {
  constructor(name) {
    super();
    this.name = name;
    this.entries = [];
    this.setMaxListeners(0);
  }

  push(entry) {
    const e = { t: Date.now(), ...entry };
    this.entries.push(e);
    this.emit('entry', e);
    return e;
  }

  /** Index to pass as `from` to only consider entries recorded after this point. */
  mark() {
    return this.entries.length;
  }

  since(from = 0) {
    return this.entries.slice(from);
  }

  find(pred, from = 0) {
    return this.entries.slice(from).find(pred);
  }

  /**
   * Resolves with the first entry (at index >= from) matching `pred`; rejects after `timeout`
   * ms with a message naming `what` and showing the latest entries.
   */
  waitFor(pred, { from = 0, timeout = 5000, what = 'a matching entry' } = {}) {
    const existing = this.find(pred, from);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const onEntry = (e) => {
        let ok = false;
        try {
          ok = pred(e);
        } catch {
          ok = false;
        }
        if (ok) {
          cleanup();
          resolve(e);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        const recent = this.since(from)
          .slice(-8)
          .map((e) => '    ' + abbreviate(JSON.stringify(e), 400))
          .join('\n');
        reject(
          new Error(
            `timed out after ${timeout} ms waiting for ${what} in the ${this.name} log` +
              (recent ? `; latest entries:\n${recent}` : '; nothing was recorded'),
          ),
        );
      }, timeout);
      const cleanup = () => {
        clearTimeout(timer);
        this.off('entry', onEntry);
      };
      this.on('entry', onEntry);
    });
  }
}

export function abbreviate(s, max = 300) {
  s = String(s);
  return s.length > max ? s.slice(0, max) + `…(${s.length} chars)` : s;
}

/**
 * State of the shim. `config` must be filled in by the test before the SDK logs in:
 *   apiBase  - the relay's base URL, e.g. http://127.0.0.1:1234
 *   apiKey   - bearer key of the relay's back-end API
 *   userId   - the user wx.login logs in as
 *   userinfo - the userinfo registered with the login code
 */
export const shim = {
  config: { apiBase: null, apiKey: null, userId: null, userinfo: null },
  /** wx.request exchanges: {url, method, header, statusCode?, data?, error?} */
  http: new Recorder('wx.request'),
  /** socket traffic: {kind: 'connect'|'open'|'out'|'in'|'close'|'error'|'send-fail'|'closeSocket', ...} */
  socket: new Recorder('wx socket'),
  /** wx.login calls: {status, code?, error?} (status of POST /api/v1/login-codes) */
  logins: new Recorder('wx.login'),
  /** tunnels handed out by the relay, parsed from wx.request replies: {tunnelId, connectUrl} */
  tunnels: new Recorder('tunnel'),
  storage: new Map(),
  /** the current global socket (wx has a single global socket in this API) */
  current: null,
};

// --- helpers -----------------------------------------------------------------------------

// wx calls callbacks asynchronously; an exception thrown by a callback must not be turned
// into a `fail` call, so run them on their own tick (an exception becomes an uncaught one).
function later(fn, ...args) {
  if (typeof fn === 'function') setImmediate(() => fn(...args));
}

function findHeader(headers, name) {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : headers[key];
}

// --- wx.request --------------------------------------------------------------------------

function request(opts = {}) {
  const method = String(opts.method || 'GET').toUpperCase();
  let url = opts.url;
  const header = { ...(opts.header || {}) };
  let body;

  if (opts.data !== undefined && opts.data !== null) {
    if (method === 'GET') {
      // wx serialises GET data into the query string.
      const u = new URL(url);
      if (typeof opts.data === 'object') {
        for (const [k, v] of Object.entries(opts.data)) {
          u.searchParams.append(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
        }
        url = u.toString();
      } else {
        url += (url.includes('?') ? '&' : '?') + String(opts.data);
      }
    } else {
      // wx's default content-type is application/json and objects are JSON-encoded.
      let ct = findHeader(header, 'content-type');
      if (ct === undefined) {
        ct = 'application/json';
        header['content-type'] = ct;
      }
      if (typeof opts.data === 'string' || opts.data instanceof ArrayBuffer) {
        body = opts.data;
      } else if (String(ct).includes('application/x-www-form-urlencoded')) {
        body = new URLSearchParams(opts.data).toString();
      } else {
        body = JSON.stringify(opts.data);
      }
    }
  }

  const entry = { url, method, header };
  fetch(url, {
    method,
    headers: header,
    body,
    signal: AbortSignal.timeout(opts.timeout || 60000),
  }).then(
    async (res) => {
      const text = await res.text();
      let data = text;
      // dataType defaults to 'json': wx tries to JSON.parse the body and keeps the text if
      // that fails.
      if ((opts.dataType || 'json') === 'json') {
        try {
          data = JSON.parse(text);
        } catch {
          data = text;
        }
      }
      const result = {
        statusCode: res.status,
        data,
        header: Object.fromEntries(res.headers),
        errMsg: 'request:ok',
      };
      shim.http.push({ ...entry, statusCode: res.status, data });
      const tunnel = data && typeof data === 'object' && data.data;
      if (tunnel && typeof tunnel === 'object' && typeof tunnel.connectUrl === 'string') {
        shim.tunnels.push({ tunnelId: tunnel.tunnelId, connectUrl: tunnel.connectUrl });
      }
      later(opts.success, result);
      later(opts.complete, result);
    },
    (err) => {
      const result = { errMsg: `request:fail ${err.cause?.code || err.message}` };
      shim.http.push({ ...entry, error: result.errMsg });
      later(opts.fail, result);
      later(opts.complete, result);
    },
  );
  return { abort() {} };
}

// --- wx.login / wx.getUserInfo -------------------------------------------------------------

// Stands in for WeChat's login: asks the relay's back-end API for a one-time login code for the
// configured user, exactly what a customer's back end would hand a device.
function login(opts = {}) {
  const { apiBase, apiKey, userId, userinfo } = shim.config;
  let recorded = false;
  (async () => {
    if (!apiBase) throw new Error('wx shim: shim.config.apiBase is not set');
    const res = await fetch(`${apiBase}/api/v1/login-codes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: userId, userinfo }),
    });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok || !json || typeof json.code !== 'string') {
      shim.logins.push({ status: res.status, error: text });
      recorded = true;
      throw new Error(`POST /api/v1/login-codes answered ${res.status} ${abbreviate(text)}`);
    }
    shim.logins.push({ status: res.status, code: json.code, expires_at: json.expires_at });
    return json.code;
  })().then(
    (code) => {
      const result = { code, errMsg: 'login:ok' };
      later(opts.success, result);
      later(opts.complete, result);
    },
    (err) => {
      if (!recorded) shim.logins.push({ error: err.message });
      const result = { errMsg: `login:fail ${err.message}` };
      later(opts.fail, result);
      later(opts.complete, result);
    },
  );
}

function getUserInfo(opts = {}) {
  const userInfo = {
    nickName: 'wx-shim',
    avatarUrl: '',
    gender: 0,
    city: '',
    province: '',
    country: '',
    language: 'en',
  };
  const result = {
    userInfo,
    rawData: JSON.stringify(userInfo),
    signature: '0000000000000000000000000000000000000000',
    encryptedData: Buffer.from('dummy encrypted data').toString('base64'),
    iv: Buffer.from('dummy-iv-16bytes').toString('base64'),
    errMsg: 'getUserInfo:ok',
  };
  later(opts.success, result);
  later(opts.complete, result);
}

// --- the global socket -----------------------------------------------------------------------

const socketHandlers = { open: null, close: null, message: null, error: null };

function connectSocket(opts = {}) {
  const url = opts.url;
  const previous = shim.current;
  if (previous) {
    // Only one global socket: a new one replaces the old, whose events are no longer forwarded.
    shim.current = null;
    shim.socket.push({ kind: 'replaced', url: previous.url });
    try {
      previous.terminate();
    } catch {
      // already gone
    }
  }

  let ws;
  try {
    ws = new WebSocket(url, { headers: opts.header || {} });
  } catch (err) {
    shim.socket.push({ kind: 'error', url, error: err.message });
    later(opts.fail, { errMsg: `connectSocket:fail ${err.message}` });
    later(opts.complete, {});
    return;
  }
  shim.current = ws;
  shim.socket.push({ kind: 'connect', url });

  ws.on('open', () => {
    shim.socket.push({ kind: 'open', url });
    if (shim.current === ws && socketHandlers.open) socketHandlers.open({ header: {} });
  });
  ws.on('message', (raw, isBinary) => {
    const data = isBinary
      ? raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)
      : raw.toString('utf8');
    shim.socket.push({ kind: 'in', url, data: isBinary ? `<${raw.byteLength} binary bytes>` : data });
    if (shim.current === ws && socketHandlers.message) socketHandlers.message({ data });
  });
  ws.on('error', (err) => {
    shim.socket.push({ kind: 'error', url, error: err.message });
    if (shim.current === ws && socketHandlers.error) socketHandlers.error({ errMsg: err.message });
  });
  ws.on('close', (code, reason) => {
    shim.socket.push({ kind: 'close', url, code, reason: reason.toString() });
    if (shim.current === ws) {
      shim.current = null;
      if (socketHandlers.close) socketHandlers.close({ code, reason: reason.toString() });
    }
  });
  later(opts.success, { errMsg: 'connectSocket:ok' });
  later(opts.complete, { errMsg: 'connectSocket:ok' });
}

function sendSocketMessage(opts = {}) {
  const ws = shim.current;
  if (!ws || ws.readyState !== WebSocket.OPEN) {
    shim.socket.push({ kind: 'send-fail', data: opts.data });
    const result = { errMsg: 'sendSocketMessage:fail WebSocket is not connected' };
    later(opts.fail, result);
    later(opts.complete, result);
    return;
  }
  shim.socket.push({ kind: 'out', url: ws.url, data: opts.data });
  ws.send(opts.data, (err) => {
    if (err) {
      later(opts.fail, { errMsg: `sendSocketMessage:fail ${err.message}` });
    } else {
      later(opts.success, { errMsg: 'sendSocketMessage:ok' });
    }
    later(opts.complete, {});
  });
}

function closeSocket(opts = {}) {
  const ws = shim.current;
  shim.socket.push({ kind: 'closeSocket', state: ws ? ws.readyState : 'none' });
  if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) {
    // The close event is still forwarded to onSocketClose, as wx does.
    try {
      ws.close(opts.code || 1000, opts.reason || '');
    } catch {
      ws.terminate();
    }
    later(opts.success, { errMsg: 'closeSocket:ok' });
  } else {
    later(opts.fail, { errMsg: 'closeSocket:fail WebSocket is not connected' });
  }
  later(opts.complete, {});
}

// --- storage ----------------------------------------------------------------------------------

// wx storage keeps JSON-serialised values; a missing key reads as ''.
function setStorageSync(key, value) {
  shim.storage.set(key, JSON.stringify(value));
}
function getStorageSync(key) {
  return shim.storage.has(key) ? JSON.parse(shim.storage.get(key)) : '';
}
function removeStorageSync(key) {
  shim.storage.delete(key);
}
function clearStorageSync() {
  shim.storage.clear();
}

/** Closes the global socket without telling anyone (test clean-up). */
export function resetSocket() {
  const ws = shim.current;
  shim.current = null;
  if (ws) ws.terminate();
}

globalThis.wx = {
  request,
  login,
  getUserInfo,
  connectSocket,
  sendSocketMessage,
  closeSocket,
  onSocketOpen: (fn) => void (socketHandlers.open = fn),
  onSocketClose: (fn) => void (socketHandlers.close = fn),
  onSocketMessage: (fn) => void (socketHandlers.message = fn),
  onSocketError: (fn) => void (socketHandlers.error = fn),
  setStorageSync,
  getStorageSync,
  removeStorageSync,
  clearStorageSync,
};
