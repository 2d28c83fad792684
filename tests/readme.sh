#!/usr/bin/env bash
# Runs the README's curl block against a fresh relay and checks what it printed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${COMETA_RELAY_BIN:-$root/target/debug/cometa-relay}"
dir="$(mktemp -d)"
out="$dir/relay.out"
KEY="readme-test-key-0123456789"
"$bin" --listen 127.0.0.1:0 --data-dir "$dir/data" --api-key "$KEY" >"$out" 2>"$dir/relay.err" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
    grep -q 'listening on' "$out" 2>/dev/null && break
    sleep 0.1
done
addr="$(sed -nE 's#.*listening on (http://[0-9.:]+).*#\1#p' "$out")"
[ -n "$addr" ] || { echo "readme.sh: relay did not start" >&2; cat "$dir/relay.err" >&2; exit 1; }

snippet="$(sed -n '/<!-- readme-test:begin -->/,/<!-- readme-test:end -->/p' "$root/README.md" \
    | sed '/^```/d;/^<!--/d' | sed "s#^API=.*#API=$addr#")"
result="$(KEY="$KEY" bash -euo pipefail -c "$snippet")"
echo "$result"
grep -q '"nickName":"Alice"' <<<"$result"
grep -q '"seq":1,"delivered":0' <<<"$result"
grep -q '"connectUrl":"ws://' <<<"$result"
echo "readme.sh: 3 passed, 0 failed"
