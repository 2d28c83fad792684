// The platform seam of the mini-program entry. The SDK's module (wasm-bindgen glue, Rust and
// js/host.js) does its I/O through a handful of browser names: `fetch`, `WebSocket`,
// `localStorage`, `setTimeout`, `performance.now`, `TextEncoder`/`TextDecoder`, and the
// global object's `addEventListener('online')` / `document.visibilityState`. In browsers and
// Node those are the real globals (the ES module entry). A mini-program has none of them, so
// `wxPlatform(wx)` builds each one over `wx.*`, and scripts/build-miniprogram.sh compiles the
// module so that it reads these names from the platform object chosen at start-up (see
// index.js) instead of the global scope.
//
// CommonJS and ES2017 on purpose: this file runs as-is in WeChat's JS engines.
'use strict';

// ---- UTF-8 (mini-programs have no TextEncoder/TextDecoder) -------------------------------

// The glue only needs `encode` (it derives `encodeInto` from it) and `decode`. Lone
// surrogates become U+FFFD, as with the standard TextEncoder.
function TextEncoderLite() {}
TextEncoderLite.prototype.encoding = 'utf-8';
TextEncoderLite.prototype.encode = function encode(input) {
  const s = input === undefined ? '' : String(input);
  const out = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else {
        c = 0xfffd;
      }
    } else if (c >= 0xd800 && c <= 0xdfff) {
      c = 0xfffd;
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(out);
};

// Decodes UTF-8; an invalid or truncated sequence becomes U+FFFD (the glue never sends one:
// Rust strings are valid UTF-8).
function TextDecoderLite() {}
TextDecoderLite.prototype.encoding = 'utf-8';
TextDecoderLite.prototype.decode = function decode(input) {
  if (input === undefined) return '';
  const b = input instanceof Uint8Array ? input : ArrayBuffer.isView(input) ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength) : new Uint8Array(input);
  const units = [];
  let text = '';
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    let cp = 0xfffd;
    let n = 1;
    if (c < 0x80) cp = c;
    else if (c >= 0xc2 && c < 0xe0) n = 2;
    else if (c >= 0xe0 && c < 0xf0) n = 3;
    else if (c >= 0xf0 && c < 0xf5) n = 4;
    if (n > 1) {
      let v = c & (0xff >> (n + 1));
      let ok = i + n <= b.length;
      for (let k = 1; ok && k < n; k++) {
        if ((b[i + k] & 0xc0) !== 0x80) ok = false;
        else v = (v << 6) | (b[i + k] & 63);
      }
      const min = n === 3 ? 0x800 : 0x10000;
      if (ok && (n === 2 || (v >= min && v <= 0x10ffff && !(v >= 0xd800 && v <= 0xdfff)))) cp = v;
      else n = 1;
    }
    i += n;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 1023));
    } else {
      units.push(cp);
    }
    if (units.length > 4096) text += String.fromCharCode.apply(null, units.splice(0));
  }
  return text + String.fromCharCode.apply(null, units);
};

// ---- helpers ------------------------------------------------------------------------------

// `wx.xxx({...args, success, fail})` as a Promise of the success payload.
function wxCall(wx, name, args) {
  return new Promise((resolve, reject) => {
    if (typeof wx[name] !== 'function') return reject({ errMsg: 'wx.' + name + ' is not available' });
    wx[name](Object.assign({}, args, { success: resolve, fail: reject }));
  });
}

const errMsgOf = (e) => (e && (e.errMsg || e.message)) || String(e);

// ---- HTTP: a `fetch` over wx.request ------------------------------------------------------

// Only what js/host.js uses: `fetch(url, {method, headers, body, signal})` resolving to
// `{status, headers, text(), arrayBuffer()}`. host.js has already encoded the body and the
// query string exactly as wx.request would, so the data is passed through untouched. The
// answer is always asked as an ArrayBuffer and decoded here, so wx does not parse JSON on its
// own (host.js applies `dataType`, as in browsers). A `signal` from `AbortSignal.timeout(ms)`
// (see below) becomes wx.request's `timeout`; without one, the app's `networkTimeout` applies.
function wxFetch(wx, decoder) {
  return function fetch(url, init) {
    init = init || {};
    return new Promise((resolve, reject) => {
      let data = init.body;
      if (data !== undefined && ArrayBuffer.isView(data)) data = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
      const options = {
        url: String(url),
        method: init.method || 'GET',
        header: init.headers || {},
        dataType: 'other',
        responseType: 'arraybuffer',
        success(res) {
          const body = res.data;
          const header = res.header || {};
          resolve({
            status: res.statusCode,
            ok: res.statusCode >= 200 && res.statusCode < 300,
            // Header names as the server sent them, like wx.request's `header`.
            headers: Object.keys(header).map((k) => [k, String(header[k])]),
            arrayBuffer: () => Promise.resolve(body),
            text: () => Promise.resolve(typeof body === 'string' ? body : decoder.decode(body)),
          });
        },
        fail(err) {
          // host.js prefixes `request:fail `; wx's errMsg already starts with it.
          reject(new Error(errMsgOf(err).replace(/^request:fail ?/, '') || 'network error'));
        },
      };
      if (data !== undefined) options.data = data;
      const timeout = init.signal && init.signal.timeoutMs;
      if (timeout > 0) options.timeout = timeout;
      wx.request(options);
    });
  };
}

// host.js asks `AbortSignal.timeout(ms)` for a request limit; here it only carries the number
// to wx.request, which enforces it.
const TimeoutSignal = { timeout: (ms) => ({ aborted: false, timeoutMs: ms }) };

// ---- WebSocket: the browser API over wx.connectSocket → SocketTask ------------------------

// One SocketTask per socket, so several tunnels can be open at once (Wafer used the single
// global socket of wx.onSocket*). Events are delivered through `onopen`/`onmessage`/`onclose`/
// `onerror`, which is all the SDK sets.
//
// WeChat allows MAX_SOCKET_TASKS SocketTasks at once and answers the next connectSocket with a
// bare "exceed max task count". This layer never asks for more: the constructor throws a
// SocketLimitError (code ERR_SOCKET_LIMIT) instead, which the tunnel reports as its `error`
// event ({code: 3001, message}) and retries with its backoff, so it connects once another
// tunnel closes. A task counts from connectSocket until its close is reported.
const MAX_SOCKET_TASKS = 5;
function socketLimitError() {
  const e = new Error(
    'ERR_SOCKET_LIMIT: ' + MAX_SOCKET_TASKS + ' SocketTasks are open, the most WeChat allows: close a tunnel first',
  );
  e.name = 'SocketLimitError';
  e.code = 'ERR_SOCKET_LIMIT';
  return e;
}
function wxWebSocket(wx) {
  let tasks = 0;
  function WxSocket(url, protocols) {
    if (tasks >= MAX_SOCKET_TASKS) throw socketLimitError();
    this.url = String(url);
    this.readyState = 0;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    const fire = (name, ev) => {
      const f = this['on' + name];
      if (typeof f === 'function') f.call(this, ev);
    };
    const closed = (code, reason) => {
      if (this.readyState === 3) return;
      this.readyState = 3;
      tasks--;
      fire('close', { type: 'close', code, reason, wasClean: code !== 1006 });
    };
    this._fire = fire;
    const options = {
      url: this.url,
      fail: (err) => {
        fire('error', { type: 'error', message: errMsgOf(err) });
        closed(1006, errMsgOf(err));
      },
    };
    if (protocols) options.protocols = [].concat(protocols);
    const task = wx.connectSocket(options);
    tasks++;
    this._task = task;
    if (!task || typeof task.onOpen !== 'function') {
      throw new Error('wx.connectSocket returned no SocketTask (base library ≥ 1.7.0 is required)');
    }
    task.onOpen(() => {
      if (this.readyState !== 0) return;
      this.readyState = 1;
      fire('open', { type: 'open' });
    });
    task.onMessage((res) => fire('message', { type: 'message', data: res && res.data }));
    task.onError((res) => fire('error', { type: 'error', message: errMsgOf(res) }));
    task.onClose((res) => closed((res && res.code) || 1006, (res && res.reason) || ''));
  }
  WxSocket.CONNECTING = 0;
  WxSocket.OPEN = 1;
  WxSocket.CLOSING = 2;
  WxSocket.CLOSED = 3;
  WxSocket.prototype.send = function send(data) {
    if (this.readyState !== 1) throw new Error('WebSocket is not open');
    this._task.send({
      data,
      fail: (err) => this._fire('error', { type: 'error', message: errMsgOf(err) }),
    });
  };
  WxSocket.prototype.close = function close(code, reason) {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    this._task.close({ code: code === undefined ? 1000 : code, reason: reason || '' });
  };
  return WxSocket;
}

// ---- storage: localStorage's API over wx's synchronous storage ----------------------------

// JSON objects are stored as objects, the way Wafer stored its session under the same key, so
// an app moving from Wafer keeps its users signed in (and the other way round).
function wxStorage(wx) {
  return {
    getItem(key) {
      const v = wx.getStorageSync(key);
      if (v === '' || v === undefined || v === null) return null;
      return typeof v === 'string' ? v : JSON.stringify(v);
    },
    setItem(key, value) {
      let stored = String(value);
      if (/^[{[]/.test(stored)) {
        try {
          stored = JSON.parse(stored);
        } catch (e) {
          // Not JSON after all: keep the text.
        }
      }
      wx.setStorageSync(key, stored);
    },
    removeItem(key) {
      wx.removeStorageSync(key);
    },
  };
}

// ---- wake-ups: `online` and `visibilitychange` over wx's app and network events -----------

// The tunnel skips the rest of its reconnect backoff when the network comes back or the page
// becomes visible; in a mini-program those are wx.onNetworkStatusChange and wx.onAppShow.
function wxEvents(wx) {
  const doc = { visibilityState: 'visible' };
  const installed = new Map(); // listener → [off function name, wx handler]
  const on = (onName, offName, listener, handler) => {
    if (typeof wx[onName] !== 'function' || installed.has(listener)) return;
    wx[onName](handler);
    installed.set(listener, [offName, handler]);
  };
  const off = (listener) => {
    const entry = installed.get(listener);
    if (!entry) return;
    installed.delete(listener);
    if (typeof wx[entry[0]] === 'function') wx[entry[0]](entry[1]);
  };
  let tracking = false;
  doc.addEventListener = (type, listener) => {
    if (type !== 'visibilitychange') return;
    if (!tracking && typeof wx.onAppHide === 'function') {
      tracking = true;
      wx.onAppHide(() => (doc.visibilityState = 'hidden'));
    }
    on('onAppShow', 'offAppShow', listener, () => {
      doc.visibilityState = 'visible';
      listener({ type: 'visibilitychange' });
    });
  };
  doc.removeEventListener = (type, listener) => off(listener);
  return {
    document: doc,
    addEventListener(type, listener) {
      if (type !== 'online') return;
      on('onNetworkStatusChange', 'offNetworkStatusChange', listener, (res) => {
        if (res && res.isConnected) listener({ type: 'online' });
      });
    },
    removeEventListener(type, listener) {
      off(listener);
    },
  };
}

// ---- the two platforms --------------------------------------------------------------------

// A clock that never goes back (the tunnel's timers need a monotonic time base; wx has no
// `performance.now()` in milliseconds). Wall-clock jumps forward only fire timers early.
function monotonicClock() {
  const start = Date.now();
  let last = 0;
  return {
    now() {
      const t = Date.now() - start;
      if (t > last) last = t;
      return last;
    },
  };
}

const realGlobal = typeof globalThis === 'object' ? globalThis : undefined;
const pick = (name) => (realGlobal && typeof realGlobal[name] === 'function' ? realGlobal[name].bind(realGlobal) : undefined);
const microtask = (f) => {
  Promise.resolve().then(f);
};

/**
 * The mini-program platform: every name the module reads, built over `wx`. `globalThis` is
 * what the module sees as its global object (Rust's `js_sys::global()`).
 */
function wxPlatform(wx) {
  const decoder = typeof TextDecoder === 'function' ? new TextDecoder() : new TextDecoderLite();
  const events = wxEvents(wx);
  const queue = pick('queueMicrotask') || microtask;
  const view = {
    localStorage: wxStorage(wx),
    WebSocket: wxWebSocket(wx),
    document: events.document,
    addEventListener: events.addEventListener,
    removeEventListener: events.removeEventListener,
    queueMicrotask: queue,
  };
  return {
    name: 'wx',
    globalThis: view,
    fetch: wxFetch(wx, decoder),
    AbortSignal: TimeoutSignal,
    performance: monotonicClock(),
    setTimeout: (f, ms) => setTimeout(f, ms),
    clearTimeout: (h) => clearTimeout(h),
    queueMicrotask: queue,
    TextEncoder: typeof TextEncoder === 'function' ? TextEncoder : TextEncoderLite,
    TextDecoder: typeof TextDecoder === 'function' ? TextDecoder : TextDecoderLite,
    console,
  };
}

/** The browser platform: the real globals (what the ES module entry uses directly). */
function browserPlatform() {
  const g = realGlobal;
  return {
    name: 'browser',
    globalThis: g,
    fetch: pick('fetch'),
    AbortSignal: g.AbortSignal,
    performance: g.performance || monotonicClock(),
    setTimeout: pick('setTimeout'),
    clearTimeout: pick('clearTimeout'),
    queueMicrotask: pick('queueMicrotask') || microtask,
    TextEncoder: g.TextEncoder || TextEncoderLite,
    TextDecoder: g.TextDecoder || TextDecoderLite,
    console: g.console,
  };
}

/** `wx` when the code runs in a mini-program (or under a faithful shim), else `null`. */
function detectWx() {
  // `wx` is a free global in mini-programs, not always a property of `globalThis`.
  // eslint-disable-next-line no-undef
  const w = typeof wx === 'object' && wx ? wx : realGlobal && realGlobal.wx;
  return w && typeof w.request === 'function' && typeof w.connectSocket === 'function' ? w : null;
}

// ---- login credentials: wx.login (+ wx.getUserInfo) ----------------------------------------

/**
 * What Wafer's login sends: `{code}` from wx.login, plus `{encryptedData, iv}` from
 * wx.getUserInfo when `withUserInfo` (Wafer's `login`; its `loginWithCode` and re-logins send
 * the code only). Failures are `RequestError(ERR_WX_LOGIN_FAILED / ERR_WX_GET_USER_INFO)`.
 */
function wxCredentials(wx, withUserInfo, opts, RequestError) {
  return wxCall(wx, 'login', {})
    .then((res) => {
      if (!res || typeof res.code !== 'string' || !res.code) throw { errMsg: 'wx.login answered no code' };
      return res.code;
    })
    .catch((err) => {
      throw new RequestError('ERR_WX_LOGIN_FAILED', 'wx.login failed: ' + errMsgOf(err));
    })
    .then((code) => {
      if (!withUserInfo) return { code };
      const args = { withCredentials: true };
      if (opts && typeof opts.lang === 'string') args.lang = opts.lang;
      return wxCall(wx, 'getUserInfo', args).then(
        (u) => ({ code, encryptedData: u.encryptedData, iv: u.iv, userInfo: u.userInfo }),
        (err) => {
          throw new RequestError('ERR_WX_GET_USER_INFO', 'wx.getUserInfo failed: ' + errMsgOf(err));
        }
      );
    });
}

module.exports = {
  wxPlatform,
  browserPlatform,
  detectWx,
  wxCredentials,
  TextEncoderLite,
  TextDecoderLite,
};
