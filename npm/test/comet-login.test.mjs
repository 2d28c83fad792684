// One login for both APIs: `cometa/comet`'s start() takes the session key of a `cometa` login
// (`skey`) or a JWT (`token`) instead of a per-user key, as the relay's auth frame does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import WebSocket from 'ws';
import { login, Session } from 'cometa';
import { CometApi } from 'cometa/comet';
import { startRelay } from './helpers/relay.mjs';

const SECRET = 'comet-login-test-jwt-secret-0123456789';
let relay;
before(async () => {
  relay = await startRelay({ args: ['--jwt-secret', SECRET] });
});
after(async () => {
  await relay?.stop();
});

function jwt(sub) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}

/** Starts `api` with `options`; resolves with the authenticated user id and a personal message. */
async function signIn(api, options, user) {
  const authed = new Promise((resolve, reject) => {
    api.onAuthSuccess((a) => resolve(a.data.user_id));
    api.onAuthFalill((a) => reject(new Error(`auth refused: ${JSON.stringify(a.error)}`)));
  });
  const got = new Promise((resolve) => api.subscription('msg.invoice', (m) => resolve(m.data)));
  api.start({ node: relay.url, WebSocket, ...options });
  const id = await Promise.race([authed, new Promise((_, reject) => setTimeout(() => reject(new Error('no auth answer within 10 s')), 10000))]);
  await relay.push(user, 'invoice', { n: 1 });
  return { id, message: await got };
}

test("start({ skey }) signs in with a cometa login's session", { timeout: 30000 }, async () => {
  await login({ loginUrl: `${relay.url}/weapp/login`, code: await relay.mintCode('comet-skey') });
  const api = new CometApi();
  // Stopped even when the test fails, so a running connection cannot hold the process open.
  const { id, message } = await signIn(api, { skey: Session.get().skey }, 'comet-skey').finally(() => api.stop());
  assert.equal(id, 'comet-skey');
  assert.deepEqual(message, { n: 1 });
});

test('start({ token }) signs in with a JWT', { timeout: 30000 }, async () => {
  const api = new CometApi();
  const { id, message } = await signIn(api, { token: jwt('comet-jwt') }, 'comet-jwt').finally(() => api.stop());
  assert.equal(id, 'comet-jwt');
  assert.deepEqual(message, { n: 1 });
});
