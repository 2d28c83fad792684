// The mini-program entry (npm/miniprogram, built by scripts/build-miniprogram.sh) in a faithful
// mini-program runtime (helpers/wx-shim.mjs: a vm context with only `wx`, `WXWebAssembly`,
// timers and console) against a live relay whose delegated auth points at a test verification
// service that trades wx.login codes through a fake code2session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startRelay } from './helpers/relay.mjs';
import { createWeChat, startVerifier, createMiniProgram } from './helpers/wx-shim.mjs';
import { recorder } from './fixtures/recorder.js';

const SECRET = 'mini-program-verify-secret-0123456789';
const SESSION_KEY = 'weapp_session_F2C224D4-2BCE-4C64-AF9F-A6D872000D1A';
const openid = `o_mini_${process.pid}`;

let relay, verifier, wechat, mp, cometa;
before(async () => {
  wechat = createWeChat();
  verifier = await startVerifier({ wechat, secret: SECRET });
  relay = await startRelay({ args: ['--auth-verify-url', verifier.url, '--webhook-secret', SECRET] });
  mp = createMiniProgram({ wechat, openid, userInfo: { nickName: 'Mini', avatarUrl: 'https://example.com/mini.png' } });
  // What a page does after "Build npm": require('cometa').
  cometa = mp.require('cometa');
});
after(async () => {
  await relay?.stop();
  await verifier?.close();
});

test('the runtime has no browser globals; the entry picks wx and loads nothing yet', () => {
  assert.equal(mp.run('[typeof fetch, typeof WebSocket, typeof localStorage, typeof TextEncoder, typeof performance, typeof WebAssembly].join()'), 'undefined,undefined,undefined,undefined,undefined,undefined');
  assert.equal(cometa.platform, 'wx');
  // Same names as the ES module entry, usable before the module is instantiated.
  for (const name of ['setLoginUrl', 'setCodeProvider', 'configure', 'login', 'loginWithCode', 'request', 'clearSession', 'Tunnel', 'RequestError']) {
    assert.equal(typeof cometa[name], 'function', name);
  }
  assert.equal(cometa.default, cometa);
  assert.equal(cometa.ERR_LOGIN_SESSION_NOT_RECEIVED, 'ERR_LOGIN_MISSING_SESSION');
  assert.equal(cometa.Tunnel.STATUS_ACTIVE, 'ACTIVE');
  assert.equal(cometa.Tunnel.ERR_RECONNECT, 2001);
  assert.equal(cometa.Session.get(), null);
  cometa.setLoginUrl(`${relay.url}/weapp/login`); // applied once the module is there
  assert.throws(() => cometa.setLoginUrl(42), (e) => e instanceof cometa.RequestError && e.type === 'ERR_INVALID_PARAMS');
  assert.deepEqual(mp.instantiated, []);
});

test('login(): wx.login + wx.getUserInfo, X-WX-* headers verified by the site, Wafer answer', async () => {
  const calls = verifier.calls.length;
  const userinfo = await cometa.login(); // the first use loads the module
  assert.deepEqual(mp.instantiated, ['/miniprogram_npm/cometa/cometa_sdk_bg.wasm']);
  assert.ok(!mp.wx.__requests.some((r) => r.url.includes('.wasm')), 'the module is never fetched');

  assert.equal(verifier.calls.length, calls + 1);
  const call = verifier.calls.at(-1);
  assert.ok(call.signed, 'the relay signed the verification request');
  assert.deepEqual(Object.keys(call.headers).sort(), ['X-WX-Code', 'X-WX-Encrypted-Data', 'X-WX-IV']);
  assert.equal(call.outcome, 'admitted');
  assert.equal(userinfo.nickName, 'Mini'); // decrypted from encryptedData by the site
  assert.equal(userinfo.openId, openid);

  // The login request is Wafer's: GET loginUrl with the three headers, through wx.request.
  const req = mp.wx.__requests.filter((r) => r.url === `${relay.url}/weapp/login`).at(-1);
  assert.equal(req.method, 'GET');
  assert.equal(req.header['X-WX-Code'], call.headers['X-WX-Code']);
  assert.equal(req.header['X-WX-Encrypted-Data'], call.headers['X-WX-Encrypted-Data']);
  assert.equal(req.header['X-WX-IV'], call.headers['X-WX-IV']);

  // The session is where Wafer kept it, as an object in wx storage.
  const stored = mp.wx.getStorageSync(SESSION_KEY);
  assert.equal(typeof stored, 'object');
  assert.ok(stored.skey);
  assert.equal(cometa.Session.get().skey, stored.skey);
});

test('loginWithCode() with callbacks sends the code only; a used code is refused', async () => {
  const result = await new Promise((resolve) => {
    const ret = cometa.loginWithCode({ success: (u) => resolve(['success', u, ret]), fail: (e) => resolve(['fail', e, ret]) });
  });
  assert.equal(result[0], 'success', String(result[1]?.message));
  assert.equal(result[2], undefined);
  const call = verifier.calls.at(-1);
  assert.deepEqual(Object.keys(call.headers), ['X-WX-Code']);

  // Replaying that code: code2session refuses it, the relay answers Wafer's failure.
  await assert.rejects(cometa.login({ code: call.headers['X-WX-Code'] }), (e) => e instanceof cometa.RequestError && e.type === 'ERR_LOGIN_FAILED');
  assert.equal(verifier.calls.at(-1).outcome, 'code been used');
  // Failures of wx.login itself are ERR_WX_LOGIN_FAILED.
  mp.wx.__setOnline(false);
  await assert.rejects(cometa.loginWithCode(), (e) => e.type === 'ERR_WX_LOGIN_FAILED' && /wx\.login failed/.test(e.message));
  mp.wx.__setOnline(true);
});

test('request({login: true}) and the re-login on 401 use fresh wx.login codes', async () => {
  const calls = verifier.calls.length;
  const res = await cometa.request({ url: `${relay.url}/weapp/user`, login: true });
  assert.equal(res.statusCode, 200);
  assert.equal(res.data.data.openId, openid);
  assert.equal(verifier.calls.length, calls + 1);
  assert.deepEqual(Object.keys(verifier.calls.at(-1).headers), ['X-WX-Code']);
  const last = mp.wx.__requests.at(-1);
  assert.equal(last.header['X-WX-Skey'], cometa.Session.get().skey);

  cometa.Session.set({ skey: 'stale', userinfo: {} });
  const again = await cometa.request({ url: `${relay.url}/weapp/user`, data: { probe: 1 } });
  assert.equal(again.statusCode, 200);
  assert.equal(verifier.calls.length, calls + 2, 'one re-login');
  assert.notEqual(cometa.Session.get().skey, 'stale');
  assert.match(mp.wx.__requests.at(-1).url, /\/weapp\/user\?probe=1$/);

  // A failed exchange: RequestError with wx's errMsg.
  mp.wx.__setOnline(false);
  await assert.rejects(cometa.request({ url: `${relay.url}/weapp/user` }), (e) => e.type === 'ERR_REQUEST_FAILED' && /^request:fail /.test(e.errMsg));
  mp.wx.__setOnline(true);
});

test('two tunnels at once on two SocketTasks: push, kill -9, outage, reconnect, nothing lost', async () => {
  const url = `${relay.url}/weapp/tunnel`;
  const t1 = new cometa.Tunnel(url, { backoffBaseMs: 200, backoffCapMs: 1000 });
  const t2 = new cometa.Tunnel(url, { backoffBaseMs: 200, backoffCapMs: 1000 });
  const r1 = recorder(t1);
  const r2 = recorder(t2);
  t1.emit('hello', { from: 't1' }); // queued until active
  t1.open();
  t2.open();
  await Promise.all([r1.waitFor((e) => e.type === 'connect'), r2.waitFor((e) => e.type === 'connect')]);
  assert.ok(t1.isActive() && t2.isActive());
  assert.match(t1.socketUrl, /^ws:\/\//);
  const open = mp.wx.__sockets.filter((s) => s.state === 'open');
  assert.equal(open.length, 2, 'one SocketTask per tunnel');

  const got = (r, n) => r.count((e) => e.type === 'news' && e.payload.n === n);
  await relay.push(openid, 'news', { n: 1 });
  await Promise.all([r1, r2].map((r) => r.waitFor((e) => e.type === 'news' && e.payload.n === 1)));

  // A kill -9 before the tunnels' receipts for n:1 are on disk replays it after the restart;
  // the SDK drops a seq it already delivered, so the page still sees it once.
  // The relay dies; while the phone is offline it comes back and the back end pushes.
  await relay.kill();
  await Promise.all([r1, r2].map((r) => r.waitFor((e) => e.type === 'reconnecting')));
  mp.wx.__setOnline(false);
  await relay.restart();
  await relay.push(openid, 'news', { n: 2 });
  await relay.push(openid, 'news', { n: 3 });
  assert.ok(t1.isReconnecting() && t2.isReconnecting());
  // Network back: wx.onNetworkStatusChange wakes both tunnels at once (no backoff wait).
  mp.wx.__setOnline(true);
  await Promise.all([r1, r2].map((r) => r.waitFor((e) => e.type === 'reconnect', 20000)));

  await relay.push(openid, 'news', { n: 4 });
  await Promise.all([r1, r2].map((r) => r.waitFor((e) => e.type === 'news' && e.payload.n === 4)));

  for (const r of [r1, r2]) {
    assert.equal(got(r, 1), 1);
    assert.equal(got(r, 4), 1);
    // The outage's messages: never twice on a tunnel, in order.
    assert.ok(got(r, 2) <= 1 && got(r, 3) <= 1, JSON.stringify(r.events));
    const order = r.events.filter((e) => e.type === 'news').map((e) => e.payload.n);
    assert.deepEqual(order, [...order].sort());
  }
  // Nothing lost: the relay keeps one cursor per session (design.md §4), so the backlog is
  // replayed once for this session, on whichever tunnel reconnected first (or on both when
  // they raced); every message the outage held reached the mini-program.
  for (const n of [2, 3]) assert.ok(got(r1, n) + got(r2, n) >= 1, `message ${n} lost`);

  t1.close();
  t2.close();
  await Promise.all([r1, r2].map((r) => r.waitFor((e) => e.type === 'close')));
  assert.ok(t1.isClosed() && t2.isClosed());
  // Each SocketTask was closed (the closing handshake takes a moment).
  for (let i = 0; i < 100 && mp.wx.__sockets.some((s) => s.state !== 'closed'); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(mp.wx.__sockets.filter((s) => s.state !== 'closed').length, 0);
});

test('configure({ wasmPath }) and a missing file: calls fail with the load error', async () => {
  const other = createMiniProgram({ wechat, openid: `${openid}-2` });
  const sdk = other.require('cometa');
  sdk.configure({ wasmPath: '/miniprogram_npm/cometa/missing.wasm', loginUrl: `${relay.url}/weapp/login` });
  const errors = [];
  const origError = console.error;
  console.error = (...a) => errors.push(a.join(' '));
  try {
    const failed = await new Promise((resolve) => sdk.request({ url: `${relay.url}/weapp/user`, fail: resolve }));
    assert.match(String(failed.message), /no file \/miniprogram_npm\/cometa\/missing\.wasm/);
  } finally {
    console.error = origError;
  }
  assert.deepEqual(other.instantiated, ['/miniprogram_npm/cometa/missing.wasm']);
});

test("the root README's mini-program snippet runs as written", async () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Mini-programs'));
  const snippet = /```js\n([\s\S]*?)```/.exec(section)[1].replaceAll('https://relay.example.com', relay.url);
  const lines = [];
  let wake;
  const log = (...a) => {
    lines.push(a.join(' '));
    wake?.();
  };
  const until = async (pred) => {
    const deadline = Date.now() + 10000;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error('README snippet printed: ' + JSON.stringify(lines));
      await new Promise((r) => ((wake = r), setTimeout(r, 50)));
    }
  };
  const phone = `${openid}-readme`;
  const page = createMiniProgram({ wechat, openid: phone, userInfo: { nickName: 'Readme' }, console: { log, error: log, warn: log } });
  page.runScript(snippet);
  await until(() => lines.includes('tunnel open'));
  assert.equal(lines[0], 'signed in as Readme');
  await relay.push(phone, 'news', { text: 'hello from the back end' });
  await until(() => lines.includes('news: hello from the back end'));
  await until(() => page.wx.__sockets.every((s) => s.state === 'closed'));
});

/** A second phone: its own runtime, user and SocketTasks, logged in. */
async function phone(name) {
  const id = `${openid}-${name}`;
  const p = createMiniProgram({ wechat, openid: id, userInfo: { nickName: name } });
  const sdk = p.require('cometa');
  sdk.setLoginUrl(`${relay.url}/weapp/login`);
  await sdk.login();
  return { id, p, sdk };
}

test('wx.onAppShow reconnects at once: a hidden mini-program runs no timers, the shown one misses nothing', async () => {
  const { id, p, sdk } = await phone('sleeper');
  const t = new sdk.Tunnel(`${relay.url}/weapp/tunnel`);
  const r = recorder(t);
  t.open();
  await r.waitFor((e) => e.type === 'connect');
  // From here every timer of the mini-program waits two minutes at least (WeChat suspends a
  // hidden mini-program's JS after ~5 s): only wx.onAppShow can bring the tunnel back in time.
  p.run('{ const real = globalThis.setTimeout; globalThis.setTimeout = (f, ms, ...a) => real(f, ms > 0 ? Math.max(ms, 120000) : ms, ...a); }');
  for (const f of [...p.wx.__listeners.hide]) f();
  await relay.kill();
  await r.waitFor((e) => e.type === 'reconnecting');
  await relay.restart();
  await relay.push(id, 'news', { n: 1 });
  const shown = Date.now();
  for (const f of [...p.wx.__listeners.show]) f({ scene: 1001 });
  await r.waitFor((e) => e.type === 'news' && e.payload.n === 1, 5000);
  assert.ok(Date.now() - shown < 5000);
  await relay.push(id, 'news', { n: 2 });
  await r.waitFor((e) => e.type === 'news' && e.payload.n === 2);
  assert.deepEqual(r.events.filter((e) => e.type === 'news').map((e) => e.payload.n), [1, 2]);
  t.close();
  await r.waitFor((e) => e.type === 'close');
});

test('at most 5 SocketTasks: a sixth tunnel gets ERR_SOCKET_LIMIT without calling wx.connectSocket, and connects once one closes', async () => {
  const { p, sdk } = await phone('many');
  const real = p.wx.connectSocket;
  let calls = 0;
  p.wx.connectSocket = (o) => (calls++, real(o));
  const url = `${relay.url}/weapp/tunnel`;
  const tunnels = [];
  for (let i = 0; i < 5; i++) {
    const t = new sdk.Tunnel(url);
    tunnels.push([t, recorder(t)]);
    t.open();
  }
  await Promise.all(tunnels.map(([, r]) => r.waitFor((e) => e.type === 'connect')));
  assert.equal(calls, 5);

  const sixth = new sdk.Tunnel(url, { backoffBaseMs: 50, backoffCapMs: 100 });
  const r6 = recorder(sixth);
  sixth.open();
  const refused = await r6.waitFor((e) => e.type === 'error');
  assert.equal(refused.payload.code, sdk.Tunnel.ERR_SOCKET_ERROR);
  assert.match(refused.payload.message, /ERR_SOCKET_LIMIT: 5 SocketTasks are open/);
  assert.equal(calls, 5, 'wx.connectSocket is not asked for a sixth task');
  assert.ok(sixth.isConnecting() || sixth.isReconnecting());

  // A slot frees: the sixth connects on its next try.
  const [first, r1] = tunnels.shift();
  first.close();
  await r1.waitFor((e) => e.type === 'close');
  await r6.waitFor((e) => e.type === 'connect');
  assert.ok(p.wx.__sockets.filter((s) => s.state !== 'closed').length <= 5);
  for (const [t, r] of [...tunnels, [sixth, r6]]) {
    t.close();
    await r.waitFor((e) => e.type === 'close');
  }
});
