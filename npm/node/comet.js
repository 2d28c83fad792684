// `cometa/comet` in Node (package.json's "node" condition): the entry of `../comet.js` with
// its module imported statically and loaded at import, so every call goes straight through.
import './comet-glue.js';
export * from '../comet.js';
export { default } from '../comet.js';
