#!/usr/bin/env bash
# Deprecation and retirement, through the real daemon on 127.0.0.1: a
# deprecated tool keeps running until its sunset, shows the deprecation first
# in its description and in _meta (tools/list, 2025 and 2026-07-28), and its
# results and audit records carry the notice; past the sunset its calls fail
# TOOL_RETIRED (not retryable, naming the replacement) without running, from
# an agent, a button or a webhook alike; undoing the deprecation lets calls
# run again. Then the same across two replicas on one PostgreSQL.
#
#   tests/integration/test_deprecation.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

admin() { # admin METHOD PATH [BODY]: status in $status, body in $tmp/body
  status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X "$1" -H "$json" ${3:+--data-binary "$3"} "$base$2")
}

listed() { # listed EXPR: EXPR over the tool "old" as tools/list shows it (t)
  post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":3,"method":"tools/list"}'
  jq_body "(lambda t: $1)([t for t in d['result']['tools'] if t['name']=='old'][0])"
}

# The worker leaves a mark in its folder-less world: it answers who ran.
worker old 10000 'cat >/dev/null; echo "{\"ran\":true}"'
start_gateway --warm 1
initialize
"$toolgate" deploy "$tmp/workers/old" --url "$base" >"$tmp/deploy.out" 2>&1
check "the worker deploys" [ $? = 0 ]
hash_before=$(listed "t['_meta']['dev.toolgate/definitionHash']")
check "an undeprecated tool has no deprecation in tools/list" \
  [ "$(listed "'dev.toolgate/deprecation' in t['_meta']")" = False ]

# --- deprecated, sunset ahead ---
"$toolgate" deprecate --help >"$tmp/help.out"
check "deprecate --help prints its usage" grep -q -- "--sunset DATE" "$tmp/help.out"
call_pinned() { # call_pinned HASH: tools/call old pinned to HASH
  post "$accept" "$json" "$s" "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"old\",\"arguments\":{},\"_meta\":{\"dev.toolgate/definitionHash\":\"$1\"}}}"
}
curl -s -N --max-time 4 -H 'Accept: text/event-stream' -H "$s" "$url" >"$tmp/stream" &
stream_pid=$!
sleep 0.5
"$toolgate" deprecate old --sunset 2099-01-31 --message "use new_tool instead" \
  --replacement new_tool --url "$base" >"$tmp/body"
check "toolgate deprecate succeeds" [ $? = 0 ]
wait "$stream_pid"
check "the session is told to list its tools again" \
  [ "$(grep -c 'notifications/tools/list_changed' "$tmp/stream")" = 1 ]
check "its answer shows the deprecation" \
  [ "$(jq_body "d['deprecation'] == {'sunset': '2099-01-31', 'message': 'use new_tool instead', 'replacement': 'new_tool'} and d['versions_changed'] == 1")" = True ]
check "the description starts with the deprecation" \
  [ "$(listed "t['description']")" = "$(printf 'Deprecated: use new_tool instead (sunset 2099-01-31)\nintegration test worker old')" ]
check "_meta carries the deprecation" \
  [ "$(listed "t['_meta']['dev.toolgate/deprecation'] == {'sunset': '2099-01-31', 'message': 'use new_tool instead', 'replacement': 'new_tool'}")" = True ]
check "the definition hash changed" [ "$(listed "t['_meta']['dev.toolgate/definitionHash']")" != "$hash_before" ]
post "$json" "$accept" "MCP-Protocol-Version: 2026-07-28" "Mcp-Method: tools/list" \
  '{"jsonrpc":"2.0","id":5,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}'
check "2026-07-28 tools/list shows it too" \
  [ "$(jq_body "[t for t in d['result']['tools'] if t['name']=='old'][0]['description'].startswith('Deprecated: use new_tool instead')")" = True ]
call_pinned "$hash_before"
check "a call pinned to the hash listed before is refused DEFINITION_CHANGED" \
  [ "$(jq_body "d['result']['structuredContent']['error']['code']")" = DEFINITION_CHANGED ]
admin GET /v1/workers
check "GET /v1/workers shows it" [ "$(jq_body "d['workers'][0]['deprecation']['sunset']")" = 2099-01-31 ]
admin GET /v1/workers/old
check "GET /v1/workers/{name} shows it" \
  [ "$(jq_body "d['deprecation']['replacement'] == 'new_tool' and d['versions'][0]['deprecation']['sunset'] == '2099-01-31'")" = True ]

call old
check "a call before the sunset runs" [ "$(jq_body "d['result']['structuredContent']")" = "{'ran': True}" ]
check "and its result carries the notice in _meta" \
  [ "$(jq_body "d['result']['_meta']['dev.toolgate/deprecation']['replacement']")" = new_tool ]
id=$(jq_body "d['result']['_meta']['dev.toolgate/callId']")
admin GET "/v1/audit?call_id=$id"
check "both audit records carry the notice" \
  [ "$(jq_body "[r['kind'] for r in d['records'] if r['body'].get('deprecation', {}).get('replacement') == 'new_tool']")" = "['call.end', 'call.begin']" ]
admin GET "/v1/audit?kind=deploy&status=deprecated"
check "the deprecation is an audit record" [ "$(jq_body "d['records'][0]['tool']")" = old ]

# --- past the sunset ---
admin POST /v1/workers/old/deprecate \
  "{\"sunset\":\"$(date -u -d '+3 seconds' +%Y-%m-%dT%H:%M:%SZ)\",\"message\":\"use new_tool instead\",\"replacement\":\"new_tool\"}"
check "a sunset seconds ahead is taken" [ "$status" = 200 ]
call old
check "it still runs before the sunset" [ "$(jq_body "d['result']['structuredContent']")" = "{'ran': True}" ]
sleep 4
call old
check "past the sunset the call fails TOOL_RETIRED" \
  [ "$(jq_body "d['result']['structuredContent']['error']['code']")" = TOOL_RETIRED ]
check "not retryable" [ "$(jq_body "d['result']['structuredContent']['error']['retryable']")" = False ]
check "naming the replacement in the message and details" \
  [ "$(jq_body "'call new_tool instead' in d['result']['structuredContent']['error']['message'] and d['result']['structuredContent']['error']['details']['replacement'] == 'new_tool' and 'new_tool' in d['result']['content'][0]['text']")" = True ]
id=$(jq_body "d['result']['_meta']['dev.toolgate/callId']")
admin GET "/v1/audit?call_id=$id"
check "the audit records it as refused, and nothing ran" \
  [ "$(jq_body "[(r['kind'], r['status'], r['error_code'], 'sandbox' in r['body']) for r in d['records']]")" = "[('call.end', 'refused', 'TOOL_RETIRED', False)]" ]
status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "$json" --data-binary '{}' "$base/v1/workers/old/run")
check "a button call is refused the same way" \
  [ "$(jq_body "d['result']['structuredContent']['error']['code'] if 'result' in d else d['structuredContent']['error']['code']")" = TOOL_RETIRED ]

admin POST /v1/workers/old/hooks '{}'
hook_id=$(jq_body "d['id']")
hook_secret=$(jq_body "d['secret']")
echo '{}' >"$tmp/hook-body"
t=$(date +%s)
mac=$(python3 -c "import hmac, hashlib, sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode() + b'.' + open(sys.argv[3], 'rb').read(), hashlib.sha256).hexdigest())" "$hook_secret" "$t" "$tmp/hook-body")
status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "$json" -H "Toolgate-Signature: t=$t,v1=$mac" \
  --data-binary "@$tmp/hook-body" "$base/v1/hooks/$hook_id")
check "a webhook call is refused the same way" \
  [ "$(jq_body "d['result']['structuredContent']['error']['code'] if 'result' in d else d['structuredContent']['error']['code']")" = TOOL_RETIRED ]

# --- undone ---
"$toolgate" deprecate old --undo --url "$base" >"$tmp/body"
check "toolgate deprecate --undo succeeds" [ $? = 0 ]
call old
check "calls run again" [ "$(jq_body "d['result']['structuredContent']")" = "{'ran': True}" ]
check "without a notice" [ "$(jq_body "'dev.toolgate/deprecation' in d['result']['_meta']")" = False ]
check "the definition hash is back" [ "$(listed "t['_meta']['dev.toolgate/definitionHash']")" = "$hash_before" ]

# --- refusals ---
admin POST /v1/workers/old/deprecate '{"sunset":"someday"}'
check "a sunset that is no time is 400" [ "$status" = 400 ]
admin POST /v1/workers/old/deprecate '{"sunset":"2027"}'
check "a year alone is no sunset (not ms since the epoch either)" [ "$status" = 400 ]
admin POST /v1/workers/old/deprecate '{"sunset":"2099-01-01","version":"9.9.9"}'
check "an unknown version is 404" [ "$status" = 404 ]
admin POST /v1/workers/old/deprecate '{"sunset":"2099-01-01","message":"two\nlines"}'
check "a message of two lines is 400" [ "$status" = 400 ]
admin POST /v1/workers/nope/deprecate '{"sunset":"2099-01-01"}'
check "an unknown worker is 404" [ "$status" = 404 ]

# --- on PostgreSQL, across replicas: a deprecation made through one is
# seen by another's clients, told as tools/list_changed, and retires there ---
start_postgres
start_replica a --warm 1 --deploy "$tmp/workers"
start_replica b --warm 1
url=${replica_base[b]}/mcp
initialize
curl -s -N --max-time 4 -H 'Accept: text/event-stream' -H "$s" "$url" >"$tmp/stream" &
stream_pid=$!
sleep 0.5
"$toolgate" deprecate old --sunset 2099-01-31 --replacement new_tool --url "${replica_base[a]}" >"$tmp/body"
check "deprecated through replica a" [ $? = 0 ]
wait "$stream_pid"
check "replica b's session is told to list its tools again" \
  [ "$(grep -c 'notifications/tools/list_changed' "$tmp/stream")" = 1 ]
check "replica b lists the deprecation" \
  [ "$(listed "t['description'].split(chr(10))[0]")" = "Deprecated: use new_tool instead (sunset 2099-01-31)" ]
call old
check "and its calls carry the notice" \
  [ "$(jq_body "d['result']['_meta']['dev.toolgate/deprecation']['replacement']")" = new_tool ]
"$toolgate" deprecate old --sunset 2020-01-01 --replacement new_tool --url "${replica_base[a]}" >"$tmp/body"
call old
check "a sunset in the past retires it on replica b at once" \
  [ "$(jq_body "d['result']['structuredContent']['error']['code']")" = TOOL_RETIRED ]

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
