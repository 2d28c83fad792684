// Loads one of the package's WebAssembly modules without top-level await, so the entries work
// under every bundler's default target (Vite 5/6 build for es2020/chrome87, which refuse
// top-level await) and in a plain <script type="module">. Host I/O only: this file decides
// nothing about logins or connections; it holds calls made before the module is there.
//
// Node: the bytes are read synchronously at import (`process.getBuiltinModule`, Node ≥ 20.16),
// so there the module is ready at once and every call goes straight through. Browsers: the
// first call (or `ready()`) fetches and compiles it; synchronous calls made meanwhile are
// queued and replayed in order once it is there, asynchronous ones await it.

const isNode = typeof process === 'object' && !!process.versions?.node;

/** A loader for the module at `url` (`init`/`initSync`: wasm-bindgen's `--target web` glue). */
export function loader(init, initSync, url) {
  const fromDisk = url.protocol === 'file:' && isNode;
  let loaded = false;
  let loading;
  const queue = [];
  if (fromDisk && typeof process.getBuiltinModule === 'function') {
    initSync({ module: process.getBuiltinModule('node:fs').readFileSync(url) });
    loaded = true;
  }
  const flush = () => {
    // A queued call that throws would have thrown to its caller had the module been there:
    // rethrown on its own, as an uncaught error, so the rest of the queue still runs.
    for (const f of queue.splice(0)) {
      try {
        f();
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    }
    loaded = true;
  };
  const ready = () =>
    loaded
      ? Promise.resolve()
      : (loading ??= (async () => {
          // Node's fetch cannot read file: URLs; the specifier is hidden from bundlers, which
          // would otherwise try to resolve it for browsers.
          const fsModule = 'node:fs/promises';
          const bytes = fromDisk && (await import(/* webpackIgnore: true */ /* @vite-ignore */ fsModule)).readFile(url);
          await init({ module_or_path: fromDisk ? await bytes : url });
          flush();
        })().catch((e) => {
          // A failed download may succeed on the next call (the network came back).
          loading = undefined;
          throw e;
        }));
  return {
    ready,
    /** `f()` now when the module is there, else queued (and loading started); `before` meanwhile. */
    now(f, before) {
      if (loaded) return f();
      queue.push(f);
      ready().catch(() => {});
      return before;
    },
    /** `f()` once the module is there: a Promise, or for Wafer-style callbacks `undefined`. */
    later(f, options) {
      if (loaded) return f();
      // Queued with the synchronous calls, so it runs after those made before it (a
      // `setLoginUrl` before a `login`) and before those made after (a tunnel's `open`).
      const p = new Promise((resolve, reject) => {
        const run = () => {
          try {
            resolve(f());
          } catch (e) {
            reject(e);
          }
        };
        queue.push(run);
        ready().catch((e) => {
          queue.splice(queue.indexOf(run), 1);
          reject(e);
        });
      });
      const o = Object(options);
      if (['success', 'fail', 'complete'].some((k) => typeof o[k] === 'function')) {
        // With callbacks the call itself answers undefined; only a failed load lands here.
        p.catch((e) => {
          o.fail?.(e);
          o.complete?.(e);
        });
        return undefined;
      }
      return p;
    },
    isLoaded: () => loaded,
  };
}

/** What `before` answers for a method that returns a Promise: the call waits for the module. */
export const LATER = Symbol('later');
/** As `LATER`, for a Promise the caller may ignore: its rejection is not reported as unhandled. */
export const LATER_QUIET = Symbol('later, quiet');

/**
 * A stand-in class for `real()` (a wasm-bindgen class): constructed at once, it creates the
 * real object when the module is there and forwards every method to it, queued until then.
 * `before(args, calls)` answers property reads made before that (`calls`: the method names
 * called so far); unlisted methods answer `undefined` meanwhile.
 */
export function deferredClass(L, real, before = () => undefined) {
  const inner = new WeakMap();
  return class {
    constructor(...args) {
      const calls = [];
      const state = { args, calls };
      inner.set(this, state);
      L.now(() => {
        state.obj = new (real())(...args);
      });
      return new Proxy(this, {
        get(target, prop) {
          if (state.obj) {
            const v = state.obj[prop];
            return typeof v === 'function' ? v.bind(state.obj) : v;
          }
          if (typeof prop !== 'string' || prop === 'then') return undefined;
          const early = before(prop, args, calls);
          if (early === LATER) return (...a) => L.later(() => state.obj[prop](...a));
          if (early === LATER_QUIET) {
            return (...a) => {
              const p = L.later(() => state.obj[prop](...a));
              p.catch(() => {});
              return p;
            };
          }
          if (early !== undefined && typeof early !== 'function') return early;
          return (...a) => {
            calls.push(prop);
            return L.now(() => state.obj[prop](...a), typeof early === 'function' ? early(...a) : undefined);
          };
        },
        set(target, prop, value) {
          L.now(() => (state.obj[prop] = value));
          return true;
        },
      });
    }
  };
}
