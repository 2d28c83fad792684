// Configuration errors are terminal: in Node without a WebSocket implementation a Tunnel and a
// CometServer connection report the problem once and stop, so the process exits instead of
// retrying forever. Each scenario runs as its own Node process (no global WebSocket: Node 20).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { startRelay } from './helpers/relay.mjs';

let relay;
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await relay?.stop();
});

/** Runs `src` as a module inside the package (so `cometa` resolves); resolves with its output. */
async function runNode(name, src) {
  const file = new URL(`.config-${name}-${process.pid}.mjs`, import.meta.url);
  await writeFile(file, src);
  try {
    return await new Promise((resolve) => {
      // Node 20 has no global WebSocket; newer Node has one unless told otherwise.
      const args = process.versions.node.split('.')[0] >= 22 ? ['--no-experimental-websocket'] : [];
      execFile(process.execPath, [...args, fileURLToPath(file)], { timeout: 10000 }, (err, stdout, stderr) =>
        resolve({ code: err ? (err.killed ? 'timeout' : err.code) : 0, stdout, stderr }),
      );
    });
  } finally {
    await rm(file, { force: true });
  }
}

test('Tunnel without a WebSocket implementation: one error, closed, the process exits', async () => {
  const code = await relay.mintCode('config-1');
  const r = await runNode('tunnel', `
import { login, Tunnel } from 'cometa';
assert(typeof globalThis.WebSocket === 'undefined');
function assert(ok) { if (!ok) throw new Error('this Node has a global WebSocket'); }
await login({ loginUrl: '${relay.url}/weapp/login', code: '${code}' });
const tunnel = new Tunnel('${relay.url}/weapp/tunnel', { backoffBaseMs: 10 });
for (const kind of ['connect', 'close', 'reconnecting', 'reconnect']) tunnel.on(kind, () => console.log(kind));
tunnel.on('error', (e) => console.log('error', e.code, e.message));
tunnel.open();
`);
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 2, r.stdout);
  assert.equal(lines[0], 'close');
  assert.match(lines[1], /^error 3001 no WebSocket implementation: pass one with configure\(\{ WebSocket \}\)/);
});

test('CometServer without a WebSocket implementation stops and the process exits', async () => {
  const r = await runNode('comet', `
import { CometServer } from 'cometa/comet';
const api = CometServer();
api.start({ node: '${relay.url}' }, () => console.log('connected'));
`);
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /no WebSocket: pass one in start\(\{ WebSocket \}\)/);
});
