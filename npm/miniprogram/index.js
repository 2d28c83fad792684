// Entry of the `cometa` package in WeChat mini-programs (`require('cometa')` after DevTools'
// "Build npm", which copies this directory to miniprogram_npm/cometa/; `cometa/miniprogram`
// elsewhere). The same names as the ES module entry, with Wafer's mini-program behaviour:
//
// - the platform is chosen at start-up: `wx` when present (wx.request, wx.connectSocket,
//   wx storage, wx.login), else the browser globals (platform.js);
// - the module is loaded with `WXWebAssembly.instantiate(path)` from a file in the package
//   (default `/miniprogram_npm/cometa/cometa_sdk_bg.wasm`; `configure({ wasmPath })`), on
//   first use or when `ready()` is called. Every function may be called before that: calls
//   wait for the module, settings are applied once it is there;
// - `login()` / `loginWithCode()` without a code call wx.login (and for `login`,
//   wx.getUserInfo) and send `X-WX-Code` (+ `X-WX-Encrypted-Data`, `X-WX-IV`) like Wafer;
//   `request({login: true})`, re-logins and tunnels use wx.login codes.
'use strict';

const bind = require('./cometa_sdk.js');
const platforms = require('./platform.js');

const DEFAULT_WASM_PATH = '/miniprogram_npm/cometa/cometa_sdk_bg.wasm';

const wx = platforms.detectWx();
const platform = wx ? platforms.wxPlatform(wx) : platforms.browserPlatform();
// The glue, evaluated against the platform. Its functions exist now; they work once the
// WebAssembly instance is attached (`load`).
const glue = bind(platform);
const { RequestError } = glue.host; // js/host.js's class, the one the module throws
const constants = bind.constants;

let sdk = null; // `glue` once instantiated
let loading = null;
let wasmPath = DEFAULT_WASM_PATH;
let loginUrl; // mirrored so `login()` can report a missing URL before asking wx.login
// Settings made before the module is there, applied in order once it is.
const pending = [];
// Our code provider: wx.login unless the app sets one. Re-logins (`request({login})`, a 401,
// the tunnel's connect URL) ask it; `login()`/`loginWithCode()` without a code too.
let customProvider = null;
const wxCode = () => platforms.wxCredentials(wx, false, null, RequestError).then((c) => c.code);
const codeProvider = () => (customProvider ? customProvider() : wx ? wxCode() : Promise.reject(new RequestError(constants.errorTypes.ERR_WX_LOGIN_FAILED, 'no wx.login here: pass opts.code or set a provider with setCodeProvider(fn)')));

function instantiate(path, imports) {
  const WXWA = typeof WXWebAssembly === 'object' && WXWebAssembly ? WXWebAssembly : null; // eslint-disable-line no-undef
  if (!WXWA) return Promise.reject(new Error('cometa: WXWebAssembly is not available (WeChat base library ≥ 2.13.0 is required)'));
  return WXWA.instantiate(path, imports);
}

/** Loads the module (once); resolves when every function works synchronously. */
function ready() {
  if (!loading) {
    loading = Promise.resolve()
      .then(() => instantiate(wasmPath, glue.__wbg_get_imports()))
      .then((result) => {
        glue.__wbg_finalize_init(result.instance || result, result.module);
        glue.host.setCodeProvider(codeProvider);
        sdk = glue;
        for (const apply of pending.splice(0)) {
          try {
            apply();
          } catch (e) {
            platform.console.error('cometa: a setting made before the module loaded failed', e);
          }
        }
        for (const t of waitingTunnels.splice(0)) t._attach();
      });
    loading.catch((e) => platform.console.error('cometa: loading the WebAssembly module failed from ' + wasmPath, e));
  }
  return loading;
}

const isObject = (o) => o !== null && typeof o === 'object';
const hasCallbacks = (o) => isObject(o) && ['success', 'fail', 'complete'].some((k) => typeof o[k] === 'function');
const callUser = (f, v) => {
  if (typeof f !== 'function') return;
  try {
    f(v);
  } catch (e) {
    platform.console.error('cometa: a callback threw', e);
  }
};

// Wafer's convention (as in the module): callbacks when any is given, then `undefined` is
// returned; otherwise the Promise.
function settle(o, promise) {
  if (!hasCallbacks(o)) return promise;
  promise.then(
    (v) => {
      callUser(o.success, v);
      callUser(o.complete, v);
    },
    (e) => {
      callUser(o.fail, e);
      callUser(o.complete, e);
    }
  );
  return undefined;
}

// A module function that returns a Promise or calls back: runs now when loaded, else once
// loaded (a failed load is reported like any failure).
function deferred(name) {
  return function (options) {
    if (sdk) return sdk[name].apply(null, arguments);
    const args = arguments;
    const strip = hasCallbacks(options);
    const work = ready().then(() => sdk[name].apply(null, strip ? [withoutCallbacks(options)].concat([].slice.call(args, 1)) : args));
    return settle(options, work);
  };
}

function withoutCallbacks(o) {
  const copy = Object.assign({}, o);
  delete copy.success;
  delete copy.fail;
  delete copy.complete;
  return copy;
}

// A setter: applied now when loaded, else once loaded. Type errors are thrown now.
function setting(apply) {
  if (sdk) return apply();
  pending.push(apply);
  return undefined;
}

function invalid(message) {
  return new RequestError(constants.errorTypes.ERR_INVALID_PARAMS, message);
}

function setLoginUrl(url) {
  if (url !== null && url !== undefined && typeof url !== 'string') throw invalid('setLoginUrl(url): url must be a string');
  loginUrl = url || undefined;
  setting(() => glue.host.setLoginUrl(url));
}

function setCodeProvider(provider) {
  if (provider !== null && provider !== undefined && typeof provider !== 'function') throw invalid('setCodeProvider(fn): fn must be a function');
  customProvider = provider || null;
}

// `configure({ loginUrl?, codeProvider?, WebSocket?, wasmPath? })`: `wasmPath` (ours) is the
// package path of the .wasm, read when the module loads; the rest as in the browser entry.
function configure(options) {
  if (!isObject(options)) throw invalid('configure(options): options must be an object');
  const rest = Object.assign({}, options);
  if ('wasmPath' in rest) {
    if (typeof rest.wasmPath !== 'string' || !rest.wasmPath) throw invalid('configure: wasmPath must be a package path such as /cometa_sdk_bg.wasm');
    if (loading) platform.console.error('cometa: configure({ wasmPath }) after the module started loading has no effect');
    wasmPath = rest.wasmPath;
    delete rest.wasmPath;
  }
  if ('codeProvider' in rest) {
    setCodeProvider(rest.codeProvider);
    delete rest.codeProvider;
  }
  if ('loginUrl' in rest) {
    setLoginUrl(rest.loginUrl);
    delete rest.loginUrl;
  }
  if (Object.keys(rest).length) setting(() => glue.host.configure(rest));
}

// `login` (with user info, as Wafer's) and `loginWithCode` (the code only): the credentials
// come from wx (or the app's code provider) unless `opts.code` is given.
function loginWith(name, withUserInfo) {
  return function (options) {
    const o = options === undefined || options === null ? {} : options;
    if (!isObject(o) || (typeof o.code === 'string' && o.code)) return deferred(name)(options);
    if (!o.loginUrl && !loginUrl) {
      // Before asking wx.login (whose code would be wasted): the module reports it.
      return deferred(name)(o);
    }
    const userInfo = withUserInfo && !customProvider && wx && !(o.encryptedData && o.iv) && o.userInfo !== false;
    const credentials = customProvider
      ? Promise.resolve()
          .then(() => customProvider())
          .then(
            (code) => ({ code }),
            (e) => {
              throw new RequestError(constants.errorTypes.ERR_WX_LOGIN_FAILED, 'the code provider failed: ' + ((e && e.message) || e));
            }
          )
      : wx
        ? platforms.wxCredentials(wx, userInfo, o, RequestError)
        : codeProvider().then((code) => ({ code }));
    const work = Promise.all([credentials, ready()]).then(([c]) => {
      const opts = withoutCallbacks(o);
      opts.code = c.code;
      if (c.encryptedData !== undefined) opts.encryptedData = c.encryptedData;
      if (c.iv !== undefined) opts.iv = c.iv;
      return sdk[name](opts);
    });
    return settle(o, work);
  };
}

const login = loginWith('login', true);
const loginWithCode = loginWith('loginWithCode', false);
const request = deferred('request');

// `Session.get/set/clear`: synchronous; before the module is loaded they use the storage
// directly (same key, same JSON), after it the module's.
const SESSION_KEY = 'weapp_session_F2C224D4-2BCE-4C64-AF9F-A6D872000D1A';
const storage = () => platform.globalThis && platform.globalThis.localStorage;
const Session = {
  get() {
    if (sdk) return glue.host.sessionGet();
    try {
      const text = storage().getItem(SESSION_KEY);
      return text ? JSON.parse(text) : null;
    } catch (e) {
      return null;
    }
  },
  set(session) {
    if (sdk) return sdk.sessionSet(session);
    if (session === null || session === undefined) return Session.clear();
    storage().setItem(SESSION_KEY, JSON.stringify(session));
  },
  clear() {
    if (sdk) return sdk.clearSession();
    storage().removeItem(SESSION_KEY);
  },
};
const clearSession = () => Session.clear();

// `Tunnel`: the module's, behind a small proxy so one can be constructed, listened to and
// opened before the module is loaded; the calls are replayed in order once it is.
const waitingTunnels = [];

class Tunnel {
  constructor(serviceUrl, options) {
    this._args = [serviceUrl, options];
    this._calls = [];
    this._inner = null;
    if (sdk) this._attach();
    else {
      waitingTunnels.push(this);
      ready();
    }
  }

  _attach() {
    this._inner = new sdk.Tunnel(this._args[0], this._args[1]);
    for (const [method, args] of this._calls.splice(0)) {
      try {
        this._inner[method].apply(this._inner, args);
      } catch (e) {
        platform.console.error('cometa: tunnel.' + method + ' failed', e);
      }
    }
  }

  _call(method, args) {
    if (this._inner) return this._inner[method].apply(this._inner, args);
    this._calls.push([method, args]);
    return undefined;
  }

  open() {
    this._call('open', []);
  }
  close() {
    this._call('close', []);
  }
  on(type, handler) {
    this._call('on', [type, handler]);
  }
  emit(type, content) {
    if (typeof type !== 'string') throw invalid('tunnel.emit(type, content): type must be a string');
    this._call('emit', [type, content]);
  }

  get status() {
    if (this._inner) return this._inner.status;
    const opened = this._calls.some(([m]) => m === 'open');
    return opened ? constants.tunnel.STATUS_CONNECTING : constants.tunnel.STATUS_CLOSED;
  }
  get socketUrl() {
    return this._inner ? this._inner.socketUrl : null;
  }
  get serviceUrl() {
    return this._inner ? this._inner.serviceUrl : this._args[0];
  }
  isActive() {
    return this.status === constants.tunnel.STATUS_ACTIVE;
  }
  isClosed() {
    return this.status === constants.tunnel.STATUS_CLOSED;
  }
  isConnecting() {
    return this.status === constants.tunnel.STATUS_CONNECTING;
  }
  isReconnecting() {
    return this.status === constants.tunnel.STATUS_RECONNECTING;
  }
}
for (const key of Object.keys(constants.tunnel)) {
  Object.defineProperty(Tunnel, key, { value: constants.tunnel[key], enumerable: true });
}
// Read when a tunnel is constructed, from js/host.js's object (loaded or not).
for (const key of ['MAX_RECONNECT_TRY_TIMES', 'RECONNECT_TIME_INCREASE']) {
  Object.defineProperty(Tunnel, key, {
    enumerable: true,
    get: () => glue.host.statics[key],
    set: (v) => (glue.host.statics[key] = v),
  });
}

const api = {
  setLoginUrl,
  setCodeProvider,
  configure,
  login,
  loginWithCode,
  request,
  Session,
  clearSession,
  Tunnel,
  RequestError,
  ready,
  /** `'wx'` in a mini-program, `'browser'` elsewhere. */
  platform: platform.name,
};
// Functions the module exports beyond these (added to the SDK later) keep the same names
// here: they wait for the module like `request` does.
const INTERNAL = /^(__wbg_|initSync$|requestErrorClass$|errorTypes$)/;
for (const name of bind.exportNames) {
  if (/^[a-z]/.test(name) && !(name in api) && !INTERNAL.test(name) && typeof glue[name] === 'function') api[name] = deferred(name);
}
Object.assign(api, constants.errorTypes);
// `const qcloud = require('cometa')` (Wafer's style) and `import qcloud from 'cometa'`.
api.default = api;
module.exports = api;
