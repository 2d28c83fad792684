// `web_pipe_send` calls made while offline survive a page reload (issue 14): with `persist`
// (the default) the CometServer connection keeps every publish the relay has not answered in
// localStorage, with an idempotency key; the reloaded page's connection to the same relay, as
// the same user, sends them once it connects, and the relay stores each once. Real relay
// (killed and restarted on its data dir), real headless Chromium, a subscriber on another
// page with a connection of its own, and the channel's history read through the back-end API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { API_KEY } from './helpers/relay.mjs';
import { recorder } from './helpers/browser.mjs';
import { pageSuite } from './helpers/suite.mjs';

let relay, site, browser;
const problems = [];

pageSuite((e) => ({ relay, site, browser } = e));

/** The stored lists of unanswered publishes in the page's localStorage. */
const storedLists = (page) =>
  page.evaluate(() =>
    Object.keys(localStorage)
      .filter((k) => k.startsWith('cometa:outbox:'))
      .map((k) => localStorage.getItem(k)),
  );

/**
 * Loads a page of the package and starts an anonymous `CometApi` to the relay (`persist` as
 * given; the default when undefined), subscribed to `pipe` when `rec` is given. Resolves once
 * `start` was called: the relay may be down.
 */
async function openPage(page, { persist, pipe, rec } = {}) {
  if (rec && !page.recording) {
    page.recording = true;
    await page.exposeFunction('record', (r) => rec.add(r));
  }
  await page.goto(`${site.url}/test/fixtures/page.html`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 10000 });
  await page.evaluate(
    async ({ node, persist, pipe }) => {
      const { CometApi } = await import('/comet.js');
      const api = (window.api = new CometApi());
      window.states = [];
      api.on('connected', () => window.states.push('connected'));
      api.on('connecting', () => window.states.push('connecting'));
      if (pipe) api.subscription(pipe, (m) => window.record({ data: m.data, seq: m.server_info.seq }));
      api.start({ node, ...(persist === undefined ? {} : { persist }) });
    },
    { node: relay.url, persist, pipe },
  );
}

const until = (page, what) => page.waitForFunction(what, null, { timeout: 15000 });

/** The relay is back: the pages reconnect now instead of at the end of their backoff. */
const online = (pages) => Promise.all(pages.map((p) => p.evaluate(() => window.dispatchEvent(new Event('online')))));

async function history(channel) {
  const res = await fetch(`${relay.url}/api/v1/channels/${channel}/history`, { headers: { authorization: `Bearer ${API_KEY}` } });
  assert.equal(res.status, 200);
  return (await res.json()).publications.map((p) => p.data);
}

/**
 * Kill the relay, three `web_pipe_send` offline, reload while it is down, restart it; then a
 * marker. Returns the sender page and what the subscriber got once the marker arrived.
 */
async function offlineThenReload(pipe, persist) {
  const rec = recorder();
  const subscriber = await (await browser.newContext()).newPage();
  subscriber.on('pageerror', (e) => problems.push(String(e)));
  await openPage(subscriber, { pipe, rec });
  const sender = await (await browser.newContext()).newPage();
  sender.on('pageerror', (e) => problems.push(String(e)));
  await openPage(sender, { persist });
  await until(sender, () => window.states.includes('connected'));
  await until(subscriber, () => window.states.includes('connected'));

  await relay.kill();
  await until(sender, () => window.states.at(-1) === 'connecting');
  const sent = await sender.evaluate((pipe) => [1, 2, 3].map((n) => window.api.web_pipe_send(pipe, 'note', { n })), pipe);
  assert.deepEqual(sent, [true, true, true]);

  // The page goes while still offline and loads again; the relay comes back after.
  await sender.goto('about:blank');
  await openPage(sender, { persist });
  const kept = await storedLists(sender);
  await relay.restart();
  await online([sender, subscriber]);
  await until(sender, () => window.states.includes('connected'));
  // A marker after them: a publish is stored in order, so a repeat would come before it.
  await sender.evaluate((pipe) => window.api.web_pipe_send(pipe, 'note', { n: 'marker' }), pipe);
  await rec.until((l) => l.some((r) => r.data.n === 'marker'), 'the marker at the subscriber');
  return { sender, kept, got: rec.list.map((r) => r.data.n) };
}

test('web_pipe_send calls made offline are sent once after a reload; a subscriber gets each once, in order', async () => {
  const { sender, kept, got } = await offlineThenReload('web_outbox', undefined);
  assert.equal(kept.length, 1, 'one list for this relay and user');
  const lines = kept[0].split('\n');
  assert.equal(lines.length, 3, `three stored publishes after the reload: ${kept[0]}`);
  for (const l of lines) assert.match(l, /"mid":"[0-9A-Za-z]{16}"/);
  assert.deepEqual(got, [1, 2, 3, 'marker'], 'each queued publish reached the subscriber once, in order');
  assert.deepEqual(await history('web_outbox'), [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 'marker' }], 'stored once each');
  await sender.waitForFunction(() => !Object.keys(localStorage).some((k) => k.startsWith('cometa:outbox:')), null, { timeout: 10000 });
  assert.deepEqual(problems, []);
});

test('persist: false keeps them in memory only: after a reload they never arrive', async () => {
  const { sender, kept, got } = await offlineThenReload('web_outbox_plain', false);
  assert.deepEqual(kept, [], 'nothing stored');
  assert.deepEqual(got, ['marker']);
  assert.deepEqual(await history('web_outbox_plain'), [{ n: 'marker' }]);
  assert.deepEqual(await storedLists(sender), []);
  assert.deepEqual(problems, []);
});
