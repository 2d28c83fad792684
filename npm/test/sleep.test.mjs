// A page that slept recovers at once when it wakes, not when a timer says so: in headless
// Chromium against a live relay that is killed and restarted while the page is away, both
// APIs reconnect well under their backoff and get the message sent meanwhile exactly once.
//
// The page's timers are throttled to one wake-up every two minutes (`throttleTimers`), as
// Chrome throttles a hidden tab's, so only the wake-up events can bring the connection back
// within the test's deadline. `online` is Chromium's own, after an offline spell emulated
// through the DevTools protocol; headless Chromium neither hides, freezes (`setWebLifecycleState`
// fires no `resume` on a visible page) nor bfcaches a page with a socket, so the page
// dispatches `resume`, `pageshow` (persisted) and `visibilitychange` itself. A resumed page runs
// its wake-up events before the socket events queued while it slept: `woken, then lost`
// checks that a socket found dead just after a wake-up is reopened at once too. Each case has a
// page of its own, so no earlier wake-up can help it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { recorder, countBySeq } from './helpers/browser.mjs';
import { pageSuite } from './helpers/suite.mjs';

const NPM_DIR = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./fixtures', import.meta.url));
// What "at once" means here: the throttled timers would take 120 s; the margin is for a
// loaded 2-core CI machine, where reconnect, auth and replay took over 5 s once.
const SOON_MS = 10000;
let relay, site, browser;
const problems = [];

pageSuite((e) => ({ relay, site, browser } = e), {
  relayArgs: () => ['--demo', '--sdk-dir', NPM_DIR, '--static-dir', FIXTURES],
});

/** From now on every timer of the page with a delay waits at least two minutes. */
const throttleTimers = (page) =>
  page.evaluate(() => {
    const real = window.setTimeout.bind(window);
    window.setTimeout = (f, ms, ...args) => real(f, ms > 0 ? Math.max(ms, 120000) : ms, ...args);
  });

// The wake-ups: `sleep()` runs before the relay goes away, `wake()` once it is back.
const dispatch = (page, target, make) => page.evaluate(([t, m]) => (t === 'window' ? window : document).dispatchEvent(new Function(`return ${m}`)()), [target, make]);
const visibility = (page, state) =>
  page.evaluate((v) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, value: v });
    document.dispatchEvent(new Event('visibilitychange'));
  }, state);
const wakeUps = {
  online: (page, cdp) => ({
    sleep: () => cdp.send('Network.enable'),
    async wake() {
      const conditions = { latency: 0, downloadThroughput: -1, uploadThroughput: -1 };
      await cdp.send('Network.emulateNetworkConditions', { offline: true, ...conditions });
      await cdp.send('Network.emulateNetworkConditions', { offline: false, ...conditions });
    },
  }),
  resume: (page) => ({
    sleep: async () => {},
    wake: () => dispatch(page, 'document', "new Event('resume')"),
  }),
  pageshow: (page) => ({
    sleep: async () => {},
    wake: () => dispatch(page, 'window', "new PageTransitionEvent('pageshow', { persisted: true })"),
  }),
  visibilitychange: (page) => ({
    sleep: () => visibility(page, 'hidden'),
    wake: () => visibility(page, 'visible'),
  }),
};

/**
 * One outage: `how` puts the page to sleep, the relay dies and the page notices, the relay
 * comes back, `send()` stores a message for the page, then `how` wakes the page (for
 * `woken, then lost`: the page learns of the death only after its wake-up). Resolves with
 * the milliseconds from the wake-up to `arrived(list, sent)`.
 */
async function outage(page, rec, how, { lost, send, arrived }) {
  const cdp = await page.context().newCDPSession(page);
  const seen = rec.list.length;
  let start;
  let sent;
  if (how === 'woken, then lost') {
    // The page is busy (as if frozen) while the relay dies and comes back: the socket's close
    // waits in its queue, behind the `resume` the page dispatches when it is free again.
    // (A binding call reaches the test even while the page is busy.)
    const busy = page.evaluate((ms) => {
      window.record({ kind: 'busy' });
      const end = Date.now() + ms;
      while (Date.now() < end);
      document.dispatchEvent(new Event('resume'));
    }, 3000);
    await rec.until((l) => l.some((r) => r.kind === 'busy'), 'the page busy');
    await relay.kill();
    await relay.restart();
    sent = await send();
    await busy;
    start = Date.now();
  } else {
    const { sleep, wake } = wakeUps[how](page, cdp);
    await sleep();
    await relay.kill();
    await rec.until((l) => l.slice(seen).some(lost), `${how}: the page saw the relay go`);
    await relay.restart();
    sent = await send();
    start = Date.now();
    await wake();
  }
  await rec.until((l) => arrived(l, sent), `${how}: the message sent during the outage`, SOON_MS);
  await cdp.detach();
  return Date.now() - start;
}

/** A page with a Wafer Tunnel open for a user of its own, its events reported into `rec`. */
async function waferPage(user, rec) {
  const page = await browser.newPage();
  page.on('pageerror', (e) => problems.push(String(e)));
  await page.exposeFunction('mintCode', () => relay.mintCode(user, { nickName: 'Sleepy' }));
  await page.exposeFunction('record', (r) => rec.add(r));
  await page.goto(`${site.url}/test/fixtures/page.html`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 10000 });
  await page.evaluate(async (relayUrl) => {
    const { setLoginUrl, setCodeProvider, login, Tunnel } = window.cometa;
    setLoginUrl(`${relayUrl}/weapp/login`);
    setCodeProvider(() => window.mintCode());
    await login();
    window.tunnel = new Tunnel(`${relayUrl}/weapp/tunnel`);
    window.tunnel.on('*', (kind, payload) => window.record({ kind, seq: payload && payload.n }));
    window.tunnel.open();
  }, relay.url);
  await rec.until((l) => l.some((r) => r.kind === 'connect'), 'connect');
  await throttleTimers(page);
  return page;
}

for (const how of ['resume', 'pageshow', 'woken, then lost']) {
  test(`Wafer Tunnel, ${how}: reconnects at once; nothing lost, nothing twice`, { timeout: 30000 }, async () => {
    const user = `sleep-${how.replace(/\W+/g, '-')}-${process.pid}`;
    const rec = recorder();
    const page = await waferPage(user, rec);
    const took = await outage(page, rec, how, {
      lost: (r) => r.kind === 'reconnecting',
      send: async () => {
        await relay.push(user, 'greet', { n: 1 });
        return 1;
      },
      arrived: (l) => l.some((r) => r.kind === 'greet' && r.seq === 1),
    });
    assert.ok(took < SOON_MS, `recovered in ${took} ms`);
    // A last push on the live tunnel: everything before it arrived exactly once.
    await relay.push(user, 'greet', { n: 2 });
    await rec.until((l) => l.some((r) => r.kind === 'greet' && r.seq === 2), 'the last push');
    assert.deepEqual([...countBySeq(rec.list, 'greet').entries()], [[1, 1], [2, 1]]);
    assert.equal(await page.evaluate(() => window.tunnel.status), 'ACTIVE');
    await page.evaluate(() => window.tunnel.close());
    assert.deepEqual(problems, []);
    await page.close();
  });
}

for (const how of ['online', 'resume', 'visibilitychange', 'woken, then lost']) {
  test(`cometa/comet, ${how}: reconnects at once; the channel misses nothing`, { timeout: 30000 }, async () => {
    const l = await relay.demoLogin('Sleeper');
    const channel = `dawn-${how.replace(/\W+/g, '-')}`;
    const cfg = { user: l.user_id, key: l.user_key, channels: [channel] };
    const page = await browser.newPage();
    page.on('pageerror', (e) => problems.push(String(e)));
    const rec = recorder();
    await page.exposeFunction('record', (r) => rec.add(r));
    await page.goto(`${relay.url}/comet.html#${encodeURIComponent(JSON.stringify(cfg))}`);
    await page.waitForFunction(() => window.authed >= 1, null, { timeout: 15000 });
    // Subscribed before the outage: the relay's answer to `auth` may come before the one to
    // the channel's `subscribe`, and a page that has no position yet has nothing to resume.
    await page.evaluate((c) => window.sync(c), channel);
    await page.evaluate(() => window.api.on('connecting', (e) => window.record({ kind: 'connecting', code: e.code })));
    await throttleTimers(page);

    const seqs = [];
    const took = await outage(page, rec, how, {
      lost: (r) => r.kind === 'connecting',
      send: async () => {
        const { seq } = await relay.publish(channel, 'light', { how });
        seqs.push(seq);
        return seq;
      },
      arrived: (list, seq) => list.some((r) => r.kind === 'pub' && r.seq === seq),
    });
    assert.ok(took < SOON_MS, `recovered in ${took} ms`);
    const { seq: last } = await relay.publish(channel, 'light', { how: 'live' });
    seqs.push(last);
    await rec.until((list) => list.some((r) => r.kind === 'pub' && r.seq === last), 'the last publish');
    const counts = countBySeq(rec.list, 'pub', channel);
    assert.deepEqual(
      seqs.map((s) => counts.get(s)),
      seqs.map(() => 1),
      'every message exactly once',
    );
    assert.equal(counts.size, seqs.length);
    assert.deepEqual(problems, []);
    await page.close();
  });
}
