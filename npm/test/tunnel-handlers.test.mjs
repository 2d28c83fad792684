// `tunnel.off()` and `tunnel.once()` (socket.io's everyday names) in Node against a relay:
// removed handlers stop, `once` handlers run once, a throwing handler does not stop the rest.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { configure, login, Tunnel } from 'cometa';
import { startRelay } from './helpers/relay.mjs';
import { recorder } from './helpers/browser.mjs';

let relay;
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await relay?.stop();
});

test('off() removes a handler, once() runs once, a throwing handler spares the others', { timeout: 30000 }, async () => {
  configure({ WebSocket });
  await login({ loginUrl: `${relay.url}/weapp/login`, code: await relay.mintCode('handlers') });
  const tunnel = new Tunnel(`${relay.url}/weapp/tunnel`);
  const rec = recorder();
  const kept = (c) => rec.add({ kind: 'kept', n: c.n });
  const removed = (c) => rec.add({ kind: 'removed', n: c.n });
  const errors = [];
  const origError = console.error;
  console.error = (...a) => errors.push(a.join(' '));
  tunnel.on('hello', () => {
    throw new Error('a broken component');
  });
  tunnel.on('hello', kept);
  tunnel.on('hello', removed);
  tunnel.once('hello', (c) => rec.add({ kind: 'once', n: c.n }));
  tunnel.on('hello', removed);
  tunnel.off('hello', removed);
  let connects = 0;
  tunnel.once('connect', () => connects++);
  const connected = new Promise((resolve) => tunnel.on('connect', resolve));
  tunnel.open();
  await connected;
  // The statics (js/host.js) name the core's statuses.
  assert.equal(tunnel.status, Tunnel.STATUS_ACTIVE);
  assert.ok(tunnel.isActive());
  try {
    await relay.push('handlers', 'hello', { n: 1 });
    await rec.until((l) => l.length >= 2, 'first hello');
    await relay.push('handlers', 'hello', { n: 2 });
    await rec.until((l) => l.length >= 3, 'second hello');
  } finally {
    console.error = origError;
    tunnel.close();
  }
  assert.deepEqual(
    rec.list.map((r) => `${r.kind}${r.n}`),
    ['kept1', 'once1', 'kept2'],
  );
  assert.equal(connects, 1);
  assert.equal(tunnel.status, Tunnel.STATUS_CLOSED);
  assert.deepEqual([Tunnel.ERR_CONNECT_SERVICE, Tunnel.ERR_CONNECT_SOCKET, Tunnel.ERR_RECONNECT, Tunnel.ERR_SOCKET_ERROR], [1001, 1002, 2001, 3001]);
  assert.equal(errors.length, 2);
  assert.match(errors[0], /a callback threw/);
});
