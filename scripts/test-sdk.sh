#!/usr/bin/env bash
# Runs every test of the browser SDK. Assumes the relay is built (target/debug/cometa-relay,
# or COMETA_RELAY_BIN) and builds npm/dist first when it is missing (scripts/build-sdk.sh).
#   1. TypeScript: tsc --noEmit on a usage file against npm/index.d.ts
#   2. node:test: README snippets, Node (ws) and Chromium (playwright-core) scenarios, the
#      mini-program entry under a wx shim (test/miniprogram.test.mjs)
#   3. wasm-bindgen-test in headless Chromium (chromedriver), driven by node:test
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

relay_bin="${COMETA_RELAY_BIN:-$root/target/debug/cometa-relay}"
if [ ! -x "$relay_bin" ]; then
    echo "test-sdk: no relay binary at $relay_bin (cargo build -p cometa-relay)" >&2
    exit 1
fi
export COMETA_RELAY_BIN="$relay_bin"

(cd npm && npm ci --no-audit --no-fund)
if [ ! -f npm/dist/cometa_sdk_bg.wasm ] || [ ! -f npm/dist/cometa_comet_bg.wasm ]; then
    scripts/build-sdk.sh
elif [ ! -f npm/miniprogram/cometa_sdk_bg.wasm ]; then
    scripts/build-miniprogram.sh
fi

echo "test-sdk: tsc --noEmit"
npm/node_modules/.bin/tsc -p npm/test/types/tsconfig.json

# One file at a time: each starts its own relay (and Chromium) and the machine is small.
cd npm
node --test --test-concurrency=1 --test-timeout=240000 test/*.test.mjs test/wasm-bindgen.run.mjs
