// CppComet's `subscription_once`, `multi_web_pipe_send` and `setLogLevel`/`getLogLevel` on
// `cometa/comet`, in Node against a live relay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { CometApi } from 'cometa/comet';
import { startRelay } from './helpers/relay.mjs';
import { within, collector } from './helpers/wait.mjs';

let relay;
const apis = [];
before(async () => {
  relay = await startRelay();
});
after(async () => {
  for (const a of apis) a.stop();
  await relay?.stop();
});

/** An anonymous connection, resolved once its socket is open. */
async function connect() {
  const api = new CometApi();
  apis.push(api);
  api.start({ node: relay.url, WebSocket });
  await within(api.connected(), 'connected');
  return api;
}

/** Resolves once `api`'s subscription to `pipe` has been answered by the relay. */
async function subscribed(api, pipe) {
  const seen = new Promise((resolve) => api.count_users_in_pipe(pipe, resolve));
  await within(seen, `subscription to ${pipe}`);
}

/** A raw native-dialect subscriber to `channel` (no SDK, so no deduplication): its `pub` frames' data. */
async function rawSubscriber(channel) {
  const ws = new WebSocket(`${relay.url.replace('http', 'ws')}/connect`);
  const got = collector();
  let subscribed;
  const ready = new Promise((resolve) => (subscribed = resolve));
  ws.on('message', (m) => {
    const text = String(m);
    if (text.startsWith('reply:')) subscribed();
    if (text.startsWith('pub:')) got.add(JSON.parse(text.slice(4)).data);
  });
  await within(new Promise((resolve) => ws.once('open', resolve)), 'raw socket open');
  ws.send(`subscribe:${JSON.stringify({ id: 1, channel })}`);
  await within(ready, 'raw subscribe');
  return { got, close: () => ws.close() };
}

test('subscription_once gets the first message only, then the subscription ends', { timeout: 30000 }, async () => {
  const api = await connect();
  const once = [];
  const all = collector();
  const id = api.subscription_once('web_once.e', (m) => once.push(m.data));
  assert.equal(typeof id, 'number');
  api.subscription('web_once.e', (m) => all.add(m.data));
  await subscribed(api, 'web_once');
  await relay.publish('web_once', 'e', { n: 1 });
  await relay.publish('web_once', 'e', { n: 2 });
  await all.until(2, 'both messages');
  assert.deepEqual(once, [{ n: 1 }]);
  assert.deepEqual(all.list, [{ n: 1 }, { n: 2 }]);
  assert.equal(api.unsubscription(id), false, 'the once subscription is already gone');
});

test('multi_web_pipe_send sends every copy; each receiving callback handles it once', { timeout: 30000 }, async () => {
  const sender = await connect();
  const receiver = await connect();
  const raw = await rawSubscriber('web_multi');
  const a = collector();
  const b = collector();
  receiver.subscription('web_multi.e', (m) => a.add(m.data));
  receiver.subscription('web_multi', (m) => b.add(m.data));
  await subscribed(receiver, 'web_multi');
  assert.equal(sender.multi_web_pipe_send('web_multi', 'e', { text: 'hi' }, 3, 50), true);
  // Three copies went out, with one id...
  await raw.got.until(3, 'three copies');
  assert.equal(new Set(raw.got.list.map((d) => d._cometApi_uuid)).size, 1, 'one id on every copy');
  // ...and a later message proves the copies reached the receiver before it.
  await relay.publish('web_multi', 'e', { text: 'after' });
  await a.until(2, 'a');
  await b.until(2, 'b');
  await raw.got.until(4, 'raw after');
  raw.close();
  assert.deepEqual(a.list.map((d) => d.text), ['hi', 'after']);
  assert.deepEqual(b.list.map((d) => d.text), ['hi', 'after']);
});

test('web_pipe_send throws what JSON cannot encode, and the connection stays usable', { timeout: 30000 }, async () => {
  const api = await connect();
  assert.throws(() => api.web_pipe_send('web_throw', 'e', { n: 1n }), TypeError);
  const cyclic = {};
  cyclic.self = cyclic;
  assert.throws(() => api.web_pipe_send('web_throw.e', cyclic), TypeError);
  // Not left half-called: the next publish goes out and is reported.
  const report = new Promise((resolve) => api.subscription('#web_throw', resolve));
  assert.equal(api.web_pipe_send('web_throw', 'e', { ok: 1 }), true);
  const r = await within(report, 'report');
  assert.equal(r.data.error, undefined);
});

test('setLogLevel/getLogLevel: the level is kept and state changes are logged above 0', { timeout: 30000 }, async () => {
  const api = new CometApi();
  apis.push(api);
  assert.equal(api.getLogLevel(), 0);
  const logged = [];
  const log = console.log;
  console.log = (...args) => logged.push(args.map(String).join(' '));
  try {
    api.setLogLevel(9);
    assert.equal(api.getLogLevel(), 9);
    const other = new CometApi();
    assert.equal(other.getLogLevel(), 9, 'a new instance starts at the last level set, as CppComet reads it from localStorage');
    other.setLogLevel(1);
    assert.equal(api.getLogLevel(), 9, 'each instance has its own');
    api.start({ node: relay.url, WebSocket });
    await within(api.connected(), 'connected');
    await new Promise((r) => setTimeout(r, 0));
  } finally {
    console.log = log;
    api.setLogLevel(0);
  }
  const quiet = [];
  console.log = (...args) => quiet.push(args.map(String).join(' '));
  try {
    api.restart();
    await within(api.connected(), 'reconnected');
    await new Promise((r) => setTimeout(r, 0));
  } finally {
    console.log = log;
  }
  assert.deepEqual(quiet, [], 'level 0 logs nothing');
  assert.ok(
    logged.some((l) => l.startsWith('[cometa] connected')),
    `logged: ${logged}`,
  );
});
