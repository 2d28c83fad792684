#!/usr/bin/env bash
# Builds the mini-program entry of the npm package into npm/miniprogram/ (the directory that
# package.json's `miniprogram` field names, which WeChat DevTools' "Build npm" copies to
# miniprogram_npm/cometa/):
#   cargo (feature `wafer`, wasm-release, std as in scripts/sdk-cargo.sh) → wasm-bindgen
#   --target web → wasm-opt -Oz, without the two global exports iOS's WXWebAssembly cannot
#   take → scripts/miniprogram-glue.mjs (ES module glue + js/host.js → one CommonJS `bind(platform)`) → terser.
# Hand-written, committed: npm/miniprogram/{index.js,platform.js,index.d.ts,package.json}.
# Generated, ignored: npm/miniprogram/{cometa_sdk.js,cometa_sdk_bg.wasm}.
#
#   scripts/build-miniprogram.sh               build
#   scripts/build-miniprogram.sh --into DIR    build, then copy the entry into a mini-program
#                                              project: DIR/miniprogram_npm/cometa/ (what
#                                              "Build npm" would produce)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

into=""
if [ "${1:-}" = "--into" ]; then
    into="${2:?--into needs a mini-program project directory}"
    into="$(cd "$into" && pwd)"
fi

wb_version=0.2.130
out=npm/miniprogram
target_dir="${CARGO_TARGET_DIR:-target}"
# shellcheck source=scripts/sdk-cargo.sh
. scripts/sdk-cargo.sh

if ! wasm-bindgen --version 2>/dev/null | grep -q " $wb_version\$"; then
    echo "build-miniprogram: wasm-bindgen $wb_version is required (cargo install wasm-bindgen-cli --version $wb_version)" >&2
    exit 1
fi
if [ ! -x npm/node_modules/.bin/wasm-opt ]; then
    (cd npm && npm ci --no-audit --no-fund)
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

sdk_cargo_build wafer
wasm-bindgen --target web --no-typescript --out-dir "$tmp" --out-name cometa_sdk \
    "$target_dir/wasm32-unknown-unknown/wasm-release/cometa_sdk.wasm"
# `__abort_handler` and `__instance_terminated` are wasm-bindgen runtime statics the glue does
# not use (no --force-enable-abort-handler); WeChat documents that iOS cannot export globals.
npm/node_modules/.bin/wasm-opt -Oz \
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-multivalue --enable-reference-types \
    --remove-exports --pass-arg=remove-exports@__abort_handler \
    --remove-exports --pass-arg=remove-exports@__instance_terminated \
    "$tmp/cometa_sdk_bg.wasm" -o "$tmp/cometa_sdk_bg.wasm.opt"
mv "$tmp/cometa_sdk_bg.wasm.opt" "$tmp/cometa_sdk_bg.wasm"

node scripts/miniprogram-glue.mjs "$tmp" cometa_sdk "$tmp/cometa_sdk.cjs"
# Plain script mode (not --module): the file is CommonJS, evaluated by WeChat's require.
npm/node_modules/.bin/terser "$tmp/cometa_sdk.cjs" --compress --mangle -o "$out/cometa_sdk.js"
cp "$tmp/cometa_sdk_bg.wasm" "$out/cometa_sdk_bg.wasm"

for f in cometa_sdk_bg.wasm cometa_sdk.js platform.js index.js; do
    printf '  %7d B  %7d B gz  %s\n' "$(wc -c < "$out/$f")" "$(gzip -9 -c "$out/$f" | wc -c)" "$out/$f"
done

if [ -n "$into" ]; then
    dest="$into/miniprogram_npm/cometa"
    mkdir -p "$dest"
    cp "$out"/index.js "$out"/platform.js "$out"/cometa_sdk.js "$out"/cometa_sdk_bg.wasm "$dest/"
    echo "build-miniprogram: copied the entry to $dest"
fi
