// `start({ getToken })` on `cometa/comet` (centrifuge-js's token refresh) in Node against a
// live relay with `--jwt-secret`: the first token comes from getToken; a token the relay
// refuses because it expired is replaced by calling getToken again, and the connection signs
// in with the new one; a source that only gives refused tokens stops after three refusals.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import WebSocket from 'ws';
import { CometApi } from 'cometa/comet';
import { startRelay } from './helpers/relay.mjs';
import { within } from './helpers/wait.mjs';

const SECRET = 'comet-token-test-jwt-secret-0123456789';
let relay;
const apis = [];
before(async () => {
  relay = await startRelay({ args: ['--jwt-secret', SECRET, '--key-failures-per-address', '1000'] });
});
after(async () => {
  for (const a of apis) a.stop();
  await relay?.stop();
});

function jwt(sub, expIn) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, exp: Math.floor(Date.now() / 1000) + expIn })}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}

test('getToken gives the first token, and a fresh one when the relay refuses an expired one', async () => {
  const calls = [];
  const api = new CometApi();
  apis.push(api);
  const authed = new Promise((resolve) => api.onAuthSuccess((a) => resolve(a.data.user_id)));
  const got = new Promise((resolve) => api.subscription('msg.invoice', (m) => resolve(m.data)));
  api.start({
    node: relay.url,
    WebSocket,
    // The first token has already expired (as after a night offline); the second is good.
    getToken: async () => {
      calls.push(Date.now());
      return jwt('token-user', calls.length === 1 ? -60 : 3600);
    },
  });
  assert.equal(await within(authed, 'sign-in with the refreshed token'), 'token-user');
  assert.equal(calls.length, 2, 'getToken called for the first token and after the refusal');
  await relay.push('token-user', 'invoice', { n: 1 });
  assert.deepEqual(await within(got, 'a personal message'), { n: 1 });
});

test('a token given to start is used first; getToken only when it is refused', async () => {
  let calls = 0;
  const api = new CometApi();
  apis.push(api);
  const authed = new Promise((resolve) => api.onAuthSuccess((a) => resolve(a.data.user_id)));
  api.start({ node: relay.url, WebSocket, token: jwt('given-user', -60), getToken: () => (calls++, jwt('given-user', 3600)) });
  assert.equal(await within(authed, 'sign-in'), 'given-user');
  assert.equal(calls, 1);
});

test('three refused tokens in a row stop the connection with an error', async () => {
  let calls = 0;
  const api = new CometApi();
  apis.push(api);
  const errors = [];
  api.on('error', (e) => errors.push(e));
  const stopped = new Promise((resolve) => api.on('disconnected', resolve));
  api.start({ node: relay.url, WebSocket, getToken: () => (calls++, jwt('never', -60)) });
  await within(stopped, 'disconnected');
  assert.equal(calls, 3);
  assert.ok(errors.some((e) => e.code === 4004 && /3 tokens in a row/.test(e.message)), JSON.stringify(errors));
});
