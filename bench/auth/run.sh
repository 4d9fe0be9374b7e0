#!/usr/bin/env bash
# Runs the authentication benchmark: what bearer tokens cost toolgate's MCP
# endpoint. Two gateways serve bench/mcp's `echo` sh worker on 127.0.0.1, one
# without authentication (--insecure-no-auth), one holding an HS256 and an
# ES256 key; bench/mcp/load.mjs drives them in rounds, each round measuring
# auth off, then an HS256 token, then an ES256 token, so that whatever else
# the machine does falls on all three alike. Prints requests/s, p50 and p99
# of tools/call and tools/list per configuration (the best round, and the
# range of requests/s over the rounds), the ratios to auth off, and what one
# token check costs alone (bench_auth: tg_auth_check in a loop).
#   bench/auth/run.sh
# Environment: BUILD_DIR (an existing build directory to use; default
# build-bench, configured as Release), BENCH_ROUNDS (default 3),
# BENCH_SECONDS (measured time per configuration, mode and round, default 2),
# BENCH_WARMUP (seconds, default 1), BENCH_CLIENTS (concurrent clients,
# default 8), BENCH_WARM (toolgate's --warm, default 4), AUTH_SECONDS
# (bench_auth's time per algorithm, default 2).
# Needs root (the gateway's jail sandboxes), cmake, a C compiler, the
# project's libraries, openssl, python3, curl and Node.js.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/../lib.sh"
rounds=${BENCH_ROUNDS:-3}
seconds=${BENCH_SECONDS:-2}
auth_seconds=${AUTH_SECONDS:-2}

build_release toolgate toolgate-agent bench_auth

# The keys, and the audience: the URL of a port chosen now.
issuer=https://issuer.test
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
audience="http://127.0.0.1:$port/mcp"
secret=$(openssl rand -hex 32)
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ec.pem" 2>/dev/null
openssl pkey -in "$tmp/ec.pem" -pubout -out "$tmp/ec-public.pem"

# mint ALG KID KEY: a token for tenant demo (where --deploy puts workers),
# valid for an hour. KEY is the HS256 secret or the ES256 private key's file.
cat >"$tmp/mint.py" <<'PY'
import base64, hashlib, hmac, json, subprocess, sys, time

alg, kid, key, issuer, audience = sys.argv[1:6]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
enc = lambda o: b64(json.dumps(o, separators=(",", ":")).encode())
now = int(time.time())
claims = {"iss": issuer, "aud": audience, "iat": now, "exp": now + 3600, "sub": "bench",
          "tenant": "demo", "scope": "tools:list tools:call"}
signing_input = (enc({"alg": alg, "kid": kid, "typ": "JWT"}) + "." + enc(claims)).encode()
if alg == "HS256":
    sig = hmac.new(key.encode(), signing_input, hashlib.sha256).digest()
else:
    der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input,
                         capture_output=True, check=True).stdout
    # DER SEQUENCE { INTEGER r, INTEGER s } to JWS's r||s, 32 bytes each.
    i, sig = (3 if der[1] & 0x80 else 2), b""
    for _ in range(2):
        n = der[i + 1]
        sig += der[i + 2:i + 2 + n].lstrip(b"\0").rjust(32, b"\0")
        i += 2 + n
print(signing_input.decode() + "." + b64(sig))
PY
mint() { python3 "$tmp/mint.py" "$1" "$2" "$3" "$issuer" "$audience"; }
hs_token=$(mint HS256 hs1 "$secret")
es_token=$(mint ES256 es1 "$tmp/ec.pem")

# The gateways serve lib.sh's echo worker, with admission control off.
printf '{%s}\n' "$admission_off" >"$tmp/off.json"
cat >"$tmp/auth.json" <<JSON
{"auth": {"issuer": "$issuer", "audience": "$audience",
  "keys": [{"kid": "hs1", "alg": "HS256", "secret": "$secret"},
           {"kid": "es1", "alg": "ES256", "pem_file": "$tmp/ec-public.pem"}]},
 $admission_off}
JSON

serve off --insecure-no-auth --listen 127.0.0.1:0 --config "$tmp/off.json"
off_url=$url
serve auth --listen "127.0.0.1:$port" --config "$tmp/auth.json"
auth_url=$url
driver=$(sed -n 's/.*(sandbox driver: \([^)]*\)).*/\1/p' "$tmp/auth.out")

status=0
# Authentication is really on: a request without a token is refused.
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' \
  --data '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' "$auth_url")
if [ "$code" != 401 ]; then
  echo "!!! the gateway with keys answered $code, not 401, to a request without a token"
  status=1
fi

print_cpu
echo "node $(node --version), $(openssl version | cut -d' ' -f1-2); toolgate $build_type build, --warm $warm, $driver sandboxes"
echo "tokens: one per algorithm, minted here and sent on every request of its configuration, as a"
echo "client reuses its token until it expires (HS256 ${#hs_token} bytes, ES256 ${#es_token} bytes)"
echo

# load NAME URL [LOAD_ARG...]: one load.mjs run, its table added to $tmp/load.
load() {
  local name=$1 url=$2
  shift 2
  node "$root/bench/mcp/load.mjs" --clients "$clients" --seconds "$seconds" --warmup "$warmup" \
    "$@" "$name=$url" >"$tmp/round" || status=$?
  grep '^!!!' "$tmp/round" || true
  cat "$tmp/round" >>"$tmp/load"
}
: >"$tmp/load"
for _ in $(seq "$rounds"); do
  load off "$off_url"
  load HS256 "$auth_url" --header "Authorization: Bearer $hs_token"
  load ES256 "$auth_url" --header "Authorization: Bearer $es_token"
done

echo "$clients clients in closed loops; $rounds rounds of off, HS256, ES256, each $warmup s warm-up and"
echo "$seconds s measured per mode; the best round of each (req/s range over the rounds)"
awk '
  $2 == "tools/call" || $2 == "tools/list" {
    k = $1 SUBSEP $2
    if (!(k in best) || $3 > best[k]) { best[k] = $3; p50[k] = $4; p99[k] = $5 }
    if (!(k in low) || $3 < low[k]) low[k] = $3
    n[k] += $6; err[k] += $7
  }
  END {
    split("tools/call tools/list", modes, " ")
    split("off HS256 ES256", auths, " ")
    printf "%-11s %-6s %6s %13s %7s %7s %8s %6s %11s %9s\n", "mode", "auth", "req/s", "(range)",
      "p50 ms", "p99 ms", "requests", "errors", "req/s / off", "p50 / off"
    for (m = 1; m <= 2; m++) for (a = 1; a <= 3; a++) {
      k = auths[a] SUBSEP modes[m]; o = "off" SUBSEP modes[m]
      printf "%-11s %-6s %6s %13s %7s %7s %8d %6d", modes[m], auths[a], best[k],
        "(" low[k] "-" best[k] ")", p50[k], p99[k], n[k], err[k]
      if (a > 1 && best[o] > 0 && p50[o] > 0) printf " %11.3f %9.3f", best[k] / best[o], p50[k] / p50[o]
      printf "\n"
    }
  }' "$tmp/load"
echo
"$build/bench/bench_auth" "$auth_seconds" "$issuer" "$audience" "$secret" \
  "$(cat "$tmp/ec-public.pem")" "$hs_token" "$es_token" || status=$?

# Anything the gateways complained about during the runs is a finding.
report_stderr "the runs" -e '^toolgate: KVM cannot run the microVM guest here' \
  "$tmp/off.err" "$tmp/auth.err"
exit "$status"
