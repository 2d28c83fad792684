// The chat demo (`examples/chat`, served by the relay as `make run` does) in headless
// Chromium: two users in two browsers see each other online, chat in `web_chat`, send a
// private message, get a back-end push on `msg`, and keep the history across a reload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { startRelay } from './helpers/relay.mjs';
import { launchBrowser } from './helpers/browser.mjs';

const NPM_DIR = fileURLToPath(new URL('..', import.meta.url));
const CHAT_DIR = fileURLToPath(new URL('../../examples/chat', import.meta.url));
const SHOTS = new URL('./.screenshots/', import.meta.url);
let relay, browser;

before(async () => {
  relay = await startRelay({ args: ['--demo', '--sdk-dir', NPM_DIR, '--static-dir', CHAT_DIR] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await relay?.stop();
});

async function join(name, problems) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`${name}: ${e}`));
  await page.goto(relay.url + '/');
  await page.fill('#name', name);
  await page.click('#login-form button');
  await page.waitForSelector('#status.on');
  return page;
}

const texts = (page, sel) => page.$$eval(sel, (els) => els.map((e) => e.textContent.trim()));
const waitText = (page, sel, text) =>
  page.waitForFunction(([s, t]) => [...document.querySelectorAll(s)].some((e) => e.textContent.includes(t)), [sel, text], { timeout: 15000 });

test('chat demo: two users chatting, presence, private and personal messages, history across a reload', async () => {
  const problems = [];
  const alice = await join('Alice', problems);
  const bob = await join('Bob', problems);
  await waitText(alice, '#online li', 'Bob');
  await waitText(bob, '#online li', 'Alice');

  await alice.fill('#text', 'hello Bob');
  await alice.press('#text', 'Enter');
  await waitText(bob, '#messages li', 'Alice hello Bob');
  await bob.fill('#text', 'hi Alice!');
  await bob.press('#text', 'Enter');
  await waitText(alice, '#messages li', 'Bob hi Alice!');

  await alice.selectOption('#dm-to', 'bob');
  await alice.fill('#dm-text', 'psst');
  await alice.click('#dm-form button');
  await waitText(bob, '#dms li', 'Alice → Bob: psst');

  await relay.push('bob', 'notice', { text: 'your order shipped' });
  await waitText(bob, '#personal li', 'notice your order shipped');

  // A reload keeps the login and shows the room's history, each message once.
  await alice.reload();
  await alice.waitForSelector('#status.on');
  await waitText(alice, '#messages li', 'Bob hi Alice!');
  await bob.fill('#text', 'welcome back');
  await bob.press('#text', 'Enter');
  await waitText(alice, '#messages li', 'welcome back');
  assert.deepEqual(await texts(alice, '#messages li'), ['Alice hello Bob', 'Bob hi Alice!', 'Bob welcome back']);

  await bob.reload();
  await bob.waitForSelector('#status.on');
  await waitText(bob, '#dms li', 'psst');
  await waitText(bob, '#personal li', 'your order shipped');
  await waitText(bob, '#messages li', 'welcome back');

  await mkdir(SHOTS, { recursive: true });
  await bob.screenshot({ path: fileURLToPath(new URL('chat.png', SHOTS)) });
  assert.deepEqual(problems, []);
});
