#!/usr/bin/env bash
# Per-principal credentials through the real daemon to a real HTTPS upstream
# on 127.0.0.1 (tests/integration/upstream.py): a tenant value and Alice's
# own value of CRM_TOKEN; Alice stores hers herself (principal=me, with
# tools:call only) and may not touch Bob's. Under a "required" rule Alice's
# call reaches the upstream with her value, and Bob's (he has none) fails
# CREDENTIAL_MISSING naming the secret, retryable, with nothing sent: the
# upstream never sees the tenant's value on that path. Once Bob stores his
# own, his call goes with it. Under "preferred" Bob's call falls back to the
# tenant's value; a caller's own value pasted into the arguments is
# redacted in call.begin. A webhook runs as the principal that created it
# and a schedule as the principal that deployed its version. The audit log says
# whose credential each call used; no value appears in a result, a list,
# the audit log or the gateway's output.
#
#   tests/integration/test_user_credentials.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

start_upstream 600

tag=$$-$RANDOM
shared="shared-crm-canary-$tag"
alice_value="alice-crm-canary-$tag"
bob_value="bob-crm-canary-$tag"

# crm_worker NAME PREFIX PER_PRINCIPAL [TRIGGERS]: one GET to /PREFIX/ of the
# upstream, with the rule's CRM_TOKEN; answers the status and the echo.
crm_worker() {
  mkdir -p "$tmp/workers/$1"
  cat >"$tmp/workers/$1/toolgate.json" <<JSON
{ "name": "$1", "version": "1.0.0", "description": "asks the CRM as the caller",
  "runtime": "python3", "entry": "main.py",
  "inputSchema": { "type": "object", "properties": { "note": { "type": "string" } },
                   "additionalProperties": false },
  "limits": { "timeout_ms": 10000 },
  "egress": [ { "origin": "https://localhost:$port", "methods": ["GET"], "path_prefix": "/$2/",
      "inject": { "header": "Authorization", "secret": "CRM_TOKEN", "format": "Bearer {}",
                  "per_principal": "$3" } } ]${4:+, \"triggers\": $4} }
JSON
  cat >"$tmp/workers/$1/main.py" <<PY
import json, sys, urllib.request, urllib.error
sys.stdin.read()
try:
    with urllib.request.urlopen("http://localhost:$port/$2/contacts", timeout=8) as r:
        print(json.dumps({"status": r.status, "body": r.read().decode(),
                          "echo": r.headers.get("X-Echo-Authorization")}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "body": e.read().decode()}))
PY
}
crm_worker crm_required req required
crm_worker crm_preferred pref preferred
crm_worker crm_scheduled sched required '{ "schedule": "@every 1s", "button": false }'

cat >"$tmp/config.json" <<JSON
{ "listen": "127.0.0.1:0", "data_dir": "$tmp/data", "pool": { "warm": 1 },
  "admission": { "tenant_rate": -1, "tool_rate": -1 },
  "egress": { "ca_file": "$tmp/ca.pem" } }
JSON
start_daemon gateway --config "$tmp/config.json"
mint() { # mint SUB SCOPE
  "$toolgate" token --data-dir "$tmp/data" --tenant acme --sub "$1" --scope "$2" --audience "$url"
}
ops=$(mint ops admin)
alice=$(mint alice "tools:list tools:call workers:deploy")
bob=$(mint bob "tools:list tools:call")
lister=$(mint lee "tools:list")

req() { # req METHOD PATH TOKEN [BODY]
  local data=()
  [ $# -ge 4 ] && data=(--data-binary "$4")
  status=$(curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X "$1" \
    -H "Authorization: Bearer $3" "${data[@]}" "$base$2")
}
j() { python3 -c "import json; d = json.load(open('$tmp/body')); print($1)"; }
# mcp_call TOKEN NAME [ARGUMENTS]: a session of the token's principal, then
# tools/call.
mcp_call() {
  post "$accept" "$json" "Authorization: Bearer $1" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}'
  sid=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p' "$tmp/headers")
  post "$accept" "$json" "Authorization: Bearer $1" "Mcp-Session-Id: $sid" \
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"$2\",\"arguments\":${3:-{\}}}}"
  cp "$tmp/body" "$tmp/last_call"
}
result() { jq_body "d['result']$1"; }
# auths PREFIX: the Authorization headers the upstream got on /PREFIX/, one a line.
auths() {
  python3 -c "
import json
for l in open('$tmp/upstream.log'):
    r = json.loads(l)
    if r['path'].startswith('/$1/'):
        print(dict(r['headers']).get('Authorization', '-'))"
}
# sent_with VALUE PREFIX...: how many requests to those paths held VALUE.
sent_with() {
  python3 - "$tmp/upstream.log" "$@" <<'EOF'
import json, sys
log, value, prefixes = sys.argv[1], sys.argv[2], tuple(f"/{p}/" for p in sys.argv[3:])
print(sum(1 for l in open(log) if json.loads(l)["path"].startswith(prefixes) and value in l))
EOF
}
# call_end: the call.end record of the last MCP call.
call_end() {
  local id
  id=$(python3 -c "
import json
text = open('$tmp/last_call').read()
if text.startswith('event:') or text.startswith('data:'):
    text = [l[5:] for l in text.splitlines() if l.startswith('data:')][-1]
print(json.loads(text)['result']['_meta']['dev.toolgate/callId'])")
  req GET "/v1/audit?call_id=$id&kind=call.end" "$ops"
}

for w in crm_required crm_preferred crm_scheduled; do
  check "alice deploys $w" "$toolgate" deploy "$tmp/workers/$w" --url "$base" --token "$alice" \
    >>"$tmp/cli.out" 2>&1
done

# --- storing: the tenant's value, Alice's own; Bob may not write hers ---
req PUT /v1/secrets/CRM_TOKEN "$ops" "$shared"
check "the tenant value is stored" [ "$status" = 201 ]
printf '%s' "$alice_value" >"$tmp/alice_value"
check "alice stores her own with tools:call alone" \
  "$toolgate" secret set CRM_TOKEN --principal me --url "$base" --token "$alice" \
  <"$tmp/alice_value" >>"$tmp/cli.out"
req PUT "/v1/secrets/CRM_TOKEN?principal=alice" "$bob" "bob-writes-alice"
check "bob may not set alice's: 403" [ "$status" = 403 ]
req DELETE "/v1/secrets/CRM_TOKEN?principal=alice" "$bob"
check "nor delete it: 403" [ "$status" = 403 ]
req PUT /v1/secrets/CRM_TOKEN "$bob" "bob-writes-tenant"
check "nor the tenant's: 403" [ "$status" = 403 ]
req PUT "/v1/secrets/CRM_TOKEN?principal=me" "$lister" "lister-own"
check "a token without tools:call may not set even its own: 403" [ "$status" = 403 ]
req PUT "/v1/secrets/CRM_TOKEN?principal=bad%0Aname" "$ops" "x"
check "a principal with a control character: 400" [ "$status" = 400 ]
req GET /v1/secrets "$ops"
check "the list shows the tenant's and alice's entry" \
  [ "$(j "[(s['name'], s.get('principal')) for s in d['secrets']]")" = "[('CRM_TOKEN', None), ('CRM_TOKEN', 'alice')]" ]
req GET "/v1/secrets?principal=me" "$alice"
check "alice lists her own" [ "$(j "[(s['name'], s['principal']) for s in d['secrets']]")" = "[('CRM_TOKEN', 'alice')]" ]

# --- required: Alice's own value; Bob's call fails, nothing sent ---
mcp_call "$alice" crm_required
check "alice's call succeeds" [ "$(result "['structuredContent']['status']")" = 200 ]
check "the upstream got alice's value" [ "$(auths req)" = "Bearer $alice_value" ]
check "the echo reaching the worker is redacted" [ "$(result "['structuredContent']['echo']")" = "[REDACTED]" ]
call_end
check "call.end says the principal's credential went" \
  [ "$(j "d['records'][0]['body']['egress']['credential']")" = principal ]
check "and names alice" [ "$(j "d['records'][0]['principal']")" = acme/alice ]

mcp_call "$bob" crm_required
check "bob's call is a tool error" [ "$(result "['isError']")" = True ]
check "CREDENTIAL_MISSING" [ "$(result "['structuredContent']['error']['code']")" = CREDENTIAL_MISSING ]
check "naming the secret" [ "$(result "['structuredContent']['error']['details']['secret']")" = CRM_TOKEN ]
check "and the principal" [ "$(result "['structuredContent']['error']['details']['principal']")" = bob ]
check "retryable" [ "$(result "['structuredContent']['error']['retryable']")" = True ]
check "telling what to do" grep -q "connect the account" "$tmp/body"
check "bob's request never reached the upstream" [ "$(auths req | wc -l)" = 1 ]
check "the shared value never went where the rule requires the caller's" \
  [ "$(sent_with "$shared" req sched)" = 0 ]
call_end
check "call.end records the failure" [ "$(j "d['records'][0]['error_code']")" = CREDENTIAL_MISSING ]
req GET "/v1/audit?call_id=$(j "d['records'][0]['call_id']")&kind=egress" "$ops"
check "the refused request is an egress record" \
  [ "$(j "[(r['status'], r['body']['code']) for r in d['records']]")" = "[('denied', 'CREDENTIAL_MISSING')]" ]

# Bob connects his account, and the same call goes with his value.
printf '%s' "$bob_value" >"$tmp/bob_value"
check "bob stores his own" \
  "$toolgate" secret set CRM_TOKEN --principal bob --url "$base" --token "$bob" \
  <"$tmp/bob_value" >>"$tmp/cli.out"
mcp_call "$bob" crm_required
check "bob's call then succeeds" [ "$(result "['structuredContent']['status']")" = 200 ]
check "with bob's value" [ "$(auths req | tail -n 1)" = "Bearer $bob_value" ]
check "bob deletes his own" "$toolgate" secret delete CRM_TOKEN --principal me --url "$base" \
  --token "$bob" >>"$tmp/cli.out"

# --- preferred: the caller's own when there is one, else the tenant's ---
mcp_call "$bob" crm_preferred
check "bob's preferred call succeeds" [ "$(result "['structuredContent']['status']")" = 200 ]
check "with the tenant's value" [ "$(auths pref)" = "Bearer $shared" ]
call_end
check "call.end says the tenant's credential went" \
  [ "$(j "d['records'][0]['body']['egress']['credential']")" = tenant ]
# Alice pastes her own value into the arguments: the log keeps it redacted.
mcp_call "$alice" crm_preferred "{\"note\":\"$alice_value\"}"
check "alice's preferred call goes with hers" [ "$(auths pref | tail -n 1)" = "Bearer $alice_value" ]
id=$(jq_body "d['result']['_meta']['dev.toolgate/callId']")
req GET "/v1/audit?call_id=$id&kind=call.begin" "$ops"
check "her value in the arguments is redacted in call.begin" \
  [ "$(j "d['records'][0]['body']['arguments']['note']")" = "[REDACTED]" ]

# --- a webhook runs as the principal that created it ---
sign() { # sign SECRET FILE
  python3 - "$1" "$(date +%s)" "$2" <<'EOF'
import hashlib, hmac, sys
secret, t, path = sys.argv[1], sys.argv[2], sys.argv[3]
mac = hmac.new(secret.encode(), t.encode() + b'.' + open(path, 'rb').read(), hashlib.sha256).hexdigest()
print(f't={t},v1={mac}')
EOF
}
echo '{}' >"$tmp/hook.json"
fire() { # fire ID SECRET
  status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -H "Toolgate-Signature: $(sign "$2" "$tmp/hook.json")" --data-binary "@$tmp/hook.json" \
    "$base/v1/hooks/$1")
}
req POST /v1/workers/crm_required/hooks "$alice" ''
check "alice creates a hook" [ "$status" = 201 ]
fire "$(j "d['id']")" "$(j "d['secret']")"
check "alice's hook runs" [ "$(j "d['structuredContent']['status']")" = 200 ]
check "with alice's value" [ "$(auths req | tail -n 1)" = "Bearer $alice_value" ]
req POST /v1/workers/crm_required/hooks "$ops" ''
n=$(auths req | wc -l)
fire "$(j "d['id']")" "$(j "d['secret']")"
check "a hook of ops (no value of its own) fails CREDENTIAL_MISSING" \
  [ "$(j "d['structuredContent']['error']['code']")" = CREDENTIAL_MISSING ]
check "and sends nothing" [ "$(auths req | wc -l)" = "$n" ]
req GET "/v1/runs?worker=crm_required&trigger=webhook" "$ops"
check "the webhook runs are their creators'" \
  [ "$(j "sorted(r['principal'] for r in d['runs'])")" = "['acme/alice', 'acme/ops']" ]

# --- a schedule runs as the principal that deployed its version ---
for _ in $(seq 100); do
  [ -n "$(auths sched)" ] && break
  sleep 0.1
done
check "the scheduled run reached the upstream with alice's value" \
  [ "$(auths sched | sort -u)" = "Bearer $alice_value" ]
req GET "/v1/runs?worker=crm_scheduled" "$ops"
check "as alice, a schedule run" \
  [ "$(j "sorted(set((r['principal'], r['trigger']) for r in d['runs']))")" = "[('acme/alice', 'schedule')]" ]
req DELETE /v1/workers/crm_scheduled "$ops"

check "still, no request where the rule requires the caller's own carried the shared value" \
  [ "$(sent_with "$shared" req sched)" = 0 ]
check "while it did go where the rule prefers it" [ "$(sent_with "$shared" pref)" = 1 ]
for v in "$alice_value" "$bob_value"; do
  check "no value in what the CLI printed" bash -c "! grep -q -e '$v' '$tmp/cli.out'"
done

# --- no value anywhere it must not be ---
for v in "$shared" "$alice_value" "$bob_value"; do
  check "no value in the gateway's output" bash -c "! grep -q -e '$v' '$tmp/gateway.out' '$tmp/gateway.err'"
  check "no value in the audit log" bash -c "! grep -aq -e '$v' '$tmp/data/audit.db' $(ls "$tmp"/data/audit.db-wal 2>/dev/null)"
  check "no value in the runs history" bash -c "! grep -aq -e '$v' '$tmp/data/runs.db' $(ls "$tmp"/data/runs.db-wal 2>/dev/null)"
  check "no value in the secret store's files" bash -c "! grep -aq -e '$v' '$tmp/data/secrets.db' $(ls "$tmp"/data/secrets.db-wal 2>/dev/null)"
done

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
