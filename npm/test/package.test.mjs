// What `npm publish` would ship: every file the entries import, the source maps, no tests or
// bundler fixtures, and a README whose links resolve inside the tarball.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('..', import.meta.url));
const [pack] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
const files = new Set(pack.files.map((f) => f.path));

test('the tarball has the entries, their modules and maps, and nothing of the tests', () => {
  for (const f of ['index.js', 'comet.js', 'load.js', 'dist/cometa_sdk.js', 'dist/cometa_sdk.js.map', 'dist/cometa_sdk_bg.wasm', 'dist/cometa_comet.js.map', 'dist/cometa_comet_shared.js', 'dist/snippets/cometa-sdk/js/host-static.js', 'dist/cometa_all.js', 'dist/cometa_all_bg.wasm', 'node/index.js', 'node/wafer-glue.js', 'node/comet.js', 'node/comet-glue.js']) {
    assert.ok(files.has(f), `${f} is not shipped`);
  }
  assert.deepEqual([...files].filter((f) => f.startsWith('test/') || f.includes('node_modules')), []);
});

test('README links resolve inside the tarball', () => {
  const readme = readFileSync(`${dir}/README.md`, 'utf8');
  const links = [...readme.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)].map((m) => m[1]).filter((l) => !/^https?:/.test(l));
  for (const l of links) assert.ok(files.has(l.replace(/^\.\//, '')), `README links to ${l}, which is not in the package`);
});

test('package.json says what the package is about', () => {
  const pkg = JSON.parse(readFileSync(`${dir}/package.json`, 'utf8'));
  assert.ok(pkg.keywords?.length > 0);
});

test('CommonJS require works where Node can require ES modules (no top-level await), else fails clearly', () => {
  const script = "const c = require('cometa'); const m = require('cometa/comet'); console.log(typeof c.login, typeof m.CometServer)";
  let out;
  try {
    out = execFileSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    // Node before require(esm): its own error names the cause.
    assert.match(String(e.stderr), /ERR_REQUIRE_ESM/);
    return;
  }
  assert.equal(out.trim(), 'function function');
});
