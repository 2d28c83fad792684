// CppComet's own JS API test (`coverage/test/simpletest.js` in CppComet/comet-server), ported:
// the same steps and assertions, with `cometa/comet` as the client and CometQL (through the
// `mysql2` client, as CppComet's test uses `mysql`) as the back end, against a live relay.
// CppComet's test waits fixed times and checks counters; here each step awaits its event,
// bounded, and a round trip on the same socket stands in for "nothing else arrived".
//
// Written against Cometa's documented differences (npm README, "Where it differs"):
// - JWTs (in `user_key`, as CppComet takes them) are minted for this relay's `--jwt-secret`
//   (CppComet signs with the CometQL password + dev_id; its fixed tokens expire in 2286,
//   beyond the relay's longest JWT lifetime);
// - `users_auth.hash` is the key's SHA-256, not the key (keys are stored hashed), so a user
//   signs in with the key the back end set, not with the hash read back.
//
// Scenarios that cannot pass, kept below as skipped tests with CppComet's steps:
// - test_Revoked_JWT_table, test_Revoked_JWT_Auth and test_mysql_bigAnswer (which reads
//   `revoked_tokens`): the relay has no `revoked_tokens` table — no JWT deny-list; tokens are
//   short-lived and `DELETE /api/v1/users/{id}/sessions` ends a user's sessions. The big answer
//   is ported on `users_messages` instead (300 rows in one SELECT).
// - test_ql_subscription's `users_in_pipes` check: Cometa lists the authenticated users of a
//   `track_*` channel (`name`, `user_id`), not every connection of any pipe with its
//   `user_uuid`. The rest of that scenario (`pipes`, 20 `pipes_messages`) passes.
// - test_ql_pipes_settings: it clears a channel with `DELETE FROM pipes_messages`, which Cometa
//   refuses (error 2: history leaves by retention), and expects deleting the setting to drop the
//   history. The `pipes_settings` INSERT/SELECT part passes.
// - test_realUserKey, `UseWss()`, `isUseWss()`, `UseWebSocket()`: not provided (no master tab
//   sharing a key; WebSocket only, the scheme comes from `node`): see the README's table.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import WebSocket from 'ws';
import mysql from 'mysql2/promise';
import { CometApi } from 'cometa/comet';
import { startRelay, API_KEY } from './helpers/relay.mjs';
import { within, collector } from './helpers/wait.mjs';

const SECRET = 'simpletest-jwt-secret-0123456789abcdef';
let relay, connection1, node;
const apis = [];

before(async () => {
  relay = await startRelay({
    args: ['--cometql-listen', '127.0.0.1:0', '--jwt-secret', SECRET, '--key-failures-per-address', '1000'],
  });
  node = relay.url;
  connection1 = await mysql.createConnection({
    host: '127.0.0.1',
    port: await relay.cometqlPort(),
    user: '1',
    password: API_KEY,
    database: 'CometQL_v1',
  });
});
after(async () => {
  for (const a of apis) a.stop();
  await connection1?.end();
  await relay?.stop();
});

const query = async (q) => (await connection1.query(q))[0];

function api(opts) {
  const a = new CometApi();
  apis.push(a);
  a.setLogLevel(0);
  if (opts) a.start({ node, WebSocket, ...opts });
  return a;
}

/** A round trip on `a`'s socket: everything the relay sent it before has arrived. */
const roundTrip = (a) => within(new Promise((resolve) => a.count_users_in_pipe('web_sync', resolve)), 'round trip');

function jwt(payload) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}
const exp = () => Math.floor(Date.now() / 1000) + 3600;

const BAD_KEY = 'not00000valid00000userHash';
let apiTest1, apiTest2, apiTest3, apiTest4;

test('start and the getters (apiTest1..4 with keys the relay does not know)', async () => {
  apiTest1 = api();
  apiTest1.setLogLevel(9);
  apiTest1.start({ dev_id: 1, user_id: 1, user_key: BAD_KEY, node, WebSocket });
  apiTest2 = api({ dev_id: 1, user_id: 2, user_key: BAD_KEY });
  apiTest3 = api({ dev_id: 1, user_id: 13, user_key: BAD_KEY });
  apiTest4 = api({ dev_id: 1, user_id: 14, user_key: BAD_KEY });
  assert.equal(apiTest1.getLogLevel(), 9, 'getLogLevel/setLogLevel');
  apiTest1.setLogLevel(0);
  assert.equal(apiTest1.getTabUUID(), apiTest1.getTabUUID(), 'getTabUUID is stable');
  assert.equal(apiTest1.getUserId(), 1);
  assert.equal(apiTest1.getUserKey(), BAD_KEY);
  assert.equal(apiTest1.getDevId(), 1);
  assert.equal(apiTest2.getTabUUID(), apiTest2.getTabUUID());
  assert.equal(apiTest2.getUUID(), apiTest2.getUUID());
  await Promise.all([apiTest1, apiTest2, apiTest3, apiTest4].map((a) => within(a.connected(), 'connected')));
});

test('test_onAuth: a wrong key calls onAuthFalill, never onAuthSuccess', async () => {
  const a = api();
  let success = false;
  a.onAuthSuccess(() => (success = true));
  const failed = new Promise((resolve) => a.onAuthFalill(resolve));
  a.start({ dev_id: 1, user_id: 1, user_key: BAD_KEY, node, WebSocket });
  await within(failed, 'onAuthFalill');
  assert.equal(a.isAuthorized(), false);
  assert.equal(a.isMaster(), true);
  await roundTrip(a);
  assert.equal(success, false, 'onAuthSuccess was not called');
});

test('test_web_pipe_send: 21 messages on two events reach the other page, none the sender; a non-web pipe is refused', async () => {
  const send = 20;
  const rand = Math.floor(Math.random() * 999999999);
  let self = 0;
  apiTest1.subscription(`web_test.t1_${rand}`, () => self++);
  const got = collector();
  apiTest2.subscription(`web_test.t1${rand}`, (e) => got.add(e));
  apiTest2.subscription(`web_test.${rand}`, (e) => got.add(e));
  await roundTrip(apiTest2);
  const text = rand + 'A'.repeat(160);
  let sended = 0;
  apiTest1.web_pipe_send(`web_test.t1${rand}`, text);
  sended++;
  for (let i = 0; i < send; i++) {
    apiTest1.web_pipe_send(`web_test.${rand}`, text);
    sended++;
  }
  assert.equal(apiTest1.web_pipe_send(`test1.${rand}`, text), false, 'web_pipe_send allows sending to pipe `test1`');
  await got.until(sended, 'every message');
  await roundTrip(apiTest2);
  assert.equal(got.list.length, sended);
  assert.equal(self, 0, '`web_pipe_send` received its own event on another event name');
});

test('test_getTrackPipeUsers: only track_ pipes; an array with server_info', async () => {
  assert.equal(
    apiTest1.getTrackPipeUsers('test1', () => {}),
    false,
    'getTrackPipeUsers allows pipe `test1`',
  );
  const event = await within(new Promise((resolve) => apiTest1.getTrackPipeUsers('track_test1', resolve)), 'getTrackPipeUsers');
  assert.ok(Array.isArray(event.data), 'data is an array');
  assert.ok(event.server_info, 'server_info');
});

test('test_getUserData: a user without data', async () => {
  const event = await within(new Promise((resolve) => apiTest1.getUserData(99999 - 1, resolve)), 'getUserData');
  assert.ok(!Array.isArray(event.data) && typeof event.data === 'object' && event.data !== null, 'data is an object');
  assert.ok(!event.data.user_data, 'user_data is empty');
  assert.ok(event.data.user_id, 'user_id');
  assert.ok(event.server_info, 'server_info');
});

for (const [userId, rdata] of [
  [9999 - 2, `${Math.random()}-${Math.random()}-${Math.random()}`],
  [9999 - 3, Math.floor(Math.random() * 100)],
]) {
  test(`test_setUserData(${userId}): users_data through CometQL, read back with getUserData`, async () => {
    const juserdata = { rand: rdata + '' };
    await query(`insert into users_data(id, data)VALUES("${userId}", '${JSON.stringify(juserdata)}');`);
    const result = await query(`select * from  users_data where id = ${userId}`);
    assert.equal(result.length, 1);
    assert.equal(result[0].id, String(userId));
    assert.ok(result[0].data);
    assert.equal(JSON.parse(result[0].data).rand, juserdata.rand);
    const event = await within(new Promise((resolve) => apiTest1.getUserData(userId, resolve)), 'getUserData');
    assert.ok(!Array.isArray(event.data) && typeof event.data === 'object');
    assert.ok(event.data.user_data, 'user_data');
    assert.equal(event.data.user_id, userId);
    assert.equal(event.data.user_data, `{"rand":"${juserdata.rand}"}`);
  });
}

test('test_realUserKey', { skip: 'setRealUserKey/getRealUserKey: no master tab sharing a key (README table)' }, () => {});

test('test_track_subscription: a track_ pipe tells the others, with the subscriber uuid, never the subscriber itself', async () => {
  const pipe_name = `track_test_${Math.floor(Math.random() * 100000)}`;
  const seen4 = collector();
  apiTest4.subscription(pipe_name, (event) => {
    if (event.server_info.event !== 'unsubscription') seen4.add(event);
  });
  await roundTrip(apiTest4);
  let seen3 = 0;
  apiTest3.subscription(pipe_name, (event) => {
    if (event.server_info.event !== 'unsubscription') seen3++;
  });
  await seen4.until(1, 'the subscription event');
  assert.equal(seen4.list[0].server_info.event, 'subscription');
  assert.equal(seen4.list[0].data.uuid, apiTest3.getUUID(), 'event.data.uuid == apiTest3.getUUID()');
  await roundTrip(apiTest3);
  await roundTrip(apiTest4);
  assert.equal(seen4.list.length, 1, 'exactly one event');
  assert.equal(seen3, 0, 'apiTest3 heard about itself');
});

test('test_ql_subscription: pipes counts the subscriber; 20 pipes_messages inserts arrive', async () => {
  const pipe_name = `tttest_${Math.floor(Math.random() * 10000)}`;
  const messages = 20;
  const event_name = 'evt';
  const rdata = Math.random() + 'ABC' + 'A'.repeat(80) + 'ABC' + 'A'.repeat(80);
  const juserdata = { rand: rdata + '' };
  const got = collector();
  apiTest1.subscription(`${pipe_name}.${event_name}`, (event) => {
    assert.equal(event.data.rand, juserdata.rand);
    got.add(event);
  });
  await roundTrip(apiTest1);
  const pipes = await query(`SELECT * FROM pipes WHERE name = "${pipe_name}"; `);
  assert.equal(pipes.length, 1);
  assert.equal(pipes[0].name, pipe_name);
  assert.ok(pipes[0].users == 1, `users: ${pipes[0].users}`); // CppComet's loose `!= 1`: MySQL text rows
  for (let i = 0; i < messages; i++) {
    juserdata.index = i;
    await query(`insert into pipes_messages(name, event, message)VALUES("${pipe_name}", "${event_name}", '${JSON.stringify(juserdata)}');`);
  }
  await got.until(messages, 'every message');
  assert.equal(got.list.length, messages);
});

test(
  'test_ql_subscription: users_in_pipes lists the subscriber with its user_uuid',
  { skip: 'users_in_pipes lists the authenticated users of track_* channels (name, user_id), not every connection with its uuid' },
  async () => {
    const pipe_name = `tttest_${Math.floor(Math.random() * 10000)}`;
    apiTest1.subscription(`${pipe_name}.evt`, () => {});
    await roundTrip(apiTest1);
    const result = await query(`SELECT * FROM users_in_pipes WHERE name = "${pipe_name}"; `);
    assert.equal(result.length, 1);
    assert.equal(result[0].user_uuid, apiTest1.getUUID());
  },
);

test('test_ql_pipes_settings: INSERT and SELECT of a pipe history length', async () => {
  const pipe_name = `secr_${Math.floor(Math.random() * 1000)}`;
  await query(`INSERT INTO pipes_settings ("name", "length") VALUES ("${pipe_name}", 10);`);
  const result = await query(`SELECT * FROM pipes_settings WHERE name = "${pipe_name}" `);
  assert.equal(result.length, 1);
  assert.equal(result[0].length, '10');
});

test(
  'test_ql_pipes_settings: DELETE FROM pipes_messages empties a pipe; deleting its setting drops its history',
  { skip: 'DELETE FROM pipes_messages is refused (error 2): history leaves by retention' },
  async () => {
    const pipe_name = `secr_${Math.floor(Math.random() * 1000)}`;
    await query(`INSERT INTO pipes_settings ("name", "length") VALUES ("${pipe_name}", 10);`);
    await query(`DELETE FROM pipes_messages WHERE name = "${pipe_name}" `);
    const text_message = 'text message ' + Math.random();
    await query(`INSERT INTO pipes_messages (name, event, message)VALUES("${pipe_name}", "event_in_pipe", "${text_message}");`);
    const result = await query(`SELECT * FROM pipes_messages WHERE name = "${pipe_name}" `);
    assert.equal(result.length, 1);
    assert.equal(result[0].message, text_message);
    await query(`DELETE FROM pipes_settings WHERE name = "${pipe_name}" `);
    assert.equal((await query(`SELECT * FROM pipes_messages WHERE name = "${pipe_name}" `)).length, 0);
  },
);

let apiWithAuth;
test('test_onAuth2 and test_users_messages: a queued personal message arrives at sign-in; users_time says online', async () => {
  apiWithAuth = api();
  const juserdata = { rand: Math.random() + '' };
  const got = collector();
  apiWithAuth.subscription('msg.test_onAuth2', (event) => {
    assert.equal(event.data.rand, juserdata.rand);
    got.add(event);
  });
  let failed = false;
  apiWithAuth.onAuthFalill(() => (failed = true));
  const authed = new Promise((resolve) => apiWithAuth.onAuthSuccess(resolve));
  await query('DELETE FROM users_messages WHERE id = 3');
  await query(`INSERT INTO users_messages (id, event, message)VALUES (3, 'test_onAuth2', '${JSON.stringify(juserdata)}');`);
  assert.equal((await query('select * from users_messages where id = 3')).length, 1);
  await query('delete from users_auth where id = 3');
  await query("INSERT INTO users_auth (id, hash)VALUES (3, 'valid00000userHash');");
  const result = await query('select * from users_auth where id = 3');
  assert.equal(result.length, 1);
  // Cometa: `hash` is the key's SHA-256; the user signs in with the key itself.
  apiWithAuth.start({ dev_id: 1, user_id: 3, user_key: 'valid00000userHash', node, WebSocket });
  await within(authed, 'onAuthSuccess');
  await got.until(1, 'the queued message');
  assert.equal(failed, false, 'onAuthFalill in test_onAuth2');

  // test_users_messages: after onAuthSuccess.
  const rows = await query('select * from users_time where id in(1, 3, 99996);');
  assert.equal(rows.length, 3);
  const usersTime = Object.fromEntries(rows.map((r) => [r.id, r]));
  assert.equal(Number(usersTime[3].time), 0, 'usersTime[3].time != 0');
  assert.equal(Number(usersTime[99996].time), -1, 'usersTime[99996].time != -1');
});

let apiWithJWT_Auth;
test('test_JWT_Auth: a valid JWT signs in', async () => {
  apiWithJWT_Auth = api();
  let failed = false;
  apiWithJWT_Auth.onAuthFalill(() => (failed = true));
  const authed = new Promise((resolve) => apiWithJWT_Auth.onAuthSuccess(resolve));
  const validJWT = jwt({ user_id: 5, exp: exp() });
  apiWithJWT_Auth.start({ dev_id: 1, user_id: 5, user_key: validJWT, node, WebSocket });
  await within(authed, 'onAuthSuccess');
  assert.equal(failed, false);
  assert.equal(apiWithJWT_Auth.getUserKey(), validJWT);
});

test('test_invalid_JWT_Auth: a JWT with a wrong signature is refused', async () => {
  const a = api();
  let success = false;
  a.onAuthSuccess(() => (success = true));
  const failed = new Promise((resolve) => a.onAuthFalill(resolve));
  const valid = jwt({ user_id: 2, exp: exp() });
  const invalidJWT = valid.slice(0, valid.lastIndexOf('.') + 1) + 'aIh8RCsv1W5dHmTNVDKfHxVaerpuLBz0l-5IBLIhro0';
  a.start({ dev_id: 1, user_id: 12, user_key: invalidJWT, node, WebSocket });
  await within(failed, 'onAuthFalill');
  assert.equal(success, false);
});

test('test_Revoked_JWT_Auth', { skip: 'no revoked_tokens table: the relay keeps no JWT deny-list' }, async () => {
  const revokedJWT = jwt({ user_id: 5, exp: exp() });
  await query(`insert into revoked_tokens(token)VALUES("${revokedJWT}");`);
  const a = api();
  const failed = new Promise((resolve) => a.onAuthFalill(resolve));
  a.start({ dev_id: 1, user_id: 6, user_key: revokedJWT, node, WebSocket });
  await within(failed, 'onAuthFalill');
});

test('test_Revoked_JWT_table', { skip: 'no revoked_tokens table: the relay keeps no JWT deny-list' }, async () => {
  const revokedJWT = Math.random() + '';
  await query(`insert into revoked_tokens(token)VALUES("${revokedJWT}");`);
  const result = await query(`select * from  revoked_tokens where token = "${revokedJWT}"`);
  assert.equal(result.length, 1);
  assert.equal(result[0].token, revokedJWT);
  await query(`delete from  revoked_tokens where token = "${revokedJWT}"`);
  assert.equal((await query(`select * from revoked_tokens where token = "${revokedJWT}"`)).length, 0);
});

test('test_2_users_messages: INSERT, SELECT, DELETE of a queue', async () => {
  const juserdata = { rand: Math.random() + '' };
  await query('DELETE FROM users_messages WHERE id = 99955;');
  await query(`INSERT INTO users_messages (id, event, message)VALUES (99955, 'test1_users_messages', '${JSON.stringify(juserdata)}');`);
  assert.equal((await query('select * from users_messages where id = 99955')).length, 1);
  await query('DELETE FROM users_messages WHERE id = 99955;');
  assert.equal((await query('select * from users_messages where id = 99955')).length, 0);
});

test('test_get_pipe_log: the kept messages go to the asking page only', async () => {
  const pipe_name = 'test_pipelog';
  const event_name = 'e1';
  const juserdata = { rand: Math.random() + 'ABC' };
  await query(`INSERT INTO pipes_settings ("name", "length") VALUES ("${pipe_name}", 2);`);
  for (let i = 0; i < 2; i++) {
    await query(`insert into pipes_messages(name, event, message)VALUES("${pipe_name}", "${event_name}", '${JSON.stringify(juserdata)}');`);
  }
  const got = collector();
  apiTest1.subscription(`${pipe_name}.${event_name}`, (event) => got.add(event));
  let other = 0;
  apiTest2.subscription(`${pipe_name}.${event_name}`, () => other++);
  await roundTrip(apiTest2);
  apiTest1.get_pipe_log(pipe_name);
  await got.until(2, 'the pipe log');
  await roundTrip(apiTest2);
  assert.equal(other, 0, 'apiTest2 got the pipe log');
});

test('test_short_users_messages: 60 personal messages of growing text arrive', async () => {
  const got = collector();
  apiWithJWT_Auth.subscription('msg.user', (e) => got.add(e));
  let msg = '';
  for (let i = 0; i < 60; i++) {
    msg += '' + (i % 9);
    await query(`INSERT INTO users_messages (id, event, message)VALUES (5, 'user', '${msg}');`);
  }
  await got.until(60, 'sixty messages');
  assert.equal(got.list.length, 60);
});

test('test_mysql_bigAnswer, on users_messages: one SELECT answers 300 rows', async () => {
  for (let i = 0; i < 300; i++) {
    await query(`INSERT INTO users_messages (id, event, message)VALUES (77777, 'big', 'querysA${i}');`);
  }
  const result = await query('SELECT * FROM users_messages WHERE id = 77777');
  assert.equal(result.length, 300);
  assert.equal(result[299].message, 'querysA299');
});

test('test_mysql_bigAnswer', { skip: 'reads revoked_tokens, which the relay does not have' }, async () => {
  const result = await query('SELECT * FROM revoked_tokens');
  assert.ok(result.length >= 0);
});
