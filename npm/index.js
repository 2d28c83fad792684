// Entry of the `cometa` package: loads the WebAssembly module once, then re-exports the SDK.
// All behaviour lives in the module (Rust, `sdk-wasm/`); this file only finds and
// instantiates it. Top-level await: importing the package resolves once it is ready.
import init, * as sdk from './dist/cometa_sdk.js';

const wasmUrl = new URL('./dist/cometa_sdk_bg.wasm', import.meta.url);
// Node's fetch cannot read file: URLs, so there the bytes come from the file system. The
// specifier is hidden from bundlers, which would otherwise try to resolve it for browsers.
const fromDisk = wasmUrl.protocol === 'file:' && typeof process === 'object' && !!process.versions?.node;
const fsModule = 'node:fs/promises';
await init({
  module_or_path: fromDisk ? await (await import(/* webpackIgnore: true */ /* @vite-ignore */ fsModule)).readFile(wasmUrl) : wasmUrl,
});

export const {
  setLoginUrl,
  setCodeProvider,
  setTokenProvider,
  configure,
  login,
  loginWithCode,
  request,
  Session,
  clearSession,
  Tunnel,
} = sdk;

export const RequestError = sdk.requestErrorClass();

export const {
  ERR_INVALID_PARAMS,
  ERR_WX_LOGIN_FAILED,
  ERR_WX_GET_USER_INFO,
  ERR_LOGIN_TIMEOUT,
  ERR_LOGIN_FAILED,
  ERR_LOGIN_SESSION_NOT_RECEIVED,
  ERR_SESSION_INVALID,
  ERR_CHECK_LOGIN_FAILED,
  ERR_REQUEST_FAILED,
} = sdk.errorTypes();

// Wafer's module was one object (`const qcloud = require('wafer2-client-sdk')`); the default
// export keeps that style working: `import qcloud from 'cometa'`.
export default {
  setLoginUrl,
  setCodeProvider,
  setTokenProvider,
  configure,
  login,
  loginWithCode,
  request,
  Session,
  clearSession,
  Tunnel,
  RequestError,
  ...sdk.errorTypes(),
};
