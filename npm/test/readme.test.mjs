// Executes every ```js block of README.md against a live relay, each as its own module in a
// child process: the placeholder hosts are swapped for the relay and for a stand-in of the
// customer's back end, which mints a login code (and queues a `chat` message for the user,
// so the quick start's tunnel has something to receive and then closes), mints JWTs at
// /cometa-token and answers the relay's delegated-auth checks at /verify. The relay runs with
// every login way on (visitors, JWT, delegated auth), and knows the password user `bob`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { readFile, writeFile, rm } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startRelay } from './helpers/relay.mjs';

const here = new URL('.', import.meta.url);
let relay, backend, backendUrl, users = 0;
const JWT_SECRET = 'readme-test-jwt-secret-0123456789abcdef';

/** An HS256 token for `sub`, valid for an hour, as the customer's back end would mint it. */
function jwt(sub) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  return `${body}.${createHmac('sha256', JWT_SECRET).update(body).digest('base64url')}`;
}

before(async () => {
  backend = createServer(async (req, res) => {
    const user = `readme-${++users}`;
    if (req.url === '/cometa-token') return res.writeHead(200, { 'content-type': 'text/plain' }).end(jwt(user));
    if (req.url === '/verify') {
      // The relay asks who carries these headers; a real site would check its own session.
      let body = '';
      for await (const chunk of req) body += chunk;
      const token = JSON.parse(body).headers['X-WX-Code'];
      const ok = token === 'session-token-your-site-issued';
      return res.writeHead(ok ? 200 : 403, { 'content-type': 'application/json' }).end(JSON.stringify(ok ? { user_id: 'dora', userinfo: { nickName: 'Dora' } } : {}));
    }
    try {
      const code = await relay.mintCode(user, { nickName: user });
      await relay.push(user, 'chat', { text: 'hi from the readme test' });
      res.writeHead(200, { 'content-type': 'text/plain' }).end(code);
    } catch (e) {
      res.writeHead(500).end(String(e));
    }
  });
  await new Promise((r) => backend.listen(0, '127.0.0.1', r));
  backendUrl = `http://127.0.0.1:${backend.address().port}`;
  relay = await startRelay({ args: ['--anonymous', '--jwt-secret', JWT_SECRET, '--auth-verify-url', `${backendUrl}/verify`] });
  await relay.api('/api/v1/users', { user_id: 'bob', username: 'bob', password: 'correct horse' });
});
after(async () => {
  await new Promise((r) => (backend ? backend.close(r) : r()));
  await relay?.stop();
});

const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);

test('README has js snippets', () => assert.ok(blocks.length >= 2));

blocks.forEach((code, i) => {
  test(`README snippet ${i + 1} runs`, async () => {
    const src = code.replaceAll('https://relay.example.com', relay.url).replaceAll('https://app.example.com', backendUrl);
    // Inside the package directory so `import 'cometa'` resolves to this package itself.
    const file = new URL(`.readme-${i + 1}.mjs`, here);
    await writeFile(file, src);
    try {
      const { stdout, stderr } = await new Promise((resolve, reject) => {
        execFile(process.execPath, [fileURLToPath(file)], { timeout: 20000 }, (err, stdout, stderr) =>
          err ? reject(new Error(`${err.message}\nstdout: ${stdout}\nstderr: ${stderr}`)) : resolve({ stdout, stderr }),
        );
      });
      assert.equal(stderr, '', 'the snippet reported an error');
      assert.notEqual(stdout.trim(), '', 'the snippet printed nothing');
    } finally {
      await rm(file, { force: true });
    }
  });
});
