// Shortens the names the wasm module and its wasm-bindgen glue use for each other:
//   node scripts/wasm-short-names.mjs <dir> <name>
// rewrites <dir>/<name>_bg.wasm and <dir>/<name>.js in place (run it before terser).
//
// Why: wasm-bindgen names every import `__wbg_<name>_<16 hex digits>` and every closure
// invoker after its full Rust type (one is 330 characters). Each name is written twice, in the
// module's import/export sections and in the glue, and the hex digits do not compress: about
// 2 KB gzipped of a ~30 KB download. Only the names between the module and its own glue are
// renamed (imports of `./<name>_bg.js`, every export); the snippets' imports keep their names,
// which are the snippets' real export names.
//
// The glue reads imports as keys of one object literal and exports as `wasm.<export>`, both
// written by wasm-bindgen in a fixed shape: a name that is not found there exactly as often as
// expected stops the build rather than produce a module that fails at instantiation; the
// glue must not read a long name afterwards (checked at the end).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, name] = process.argv.slice(2);
if (!dir || !name) {
  console.error('usage: wasm-short-names.mjs <dir> <name>');
  process.exit(2);
}
const wasmPath = join(dir, `${name}_bg.wasm`);
const jsPath = join(dir, `${name}.js`);
const bytes = readFileSync(wasmPath);
let js = readFileSync(jsPath, 'utf8');
const glueModule = `./${name}_bg.js`;

// LEB128 and names.
const readU32 = (buf, pos) => {
  let result = 0, shift = 0, b;
  do {
    b = buf[pos++];
    result |= (b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80);
  return [result >>> 0, pos];
};
const u32 = (n) => {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
};
const readName = (buf, pos) => {
  const [len, p] = readU32(buf, pos);
  return [buf.subarray(p, p + len).toString('utf8'), p + len];
};
const encName = (s) => {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([u32(b.length), b]);
};

// a, b, …, Z, aa, ab, … skipping the two-letter keywords (valid as keys, but kept out).
const reserved = new Set(['do', 'if', 'in']);
const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
let counter = 0;
const nextName = () => {
  for (;;) {
    let n = counter++, s = '';
    do {
      s = alphabet[n % alphabet.length] + s;
      n = Math.floor(n / alphabet.length) - 1;
    } while (n >= 0);
    if (!reserved.has(s)) return s;
  }
};

const count = (text, re) => (text.match(re) || []).length;
const escape = (s) => s.replace(/[$]/g, '\\$&');

// Rewrites the import (2) and export (7) sections; everything else is copied as is.
const out = [bytes.subarray(0, 8)];
let pos = 8;
const renamed = { imports: 0, exports: 0 };
while (pos < bytes.length) {
  const id = bytes[pos];
  const [size, start] = readU32(bytes, pos + 1);
  const end = start + size;
  if (id !== 2 && id !== 7) {
    out.push(bytes.subarray(pos, end));
    pos = end;
    continue;
  }
  let [n, p] = readU32(bytes, start);
  const body = [u32(n)];
  for (let i = 0; i < n; i++) {
    if (id === 2) {
      let module, field;
      [module, p] = readName(bytes, p);
      [field, p] = readName(bytes, p);
      const descStart = p;
      const kind = bytes[p++];
      // Skip the import's description: func (type index), table, memory, global, tag.
      if (kind === 0) [, p] = readU32(bytes, p);
      else if (kind === 1) {
        p++;
        const flags = bytes[p++];
        [, p] = readU32(bytes, p);
        if (flags & 1) [, p] = readU32(bytes, p);
      } else if (kind === 2) {
        const flags = bytes[p++];
        [, p] = readU32(bytes, p);
        if (flags & 1) [, p] = readU32(bytes, p);
      } else if (kind === 3) p += 2;
      else if (kind === 4) {
        p++;
        [, p] = readU32(bytes, p);
      } else throw new Error(`wasm-short-names: unknown import kind ${kind}`);
      if (module === glueModule) {
        const short = nextName();
        const key = new RegExp(`(^|[\\s{,])${escape(field)}(?=\\s*:)`, 'g');
        if (count(js, key) !== 1) throw new Error(`wasm-short-names: import ${field} is not one key of the glue`);
        js = js.replace(key, `$1${short}`);
        field = short;
        renamed.imports++;
      }
      body.push(encName(module), encName(field), bytes.subarray(descStart, p));
    } else {
      let field;
      [field, p] = readName(bytes, p);
      const descStart = p;
      p++;
      [, p] = readU32(bytes, p);
      // js/link.js calls `feed` on the instance's exports by that name.
      const short = field === 'feed' ? field : nextName();
      const use = new RegExp(`\\bwasm\\.${escape(field)}\\b`, 'g');
      // An export the glue never reads (a runtime static) is renamed all the same.
      js = js.replace(use, `wasm.${short}`);
      body.push(encName(short), bytes.subarray(descStart, p));
      renamed.exports++;
    }
  }
  const section = Buffer.concat(body);
  out.push(Buffer.from([id]), u32(section.length), section);
  pos = end;
}

// wasm-opt dropped the imports the module never calls; their functions are dropped from the
// glue too (an entry of wasm-bindgen's import object runs from its key, indented 8 spaces, to
// the next key or the object's end).
let dropped = 0;
js = js.replace(/^ {8}__wbg_\w+_[0-9a-f]{16}: [\s\S]*?(?=^ {8}[\w$]+: |^ {4}\};)/gm, () => {
  dropped++;
  return '';
});
// The glue's export of `feed` (src/link.rs) is for js/link.js, which calls the module's own
// export: no entry imports it, so it goes.
const feedExport = /^export function feed\(c, a, b, n\) \{\n {4}wasm\.feed\(c, a, b, n\);\n\}\n/m;
if (count(js, new RegExp(feedExport, 'gm')) !== 1) throw new Error('wasm-short-names: the glue does not export `feed` as expected');
js = js.replace(feedExport, '');
// (The glue's own functions named after invokers are module-local: terser shortens those.)
const left = js.match(/\bwasm\.\w{24,}|^\s*__wbg_\w+_[0-9a-f]{16}\s*:/m);
if (left) throw new Error(`wasm-short-names: the glue still names ${left[0]}`);
writeFileSync(wasmPath, Buffer.concat(out));
writeFileSync(jsPath, js);
console.log(`wasm-short-names: ${name}: ${renamed.imports} imports, ${renamed.exports} exports renamed, ${dropped} unused imports dropped from the glue`);
