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
# The container image (make image, make test-image): a static musl binary, built and run
# with Podman (runc: crun fails on hybrid cgroups); PyYAML checks the deploy/ manifests.
command -v musl-gcc >/dev/null || need_apt+=(musl-tools)
command -v podman >/dev/null || need_apt+=(podman)
command -v runc >/dev/null || need_apt+=(runc)
python3 -c 'import yaml' 2>/dev/null || need_apt+=(python3-yaml)
# deploy/kubernetes.yaml against Kubernetes' schemas, which this PyPI package ships (kubeconform
# is on no registry reachable here, and fetches its schemas at run time).
python3 -c 'import kubernetes_validate' 2>/dev/null \
    || python3 -m pip install -q kubernetes-validate==1.37.0 \
    || python3 -m pip install -q --break-system-packages kubernetes-validate==1.37.0
# The CometQL tests drive the relay with real MySQL clients: the mysql CLI and PHP mysqli.
command -v mysql >/dev/null || need_apt+=(mariadb-client)
command -v php >/dev/null || need_apt+=(php-cli)
{ command -v php >/dev/null && php -m | grep -qx mysqli; } || need_apt+=(php-mysql)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: apt-get install ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

for target in wasm32-unknown-unknown x86_64-unknown-linux-musl; do
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
done
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
# The SDK's modules rebuild std for size (scripts/sdk-cargo.sh).
rustup component list --installed | grep -q '^rust-src' || rustup component add rust-src

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
