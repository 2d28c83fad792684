// Inlines one of the JS snippets a wasm-bindgen glue imports into the glue itself:
//   node scripts/wasm-inline-snippet.mjs <dir> <name> <snippet path> <public names> [<file>:<names>]
// rewrites <dir>/<name>.js (after wasm-short-names.mjs, before terser) and deletes the snippet
// file. <snippet path> is relative to <dir> (`snippets/cometa-sdk/js/host.js`); <public names>
// (comma-separated) are the snippet's exports the npm entry imports, which the glue then
// exports in their place. With <file>:<names>, the declarations of <names> (top-level
// `export const|class|function`, each ending on its own line or at a line that closes it at
// column 0) go instead to <file> next to the snippet, which the glue imports: what an npm entry
// needs before it loads a glue, and which every glue that inlines the snippet shares.
//
// Why: gzip compresses each file on its own, so a snippet next to its glue pays its own
// header and starts from an empty dictionary, and its exports and the glue's imports of them
// keep their long names through terser. One file instead is ~0.3 KB gzipped less for
// `cometa`'s glue and js/host.js. Only a snippet that no two glues of one page import is
// inlined (host.js: the Wafer module's and the one with both APIs, never both on a page;
// js/link.js, which every module imports, stays a file a page downloads once). The snippet
// file goes once no glue in <dir> imports it any more.
//
// The snippet's code goes in at the glue's top level, so terser mangles both as one: a
// top-level name of the snippet the glue also declares stops the build, as does an import
// form or export this script does not know.
import { existsSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

const [dir, name, path, publicNames, split] = process.argv.slice(2);
if (!path || publicNames === undefined) {
  console.error('usage: wasm-inline-snippet.mjs <dir> <name> <snippet path> <public names>');
  process.exit(2);
}
const fail = (why) => {
  console.error(`wasm-inline-snippet: ${why}`);
  process.exit(1);
};
const keep = new Set(publicNames.split(',').filter(Boolean));
const jsPath = join(dir, `${name}.js`);
let glue = readFileSync(jsPath, 'utf8');
let code = readFileSync(join(dir, path), 'utf8');
// What the source map shows: the glue with the imports it had, the snippet as written.
const glueSource = glue, codeSource = code;

// The declarations split off: blanked here (the lines stay, so the map below still holds).
const [splitFile, splitList = ''] = (split ?? '').split(':');
const splitNames = splitList.split(',').filter(Boolean);
let splitImport = '';
if (splitNames.length) {
  const lines = code.split('\n');
  const out = [];
  for (const n of splitNames) {
    const at = lines.findIndex((l) => new RegExp(`^export (?:const|let|class|function) ${n}\\b`).test(l));
    if (at < 0) fail(`${path} does not declare \`export … ${n}\` at the start of a line`);
    let end = at;
    if (!/;\s*$/.test(lines[at])) while (end < lines.length && !/^[}\]][;)]*\s*$/.test(lines[end])) end++;
    if (end === lines.length) fail(`${path}: the declaration of ${n} does not end at column 0`);
    out.push(...lines.slice(at, end + 1));
    for (let i = at; i <= end; i++) lines[i] = '';
  }
  code = lines.join('\n');
  const splitPath = join(dirname(path), splitFile);
  writeFileSync(join(dir, splitPath), `// Split off ${path} by scripts/wasm-inline-snippet.mjs.\n${out.join('\n')}\n`);
  splitImport = `import { ${splitNames.join(', ')} } from './${splitPath}';`;
}

// The snippet's exports: declarations only; the public ones keep their `export`.
const exported = [];
code = code.replace(/^export (?=(?:async\s+)?function\s*\*?\s*(\w+)|class\s+(\w+)|(?:const|let|var)\s+(\w+))/gm, (m, f, c, v) => {
  const n = f || c || v;
  exported.push(n);
  return keep.has(n) ? m : '';
});
if (/^\s*(import|export)\b(?!\s+(?:async\s+)?(?:function|class|const|let|var)\b)/m.test(code)) {
  fail(`${path}: only \`export function|class|const|let\` and no imports are supported`);
}
exported.push(...splitNames);
for (const n of keep) if (!exported.includes(n)) fail(`${path} does not export ${n}`);

// The glue's imports of it: `import { a, b } from './<path>'` (no renaming) and
// `import * as x from './<path>'`, the import object of the wasm's direct imports from it.
const spec = `['"]\\./${path.replace(/[.]/g, '\\.')}['"]`;
let named = 0;
glue = glue.replace(new RegExp(`^import \\{([^}]*)\\} from ${spec};?$`, 'gm'), (_, names) => {
  for (const b of names.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!exported.includes(b)) fail(`the glue imports ${b}, which ${path} does not export (or renames it)`);
  }
  named++;
  return '';
});
if (named !== 1) fail(`the glue imports ${path} by name ${named} times, not once`);
// The wasm's own imports from the snippet's module name, read from the module itself.
const wasm = new WebAssembly.Module(readFileSync(join(dir, `${name}_bg.wasm`)));
const direct = new Map(); // module name → field names
for (const i of WebAssembly.Module.imports(wasm)) {
  if (i.module.endsWith(`/${path.replace(/^snippets\/[^/]+\//, '')}`) && i.module.startsWith('./snippets/')) {
    direct.set(i.module, [...(direct.get(i.module) || []), i.name]);
  }
}
glue = glue.replace(new RegExp(`^import \\* as (\\w+) from ${spec};?$`, 'gm'), (_, ns) => {
  const fields = [...direct.values()].flat();
  for (const f of fields) if (!exported.includes(f)) fail(`the module imports ${f}, which ${path} does not export`);
  return `const ${ns} = { ${fields.join(', ')} };`;
});
if (new RegExp(spec).test(glue)) fail(`the glue still reads ${path}`);

// Names the snippet declares at its top level must be free in the glue.
const declared = [...code.matchAll(/^(?:export\s+)?(?:(?:async\s+)?function\s*\*?\s*|class\s+|(?:const|let|var)\s+)(\w+)/gm)].map((m) => m[1]);
for (const n of declared) {
  if (new RegExp(`^(?:export\\s+)?(?:(?:async\\s+)?function\\s*\\*?\\s*|class\\s+|(?:const|let|var)\\s+)${n}\\b|^import\\b.*\\b${n}\\b`, 'm').test(glue)) {
    fail(`${n} is declared by both ${path} and the glue`);
  }
}

// After the glue's remaining imports (hoisted either way; this keeps them first).
const lines = glue.split('\n');
let at = 0;
while (at < lines.length && (/^import\b/.test(lines[at]) || lines[at] === '')) at++;
const codeLines = code.split('\n');
// The split-off import takes the place of the marker line, so the lines after it keep theirs.
lines.splice(at, 0, splitImport || `// ${path}, inlined by scripts/wasm-inline-snippet.mjs`, ...codeLines);
writeFileSync(jsPath, lines.join('\n'));
// Gone once no other glue (one that inlines it later) imports it.
const others = readdirSync(dir).filter((f) => f.endsWith('.js') && f !== `${name}.js`);
if (!others.some((f) => readFileSync(join(dir, f), 'utf8').includes(`./${path}`))) rmSync(join(dir, path));

// A source map of the result (`<name>.js.inmap`, the input map of the build's terser step):
// every line back to the glue or the snippet, where it came from, one segment per word, so
// `node --enable-source-maps` and dev tools still name the snippet and its lines. A glue that
// already has one (a snippet inlined before) keeps it: its lines map on to where that one says.
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const vlq = (n) => {
  let v = n < 0 ? (-n << 1) | 1 : n << 1, out = '';
  do {
    let digit = v & 31;
    v >>>= 5;
    if (v) digit |= 32;
    out += B64[digit];
  } while (v);
  return out;
};
// A map's `mappings` as absolute [column, source, line, source column] segments per line.
const decode = (mappings) => {
  const state = [0, 0, 0, 0];
  return mappings.split(';').map((line) => {
    state[0] = 0;
    return line
      .split(',')
      .filter(Boolean)
      .map((seg) => {
        const values = [];
        let v = 0, s = 0;
        for (const ch of seg) {
          const digit = B64.indexOf(ch);
          v += (digit & 31) << s;
          s += 5;
          if (!(digit & 32)) {
            values.push(v & 1 ? -(v >>> 1) : v >>> 1);
            v = s = 0;
          }
        }
        values.forEach((d, k) => (state[k] += d));
        return state.slice(0, 4);
      });
  });
};
const inmap = `${jsPath}.inmap`;
const before = existsSync(inmap) ? JSON.parse(readFileSync(inmap, 'utf8')) : null;
const sources = before ? [...before.sources, path] : [`${name}.js`, path];
const sourcesContent = before ? [...before.sourcesContent, codeSource] : [glueSource, codeSource];
const beforeLines = before ? decode(before.mappings) : null;
const snippetSource = sources.length - 1;
const origin = (i) => (i < at ? [0, i] : i === at ? null : i <= at + codeLines.length ? [1, i - at - 1] : [0, i - codeLines.length - 1]);
// The snippet's lines whose `export ` was taken off start that much further left here.
const sourceLines = codeSource.split('\n');
const shift = (o) => (o[0] === 1 ? sourceLines[o[1]].length - codeLines[o[1]].length : 0);
const absolute = lines.map((line, i) => {
  const o = origin(i);
  if (!o) return [];
  if (o[0] === 0 && beforeLines) return beforeLines[o[1]] ?? [];
  const d = shift(o);
  return [...line.matchAll(/\S+/g)].map((m) => [m.index, o[0] === 1 ? snippetSource : 0, o[1], m.index + d]);
});
let prev = [0, 0, 0]; // source, line, column: relative across the whole map
const mappings = absolute.map((segs) => {
  let col = 0;
  return segs
    .map(([c, src, l, sc]) => {
      const seg = [c - col, src - prev[0], l - prev[1], sc - prev[2]];
      col = c;
      prev = [src, l, sc];
      return seg.map(vlq).join('');
    })
    .join(',');
});
writeFileSync(inmap, JSON.stringify({ version: 3, file: `${name}.js`, sources, sourcesContent, names: [], mappings: mappings.join(';') }));
console.log(`wasm-inline-snippet: ${path} inlined into ${name}.js (public: ${[...keep].join(', ')})`);
