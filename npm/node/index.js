// `cometa` in Node (package.json's "node" condition): the entry of `../index.js` with its
// module imported statically and loaded at import, so every call goes straight through.
import './wafer-glue.js';
export * from '../index.js';
export { default } from '../index.js';
