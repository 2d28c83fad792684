#!/usr/bin/env bash
# Builds the browser SDK into npm/dist: cargo (wasm-release profile) → wasm-bindgen (web
# target, the CLI pinned to the crate's version) → wasm-opt -Oz (npm `binaryen`; Debian's
# older binaryen produces modules that fail at instantiation) → terser on the JS glue →
# size budget check.
#
# Env: SDK_SIZE_BUDGET (bytes, default 40960) for gzip -9 of the .wasm plus its JS glue.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

wb_version=0.2.130
budget="${SDK_SIZE_BUDGET:-40960}"
out=npm/dist
target_dir="${CARGO_TARGET_DIR:-target}"

if ! wasm-bindgen --version 2>/dev/null | grep -q " $wb_version\$"; then
    echo "build-sdk: wasm-bindgen $wb_version is required (found: $(wasm-bindgen --version 2>/dev/null || echo none))." >&2
    echo "  install it with: cargo install wasm-bindgen-cli --version $wb_version" >&2
    exit 1
fi
if [ ! -x npm/node_modules/.bin/wasm-opt ]; then
    (cd npm && npm ci --no-audit --no-fund)
fi

# Panic locations embed source paths; map the registry's to a neutral prefix so the shipped
# module neither grows with nor reveals the build machine's home directory.
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
RUSTFLAGS="--remap-path-prefix=$cargo_home=cargo ${RUSTFLAGS:-}" \
    cargo build -p cometa-sdk --target wasm32-unknown-unknown --profile wasm-release

rm -rf "$out"
wasm-bindgen --target web --no-typescript --out-dir "$out" \
    "$target_dir/wasm32-unknown-unknown/wasm-release/cometa_sdk.wasm"

# No --all-features: it would enable stringref, which engines reject. The features listed
# are those rustc's wasm32 target emits by default.
npm/node_modules/.bin/wasm-opt -Oz \
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-multivalue --enable-reference-types \
    "$out/cometa_sdk_bg.wasm" -o "$out/cometa_sdk_bg.wasm.opt"
mv "$out/cometa_sdk_bg.wasm.opt" "$out/cometa_sdk_bg.wasm"

# The glue is shipped minified: its comments and long local names are a third of the bytes a
# page downloads. `--module` keeps the ES module's exports intact.
find "$out" -name '*.js' -print0 | while IFS= read -r -d '' f; do
    npm/node_modules/.bin/terser "$f" --module --compress --mangle -o "$f.min"
    mv "$f.min" "$f"
done

# The budget covers what a page downloads: the module, its glue and any JS snippets.
mapfile -t shipped < <(find "$out" -type f \( -name '*.wasm' -o -name '*.js' \) | sort)
total=0
for f in "${shipped[@]}"; do
    size=$(gzip -9 -c "$f" | wc -c)
    printf '  %7d B gz  %s\n' "$size" "${f#"$out"/}"
    total=$((total + size))
done
echo "build-sdk: gzip -9 total ${total} B (budget ${budget} B)"
if [ "$total" -gt "$budget" ]; then
    echo "build-sdk: over the size budget" >&2
    exit 1
fi
