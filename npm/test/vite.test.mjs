// The package in an app built by Vite with its default settings: the build must bundle both
// wasm modules and the top-level-await entries, and the built page must work against a relay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from './helpers/browser.mjs';
import { startRelay } from './helpers/relay.mjs';
import { serveStatic } from './helpers/static.mjs';

const app = fileURLToPath(new URL('./fixtures/vite-app/', import.meta.url));
let relay, site, browser;

before(async () => {
  const npm = (args) => execFileSync('npm', args, { cwd: app, stdio: ['ignore', 'ignore', 'inherit'], timeout: 180_000 });
  if (!existsSync(`${app}/node_modules/.bin/vite`)) npm(['ci', '--no-audit', '--no-fund']);
  execFileSync(`${app}/node_modules/.bin/vite`, ['build'], { cwd: app, stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 });
  relay = await startRelay();
  site = await serveStatic(`${app}/dist`);
  browser = await launchBrowser();
}, { timeout: 300_000 });
after(async () => {
  await browser?.close();
  await site?.close();
  await relay?.stop();
});

test('vite build: both entries load and talk to the relay', { timeout: 60_000 }, async () => {
  const user = `vite-${process.pid}`;
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  await page.exposeFunction('mintCode', () => relay.mintCode(user, { nickName: 'Vite' }));
  await page.goto(`${site.url}/index.html`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 15000 });

  const got = await page.evaluate(async (relayUrl) => {
    const { setLoginUrl, setCodeProvider, login, request, Tunnel } = window.app;
    setLoginUrl(`${relayUrl}/weapp/login`);
    setCodeProvider(() => window.mintCode());
    const userinfo = await login();
    const res = await request({ url: `${relayUrl}/weapp/user` });
    const tunnel = new Tunnel(`${relayUrl}/weapp/tunnel`);
    const connected = new Promise((resolve) => tunnel.on('connect', resolve));
    tunnel.open();
    await connected;
    window.tunnel = tunnel;
    return { nick: userinfo.nickName, status: res.statusCode, tunnel: tunnel.status };
  }, relay.url);
  assert.deepEqual(got, { nick: 'Vite', status: 200, tunnel: 'ACTIVE' });

  // The handler is in place before the push is sent, so the push cannot outrun it.
  await page.evaluate(() => {
    window.got = [];
    window.tunnel.on('hello', (content) => window.got.push(content));
  });
  await relay.push(user, 'hello', { from: 'vite test' });
  await page.waitForFunction(() => window.got.length > 0, null, { timeout: 10000 });
  assert.deepEqual(await page.evaluate(() => window.got), [{ from: 'vite test' }]);

  const comet = await page.evaluate(async (relayUrl) => {
    const api = window.app.CometServer();
    const started = new Promise((resolve) => api.start({ node: relayUrl }, resolve));
    await started;
    return typeof api.subscription;
  }, relay.url);
  assert.equal(comet, 'function');
  assert.deepEqual(problems, []);
  await page.close();
});
