// Kept `web_pipe_send` calls past the relay's publish burst: a connection sends every kept
// publish at once when its socket opens, and the relay refuses those past `--publish-burst`
// with error 4006. Such a refusal is not final: the publish stays kept and goes again after a
// backoff, so a user who queued more calls than the burst loses none and the relay stores
// each once (it deduplicates by the key). Node with `ws`, a real relay with a burst of 3.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { CometApi } from 'cometa/comet';
import { startRelay, API_KEY } from './helpers/relay.mjs';
import { recorder } from './helpers/browser.mjs';

const BURST = 3;
const QUEUED = 8;
let relay;
const apis = [];
before(async () => {
  relay = await startRelay({ args: ['--publish-burst', String(BURST)] });
});
after(async () => {
  // Stopped even after a failed assertion: a live socket would keep the process running.
  for (const api of apis) api.stop();
  await relay?.stop();
});

async function history(channel) {
  const res = await fetch(`${relay.url}/api/v1/channels/${channel}/history`, { headers: { authorization: `Bearer ${API_KEY}` } });
  assert.equal(res.status, 200);
  return (await res.json()).publications.map((p) => p.data.n);
}

const sorted = (list) => [...list].sort((a, b) => a - b);

test('more kept web_pipe_send calls than the publish burst: each reaches a subscriber once', { timeout: 30000 }, async () => {
  const pipe = 'web_burst';
  const got = recorder();
  const subscriber = new CometApi();
  apis.push(subscriber);
  subscriber.subscription(pipe, (m) => got.add(m.data));
  subscriber.start({ node: relay.url, WebSocket });
  await subscriber.connected();

  const sender = new CometApi();
  apis.push(sender);
  const reports = recorder();
  sender.subscription(`#${pipe}`, (m) => reports.add(m));
  // Queued before the socket opens: all of them go at once on it.
  sender.start({ node: relay.url, WebSocket });
  for (let n = 1; n <= QUEUED; n++) assert.equal(sender.web_pipe_send(pipe, 'note', { n }), true);
  await sender.connected();

  await reports.until((l) => l.length >= QUEUED, 'a report for every publish');
  assert.deepEqual(
    reports.list.filter((r) => r.data.error),
    [],
    'no publish refused for good',
  );
  await got.until((l) => l.length >= QUEUED, 'every publish at the subscriber');
  // A marker after them: a repeat of any would arrive before it.
  sender.web_pipe_send(pipe, 'note', { n: QUEUED + 1 });
  await got.until((l) => l.some((d) => d.n === QUEUED + 1), 'the marker');
  const all = Array.from({ length: QUEUED + 1 }, (_, i) => i + 1);
  assert.deepEqual(sorted(got.list.map((d) => d.n)), all, 'each once at the subscriber');
  assert.deepEqual(sorted(await history(pipe)), all, 'each stored once');
});
