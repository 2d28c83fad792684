// The CometServer API's JS side, imported by `src/comet/`: builders of the callback
// arguments, and the page's subscriptions, queries and callbacks, kept, matched and called
// here. Shipped next to the wasm as a wasm-bindgen snippet: an object literal or a loop over
// callbacks costs a few bytes here and much more as calls through the wasm boundary. No
// decisions about the connection are taken here: what is delivered, answered or subscribed
// is the module's.

// `{data, server_info}` as CppComet hands it to subscription callbacks. `user_id` is the
// sender stamped by the relay, 0 for the back end and anonymous senders (CppComet's value);
// `uuid` identifies a stored message across pages and reloads (`<epoch>:<seq>`).
function message(pipe, event, data, history, seq, userId, epoch) {
  return {
    data,
    server_info: {
      user_id: userId ?? 0,
      pipe,
      event,
      history,
      uuid: seq === undefined ? undefined : `${epoch ?? ''}:${seq}`,
      seq,
    },
  };
}

// A publication the module delivers live: its `pub:` body `text` (checked by the module, so
// the `catch` is only a safety net), read as the client core's `Publication` reads it (a
// string `event`, else ""; `data`, else null; a string `user_id`), its pipe, seq (NaN: none)
// and epoch ("": none).
function delivered(pipe, seq, text, epoch) {
  let p;
  try {
    p = JSON.parse(text);
  } catch {}
  p = Object(p);
  const str = (v) => (typeof v === 'string' ? v : undefined);
  return message(pipe, str(p.event) ?? '', p.data ?? null, false, isNaN(seq) ? undefined : seq, str(p.user_id), epoch);
}

// The entries of a `history` reply, oldest first, as messages with `history: true`.
function historyMessages(result, pipe) {
  const list = result?.publications || [];
  return list.map((p) => message(pipe, p.event, p.data, true, p.seq, p.user_id, result.epoch));
}

// The argument of a query callback: its `data`, or `data: null` and an `error`.
function answer(pipe, data, code, text) {
  const a = { data, server_info: { pipe } };
  if (code !== undefined) a.error = { code, message: text };
  return a;
}

// Callback arguments of the module's outputs (kinds as in src/comet/mod.rs): 0 a login's
// `{user_id: a, device: b}`; 1 stream `a` could not be resumed from `{seq: n, epoch: b}`
// (`sys.recovery`); 2 a publish's report on pipe `a`, event `b`: `{seq: n}` (NaN: null);
// 3 its failure `{error: {code: n, message: text}}`; 4 a refused request's answer on pipe
// `a`: `{data: null, error: {code: n, message: text}}`. Logged, nothing returned: 5 the relay
// refused to subscribe to `a` for `text`; 6 no socket to `a` could be opened (`text`: why).
// 7 a publication (`delivered`: pipe `a`, epoch `b`, seq `n`, body `text`).
export function note(kind, a, b, n, text) {
  if (kind === 7) return delivered(a, n, text, b);
  if (kind === 0) return answer('msg', { user_id: a, device: b });
  if (kind === 5) return console.error(`cometa: cannot subscribe to ${a}`, text);
  if (kind === 6) return console.error(text, a);
  if (kind === 4) return answer(a, null, n, text);
  if (kind === 1) return message('sys', 'recovery', { pipe: a, recovered: false, seq: n, epoch: b }, false);
  const data = kind === 2 ? { seq: isNaN(n) ? null : n } : { error: { code: n, message: text } };
  return message(a, b, data, false);
}

// A query's answer from the relay's reply `r` (kinds: 1 count, 2 members, 3 user data).
function queryAnswer(kind, pipe, r) {
  r = Object(r);
  return answer(pipe, kind === 1 ? { user_in_pipe: r.count } : kind === 2 ? (r.users === undefined ? [] : r.users) : r.data);
}

// A random id of `n` characters from [A-Za-z0-9] (device and tab ids).
function randomId(n) {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  const bytes = new Uint8Array(n);
  // Without Web Crypto: Math.random, truncated into each byte.
  for (const b of globalThis.crypto?.getRandomValues?.(bytes) ?? bytes.map(() => Math.random() * 256)) s += abc[b % 62];
  return s;
}

// The relay's `/connect` URL from the `node` option: `https://host` → `wss://host/connect`,
// a bare `host[:port]` takes the page's scheme, `ws(s)://…` is used as given; no `node`: the
// page's own origin.
function connectUrl(node) {
  const loc = globalThis.location;
  let base = node || loc?.origin || '';
  if (!base || base === 'null') return '';
  if (!/^[a-z]+:\/\//i.test(base)) base = (loc?.protocol === 'https:' ? 'https://' : 'http://') + base;
  if (/^wss?:/i.test(base)) return base;
  return base.replace(/^http/i, 'ws').replace(/\/+$/, '') + '/connect';
}

// `String(v)`, but "" for null and undefined (a query's pipe or user id).
export const text = (v) => (v == null ? '' : String(v));

// `web_pipe_send`'s arguments as `[pipe, event, JSON text of msg]`: `(pipe, event, msg)`, or
// CppComet's two-argument form `("pipe.event", msg)` (its event name was "undefined" without
// a dot). `pipe` is taken as `String()` makes it. What that throws (`msg` not
// JSON-encodable) comes back alone, `[thrown]`, for the module to throw to the caller (no
// `catch` import: its glue and the module's exception slot cost more).
export function pipeArgs(pipe, event, msg) {
  try {
    pipe = String(pipe);
    if (msg === undefined) {
      const i = pipe.indexOf('.');
      msg = event;
      event = i < 0 ? 'undefined' : pipe.slice(i + 1);
      if (i >= 0) pipe = pipe.slice(0, i);
    } else event = [event].join('');
    return [pipe, event, JSON.stringify(msg) ?? 'null'];
  } catch (e) {
    return [e];
  }
}

// `start`'s options `o`, merged into those of earlier calls kept in `l.o` (see the page's
// state below), and its callback `cb` kept in `l.cb` (`keep`: `restart`, the last one stays).
// Keeps what storage needs in `l`: `p` persist (default true), `u` the relay's URL, `w` the
// owner of stored positions and publishes. A user id or key may be a number (CppComet's
// examples). With a token or a session key the user is known only after `auth`: the owner
// is the `user_id` given with it, else `session`; anonymous (and before any `start`):
// `anon`. Returns what `start` reads: `[credentials (0 none, 1 user_id + user_key, 2 token,
// 3 skey: CppComet's user key first, then a JWT, then a Wafer session key; + 4 with persist,
// + 8 when kept publishes moved to another relay or owner), the user id, JWT or session key,
// the user key, the relay's URL, the device id]`.
export function startOptions(l, o, cb, keep) {
  if (!keep) l.cb = cb;
  if (typeof o === 'object' && o !== null) l.o = Object.assign({}, l.o, o);
  o = l.o ||= {};
  const text = (k, v = o[k]) => (typeof v === 'number' ? '' + v : (typeof v === 'string' && v) || undefined);
  const id = text('user_id');
  const key = text('user_key');
  const other = text('token') || text('skey');
  const kind = id && key ? 1 : text('token') ? 2 : other ? 3 : 0;
  const node = typeof o.node === 'string' ? o.node : undefined;
  const owner = kind === 1 ? id : kind ? id || 'session' : 'anon';
  const url = connectUrl(node);
  const persist = o.persist !== false;
  // Kept publishes move with the relay and user (and when `persist` was off).
  const moved = !l.p || l.u !== url || l.w !== owner;
  [l.p, l.u, l.w] = [persist, url, owner];
  return [String(kind | (persist ? 4 : 0) | (moved ? 8 : 0)), kind === 1 ? id : other, key, url, deviceId()];
}

// Option `k` of the merged ones (`getUserId`…), or the `WebSocket` constructor for each
// socket when it is a function.
export function option(l, k) {
  const v = l.o?.[k];
  return k !== 'WebSocket' || typeof v === 'function' ? v : undefined;
}

// Item `key` of storage `name` (`localStorage`, `sessionStorage`; wx storage behind the same
// API in a mini-program): read without `text`, else written ("" removes it). Missing,
// disabled or full storage (Node, private modes, quota): undefined, nothing written.
function stored(name, key, text) {
  try {
    const s = globalThis[name];
    if (typeof s?.getItem !== 'function') return;
    if (text === undefined) return s.getItem(key) ?? undefined;
    text ? s.setItem(key, text) : s.removeItem(key);
  } catch {}
}

// What connection `l` keeps in storage (its relay and owner, see `startOptions`), read
// without `text`, else written. Kinds 0 and 1: stream `stream`'s position
// (`src/comet/store.rs`), read from sessionStorage (0) or localStorage (1), written to both.
// Kind 2: the unanswered `web_pipe_send` calls, one body per line in localStorage, written
// ("" removes them) only when `persist` is on; without storage they are still resent while
// the page lives.
export function kept(l, kind, stream, text) {
  if (kind === 2) {
    if (l.p || text === undefined) return stored('localStorage', `cometa:outbox:${l.u} ${l.w}`, text);
    return;
  }
  const key = `cometa:pos:${l.w ?? 'anon'}:${stream}`;
  if (text === undefined) return stored(kind ? 'localStorage' : 'sessionStorage', key);
  stored('sessionStorage', key, text);
  stored('localStorage', key, text);
}

let device, tab;

// The persistent device id (`getUUID`, the `auth` frame's `device`): 24 characters, made once
// per browser profile and kept in localStorage (in memory only where there is none).
export function deviceId() {
  if (!device) {
    device = stored('localStorage', 'cometa:uuid');
    if (!(device?.length >= 8)) stored('localStorage', 'cometa:uuid', (device = randomId(24)));
  }
  return device;
}

// This page's id, new on every load (CppComet's `getTabUUID`).
export function tabId() {
  return (tab ||= randomId(16));
}

// What the page gave one connection (the module's `Host.js`), array `l`: its subscriptions as
// `[id, name, callback]`, in order, and as properties `o` and `cb` (`startOptions`), the
// queries waiting for a reply `q` (`ask`), and the callbacks `keep` keeps: `ok` and `no`
// (`onAuthSuccess`, `onAuthFalill`), `e` (the npm entry's dispatcher of state events).
//
// Subscription names `name` is CppComet's (`"pipe"`, `"pipe.event"`, `"msg"`,
// `"msg.event"`, `"#pipe"` for reports of the page's publishes, `""` for everything; not a
// string: `""`); a function alone is everything.

// The relay channel subscription `name` needs (none for `""`, reports and the personal
// `msg`). Also `dist/cometa_comet_shared.js`'s, like `matches` and `safely`.
export function channelOf(name) {
  const n = typeof name === 'string' ? name : '';
  if (n === '' || n[0] === '#') return;
  const c = n.split('.')[0];
  return c === 'msg' ? undefined : c;
}

// Whether subscription `name` takes a message of `pipe`/`event`, or (`report`) the report of
// a publish to `pipe`.
export function matches(name, pipe, event, report) {
  const n = typeof name === 'string' ? name : '';
  // A channel name has neither '.' nor '#' (the relay's rule), nor have 'msg' and 'sys'.
  return report ? n === '#' + pipe : n === '' || n === pipe || n === pipe + '.' + event;
}

// Adds subscription `id`; returns the channel to subscribe to, if any.
export function subscribe(l, id, name, cb) {
  // A function alone is the callback; a name that is not a string is everything.
  if (typeof name === 'function') cb = name;
  name = typeof name === 'string' ? name : '';
  l.push([id, name, typeof cb === 'function' ? cb : undefined]);
  return channelOf(name);
}

// Removes subscription `id` (every one without an id): the channels no remaining one needs,
// or undefined when none went.
export function unsubscribe(l, id) {
  const gone = l.filter((s) => id === undefined || s[0] === id);
  if (!gone.length) return;
  for (const s of gone) l.splice(l.indexOf(s), 1);
  const free = [];
  for (const [, name] of gone) {
    const c = channelOf(name);
    if (c !== undefined && !free.includes(c) && !l.some((s) => channelOf(s[1]) === c)) free.push(c);
  }
  return free;
}

// Calls `f(arg)`; what it throws is logged, so one faulty callback cannot break the rest.
export function safely(f, arg) {
  try {
    f(arg);
  } catch (e) {
    console.error('cometa: a callback threw', e);
  }
}

// Hands `arg` to the subscriptions it is for, by its `server_info`'s pipe and event, in
// subscription order (a snapshot: callbacks may subscribe more while they run). Kinds: 0 a
// message; 1 the report of a publish; 2 a history, each of the entries `arg` to `cb` when a
// function, else as a message. Or to the callbacks `l` keeps: 3 `start`'s (once), 4 those
// of `onAuthSuccess`, 5 those of `onAuthFalill`.
export function tell(l, kind, arg, cb) {
  if (kind === 3) {
    cb = l.cb;
    l.cb = undefined;
  }
  if (kind > 2) return call(kind === 3 ? cb : kind === 4 ? l.ok : l.no, arg);
  const subs = [...l];
  for (const m of kind === 2 ? arg : [arg]) {
    if (typeof cb === 'function') safely(cb, m);
    else {
      const { pipe, event } = m.server_info;
      for (const [, name, f] of subs) if (f && matches(name, pipe, event, kind === 1)) safely(f, m);
    }
  }
}

// Calls callback `f`, or each of an array of them (a snapshot), with `arg`; what is not a
// function is skipped.
function call(f, arg) {
  for (const g of Array.isArray(f) ? [...f] : [f]) if (typeof g === 'function') safely(g, arg);
}

// Keeps callback `f` of kind 4 or 5 (`tell`) if it is a function; kind 6: the dispatcher.
export function keep(l, kind, f) {
  if (kind === 6) l.e = f;
  else if (typeof f === 'function') (kind === 4 ? (l.ok ||= []) : (l.no ||= [])).push(f);
}

// Calls the npm entry's dispatcher of state events (`setEmitter`), if any; it does not
// throw, and nothing it might throw may reach the module.
export function signal(l, event, code, text) {
  const f = l.e;
  try {
    if (typeof f === 'function') f(event, code, text);
  } catch {}
}

// Queries waiting for their reply, kept beside the subscriptions `l` (the module's
// `Host.js`): `l.q[id] = [kind, pipe, callback]`, kinds as in src/comet/mod.rs (0 a history).
export function ask(l, id, kind, pipe, cb) {
  (l.q ||= {})[id] = [kind, pipe, cb];
}

// The reply to query `id`: the JSON `text` of its result, or (no `text`) error `code` and
// `message`, to its callback; a history's entries without one go to the subscriptions `l`.
export function replied(l, id, text, code, message) {
  const e = l.q?.[id];
  if (!e) return;
  delete l.q[id];
  const [kind, pipe, cb] = e;
  if (text === undefined) return call(cb, answer(pipe, null, code, message));
  let r = null;
  try {
    r = JSON.parse(text);
  } catch {}
  if (kind) call(cb, queryAnswer(kind, pipe, r));
  else tell(l, 2, historyMessages(r, pipe), cb);
}
