#!/usr/bin/env bash
# Side-by-side benchmark of the relay against socket.io and a bare tokio-tungstenite ceiling.
#
#   scripts/bench.sh            full pass: 3 runs, medians -> bench/RESULTS.md, bench/results.json
#   scripts/bench.sh --smoke    ~30 s with tiny sizes, for CI (exit 0 when everything works);
#                               writes to target/bench-smoke/ so the committed figures stay
#   scripts/bench.sh --soak     SOAK_SECS (600) s of churn against one relay (`make soak`);
#                               writes the Soak section of bench/RESULTS.md, fails when RSS or
#                               fds do not come back within 10 % or a delivery was lost or repeated
#
# Any other argument goes to `cometa-bench run` (see `cometa-bench run --help`), e.g.
#   scripts/bench.sh --runs 5 --scenarios fanout --peers cometa,ceiling
#
# All load stays on 127.0.0.0/8. The bench kills every server it started, also on error or
# Ctrl-C; the timeout below bounds the whole pass.
set -euo pipefail

cd "$(dirname "$0")/.."

smoke=0
soak=0
for arg in "$@"; do
  [[ "$arg" == "--smoke" ]] && smoke=1
  [[ "$arg" == "--soak" ]] && soak=1
done

if [[ $soak == 1 ]]; then
  echo "== building release binaries" >&2
  cargo build --release --locked -p cometa-relay -p cometa-bench >&2
  ulimit -Hn 1048576 2>/dev/null || true
  ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
  secs=${SOAK_SECS:-600}
  args=()
  for arg in "$@"; do [[ "$arg" != "--soak" ]] && args+=("$arg"); done
  echo "== soak for ${secs}s" >&2
  # The setup, drain and settles take about a minute on top of the churn.
  exec timeout --kill-after=15 "$((secs + 300))" target/release/cometa-bench soak --secs "$secs" "${args[@]}"
fi

command -v node >/dev/null || { echo "bench.sh: node is required (socket.io peer)" >&2; exit 1; }
command -v npm >/dev/null || { echo "bench.sh: npm is required (socket.io peer)" >&2; exit 1; }

echo "== building release binaries" >&2
cargo build --release --locked -p cometa-relay -p cometa-bench >&2

echo "== installing the socket.io peer (npm ci)" >&2
(cd bench/peers/socketio && npm ci --no-audit --no-fund --loglevel=error >&2)

# The relay and the workers need one file per socket; the bench raises its own soft limit
# to the hard one and the servers it starts inherit it. Raise the hard limit too where
# allowed (root with CAP_SYS_RESOURCE); silently keep the current one otherwise.
ulimit -Hn 1048576 2>/dev/null || true
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true

if [[ $smoke == 1 ]]; then
  limit=120 out=target/bench-smoke
else
  limit=900 out=bench
fi
echo "== running (at most ${limit}s)" >&2
# SIGTERM first so the bench kills its children; SIGKILL 15 s later if it hangs.
timeout --kill-after=15 "$limit" target/release/cometa-bench run --out-dir "$out" "$@"
