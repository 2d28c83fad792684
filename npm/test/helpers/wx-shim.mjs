// A WeChat mini-program in Node, faithful enough to run the `cometa` mini-program entry the
// way WeChat does:
//
// - `createWeChat()`: WeChat's servers as the tests need them — wx.login codes bound to an
//   openid and a session_key, single-use `code2session`, and user info encrypted with the
//   session_key (AES-128-CBC, as wx.getUserInfo's `encryptedData`/`iv`).
// - `startVerifier()`: the site's back end, the relay's delegated-auth verification URL: checks
//   `X-Cometa-Signature`, trades `X-WX-Code` through code2session, decrypts
//   `X-WX-Encrypted-Data` with `X-WX-IV`, answers `{user_id, userinfo}`; records every call.
// - `createMiniProgram()`: a `node:vm` context holding only what a mini-program's JS has —
//   ECMAScript built-ins (no WebAssembly), `wx`, `WXWebAssembly`, timers and `console`; no
//   fetch, WebSocket, localStorage, TextEncoder, performance or URL — and a CommonJS `require`
//   that maps `/miniprogram_npm/cometa/` to the package's `miniprogram/` directory.
//   `wx` implements request (over fetch), connectSocket → SocketTask (over `ws`, up to 5 at
//   once, each its own socket), the sync storage (values kept as JSON, like WeChat's), login,
//   getUserInfo, onNetworkStatusChange/onAppShow/onAppHide (and their `off*`), plus test
//   controls: `__setOnline(bool)` (drops every socket while offline), `__requests`,
//   `__sockets`, `__storage`.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import WebSocket from 'ws';

const PACKAGE_DIR = fileURLToPath(new URL('../../miniprogram/', import.meta.url));
const NPM_ROOT = '/miniprogram_npm/cometa/';

// ---- WeChat's servers ----------------------------------------------------------------------

export function createWeChat({ appid = 'wx0123456789abcdef' } = {}) {
  const codes = new Map(); // code → { openid, sessionKey, used }
  const sessions = new Map(); // openid → latest session_key
  return {
    appid,
    /** wx.login on the device: a fresh code for `openid`, valid once. */
    issueCode(openid) {
      const code = randomBytes(16).toString('hex');
      const sessionKey = randomBytes(16);
      codes.set(code, { openid, sessionKey, used: false });
      sessions.set(openid, sessionKey);
      return code;
    },
    /** wx.getUserInfo({withCredentials: true}): `userInfo` encrypted with the session_key. */
    encryptUserInfo(openid, userInfo) {
      const key = sessions.get(openid);
      if (!key) return null;
      const iv = randomBytes(16);
      const plain = JSON.stringify({ ...userInfo, openId: openid, watermark: { appid, timestamp: Math.floor(Date.now() / 1000) } });
      const c = createCipheriv('aes-128-cbc', key, iv);
      const encryptedData = Buffer.concat([c.update(plain, 'utf8'), c.final()]).toString('base64');
      return { encryptedData, iv: iv.toString('base64') };
    },
    /** The back end's `code2session`: `{openid, session_key}` once per code, else an errcode. */
    code2session(code) {
      const entry = codes.get(code);
      if (!entry) return { errcode: 40029, errmsg: 'invalid code' };
      if (entry.used) return { errcode: 40163, errmsg: 'code been used' };
      entry.used = true;
      return { openid: entry.openid, session_key: entry.sessionKey.toString('base64') };
    },
  };
}

/** Decrypts wx.getUserInfo's `encryptedData` the way WeChat's documentation says. */
export function decryptUserInfo(sessionKey, encryptedData, iv, appid) {
  const d = createDecipheriv('aes-128-cbc', Buffer.from(sessionKey, 'base64'), Buffer.from(iv, 'base64'));
  const data = JSON.parse(Buffer.concat([d.update(Buffer.from(encryptedData, 'base64')), d.final()]).toString('utf8'));
  if (!data.watermark || data.watermark.appid !== appid) throw new Error('watermark appid mismatch');
  return data;
}

// ---- the site's verification service (delegated auth) --------------------------------------

export async function startVerifier({ wechat, secret }) {
  const calls = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const answer = (status, obj) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(obj));
      };
      // Signed over `<timestamp>.<body>`; a receiver refuses timestamps more than 5 minutes off.
      const timestamp = String(req.headers['x-cometa-timestamp'] || '');
      const expected = 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
      const got = String(req.headers['x-cometa-signature'] || '');
      const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) <= 300;
      const signed =
        fresh && got.length === expected.length && timingSafeEqual(Buffer.from(got), Buffer.from(expected));
      let headers = {};
      try {
        headers = JSON.parse(body).headers || {};
      } catch {
        // recorded as is below
      }
      const call = { path: req.url, signed, headers, outcome: 'refused' };
      calls.push(call);
      if (req.method !== 'POST' || req.url !== '/verify' || !signed) return answer(403, { error: 'bad signature' });
      const s = wechat.code2session(headers['X-WX-Code']);
      if (s.errcode) {
        call.outcome = s.errmsg;
        return answer(401, { error: s.errmsg });
      }
      let userinfo = { openId: s.openid };
      if (headers['X-WX-Encrypted-Data'] || headers['X-WX-IV']) {
        try {
          const info = decryptUserInfo(s.session_key, headers['X-WX-Encrypted-Data'], headers['X-WX-IV'], wechat.appid);
          userinfo = { openId: s.openid, nickName: info.nickName, avatarUrl: info.avatarUrl };
        } catch (e) {
          call.outcome = 'bad encrypted data: ' + e.message;
          return answer(401, { error: 'bad encrypted data' });
        }
      }
      call.outcome = 'admitted';
      answer(200, { user_id: s.openid, userinfo });
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}/verify`,
    calls,
    close: () => new Promise((r) => server.close(r)),
  };
}

// ---- wx ------------------------------------------------------------------------------------

const isArrayBuffer = (v) => Object.prototype.toString.call(v) === '[object ArrayBuffer]';
const formEncode = (data) =>
  Object.keys(data)
    .map((k) => encodeURIComponent(k) + '=' + encodeURIComponent(typeof data[k] === 'object' ? JSON.stringify(data[k]) : data[k]))
    .join('&');

function createWx({ wechat, openid, userInfo }) {
  let online = true;
  const storage = new Map();
  const requests = [];
  const sockets = [];
  const listeners = { network: new Set(), show: new Set(), hide: new Set() };
  const later = (f) => setTimeout(f, 0);
  const finish = (o, ok, res) => {
    later(() => {
      (ok ? o.success : o.fail)?.(res);
      o.complete?.(res);
    });
  };

  const wx = {
    request(o) {
      const method = String(o.method || 'GET').toUpperCase();
      const header = { ...(o.header || {}) };
      const ctKey = Object.keys(header).find((k) => k.toLowerCase() === 'content-type');
      if (!ctKey) header['content-type'] = 'application/json'; // wx.request's default
      const ct = String(header[ctKey || 'content-type']);
      let url = String(o.url);
      let body;
      const data = o.data;
      if (data !== undefined && data !== null) {
        if (method === 'GET') {
          const q = typeof data === 'object' ? formEncode(data) : String(data);
          if (q) url += (url.includes('?') ? '&' : '?') + q;
        } else if (isArrayBuffer(data)) body = Buffer.from(data);
        else if (typeof data === 'string') body = data;
        else body = ct.includes('x-www-form-urlencoded') ? formEncode(data) : JSON.stringify(data);
      }
      requests.push({ url, method, header, body: body === undefined ? undefined : String(body) });
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new Error('timeout')), o.timeout > 0 ? o.timeout : 60000);
      (async () => {
        if (!online) throw new Error('net::ERR_INTERNET_DISCONNECTED');
        const res = await fetch(url, { method, headers: header, body, signal: controller.signal });
        const buf = await res.arrayBuffer();
        let payload;
        if (o.responseType === 'arraybuffer') payload = buf;
        else {
          payload = Buffer.from(buf).toString('utf8');
          if ((o.dataType ?? 'json') === 'json') {
            try {
              payload = JSON.parse(payload);
            } catch {
              // wx keeps the text
            }
          }
        }
        return { data: payload, statusCode: res.status, header: Object.fromEntries(res.headers), cookies: [], errMsg: 'request:ok' };
      })().then(
        (res) => {
          clearTimeout(timer);
          finish(o, true, res);
        },
        (e) => {
          clearTimeout(timer);
          finish(o, false, { errMsg: 'request:fail ' + (controller.signal.aborted ? 'timeout' : e.cause?.code || e.message) });
        }
      );
      return { abort: () => controller.abort(new Error('abort')) };
    },

    connectSocket(o) {
      const handlers = { open: [], message: [], close: [], error: [] };
      const emit = (kind, arg) => handlers[kind].slice().forEach((f) => f(arg));
      const entry = { url: o.url, state: 'connecting', ws: null };
      const task = {
        onOpen: (f) => handlers.open.push(f),
        onMessage: (f) => handlers.message.push(f),
        onClose: (f) => handlers.close.push(f),
        onError: (f) => handlers.error.push(f),
        send(s) {
          if (entry.state !== 'open') return finish(s, false, { errMsg: 'sendSocketMessage:fail WebSocket is not connected' });
          entry.ws.send(isArrayBuffer(s.data) ? Buffer.from(s.data) : String(s.data), (err) =>
            finish(s, !err, { errMsg: err ? 'sendSocketMessage:fail ' + err.message : 'sendSocketMessage:ok' })
          );
        },
        close(c = {}) {
          if (entry.ws && entry.state !== 'closed') entry.ws.close(c.code ?? 1000, c.reason || '');
          finish(c, true, { errMsg: 'closeSocket:ok' });
        },
      };
      const live = sockets.filter((s) => s.state !== 'closed').length;
      if (!online || live >= 5) {
        entry.state = 'closed';
        const errMsg = 'connectSocket:fail ' + (online ? 'exceed max task count' : 'network is down');
        finish(o, false, { errMsg });
        later(() => emit('error', { errMsg }));
        return task;
      }
      sockets.push(entry);
      const ws = new WebSocket(o.url, o.protocols || [], { headers: o.header || {} });
      entry.ws = ws;
      ws.on('open', () => {
        entry.state = 'open';
        emit('open', { header: {}, profile: {} });
      });
      ws.on('message', (d, binary) => emit('message', { data: binary ? new Uint8Array(d).slice().buffer : d.toString('utf8') }));
      ws.on('error', (e) => emit('error', { errMsg: e.message }));
      ws.on('close', (code, reason) => {
        entry.state = 'closed';
        emit('close', { code, reason: reason.toString() });
      });
      finish(o, true, { errMsg: 'connectSocket:ok' });
      return task;
    },

    // Values are kept as JSON, like WeChat's storage: objects come back as copies.
    setStorageSync(key, value) {
      storage.set(String(key), JSON.stringify(value));
    },
    getStorageSync(key) {
      const v = storage.get(String(key));
      return v === undefined ? '' : JSON.parse(v);
    },
    removeStorageSync(key) {
      storage.delete(String(key));
    },
    clearStorageSync() {
      storage.clear();
    },

    login(o = {}) {
      if (!online) return finish(o, false, { errMsg: 'login:fail network is down' });
      finish(o, true, { code: wechat.issueCode(openid), errMsg: 'login:ok' });
    },
    getUserInfo(o = {}) {
      const enc = o.withCredentials === false ? null : wechat.encryptUserInfo(openid, userInfo);
      if (o.withCredentials && !enc) return finish(o, false, { errMsg: 'getUserInfo:fail login required' });
      const rawData = JSON.stringify(userInfo);
      finish(o, true, { userInfo: { ...userInfo }, rawData, signature: createHmac('sha1', 'k').update(rawData).digest('hex'), ...(enc || {}), errMsg: 'getUserInfo:ok' });
    },

    onNetworkStatusChange: (f) => listeners.network.add(f),
    offNetworkStatusChange: (f) => listeners.network.delete(f),
    onAppShow: (f) => listeners.show.add(f),
    offAppShow: (f) => listeners.show.delete(f),
    onAppHide: (f) => listeners.hide.add(f),
    offAppHide: (f) => listeners.hide.delete(f),

    // ---- test controls ----
    __requests: requests,
    __sockets: sockets,
    __storage: storage,
    __listeners: listeners,
    /** Network down: requests and new sockets fail, open sockets drop (1006). Up: the
     * onNetworkStatusChange listeners hear `isConnected: true`. */
    __setOnline(value) {
      online = value;
      if (!value) for (const s of sockets) if (s.state !== 'closed') s.ws.terminate();
      for (const f of [...listeners.network]) f({ isConnected: value, networkType: value ? 'wifi' : 'none' });
    },
  };
  return wx;
}

// ---- the mini-program ------------------------------------------------------------------------

/**
 * A mini-program runtime with the package "built into" miniprogram_npm/cometa/. `require(path)`
 * loads a module by its package path (e.g. `'cometa'`, as a page would after "Build npm").
 */
export function createMiniProgram({ wechat, openid, userInfo = { nickName: 'Mini', avatarUrl: 'https://example.com/a.png' }, console: log = console }) {
  const wx = createWx({ wechat, openid, userInfo });
  const instantiated = [];
  const WXWebAssembly = {
    // Only a path inside the code package, like WeChat's.
    instantiate(path, imports) {
      instantiated.push(path);
      if (typeof path !== 'string' || !path.startsWith(NPM_ROOT) || !/\.wasm(\.br)?$/.test(path)) {
        return Promise.reject(new Error(`WXWebAssembly.instantiate: ${path} is not a .wasm file of the code package`));
      }
      let bytes;
      try {
        bytes = readFileSync(join(PACKAGE_DIR, path.slice(NPM_ROOT.length)));
      } catch (e) {
        return Promise.reject(new Error(`WXWebAssembly.instantiate: no file ${path}`));
      }
      return WebAssembly.instantiate(bytes, imports);
    },
  };
  const context = vm.createContext({ wx, WXWebAssembly, setTimeout, clearTimeout, setInterval, clearInterval, console: log });
  // iOS mini-programs have no WebAssembly; nothing in the SDK may use it.
  vm.runInContext('delete globalThis.WebAssembly;', context);

  const cache = new Map();
  const load = (virtualPath) => {
    if (cache.has(virtualPath)) return cache.get(virtualPath).exports;
    if (!virtualPath.startsWith(NPM_ROOT)) throw new Error(`module not found: ${virtualPath}`);
    const file = join(PACKAGE_DIR, virtualPath.slice(NPM_ROOT.length));
    const module = { exports: {} };
    cache.set(virtualPath, module);
    const fn = vm.compileFunction(readFileSync(file, 'utf8'), ['require', 'module', 'exports'], { parsingContext: context, filename: file });
    const localRequire = (spec) => load(resolve(spec, posix.dirname(virtualPath)));
    fn.call(module.exports, localRequire, module, module.exports);
    return module.exports;
  };
  const resolve = (spec, from) => {
    if (spec === 'cometa') return NPM_ROOT + 'index.js';
    if (spec.startsWith('.')) {
      const p = posix.join(from, spec);
      return p.endsWith('.js') ? p : p + '.js';
    }
    throw new Error(`module not found: ${spec} (mini-programs resolve only relative paths and miniprogram_npm)`);
  };
  return {
    wx,
    instantiated,
    context,
    require: (spec) => load(resolve(spec, '/')),
    /** Runs `code` as a mini-program script (CommonJS, like app.js or a page). */
    runScript(code, filename = '/app.js') {
      const fn = vm.compileFunction(code, ['require', 'module', 'exports'], { parsingContext: context, filename });
      const module = { exports: {} };
      fn.call(module.exports, (spec) => load(resolve(spec, '/')), module, module.exports);
    },
    /** Evaluates `code` inside the mini-program (e.g. to check which globals exist). */
    run: (code) => vm.runInContext(code, context),
  };
}

