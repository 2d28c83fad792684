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

import { channelOf, matches, safely } from './snippets/cometa-sdk/js/comet.js';

const tabs = new WeakMap();

/** The shared state of `api` (the module's object) while it shares, else undefined. */
export const sharedOf = (api) => tabs.get(api);

/** Sharing needs a page (tabs), Web Locks and BroadcastChannel, and is on unless `shared: false`. */
export function canShare(options) {
  const g = globalThis;
  return (
    Object(options).shared !== false &&
    typeof g.document === 'object' &&
    typeof g.navigator?.locks?.request === 'function' &&
    typeof g.BroadcastChannel === 'function'
  );
}

// Not a secret's hash: it only keeps the tabs of two users (tokens without `user_id`) apart.
function fingerprint(s) {
  let h = 5381;
  for (let i = 0; i < s.length; i++) h = (h * 33) ^ s.charCodeAt(i);
  return (h >>> 0).toString(36);
}

/** Tabs share when they talk to the same relay as the same user. */
function lockName(o) {
  const node = String(o.node || globalThis.location?.origin || '');
  const cred = o.token || o.skey;
  const id = o.user_id != null && o.user_id !== '' ? 'u' + String(o.user_id) : cred ? 't' + fingerprint(String(cred)) : 'anon';
  return `cometa-comet ${node} ${id}`;
}

const QUERIES = ['get_pipe_log', 'count_users_in_pipe', 'getTrackPipeUsers', 'getUserData'];

/**
 * Starts sharing for `api` (again, with new options). `env`, from the entry: `reals` (the
 * module's own methods), `subs(api)` (the tab's subscriptions: Map id → {name, cb}),
 * `fire(api, event, arg)` (the tab's `on()` handlers), `auth(api)` ({ok, fail}: the tab's
 * `onAuthSuccess`/`onAuthFalill` callbacks).
 */
export function share(api, options, callback, env) {
  const same = tabs.get(api);
  if (same && same.name === lockName(options)) {
    // The same relay and user: no new election, the leader's module takes the new options.
    same.options = options;
    if (same.leader) return env.reals.start.call(api, options, callback);
    same.callback = typeof callback === 'function' ? callback : undefined;
    if (same.connected) same.started();
    return true;
  }
  unshare(api);
  const s = new Tab(api, options, callback, env);
  tabs.set(api, s);
  s.join();
  return true;
}

/** Stops sharing (`stop()`); the module's connection stops if this tab ran it. */
export function unshare(api) {
  const s = tabs.get(api);
  if (!s) return;
  tabs.delete(api);
  if (!s.leader) s.post({ t: 'bye' });
  s.leave();
  s.bc.close();
  for (const [target, type, f] of s.listeners) target.removeEventListener(type, f);
}

let nextId = 1;

class Tab {
  constructor(api, options, callback, env) {
    this.api = api;
    this.options = options;
    this.callback = typeof callback === 'function' ? callback : undefined;
    this.env = env;
    this.id = Math.random().toString(36).slice(2) + Date.now().toString(36);
    this.name = lockName(options);
    this.leader = false;
    this.connected = false;
    this.authorized = false;
    this.lastAuth = undefined;
    // Per stream, the last `{epoch, seq}` handed to this tab's callbacks.
    this.last = new Map();
    // Leader: channels held for each follower (tab id → Map channel → module subscription id).
    this.held = new Map();
    // Leader: per pipe, its report subscription and, in order, whose publishes await a report.
    this.reports = new Map();
    // Follower: publishes not taken and queries not answered yet (id → {msg, cb}).
    this.pending = new Map();
    this.bc = new BroadcastChannel(this.name);
    this.bc.onmessage = (e) => this.onMessage(Object(e.data));
    // A frozen or cached page runs nothing: it lets the lock go, so another tab takes over
    // now, and queues again once it runs again.
    // (`freeze` and `resume` are the document's events, `pagehide` and `pageshow` the window's.)
    this.listeners = [
      [document, 'freeze', () => this.leave()],
      [document, 'resume', () => this.join()],
      // Closing for good: the leader stops holding this tab's channels.
      [globalThis, 'pagehide', (e) => (e.persisted ? this.leave() : this.leader || this.post({ t: 'bye' }))],
      [globalThis, 'pageshow', (e) => e.persisted && this.join()],
    ];
    for (const [target, type, f] of this.listeners) target.addEventListener(type, f);
  }

  post(msg) {
    try {
      this.bc.postMessage({ ...msg, from: this.id });
    } catch {
      // A closed channel: this tab stopped sharing.
    }
  }

  join() {
    if (this.abort) return;
    const abort = (this.abort = new AbortController());
    navigator.locks
      .request(this.name, { signal: abort.signal }, () =>
        this.abort === abort
          ? new Promise((release) => {
              this.release = release;
              this.lead();
            })
          : undefined,
      )
      .catch(() => {
        // Aborted: the tab left the queue (stop, freeze).
      });
    // Until the lock says otherwise this tab follows: the leader learns what it needs.
    this.post({ t: 'hello', channels: this.channels() });
  }

  leave() {
    const abort = this.abort;
    this.abort = undefined;
    abort?.abort();
    if (this.leader) {
      this.leader = false;
      const { reals } = this.env;
      const ids = [this.catchAll, ...[...this.held.values()].flatMap((h) => [...h.values()]), ...[...this.reports.values()].map((r) => r.id)];
      for (const id of ids) reals.unsubscription.call(this.api, id);
      this.held.clear();
      this.reports.clear();
      reals.stop.call(this.api);
      this.connected = this.authorized = false;
    }
    this.release?.();
    this.release = undefined;
  }

  /** The lock is ours: run the module's connection for every tab. */
  lead() {
    this.leader = true;
    const { reals } = this.env;
    this.catchAll = reals.subscription.call(this.api, (m) => {
      this.post({ t: 'm', m });
      this.deliver(m);
    });
    if (!this.authHooked) {
      // Once: the module keeps its callbacks; they speak only while this tab leads.
      this.authHooked = true;
      reals.onAuthSuccess.call(this.api, (a) => this.leader && this.onAuth(true, a));
      reals.onAuthFalill.call(this.api, (a) => this.leader && this.onAuth(false, a));
    }
    const cb = this.callback;
    this.callback = undefined;
    reals.start.call(this.api, this.options, cb);
    // What this tab asked of the leader before, it now does itself.
    for (const p of this.pending.values()) this.asLeader({ ...p.msg, from: this.id }, p.cb);
    this.pending.clear();
    this.post({ t: 'leader' });
  }

  onAuth(ok, arg) {
    this.authorized = ok;
    this.lastAuth = { ok, arg };
    this.post({ t: 'auth', ok, arg });
  }

  /** A state event of this tab's module; the leader's go to every tab. */
  event(event, arg) {
    if (!this.leader) return;
    this.state(event);
    this.post({ t: 'e', event, arg });
  }

  state(event) {
    if (event === 'connected') this.connected = true;
    if (event === 'disconnected' || event === 'connecting') this.connected = this.authorized = false;
  }

  /** The channels this tab's subscriptions need. */
  channels() {
    const set = new Set();
    for (const { name } of this.env.subs(this.api).values()) {
      const c = channelOf(name);
      if (c) set.add(c);
    }
    return [...set];
  }

  /** A subscription of this tab came or went: the leader holds the channels followers need. */
  subsChanged() {
    if (!this.leader) this.post({ t: 'subs', channels: this.channels() });
  }

  /** To this tab's callbacks: each stream's stored messages once and in order. */
  deliver(m, report) {
    const info = Object(m?.server_info);
    const seq = info.seq;
    if (!report && !info.history && typeof seq === 'number' && typeof info.uuid === 'string') {
      const epoch = info.uuid.slice(0, info.uuid.lastIndexOf(':'));
      const last = this.last.get(info.pipe);
      if (epoch && last && last.epoch === epoch && seq <= last.seq) return;
      if (epoch) this.last.set(info.pipe, { epoch, seq });
    }
    for (const { name, cb } of [...this.env.subs(this.api).values()]) {
      if (typeof cb === 'function' && matches(name, info.pipe, info.event, report)) safely(cb, m);
    }
  }

  /** `web_pipe_send`: the leader runs it, a follower hands it over. */
  publish(pipe, event, msg) {
    // As the module does: a message that is not JSON throws here, to the caller.
    const text = JSON.stringify(msg === undefined ? event : msg) ?? 'null';
    return this.ask({ t: 'p', args: msg === undefined ? [pipe, text] : [pipe, event, text] });
  }

  /** A query (`get_pipe_log`…): answered through `cb` by whichever tab leads. */
  query(method, args, cb) {
    return this.ask({ t: 'q', method, args }, cb);
  }

  ask(msg, cb) {
    const m = { ...msg, id: nextId++ };
    if (this.leader) return this.asLeader({ ...m, from: this.id }, cb);
    this.pending.set(m.id, { msg: m, cb });
    this.post(m);
    return true;
  }

  publishFor(who, pipe, args) {
    const { reals } = this.env;
    let r = this.reports.get(pipe);
    if (!r) {
      r = { queue: [] };
      r.id = reals.subscription.call(this.api, '#' + pipe, (m) => {
        const to = r.queue.shift() ?? this.id;
        if (to === this.id) this.deliver(m, true);
        else this.post({ t: 'r', to, m });
      });
      this.reports.set(pipe, r);
    }
    r.queue.push(who);
    return reals.web_pipe_send.call(this.api, ...args);
  }

  onMessage(msg) {
    if (msg.to !== undefined && msg.to !== this.id) return;
    if (this.leader) return this.asLeader(msg);
    switch (msg.t) {
      case 'leader':
        // A new leader: it needs this tab's channels, and what the old one left undone.
        this.post({ t: 'subs', channels: this.channels() });
        for (const p of this.pending.values()) this.post(p.msg);
        break;
      case 'state':
        this.connected = msg.connected;
        this.authorized = msg.authorized;
        if (msg.auth) this.authed(msg.auth.ok, msg.auth.arg);
        if (msg.connected) this.started();
        break;
      case 'm':
        this.deliver(msg.m);
        break;
      case 'r':
        this.deliver(msg.m, true);
        break;
      case 'e':
        this.state(msg.event);
        this.env.fire(this.api, msg.event, msg.arg);
        if (msg.event === 'connected') this.started();
        break;
      case 'auth':
        this.authed(msg.ok, msg.arg);
        break;
      case 'took':
        if (this.pending.get(msg.id)?.msg.t === 'p') this.pending.delete(msg.id);
        break;
      case 'a': {
        const p = this.pending.get(msg.id);
        if (!p) break;
        // `get_pipe_log` answers once per entry: its callback stays for the rest.
        if (p.done || p.msg.method === 'get_pipe_log') {
          if (!p.done) setTimeout(() => this.pending.delete(msg.id), 60000);
          p.done = true;
          p.msg = { t: 'done' };
        } else this.pending.delete(msg.id);
        if (p.cb) safely(p.cb, msg.arg);
        break;
      }
    }
  }

  started() {
    const cb = this.callback;
    this.callback = undefined;
    if (cb) queueMicrotask(cb);
  }

  authed(ok, arg) {
    this.authorized = ok;
    for (const f of this.env.auth(this.api)[ok ? 'ok' : 'fail']) safely(f, arg);
  }

  /** Leader: a request of a tab (this one's own with `cb`). */
  asLeader(msg, cb) {
    const { reals } = this.env;
    const from = msg.from;
    switch (msg.t) {
      case 'hello':
        this.post({ t: 'state', to: from, connected: this.connected, authorized: this.authorized, auth: this.connected ? this.lastAuth : undefined });
      // A hello names the tab's channels, as `subs` does.
      // falls through
      case 'subs': {
        const held = this.held.get(from) ?? new Map();
        const want = new Set(msg.channels || []);
        for (const [c, id] of held) {
          if (!want.has(c)) {
            reals.unsubscription.call(this.api, id);
            held.delete(c);
          }
        }
        for (const c of want) if (!held.has(c)) held.set(c, reals.subscription.call(this.api, c));
        this.held.set(from, held);
        return true;
      }
      case 'bye':
        for (const id of (this.held.get(from) ?? new Map()).values()) reals.unsubscription.call(this.api, id);
        this.held.delete(from);
        return true;
      case 'p': {
        if (from !== this.id) this.post({ t: 'took', to: from, id: msg.id });
        const a = msg.args;
        const args = a.length === 2 ? [a[0], JSON.parse(a[1])] : [a[0], a[1], JSON.parse(a[2])];
        const pipe = a.length === 2 ? String(a[0]).split('.')[0] : String(a[0]);
        return this.publishFor(from, pipe, args);
      }
      case 'q': {
        if (!QUERIES.includes(msg.method)) return false;
        const answer = from === this.id ? cb : (arg) => this.post({ t: 'a', to: from, id: msg.id, arg });
        return reals[msg.method].call(this.api, ...msg.args, answer);
      }
    }
    return undefined;
  }
}
