// Runs the root README's page snippet as written in Chromium: the package through an import
// map, the placeholder hosts swapped for a relay and for a stand-in of the customer's back end
// (which mints the login code and queues a `chat` message for the user). The snippet opens
// its tunnel while its login is still in flight: the tunnel must wait for that login (one
// code, one session), connect, and print the chat message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from './helpers/browser.mjs';
import { startRelay } from './helpers/relay.mjs';

const PKG = fileURLToPath(new URL('..', import.meta.url));
const TYPES = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
const snippet = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]).find((c) => c.includes("from 'cometa'") && c.includes('Tunnel'));

let relay, site, siteUrl, browser;
let codes = 0;
// What the page under test runs: the snippet, or a variant of it.
let script = '';

before(async () => {
  relay = await startRelay();
  site = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/cometa-code') {
      const user = `readme-page-${++codes}`;
      const code = await relay.mintCode(user, { nickName: 'Page' });
      await relay.push(user, 'chat', { text: 'hello from the back end' });
      return res.writeHead(200, { 'content-type': 'text/plain' }).end(code);
    }
    if (path === '/') {
      const html = `<!doctype html><meta charset="utf-8">
<script type="importmap">{"imports": {"cometa": "/pkg/index.js"}}</script>
<script type="module">\n${script}\n</script>\n`;
      return res.writeHead(200, { 'content-type': 'text/html' }).end(html);
    }
    const file = normalize(decodeURIComponent(path.replace(/^\/pkg\//, '')));
    if (!path.startsWith('/pkg/') || file.includes('..')) return res.writeHead(404).end();
    try {
      const body = await readFile(join(PKG, file));
      res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => site.listen(0, '127.0.0.1', r));
  siteUrl = `http://127.0.0.1:${site.address().port}`;
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await new Promise((r) => (site ? site.close(r) : r()));
  await relay?.stop();
});

/** Loads the page running `code`; resolves with its console lines once `done` matches them. */
async function runPage(code, done) {
  script = code.replaceAll('https://relay.example.com', relay.url).replaceAll('https://app.example.com', siteUrl);
  const page = await browser.newPage();
  const lines = [];
  const problems = [];
  let finished;
  const finishedP = new Promise((r) => (finished = r));
  page.on('pageerror', (e) => problems.push(String(e)));
  if (process.env.DEBUG_PAGE) page.on('response', (r) => console.error(r.status(), r.url()));
  page.on('console', (m) => {
    lines.push(m.text());
    if (done(lines)) finished();
  });
  await page.goto(siteUrl);
  await Promise.race([finishedP, new Promise((_, reject) => setTimeout(() => reject(new Error(`page printed only ${JSON.stringify(lines)}, errors ${JSON.stringify(problems)}`)), 20000))]);
  await page.close();
  return { lines, problems };
}

test('the README page snippet has the code provider and a tunnel', () => {
  assert.ok(snippet, 'no page snippet importing cometa in README.md');
  assert.match(snippet, /setCodeProvider/);
});

test('README page snippet runs verbatim: one login, the tunnel waits for it and gets the chat', { timeout: 30000 }, async () => {
  codes = 0;
  const { lines, problems } = await runPage(snippet, (l) => l.includes('hello from the back end') && l.some((x) => x.startsWith('signed in as')));
  assert.ok(lines.includes('signed in as Page'), JSON.stringify(lines));
  assert.deepEqual(problems, []);
  // The tunnel used the session of the login in flight instead of logging in again.
  assert.equal(codes, 1);
});

test('a tunnel opened while a login with an explicit code is in flight waits for it', { timeout: 30000 }, async () => {
  codes = 0;
  const code = `import qcloud from 'cometa';
const code = await (await fetch('https://app.example.com/cometa-code')).text();
qcloud.setLoginUrl('https://relay.example.com/weapp/login');
qcloud.login({ code, success() { console.log('logged in'); } });
const tunnel = new qcloud.Tunnel('https://relay.example.com/weapp/tunnel');
tunnel.on('error', (e) => console.log('error ' + e.code + ' ' + e.message));
tunnel.on('chat', (msg) => console.log(msg.text));
tunnel.open();`;
  const { lines } = await runPage(code, (l) => l.includes('hello from the back end') || l.some((x) => x.startsWith('error')));
  assert.deepEqual(lines.filter((l) => l !== 'logged in'), ['hello from the back end']);
});
