#!/usr/bin/env bash
# Runs the egress benchmark: what a worker's HTTP request costs through the
# egress channel (the sandbox's proxy, a frame to the host, the policy check,
# libcurl over TLS, the audit record, redaction) against the same request
# made from the host straight to the upstream. One HTTPS upstream
# (tests/integration/upstream.py) on 127.0.0.1 serves both. The same Python
# code (measure.py) times sequential and concurrent GETs inside a jail
# sandbox through HTTP_PROXY, and on the host over https, both with a new
# TLS connection per request (what urllib does) and with one kept-alive
# connection per thread. Prints requests/s and p50/p99 latency of each, and
# the proxied figures as ratios to the direct ones.
#   bench/egress/run.sh
# Environment: BUILD_DIR (default build-bench, a Release build), EGRESS_COUNT
# (requests per measurement, default 400), EGRESS_THREADS (concurrent
# requests in the concurrent measurement, default 4).
# Needs root (the jail), cmake, a C compiler, the project's libraries,
# openssl and python3.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/../lib.sh"
count=${EGRESS_COUNT:-400}
threads=${EGRESS_THREADS:-4}
here=$(cd "$(dirname "$0")" && pwd)

build_release toolgate toolgate-agent

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca \
  -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$tmp/up.key" \
  -out "$tmp/up.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$tmp/san.ext"
openssl x509 -req -in "$tmp/up.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial \
  -days 2 -extfile "$tmp/san.ext" -out "$tmp/up.pem" 2>/dev/null
python3 "$root/tests/integration/upstream.py" "$tmp/up.pem" "$tmp/up.key" "$tmp/port" \
  "$tmp/upstream.log" 3600 &
servers+=($!)
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
port=$(cat "$tmp/port")

mkdir -p "$tmp/workers/measure"
cp "$here/measure.py" "$tmp/workers/measure/main.py"
cat >"$tmp/workers/measure/toolgate.json" <<JSON
{"name":"measure","version":"1.0.0","description":"Times requests through the proxy.",
 "runtime":"python3","entry":"main.py","inputSchema":{"type":"object"},
 "limits":{"timeout_ms":600000},
 "egress":[{"origin":"https://localhost:$port","methods":["GET"]}]}
JSON
cat >"$tmp/config.json" <<JSON
{"insecure_no_auth": true, "sandbox": {"driver": "jail"}, $admission_off,
 "egress": {"ca_file": "$tmp/ca.pem", "max_requests": 100000}}
JSON
serve gw --listen 127.0.0.1:0 --config "$tmp/config.json"

# proxied THREADS: the measurement inside a sandbox, through one tool call.
proxied() {
  local h='-H Content-Type:application/json -H Accept:application/json,text/event-stream'
  # shellcheck disable=SC2086
  curl -s -D "$tmp/h" $h "$url" -o /dev/null -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}'
  local sid
  sid=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p' "$tmp/h")
  # shellcheck disable=SC2086
  curl -s $h -H "Mcp-Session-Id: $sid" "$url" -d "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"measure\",\"arguments\":{\"mode\":\"proxy\",\"url\":\"http://localhost:$port/echo\",\"count\":$count,\"threads\":$1}}}" |
    sed -n 's/^data: //p' | python3 -c 'import json,sys; print(json.dumps(json.loads(sys.stdin.read())["result"]["structuredContent"]))'
}
direct() { python3 "$here/measure.py" "$1" "https://localhost:$port/echo" "$count" "$2" "$tmp/ca.pem"; }

# Warm the connection caches and the python imports on both sides.
proxied 1 >/dev/null
direct direct-keepalive 1 >/dev/null

print_cpu
echo "egress: $count GETs of a small JSON document per measurement, upstream HTTPS on 127.0.0.1"
for t in 1 "$threads"; do
  p=$(proxied "$t")
  dn=$(direct direct-new "$t")
  dk=$(direct direct-keepalive "$t")
  python3 - "$p" "$dn" "$dk" <<'PY'
import json, sys
p, dn, dk = (json.loads(a) for a in sys.argv[1:])
rate = lambda m: m["count"] / m["seconds"]
print(f"\n{p['threads']} concurrent request(s):")
for name, m in (("through the egress proxy (sandbox)", p), ("direct, new TLS connection each", dn),
                ("direct, kept-alive connection", dk)):
    print(f"  {name:38s} {rate(m):8.0f} req/s   p50 {m['p50_ms']:7.2f} ms   p99 {m['p99_ms']:7.2f} ms")
for name, m in (("new-connection", dn), ("kept-alive", dk)):
    print(f"  proxied / direct {name:15s} throughput x{rate(p) / rate(m):.2f}   "
          f"p50 latency x{p['p50_ms'] / m['p50_ms']:.2f}")
PY
done
report_stderr "the egress benchmark" "$tmp"/gw.err
