// The SDK in headless Chromium (Debian's /usr/bin/chromium through playwright-core), loaded
// by a page on another origin than the relay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startRelay } from './helpers/relay.mjs';
import { serveStatic } from './helpers/static.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
let relay, site, browser;

before(async () => {
  relay = await startRelay();
  site = await serveStatic(fileURLToPath(new URL('..', import.meta.url)));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});
after(async () => {
  await browser?.close();
  await site?.close();
  await relay?.stop();
});

test('browser: login, request, tunnel, push, relay restart, exactly-once delivery', async () => {
  const user = `browser-${process.pid}`;
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  // The page's code provider asks "its back end" (this test) for a code.
  await page.exposeFunction('mintCode', () => relay.mintCode(user, { nickName: 'Browser' }));
  await page.goto(`${site.url}/test/fixtures/page.html`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 10000 });

  const info = await page.evaluate(async (relayUrl) => {
    const { setLoginUrl, setCodeProvider, login, request, Session, Tunnel } = window.cometa;
    setLoginUrl(`${relayUrl}/weapp/login`);
    setCodeProvider(() => window.mintCode());
    const userinfo = await login();
    const res = await request({ url: `${relayUrl}/weapp/user` });
    const tunnel = new Tunnel(`${relayUrl}/weapp/tunnel`, { backoffBaseMs: 100, backoffCapMs: 400 });
    window.rec = window.recorder(tunnel);
    window.tunnel = tunnel;
    tunnel.open();
    await window.rec.waitFor((e) => e.type === 'connect');
    return {
      userinfo,
      statusCode: res.statusCode,
      user: res.data.data,
      stored: localStorage.getItem('weapp_session_F2C224D4-2BCE-4C64-AF9F-A6D872000D1A'),
      skey: Session.get().skey,
      status: tunnel.status,
    };
  }, relay.url);
  assert.equal(info.userinfo.nickName, 'Browser');
  assert.equal(info.statusCode, 200);
  assert.equal(info.user.nickName, 'Browser');
  assert.equal(JSON.parse(info.stored).skey, info.skey, 'the session is kept in localStorage under Wafer key');
  assert.equal(info.status, 'ACTIVE');

  await relay.push(user, 'greet', { n: 1 });
  assert.deepEqual(await page.evaluate(() => window.rec.waitFor((e) => e.type === 'greet').then((e) => e.payload)), { n: 1 });

  await relay.kill();
  await page.evaluate(() => window.rec.waitFor((e) => e.type === 'reconnecting'));
  await relay.restart();
  await page.evaluate(() => window.rec.waitFor((e) => e.type === 'reconnect', 20000));

  await relay.push(user, 'greet', { n: 2 });
  await relay.push(user, 'greet', { n: 3 });
  const twos = await page.evaluate(async () => {
    await window.rec.waitFor((e) => e.type === 'greet' && e.payload.n === 3);
    return window.rec.count((e) => e.type === 'greet' && e.payload.n === 2);
  });
  assert.equal(twos, 1, 'the message pushed after the restart arrives exactly once');

  await page.evaluate(() => {
    window.tunnel.close();
    return window.rec.waitFor((e) => e.type === 'close');
  });
  assert.deepEqual(problems, []);
  await page.close();
});
