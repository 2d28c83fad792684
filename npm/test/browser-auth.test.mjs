// Visitors and session renewal in headless Chromium against the real relay. The page is
// served from 127.0.0.1 on another port than the relay: another origin (CORS with
// credentials for real) but the same site, which the visitor cookie's SameSite=Lax needs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { pageSuite } from './helpers/suite.mjs';

const JWT_SECRET = 'browser-auth-test-secret-0123456789abcdef';
// Sessions live 6 s, renewed at half their life: renewals happen within the test's seconds.
const TTL = 6;
let relay, site, browser;

/** An HS256 token as a customer's back end would mint it. */
function jwt(sub, lifeSecs) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, exp: Math.floor(Date.now() / 1000) + lifeSecs })}`;
  return `${body}.${createHmac('sha256', JWT_SECRET).update(body).digest('base64url')}`;
}

pageSuite((e) => ({ relay, site, browser } = e), {
  // The visitor cookie crosses origins only for listed ones.
  relayArgs: (s) => ['--anonymous', '--allowed-origins', s.url, '--jwt-secret', JWT_SECRET, '--session-ttl-secs', String(TTL), '--session-ttl-short-secs', String(TTL)],
});

/** A page of the test site with the SDK loaded, in `context`. */
async function open(context, problems) {
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(String(e)));
  await page.goto(`${site.url}/test/fixtures/page.html`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 10000 });
  return page;
}

test('browser: a visitor keeps its identity and its queued messages in the cookie', async () => {
  const context = await browser.newContext();
  const problems = [];
  let page = await open(context, problems);
  const first = await page.evaluate(async (relayUrl) => {
    const { configure, login, request } = window.cometa;
    configure({ loginUrl: `${relayUrl}/weapp/login` });
    const me = await login({ anonymous: true });
    // `credentials: 'include'` for every request works too against a relay with --anonymous.
    configure({ credentials: 'include' });
    const user = await request({ url: `${relayUrl}/weapp/user` });
    configure({ credentials: null });
    return { id: me.user_id, status: user.statusCode, same: user.data.data.user_id };
  }, relay.url);
  assert.match(first.id, /^visitor:/);
  assert.equal(first.status, 200);
  assert.equal(first.same, first.id);
  const cookies = await context.cookies(relay.url);
  const cookie = cookies.find((c) => c.name === 'cometa_visitor');
  assert.ok(cookie, 'the relay set the visitor cookie');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Lax');

  // The visitor goes away; a message for it is queued meanwhile.
  await page.close();
  await relay.push(first.id, 'welcome', { text: 'while you were away' });

  // Back, with no stored session: the cookie makes the new login the same visitor, and the
  // queued message arrives on its first tunnel.
  page = await open(context, problems);
  const back = await page.evaluate(async (relayUrl) => {
    const { configure, login, clearSession, Tunnel } = window.cometa;
    configure({ loginUrl: `${relayUrl}/weapp/login` });
    clearSession();
    const me = await login({ anonymous: true });
    const tunnel = new Tunnel(`${relayUrl}/weapp/tunnel`);
    const rec = window.recorder(tunnel);
    tunnel.open();
    const welcome = await rec.waitFor((e) => e.type === 'welcome');
    tunnel.close();
    return { id: me.user_id, welcome: welcome.payload };
  }, relay.url);
  assert.equal(back.id, first.id);
  assert.deepEqual(back.welcome, { text: 'while you were away' });

  // A tampered cookie is ignored: a new visitor.
  await context.addCookies([{ name: 'cometa_visitor', value: `${cookie.value.slice(0, -4)}AAAA`, url: relay.url }]);
  const other = await page.evaluate(() => window.cometa.login({ anonymous: true }).then((me) => me.user_id));
  assert.match(other, /^visitor:/);
  assert.notEqual(other, first.id);
  assert.deepEqual(problems, []);
  await context.close();
});

test('browser: a JWT session is renewed before it expires, on the same tunnel', async () => {
  const user = `jwt-${process.pid}`;
  const context = await browser.newContext();
  const problems = [];
  const page = await open(context, problems);
  let tokens = 0;
  await page.exposeFunction('getToken', () => (tokens++, jwt(user, 3600)));
  const start = await page.evaluate(async (relayUrl) => {
    const { configure, login, Session, Tunnel } = window.cometa;
    configure({ loginUrl: `${relayUrl}/weapp/login`, getToken: () => window.getToken() });
    await login();
    const tunnel = new Tunnel(`${relayUrl}/weapp/tunnel`);
    window.rec = window.recorder(tunnel);
    window.tunnel = tunnel;
    tunnel.open();
    await window.rec.waitFor((e) => e.type === 'connect');
    return Session.get();
  }, relay.url);
  assert.ok(start.expires_at - start.time <= TTL);

  // Past the first session's expiry, by the relay's clock.
  const after = await page.evaluate(async (end) => {
    while (Date.now() / 1000 < end + 1) await new Promise((r) => setTimeout(r, 100));
    const res = await window.cometa.request({ url: `${window.tunnel.serviceUrl.replace('/tunnel', '/user')}` });
    return { session: window.cometa.Session.get(), status: res.statusCode };
  }, start.expires_at);
  assert.notEqual(after.session.skey, start.skey, 'the key was renewed');
  assert.ok(after.session.expires_at > start.expires_at, 'and its expiry moved');
  assert.equal(after.status, 200, 'the renewed key works');
  assert.equal(tokens, 1, 'renewed by refresh: no second token, no new login');

  await relay.push(user, 'late', { n: 1 });
  const events = await page.evaluate(async () => {
    await window.rec.waitFor((e) => e.type === 'late');
    window.tunnel.close();
    return window.rec.events.map((e) => e.type);
  });
  assert.deepEqual(events, ['connect', 'late', 'close'], 'one connection from start to end, no reconnect');
  assert.deepEqual(problems, []);
  await context.close();
});

test('browser: an empty renewal ends the session with a terminal error, no reconnects', async () => {
  const user = `jwt-end-${process.pid}`;
  const context = await browser.newContext();
  const problems = [];
  const page = await open(context, problems);
  let tokens = 0;
  // The first token ends in 4 s (a hard end no refresh can pass), then the site has none.
  await page.exposeFunction('getToken', () => (tokens++ === 0 ? jwt(user, 4) : ''));
  await page.evaluate(async (relayUrl) => {
    const { configure, login, Tunnel } = window.cometa;
    configure({ loginUrl: `${relayUrl}/weapp/login`, getToken: () => window.getToken() });
    await login();
    const tunnel = new Tunnel(`${relayUrl}/weapp/tunnel`, { backoffBaseMs: 100, backoffCapMs: 200 });
    window.rec = window.recorder(tunnel);
    window.tunnel = tunnel;
    tunnel.open();
    await window.rec.waitFor((e) => e.type === 'connect');
  }, relay.url);

  const ended = await page.evaluate(async () => {
    const error = await window.rec.waitFor((e) => e.type === 'error', 10000);
    // Long enough for a reconnect attempt (backoff ≤ 200 ms) to show if there were one.
    await new Promise((r) => setTimeout(r, 1500));
    return { error: error.payload, events: window.rec.events.map((e) => e.type), status: window.tunnel.status, session: window.cometa.Session.get() };
  });
  assert.equal(ended.error.code, 4502);
  assert.match(ended.error.message, /session ended/);
  assert.deepEqual(ended.events, ['connect', 'close', 'error']);
  assert.equal(ended.status, 'CLOSED');
  assert.equal(ended.session, null, 'the session is cleared');
  assert.equal(tokens, 2, 'asked once more, no retry loop');
  assert.deepEqual(problems, []);
  await context.close();
});
