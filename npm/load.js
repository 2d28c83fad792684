// Loads one of the package's WebAssembly modules without top-level await, so the entries work
// under every bundler's default target (Vite 5/6 build for es2020/chrome87, which refuse
// top-level await) and in a plain <script type="module">. Host I/O only: this file decides
// nothing about logins or connections; it holds calls made before the module is there.
//
// Node (the entries' variants in `npm/node/`, package.json's "node" condition): the glue is
// imported statically and the bytes read synchronously at import (`process.getBuiltinModule`,
// Node ≥ 20.16), so there the module is ready at once and every call goes straight through.
// Browsers: the first call (or `ready()`) imports the glue, fetches and compiles the wasm;
// synchronous calls made meanwhile are queued and replayed in order once it is there,
// asynchronous ones await it. A page that imported both entries by then gets one module with
// both APIs (`dist/cometa_all*`) instead of one each.

const isNode = typeof process === 'object' && !!process.versions?.node;

// The entries imported so far ('wafer', 'comet'): when both are there at the page's first
// load, both load the module that has both APIs (one download instead of two), else each its
// own (an entry imported after the first load included). In Node, the glues the entries'
// Node variants (`npm/node/`) imported statically, by entry: loaded at once from disk.
const entries = new Set();
const preloaded = {};
let oneForBoth;
let both;
/** For `npm/node/*`: `glue` (wasm-bindgen's `--target web` glue) is `entry`'s own, already imported. */
export const preload = (entry, glue) => (preloaded[entry] = glue);

/** Node's fetch cannot read file: URLs: their bytes are read from disk, asynchronously. */
const source = async (url) => {
  if (url.protocol !== 'file:' || !isNode) return url;
  // The specifier is hidden from bundlers, which would otherwise try to resolve it for browsers.
  const fsModule = 'node:fs/promises';
  return (await import(/* webpackIgnore: true */ /* @vite-ignore */ fsModule)).readFile(url);
};
const instantiate = async (glue, url) => {
  await glue.default({ module_or_path: await source(url) });
  return glue;
};

/**
 * A loader for `entry`'s module: `glue()` imports its wasm-bindgen glue (`--target web`),
 * `url` is its wasm; `install(glue)` is called once it (or the module with both APIs) is
 * there, before the calls queued meanwhile run.
 */
export function loader(entry, glue, url, install) {
  entries.add(entry);
  let loaded = false;
  let loading;
  const queue = [];
  const given = preloaded[entry];
  if (given && url.protocol === 'file:' && isNode && typeof process.getBuiltinModule === 'function') {
    given.initSync({ module: process.getBuiltinModule('node:fs').readFileSync(url) });
    install(given);
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
          // Decided at the page's first load, so an entry never gets both a module of its own
          // and the shared one.
          oneForBoth ??= entries.size > 1;
          let g;
          if (given || !oneForBoth) g = await instantiate(given ?? (await glue()), url);
          else {
            // Set at once (no await before it): the other entry's load takes the same one.
            both ??= import('./dist/cometa_all.js')
              .then((all) => instantiate(all, new URL('./dist/cometa_all_bg.wasm', import.meta.url)))
              .catch((e) => {
                both = undefined;
                throw e;
              });
            g = await both;
          }
          install(g);
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
