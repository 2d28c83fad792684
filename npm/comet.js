// Entry `cometa/comet`: CppComet's CometServer API (`CometServerApi.js`) over the relay's
// native dialect. Loads its own WebAssembly module (`dist/cometa_comet_bg.wasm`, built from
// `sdk-wasm/` with the `comet` feature); the Wafer API (`cometa`) is a separate module, so a
// page downloads only the one it imports, and a page that imports both gets one module with
// both (see `load.js`). No top-level await (see `load.js`): a `CometApi` made before the
// module is there queues its calls. The glue is imported on the first load; `install` then
// puts the methods below (`proto`) on its `CometApi`, where `original(name)` calls the
// module's own.
import { loader, deferredClass, LATER } from './load.js';
import { canShare, share, unshare, sharedOf } from './dist/cometa_comet_shared.js';
import { deviceId, tabId } from './dist/snippets/cometa-sdk/js/comet.js';

let RealCometApi;
// The methods `install` puts on the module's class; `original(name)` calls its own.
const proto = {};
const originals = {};
const original = (name) =>
  function (...a) {
    return originals[name].apply(this, a);
  };

/** Resolves once the module is loaded; `CometServer().start()` also loads it. */
export const ready = () => L.ready();

// Answers before the module is there. `subscription` ids are the module's own: it numbers
// an instance's subscriptions 1, 2, … in call order, and the queue replays them in that order.
const cometBefore = (prop, args, calls) =>
  ({
    start: () => true,
    restart: () => true,
    web_pipe_send: (pipe, event, msg) => /^(web_|webauth_|@web_)/.test(msg === undefined ? String(pipe).split('.')[0] : String(pipe)),
    get_pipe_log: () => true,
    count_users_in_pipe: () => true,
    getTrackPipeUsers: (pipe) => /^track_/.test(String(pipe)),
    getUserData: () => true,
    unsubscription: () => true,
    subscription: () => calls.filter((c) => c === 'subscription' || c === 'subscription_once').length,
    subscription_once: () => calls.filter((c) => c === 'subscription' || c === 'subscription_once').length,
    multi_web_pipe_send: () => true,
    // Before the module: kept under the instance's `args` (one array per instance), and the
    // queued `setLogLevel` sets it on the real object once it is there.
    getLogLevel: () => levels.get(args) ?? storedLevel,
    setLogLevel: (level) => void levels.set(args, setLevel(level)),
    isAuthorized: () => false,
    isConnected: () => false,
    isMaster: () => true,
    connected: LATER,
  })[prop];

// State events and errors (`on`, `off`, `once`): the module calls one dispatcher per
// connection with `(event, code, text)`; the handlers run in a microtask, so they may call any
// method. CppComet-style callbacks next to its `onAuthSuccess`: `onConnected(cb)` is
// `on('connected', cb)`. `connected()`: a Promise of the next connection (at once when
// connected), rejected with `{code, reason}` when the session stops instead.
// The persistent device id (`localStorage`, the `auth` frame's `device`) and this page's id:
// the module's JS snippet makes both, so they need no call through the module.
proto.getUUID = deviceId;
proto.getTabUUID = tabId;
const registries = new WeakMap();
function handlers(api) {
  let m = registries.get(api);
  if (!m) {
    registries.set(api, (m = new Map()));
    api.setEmitter((event, code, text) =>
      queueMicrotask(() => {
        const arg = event === 'error' ? { code, message: text } : { code, reason: text };
        // A leading tab's states are every sharing tab's (see `sdk-wasm/js/comet-shared.js`).
        sharedOf(api)?.event(event, arg);
        fire(api, event, arg);
      }),
    );
  }
  return m;
}
function fire(api, event, arg) {
  if (levelOf(api) > 0) console.log('[cometa]', event, arg);
  for (const f of handlers(api).get(event) || []) {
    try {
      f(arg);
    } catch (e) {
      console.error('cometa: a callback threw', e);
    }
  }
}
proto.on = function (event, handler) {
  if (typeof handler === 'function') {
    const m = handlers(this);
    m.set(event, [...(m.get(event) || []), handler]);
  }
  return this;
};
proto.off = function (event, handler) {
  const m = handlers(this);
  const keep = (f) => handler !== undefined && f !== handler && f.handler !== handler;
  m.set(event, (m.get(event) || []).filter(keep));
  return this;
};
proto.once = function (event, handler) {
  const once = (arg) => {
    this.off(event, once);
    handler(arg);
  };
  once.handler = handler;
  return this.on(event, once);
};
for (const event of ['connecting', 'connected', 'disconnected', 'error']) {
  proto['on' + event[0].toUpperCase() + event.slice(1)] = function (callback) {
    this.on(event, callback);
  };
}
proto.connected = function () {
  return new Promise((resolve, reject) => {
    if (this.isConnected()) return resolve();
    const settle = (f) => (arg) => {
      this.off('connected', ok);
      this.off('disconnected', ko);
      f(arg);
    };
    const ok = settle(resolve);
    const ko = settle(reject);
    this.on('connected', ok);
    this.on('disconnected', ko);
  });
};

// CppComet's log level: 0 is quiet; above 0 the state changes and errors are logged, from 9
// also each message's pipe and event (never its data). Per instance; the last level set is
// kept in localStorage (`comet_LogLevel`) as CppComet does, and instances start with it, so it
// can be raised from the console and survives a reload.
const levels = new WeakMap();
let storedLevel = 0;
try {
  storedLevel = Number(globalThis.localStorage?.getItem('comet_LogLevel')) || 0;
} catch {
  // Storage may be denied (sandboxed frames): the level then lasts for this page only.
}
function setLevel(level) {
  storedLevel = Number(level) || 0;
  try {
    globalThis.localStorage?.setItem('comet_LogLevel', String(storedLevel));
  } catch {
    // As above: not kept, still applied.
  }
  return storedLevel;
}
function levelOf(api) {
  if (!levels.has(api)) levels.set(api, storedLevel);
  return levels.get(api);
}
proto.getLogLevel = function () {
  return levelOf(this);
};
proto.setLogLevel = function (level) {
  levels.set(this, setLevel(level));
  // Installs the state dispatcher, which logs even when the page registered no handler.
  handlers(this);
};

// A callback wrapped for what every subscription shares: messages sent by
// `multi_web_pipe_send` handled once (CppComet's `_cometApi_uuid`: the copies carry the same
// one), and the message log. Each callback remembers the ids it saw, so two callbacks for
// one message both get it; the memory is bounded.
const SEEN_IDS = 1000;
function wrap(api, callback) {
  if (typeof callback !== 'function') return callback;
  const seen = new Set();
  return (msg) => {
    const id = msg?.data?._cometApi_uuid;
    if (typeof id === 'string') {
      if (seen.has(id)) return;
      seen.add(id);
      if (seen.size > SEEN_IDS) seen.delete(seen.values().next().value);
    }
    if (levelOf(api) >= 9) console.log('[cometa] message', msg?.server_info?.pipe, msg?.server_info?.event);
    return callback(msg);
  };
}
// The tab's subscriptions are also kept here: while the tab shares a connection with other
// tabs, `sdk-wasm/js/comet-shared.js` hands the messages to them (once each per tab), and the module's
// own calls are skipped.
const realSubscription = original('subscription');
const subscriptions = new WeakMap();
function subsOf(api) {
  let m = subscriptions.get(api);
  if (!m) subscriptions.set(api, (m = new Map()));
  return m;
}
proto.subscription = function (name, callback) {
  const alone = typeof name === 'function';
  const cb = wrap(this, alone ? name : callback);
  const own = typeof cb === 'function' ? (msg) => (sharedOf(this) ? undefined : cb(msg)) : cb;
  const id = alone ? realSubscription.call(this, own) : realSubscription.call(this, name, own);
  subsOf(this).set(id, { name: alone ? '' : name, cb });
  sharedOf(this)?.subsChanged();
  return id;
};
const realUnsubscription = original('unsubscription');
proto.unsubscription = function (id) {
  subsOf(this).delete(id);
  sharedOf(this)?.subsChanged();
  return realUnsubscription.call(this, id);
};
const realUnsubscriptionAll = original('unsubscriptionAll');
proto.unsubscriptionAll = function () {
  // A leading tab's module also holds the channels of the other tabs: only this tab's go.
  if (sharedOf(this)) for (const id of [...subsOf(this).keys()]) this.unsubscription(id);
  else {
    subsOf(this).clear();
    realUnsubscriptionAll.call(this);
  }
};

// `onAuthSuccess`/`onAuthFalill` callbacks, also kept here: a tab that shares another tab's
// connection gets that one's answers.
const realOnAuthSuccess = original('onAuthSuccess');
const realOnAuthFalill = original('onAuthFalill');
const authCallbacks = new WeakMap();
function authOf(api) {
  let a = authCallbacks.get(api);
  if (!a) authCallbacks.set(api, (a = { ok: [], fail: [] }));
  return a;
}
proto.onAuthSuccess = function (callback) {
  if (typeof callback === 'function') authOf(this).ok.push(callback);
  return realOnAuthSuccess.call(this, callback);
};
proto.onAuthFalill = function (callback) {
  if (typeof callback === 'function') authOf(this).fail.push(callback);
  return realOnAuthFalill.call(this, callback);
};

// CppComet refuses, before sending, what only the back end may do: publishing outside
// `web_*`/`webauth_*` (and the relay's `@web_*`), and member lists of other than `track_*`.
const realSend = original('web_pipe_send');
proto.web_pipe_send = function (pipe, event, msg) {
  const name = msg === undefined ? String(pipe).split('.')[0] : String(pipe);
  if (!/^(web_|webauth_|@web_)/.test(name)) {
    console.error(`cometa: web_pipe_send: clients publish only on web_*, webauth_* and @web_* pipes, not \`${name}\``);
    return false;
  }
  const s = sharedOf(this);
  return s ? s.publish(pipe, event, msg) : realSend.call(this, pipe, event, msg);
};
const realTrackUsers = original('getTrackPipeUsers');
proto.getTrackPipeUsers = function (pipe, callback) {
  if (!/^track_/.test(String(pipe))) {
    console.error(`cometa: getTrackPipeUsers: only track_* pipes have members, not \`${pipe}\``);
    return false;
  }
  return ask(this, 'getTrackPipeUsers', realTrackUsers, [pipe], callback);
};

// Queries: in a tab that shares another tab's connection, that tab asks and answers here.
function ask(api, method, real, args, callback) {
  const s = sharedOf(api);
  return s ? s.query(method, args, callback) : real.call(api, ...args, callback);
}
const realPipeLog = original('get_pipe_log');
proto.get_pipe_log = function (pipe, callback) {
  const s = sharedOf(this);
  // Without a callback the entries go to the pipe's subscribers, here as in the module.
  const cb = typeof callback === 'function' || !s ? callback : (msg) => s.deliver(msg);
  return ask(this, 'get_pipe_log', realPipeLog, [pipe], cb);
};
const realCount = original('count_users_in_pipe');
proto.count_users_in_pipe = function (pipe, callback) {
  return ask(this, 'count_users_in_pipe', realCount, [pipe], callback);
};

// CppComet's `getUserData` answer: `{user_id, user_data}` with the stored JSON as text, ""
// when the back end set none (the module answers with the parsed data, or null).
const realGetUserData = original('getUserData');
proto.getUserData = function (userId, callback) {
  const cb =
    typeof callback === 'function'
      ? (a) =>
          callback(
            a && !a.error
              ? { ...a, data: { user_id: userId, user_data: a.data == null ? '' : JSON.stringify(a.data) } }
              : a,
          )
      : callback;
  return ask(this, 'getUserData', realGetUserData, [userId], cb);
};

/**
 * CppComet's `subscription_once`: `callback` gets the first message of `name`, then the
 * subscription ends. Returns the id for an earlier `unsubscription`.
 */
proto.subscription_once = function (name, callback) {
  let id;
  let done = false;
  id = this.subscription(name, (msg) => {
    if (done) return;
    done = true;
    // After this delivery: the module is dispatching to its callbacks right now.
    queueMicrotask(() => this.unsubscription(id));
    return callback(msg);
  });
  return id;
};

/**
 * CppComet's `multi_web_pipe_send`: sends `msg` `count` times (default 3), `interval` ms apart
 * (default 1000), each copy with the same `_cometApi_uuid`, so a flaky network loses it less
 * often and every receiving callback handles it at most once. `msg` must be an object.
 */
proto.multi_web_pipe_send = function (pipe, event, msg, count, interval) {
  const n = count || 3;
  const every = interval || 1000;
  const chars = 'qwertyuiopasdfghjklzxcvbnm1234567890QWERTYUIOPASDFGHJKLZXCVBNM';
  let id = 'jsapi';
  for (let i = 0; i < 11; i++) id += chars[Math.floor(Math.random() * chars.length)];
  const copy = { ...Object(msg), _cometApi_uuid: id };
  for (let i = 1; i < n; i++) setTimeout(() => this.web_pipe_send(pipe, event, copy), i * every);
  return this.web_pipe_send(pipe, event, copy);
};

// `configure({ WebSocket })`, as in the `cometa` entry: the implementation every `start()`
// uses unless its options name one (Node 20 has none: pass `ws`'s).
let defaultWebSocket;
export function configure(options) {
  const ws = Object(options).WebSocket;
  if (ws !== undefined) defaultWebSocket = ws || undefined;
}
// CppComet takes a JWT in `user_key`; the relay wants it as `token`. A user key that is a JWT
// (three base64url parts, the first a JSON header naming its `alg`) is sent as one, and
// `getUserKey()` still answers it.
function isJwt(key) {
  const parts = typeof key === 'string' ? key.split('.') : [];
  if (parts.length !== 3) return false;
  try {
    return typeof JSON.parse(atob(parts[0].replace(/-/g, '+').replace(/_/g, '/'))).alg === 'string';
  } catch {
    return false;
  }
}
const jwtKeys = new WeakMap();
function asToken(api, o) {
  const { user_key: key, ...rest } = Object(o);
  if (!isJwt(key) || rest.token) {
    if (key !== undefined) jwtKeys.delete(api);
    return o;
  }
  jwtKeys.set(api, key);
  return { ...rest, token: key };
}
const realUserKey = original('getUserKey');
proto.getUserKey = function () {
  return jwtKeys.get(this) ?? followed(this, 'user_key', realUserKey);
};

// What a tab that shares another tab's connection answers itself.
function followed(api, key, real) {
  const s = sharedOf(api);
  return s && !s.leader ? s.options[key] : real.call(api);
}
const realUserId = original('getUserId');
proto.getUserId = function () {
  return followed(this, 'user_id', realUserId);
};
const realDevId = original('getDevId');
proto.getDevId = function () {
  return followed(this, 'dev_id', realDevId);
};
const realIsConnected = original('isConnected');
proto.isConnected = function () {
  const s = sharedOf(this);
  return s && !s.leader ? s.connected : realIsConnected.call(this);
};
const realIsAuthorized = original('isAuthorized');
proto.isAuthorized = function () {
  const s = sharedOf(this);
  return s && !s.leader ? s.authorized : realIsAuthorized.call(this);
};
/** True in the one tab that runs a shared connection (and in every tab that does not share). */
proto.isMaster = function () {
  const s = sharedOf(this);
  return s ? s.leader : true;
};

// `start({ shared })`: options are merged as the module merges them, so a later `start` or
// `restart` keeps the choice.
const moduleStart = original('start');
const realStop = original('stop');
const realRestart = original('restart');
const startOptions = new WeakMap();
// Objects whose module runs a connection of the tab's own (`shared: false`, or no sharing here).
const ownConnection = new WeakSet();
const env = {
  reals: {
    start: moduleStart,
    stop: realStop,
    subscription: realSubscription,
    unsubscription: realUnsubscription,
    web_pipe_send: realSend,
    onAuthSuccess: realOnAuthSuccess,
    onAuthFalill: realOnAuthFalill,
    get_pipe_log: realPipeLog,
    count_users_in_pipe: realCount,
    getTrackPipeUsers: realTrackUsers,
    getUserData: realGetUserData,
  },
  subs: subsOf,
  auth: authOf,
  fire: (api, event, arg) => {
    handlers(api);
    fire(api, event, arg);
  },
};
const realStart = {
  call(api, options, callback) {
    const o = { ...startOptions.get(api), ...Object(options) };
    startOptions.set(api, o);
    if (!canShare(o)) {
      if (sharedOf(api)) unshare(api);
      ownConnection.add(api);
      return moduleStart.call(api, options, callback);
    }
    // Handlers first: the leader's module reports its states through them to every tab.
    handlers(api);
    if (ownConnection.delete(api)) realStop.call(api);
    return share(api, o, callback, env);
  },
};
proto.stop = function () {
  ownConnection.delete(this);
  if (sharedOf(this)) unshare(this);
  else realStop.call(this);
};
proto.restart = function (options) {
  const s = sharedOf(this);
  if (!s) return realRestart.call(this, options);
  // The leader restarts its module (new credentials of the same user); otherwise every tab
  // of the old user leaves the shared connection and joins that of the new options.
  const o = { ...startOptions.get(this), ...Object(options) };
  if (s.leader && String(o.user_id) === String(s.options.user_id) && canShare(o)) {
    startOptions.set(this, o);
    s.options = o;
    return realRestart.call(this, options);
  }
  return realStart.call(this, options);
};

proto.start = function (options, callback) {
  const o = asToken(this, defaultWebSocket && !Object(options).WebSocket ? { ...options, WebSocket: defaultWebSocket } : options);
  const getToken = Object(o).getToken;
  if (typeof getToken !== 'function') return realStart.call(this, o, callback);
  const { getToken: _, ...rest } = o;
  const source = tokenSource(this, getToken);
  if (rest.token) return realStart.call(this, rest, callback);
  // No token yet: the first one comes from getToken, as in centrifuge-js.
  source.fetch((token) => realStart.call(this, { ...rest, token }, callback));
  return true;
};

// `start({ getToken })`, centrifuge-js's refresh: `getToken()` (a token, or a Promise of one)
// is called for the first token when none is given, and again whenever the relay refuses the
// token (4004: it expired — JWT connections are checked when they authenticate, so a token
// that expires while connected is replaced at the next reconnect), then the connection
// restarts with the new one. Three refusals in a row, a getToken that fails or gives no
// token: the connection stops ('disconnected') and the failure is an 'error'.
const REFUSALS = 3;
const tokenSources = new WeakMap();
function tokenSource(api, getToken) {
  let src = tokenSources.get(api);
  if (src) {
    src.getToken = getToken;
    return src;
  }
  src = {
    getToken,
    refusals: 0,
    busy: false,
    fetch(use) {
      if (src.busy) return;
      src.busy = true;
      Promise.resolve()
        .then(() => src.getToken())
        .then((token) => {
          if (typeof token !== 'string' || !token) throw new Error('getToken gave no token');
          return token;
        })
        .then(
          (token) => {
            src.busy = false;
            use(token);
          },
          (e) => {
            src.busy = false;
            giveUp(api, `getToken failed: ${e && e.message ? e.message : e}`);
          },
        );
    },
  };
  tokenSources.set(api, src);
  realOnAuthSuccess.call(api, () => (src.refusals = 0));
  realOnAuthFalill.call(api, (a) => {
    if (a?.error?.code !== 4004) return;
    if (++src.refusals >= REFUSALS) return giveUp(api, `the relay refused ${REFUSALS} tokens in a row`);
    src.fetch((token) => api.restart({ token }));
  });
  return src;
}
function giveUp(api, message) {
  for (const f of handlers(api).get('error') || []) {
    try {
      f({ code: 4004, message });
    } catch (e) {
      console.error('cometa: a callback threw', e);
    }
  }
  api.stop();
}

// Last: in Node the module is loaded here, at once, and `proto` must be complete.
const L = loader('comet', () => import('./dist/cometa_comet.js'), new URL('./dist/cometa_comet_bg.wasm', import.meta.url), (glue) => {
  RealCometApi = glue.CometApi;
  const p = RealCometApi.prototype;
  for (const name of Object.getOwnPropertyNames(p)) {
    const d = Object.getOwnPropertyDescriptor(p, name);
    if (typeof d.value === 'function') originals[name] = d.value;
  }
  Object.assign(p, proto);
});
/** One connection with CppComet's API; in Node (module loaded at import) the module's class. */
export const CometApi = L.isLoaded() ? RealCometApi : deferredClass(L, () => RealCometApi, cometBefore);

let shared;

/** The page's shared connection, as CppComet's `CometServer()`; `new CometApi()` for more. */
export function CometServer() {
  return (shared ??= new CometApi());
}

export default CometServer;
