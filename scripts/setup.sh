#!/usr/bin/env bash
# Installs what a fresh machine lacks for building and testing Cometa. Idempotent: each step
# checks first, so a second run costs seconds. See ../shared/toolchain.md for why these
# exact tools (and not, say, Debian's binaryen or a downloaded browser).
set -euo pipefail

WASM_BINDGEN_VERSION=0.2.130
need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
command -v node >/dev/null || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: apt-get install ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt

if ! wasm-bindgen --version 2>/dev/null | grep -q " ${WASM_BINDGEN_VERSION}\$"; then
    # Not --locked: its lockfile pins a webpki-roots release this registry lacks.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
# Fuzzing (scripts/fuzz.sh): libFuzzer through cargo-fuzz, on the stable compiler.
CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -q " ${CARGO_FUZZ_VERSION}\$"; then
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
echo "setup: ok"
