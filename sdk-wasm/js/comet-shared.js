// `start({ shared: true })` (the default in pages): one relay connection for every tab of an
// origin and user, as CppComet's master tab had, without its losses.
//
// - Election: each tab asks for a Web Lock named for the relay and the user and holds it for
//   its life. The holder (the leader, `isMaster()`) runs the module's connection; the others
//   wait in the lock's queue, so when the leader closes (or freezes, or goes into the
//   back/forward cache: it lets go then) the browser hands the lock to the next tab at once.
//   No lease renewed by a timer: hidden tabs' timers are throttled, and such a lease flaps.
// - Traffic: a BroadcastChannel of the same name. The leader holds the channels every tab
//   subscribed to, posts every message its module delivers, runs the followers' publishes
//   and queries and sends back their answers, and posts its state changes.
// - Positions: a new leader's module resumes from the positions the old one stored (after
//   each message, in the same task that posted it here), so nothing is lost; every tab hands
//   a stream's message to its callbacks only when its seq is past the last one it handed on,
//   as the module does for its own socket, so what a takeover replays is not seen twice.
// - Publishes a follower sent stay pending until a leader took them, and queries until
//   answered: a new leader gets them again. A publish taken lives in the leader's list of
//   unanswered ones (`persist`, stored per relay and user), which the next leader sends.
//
// Host glue, like `npm/load.js`: the module still decides everything about the connection;
// this file only decides which tab runs it and which tab gets what. Not a wasm-bindgen
// snippet: `scripts/build-sdk.sh` minifies it into `dist/cometa_comet_shared.js`, which
// `npm/comet.js` imports and the `cometa/comet` size budget counts. It matches subscriptions
// as the module's snippet does, with the snippet's own functions (the path is the one next to
// it in `dist/`).

// Written as closures over one tab's state rather than a class: the minifier shortens local
// names, not properties. Only what `npm/comet.js` reads is a property (see `tab`).

import { channelOf, matches, pipeArgs, safely } from './snippets/cometa-sdk/js/comet.js';

const tabs = new WeakMap();

/** The shared state of `api` (the module's object) while it shares, else undefined. */
export const sharedOf = (api) => tabs.get(api);

/** Sharing needs a page (tabs), Web Locks and BroadcastChannel, and is on unless `shared: false`. */
export const canShare = (options) =>
  options.shared !== false && globalThis.document && globalThis.navigator?.locks && globalThis.BroadcastChannel;

// Not a secret's hash: it only keeps the tabs of two users (tokens without `user_id`) apart.
function fingerprint(s) {
  let h = 5381;
  for (let i = 0; i < s.length; i++) h = (h * 33) ^ s.charCodeAt(i);
  return (h >>> 0).toString(36);
}

/**
 * Tabs share when they talk to the same relay as the same user. (Named for the messages'
 * shape too: a page of an older build, whose messages differ, elects its own.)
 */
function lockName(o) {
  const cred = o.token || o.skey;
  const user = o.user_id ?? '';
  return `cometa ${o.node || globalThis.location?.origin || ''} ${user !== '' ? 'u' + user : cred ? 't' + fingerprint(String(cred)) : 'anon'}`;
}

const QUERIES = ['get_pipe_log', 'count_users_in_pipe', 'getTrackPipeUsers', 'getUserData'];

/**
 * Starts sharing for `api` (again, with new options). `env`, from the entry: `reals` (the
 * module's own methods), `subs(api)` (the tab's subscriptions: Map id → {name, cb}),
 * `fire(api, event, arg)` (the tab's `on()` handlers), `auth(api)` ({ok, fail}: the tab's
 * `onAuthSuccess`/`onAuthFalill` callbacks).
 */
export function share(api, options, callback, env) {
  const name = lockName(options);
  const same = tabs.get(api);
  // The same relay and user: no new election, the leader's module takes the new options.
  if (same?.n === name) return same.again(options, callback);
  unshare(api);
  tab(api, options, callback, env, name);
  return true;
}

/** Stops sharing (`stop()`); the module's connection stops if this tab ran it. */
export const unshare = (api) => tabs.get(api)?.end();

// Ids of the requests a tab sends (publishes and queries), unique in the page.
let nextId = 1;

// Messages are arrays `[type, from, to, a, b, c]`: `from` the sending tab's id, `to` the one
// tab it is for (0: every tab). To the leader: 0 hello (a: the tab's channels; it is also a
// `subs`), 1 subs (a: the channels the tab's subscriptions need; [] when the tab goes),
// 2 publish (a: request id, b: `[pipe, event, JSON text]`), 3 query (a: request id,
// b: method, c: arguments). From the leader: 5 leader (a new one), 6 state (a: connected,
// b: authorized, c: the last `[ok, arg]` of auth while connected), 7 message (a: the
// message, b: true for a report of the tab's publish), 8 state event (a: event, b: arg),
// 9 auth (a: ok, b: arg), 10 answer (a: request id, b: the query callback's argument; none:
// a publish taken).

// One tab's share of the connection. Its public side, read by `npm/comet.js`: `leader`,
// `options`, `connected`, `authorized`, and the methods below.
function tab(api, options, callback, env, name) {
  const { reals, subs, auth, fire } = env;
  const real = (method, ...args) => reals[method].call(api, ...args);
  const id = Math.random();
  const bc = new BroadcastChannel(name);
  // Per stream, the last `[epoch, seq]` handed to this tab's callbacks.
  const last = new Map();
  // Leader: channels held for each follower (tab id → Map channel → module subscription id).
  const held = new Map();
  // Leader: per pipe, whose publishes await a report, in order.
  const reports = new Map();
  // Follower: publishes not taken and queries not answered yet (id → [message, cb, done]).
  const pending = new Map();
  // Leader: the module subscriptions it made for every tab (all messages, reports).
  let owned = [];
  let abort, release, lastAuth;

  const s = {
    n: name,
    options,
    leader: false,
    connected: false,
    authorized: false,
    /** `start` again as the same user at the same relay. */
    again(o, cb) {
      s.options = o;
      if (s.leader) return real('start', o, cb);
      callback = cb;
      if (s.connected) started();
      return true;
    },
    end() {
      tabs.delete(api);
      bye();
      leave();
      bc.close();
      for (const [target, type, f] of listeners) target.removeEventListener(type, f);
    },
    /** A state event of this tab's module; the leader's go to every tab. */
    event(event, arg) {
      if (s.leader) {
        state(event);
        post(8, 0, event, arg);
      }
    },
    /** A subscription of this tab came or went: the leader holds the channels followers need. */
    subsChanged: () => s.leader || post(1, 0, channels()),
    /** `web_pipe_send`: the leader runs it, a follower hands it over. */
    publish(pipe, event, msg) {
      const args = pipeArgs(pipe, event, msg);
      // As the module does: a message that is not JSON throws here, to the caller.
      if (!args[2]) throw args[0];
      return ask(2, args);
    },
    /** A query (`get_pipe_log`…): answered through `cb` by whichever tab leads. */
    query: (method, args, cb) => ask(3, method, args, cb),
    deliver,
  };
  tabs.set(api, s);

  function send(m) {
    try {
      bc.postMessage(m);
    } catch {
      // A closed channel: this tab stopped sharing.
    }
  }
  const post = (type, to, a, b, c) => send([type, id, to, a, b, c]);
  // Closing for good: the leader stops holding this tab's channels.
  const bye = () => s.leader || post(1, 0, []);

  function join() {
    if (abort) return;
    const mine = (abort = new AbortController());
    navigator.locks
      .request(name, { signal: mine.signal }, () =>
        abort === mine
          ? new Promise((r) => {
              release = r;
              lead();
            })
          : 0,
      )
      .catch(() => {
        // Aborted: the tab left the queue (stop, freeze).
      });
    // Until the lock says otherwise this tab follows: the leader learns what it needs.
    post(0, 0, channels());
  }

  function leave() {
    abort?.abort();
    abort = undefined;
    if (s.leader) {
      s.leader = false;
      for (const ids of [owned, ...held.values()]) for (const i of ids.values()) real('unsubscription', i);
      owned = [];
      held.clear();
      reports.clear();
      real('stop');
      s.connected = s.authorized = false;
    }
    release?.();
    release = undefined;
  }

  /** The lock is ours: run the module's connection for every tab. */
  function lead() {
    s.leader = true;
    owned.push(
      real('subscription', (m) => {
        post(7, 0, m);
        deliver(m);
      }),
    );
    const cb = callback;
    callback = undefined;
    real('start', s.options, cb);
    // What this tab asked of the leader before, it now does itself.
    for (const [m, f, done] of pending.values()) done || on(m, f);
    pending.clear();
    post(5);
  }

  /** A state event (or, false, the connection is not up). */
  function state(event) {
    if (event === 'error') return;
    if ((s.connected = event === 'connected')) started();
    else s.authorized = false;
  }

  function started() {
    if (typeof callback === 'function') queueMicrotask(callback);
    callback = undefined;
  }

  function authed(ok, arg) {
    s.authorized = ok;
    for (const f of auth(api)[ok ? 'ok' : 'fail']) safely(f, arg);
  }

  /** The channels this tab's subscriptions need (some undefined: the leader skips them). */
  function channels() {
    return [...subs(api).values()].map((sub) => channelOf(sub.name));
  }

  /** To this tab's callbacks: each stream's stored messages once and in order. */
  function deliver(m, report) {
    const { pipe, event, history, uuid, seq } = m.server_info;
    // Stored messages have a `uuid`, `<epoch>:<seq>` (reports and live-only ones have none).
    if (!history && uuid) {
      const epoch = uuid.slice(0, uuid.lastIndexOf(':'));
      const l = last.get(pipe);
      if (epoch) {
        if (l?.[0] === epoch && seq <= l[1]) return;
        last.set(pipe, [epoch, seq]);
      }
    }
    for (const { name, cb } of [...subs(api).values()]) {
      if (typeof cb === 'function' && matches(name, pipe, event, report)) safely(cb, m);
    }
  }

  function ask(type, a, b, cb) {
    const m = [type, id, 0, nextId++, a, b];
    if (s.leader) return on(m, cb);
    pending.set(m[3], [m, cb]);
    send(m);
    return true;
  }

  /** A message of another tab, or (leader) a request of this one, with its `cb`. */
  function on([type, from, to, a, b, c], cb) {
    if ((to && to !== id) || type < 5 !== s.leader) return;
    switch (type) {
      case 0:
        post(6, from, s.connected, s.authorized, s.connected && lastAuth);
      // A hello names the tab's channels, as `subs` does.
      // falls through
      case 1: {
        const h = held.get(from) ?? new Map();
        const want = new Set(a);
        for (const [ch, i] of h) {
          if (!want.has(ch)) {
            real('unsubscription', i);
            h.delete(ch);
          }
        }
        for (const ch of want) if (ch && !h.has(ch)) h.set(ch, real('subscription', ch));
        // Empty: the tab went (or needs no channel).
        if (h.size) held.set(from, h);
        else held.delete(from);
        break;
      }
      case 2: {
        // Taken: the follower need not send it again; its report comes back to it.
        if (from !== id) post(10, from, a);
        const [pipe, event, text] = b;
        let queue = reports.get(pipe);
        if (!queue) {
          reports.set(pipe, (queue = []));
          owned.push(
            real('subscription', '#' + pipe, (m) => {
              const to = queue.shift() ?? id;
              if (to === id) deliver(m, true);
              else post(7, to, m, true);
            }),
          );
        }
        queue.push(from);
        return real('web_pipe_send', pipe, event, JSON.parse(text));
      }
      case 3:
        return QUERIES.includes(b) && real(b, ...c, from === id ? cb : (arg) => post(10, from, a, arg));
      case 5:
        // A new leader: it needs this tab's channels, and what the old one left undone.
        post(1, 0, channels());
        for (const [m, , done] of pending.values()) done || send(m);
        break;
      case 6:
        state(a && 'connected');
        s.authorized = b;
        if (c) authed(...c);
        break;
      case 7:
        deliver(a, b);
        break;
      case 8:
        state(a);
        fire(api, a, b);
        break;
      case 9:
        authed(a, b);
        break;
      case 10: {
        const p = pending.get(a);
        if (!p) break;
        // `get_pipe_log` answers once per entry: its callback stays for the rest.
        if (p[0][4] === 'get_pipe_log') {
          if (!p[2]) setTimeout(() => pending.delete(a), 60000);
          p[2] = true;
        } else pending.delete(a);
        if (p[1]) safely(p[1], b);
      }
    }
  }

  // The module keeps its callbacks: they speak only while this tab leads.
  for (const ok of [true, false])
    real(ok ? 'onAuthSuccess' : 'onAuthFalill', (arg) => {
      if (s.leader) {
        s.authorized = ok;
        lastAuth = [ok, arg];
        post(9, 0, ok, arg);
      }
    });
  bc.onmessage = (e) => on(e.data);
  // A frozen or cached page runs nothing: it lets the lock go, so another tab takes over
  // now, and queues again once it runs again.
  // (`freeze` and `resume` are the document's events, `pagehide` and `pageshow` the window's.)
  const listeners = [
    [document, 'freeze', leave],
    [document, 'resume', join],
    [globalThis, 'pagehide', (e) => (e.persisted ? leave() : bye())],
    [globalThis, 'pageshow', (e) => e.persisted && join()],
  ];
  for (const [target, type, f] of listeners) target.addEventListener(type, f);
  join();
}
