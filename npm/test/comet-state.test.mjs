// `cometa/comet` tells the page what its connection is doing: `connecting`, `connected`,
// `disconnected` {code, reason} and `error` {code, message} through `on()` (with `off`/`once`),
// CppComet-style `onConnected(cb)`…, and the `connected()` Promise. Node with `ws`, a real
// relay killed and restarted on its port.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { CometApi, configure } from 'cometa/comet';
import { startRelay } from './helpers/relay.mjs';
import { recorder } from './helpers/browser.mjs';

let relay;
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await relay?.stop();
});

/** Records every state event and error of `api` as `{kind, code, reason|message}`. */
function watch(api) {
  const rec = recorder();
  for (const kind of ['connecting', 'connected', 'disconnected', 'error']) api.on(kind, (e) => rec.add({ kind, ...e }));
  return rec;
}
const kinds = (list) => list.map((r) => r.kind);

test('state events follow the connection through a relay restart and a stop', { timeout: 30000 }, async () => {
  const api = new CometApi();
  const rec = watch(api);
  let once = 0;
  api.once('connected', () => once++);
  const removed = () => assert.fail('an off() handler ran');
  api.on('connected', removed);
  api.off('connected', removed);

  api.start({ node: relay.url, WebSocket });
  await api.connected();
  await rec.until((l) => l.length >= 2, 'connecting, connected');
  assert.deepEqual(rec.list, [
    { kind: 'connecting', code: 0, reason: 'start' },
    { kind: 'connected', code: 0, reason: '' },
  ]);

  await relay.kill();
  await rec.until((l) => l.length >= 3, 'connecting after the relay died');
  assert.equal(rec.list[2].kind, 'connecting');
  assert.equal(rec.list[2].code, 1006);
  assert.equal(rec.list[2].reason, 'connection closed');
  assert.equal(api.isConnected(), false);

  await relay.restart();
  await api.connected();
  await rec.until((l) => l.length >= 4, 'connected again');
  api.stop();
  await rec.until((l) => l.length >= 5, 'disconnected');
  assert.deepEqual(kinds(rec.list), ['connecting', 'connected', 'connecting', 'connected', 'disconnected']);
  assert.deepEqual(rec.list[4], { kind: 'disconnected', code: 0, reason: 'stopped' });
  assert.equal(once, 1, 'once() ran once');
});

test('a bad node is an error, then disconnected; connected() rejects', { timeout: 30000 }, async () => {
  const api = new CometApi();
  const rec = watch(api);
  const cpp = [];
  api.onError((e) => cpp.push(['error', e.code]));
  api.onDisconnected((e) => cpp.push(['disconnected', e.code]));
  api.start({ node: 'ws://bad host name', WebSocket });
  await assert.rejects(api.connected(), (e) => e.reason === 'stopped');
  await rec.until((l) => l.some((r) => r.kind === 'disconnected'), 'disconnected');
  assert.deepEqual(kinds(rec.list), ['connecting', 'error', 'disconnected']);
  assert.match(rec.list[1].message, /cannot open a WebSocket to the relay/);
  assert.deepEqual(cpp, [['error', 3001], ['disconnected', 0]]);
});

test('a refused auth is an error event (and onAuthFalill)', { timeout: 30000 }, async () => {
  const api = new CometApi();
  const rec = watch(api);
  const refused = new Promise((resolve) => api.onAuthFalill(resolve));
  api.start({ node: relay.url, WebSocket, user_id: 'nobody', user_key: 'wrong-key' });
  await refused;
  await rec.until((l) => l.some((r) => r.kind === 'error'), 'error');
  assert.equal(rec.list.find((r) => r.kind === 'error').code, 4004);
  api.stop();
});

test('configure({ WebSocket }) is the one way to give both entries a WebSocket', { timeout: 30000 }, async () => {
  configure({ WebSocket });
  try {
    const api = new CometApi();
    api.start({ node: relay.url });
    await api.connected();
    api.stop();
  } finally {
    configure({ WebSocket: null });
  }
});
