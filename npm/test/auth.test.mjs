// The login ways, extendedAuth, session renewal and the one-login-at-a-time rule, in Node,
// against a tiny stand-in relay (node:http) that records what the SDK sends and answers as
// the relay would. The browser file (browser-auth.test.mjs) runs the same features against
// the real relay.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import WebSocket from 'ws';
import * as cometa from 'cometa';
import { recorder } from './fixtures/recorder.js';

let server, base;
/** Every request: `{method, path, query, headers, body}`. */
let seen = [];
/** Per path: `(req) => [status, body]`; the default answers 404. */
let routes = {};

const now = () => Math.floor(Date.now() / 1000);
const session = (skey, life = 3600, userinfo = { id: 'u1' }) => [200, { code: 0, data: { skey, userinfo, time: now(), expires_at: now() + life } }];
const refused = () => [401, { code: -1, error: 'ERR_SKEY_INVALID', message: 'no such session' }];
const waitFor = async (pred, what, ms = 5000) => {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (pred()) return;
  throw new Error(`timed out waiting for ${what}; requests: ${JSON.stringify(seen.map((r) => r.path))}`);
};
const hits = (path) => seen.filter((r) => r.path === path);

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const url = new URL(req.url, 'http://x');
      const r = { method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body };
      seen.push(r);
      const [status, answer] = (routes[r.path] || (() => [404, { code: -1, error: 'NOT_FOUND' }]))(r);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
  cometa.configure({ WebSocket, loginUrl: `${base}/weapp/login` });
});
after(() => new Promise((r) => server.close(r)));
beforeEach(() => {
  seen = [];
  routes = {};
  cometa.configure({ extendedAuth: null, codeProvider: null, getToken: null, credentials: null });
  cometa.clearSession();
});

test('each way to log in sends its own credentials', async () => {
  routes['/weapp/login'] = () => session('k');
  await cometa.login({ token: 'jwt.jwt.jwt' });
  await cometa.login({ username: 'bob', password: 'correct horse', rememberMe: false });
  await cometa.login({ code: 'c1' });
  await cometa.login({ anonymous: true });
  cometa.setTokenProvider(() => 'from-get-token');
  await cometa.login();
  const [jwt, password, code, visitor, provided] = hits('/weapp/login');
  assert.equal(jwt.headers.authorization, 'Bearer jwt.jwt.jwt');
  assert.equal(password.method, 'POST');
  assert.deepEqual(JSON.parse(password.body), { username: 'bob', password: 'correct horse' });
  assert.equal(password.headers['x-wx-remember'], '0', 'rememberMe: false asks for a short session');
  assert.equal(password.headers.authorization, undefined);
  assert.equal(code.headers['x-wx-code'], 'c1');
  assert.equal(code.headers['x-wx-remember'], undefined);
  for (const h of ['authorization', 'x-wx-code', 'x-wx-skey']) assert.equal(visitor.headers[h], undefined, `a visitor sends no ${h}`);
  assert.equal(provided.headers.authorization, 'Bearer from-get-token');

  // Nothing to log in with: a RequestError, without a request.
  cometa.setTokenProvider(null);
  seen = [];
  await assert.rejects(cometa.login(), (e) => e instanceof cometa.RequestError && e.type === cometa.ERR_WX_LOGIN_FAILED);
  assert.equal(seen.length, 0);
});

test('extendedAuth: headers on every request, tunnel data in the handshake query', async () => {
  routes['/weapp/login'] = () => session('k1');
  routes['/api'] = () => [200, { ok: true }];
  routes['/weapp/tunnel'] = () => [503, { code: -1, error: 'DOWN' }];
  cometa.configure({ extendedAuth: { headers: { 'X-Site-Token': 'site-1', 'X-WX-Code': 'site-session' }, tunnel: { widget: 'help', lang: 'en' } } });

  // Delegated: no code provider, the extendedAuth headers are the credentials.
  assert.deepEqual(await cometa.login(), { id: 'u1' });
  const login = hits('/weapp/login')[0];
  assert.equal(login.headers['x-site-token'], 'site-1');
  assert.equal(login.headers['x-wx-code'], 'site-session');

  // The caller's headers win over extendedAuth's, the SDK's own win over both.
  await cometa.request({ url: `${base}/api`, header: { 'X-Site-Token': 'caller', 'X-WX-Skey': 'forged' } });
  const api = hits('/api')[0];
  assert.equal(api.headers['x-site-token'], 'caller');
  assert.equal(api.headers['x-wx-code'], 'site-session');
  assert.equal(api.headers['x-wx-skey'], 'k1');

  // An explicit code wins over the extendedAuth header of the same name.
  await cometa.login({ code: 'explicit' });
  assert.equal(hits('/weapp/login')[1].headers['x-wx-code'], 'explicit');

  const tunnel = new cometa.Tunnel(`${base}/weapp/tunnel`);
  const rec = recorder(tunnel);
  tunnel.open();
  assert.equal((await rec.waitFor((e) => e.type === 'error')).payload.code, cometa.Tunnel.ERR_CONNECT_SERVICE);
  const handshake = hits('/weapp/tunnel')[0];
  assert.deepEqual(handshake.query, { widget: 'help', lang: 'en' });
  assert.equal(handshake.headers['x-site-token'], 'site-1');
  assert.equal(handshake.headers['x-wx-skey'], 'k1');

  assert.throws(() => cometa.configure({ extendedAuth: 5 }), (e) => e.type === cometa.ERR_INVALID_PARAMS);
});

test('two requests refused together cause one login', async () => {
  let codes = 0;
  cometa.setCodeProvider(async () => {
    codes++;
    await new Promise((r) => setTimeout(r, 50)); // the second refusal arrives meanwhile
    return `code-${codes}`;
  });
  routes['/weapp/login'] = () => session('fresh');
  routes['/weapp/user'] = (r) => (r.headers['x-wx-skey'] === 'fresh' ? [200, { code: 0, data: { id: 'u1' } }] : refused());
  cometa.Session.set({ skey: 'stale', userinfo: {} });
  const [a, b, c] = await Promise.all([0, 1, 2].map(() => cometa.request({ url: `${base}/weapp/user` })));
  assert.deepEqual([a.statusCode, b.statusCode, c.statusCode], [200, 200, 200]);
  assert.equal(codes, 1, 'one code asked for');
  assert.equal(hits('/weapp/login').length, 1, 'one login');
  assert.equal(cometa.Session.get().skey, 'fresh');
});

test('the session is refreshed before it expires', async () => {
  let n = 0;
  routes['/weapp/login'] = () => session('k0', 2); // renewed at half its life: in about 1 s
  routes['/weapp/refresh'] = (r) => (r.headers['x-wx-skey'] === `k${n}` ? session(`k${++n}`, 3600) : refused());
  await cometa.login({ code: 'c' });
  await waitFor(() => cometa.Session.get()?.skey === 'k1', 'the refresh');
  const refresh = hits('/weapp/refresh')[0];
  assert.equal(refresh.method, 'POST');
  assert.equal(refresh.headers['x-wx-skey'], 'k0');
  assert.ok(cometa.Session.get().expires_at > now() + 3000, 'the new expiry is stored');
  // The next renewal is an hour away: nothing more now.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(hits('/weapp/refresh').length, 1);
});

test('a renewal timer that fires early by the wall clock still renews', async () => {
  let n = 0;
  routes['/weapp/login'] = () => session('k0', 2); // renewed at half its life: in about 1 s
  routes['/weapp/refresh'] = (r) => (r.headers['x-wx-skey'] === `k${n}` ? session(`k${++n}`, 3600) : refused());
  await cometa.login({ code: 'c' });
  // The clock is set back 50 ms after the timer was armed: it fires before the deadline by
  // Date.now(), as a monotonic timer may by a millisecond. The renewal must still happen.
  const realNow = Date.now;
  Date.now = () => realNow() - 50;
  try {
    await waitFor(() => cometa.Session.get()?.skey === 'k1', 'the refresh');
  } finally {
    Date.now = realNow;
  }
  assert.equal(hits('/weapp/refresh').length, 1);
});

test('a refused renewal with no way to log in again ends the session', async () => {
  routes['/weapp/login'] = () => session('k0', 2);
  routes['/weapp/refresh'] = () => refused();
  await cometa.login({ code: 'c' });
  await waitFor(() => cometa.Session.get() === null, 'the end of the session');
  assert.equal(hits('/weapp/refresh').length, 1);
  assert.equal(hits('/weapp/login').length, 1, 'no provider: no second login');
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(hits('/weapp/refresh').length, 1, 'no retry loop');
});

test('a visitor logs in again as a visitor; getToken follows a refused refresh', async () => {
  let logins = 0;
  routes['/weapp/login'] = (r) => session(`${r.headers.authorization ? 'jwt' : 'visitor'}-${++logins}`, 2);
  routes['/weapp/refresh'] = () => refused();
  await cometa.login({ anonymous: true });
  await waitFor(() => cometa.Session.get()?.skey === 'visitor-2', 'the visitor login again');
  assert.equal(hits('/weapp/login')[1].headers.authorization, undefined, 'still anonymous');

  cometa.clearSession();
  let tokens = 0;
  cometa.setTokenProvider(() => `token-${++tokens}`);
  seen = [];
  await cometa.login();
  await waitFor(() => cometa.Session.get()?.skey === `jwt-${logins}` && tokens === 2, 'the login with a second token');
  assert.equal(hits('/weapp/login')[1].headers.authorization, 'Bearer token-2');
  cometa.clearSession(); // stops the renewals
});
