// `Tunnel.emit` acknowledgements (socket.io's `emit` with an ack) in Node against live relays:
// resolved once the relay took the message (webhook queue), rejected with 4008 when nobody can
// receive it (no webhook: the message used to be dropped in silence), 3003 when dropped from
// the full outbox while offline; the callback form; and an ignored Promise never reported as
// an unhandled rejection (Wafer code that never looks at emit's result keeps working).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import * as cometa from 'cometa';
import { startRelay } from './helpers/relay.mjs';
import { within } from './helpers/wait.mjs';
import { webhookSink } from './helpers/webhook.mjs';
import { recorder } from './fixtures/recorder.js';

let plain, hooked, hook, messages; // messages: the webhook's `message` events
before(async () => {
  hook = await webhookSink();
  messages = hook.messages;
  const hookUrl = hook.url;
  plain = await startRelay();
  hooked = await startRelay({ args: ['--webhook-url', hookUrl, '--webhook-secret', 'emit-ack-test-secret'] });
  cometa.configure({ WebSocket });
});
after(async () => {
  await plain?.stop();
  await hooked?.stop();
  hook?.close();
});

/** A logged-in, connected tunnel on `relay`. */
async function tunnelOn(relay, user, options) {
  cometa.configure({ loginUrl: `${relay.url}/weapp/login` });
  cometa.setCodeProvider(() => relay.mintCode(user));
  await cometa.login();
  const tunnel = new cometa.Tunnel(`${relay.url}/weapp/tunnel`, options);
  const rec = recorder(tunnel);
  return { tunnel, rec };
}

test('without a webhook, emit rejects with 4008 (promise and callback); an ignored one is not an unhandled rejection', async () => {
  const unhandled = [];
  const onUnhandled = (e) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const { tunnel, rec } = await tunnelOn(plain, 'ack-plain');
    tunnel.open();
    await rec.waitFor((e) => e.type === 'connect');
    await within(
      assert.rejects(tunnel.emit('speak', { w: 1 }), (e) => e instanceof Error && e.name === 'TunnelError' && e.code === 4008 && /webhook/.test(e.message)),
      'the rejection',
    );
    const viaCallback = await within(new Promise((resolve) => tunnel.emit('speak', 2, resolve)), 'the callback');
    assert.equal(viaCallback.code, 4008);
    // Wafer style: the result ignored. Settled before the next one's, in order.
    tunnel.emit('speak', 3);
    await assert.rejects(tunnel.emit('speak', 4), { code: 4008 });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(unhandled, []);
    // The outcome messages never reach the page's handlers.
    assert.equal(rec.count((e) => e.type.startsWith('\u0001')), 0);
    tunnel.close();
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test('with a webhook, emit resolves once the relay took it; the back end gets Wafer’s message', async () => {
  const { tunnel, rec } = await tunnelOn(hooked, 'ack-hooked');
  const queued = tunnel.emit('speak', { w: 'queued' }); // before open: sent when it connects
  tunnel.open();
  await rec.waitFor((e) => e.type === 'connect');
  await within(queued, 'the queued emit');
  let called;
  await within(tunnel.emit('speak', { w: 'live' }, (e) => (called = e)), 'the live emit');
  assert.equal(called, null);
  tunnel.close();
  // The webhook worker delivers after the relay answered: wait for both messages there.
  await messages.until(2, 'both messages at the webhook');
  assert.deepEqual(messages.list, [
    { type: 'speak', content: { w: 'queued' } },
    { type: 'speak', content: { w: 'live' } },
  ]);
});

test('an emit dropped from the full outbox while offline rejects with 3003; the kept one goes out', async () => {
  const { tunnel, rec } = await tunnelOn(hooked, 'ack-dropped', { maxOutbox: 1 });
  const first = tunnel.emit('speak', 1);
  const second = tunnel.emit('speak', 2);
  await within(assert.rejects(first, { code: 3003 }), 'the dropped one');
  const third = tunnel.emit('speak', 3);
  await within(assert.rejects(second, { code: 3003 }), 'the next dropped one');
  tunnel.open();
  await rec.waitFor((e) => e.type === 'connect');
  await within(third, 'the kept one');
  tunnel.close();
});
