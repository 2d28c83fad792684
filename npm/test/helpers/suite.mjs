// One relay, a static server and a headless Chromium for a test file: started before its
// tests, stopped after them, so each browser test file states only what it does differently.
import { before, after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startRelay } from './relay.mjs';
import { serveStatic } from './static.mjs';
import { launchBrowser } from './browser.mjs';

const NPM_DIR = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Registers the `before`/`after` hooks and hands `{ relay, site, browser }` to `set` once they
 * run. `relayArgs(site)`: the relay's extra arguments, or a Promise of them (the site is up by
 * then, for its origin); `siteDir`: what the static server serves (the package by default).
 */
export function pageSuite(set, { relayArgs = () => [], siteDir = NPM_DIR } = {}) {
  const env = {};
  before(async () => {
    env.site = await serveStatic(siteDir);
    env.relay = await startRelay({ args: await relayArgs(env.site) });
    env.browser = await launchBrowser();
    set(env);
  });
  after(async () => {
    await env.browser?.close();
    await env.site?.close();
    await env.relay?.stop();
  });
}
