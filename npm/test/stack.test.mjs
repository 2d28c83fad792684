// An unhandled RequestError in Node is readable: the glue is minified onto short lines, so the
// source line Node quotes is one statement (not a 4 KB line), and with --enable-source-maps
// the shipped maps point at the original source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const SCRIPT = `import { login } from 'cometa';
await login({ loginUrl: 'http://127.0.0.1:1/weapp/login', code: 'x' });
`;

async function crash(flags) {
  const file = new URL(`.stack-${process.pid}.mjs`, import.meta.url);
  await writeFile(file, SCRIPT);
  try {
    return await new Promise((resolve) =>
      execFile(process.execPath, [...flags, fileURLToPath(file)], { timeout: 10000 }, (err, stdout, stderr) => resolve({ code: err?.code, stderr })),
    );
  } finally {
    await rm(file, { force: true });
  }
}

test('an unhandled RequestError prints short lines', async () => {
  const { code, stderr } = await crash([]);
  assert.equal(code, 1);
  assert.match(stderr, /RequestError: request:fail/);
  const longest = Math.max(...stderr.split('\n').map((l) => l.length));
  assert.ok(longest <= 240, `a ${longest}-character line:\n${stderr}`);
});

test('with --enable-source-maps the stack points at the original source', async () => {
  const { code, stderr } = await crash(['--enable-source-maps']);
  assert.equal(code, 1);
  assert.match(stderr, /new RequestError\('ERR_REQUEST_FAILED', 'request:fail ' \+ failed\(e\)\)/);
  assert.match(stderr, /js\/host\.js:\d+:\d+/);
});
