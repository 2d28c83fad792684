// `cometa-relay --demo` started outside the repository (a temp dir: no examples/chat, no npm
// folder beside it) serves the demo page and every SDK file it loads from the binary itself:
// each file the page references, followed through the modules' imports (dynamic ones too)
// and `new URL(…, import.meta.url)` assets, answers 200 with the content type a browser needs
// (a module script must be JavaScript, `WebAssembly.instantiateStreaming` needs
// application/wasm).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay } from './helpers/relay.mjs';

let relay, dir;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cometa-demo-outside-'));
  relay = await startRelay({ args: ['--demo'], cwd: dir });
});
after(async () => {
  await relay?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const TYPES = { '.html': /^text\/html/, '.js': /^(text|application)\/javascript/, '.css': /^text\/css/, '.wasm': /^application\/wasm$/ };
const typeOf = (path) => Object.entries(TYPES).find(([ext]) => path.endsWith(ext))?.[1];

/** Same-origin paths a page or module refers to. */
function references(path, text) {
  const found = [];
  const patterns = path.endsWith('.html')
    ? [/(?:src|href)="([^"]+)"/g]
    : [
        /(?:import|export)\b[^'";]*?from\s*['"]([^'"]+)['"]/g,
        /import\s*['"]([^'"]+)['"]/g,
        // `npm/load.js` imports a glue when the page first needs it.
        /import\(\s*['"]([^'"]+)['"]\s*\)/g,
        /new URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url/g,
      ];
  for (const re of patterns) for (const m of text.matchAll(re)) found.push(m[1]);
  return found
    .filter((r) => !/^[a-z]+:/.test(r) && !r.startsWith('#') && !r.startsWith('//'))
    .map((r) => new URL(r, `http://x${path}`).pathname);
}

test('the demo page and every SDK file it loads come from the binary', async () => {
  const seen = new Map();
  const queue = ['/'];
  while (queue.length) {
    const path = queue.shift();
    if (seen.has(path)) continue;
    const res = await fetch(relay.url + path);
    const type = res.headers.get('content-type') || '';
    seen.set(path, { status: res.status, type });
    assert.equal(res.status, 200, `${path}: HTTP ${res.status}`);
    const want = path === '/' ? TYPES['.html'] : typeOf(path);
    if (want) assert.match(type, want, `${path}: ${type}`);
    if (path === '/' || path.endsWith('.js') || path.endsWith('.html')) queue.push(...references(path === '/' ? '/index.html' : path, await res.text()));
    else await res.arrayBuffer();
  }
  const paths = [...seen.keys()];
  for (const must of ['/app.js', '/sdk/comet.js', '/sdk/load.js', '/sdk/dist/cometa_comet.js', '/sdk/dist/cometa_comet_bg.wasm']) {
    assert.ok(paths.includes(must), `${must} among ${paths}`);
  }
  assert.ok(paths.some((p) => p.startsWith('/sdk/dist/snippets/')), `the glue's snippets among ${paths}`);
  // Only the package's files: the rest of the folder is not in the binary.
  assert.equal((await fetch(`${relay.url}/sdk/package-lock.json`)).status, 404);
  assert.equal((await fetch(`${relay.url}/sdk/test/demo-embedded.test.mjs`)).status, 404);
});
