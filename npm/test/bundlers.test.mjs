// The package in one app built by each bundler with its default settings (Vite 5, 6 and the
// current one, webpack 5, esbuild) and loaded by a plain <script type="module"> with an import
// map: every build must succeed and every page must log in, open a tunnel, receive a push and
// start a CometServer connection against a relay. The bundlers are pinned in
// `bundlers/package.json` (its own lockfile: the published package does not carry them).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { launchBrowser } from './helpers/browser.mjs';
import { startRelay } from './helpers/relay.mjs';
import { serveStatic } from './helpers/static.mjs';

const app = fileURLToPath(new URL('./bundlers/', import.meta.url));
const run = promisify(execFile);
const page = (bundle) => `<!doctype html><meta charset="utf-8"><script type="module" src="${bundle}"></script>\n`;

// name → how to build into out/<name> (the default config plus where to write), as an app would.
const vite = (pkg) => async (out) => run(process.execPath, [`node_modules/${pkg}/bin/vite.js`, 'build', '--outDir', out, '--emptyOutDir', '--logLevel', 'warn'], { cwd: app });
const BUILDS = {
  vite5: vite('vite5'),
  vite6: vite('vite6'),
  vite: vite('vite'),
  webpack: async (out) => {
    await run(process.execPath, ['node_modules/webpack-cli/bin/cli.js', '--output-path', out], { cwd: app });
    writeFileSync(`${out}/index.html`, page('./main.js'));
  },
  // esbuild does not handle `new URL(file, import.meta.url)`: the app copies the package's
  // wasm next to the bundle, where the README says.
  esbuild: async (out) => {
    await run(`${app}/node_modules/.bin/esbuild`, ['src/index.js', '--bundle', '--format=esm', `--outdir=${out}`, '--log-level=warning'], { cwd: app });
    mkdirSync(`${out}/dist`, { recursive: true });
    for (const f of readdirSync(`${app}/node_modules/cometa/dist`)) if (f.endsWith('.wasm')) cpSync(`${app}/node_modules/cometa/dist/${f}`, `${out}/dist/${f}`);
    writeFileSync(`${out}/index.html`, page('./index.js'));
  },
};

let relay, browser;
const sites = {};

before(async () => {
  if (!existsSync(`${app}/node_modules/.bin/vite`)) execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: app, stdio: ['ignore', 'ignore', 'inherit'], timeout: 180_000 });
  rmSync(`${app}/out`, { recursive: true, force: true });
  // One build at a time: the machine may be small, and a failure names its bundler.
  for (const [name, build] of Object.entries(BUILDS)) {
    const out = `${app}/out/${name}`;
    try {
      await build(out);
    } catch (e) {
      sites[name] = { error: `${name} build failed: ${e.stderr || e.message}` };
      continue;
    }
    sites[name] = { server: await serveStatic(out), path: '/index.html' };
  }
  sites.plain = { server: await serveStatic(app), path: '/plain.html' };
  relay = await startRelay();
  browser = await launchBrowser();
}, { timeout: 240_000 });
after(async () => {
  await browser?.close();
  for (const s of Object.values(sites)) await s.server?.close();
  await relay?.stop();
});

for (const name of [...Object.keys(BUILDS), 'plain']) {
  test(`${name}: both entries load and talk to the relay`, { timeout: 60_000 }, async () => {
    const site = sites[name];
    assert.ok(!site.error, site.error);
    const user = `${name}-${process.pid}`;
    const page = await browser.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(String(e)));
    await page.exposeFunction('mintCode', () => relay.mintCode(user, { nickName: name }));
    await page.goto(`${site.server.url}${site.path}`);
    await page.waitForFunction(() => window.ready === true, null, { timeout: 15000 });

    const got = await page.evaluate(async (relayUrl) => {
      const { setLoginUrl, setCodeProvider, login, request, Tunnel } = window.app;
      // Synchronous calls before the module is there are queued, in order.
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
    assert.deepEqual(got, { nick: name, status: 200, tunnel: 'ACTIVE' });

    // The handler is in place before the push is sent, so the push cannot outrun it.
    await page.evaluate(() => {
      window.got = [];
      window.tunnel.on('hello', (content) => window.got.push(content));
    });
    await relay.push(user, 'hello', { from: name });
    await page.waitForFunction(() => window.got.length > 0, null, { timeout: 10000 });
    assert.deepEqual(await page.evaluate(() => window.got), [{ from: name }]);

    const comet = await page.evaluate(async (relayUrl) => {
      const api = window.app.CometServer();
      await new Promise((resolve) => api.start({ node: relayUrl }, resolve));
      return api.isConnected();
    }, relay.url);
    assert.equal(comet, true);
    assert.deepEqual(problems, []);
    await page.close();
  });
}
