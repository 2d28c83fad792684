#!/usr/bin/env bash
# Runs the README's shell snippets against a fresh relay and checks what they printed:
# the curl tour (between the readme-test markers) and every block of "Choose your login".
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${COMETA_RELAY_BIN:-$root/target/debug/cometa-relay}"
dir="$(mktemp -d)"
KEY="readme-test-key-0123456789"
JWT_SECRET="readme-test-jwt-secret-0123456789abcdef"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

# The site's verification service for the delegated-auth snippet: admits one known code.
cat >"$dir/verify.py" <<'PY'
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ok = body.get("headers", {}).get("x-wx-code") == "code-your-server-checks" or \
             body.get("headers", {}).get("X-WX-Code") == "code-your-server-checks"
        self.send_response(200 if ok else 403)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"user_id": "dave"} if ok else {}).encode())
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 "$dir/verify.py" >"$dir/verify.port" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$dir/verify.port" ] && break; sleep 0.1; done
verify_port="$(cat "$dir/verify.port")"

"$bin" --listen 127.0.0.1:0 --data-dir "$dir/data" --api-key "$KEY" --anonymous \
    --jwt-secret "$JWT_SECRET" --auth-verify-url "http://127.0.0.1:$verify_port/verify" \
    --cometql-listen 127.0.0.1:0 >"$dir/relay.out" 2>"$dir/relay.err" &
pids+=($!)
for _ in $(seq 1 100); do grep -q 'CometQL listening on' "$dir/relay.out" 2>/dev/null && break; sleep 0.1; done
addr="$(sed -nE 's#.*listening on (http://[0-9.:]+).*#\1#p' "$dir/relay.out")"
[ -n "$addr" ] || { echo "readme.sh: relay did not start" >&2; cat "$dir/relay.err" >&2; exit 1; }

run() { (cd "$dir" && API="$addr" KEY="$KEY" JWT_SECRET="$JWT_SECRET" bash -euo pipefail -c "$1"); }
passed=0
check() { # name, output, pattern, expected count
    local n; n="$(grep -o "$3" <<<"$2" | wc -l)"
    if [ "$n" -lt "$4" ]; then
        echo "readme.sh: $1: expected $4 × $3, got $n in: $2" >&2; exit 1
    fi
    passed=$((passed + 1))
}

tour="$(sed -n '/<!-- readme-test:begin -->/,/<!-- readme-test:end -->/p' "$root/README.md" \
    | sed '/^```/d;/^<!--/d;/^API=/d')"
out="$(run "$tour")"
check "curl tour: user" "$out" '"nickName":"Alice"' 1
check "curl tour: queued push" "$out" '"seq":1,"delivered":0' 1
check "curl tour: tunnel" "$out" '"connectUrl":"ws://' 1

logins="$(sed -n '/^## Choose your login/,/^## Delivery guarantees/p' "$root/README.md" \
    | awk '/^```sh/{on=1; next} /^```/{on=0} on')"
# The visitor snippet says "run twice"; the tour above already used code, password, JWT once.
out="$(run "$logins"; run "curl -s -c jar -b jar -X POST \"\$API/weapp/login\"")"
check "logins: sessions" "$out" '"skey"' 7
check "logins: same visitor twice" "$(grep -o '"user_id":"visitor:[0-9a-f]*"' <<<"$out" | sort -u | wc -l | tr -d ' ')" '^1$' 1
check "logins: delegated" "$out" '"user_id":"dave"' 1
check "logins: jwt" "$out" '"user_id":"carol"' 1
# The CometQL section's PHP example, on the port the relay picked instead of 3306.
cql_port="$(sed -nE 's#.*CometQL listening on [0-9.]+:([0-9]+).*#\1#p' "$dir/relay.out")"
php_example="$(sed -n '/^## CometQL/,/^## Mini-programs/p' "$root/README.md" \
    | awk '/^```php/{on=1; next} /^```/{on=0} on' \
    | sed -E "s#^\\\$port = 3306;.*#\\\$port = $cql_port;#")"
out="$(cd "$dir" && KEY="$KEY" php <<<"$php_example")"
check "cometql: queued" "$out" 'queued for 2: event hello' 1
check "cometql: error 13" "$out" '^1210 \[13\]' 1
echo "readme.sh: $passed passed, 0 failed"
