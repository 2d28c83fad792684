// In Chromium, the calls a page makes before a WebAssembly module is loaded (the entries load
// it lazily): `Tunnel.emit` still returns its Promise, settled once the module and the tunnel
// are up; `cometa/comet`'s `subscription_once` ids, log level and client-side refusals answer
// at once as they will after loading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pageSuite } from './helpers/suite.mjs';

let relay, site, browser;
pageSuite((e) => ({ relay, site, browser } = e));

test('calls before the module is loaded answer as they will after', async () => {
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  await page.exposeFunction('mintCode', () => relay.mintCode('deferred-user'));
  await page.goto(`${site.url}/test/fixtures/deferred.html#${encodeURIComponent(relay.url)}`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 10000 });
  const out = await page.evaluate(() => window.out);
  assert.deepEqual(out, { earlyIsPromise: true, levelBefore: 4, ids: [1, 2], badSend: false, badTrack: false });
  // No webhook on this relay: the early emit is refused once the tunnel is up.
  assert.equal(await page.evaluate(() => Promise.race([window.earlyOutcome, new Promise((r) => setTimeout(() => r('pending'), 10000))])), 'rejected 4008');
  // The once subscription made before loading works after it.
  await page.evaluate(() => window.api.connected());
  await page.evaluate(() => new Promise((resolve) => window.api.count_users_in_pipe('web_deferred', resolve)));
  await relay.publish('web_deferred', 'e', { n: 1 });
  await page.waitForFunction(() => window.onceGot !== undefined, null, { timeout: 10000 });
  assert.deepEqual(await page.evaluate(() => window.onceGot), { n: 1 });
  assert.equal(await page.evaluate(() => window.api.getLogLevel()), 0);
  assert.deepEqual(problems, []);
  await page.close();
});
