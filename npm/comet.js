// Entry `cometa/comet`: CppComet's CometServer API (`CometServerApi.js`) over the relay's
// native dialect. Loads its own WebAssembly module (`dist/cometa_comet_bg.wasm`, built from
// `sdk-wasm/` with the `comet` feature); the Wafer API (`cometa`) is a separate module, so a
// page downloads only the one it imports. Top-level await: importing resolves once ready.
import init, { CometApi } from './dist/cometa_comet.js';

const wasmUrl = new URL('./dist/cometa_comet_bg.wasm', import.meta.url);
// Node's fetch cannot read file: URLs, so there the bytes come from the file system.
const fromDisk = wasmUrl.protocol === 'file:' && typeof process === 'object' && !!process.versions?.node;
const fsModule = 'node:fs/promises';
await init({
  module_or_path: fromDisk ? await (await import(/* webpackIgnore: true */ /* @vite-ignore */ fsModule)).readFile(wasmUrl) : wasmUrl,
});

let shared;

/** The page's shared connection, as CppComet's `CometServer()`; `new CometApi()` for more. */
export function CometServer() {
  return (shared ??= new CometApi());
}

export { CometApi };
export default CometServer;
