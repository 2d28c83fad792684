// Emits made while offline survive a page reload (issue 14): a Tunnel keeps every emit the
// relay has not answered in localStorage, with an idempotency key; the reloaded page's Tunnel
// for the same URL sends them once it connects, and the back end's webhook gets each once.
// Real relay (killed and restarted on its data dir), real headless Chromium, a real webhook.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { webhookSink } from './helpers/webhook.mjs';
import { pageSuite } from './helpers/suite.mjs';

const OUTBOX_KEY = (url) => `cometa:outbox:${url}`;
let relay, site, browser, hook, messages; // messages: the webhook's, in delivery order

pageSuite((e) => ({ relay, site, browser } = e), {
  relayArgs: async () => {
    hook = await webhookSink();
    messages = hook.messages;
    return ['--webhook-url', hook.url, '--webhook-secret', 'offline-queue-secret'];
  },
});
after(() => hook?.close());

/** Loads the fixture page; `login` first when asked, then a connecting Tunnel on window.tunnel. */
async function openTunnel(page, login) {
  await page.goto(`${site.url}/test/fixtures/page.html`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 10000 });
  await page.evaluate(
    async ({ relayUrl, login }) => {
      const { setLoginUrl, setCodeProvider, Tunnel } = window.cometa;
      setLoginUrl(`${relayUrl}/weapp/login`);
      setCodeProvider(() => window.mintCode());
      if (login) await window.cometa.login();
      window.tunnel = new Tunnel(`${relayUrl}/weapp/tunnel`, { backoffBaseMs: 100, backoffCapMs: 400 });
      window.rec = window.recorder(window.tunnel);
      window.tunnel.open();
    },
    { relayUrl: relay.url, login },
  );
}

test('emits made offline are sent once after a reload; the back end gets each once', async () => {
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  await page.exposeFunction('mintCode', () => relay.mintCode('offline-queue'));
  await openTunnel(page, true);
  await page.evaluate(() => window.rec.waitFor((e) => e.type === 'connect'));
  assert.equal(await page.evaluate(() => window.tunnel.persist), true, 'persist is the default');

  // Offline: the relay is gone; three emits are kept (and stored) while the tunnel retries.
  await relay.kill();
  await page.evaluate(() => window.rec.waitFor((e) => e.type === 'reconnecting'));
  const stored = await page.evaluate((key) => {
    for (const n of [1, 2, 3]) window.tunnel.emit('note', { n });
    return localStorage.getItem(key);
  }, OUTBOX_KEY(`${relay.url}/weapp/tunnel`));
  assert.equal(stored.split('\n').length, 3, `three stored emits: ${stored}`);
  assert.match(stored, /"mid":"[0-9A-Za-z]{16}"/);

  // The page goes away while still offline; the relay comes back; the page loads again and
  // its new Tunnel sends what the old one kept (the session is the stored one: no new login).
  await page.goto('about:blank');
  await relay.restart();
  await openTunnel(page, false);
  await page.evaluate(() => window.rec.waitFor((e) => e.type === 'connect'));
  // A marker after them: the webhook delivers in order, so a repeat would come before it.
  await page.evaluate(() => window.tunnel.emit('note', { n: 'marker' }));
  await messages.until(4, 'the three queued emits and the marker at the webhook');
  assert.deepEqual(
    messages.list.map((m) => m.content.n),
    [1, 2, 3, 'marker'],
    'each queued emit reached the back end once, in order',
  );
  await page.waitForFunction((key) => localStorage.getItem(key) === null, OUTBOX_KEY(`${relay.url}/weapp/tunnel`), { timeout: 10000 });
  assert.deepEqual(problems, []);
  await page.close();
});

test('persist: false keeps nothing in storage (Wafer behaviour)', async () => {
  const page = await browser.newPage();
  await page.exposeFunction('mintCode', () => relay.mintCode('offline-plain'));
  await page.goto(`${site.url}/test/fixtures/page.html`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 10000 });
  const left = await page.evaluate(async (relayUrl) => {
    const url = `${relayUrl}/weapp/nowhere`;
    const t = new window.cometa.Tunnel(url, { persist: false });
    t.emit('note', 1).catch(() => {});
    return [t.persist, localStorage.getItem(`cometa:outbox:${url}`)];
  }, relay.url);
  assert.deepEqual(left, [false, null]);
  await page.close();
});
