#!/usr/bin/env bash
# The configuration through the real daemon and `toolgate config`: every
# problem of a bad file (and of bad TOOLGATE_* variables) is listed and the
# gateway refuses to start; variables override the file and flags override
# both; SIGHUP puts new keys, admission limits and the log level in force
# while calls run, without failing one, and a broken file changes nothing.
set -uo pipefail
toolgate=$1
source "$(dirname "$0")/lib.sh"

# --- toolgate config check ---
cat >"$tmp/good.json" <<'EOF'
{ "listen": "127.0.0.1:0", "pool": { "warm": 2 }, "log": { "level": "debug" } }
EOF
out=$("$toolgate" config check "$tmp/good.json" 2>&1)
check "config check passes a good file" [ $? = 0 ]
check "and says so" grep -q ": ok" <<<"$out"

cat >"$tmp/bad.json" <<EOF
{ "listen": 8080, "pool": { "warm": 1000, "bogus": 1 },
  "sandbox": { "driver": "firecracker" },
  "auth": { "issuer": "x", "keys": [ { "kid": "k", "alg": "RS256", "pem_file": "$tmp/missing.pem" } ] } }
EOF
"$toolgate" config check "$tmp/bad.json" >"$tmp/check.out" 2>&1
check "config check refuses a bad file" [ $? = 1 ]
for problem in '/listen: must be string' '/pool/warm: must be <= 64' '/pool/bogus' '/sandbox/driver'; do
  check "config check lists $problem" grep -q -- "$problem" "$tmp/check.out"
done
TOOLGATE_POOL_MAX=lots TOOLGATE_CALLS_THREADS=0 "$toolgate" config check "$tmp/good.json" >"$tmp/env.out" 2>&1
check "bad variables are refused" [ $? = 1 ]
check "naming the variable" grep -q '/pool/max: .*(from TOOLGATE_POOL_MAX)' "$tmp/env.out"
check "every one of them" grep -q '/calls/threads: .*(from TOOLGATE_CALLS_THREADS)' "$tmp/env.out"
sed 's#"issuer": "x"#"issuer": "x", "leeway_s": 5#; s#"listen": 8080#"listen": "127.0.0.1:0"#; s#1000, "bogus": 1#2#; s#firecracker#jail#' \
  "$tmp/bad.json" >"$tmp/nokey.json"
"$toolgate" config check "$tmp/nokey.json" >"$tmp/nokey.out" 2>&1
check "a key file that is not there is a problem" grep -q "/auth/keys/0/pem_file: cannot read" "$tmp/nokey.out"
"$toolgate" config variables >"$tmp/vars"
check "config variables lists TOOLGATE_POOL_WARM" grep -q '^TOOLGATE_POOL_WARM  *pool.warm$' "$tmp/vars"
check "and TOOLGATE_ADMISSION_TENANT_RATE" grep -q '^TOOLGATE_ADMISSION_TENANT_RATE  *admission.tenant_rate$' "$tmp/vars"
"$toolgate" config check --bogus >/dev/null 2>&1
check "a bad command line exits 2" [ $? = 2 ]

# --- a bad configuration refuses to start, with every problem ---
timeout 20 "$toolgate" serve --config "$tmp/bad.json" --data-dir "$tmp/never" >"$tmp/refused.out" 2>"$tmp/refused.err"
check "serve refuses a bad configuration with exit 2" [ $? = 2 ]
check "before creating anything" [ ! -e "$tmp/never" ]
for problem in '/listen: must be string' '/pool/warm: must be <= 64' '/pool/bogus' '/sandbox/driver' 'pem_file: cannot read'; do
  check "serve lists $problem" grep -q -- "$problem" "$tmp/refused.err"
done
check "each problem a JSON log line" python3 -c "
import json, sys
lines = [json.loads(l) for l in open('$tmp/refused.err') if l.strip()]
assert sum(1 for l in lines if l['level'] == 'error') >= 5, lines"

# --- variables override the file, flags override both ---
worker echo 10000 'cat'
TOOLGATE_HTTP_MAX_BODY_BYTES=2048 TOOLGATE_LISTEN=127.0.0.2:1 start_daemon env \
  --insecure-no-auth --config "$tmp/good.json" --listen 127.0.0.1:0 --data-dir "$tmp/env-data" --deploy "$tmp/workers/echo"
check "a flag overrides a variable (listen)" grep -q 'serving MCP at http://127.0.0.1:' "$tmp/env.out"
big=$(python3 -c 'print("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"pad\":\"" + "x" * 4096 + "\"}}")')
post "$accept" "$json" "$big"
check "a variable sets http.max_body_bytes (413)" [ "$status" = 413 ]
check "the file's log level is in force (debug lines)" grep -q '"level":"debug","msg":"configuration in force: ' "$tmp/env.err"
check "the variables are in what it says" grep -qF '\"max_body_bytes\":2048' "$tmp/env.err"
kill "$server_pid"
wait "$server_pid"
server_pid=

# --- SIGHUP under load ---
secret_a="key-a-0123456789abcdef0123456789abcdef"
secret_b="key-b-0123456789abcdef0123456789abcdef"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
aud="http://127.0.0.1:$port/mcp"
write_config() { # write_config KEYS_JSON ADMISSION_JSON LEVEL
  cat >"$tmp/live.json.new" <<EOF
{ "listen": "127.0.0.1:$port", "data_dir": "$tmp/live-data",
  "auth": { "issuer": "https://issuer.test", "keys": $1 },
  "admission": $2, "log": { "level": "$3" }, "deploy": ["$tmp/workers/echo"] }
EOF
  mv "$tmp/live.json.new" "$tmp/live.json"
}
mint() { # mint KID SECRET
  python3 - "$1" "$2" "$aud" <<'PY'
import base64, hashlib, hmac, json, sys, time
kid, secret, aud = sys.argv[1:]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
enc = lambda o: b64(json.dumps(o, separators=(",", ":")).encode())
now = int(time.time())
head = enc({"alg": "HS256", "typ": "JWT", "kid": kid})
body = enc({"iss": "https://issuer.test", "aud": aud, "sub": "ops", "tenant": "demo",
            "iat": now, "exp": now + 600, "scope": "admin"})
sig = hmac.new(secret.encode(), (head + "." + body).encode(), hashlib.sha256).digest()
print(head + "." + body + "." + b64(sig))
PY
}
key_a="{\"kid\": \"a\", \"alg\": \"HS256\", \"secret\": \"$secret_a\"}"
key_b="{\"kid\": \"b\", \"alg\": \"HS256\", \"secret\": \"$secret_b\"}"
unlimited='{ "tenant_rate": -1, "tool_rate": -1, "tenant_concurrency": -1, "worker_concurrency": -1 }'
write_config "[$key_a]" "$unlimited" info
start_daemon live --config "$tmp/live.json"
token_a=$(mint a "$secret_a")
token_b=$(mint b "$secret_b")
workers_status() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "$base/v1/workers"; }
check "key a signs tokens" [ "$(workers_status "$token_a")" = 200 ]
check "key b is not known yet" [ "$(workers_status "$token_b")" = 401 ]

# Four clients call the echo tool without pause while the configuration
# changes under them; each answer's HTTP status and result are kept.
load() { # load N: runs until $tmp/stop exists
  local n=$1 i=0 sid
  sid=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $token_a" -H "$accept" -H "$json" \
    --data-binary '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"load","version":"1"}}}' \
    "$url" | sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p')
  while [ ! -e "$tmp/stop" ]; do
    i=$((i + 1))
    curl -s -o "$tmp/load-$n.body" -w '%{http_code} ' --max-time 30 -H "Authorization: Bearer $token_a" \
      -H "$accept" -H "$json" -H "Mcp-Session-Id: $sid" \
      --data-binary "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"n\":$i}}}" \
      "$url" >>"$tmp/load-$n.codes"
    grep -q "\"n\":$i" "$tmp/load-$n.body" || echo "call $i: $(head -c 300 "$tmp/load-$n.body")" >>"$tmp/load-$n.bad"
  done
}
for n in 1 2 3 4; do load "$n" & done
sleep 2
write_config "[$key_a, $key_b]" "$unlimited" debug
kill -HUP "$server_pid"
sleep 2
kill -HUP "$server_pid"
sleep 2
touch "$tmp/stop"
wait $(jobs -p | grep -v "^$server_pid$") 2>/dev/null
calls=$(cat "$tmp"/load-*.codes | wc -w)
check "the load ran ($calls calls)" [ "$calls" -ge 20 ]
check "no call failed across two reloads" [ -z "$(cat "$tmp"/load-*.codes | tr ' ' '\n' | grep -v '^200$' | grep -v '^$')" ]
check "every call answered its own arguments" [ ! -e "$tmp/load-1.bad" ] && [ ! -e "$tmp/load-2.bad" ] && [ ! -e "$tmp/load-3.bad" ] && [ ! -e "$tmp/load-4.bad" ]
check "the gateway said it reloaded" grep -q '"msg":"configuration reloaded: auth bearer tokens, log level debug"' "$tmp/live.err"
check "the configuration it logs hides the keys" grep -qF '\"secret\":\"(hidden)\"' "$tmp/live.err"
check "no key's secret is in the log" [ -z "$(grep -e "$secret_a" -e "$secret_b" "$tmp/live.err")" ]
check "key b signs tokens after the reload" [ "$(workers_status "$token_b")" = 200 ]
check "key a still does" [ "$(workers_status "$token_a")" = 200 ]

# A rotation completes: a is gone, and a tight limit is in force.
write_config "[$key_b]" '{ "tool_rate": 0.01, "tool_burst": 1 }' info
kill -HUP "$server_pid"
for _ in $(seq 50); do [ "$(workers_status "$token_a")" = 401 ] && break; sleep 0.1; done
check "key a is refused once removed" [ "$(workers_status "$token_a")" = 401 ]
check "key b works" [ "$(workers_status "$token_b")" = 200 ]
sid=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $token_b" -H "$accept" -H "$json" \
  --data-binary '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}' \
  "$url" | sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p')
for i in 1 2; do
  curl -s -o "$tmp/body" -H "Authorization: Bearer $token_b" -H "$accept" -H "$json" -H "Mcp-Session-Id: $sid" \
    --data-binary "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{}}}" "$url"
done
check "the reloaded tool rate limits the second call" grep -q RATE_LIMITED "$tmp/body"
debug_before=$(grep -c '"level":"debug"' "$tmp/live.err")
curl -s -o /dev/null -H "Authorization: Bearer $token_b" "$base/v1/workers"
check "the log level went back to info" [ "$(grep -c '"level":"debug"' "$tmp/live.err")" = "$debug_before" ]

# A broken file changes nothing.
echo '{ "auth": ' >"$tmp/live.json"
kill -HUP "$server_pid"
for _ in $(seq 50); do grep -q 'reload refused' "$tmp/live.err" && break; sleep 0.1; done
check "a broken file is refused on reload" grep -q '"msg":"reload refused' "$tmp/live.err"
check "and the keys in force stay" [ "$(workers_status "$token_b")" = 200 ]
check "the gateway still serves" kill -0 "$server_pid"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
