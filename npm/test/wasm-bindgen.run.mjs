// Runs sdk-wasm's wasm-bindgen-test (tests/browser.rs) in headless Chromium against a live
// relay: this file starts the relay, mints the login code and queues the push the Rust test
// expects, and hands them over as compile-time variables. Run by scripts/test-sdk.sh (not
// part of `npm test`: it needs cargo and the wasm-bindgen CLI).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startRelay } from './helpers/relay.mjs';

let relay;
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await relay?.stop();
});

test('wasm-bindgen-test in headless Chromium', async () => {
  const user = `wasm-${process.pid}`;
  const code = await relay.mintCode(user, { nickName: 'Wasm' });
  await relay.push(user, 'queued-greeting', { from: 'test-sdk.sh' });
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const status = await new Promise((resolve, reject) => {
    const child = spawn('cargo', ['test', '-p', 'cometa-sdk', '--target', 'wasm32-unknown-unknown', '--test', 'browser'], {
      cwd: root,
      stdio: 'inherit',
      env: {
        ...process.env,
        CHROMEDRIVER: process.env.CHROMEDRIVER || '/usr/bin/chromedriver',
        COMETA_TEST_RELAY: relay.url,
        COMETA_TEST_CODE: code,
        WASM_BINDGEN_TEST_TIMEOUT: '60',
      },
    });
    child.on('error', reject);
    child.on('exit', resolve);
  });
  assert.equal(status, 0, 'cargo test (wasm32, browser) failed');
});
