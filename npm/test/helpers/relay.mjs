// Starts the cometa-relay binary for a test and talks to its back-end API.
// COMETA_RELAY_BIN overrides the binary (default: the workspace's target/debug build).
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const API_KEY = 'cometa-sdk-test-key-0123456789';
const BIN = process.env.COMETA_RELAY_BIN || fileURLToPath(new URL('../../../target/debug/cometa-relay', import.meta.url));

function launch(listen, dataDir, args, cwd) {
  const proc = spawn(BIN, ['--listen', listen, '--data-dir', dataDir, '--api-key', API_KEY, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
  });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error('relay did not start within 15 s')), 15000);
    const fail = (err) => {
      clearTimeout(timer);
      proc.kill('SIGKILL');
      reject(new Error(`${err.message}\n${stderr}`));
    };
    proc.on('error', fail);
    proc.on('exit', (code) => fail(new Error(`relay exited with ${code}`)));
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /cometa-relay listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        proc.removeAllListeners('exit');
        resolve({ proc, url: m[1], stdout: () => out });
      }
    });
  });
}

/**
 * A relay on a free port with its own data dir; `restart()` brings it back on the same port.
 * `args`: extra command-line flags (e.g. `--demo`, `--static-dir`); `cwd`: where it runs (the
 * test process's folder, inside the repository, by default).
 */
export async function startRelay({ args = [], cwd } = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), 'cometa-sdk-test-'));
  let { proc, url, stdout } = await launch('127.0.0.1:0', dataDir, args, cwd);
  const port = new URL(url).port;
  const api = async (path, body) => {
    const res = await fetch(url + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${text}`);
    return JSON.parse(text);
  };
  const exited = (p) => (p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', r)));
  return {
    url,
    port,
    /** With `--cometql-listen`: the CometQL port, from the line the relay prints after its HTTP one. */
    cometqlPort: () =>
      new Promise((resolve, reject) => {
        const find = () => /CometQL listening on \S+:(\d+)/.exec(stdout())?.[1];
        const found = find();
        if (found) return resolve(Number(found));
        const timer = setTimeout(() => reject(new Error('no CometQL listening line within 15 s')), 15000);
        const on = () => {
          const p = find();
          if (p) {
            clearTimeout(timer);
            proc.stdout.off('data', on);
            resolve(Number(p));
          }
        };
        proc.stdout.on('data', on);
      }),
    /** A back-end API call: `POST path` with the API key and a JSON body, e.g. `/api/v1/users`. */
    api,
    /** A single-use login code for `userId`, as a customer back end would obtain it. */
    mintCode: async (userId, userinfo) => (await api('/api/v1/login-codes', { user_id: userId, ...(userinfo ? { userinfo } : {}) })).code,
    /** Pushes `event` with `data` to every live tunnel of `userId` (queued when none). */
    push: (userId, event, data) => api(`/api/v1/users/${encodeURIComponent(userId)}/messages`, { event, data }),
    /** `GET /api/v1/users/{id}/presence`: `{online, devices, last_seen}` (devices = live connections). */
    presence: async (userId) => {
      const res = await fetch(`${url}/api/v1/users/${encodeURIComponent(userId)}/presence`, { headers: { authorization: `Bearer ${API_KEY}` } });
      if (!res.ok) throw new Error(`presence: HTTP ${res.status} ${await res.text()}`);
      return res.json();
    },
    /** Resolves once the user has exactly `n` live connections at the relay (polled). */
    async untilConnections(userId, n, timeoutMs = 10000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { devices } = await this.presence(userId);
        if (devices === n) return;
        if (Date.now() > deadline) throw new Error(`user ${userId} has ${devices} connections, not ${n}, after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    /** Publishes on a channel as the back end; resolves with `{seq}`. */
    publish: (channel, event, data) => api(`/api/v1/channels/${encodeURIComponent(channel)}/messages`, { event, data }),
    /** `POST /demo/login` (relay started with `--demo`): `{user_id, user_key, dev_id}`. */
    demoLogin: async (name) => {
      const res = await fetch(`${url}/demo/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
      if (!res.ok) throw new Error(`/demo/login: HTTP ${res.status} ${await res.text()}`);
      return res.json();
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited(proc);
    },
    async restart() {
      ({ proc } = await launch(`127.0.0.1:${port}`, dataDir, args, cwd));
    },
    async stop() {
      proc.kill('SIGKILL');
      await exited(proc);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
