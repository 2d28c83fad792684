// The SDK in Node ≥ 20 against a live relay, with `ws` as the WebSocket (Node 20 has none).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import * as cometa from 'cometa';
import { startRelay } from './helpers/relay.mjs';
import { recorder } from './fixtures/recorder.js';

let relay;
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await relay?.stop();
});

test('bad arguments reject with RequestError(ERR_INVALID_PARAMS), never throw raw', async () => {
  await assert.rejects(cometa.request('not an object'), (e) => e instanceof cometa.RequestError && e.type === cometa.ERR_INVALID_PARAMS);
  await assert.rejects(cometa.request({}), (e) => e.type === cometa.ERR_INVALID_PARAMS);
  assert.throws(() => cometa.setLoginUrl(42), (e) => e instanceof Error && e.type === 'ERR_INVALID_PARAMS');
  assert.throws(() => new cometa.Tunnel('x').emit(7, {}), (e) => e.type === 'ERR_INVALID_PARAMS');
  // Wafer's callback style: fail and complete get the error, nothing is returned.
  const got = await new Promise((resolve) => {
    const ret = cometa.request({ url: 'http://127.0.0.1:1/nowhere', fail: (e) => resolve(['fail', e, ret]), complete: () => {} });
  });
  assert.equal(got[0], 'fail');
  assert.equal(got[1].type, cometa.ERR_REQUEST_FAILED);
  assert.match(got[1].errMsg, /^request:fail/);
  assert.equal(got[2], undefined);
});

test('login, request with re-login, tunnel, push, relay restart, exactly-once delivery', async () => {
  const user = `node-${process.pid}`;
  cometa.configure({ WebSocket, loginUrl: `${relay.url}/weapp/login` });
  cometa.setCodeProvider(() => relay.mintCode(user, { nickName: 'Node' }));

  const userinfo = await cometa.login();
  assert.equal(userinfo.nickName, 'Node');
  assert.ok(cometa.Session.get().skey);

  // A stale session: the relay answers 401, the SDK logs in again and retries once.
  cometa.Session.set({ skey: 'stale', userinfo });
  const res = await cometa.request({ url: `${relay.url}/weapp/user` });
  assert.equal(res.statusCode, 200);
  assert.equal(res.data.data.nickName, 'Node');
  assert.notEqual(cometa.Session.get().skey, 'stale');

  const tunnel = new cometa.Tunnel(`${relay.url}/weapp/tunnel`, { backoffBaseMs: 100, backoffCapMs: 400 });
  const rec = recorder(tunnel);
  tunnel.emit('hello', { queued: true }); // queued until active, as in Wafer
  tunnel.open();
  assert.equal(tunnel.status, cometa.Tunnel.STATUS_CONNECTING);
  await rec.waitFor((e) => e.type === 'connect');
  assert.ok(tunnel.isActive());
  assert.match(tunnel.socketUrl, /^ws:\/\//);

  await relay.push(user, 'greet', { n: 1 });
  assert.deepEqual((await rec.waitFor((e) => e.type === 'greet')).payload, { n: 1 });

  await relay.kill();
  await rec.waitFor((e) => e.type === 'reconnecting');
  assert.ok(tunnel.isReconnecting());
  await relay.restart();
  await rec.waitFor((e) => e.type === 'reconnect', 20000);

  await relay.push(user, 'greet', { n: 2 });
  await relay.push(user, 'greet', { n: 3 }); // a marker: once it is in, n=2 had its chance to repeat
  await rec.waitFor((e) => e.type === 'greet' && e.payload.n === 3);
  assert.equal(rec.count((e) => e.type === 'greet' && e.payload.n === 2), 1);

  tunnel.close();
  await rec.waitFor((e) => e.type === 'close');
  assert.ok(tunnel.isClosed());
});
