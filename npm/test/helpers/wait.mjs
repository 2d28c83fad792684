// Bounded waits for tests: every await has a deadline and says what it was waiting for.

/** `p`, or a rejection naming `what` after `ms`. */
export const within = (p, what, ms = 10000) =>
  Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))]);

/** A list filled by callbacks (`add`), awaited by count (`until(n, what)`, bounded). */
export function collector() {
  const list = [];
  let waiters = [];
  return {
    list,
    add(v) {
      list.push(v);
      waiters = waiters.filter(([n, resolve]) => (list.length >= n ? (resolve(), false) : true));
    },
    until(n, what) {
      if (list.length >= n) return Promise.resolve();
      return within(new Promise((resolve) => waiters.push([n, resolve])), what);
    },
  };
}
