// The CometServer API (`cometa/comet`) in headless Chromium against a live relay: personal
// messages on every page and device, catch-up across a reload exactly once, and a relay
// killed with SIGKILL mid-stream with nothing lost and nothing twice. Pages are served by the
// relay itself (the SDK at `/sdk/` from `--sdk-dir npm`, the page from `--static-dir`), as in
// `make run`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startRelay } from './helpers/relay.mjs';
import { launchBrowser, recorder, countBySeq } from './helpers/browser.mjs';

const NPM_DIR = fileURLToPath(new URL('..', import.meta.url));
// `/sdk/` serves only the package's files, so the test page comes from its own folder.
const FIXTURES = fileURLToPath(new URL('./fixtures', import.meta.url));
let relay, browser;
const problems = [];

before(async () => {
  relay = await startRelay({ args: ['--demo', '--sdk-dir', NPM_DIR, '--static-dir', FIXTURES] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await relay?.stop();
});

async function login(name) {
  const l = await relay.demoLogin(name);
  return { user: l.user_id, key: l.user_key };
}

/** Opens the fixture page as `cfg`, reporting into `rec`; resolves once authenticated. */
async function openPage(context, cfg, rec) {
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(String(e)));
  await page.exposeFunction('record', (r) => rec.add(r));
  await page.goto(fixtureUrl(cfg));
  await page.waitForFunction(() => window.authed >= 1, null, { timeout: 15000 });
  return page;
}

const fixtureUrl = (cfg) => `${relay.url}/comet.html#${encodeURIComponent(JSON.stringify(cfg))}`;

/** Every seq in `seqs` was recorded for `kind`/`pipe`. */
const has = (kind, pipe, seqs) => (list) => {
  const c = countBySeq(list, kind, pipe);
  return seqs.every((s) => c.has(s));
};

function assertExactlyOnce(list, kind, pipe, seqs) {
  const c = countBySeq(list, kind, pipe);
  for (const s of seqs) assert.equal(c.get(s), 1, `${kind} ${pipe} seq ${s} seen ${c.get(s) || 0} times`);
  assert.equal(c.size, seqs.length, `${kind} ${pipe}: only the pushed seqs: ${[...c.keys()]}`);
}

test('one user on two pages and a second device gets the same personal message; an offline device catches up', async () => {
  const cfg = await login('Pat');
  const ctxA = await browser.newContext();
  const ctxB = await browser.newContext();
  const recs = [recorder(), recorder(), recorder()];
  const p1 = await openPage(ctxA, cfg, recs[0]);
  const p2 = await openPage(ctxA, cfg, recs[1]);
  const p3 = await openPage(ctxB, cfg, recs[2]);
  const uuids = await Promise.all([p1, p2, p3].map((p) => p.evaluate(() => window.api.getUUID())));
  assert.equal(uuids[0], uuids[1], 'pages of one browser share the device id');
  assert.notEqual(uuids[0], uuids[2], 'another browser is another device');

  const { seq: s1 } = await relay.push(cfg.user, 'note', { n: 1 });
  for (const r of recs) await r.until(has('msg', 'msg', [s1]), 'the personal message');
  for (const r of recs) {
    assertExactlyOnce(r.list, 'msg', 'msg', [s1]);
    assert.deepEqual(r.list[0].data, { n: 1 });
    assert.equal(r.list[0].event, 'note');
  }

  // Device B goes away; a message is pushed; device B comes back in a new tab. A closed page's
  // renderer can still take a frame before its socket ends, and the device's position (shared
  // by its tabs) would then rightly be past the message: push only once the relay saw it go.
  // The two tabs of device A share one connection (`shared`, the default).
  await p3.close();
  await relay.untilConnections(cfg.user, 1);
  const { seq: s2 } = await relay.push(cfg.user, 'note', { n: 2 });
  const back = recorder();
  await openPage(ctxB, cfg, back);
  await back.until(has('msg', 'msg', [s2]), 'the missed personal message');
  await p1.evaluate(() => window.sync('msg'));
  assertExactlyOnce(back.list, 'msg', 'msg', [s2]);
  assert.deepEqual(problems, []);
  await ctxA.close();
  await ctxB.close();
});

test('a page reloaded while messages are sent catches up exactly once', async () => {
  const cfg = { ...(await login('Reloader')), channels: ['web_feed'] };
  const ctx = await browser.newContext();
  const page = await openPage(ctx, cfg, recorder());
  await page.evaluate(() => window.sync('web_feed'));

  const feed = [];
  const personal = [];
  const pushBoth = async (i) => {
    feed.push((await relay.publish('web_feed', 'tick', { i })).seq);
    personal.push((await relay.push(cfg.user, 'note', { i })).seq);
  };
  let reloading;
  for (let i = 1; i <= 30; i++) {
    await pushBoth(i);
    // Not awaited: the back end keeps pushing while the page unloads and starts again.
    if (i === 8 || i === 20) reloading = page.reload();
    if (i === 12) await reloading;
  }
  await reloading;
  // Away for certain while more is pushed, then back in the same tab.
  await page.goto('about:blank');
  for (let i = 31; i <= 35; i++) await pushBoth(i);
  await page.goto(fixtureUrl(cfg));
  // Counted on what the page's callbacks kept across the reloads (see the fixture): a
  // binding call in flight when a page unloads can be lost, so `rec` only sees most of it.
  const complete = ([feed, personal]) => {
    const log = window.log();
    const seen = (kind, pipe, s) => log.some((r) => r.kind === kind && r.pipe === pipe && r.seq === s);
    return feed.every((s) => seen('pub', 'web_feed', s)) && personal.every((s) => seen('msg', 'msg', s));
  };
  await page.waitForFunction(complete, [feed, personal], { timeout: 20000 }).catch(async (e) => {
    throw new Error(`${e.message}\nlog: ${JSON.stringify((await page.evaluate(() => window.log())).map((r) => [r.kind, r.seq]))}`);
  });
  await page.evaluate(() => window.sync('web_feed'));
  const log = await page.evaluate(() => window.log());
  assertExactlyOnce(log, 'pub', 'web_feed', feed);
  assertExactlyOnce(log, 'msg', 'msg', personal);
  assert.equal(log.filter((r) => r.kind === 'gap').length, 0, 'nothing was outside retention');
  // In order, per stream, across the reloads.
  for (const [kind, pipe] of [['pub', 'web_feed'], ['msg', 'msg']]) {
    const seqs = log.filter((r) => r.kind === kind && r.pipe === pipe).map((r) => r.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  }
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('relay killed with kill -9 mid-stream: nothing lost, nothing twice', async () => {
  const cfg = { ...(await login('Survivor')), channels: ['web_live'] };
  const ctx = await browser.newContext();
  const rec = recorder();
  const page = await openPage(ctx, cfg, rec);
  await page.evaluate(() => window.sync('web_live'));

  const feed = [];
  const personal = [];
  const pushBoth = async (i) => {
    feed.push((await relay.publish('web_live', 'tick', { i })).seq);
    personal.push((await relay.push(cfg.user, 'note', { i })).seq);
  };
  for (let i = 1; i <= 10; i++) await pushBoth(i);
  // Killed right after the last answer: some of those may not have reached the page yet.
  await relay.kill();
  await relay.restart();
  // Pushed while the page is still reconnecting: it must catch up on them.
  for (let i = 11; i <= 20; i++) await pushBoth(i);
  await rec.until((l) => has('pub', 'web_live', feed)(l) && has('msg', 'msg', personal)(l), 'catch-up after the restart', 30000);
  // And live again afterwards.
  for (let i = 21; i <= 25; i++) await pushBoth(i);
  await rec.until((l) => has('pub', 'web_live', feed)(l) && has('msg', 'msg', personal)(l), 'live after the restart');
  await page.evaluate(() => window.sync('web_live'));
  assertExactlyOnce(rec.list, 'pub', 'web_live', feed);
  assertExactlyOnce(rec.list, 'msg', 'msg', personal);
  assert.ok(await page.evaluate(() => window.authed >= 2), 'authenticated again after the restart');
  assert.deepEqual(problems, []);
  await ctx.close();
});
