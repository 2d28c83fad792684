// What a page downloads for the entries it imports (npm/load.js): with both `cometa` and
// `cometa/comet` imported before the first call, one WebAssembly module and one glue that
// have both APIs (`dist/cometa_all*`), and both APIs work on it against a relay; with one
// entry, only that entry's own module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pageSuite } from './helpers/suite.mjs';

let relay, site, browser;
pageSuite((e) => ({ relay, site, browser } = e));

/** A page importing `entries`; `fetched()` lists the package's modules and glues it requested. */
async function open(entries) {
  const page = await browser.newPage();
  const problems = [];
  const requested = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('request', (r) => {
    const path = new URL(r.url()).pathname;
    if (/^\/dist\/cometa_[a-z]+(_bg\.wasm|\.js)$/.test(path)) requested.push(path);
  });
  await page.goto(`${site.url}/test/fixtures/entries.html#${entries}`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 10000 });
  return { page, problems, fetched: () => [...requested].sort() };
}

test('a page with both entries downloads one module, and both APIs work on it', async () => {
  const user = `both-${process.pid}`;
  const { page, problems, fetched } = await open('cometa,comet');
  await page.exposeFunction('mintCode', () => relay.mintCode(user));
  assert.deepEqual(fetched(), [], 'nothing is downloaded before the first call');

  // Wafer: login, then a tunnel that gets a push from the relay.
  await page.evaluate(async (relayUrl) => {
    const { setLoginUrl, setCodeProvider, login, Tunnel } = window.wafer;
    setLoginUrl(`${relayUrl}/weapp/login`);
    setCodeProvider(() => window.mintCode());
    await login();
    const tunnel = new Tunnel(`${relayUrl}/weapp/tunnel`);
    window.pushed = new Promise((resolve) => tunnel.on('hello', resolve));
    await new Promise((resolve) => {
      tunnel.on('connect', resolve);
      tunnel.open();
    });
  }, relay.url);
  await relay.push(user, 'hello', { to: 'tunnel' });
  assert.deepEqual(await page.evaluate(() => window.pushed), { to: 'tunnel' });

  // CometServer, on the module already there: a message sent on a pipe comes back through
  // the relay to its subscriber.
  const got = await page.evaluate(async (relayUrl) => {
    const api = window.comet.CometServer();
    await new Promise((resolve) => api.start({ node: relayUrl }, resolve));
    const got = new Promise((resolve) => api.subscription('web_one_module.e', (m) => resolve(m.data)));
    await new Promise((resolve) => api.count_users_in_pipe('web_one_module', resolve));
    api.web_pipe_send('web_one_module', 'e', { to: 'comet' });
    return got;
  }, relay.url);
  assert.deepEqual(got, { to: 'comet' });

  assert.deepEqual(fetched(), ['/dist/cometa_all.js', '/dist/cometa_all_bg.wasm']);
  assert.deepEqual(problems, []);
  await page.close();
});

for (const [entry, own] of [
  ['cometa', 'cometa_sdk'],
  ['comet', 'cometa_comet'],
]) {
  test(`a page with only ${entry === 'cometa' ? 'cometa' : 'cometa/comet'} downloads only its own module`, async () => {
    const { page, problems, fetched } = await open(entry);
    await page.evaluate(() => (window.wafer ?? window.comet).ready());
    assert.deepEqual(fetched(), [`/dist/${own}.js`, `/dist/${own}_bg.wasm`]);
    assert.deepEqual(problems, []);
    await page.close();
  });
}

test('an entry imported after the first load gets its own module, not a second copy of the first', async () => {
  const { page, problems, fetched } = await open('cometa');
  await page.evaluate(async () => {
    await window.wafer.ready();
    await (await import('/comet.js')).ready();
  });
  assert.deepEqual(fetched(), ['/dist/cometa_comet.js', '/dist/cometa_comet_bg.wasm', '/dist/cometa_sdk.js', '/dist/cometa_sdk_bg.wasm']);
  assert.deepEqual(problems, []);
  await page.close();
});
