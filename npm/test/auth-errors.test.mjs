// What a page gets when a login, a request or a renewal fails: the RequestError's `type`,
// `message` and `terminal` mark for every failure the session core names, against a tiny
// stand-in relay (node:http) that answers each case; and the errors of a tunnel's `emit` and
// of a tunnel whose session ended. The words are the page's API (code
// matches on `type`, people read `message`), whichever side of the module builds them.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import * as cometa from 'cometa';
import { problem, RequestError } from '../../sdk-wasm/js/host.js';

let server, base;
/** Per path: `(req) => [status, body]` or a Promise of it; the default answers 404. */
let routes = {};

const now = () => Math.floor(Date.now() / 1000);
const session = (skey, life = 3600) => [200, { code: 0, data: { skey, userinfo: { id: 'u1' }, time: now(), expires_at: now() + life } }];
/** Asserts `e` is a RequestError of `type` and `message`, marked `terminal` or not. */
const failure = (type, message, terminal) => (e) => {
  assert.ok(e instanceof cometa.RequestError, `a RequestError, got ${e}`);
  assert.equal(e.type, type);
  assert.equal(e.message, message);
  assert.equal(e.terminal, terminal);
  return true;
};

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', async () => {
      const path = new URL(req.url, 'http://x').pathname;
      const [status, answer] = await (routes[path] || (() => [404, { code: -1, error: 'NOT_FOUND' }]))(req);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
});
after(() => {
  server.closeAllConnections();
  return new Promise((r) => server.close(r));
});
beforeEach(() => {
  routes = {};
  cometa.configure({ loginUrl: `${base}/weapp/login`, codeProvider: null, getToken: null });
  cometa.clearSession();
});

test('a refused login: the relay words it, or the answer is quoted; terminal when the credentials were refused', async () => {
  routes['/weapp/login'] = () => [401, { code: -1, error: 'ERR_BAD_CODE', message: 'code used' }];
  await assert.rejects(cometa.login({ code: 'c' }), failure('ERR_BAD_CODE', 'code used', true));
  routes['/weapp/login'] = () => [500, { code: 7 }];
  await assert.rejects(
    cometa.login({ code: 'c' }),
    failure(cometa.ERR_LOGIN_FAILED, 'login failed: unexpected response (HTTP 500) {"code":7}', undefined),
  );
});

test('a login answered without a session or without userinfo', async () => {
  routes['/weapp/login'] = () => [200, { code: 0, data: { userinfo: {} } }];
  await assert.rejects(
    cometa.loginWithCode({ code: 'c' }),
    failure('ERR_LOGIN_MISSING_SESSION', 'login answered without a session (data.skey)', true),
  );
  routes['/weapp/login'] = () => [200, { code: 0, data: { skey: 'k' } }];
  await assert.rejects(cometa.login({ code: 'c' }), failure(cometa.ERR_LOGIN_FAILED, 'login answered without data.userinfo', true));
  assert.equal(cometa.Session.get(), null, 'nothing stored');
});

test('a login without a URL fails at once, terminal', async () => {
  cometa.setLoginUrl(null);
  await assert.rejects(
    cometa.login({ code: 'c' }),
    failure(cometa.ERR_INVALID_PARAMS, 'no login URL: set one with setLoginUrl(url) or pass opts.loginUrl', true),
  );
});

test('a key refused again after logging in again: the relay words it, or the session has expired', async () => {
  cometa.setTokenProvider(() => 'jwt');
  routes['/weapp/login'] = () => session('k');
  routes['/api'] = () => [401, { code: -1 }];
  await assert.rejects(
    cometa.request({ url: `${base}/api`, login: true }),
    failure(cometa.ERR_SESSION_INVALID, 'the session has expired (login state invalid)', undefined),
  );
  routes['/api'] = () => [200, { code: -1, error: 'ERR_GONE', message: 'user deleted' }];
  await assert.rejects(cometa.request({ url: `${base}/api`, login: true }), failure('ERR_GONE', 'user deleted', undefined));
});

// A failed refresh reaches the page only through a request whose key was refused while the
// refresh was in flight, an order no server can force: its words are checked on js/host.js
// itself, which builds every message above.
test('a failed refresh', () => {
  const e = problem(4, { statusCode: 502, data: { code: -1 } }, false);
  assert.ok(e instanceof RequestError);
  assert.equal(e.type, 'ERR_SESSION_INVALID');
  assert.equal(e.message, 'session refresh failed: HTTP 502');
  assert.equal(e.terminal, undefined);
});

test('request options that are not an object or have no URL', async () => {
  await assert.rejects(
    cometa.request(42),
    failure(cometa.ERR_INVALID_PARAMS, 'request options must be an object, got number', undefined),
  );
  await assert.rejects(cometa.request({ url: '' }), failure(cometa.ERR_INVALID_PARAMS, 'options.url must be a string', undefined));
});

test("emit's arguments: a type that is not a string, content JSON cannot encode", () => {
  const tunnel = new cometa.Tunnel(`${base}/weapp/tunnel`, { persist: false });
  const invalid = (message) => failure(cometa.ERR_INVALID_PARAMS, message, undefined);
  assert.throws(() => tunnel.emit(7, {}), invalid('tunnel.emit(type, content): type must be a string'));
  const cyclic = {};
  cyclic.self = cyclic;
  let why;
  try {
    JSON.stringify(cyclic);
  } catch (e) {
    why = e.message;
  }
  assert.throws(() => tunnel.emit('x', cyclic), invalid(`tunnel.emit: content is not JSON-encodable: ${why}`));
  const thrower = {
    toJSON() {
      throw 'no JSON here';
    },
  };
  assert.throws(() => tunnel.emit('x', thrower), invalid('tunnel.emit: content is not JSON-encodable: no JSON here'));
  assert.equal(tunnel.status, 'CLOSED');
  assert.equal(tunnel.socketUrl, null, 'no connect URL yet');
});

test('a tunnel whose session ended for good: error 4502 with why', async () => {
  // The session is renewed a second in; the relay refuses the key and nothing can log in
  // again. The tunnel meanwhile waits for its connect URL.
  let release;
  const held = new Promise((r) => (release = r));
  routes['/weapp/login'] = () => session('k', 2);
  routes['/weapp/refresh'] = () => [401, { code: -1 }];
  routes['/weapp/tunnel'] = () => held.then(() => [503, {}]);
  await cometa.login({ code: 'c' });
  const tunnel = new cometa.Tunnel(`${base}/weapp/tunnel`, { connectTimeoutMs: 0, persist: false });
  const error = new Promise((r) => tunnel.on('error', r));
  tunnel.open();
  const e = await error;
  release();
  assert.equal(e.code, 4502);
  assert.equal(e.message, 'the session ended: no credentials: no code, token, password, anonymous, provider or extendedAuth');
  assert.equal(tunnel.status, 'CLOSED');
});
