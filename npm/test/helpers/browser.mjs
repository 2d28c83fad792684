// Headless Chromium (Debian's /usr/bin/chromium through playwright-core) and a recorder of
// what pages report through `window.record`, awaitable by predicate without sleeps.
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** Collects records; `until(pred)` resolves when `pred(list)` holds, or rejects after `ms`. */
export function recorder() {
  const list = [];
  let waiters = [];
  const check = () => (waiters = waiters.filter((w) => !w.try()));
  return {
    list,
    add(r) {
      list.push(r);
      check();
    },
    until(pred, what, ms = 20000) {
      return new Promise((resolve, reject) => {
        const w = {
          try() {
            if (!pred(list)) return false;
            clearTimeout(w.timer);
            resolve(list);
            return true;
          },
        };
        if (w.try()) return;
        w.timer = setTimeout(() => {
          waiters = waiters.filter((x) => x !== w);
          reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(list.map((r) => [r.kind, r.seq]))}`));
        }, ms);
        waiters.push(w);
      });
    },
  };
}

/** How many records of `kind` (and `pipe`) carry each seq. */
export function countBySeq(list, kind, pipe) {
  const counts = new Map();
  for (const r of list) if (r.kind === kind && (!pipe || r.pipe === pipe)) counts.set(r.seq, (counts.get(r.seq) || 0) + 1);
  return counts;
}
