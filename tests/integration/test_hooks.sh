#!/usr/bin/env bash
# Webhook triggers through the real daemon: an admin creates a hook for a
# worker (the secret shown once, never listed); a request signed with
# Toolgate-Signature (HMAC-SHA256 of "t.body", computed here with Python's
# hmac) runs the worker as a "webhook" run; a bad or missing signature, a
# wrong secret, a timestamp outside the 5-minute window and a replay are
# 401, each an auth.denied record; a replay stays refused after a restart;
# the run's principal is the hook's creator;
# a body mapping turns a CRM's payload into the worker's arguments and a
# missing required field is the schema's INVALID_ARGUMENTS; scopes, tenants
# and deletes are enforced.
#
#   tests/integration/test_hooks.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

worker echo 10000 'cat; echo'
mkdir -p "$tmp/workers/contact"
cat >"$tmp/workers/contact/toolgate.json" <<'JSON'
{ "name": "contact", "version": "1.0.0", "description": "echoes a contact",
  "runtime": "sh", "entry": "main.sh",
  "inputSchema": { "type": "object", "required": ["email", "id"],
                   "properties": { "email": { "type": "string" }, "id": { "type": "integer" } },
                   "additionalProperties": false },
  "limits": { "timeout_ms": 10000 } }
JSON
printf '%s\n' 'cat; echo' >"$tmp/workers/contact/main.sh"

cat >"$tmp/config.json" <<JSON
{ "listen": "127.0.0.1:0", "data_dir": "$tmp/data", "deploy": ["$tmp/workers"],
  "admission": { "tenant_rate": -1, "tool_rate": -1 } }
JSON
start_daemon gateway --config "$tmp/config.json"
mint() { # mint TENANT SUB SCOPE
  "$toolgate" token --data-dir "$tmp/data" --tenant "$1" --sub "$2" --scope "$3" --audience "$url"
}
tokens() {
  admin=$(mint demo ann "admin")
  deployer=$(mint demo dora "workers:deploy")
  trigger=$(mint demo tim "workers:trigger")
  reader=$(mint demo rita "audit:read")
  other=$(mint other olga "admin")
}
tokens

# req METHOD PATH TOKEN [BODY]: an admin request into $tmp/body.
req() {
  local data=()
  [ $# -ge 4 ] && data=(--data-binary "$4")
  status=$(curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X "$1" \
    -H "Authorization: Bearer $3" "${data[@]}" "$base$2")
}
matches() { [[ $1 =~ $2 ]]; } # matches STRING REGEX
lacks() { ! grep -rqa "$@"; }   # lacks [GREP ARGS...]: no match
j() { python3 -c "import json; d = json.load(open('$tmp/body')); print($1)"; }
# sign SECRET T BODY_FILE: the Toolgate-Signature header's value.
sign() {
  python3 - "$1" "$2" "$3" <<'EOF'
import hashlib, hmac, sys
secret, t, path = sys.argv[1], sys.argv[2], sys.argv[3]
body = open(path, 'rb').read()
mac = hmac.new(secret.encode(), t.encode() + b'.' + body, hashlib.sha256).hexdigest()
print(f't={t},v1={mac}')
EOF
}
# hook ID BODY_FILE [HEADER...]: POST the file's bytes to /v1/hooks/ID, no token.
hook() {
  local id=$1 file=$2
  shift 2
  local args=()
  for h in "$@"; do args+=(-H "$h"); done
  status=$(curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X POST "${args[@]}" \
    -H 'Content-Type: application/json' --data-binary "@$file" "$base/v1/hooks/$id")
}
# signed ID SECRET BODY_FILE [T]: a request signed now (or at T).
signed() {
  local t=${4:-$(date +%s)}
  hook "$1" "$3" "Toolgate-Signature: $(sign "$2" "$t" "$3")"
}
wait_runs() { # wait_runs N QUERY: until GET /v1/runs?QUERY lists N runs
  for _ in $(seq 50); do
    req GET "/v1/runs?$2" "$reader"
    [ "$status" = 200 ] && [ "$(j "len(d['runs'])")" -ge "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

# --- creating, listing ---
req POST /v1/workers/echo/hooks "$deployer" ''
check "workers:deploy creates a hook: 201" [ "$status" = 201 ]
id=$(j "d['id']")
secret=$(j "d['secret']")
check "its id is hk_ and 32 hex digits" matches "$id" '^hk_[0-9a-f]{32}$'
check "its secret is whsec_ and 64 hex digits" matches "$secret" '^whsec_[0-9a-f]{64}$'
check "with its url" [ "$(j "d['url']")" = "/v1/hooks/$id" ]
check "its worker" [ "$(j "d['worker']")" = echo ]
check "no mapping" [ "$(j "d['mapping']")" = None ]
check "and its creation time" [ "$(j "d['created_at'].endswith('Z')")" = True ]
req GET /v1/workers/echo/hooks "$deployer"
check "listing answers 200" [ "$status" = 200 ]
check "with the hook" [ "$(j "[h['id'] for h in d['hooks']]")" = "['$id']" ]
check "and no secret" [ "$(j "'secret' in d['hooks'][0]")" = False ]
check "anywhere" lacks "${secret#whsec_}" "$tmp/body"
req POST /v1/workers/echo/hooks "$trigger" ''
check "workers:trigger cannot create one: 403" [ "$status" = 403 ]
req GET /v1/workers/echo/hooks "$reader"
check "audit:read cannot list them: 403" [ "$status" = 403 ]
req POST /v1/workers/nope/hooks "$deployer" ''
check "a hook for an unknown worker is 404" [ "$status" = 404 ]
req POST /v1/workers/echo/hooks "$deployer" '{"mapping": {"email": "data/email"}}'
check "a mapping that is not JSON Pointers is 400" [ "$status" = 400 ]
req POST /v1/workers/echo/hooks "$deployer" '{"maping": {}}'
check "an unknown field is 400" [ "$status" = 400 ]
req PUT /v1/workers/echo/hooks "$deployer" ''
check "PUT is 405" [ "$status" = 405 ]

# --- tenants ---
req GET /v1/workers/echo/hooks "$other"
check "another tenant cannot list the hooks (no such worker there)" [ "$status" = 404 ]
req DELETE "/v1/workers/echo/hooks/$id" "$other"
check "nor delete one" [ "$status" = 404 ]
req GET /v1/workers/echo/hooks "$deployer"
check "which still stands" [ "$(j "len(d['hooks'])")" = 1 ]

# --- a signed request runs the worker ---
printf '%s' '{"msg":"hello","n":7}' >"$tmp/hello.json"
signed "$id" "$secret" "$tmp/hello.json"
check "a good signature runs the worker: 200" [ "$status" = 200 ]
check "with the worker's result" [ "$(j "d['structuredContent']")" = "{'msg': 'hello', 'n': 7}" ]
call_id=$(j "d['call_id']")
check "and its call id" [ ${#call_id} = 32 ]
wait_runs 1 "trigger=webhook"
check "the run is in the history as a webhook run" \
  [ "$(j "[r['call_id'] for r in d['runs']]")" = "['$call_id']" ]
# A hook's calls run as the principal that created it (dora, the deployer).
check "of the principal that created the hook" [ "$(j "d['runs'][0]['principal']")" = "demo/dora" ]
check "for its worker" [ "$(j "d['runs'][0]['worker']")" = echo ]
printf '%s' '' >"$tmp/empty.json"
signed "$id" "$secret" "$tmp/empty.json"
check "an empty body runs with {}" [ "$(j "d['structuredContent']")" = "{}" ]

# --- refusals, each 401 and recorded ---
denied=0
refused() { # refused DESCRIPTION: the last answer was 401 UNAUTHORIZED
  check "$1: 401" [ "$status" = 401 ]
  check "$1: UNAUTHORIZED" [ "$(j "d['error']['code']")" = UNAUTHORIZED ]
  denied=$((denied + 1))
}
printf '%s' '{"msg":"replayed"}' >"$tmp/replay.json"
t_replay=$(date +%s)
replay_sig=$(sign "$secret" "$t_replay" "$tmp/replay.json")
hook "$id" "$tmp/replay.json" "Toolgate-Signature: $replay_sig"
check "a fresh signature passes" [ "$status" = 200 ]
hook "$id" "$tmp/replay.json" "Toolgate-Signature: $replay_sig"
refused "a replay of an accepted request"
check "saying so" [ "$(j "d['error']['message']")" = "this signature was already used" ]
hook "$id" "$tmp/hello.json" "Toolgate-Signature: t=$(date +%s),v1=$(printf '0%.0s' $(seq 64))"
refused "a bad signature"
check "saying none matches" [ "$(j "'no v1 signature matches' in d['error']['message']")" = True ]
signed "$id" "whsec_$(printf 'ab%.0s' $(seq 32))" "$tmp/hello.json"
refused "a wrong secret"
hook "$id" "$tmp/hello.json"
refused "no Toolgate-Signature header"
check "saying it is missing" [ "$(j "'missing' in d['error']['message']")" = True ]
hook "$id" "$tmp/hello.json" "Toolgate-Signature: garbage"
refused "a malformed header"
signed "$id" "$secret" "$tmp/hello.json" $(($(date +%s) - 301))
refused "a timestamp 301 s old"
check "saying it is outside the window" [ "$(j "'300 seconds' in d['error']['message']")" = True ]
# Ahead by more than the window plus the seconds the gateway's clock may
# move on before it checks: 301 would pass as 300 when a second ticks.
signed "$id" "$secret" "$tmp/hello.json" $(($(date +%s) + 310))
refused "a timestamp 310 s ahead"
printf '%s' '{"msg":"tampered"}' >"$tmp/tampered.json"
hook "$id" "$tmp/tampered.json" "Toolgate-Signature: $replay_sig"
refused "a body changed after signing"
signed "$id" "$secret" "$tmp/hello.json" $(($(date +%s) - 250))
check "a timestamp within the window passes" [ "$status" = 200 ]

req GET "/v1/audit?kind=auth.denied&principal=hook:$id&limit=1000" "$reader"
check "each refusal is an auth.denied record" [ "$(j "len(d['records'])")" = "$denied" ]
check "in the hook's tenant, for its worker" \
  [ "$(j "all(r['tenant'] == 'demo' and r['tool'] == 'echo' for r in d['records'])")" = True ]
check "with error code UNAUTHORIZED" \
  [ "$(j "all(r['error_code'] == 'UNAUTHORIZED' for r in d['records'])")" = True ]
check "naming the hook and the reason" \
  [ "$(j "all(r['body']['hook'] == '$id' and r['body']['reason'] for r in d['records'])")" = True ]
check "one says already used" \
  [ "$(j "sum(r['body']['reason'] == 'this signature was already used' for r in d['records'])")" -ge 1 ]

# --- unknown hooks, methods ---
hook "hk_$(printf '0%.0s' $(seq 32))" "$tmp/hello.json" "Toolgate-Signature: $replay_sig"
check "an unknown hook is 404" [ "$status" = 404 ]
check "saying only that" [ "$(j "d['error']['message']")" = "no such hook" ]
hook "not-a-hook" "$tmp/hello.json"
check "a malformed id is 404 too" [ "$status" = 404 ]
status=$(curl -s -o "$tmp/body" -w '%{http_code}' "$base/v1/hooks/$id")
check "GET on a hook is 405" [ "$status" = 405 ]
printf '%s' 'not json' >"$tmp/notjson.json"
signed "$id" "$secret" "$tmp/notjson.json"
check "a signed body that is not JSON is 400" [ "$status" = 400 ]
printf '%s' '[1,2]' >"$tmp/array.json"
signed "$id" "$secret" "$tmp/array.json"
check "without a mapping, a body that is not an object is 400" [ "$status" = 400 ]

# --- a body mapping: a CRM's own payload ---
req POST /v1/workers/contact/hooks "$admin" \
  '{"mapping": {"email": "/data/object/email", "id": "/data/object/id"}}'
check "a hook with a mapping: 201" [ "$status" = 201 ]
crm_id=$(j "d['id']")
crm_secret=$(j "d['secret']")
check "its mapping is answered" [ "$(j "d['mapping']['email']")" = /data/object/email ]
printf '%s' '{"type":"contact.updated","data":{"object":{"email":"a@b.c","id":42,"name":"Ann"}}}' \
  >"$tmp/crm.json"
signed "$crm_id" "$crm_secret" "$tmp/crm.json"
check "the mapped call runs: 200" [ "$status" = 200 ]
check "with exactly the mapped arguments" \
  [ "$(j "d['structuredContent']")" = "{'email': 'a@b.c', 'id': 42}" ]
check "not an error" [ "$(j "d.get('isError', False)")" = False ]
printf '%s' '{"type":"contact.updated","data":{"object":{"email":"a@b.c"}}}' >"$tmp/crm-short.json"
signed "$crm_id" "$crm_secret" "$tmp/crm-short.json"
check "a body missing a mapped required field: 200" [ "$status" = 200 ]
check "is a tool error" [ "$(j "d['isError']")" = True ]
check "INVALID_ARGUMENTS from the schema" \
  [ "$(j "d['structuredContent']['error']['code']")" = INVALID_ARGUMENTS ]
check "naming the missing field" [ "$(j "'id' in json.dumps(d['structuredContent']['error']['details'])")" = True ]
req GET /v1/workers/contact/hooks "$reader"
check "listing the other worker's hooks needs workers:deploy" [ "$status" = 403 ]
req GET /v1/workers/contact/hooks "$deployer"
check "it lists its hook with the mapping" [ "$(j "d['hooks'][0]['mapping']['id']")" = /data/object/id ]

# --- a restart: spent signatures stay spent ---
kill "$server_pid"
wait "$server_pid" 2>/dev/null
server_pid=
start_daemon gateway2 --config "$tmp/config.json"
tokens
hook "$id" "$tmp/replay.json" "Toolgate-Signature: $replay_sig"
check "after a restart the replay is still 401" [ "$status" = 401 ]
check "as already used" [ "$(j "d['error']['message']")" = "this signature was already used" ]
printf '%s' '{"msg":"after the restart"}' >"$tmp/after.json"
signed "$id" "$secret" "$tmp/after.json"
check "and a new signature still runs" [ "$status" = 200 ]

# --- records of changes; deleting ---
req GET "/v1/audit?kind=hook&limit=1000" "$reader"
check "creations are recorded (kind hook, created)" \
  [ "$(j "sorted(r['body']['id'] for r in d['records'] if r['status'] == 'created')")" = "$(python3 -c "print(sorted(['$id', '$crm_id']))")" ]
check "with the worker" [ "$(j "all(r['tool'] == r['body']['worker'] for r in d['records'])")" = True ]
check "and never the secret" lacks "${secret#whsec_}" "$tmp/body"
req DELETE "/v1/workers/echo/hooks/$id" "$deployer"
check "deleting a hook: 204" [ "$status" = 204 ]
signed "$id" "$secret" "$tmp/hello.json"
check "then its requests are 404" [ "$status" = 404 ]
req DELETE "/v1/workers/echo/hooks/$id" "$deployer"
check "deleting it again is 404" [ "$status" = 404 ]
req GET "/v1/audit?kind=hook&status=deleted" "$reader"
check "the delete is recorded" [ "$(j "[r['body']['id'] for r in d['records']]")" = "['$id']" ]
req DELETE /v1/workers/contact "$admin"
check "deleting a worker" [ "$status" = 204 ]
signed "$crm_id" "$crm_secret" "$tmp/crm.json"
check "takes its hooks with it" [ "$status" = 404 ]

# --- at rest ---
check "no secret in any file of the data dir" \
  lacks -e "${secret#whsec_}" -e "${crm_secret#whsec_}" "$tmp/data"
check "hooks.db is private" [ "$(stat -c %a "$tmp/data/hooks.db")" = 600 ]

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
