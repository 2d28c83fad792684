#!/usr/bin/env bash
# Runs the fuzz targets in fuzz/ (cargo-fuzz, libFuzzer). See the README's Tests section.
#
#   scripts/fuzz.sh smoke [TARGET...]   the protocol/client targets, FUZZ_SMOKE_SECS (15) s each:
#                                       the short pass `make test` runs
#   scripts/fuzz.sh run [TARGET...]     every target, the relay ones too, FUZZ_SECS (600) s each
#
# Each target grows its corpus in fuzz/corpus/<target> (not committed) from the committed seeds
# in fuzz/seeds/<target>. An input that breaks a property is saved in fuzz/artifacts/<target>/
# and the script fails; replay it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -O -a [--features relay] <target> <file>
set -euo pipefail
cd "$(dirname "$0")/.."

# cargo-fuzz passes the compiler nightly-only flags (-Zsanitizer=address and friends); the
# stable compiler accepts them with RUSTC_BOOTSTRAP, so no nightly toolchain is needed.
export RUSTC_BOOTSTRAP=1

light=(packet native_frames api_bodies client_json)
relay=(relay_http relay_native)

mode=${1:-smoke}
shift || true
case "$mode" in
  smoke) secs=${FUZZ_SMOKE_SECS:-15}; targets=("${light[@]}") ;;
  run) secs=${FUZZ_SECS:-600}; targets=("${light[@]}" "${relay[@]}") ;;
  *) echo "usage: $0 smoke|run [TARGET...]" >&2; exit 2 ;;
esac
[[ $# -gt 0 ]] && targets=("$@")

features=()
for t in "${targets[@]}"; do
  for r in "${relay[@]}"; do
    [[ "$t" == "$r" ]] && features=(--features relay)
  done
done

command -v cargo-fuzz >/dev/null || { echo "fuzz.sh: cargo-fuzz missing (scripts/setup.sh installs it)" >&2; exit 1; }
# Release with debug assertions and overflow checks, AddressSanitizer (cargo-fuzz's default).
flags=(-O -a "${features[@]}")

echo "== building fuzz targets: ${targets[*]}" >&2
cargo fuzz build "${flags[@]}" >&2

mkdir -p fuzz/artifacts
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/seeds/$t"
  log="fuzz/artifacts/$t.log"
  # -timeout: one input taking longer is a hang, reported like a crash.
  if cargo fuzz run "${flags[@]}" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
      -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 >"$log" 2>&1; then
    echo "fuzz $t: ${secs}s, $(grep -o 'Done [0-9]* runs' "$log" | tail -1 || echo '?'), no failure" >&2
  else
    tail -n 60 "$log" >&2
    echo "fuzz $t: FAILED (full log: $log; failing input in fuzz/artifacts/$t/)" >&2
    exit 1
  fi
done
