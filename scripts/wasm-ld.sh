#!/usr/bin/env bash
# The linker of the SDK's wasm build (scripts/sdk-cargo.sh): rustc's own rust-lld, called with
# the arguments rustc gives it, less the export of `__wbg_jspi_task_poll`.
#
# js-sys defines that function `#[no_mangle]` for its JSPI executor, so rustc exports it from
# every cdylib, and through it the linker keeps the executor's task, its waker and the
# waker's vtable, whose functions land in the function table. wasm-bindgen deletes the export
# from modules without JSPI (the SDK has none: no Rust futures at all), but by then the
# vtable is data and its table entries stay: ~0.45 KB of code and their drop glue in each
# module. Not exported, the linker drops them; wasm-bindgen expects the export only in
# modules with `#[wasm_bindgen(jspi)]` exports.
set -euo pipefail

host="$(rustc -vV | sed -n 's/^host: //p')"
lld="$(rustc --print sysroot)/lib/rustlib/$host/bin/rust-lld"
args=()
drop=0
for arg in "$@"; do
    if [ "$drop" = 1 ]; then
        drop=0
        if [ "$arg" = __wbg_jspi_task_poll ]; then
            unset 'args[-1]'
            continue
        fi
    fi
    case "$arg" in
    --export) drop=1 ;;
    --export=__wbg_jspi_task_poll) continue ;;
    esac
    args+=("$arg")
done
exec "$lld" "${args[@]}"
