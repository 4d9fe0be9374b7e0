#!/usr/bin/env bash
# Sync state through the real daemon on the jail driver: a worker with
# "capabilities": ["state"] reads and writes http://toolgate.internal/v1/state/KEY
# with curl through its sandbox's proxy, and its cursor advances from one
# button run (one sandbox) to the next and across a restart of the daemon; a
# worker without the capability gets 403 CAPABILITY_DENIED; a value over
# state.max_value_bytes gets 413; another tenant's worker of the same name
# sees none of it; every write is a state.write record in GET /v1/audit with
# the key and no value.
#
#   tests/integration/test_state.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

state_url=http://toolgate.internal/v1/state
# state_worker DIR NAME CAPABILITIES SCRIPT: a sh worker in DIR/NAME.
state_worker() {
  mkdir -p "$1/$2"
  cat >"$1/$2/toolgate.json" <<JSON
{ "name": "$2", "version": "1.0.0", "description": "state test worker $2",
  "runtime": "sh", "entry": "main.sh", "inputSchema": { "type": "object" },
  "capabilities": $3, "limits": { "timeout_ms": 10000 } }
JSON
  printf '%s\n' "$4" >"$1/$2/main.sh"
}

# The worker's shell expands these, not ours.
# shellcheck disable=SC2016
sync_script='cat >/dev/null
prev=$(curl -s -f '"$state_url"'/cursor) || prev=0
new=$((prev + 1))
put=$(curl -s -o /dev/null -w "%{http_code}" -X PUT --data-binary "$new" '"$state_url"'/cursor)
curl -s -o /dev/null -X PUT -H "Content-Type: text/plain" --data-binary "note-value-zq81-$new" '"$state_url"'/note
keys=$(curl -s '"$state_url"')
printf "{\"prev\":%s,\"new\":%s,\"put\":%s,\"list\":%s}\n" "$prev" "$new" "$put" "$keys"'
state_worker "$tmp/workers" sync '["state"]' "$sync_script"

# shellcheck disable=SC2016
state_worker "$tmp/workers" nocap '[]' 'cat >/dev/null
get=$(curl -s -o /dev/null -w "%{http_code}" '"$state_url"'/cursor)
put=$(curl -s -o put.json -w "%{http_code}" -X PUT --data-binary stolen '"$state_url"'/cursor)
printf "{\"get\":%s,\"put\":%s,\"body\":%s}\n" "$get" "$put" "$(cat put.json)"'

# shellcheck disable=SC2016
state_worker "$tmp/workers" big '["state"]' 'cat >/dev/null
over=$(head -c 4097 /dev/zero | tr "\0" x | curl -s -o over.json -w "%{http_code}" -X PUT --data-binary @- '"$state_url"'/blob)
edge=$(head -c 4096 /dev/zero | tr "\0" x | curl -s -o /dev/null -w "%{http_code}" -X PUT --data-binary @- '"$state_url"'/blob)
bad=$(curl -s -o /dev/null -w "%{http_code}" -X PUT --data-binary x "'"$state_url"'/a%20b")
gone=$(curl -s -o /dev/null -w "%{http_code}" -X DELETE '"$state_url"'/blob)
again=$(curl -s -o /dev/null -w "%{http_code}" -X DELETE '"$state_url"'/blob)
post=$(curl -s -o /dev/null -w "%{http_code}" -X POST --data-binary x '"$state_url"'/blob)
printf "{\"over\":%s,\"body\":%s,\"edge\":%s,\"bad\":%s,\"gone\":%s,\"again\":%s,\"post\":%s}\n" \
  "$over" "$(cat over.json)" "$edge" "$bad" "$gone" "$again" "$post"'

cat >"$tmp/config.json" <<JSON
{ "listen": "127.0.0.1:0", "data_dir": "$tmp/data", "deploy": ["$tmp/workers"],
  "sandbox": { "driver": "jail" }, "pool": { "warm": 1 },
  "admission": { "tenant_rate": -1, "tool_rate": -1 },
  "state": { "max_value_bytes": 4096 } }
JSON
start_daemon gateway --config "$tmp/config.json"
mint() { # mint TENANT SUB SCOPE
  "$toolgate" token --data-dir "$tmp/data" --tenant "$1" --sub "$2" --scope "$3" --audience "$url"
}
trigger=$(mint demo tim "workers:trigger")
reader=$(mint demo rita "audit:read")

# run NAME TOKEN: POST /v1/workers/NAME/run into $tmp/body.
run() {
  status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $2" \
    --data-binary '{}' "$base/v1/workers/$1/run")
}
j() { python3 -c "import json; d = json.load(open('$tmp/body')); print($1)"; }
out() { j "d['structuredContent']$1"; }

# --- the cursor advances from one sandbox to the next ---
for i in 1 2 3; do
  run sync "$trigger"
  check "run $i answers 200" [ "$status" = 200 ]
  check "run $i read the cursor run $((i - 1)) left" [ "$(out "['prev']")" = $((i - 1)) ]
  check "run $i stored its own" [ "$(out "['new']")" = "$i" ]
done
check "the first PUT created the key (201), later ones replaced it (204)" [ "$(out "['put']")" = 204 ]
check "GET /v1/state lists the worker's keys" [ "$(out "['list']['keys']")" = "['cursor', 'note']" ]
check "with its usage and limits" [ "$(out "['list']['count']"),$(out "['list']['limits']['max_value_bytes']")" = 2,4096 ]
check "the store is its own file in the data dir" [ -s "$tmp/data/state.db" ]

# --- without the capability: 403, and nothing changes ---
run nocap "$trigger"
check "a worker without the capability: GET is 403" [ "$(out "['get']")" = 403 ]
check "and PUT is 403" [ "$(out "['put']")" = 403 ]
check "CAPABILITY_DENIED" [ "$(out "['body']['error']['code']")" = CAPABILITY_DENIED ]
check "the message names the manifest field" \
  [ "$(out "['body']['error']['message'].count('\"capabilities\": [\"state\"]')")" = 1 ]

# --- limits and refusals ---
run big "$trigger"
check "a value one byte over state.max_value_bytes: 413" [ "$(out "['over']")" = 413 ]
check "PAYLOAD_TOO_LARGE" [ "$(out "['body']['error']['code']")" = PAYLOAD_TOO_LARGE ]
check "a value of exactly the limit is stored" [ "$(out "['edge']")" = 201 ]
check "a key outside the URL alphabet: 400" [ "$(out "['bad']")" = 400 ]
check "DELETE: 204, then 404" [ "$(out "['gone']"),$(out "['again']")" = 204,404 ]
check "POST: 405" [ "$(out "['post']")" = 405 ]

# --- another tenant's worker of the same name sees none of it ---
other_admin=$(mint other olga "admin")
mkdir -p "$tmp/other"
state_worker "$tmp/other" sync '["state"]' "$sync_script"
check "another tenant deploys its own sync" \
  "$toolgate" deploy "$tmp/other/sync" --url "$base" --token "$other_admin" >/dev/null
run sync "$other_admin"
check "its first run finds no cursor" [ "$(out "['prev']")" = 0 ]
run sync "$trigger"
check "and demo's cursor is untouched" [ "$(out "['prev']")" = 3 ]

# --- the audit log: every write, the key, never the value ---
status=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $reader" \
  "$base/v1/audit?kind=state.write&tool=sync&limit=1000")
check "GET /v1/audit?kind=state.write answers" [ "$status" = 200 ]
check "two records per run of sync (cursor and note), four runs" [ "$(j "len(d['records'])")" = 8 ]
check "each names the key, not the value" \
  [ "$(j "sorted(set((r['status'], r['body']['key'], r['body']['method']) for r in d['records']))")" = "[('set', 'cursor', 'PUT'), ('set', 'note', 'PUT')]" ]
check "with the call's trigger, principal and call id" \
  [ "$(j "all(r['trigger_kind'] == 'button' and r['principal'] == 'demo/tim' and len(r['call_id']) == 32 for r in d['records'])")" = True ]
check "and only key, method, bytes, created in the body" \
  [ "$(j "sorted(set(k for r in d['records'] for k in r['body']))")" = "['bytes', 'created', 'key', 'method']" ]
status=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $reader" \
  "$base/v1/audit?kind=state.write&tool=nocap")
check "the refused write is on the record" \
  [ "$(j "[(r['status'], r['error_code'], r['body']['key']) for r in d['records']]")" = "[('refused', 'CAPABILITY_DENIED', 'cursor')]" ]
status=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $reader" \
  "$base/v1/audit?kind=state.write&tool=big&status=refused")
check "so are the refused oversize value, the bad key and the second DELETE" \
  [ "$(j "sorted(r['error_code'] for r in d['records'])")" = "['BAD_REQUEST', 'NOT_FOUND', 'PAYLOAD_TOO_LARGE']" ]
check "no value is in the audit log's files" \
  bash -c "! grep -aq note-value-zq81 '$tmp/data/audit.db' '$tmp/data/audit.db-wal'"
check "the values are in the state store" grep -aq note-value-zq81 "$tmp/data/state.db" "$tmp/data/state.db-wal"

# --- a restart keeps the state ---
kill "$server_pid" && wait "$server_pid"
server_pid=
start_daemon gateway --config "$tmp/config.json"
trigger=$(mint demo tim "workers:trigger")
run sync "$trigger"
check "after a restart the cursor continues" [ "$(out "['prev']"),$(out "['new']")" = 4,5 ]

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
