# Sourced by build-sdk.sh and build-miniprogram.sh: `sdk_cargo_build <features>` builds
# cometa-sdk for wasm32 (wasm-release profile) into
# $target_dir/wasm32-unknown-unknown/wasm-release/cometa_sdk.wasm.
#
# The standard library is rebuilt with `panic=immediate-abort` (`-Z build-std`, the `rust-src`
# component, and RUSTC_BOOTSTRAP=1 so the one stable toolchain accepts the flags): a panic then
# compiles to a bare `unreachable`, so no panic message, location or `core::fmt` code is linked
# in, and std's own code is optimised for size with the crate's profile. It saves 2–4 KB
# gzipped per module (the closing table of issue 14). The unstable flags only touch how std is
# built; the crate's code is compiled exactly as on stable. Without rust-src it is installed
# (rustup answers here); SDK_STABLE_STD=1 builds with the prebuilt std instead (bigger modules:
# raise SDK_SIZE_BUDGET to match).
sdk_cargo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sdk_cargo_build() {
    local cargo_home="${CARGO_HOME:-$HOME/.cargo}" sysroot
    sysroot="$(rustc --print sysroot)"
    # Source paths map to neutral prefixes, so the module neither grows with nor reveals the
    # build machine's directories (without build-std; with it, `-Zlocation-detail=none` below
    # drops file, line and column from the few `Location`s left: 0.3-0.5 KB gzipped).
    local flags="--remap-path-prefix=$cargo_home=cargo --remap-path-prefix=$sysroot=rust"
    # rust-lld through scripts/wasm-ld.sh, which leaves out js-sys's unused JSPI executor
    # (see there): 0.1-0.2 KB gzipped per module.
    flags+=" -Clinker-flavor=wasm-lld -Clinker=$sdk_cargo_dir/wasm-ld.sh"
    if [ "${SDK_STABLE_STD:-0}" = 1 ]; then
        RUSTFLAGS="$flags ${RUSTFLAGS:-}" \
            cargo build -p cometa-sdk --target wasm32-unknown-unknown --profile wasm-release \
            --no-default-features --features "$1"
        return
    fi
    rustup component list --installed | grep -q '^rust-src' || rustup component add rust-src
    # Without wasm reference types wasm-bindgen keeps JS values in a JS-side table instead of
    # an externref table with a shim around every export taking one: 0.9 KB gzipped less
    # (wasm smaller by 1 KB, glue larger by 0.15 KB). Every engine the SDK supports runs both.
    local noref="-Ctarget-feature=-reference-types"
    RUSTC_BOOTSTRAP=1 \
        RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none $noref $flags ${RUSTFLAGS:-}" \
        cargo build -p cometa-sdk --target wasm32-unknown-unknown --profile wasm-release \
        --no-default-features --features "$1" -Z build-std=std,panic_abort
}
