#!/usr/bin/env bash
# JWT authentication through the real daemon, with every token minted here
# (HS256 with Python's hmac, RS256 and ES256 with the openssl CLI): each kind
# of bad token is a 401 with an RFC 6750 challenge, a missing one a bare
# challenge, a token in the query string a 400, a missing scope a 403; HS256,
# RS256 and ES256 keys and two HS256 keys at once (rotation) are accepted;
# workers, tools and sessions belong to the token's tenant and principal; the
# RFC 9728 metadata is public; dev mode mints its own key and `toolgate token`
# signs with it; admission limits one tenant's flood and not another's calls.
#
#   tests/integration/test_auth.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

# --- keys and the minting helper ---
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/rsa.pem" 2>/dev/null
openssl pkey -in "$tmp/rsa.pem" -pubout -out "$tmp/rsa-public.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ec.pem" 2>/dev/null
openssl pkey -in "$tmp/ec.pem" -pubout -out "$tmp/ec-public.pem"
hs1="hs1-secret-0123456789abcdef0123456789abcdef"
hs2="hs2-secret-0123456789abcdef0123456789abcdef"
issuer=https://issuer.test

cat >"$tmp/mint.py" <<'PY'
"""mint.py KEYS.json [--alg A] [--kid K | --no-kid] [--typ T] [--iss I]
[--aud A]... [--exp S | --no-exp] [--nbf S] [--sub S] [--tenant T] [--scope S]
[--secret S | --secret-file F] [--tamper JSON]: prints a JWT. exp and nbf are
seconds from now; KEYS.json holds the default iss and aud and maps each kid to
{"secret": S} (HS256) or {"private_pem": FILE} (RS256, ES256). --tamper merges
claims into the payload after signing."""
import argparse, base64, hashlib, hmac, json, subprocess, sys, time

p = argparse.ArgumentParser()
p.add_argument("keys")
p.add_argument("--alg", default="HS256")
p.add_argument("--kid", default="hs1")
p.add_argument("--no-kid", action="store_true")
p.add_argument("--typ", default="JWT")
p.add_argument("--iss")
p.add_argument("--aud", action="append")
p.add_argument("--exp", type=int, default=600)
p.add_argument("--no-exp", action="store_true")
p.add_argument("--nbf", type=int)
p.add_argument("--sub", default="alice")
p.add_argument("--tenant", default="acme")
p.add_argument("--scope", default="tools:list tools:call workers:deploy")
p.add_argument("--secret")
p.add_argument("--secret-file")
p.add_argument("--tamper")
a = p.parse_args()
keys = json.load(open(a.keys))
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
enc = lambda o: b64(json.dumps(o, separators=(",", ":")).encode())

now = int(time.time())
header = {"alg": a.alg, "typ": a.typ}
if not a.no_kid:
    header["kid"] = a.kid
claims = {"iss": a.iss or keys["iss"], "sub": a.sub, "tenant": a.tenant, "iat": now}
aud = a.aud or [keys["aud"]]
claims["aud"] = aud[0] if len(aud) == 1 else aud
if not a.no_exp:
    claims["exp"] = now + a.exp
if a.nbf is not None:
    claims["nbf"] = now + a.nbf
if a.scope:
    claims["scope"] = a.scope
signing_input = (enc(header) + "." + enc(claims)).encode()
key = keys["keys"].get(a.kid, {})

def der_to_raw(der):
    """An ECDSA signature, DER SEQUENCE { INTEGER r, INTEGER s }, as JWS r||s."""
    i = 3 if der[1] & 0x80 else 2
    out = b""
    for _ in range(2):
        n = der[i + 1]
        out += der[i + 2:i + 2 + n].lstrip(b"\0").rjust(32, b"\0")
        i += 2 + n
    return out

if a.alg == "none":
    sig = b""
elif a.alg == "HS256":
    secret = open(a.secret_file, "rb").read() if a.secret_file else (a.secret or key["secret"]).encode()
    sig = hmac.new(secret, signing_input, hashlib.sha256).digest()
elif a.alg in ("RS256", "ES256"):
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key["private_pem"]],
                         input=signing_input, capture_output=True, check=True).stdout
    if a.alg == "ES256":
        sig = der_to_raw(sig)
else:
    sys.exit("mint.py: unknown alg " + a.alg)
token = signing_input.decode() + "." + b64(sig)
if a.tamper:
    h, _, s = token.split(".")
    claims.update(json.loads(a.tamper))
    token = h + "." + enc(claims) + "." + s
print(token)
PY
mint() { python3 "$tmp/mint.py" "$tmp/keys.json" "$@"; }
# claim TOKEN EXPRESSION: a Python expression over the payload c, printed.
claim() {
  python3 -c "
import base64, json, sys
p = sys.argv[1].split('.')[1]
c = json.loads(base64.urlsafe_b64decode(p + '=' * (-len(p) % 4)))
print($2)" "$1"
}

# --- requests ---
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# The daemon with authentication on 127.0.0.1:PORT, its output in
# $tmp/NAME.out and .err: start_auth NAME PORT [FLAG...].
start_auth() {
  local name=$1 port=$2
  shift 2
  start_daemon "$name" --listen "127.0.0.1:$port" --data-dir "$tmp/$name-data" "$@"
}
stop_server() {
  kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  server_pid=
}
bearer() { printf 'Authorization: Bearer %s' "$1"; }
init_body='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}'
list_body='{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
call_body() { printf '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"%s","arguments":{}}}' "$1"; }
# open_session TOKEN: initialize with TOKEN, the session's header in $sess.
open_session() {
  post "$accept" "$json" "$(bearer "$1")" "$init_body"
  sess="Mcp-Session-Id: $(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p' "$tmp/headers")"
}
# req METHOD PATH TOKEN [CURL_ARG...]: any request to the gateway, answered
# like post (TOKEN "" sends no Authorization header).
req() {
  local method=$1 path=$2 token=$3
  shift 3
  local args=()
  [ -n "$token" ] && args+=(-H "$(bearer "$token")")
  status=$(curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' --max-time 5 -X "$method" \
    "${args[@]}" "$@" "$base$path")
}
# deploy TOKEN NAME VERSION OWNER: POST /v1/workers of a worker printing
# {"owner": OWNER}.
deploy() {
  local code
  code=$(printf '#!/bin/sh\ncat >/dev/null\necho "{\\"owner\\":\\"%s\\"}"\n' "$4" | base64 -w0)
  req POST /v1/workers "$1" -H "$json" --data-binary "{\"manifest\":{\"name\":\"$2\",\"version\":\"$3\",\"description\":\"x\",\"runtime\":\"sh\",\"entry\":\"main.sh\",\"inputSchema\":{\"type\":\"object\"}},\"files\":[{\"path\":\"main.sh\",\"content_base64\":\"$code\"}]}"
}
# The WWW-Authenticate header of the last answer.
challenge() { sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: *//p' "$tmp/headers" | tr -d '\r'; }
has() { [[ $1 == *"$2"* ]]; }
lacks() { [[ $1 != *"$2"* ]]; }
is_invalid_token() {
  local c
  c=$(challenge)
  [[ $c == Bearer\ * ]] && has "$c" 'error="invalid_token"' && has "$c" 'error_description="' &&
    has "$c" "resource_metadata=\"$metadata\"" && has "$c" 'scope="'
}
is_insufficient_scope() { # is_insufficient_scope NEEDED
  local c
  c=$(challenge)
  [[ $c == Bearer\ * ]] && has "$c" 'error="insufficient_scope"' && has "$c" "scope=\"$1\"" &&
    has "$c" "resource_metadata=\"$metadata\""
}
forbidden() { # forbidden WHAT NEEDED: the last answer refused a missing scope
  check "$1: 403 ($status)" [ "$status" = 403 ]
  check "$1: Bearer error=\"insufficient_scope\", scope=\"$2\" ($(challenge))" is_insufficient_scope "$2"
  check "$1: FORBIDDEN in the body" jq_quiet "'x' if d['error']['code'] == 'FORBIDDEN' else sys.exit(1)"
}
names_tool() { jq_quiet "'x' if any(t['name'] == '$1' for t in d['result']['tools']) else sys.exit(1)"; }
lacks_tool() { jq_quiet "'x' if all(t['name'] != '$1' for t in d['result']['tools']) else sys.exit(1)"; }
is_jwt() { [[ $1 =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]]; }
is_positive() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ]; }
lists_worker() { jq_quiet "'x' if any(w['name'] == '$1' for w in d['workers']) else sys.exit(1)"; }

# === the daemon with an auth configuration and per-tenant admission ===
port=$(free_port)
audience="http://127.0.0.1:$port/mcp"
metadata="http://127.0.0.1:$port/.well-known/oauth-protected-resource/mcp"
cat >"$tmp/keys.json" <<EOF
{"iss": "$issuer", "aud": "$audience", "keys": {
  "hs1": {"secret": "$hs1"}, "hs2": {"secret": "$hs2"},
  "rs1": {"private_pem": "$tmp/rsa.pem"}, "es1": {"private_pem": "$tmp/ec.pem"}}}
EOF
cat >"$tmp/config.json" <<EOF
{"auth": {"issuer": "$issuer", "audience": "$audience", "leeway_s": 5,
  "authorization_servers": ["$issuer"],
  "keys": [{"kid": "hs1", "alg": "HS256", "secret": "$hs1"},
           {"kid": "hs2", "alg": "HS256", "secret": "$hs2"},
           {"kid": "rs1", "alg": "RS256", "pem_file": "$tmp/rsa-public.pem"},
           {"kid": "es1", "alg": "ES256", "pem_file": "$tmp/ec-public.pem"}]},
 "admission": {"tenant_rate": 1, "tenant_burst": 5}}
EOF
start_auth auth "$port" --config "$tmp/config.json" --warm 2
check "the gateway serves at the configured port" [ "$url" = "$audience" ]

# --- public endpoints ---
for path in /healthz /readyz; do
  req GET "$path" ""
  check "GET $path needs no token ($status)" [ "$status" = 200 ]
done
for path in /.well-known/oauth-protected-resource /.well-known/oauth-protected-resource/mcp; do
  req GET "$path" ""
  check "GET $path needs no token ($status)" [ "$status" = 200 ]
  check "$path: resource is the audience" [ "$(jq_body "d['resource']")" = "$audience" ]
  check "$path: authorization_servers" [ "$(jq_body "d['authorization_servers']")" = "['$issuer']" ]
  check "$path: scopes_supported" jq_quiet "'x' if {'tools:list', 'tools:call', 'workers:deploy', 'admin'} <= set(d['scopes_supported']) else sys.exit(1)"
  check "$path: bearer_methods_supported" [ "$(jq_body "d['bearer_methods_supported']")" = "['header']" ]
done

# --- no token, bad tokens, a token in the query string ---
post "$accept" "$json" "$init_body"
check "no token: 401 ($status)" [ "$status" = 401 ]
c=$(challenge)
check "no token: a Bearer challenge with resource_metadata ($c)" has "$c" "Bearer resource_metadata=\"$metadata\""
check "no token: the challenge names a scope" has "$c" 'scope="'
check "no token: the challenge has no error attribute" lacks "$c" 'error='
req GET /v1/workers ""
check "no token on /v1/workers: 401 ($status)" [ "$status" = 401 ]

bad_token() { # bad_token WHAT TOKEN
  post "$accept" "$json" "$(bearer "$2")" "$init_body"
  check "$1: 401 ($status)" [ "$status" = 401 ]
  check "$1: Bearer error=\"invalid_token\" with a description, resource_metadata and scope ($(challenge))" \
    is_invalid_token
}
bad_token "malformed token" not-a-jwt
bad_token "expired token" "$(mint --exp -60)"
bad_token "token not yet valid" "$(mint --nbf 60)"
bad_token "wrong audience" "$(mint --aud http://127.0.0.1:1/mcp)"
bad_token "wrong issuer" "$(mint --iss https://other-issuer.test)"
bad_token "unknown kid" "$(mint --kid nope --secret "$hs1")"
bad_token "alg none" "$(mint --alg none)"
bad_token "HS256 over the RSA public key (kid rs1)" "$(mint --kid rs1 --secret-file "$tmp/rsa-public.pem")"
bad_token "tampered payload" "$(mint --scope tools:list --tamper '{"scope": "admin", "tenant": "globex"}')"
bad_token "signed with another secret" "$(mint --secret wrong-secret-0123456789abcdef0123456789)"
req GET /v1/workers "$(mint --exp -60)"
check "expired token on /v1/workers: 401 ($status)" [ "$status" = 401 ]
check "expired token on /v1/workers: invalid_token ($(challenge))" is_invalid_token

good=$(mint)
saved_url=$url
url="$saved_url?access_token=$good"
post "$accept" "$json" "$(bearer "$good")" "$init_body"
check "token in the query string, good header too: 400 ($status)" [ "$status" = 400 ]
post "$accept" "$json" "$init_body"
check "token in the query string alone: 400 ($status)" [ "$status" = 400 ]
url=$saved_url

# --- keys: HS256 (two kids: rotation), RS256, ES256; aud as an array ---
for spec in "HS256 hs1" "HS256 hs2" "RS256 rs1" "ES256 es1"; do
  token=$(mint --alg "${spec% *}" --kid "${spec#* }")
  open_session "$token"
  check "$spec: initialize 200 ($status)" [ "$status" = 200 ]
  post "$accept" "$json" "$(bearer "$token")" "$sess" "$list_body"
  check "$spec: tools/list 200 ($status)" [ "$status" = 200 ]
done
open_session "$(mint --aud https://elsewhere.test --aud "$audience")"
check "aud as an array naming the gateway: 200 ($status)" [ "$status" = 200 ]
open_session "$(mint --nbf 2 --exp -2)"
check "nbf and exp within the leeway: 200 ($status)" [ "$status" = 200 ]

# --- scopes ---
token=$(mint --scope '')
open_session "$token"
check "no scope: initialize 200 ($status)" [ "$status" = 200 ]
post "$accept" "$json" "$(bearer "$token")" "$sess" '{"jsonrpc":"2.0","id":4,"method":"ping"}'
check "no scope: ping 200 ($status)" [ "$status" = 200 ]
post "$accept" "$json" "$(bearer "$token")" "$sess" '{"jsonrpc":"2.0","method":"notifications/initialized"}'
check "no scope: a notification 202 ($status)" [ "$status" = 202 ]

token=$(mint --scope tools:call)
open_session "$token"
post "$accept" "$json" "$(bearer "$token")" "$sess" "$list_body"
forbidden "tools/list without tools:list" tools:list

token=$(mint --scope tools:list)
open_session "$token"
post "$accept" "$json" "$(bearer "$token")" "$sess" "$(call_body any_tool)"
forbidden "tools/call without tools:call" tools:call
req GET /v1/workers "$token"
forbidden "GET /v1/workers without workers:deploy" workers:deploy
deploy "$token" scope_test 1.0.0 nobody
forbidden "POST /v1/workers without workers:deploy" workers:deploy
req GET /v1/workers/scope_test "$token"
forbidden "GET /v1/workers/NAME without workers:deploy" workers:deploy
req POST /v1/workers/scope_test/rollback "$token" -H "$json" --data-binary '{"version":"x"}'
forbidden "rollback without workers:deploy" workers:deploy
req DELETE /v1/workers/scope_test "$token"
forbidden "DELETE /v1/workers/NAME without workers:deploy" workers:deploy

token=$(mint --scope admin)
open_session "$token"
post "$accept" "$json" "$(bearer "$token")" "$sess" "$list_body"
check "admin grants tools:list ($status)" [ "$status" = 200 ]
req GET /v1/workers "$token"
check "admin grants workers:deploy ($status)" [ "$status" = 200 ]

# --- tenants ---
a=$(mint --tenant acme --sub alice)
b=$(mint --tenant globex --sub bob)
deploy "$a" iso_tool 1.0.0 acme
check "tenant A deploys iso_tool: 201 ($status)" [ "$status" = 201 ]
a_version=$(jq_body "d['version']")
open_session "$a"
sa=$sess
open_session "$b"
sb=$sess
post "$accept" "$json" "$(bearer "$a")" "$sa" "$list_body"
check "A's tools/list shows iso_tool" names_tool iso_tool
post "$accept" "$json" "$(bearer "$b")" "$sb" "$list_body"
check "B's tools/list does not show it" lacks_tool iso_tool
post "$accept" "$json" "$(bearer "$b")" "$sb" "$(call_body iso_tool)"
check "B calling it: -32602" [ "$(jq_body "d['error']['code']")" = -32602 ]
check "B calling it: unknown tool" grep -qi 'unknown tool' "$tmp/body"
req GET /v1/workers/iso_tool "$b"
check "B's GET /v1/workers/iso_tool: 404 ($status)" [ "$status" = 404 ]
req GET /v1/workers "$b"
check "B's GET /v1/workers: 200 ($status)" [ "$status" = 200 ]
check "B's GET /v1/workers lists nothing of A's" jq_quiet "'x' if not any(w['name'] == 'iso_tool' for w in d['workers']) else sys.exit(1)"
req POST /v1/workers/iso_tool/rollback "$b" -H "$json" --data-binary "{\"version\":\"$a_version\"}"
check "B's rollback of A's worker: 404 ($status)" [ "$status" = 404 ]
req DELETE /v1/workers/iso_tool "$b"
check "B's DELETE of A's worker: 404 ($status)" [ "$status" = 404 ]
deploy "$b" iso_tool 2.0.0 globex
check "B deploys its own iso_tool: 201 ($status)" [ "$status" = 201 ]
req GET /v1/workers/iso_tool "$a"
check "A's iso_tool is still there ($status)" [ "$status" = 200 ]
check "A's version is unchanged" [ "$(jq_body "d['version']")" = "$a_version" ]
req GET /v1/workers "$a"
check "A's GET /v1/workers lists iso_tool" lists_worker iso_tool
post "$accept" "$json" "$(bearer "$a")" "$sa" "$(call_body iso_tool)"
check "A's call runs A's worker" [ "$(jq_body "d['result']['structuredContent']['owner']")" = acme ]
post "$accept" "$json" "$(bearer "$b")" "$sb" "$(call_body iso_tool)"
check "B's call runs B's worker" [ "$(jq_body "d['result']['structuredContent']['owner']")" = globex ]

# --- sessions belong to their principal ---
for spec in "another sub:acme mallory" "another tenant:globex alice"; do
  what=${spec%%:*} who=${spec#*:}
  other=$(mint --tenant "${who% *}" --sub "${who#* }")
  post "$accept" "$json" "$(bearer "$other")" "$sa" "$list_body"
  check "$what presenting A's session: POST 404 ($status)" [ "$status" = 404 ]
  req GET /mcp "$other" -H 'Accept: text/event-stream' -H "$sa" --max-time 2
  check "$what presenting A's session: GET 404 ($status)" [ "$status" = 404 ]
  req DELETE /mcp "$other" -H "$sa"
  check "$what presenting A's session: DELETE 404 ($status)" [ "$status" = 404 ]
done
post "$accept" "$json" "$(bearer "$a")" "$sa" "$list_body"
check "A's session still works ($status)" [ "$status" = 200 ]

# --- admission: one tenant's flood does not hold up another ---
fa=$(mint --tenant flood_a --sub alice)
fb=$(mint --tenant flood_b --sub bob)
deploy "$fa" quick 1.0.0 flood_a
check "flood_a deploys quick ($status)" [ "$status" = 201 ]
deploy "$fb" quick 1.0.0 flood_b
check "flood_b deploys quick ($status)" [ "$status" = 201 ]
open_session "$fa"
sfa=$sess
open_session "$fb"
sfb=$sess
for i in $(seq 10); do
  post "$accept" "$json" "$(bearer "$fa")" "$sfa" "$(call_body quick)"
  cp "$tmp/body" "$tmp/flood.$i"
done
ok=0
for i in 1 2 3 4 5; do grep -q '"owner":"flood_a"' "$tmp/flood.$i" && ok=$((ok + 1)); done
limited=$(grep -l '"code":"RATE_LIMITED"' "$tmp"/flood.* | wc -l)
check "tenant A's first 5 calls ran ($ok)" [ "$ok" = 5 ]
check "then A's calls answer RATE_LIMITED ($limited of 10)" [ "$limited" -ge 3 ]
cp "$tmp/flood.10" "$tmp/body"
retry_ms=$(jq_body "d['result']['structuredContent']['error']['retryAfterMs']" 2>/dev/null)
check "RATE_LIMITED carries retryAfterMs ($retry_ms)" is_positive "$retry_ms"
is_positive "$retry_ms" || retry_ms=1000
ok=0
for i in 1 2 3; do
  post "$accept" "$json" "$(bearer "$fb")" "$sfb" "$(call_body quick)"
  grep -q '"owner":"flood_b"' "$tmp/body" && ok=$((ok + 1))
done
check "tenant B's calls succeed meanwhile ($ok of 3)" [ "$ok" = 3 ]
sleep "$(python3 -c "print(($retry_ms + 50) / 1000)")"
post "$accept" "$json" "$(bearer "$fa")" "$sfa" "$(call_body quick)"
check "A's call after retryAfterMs succeeds" grep -q '"owner":"flood_a"' "$tmp/body"
stop_server

# === dev mode: neither an auth configuration nor --insecure-no-auth ===
port=$(free_port)
audience="http://127.0.0.1:$port/mcp"
start_auth dev "$port" --warm 1
dev=
for _ in $(seq 50); do
  dev=$(sed -n 's/^toolgate: token for tenant demo (all scopes, 24 h): *\([^[:space:]]*\).*/\1/p' "$tmp/dev.out")
  [ -n "$dev" ] && break
  sleep 0.1
done
check "dev mode prints a token for tenant demo" [ -n "$dev" ]
[ -n "$dev" ] || { echo "  its stdout:" >&2; cat "$tmp/dev.out" >&2; }
check "dev mode keeps its key in the data dir" [ -n "$(ls -A "$tmp/dev-data" 2>/dev/null)" ]
post "$accept" "$json" "$init_body"
check "dev mode still wants a token: 401 ($status)" [ "$status" = 401 ]
if [ -n "$dev" ]; then
  check "the dev token is for tenant demo" [ "$(claim "$dev" "c.get('tenant')")" = demo ]
  open_session "$dev"
  post "$accept" "$json" "$(bearer "$dev")" "$sess" "$list_body"
  check "the dev token lists tools ($status)" [ "$status" = 200 ]
fi
minted=$("$toolgate" token --data-dir "$tmp/dev-data" --tenant devt --sub carol \
  --scope "tools:list tools:call" --ttl 1h --audience "$audience" 2>"$tmp/token.err")
rc=$?
check "toolgate token exits 0 ($rc: $(head -c 200 "$tmp/token.err"))" [ "$rc" = 0 ]
check "toolgate token prints just a JWT" is_jwt "$minted"
if is_jwt "$minted"; then
  check "its claims: tenant, sub, scope, aud" [ "$(claim "$minted" "(c.get('tenant'), c.get('sub'), c.get('scope'), c.get('aud'))")" = "('devt', 'carol', 'tools:list tools:call', '$audience')" ]
  check "--ttl 1h: exp is an hour away" [ "$(claim "$minted" "abs(c['exp'] - __import__('time').time() - 3600) < 60")" = True ]
  open_session "$minted"
  post "$accept" "$json" "$(bearer "$minted")" "$sess" "$list_body"
  check "the minted token lists tools ($status)" [ "$status" = 200 ]
  req GET /v1/workers "$minted"
  check "the minted token has only its scopes: /v1/workers 403 ($status)" [ "$status" = 403 ]
fi
default_aud=$("$toolgate" token --data-dir "$tmp/dev-data" --tenant devt --sub carol --scope tools:list 2>/dev/null)
check "toolgate token's default audience" [ "$(claim "$default_aud" "c.get('aud')" 2>/dev/null)" = http://127.0.0.1:8080/mcp ]
open_session "$default_aud"
check "which this gateway refuses: 401 ($status)" [ "$status" = 401 ]
stop_server

if [ "$failed" != 0 ]; then
  for log in "$tmp"/*.err; do
    echo "--- the end of ${log##*/}:" >&2
    tail -n 20 "$log" >&2
  done
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
