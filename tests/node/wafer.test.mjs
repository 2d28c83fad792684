// End-to-end: the real wafer2-client-sdk@2.1.0, running on a `wx` shim, against the
// cometa-relay binary. One relay per file; the scenarios share one SDK state (session, tunnel)
// and run in order, because the Wafer SDK allows only one non-closed tunnel at a time.
//
// Binary: $COMETA_RELAY_BIN, default ../../target/debug/cometa-relay relative to this file.
// Set COMETA_E2E_VERBOSE=1 to see the relay's stderr.

import { shim, Recorder, abbreviate, resetSocket } from './wx-shim.mjs'; // installs global wx first

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';

const require = createRequire(import.meta.url);
const wafer = require('wafer2-client-sdk'); // after the shim: lib/wxTunnel.js uses wx at load
const { Tunnel, Session } = wafer;

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RELAY_BIN = process.env.COMETA_RELAY_BIN
  ? path.resolve(process.env.COMETA_RELAY_BIN)
  : path.resolve(HERE, '../../target/debug/cometa-relay');
const VERBOSE = !!process.env.COMETA_E2E_VERBOSE;

const API_KEY = 'e2e-' + randomBytes(16).toString('hex');
const WEBHOOK_SECRET = 'whsec-' + randomBytes(16).toString('hex');
const USER_ID = 'u1';
const USERINFO = { nickName: 'A', avatarUrl: 'https://example.invalid/a.png', gender: 1, city: '深圳' };

const T = 5000; // default wait for an event that should be quick

// --- relay process ---------------------------------------------------------------------------

const relayLog = []; // stdout+stderr lines of every relay started by this file (tail kept)

function logRelay(line) {
  relayLog.push(line);
  if (relayLog.length > 400) relayLog.splice(0, relayLog.length - 400);
  if (VERBOSE) process.stderr.write(`[relay] ${line}\n`);
}

function relayTail(n = 20) {
  const tail = relayLog.slice(-n);
  return tail.length ? `\n  relay output (last ${tail.length} lines):\n    ${tail.join('\n    ')}` : '';
}

const liveChildren = new Set();
process.on('exit', () => {
  for (const c of liveChildren) c.kill('SIGKILL');
});

/** Starts the relay and resolves once it printed its listening line. */
function startRelay({ listen, dataDir, webhookUrl }) {
  const args = [
    '--listen', listen,
    '--data-dir', dataDir,
    '--api-key', API_KEY,
    '--webhook-url', webhookUrl,
    '--webhook-secret', WEBHOOK_SECRET,
  ];
  logRelay(`--- starting ${path.basename(RELAY_BIN)} ${args.join(' ')}`);
  const child = spawn(RELAY_BIN, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  liveChildren.add(child);
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      liveChildren.delete(child);
      logRelay(`--- relay pid ${child.pid} exited (code ${code}, signal ${signal})`);
      resolve({ code, signal });
    });
  });
  createInterface({ input: child.stderr }).on('line', logRelay);
  const stdout = createInterface({ input: child.stdout });

  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        child.kill('SIGKILL');
        reject(new Error(err + relayTail()));
      } else {
        resolve(value);
      }
    };
    const timer = setTimeout(
      () => finish('relay did not print "cometa-relay listening on http://127.0.0.1:PORT" within 20 s'),
      20000,
    );
    stdout.on('line', (line) => {
      logRelay(line);
      const m = /^cometa-relay listening on http:\/\/127\.0\.0\.1:(\d+)\s*$/.exec(line);
      if (m) {
        const port = Number(m[1]);
        finish(null, {
          child,
          port,
          base: `http://127.0.0.1:${port}`,
          exited,
          async kill(signal = 'SIGKILL') {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    });
    child.once('error', (err) => finish(`could not start ${RELAY_BIN}: ${err.message}`));
    exited.then(({ code, signal }) =>
      finish(`relay exited (code ${code}, signal ${signal}) before printing its listening line`),
    );
  });
}

// --- webhook receiver --------------------------------------------------------------------------

const webhook = new Recorder('webhook');

function startWebhook() {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const signature = req.headers['x-cometa-signature'] ?? null;
      const timestamp = req.headers['x-cometa-timestamp'] ?? '';
      // Signed over `<timestamp>.<body>`; a receiver refuses timestamps older than 5 minutes.
      const expected = Buffer.from(
        'sha256=' +
          createHmac('sha256', WEBHOOK_SECRET).update(`${timestamp}.`).update(raw).digest('hex'),
      );
      const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) <= 300;
      const validSignature =
        fresh &&
        typeof signature === 'string' &&
        Buffer.byteLength(signature) === expected.length &&
        timingSafeEqual(Buffer.from(signature), expected);
      let body = null;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        body = null;
      }
      webhook.push({
        method: req.method,
        path: req.url,
        contentType: req.headers['content-type'] ?? null,
        signature,
        validSignature,
        body,
        raw: raw.toString('utf8'),
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// --- helpers ----------------------------------------------------------------------------------

let relay = null; // current relay
let relayPort = null;
let dataDir = null;
let webhookServer = null;
let webhookUrl = null;

/** Waits on a recorder; on timeout the error also shows the relay's latest output. */
async function waitFor(recorder, pred, what, { from = 0, timeout = T } = {}) {
  try {
    return await recorder.waitFor(pred, { from, timeout, what });
  } catch (err) {
    err.message += relayTail(12);
    throw err;
  }
}

/** Races a promise against a timeout with a clear message. */
async function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${ms} ms waiting for ${what}${relayTail(12)}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Calls the relay's back-end API; returns {status, json, text}. */
async function api(method, p, body) {
  const headers = { authorization: `Bearer ${API_KEY}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const what = `${method} ${p}${body === undefined ? '' : ' ' + JSON.stringify(body)}`;
  let res, text;
  try {
    res = await fetch(relay.base + p, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(T),
    });
    text = await res.text();
  } catch (err) {
    throw new Error(`${what} failed: ${err.cause?.code || err.message}${relayTail(12)}`);
  }
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, what };
}

function assertStatus(r, status) {
  const ok = Array.isArray(status) ? status.includes(r.status) : r.status === status;
  assert.ok(ok, `${r.what} → expected HTTP ${status}, got ${r.status} ${abbreviate(r.text)}`);
}

function sdkLogin() {
  return within(
    new Promise((resolve, reject) => wafer.login({ success: resolve, fail: reject })),
    T,
    'wafer.login() to call success or fail',
  );
}

function sdkRequest(options) {
  return within(
    new Promise((resolve, reject) => wafer.request({ ...options, success: resolve, fail: reject })),
    T,
    `wafer.request(${options.url}) to call success or fail`,
  );
}

const isUserRequest = (e) => new URL(e.url).pathname === '/weapp/user';
const nonce = () => randomBytes(6).toString('hex');

// SDK tunnel events: {type, payload}, recorded via tunnel.on('*').
const sdkEvents = new Recorder('SDK tunnel event');
let tunnel = null;
let tunnelId = null;

function requireTunnel() {
  assert.ok(tunnel && tunnel.isActive(), `prerequisite: an active tunnel (status ${tunnel && tunnel.status})`);
}

function pushToUser(event, data) {
  return api('POST', `/api/v1/users/${USER_ID}/messages`, { event, data });
}

// --- lifecycle --------------------------------------------------------------------------------

before(async () => {
  assert.ok(
    existsSync(RELAY_BIN),
    `relay binary not found at ${RELAY_BIN}; run \`cargo build -p cometa-relay\` or set COMETA_RELAY_BIN`,
  );
  webhookServer = await startWebhook();
  webhookUrl = `http://127.0.0.1:${webhookServer.address().port}/hook`;
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'cometa-node-e2e-'));
  relay = await startRelay({ listen: '127.0.0.1:0', dataDir, webhookUrl });
  relayPort = relay.port;
  shim.config.apiBase = relay.base;
  shim.config.apiKey = API_KEY;
  shim.config.userId = USER_ID;
  shim.config.userinfo = USERINFO;
});

after(async () => {
  try {
    if (tunnel && !tunnel.isClosed()) tunnel.close(); // clears the SDK's ping/reconnect timers
  } catch {
    // best effort
  }
  resetSocket();
  if (relay) await within(relay.kill('SIGKILL'), T, 'the relay to exit after SIGKILL');
  if (webhookServer) {
    webhookServer.closeAllConnections();
    await new Promise((resolve) => webhookServer.close(resolve));
  }
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

// --- scenarios --------------------------------------------------------------------------------

test('0. GET /healthz answers 200', async () => {
  const res = await fetch(`${relay.base}/healthz`, { signal: AbortSignal.timeout(T) });
  assert.equal(res.status, 200, `GET /healthz → ${res.status} ${await res.text()}`);
});

test('1. setLoginUrl + login() → the userinfo set through the API', async () => {
  wafer.setLoginUrl(`${relay.base}/weapp/login`);
  const loginsMark = shim.logins.mark();
  const httpMark = shim.http.mark();

  const userinfo = await sdkLogin();

  const issued = shim.logins.since(loginsMark);
  assert.equal(issued.length, 1, `expected one wx.login, got ${JSON.stringify(issued)}`);
  assert.equal(issued[0].status, 201, `POST /api/v1/login-codes should answer 201: ${JSON.stringify(issued[0])}`);
  assert.deepEqual(userinfo, USERINFO);

  const exchange = shim.http.find((e) => new URL(e.url).pathname === '/weapp/login', httpMark);
  assert.ok(exchange, 'the SDK did not call /weapp/login');
  assert.equal(exchange.header['X-WX-Code'], issued[0].code, 'the SDK sent the code wx.login gave it');
  assert.equal(exchange.statusCode, 200);
  assert.equal(exchange.data.code, 0);
  assert.equal(typeof exchange.data.data.time, 'number', `time: ${JSON.stringify(exchange.data.data)}`);
  assert.ok(
    Math.abs(exchange.data.data.time - Date.now() / 1000) < 300,
    `time should be unix seconds near now, got ${exchange.data.data.time}`,
  );

  const session = Session.get();
  assert.ok(session && typeof session.skey === 'string' && session.skey.length > 0, 'session stored');
  assert.deepEqual(session.userinfo, USERINFO);
});

test('1b. a reused login code and a missing code → 401 ERR_LOGIN_FAILED', async () => {
  const code = shim.logins.entries.at(-1)?.code;
  assert.ok(code, 'prerequisite: a code used by scenario 1');
  for (const header of [{ 'X-WX-Code': code }, {}, { 'X-WX-Code': 'not-a-code' }]) {
    const res = await fetch(`${relay.base}/weapp/login`, { headers: header, signal: AbortSignal.timeout(T) });
    const text = await res.text();
    const what = `GET /weapp/login with ${JSON.stringify(header)}`;
    assert.equal(res.status, 401, `${what} → ${res.status} ${text}`);
    const json = JSON.parse(text);
    assert.equal(json.code, -1, `${what} → ${text}`);
    assert.equal(json.error, 'ERR_LOGIN_FAILED', `${what} → ${text}`);
  }
});

test('2. request({login: true}) to /weapp/user → the userinfo', async () => {
  const httpMark = shim.http.mark();
  const res = await sdkRequest({ url: `${relay.base}/weapp/user`, login: true });
  assert.equal(res.statusCode, 200, JSON.stringify(res.data));
  assert.equal(res.data.code, 0, JSON.stringify(res.data));
  assert.deepEqual(res.data.data, USERINFO);
  const userCall = shim.http.find(isUserRequest, httpMark);
  assert.equal(userCall.header['X-WX-Skey'], Session.get().skey, 'the request carried the fresh skey');
});

test('3. a stale skey: the SDK gets 401, logs in again by itself, retries, succeeds', async () => {
  Session.set({ skey: 'bogus', userinfo: {} });
  const httpMark = shim.http.mark();
  const loginsMark = shim.logins.mark();

  const res = await sdkRequest({ url: `${relay.base}/weapp/user` });

  assert.equal(res.statusCode, 200, JSON.stringify(res.data));
  assert.deepEqual(res.data.data, USERINFO);
  const calls = shim.http.since(httpMark).map((e) => ({
    path: new URL(e.url).pathname,
    skey: e.header['X-WX-Skey'],
    statusCode: e.statusCode,
    data: e.data,
  }));
  const summary = JSON.stringify(calls);
  assert.equal(calls.length, 3, `expected user(401) → login → user(200), got ${summary}`);
  assert.equal(calls[0].path, '/weapp/user', summary);
  assert.equal(calls[0].skey, 'bogus', summary);
  assert.equal(calls[0].statusCode, 401, summary);
  assert.equal(calls[0].data.code, -1, summary);
  assert.equal(calls[0].data.error, 'ERR_SKEY_INVALID', summary);
  assert.equal(calls[1].path, '/weapp/login', summary);
  assert.equal(calls[1].statusCode, 200, summary);
  assert.equal(calls[2].path, '/weapp/user', summary);
  assert.equal(calls[2].statusCode, 200, summary);
  assert.notEqual(calls[2].skey, 'bogus', summary);
  assert.equal(shim.logins.since(loginsMark).length, 1, 'exactly one wx.login for the retry');
  assert.equal(Session.get().skey, calls[2].skey);
});

test('4. tunnel: open → connect; emit(speak) reaches the webhook, signed', async () => {
  const evMark = sdkEvents.mark();
  const hookMark = webhook.mark();
  const tunnelsMark = shim.tunnels.mark();

  tunnel = new Tunnel(`${relay.base}/weapp/tunnel`);
  tunnel.on('*', (type, payload) => sdkEvents.push({ type, payload }));
  tunnel.open();
  await waitFor(sdkEvents, (e) => e.type === 'connect', 'the SDK "connect" event', { from: evMark });
  assert.ok(tunnel.isActive(), `tunnel status ${tunnel.status}`);

  const issued = shim.tunnels.since(tunnelsMark);
  assert.equal(issued.length, 1, `tunnels handed out: ${JSON.stringify(issued)}`);
  tunnelId = issued[0].tunnelId;
  assert.equal(typeof tunnelId, 'string');
  assert.ok(tunnelId.length > 0);
  assert.equal(tunnel.socketUrl, issued[0].connectUrl);
  assert.match(
    issued[0].connectUrl,
    new RegExp(`^ws://127\\.0\\.0\\.1:${relayPort}/weapp/ws\\?ticket=.+`),
    'connectUrl',
  );

  const connectHook = await waitFor(
    webhook,
    (e) => e.body?.type === 'connect' && e.body?.tunnel_id === tunnelId,
    `a webhook "connect" event for tunnel ${tunnelId}`,
    { from: hookMark },
  );
  assert.equal(connectHook.validSignature, true, `bad X-Cometa-Signature: ${JSON.stringify(connectHook)}`);
  assert.equal(connectHook.method, 'POST');
  assert.equal(connectHook.body.user_id, USER_ID);

  tunnel.emit('speak', { word: 'hi' });
  const speak = await waitFor(
    webhook,
    (e) => e.body?.type === 'message' && e.body?.message?.type === 'speak',
    'a webhook "message" event of type speak',
    { from: hookMark },
  );
  assert.equal(speak.validSignature, true, `bad X-Cometa-Signature: ${JSON.stringify(speak)}`);
  assert.deepEqual(speak.body, {
    type: 'message',
    tunnel_id: tunnelId,
    user_id: USER_ID,
    message: { type: 'speak', content: { word: 'hi' } },
  });
  assert.ok(
    shim.socket.find((e) => e.kind === 'out' && e.data === 'message:{"type":"speak","content":{"word":"hi"}}'),
    'the SDK sent the Wafer message packet',
  );

  const presence = await api('GET', `/api/v1/users/${USER_ID}/presence`);
  assertStatus(presence, 200);
  assert.equal(presence.json.online, true, presence.text);
  assert.equal(presence.json.devices, 1, presence.text);
});

const chatNonces = []; // every chat nonce pushed, to check nothing is ever delivered twice
const chatCount = (n) => sdkEvents.entries.filter((e) => e.type === 'chat' && e.payload?.n === n).length;

test('5. back-end push arrives at on(chat); an event named close arrives as @close', async () => {
  requireTunnel();
  const evMark = sdkEvents.mark();

  const n1 = nonce();
  chatNonces.push(n1);
  const r1 = await pushToUser('chat', { text: 'hello 你好', n: n1 });
  assertStatus(r1, 200);
  assert.equal(typeof r1.json.seq, 'number', r1.text);
  assert.equal(r1.json.delivered, 1, r1.text);
  const chat = await waitFor(sdkEvents, (e) => e.type === 'chat' && e.payload?.n === n1, `chat ${n1}`, {
    from: evMark,
  });
  assert.deepEqual(chat.payload, { text: 'hello 你好', n: n1 });

  const n2 = nonce();
  const r2 = await pushToUser('close', { bye: n2 });
  assertStatus(r2, 200);
  assert.ok(r2.json.seq > r1.json.seq, `seq should grow: ${r1.text} then ${r2.text}`);
  const escaped = await waitFor(sdkEvents, (e) => e.type === '@close', 'the "@close" event', { from: evMark });
  assert.deepEqual(escaped.payload, { bye: n2 });

  // One more round trip, then check the tunnel really stayed open.
  const n3 = nonce();
  chatNonces.push(n3);
  assertStatus(await pushToUser('chat', { n: n3 }), 200);
  await waitFor(sdkEvents, (e) => e.type === 'chat' && e.payload?.n === n3, `chat ${n3}`, { from: evMark });
  const bad = sdkEvents.since(evMark).filter((e) => ['close', 'reconnecting', 'error'].includes(e.type));
  assert.deepEqual(bad, [], 'no close/reconnecting/error event');
  assert.ok(tunnel.isActive(), `tunnel status ${tunnel.status}`);
  assert.equal(chatCount(n1), 1);
  assert.equal(chatCount(n3), 1);
});

test('6. idle for 17 s: the tunnel stays up, the SDK ping gets a pong', { timeout: 30000 }, async (t) => {
  requireTunnel();
  const evMark = sdkEvents.mark();
  const sockMark = shim.socket.mark();
  const tunnelsMark = shim.tunnels.mark();
  const idleStart = Date.now();

  await sleep(17000); // the scenario: 17 s without application traffic (SDK pings every 15 s)

  const traffic = shim.socket.since(sockMark);
  const shown = JSON.stringify(traffic.map(({ kind, data, code }) => ({ kind, data, code })));
  const pingAt = traffic.findIndex((e) => e.kind === 'out' && e.data === 'ping');
  assert.ok(pingAt >= 0, `the SDK sent no ping in 17 s: ${shown}`);
  const pongAt = traffic.findIndex((e, i) => i > pingAt && e.kind === 'in' && e.data === 'pong');
  assert.ok(pongAt >= 0, `no pong after the ping: ${shown}`);
  t.diagnostic(`ping sent ${traffic[pingAt].t - idleStart} ms into the idle window, pong ${traffic[pongAt].t - traffic[pingAt].t} ms later`);
  assert.ok(!traffic.some((e) => e.kind === 'close' || e.kind === 'error'), `socket trouble: ${shown}`);
  const bad = sdkEvents.since(evMark).filter((e) => ['close', 'reconnecting', 'reconnect', 'error'].includes(e.type));
  assert.deepEqual(bad, [], 'no close/reconnecting/error event while idle');
  assert.equal(shim.tunnels.since(tunnelsMark).length, 0, 'no new tunnel was requested');
  assert.ok(tunnel.isActive(), `tunnel status ${tunnel.status}`);
});

test('7. kill -9 + restart on the same port: the SDK reconnects, a queued push arrives once', { timeout: 60000 }, async (t) => {
  requireTunnel();
  const evMark = sdkEvents.mark();
  const hookMark = webhook.mark();
  const tunnelsMark = shim.tunnels.mark();

  const reconnecting = waitFor(sdkEvents, (e) => e.type === 'reconnecting', 'the SDK "reconnecting" event', {
    from: evMark,
  });
  reconnecting.catch(() => {}); // awaited below; avoid an unhandled rejection if the kill fails first
  const killed = await within(relay.kill('SIGKILL'), T, 'the killed relay to exit');
  assert.equal(killed.signal, 'SIGKILL');
  await reconnecting;

  relay = await startRelay({ listen: `127.0.0.1:${relayPort}`, dataDir, webhookUrl });
  assert.equal(relay.port, relayPort, 'restarted on the same port');

  const n1 = nonce();
  chatNonces.push(n1);
  const r1 = await pushToUser('chat', { text: 'while you were away', n: n1 });
  assertStatus(r1, 200);
  assert.equal(typeof r1.json.seq, 'number', r1.text);
  t.diagnostic(`push right after the restart: ${r1.text} (delivered 0 = queued for the device)`);

  await waitFor(sdkEvents, (e) => e.type === 'reconnect', 'the SDK "reconnect" event', {
    from: evMark,
    timeout: 30000,
  });
  const issued = shim.tunnels.since(tunnelsMark);
  assert.ok(issued.length >= 1, 'the SDK asked for a new tunnel');
  tunnelId = issued.at(-1).tunnelId; // the tunnel now in use (scenario 8 closes it)

  await waitFor(sdkEvents, (e) => e.type === 'chat' && e.payload?.n === n1, `the queued chat ${n1}`, {
    from: evMark,
  });

  // A further round trip, then count.
  const n2 = nonce();
  chatNonces.push(n2);
  const r2 = await pushToUser('chat', { n: n2 });
  assertStatus(r2, 200);
  assert.ok(r2.json.seq > r1.json.seq, `seq should grow across the restart: ${r1.text} then ${r2.text}`);
  await waitFor(sdkEvents, (e) => e.type === 'chat' && e.payload?.n === n2, `chat ${n2}`, { from: evMark });

  const counts = Object.fromEntries(chatNonces.map((n) => [n, chatCount(n)]));
  for (const [n, count] of Object.entries(counts)) {
    assert.equal(count, 1, `chat ${n} delivered ${count} times (all counts: ${JSON.stringify(counts)})`);
  }
  const order = sdkEvents.since(evMark).filter((e) => e.type === 'chat').map((e) => e.payload.n);
  assert.deepEqual(order, [n1, n2], 'in order, nothing older replayed');
  assert.ok(tunnel.isActive(), `tunnel status ${tunnel.status}`);
  assert.ok(!sdkEvents.find((e) => e.type === 'close' || e.type === 'error', evMark), 'no close/error');

  const hook = await waitFor(
    webhook,
    (e) => e.body?.type === 'connect' && e.body?.tunnel_id === tunnelId,
    `a webhook "connect" event for the new tunnel ${tunnelId}`,
    { from: hookMark },
  );
  assert.equal(hook.validSignature, true);
});

test('8. DELETE /api/v1/tunnels/{id} → the SDK fires close', async () => {
  requireTunnel();
  const evMark = sdkEvents.mark();
  const sockMark = shim.socket.mark();
  const hookMark = webhook.mark();

  const closed = waitFor(sdkEvents, (e) => e.type === 'close', 'the SDK "close" event', { from: evMark });
  closed.catch(() => {}); // awaited below
  const r = await api('DELETE', `/api/v1/tunnels/${encodeURIComponent(tunnelId)}`);
  assertStatus(r, [200, 204]);
  await closed;
  assert.ok(tunnel.isClosed(), `tunnel status ${tunnel.status}`);
  assert.ok(
    shim.socket.find((e) => e.kind === 'in' && e.data === 'close', sockMark),
    'the relay sent a "close" packet',
  );
  await waitFor(shim.socket, (e) => e.kind === 'close', 'the socket to close', { from: sockMark });
  const bad = sdkEvents.since(evMark).filter((e) => ['reconnecting', 'error'].includes(e.type));
  assert.deepEqual(bad, [], 'no reconnecting/error event');

  const hook = await waitFor(
    webhook,
    (e) => e.body?.type === 'close' && e.body?.tunnel_id === tunnelId,
    `a webhook "close" event for tunnel ${tunnelId}`,
    { from: hookMark },
  );
  assert.equal(hook.validSignature, true);
  assert.equal(hook.body.user_id, USER_ID);

  const presence = await api('GET', `/api/v1/users/${USER_ID}/presence`);
  assertStatus(presence, 200);
  assert.equal(presence.json.online, false, presence.text);
  assert.equal(presence.json.devices, 0, presence.text);
  assert.equal(typeof presence.json.last_seen, 'number', presence.text);
});

test('9. after close: the tunnel is gone for the API and its ticket cannot be reused', async () => {
  assert.ok(tunnelId && tunnel?.isClosed(), 'prerequisite: scenario 8 closed the tunnel');
  const r = await api('POST', `/api/v1/tunnels/${encodeURIComponent(tunnelId)}/messages`, {
    type: 'x',
    content: 1,
  });
  assertStatus(r, 404);

  const connectUrl = shim.tunnels.entries.at(-1).connectUrl;
  const outcome = await within(
    new Promise((resolve) => {
      const ws = new WebSocket(connectUrl);
      ws.on('open', () => {
        ws.terminate();
        resolve('opened');
      });
      ws.on('unexpected-response', (req, res) => {
        req.destroy();
        resolve(`HTTP ${res.statusCode}`);
      });
      ws.on('error', (err) => resolve(`error ${err.message}`));
    }),
    T,
    'a WebSocket handshake with a used ticket to finish',
  );
  assert.notEqual(outcome, 'opened', `a used ticket was accepted again: ${connectUrl}`);
  assert.match(outcome, /^HTTP 4\d\d$/, 'the handshake is refused with a 4xx');
});
