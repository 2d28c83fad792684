// Entry `cometa/comet`: CppComet's CometServer API (`CometServerApi.js`) over the relay's
// native dialect. Loads its own WebAssembly module (`dist/cometa_comet_bg.wasm`, built from
// `sdk-wasm/` with the `comet` feature); the Wafer API (`cometa`) is a separate module, so a
// page downloads only the one it imports. No top-level await (see `load.js`): a `CometApi`
// made before the module is there queues its calls.
import init, { initSync, CometApi as RealCometApi } from './dist/cometa_comet.js';
import { loader, deferredClass } from './load.js';

const L = loader(init, initSync, new URL('./dist/cometa_comet_bg.wasm', import.meta.url));

/** Resolves once the module is loaded; `CometServer().start()` also loads it. */
export const ready = () => L.ready();

// Answers before the module is there. `subscription` ids are the module's own: it numbers
// an instance's subscriptions 1, 2, … in call order, and the queue replays them in that order.
const cometBefore = (prop, args, calls) =>
  ({
    start: () => true,
    restart: () => true,
    web_pipe_send: () => true,
    get_pipe_log: () => true,
    count_users_in_pipe: () => true,
    getTrackPipeUsers: () => true,
    getUserData: () => true,
    unsubscription: () => true,
    subscription: () => calls.filter((c) => c === 'subscription').length,
    isAuthorized: () => false,
    isConnected: () => false,
    isMaster: () => true,
  })[prop];

/** One connection with CppComet's API; in Node (module loaded at import) the module's class. */
export const CometApi = L.isLoaded() ? RealCometApi : deferredClass(L, () => RealCometApi, cometBefore);

let shared;

/** The page's shared connection, as CppComet's `CometServer()`; `new CometApi()` for more. */
export function CometServer() {
  return (shared ??= new CometApi());
}

export default CometServer;
