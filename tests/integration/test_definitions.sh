#!/usr/bin/env bash
# Tools as a contract, through the real daemon on 127.0.0.1: a deploy replays
# the worker's fixtures against the new version before it becomes current
# (--require-fixtures refuses a drifting version while the old one keeps
# serving), drift is counted per version in /metrics and the worker's API,
# the definition is linted (--strict refuses), and definition pinning:
# a code-only deploy keeps the definition hash and sends no
# tools/list_changed, a definition change sends it, and a call pinned to the
# old hash answers DEFINITION_CHANGED.
#
#   tests/integration/test_definitions.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

admin() { # admin METHOD PATH [BODY]: status in $status, body in $tmp/body
  status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X "$1" -H "$json" ${3:+--data-binary "$3"} "$base$2")
}

# counter VERSION_LABEL DESCRIPTION CODE: the worker folder $tmp/counter with
# an outputSchema {n: integer}, whose main.sh prints CODE's output, and two
# fixtures (an exact answer and a schema match).
counter() {
  local dir=$tmp/counter
  rm -rf "$dir"
  mkdir -p "$dir/fixtures"
  cat >"$dir/toolgate.json" <<EOF
{ "name": "counter", "version": "$1", "description": "$2",
  "runtime": "sh", "entry": "main.sh",
  "inputSchema": { "type": "object", "additionalProperties": false,
    "properties": { "step": { "type": "integer", "minimum": 1, "description": "How far to count." } } },
  "outputSchema": { "type": "object", "required": ["n"], "properties": { "n": { "type": "integer" } } },
  "limits": { "timeout_ms": 10000 } }
EOF
  printf '#!/bin/sh\ncat >/dev/null\n%s\n' "$3" >"$dir/main.sh"
  cat >"$dir/fixtures/one.json" <<'EOF'
{ "description": "counts one", "arguments": {}, "expect": { "structuredContent": { "n": 1 } } }
EOF
  cat >"$dir/fixtures/shape.json" <<'EOF'
{ "description": "answers a count", "arguments": { "step": 2 },
  "expect": { "matches": { "type": "object", "required": ["n"] } } }
EOF
  cat >"$dir/fixtures/refused.json" <<'EOF'
{ "description": "a step below 1 is refused", "arguments": { "step": 0 },
  "expect": { "error": { "code": "INVALID_ARGUMENTS", "paths": ["/step"], "keywords": ["minimum"] } } }
EOF
}

deploy() { # deploy FLAG...: $tmp/counter through the CLI, answer in $tmp/body, stderr in $tmp/deploy.err
  "$toolgate" deploy "$tmp/counter" --url "$base" "$@" >"$tmp/body" 2>"$tmp/deploy.err"
}

listed_hash() { # the definition hash tools/list shows for counter
  post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":3,"method":"tools/list"}'
  jq_body "[t['_meta']['dev.toolgate/definitionHash'] for t in d['result']['tools'] if t['name']=='counter'][0]"
}

# The gateway's error object of a tool error result: in structuredContent,
# or in _meta for a tool with an outputSchema (which the error does not match).
tool_error() { # tool_error FIELD
  jq_body "(d['result'].get('structuredContent') or {}).get('error', d['result']['_meta'].get('dev.toolgate/error'))['$1']"
}

call_pinned() { # call_pinned HASH: tools/call counter pinned to HASH
  post "$accept" "$json" "$s" "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"counter\",\"arguments\":{},\"_meta\":{\"dev.toolgate/definitionHash\":\"$1\"}}}"
}

start_gateway --warm 1
initialize

# --- the deploy check ---
counter 1.0.0 "Counts." 'echo "{\"n\":1}"'
deploy --require-fixtures
check "a version meeting its fixtures deploys with --require-fixtures" [ $? = 0 ]
check "the answer counts 3 fixtures passed" [ "$(jq_body "d['fixtures']['passed']")" = 3 ]
check "and none failed" [ "$(jq_body "d['fixtures']['failed']")" = 0 ]
good=$(jq_body "d['version']")
hash1=$(listed_hash)
check "tools/list shows a definition hash" [ ${#hash1} = 64 ]

# New code that answers a string: it drifts from the outputSchema.
counter 1.1.0 "Counts." 'echo "{\"n\":\"one\"}"'
deploy --require-fixtures
check "a drifting version is refused with --require-fixtures" [ $? = 1 ]
check "with FIXTURES_FAILED" [ "$(jq_body "d['error']['code']")" = FIXTURES_FAILED ]
check "naming the failed fixtures" [ "$(jq_body "sorted(x['path'] for x in d['error']['details'])")" = "['/fixtures/one.json', '/fixtures/shape.json']" ]
check "and why each failed" grep -q OUTPUT_SCHEMA_VIOLATION "$tmp/body"
check "the CLI prints each failed fixture" grep -q '^fixture one failed' "$tmp/deploy.err"
drifted=$(jq_body "d['version']")
admin GET /v1/workers/counter
check "the old version stays current" [ "$(jq_body "d['version']")" = "$good" ]
check "the refused version is not kept" [ "$(jq_body "len(d['versions'])")" = 1 ]
call counter
check "and keeps serving" [ "$(jq_body "d['result']['structuredContent']['n']")" = 1 ]
admin GET "/v1/audit?kind=deploy&tool=counter&limit=1"
check "the refusal is on the record" [ "$(jq_body "d['records'][0]['status']")" = fixtures_failed ]
admin GET "/v1/runs?worker=counter&trigger=contract"
check "fixture calls run as contract calls in the history" [ "$(jq_body "len(d['runs'])")" -ge 6 ]

# Without the flag the same version deploys, its failures reported.
deploy
check "without --require-fixtures the drifting version deploys" [ $? = 0 ]
check "its failed fixtures are in the answer" [ "$(jq_body "d['fixtures']['failed']")" = 2 ]
check "it is the version refused before" [ "$(jq_body "d['version']")" = "$drifted" ]
call counter
check "its calls fail OUTPUT_SCHEMA_VIOLATION" [ "$(tool_error code)" = OUTPUT_SCHEMA_VIOLATION ]
call counter
# Two fixture calls at deploy plus two calls now broke the schema. A call is
# counted once its answer is out, so the count may trail it for a moment.
for _ in $(seq 50); do
  admin GET /v1/workers/counter
  [ "$(jq_body "d.get('output_schema_violations')")" = 4 ] && break
  sleep 0.1
done
check "GET /v1/workers/{name} counts the drift of the current version" [ "$(jq_body "d['output_schema_violations']")" = 4 ]
check "per version: none for the good one" [ "$(jq_body "[v['output_schema_violations'] for v in d['versions'] if v['version']=='$good'][0]")" = 0 ]
metric=$(curl -s "$base/metrics" | grep "^toolgate_output_schema_violations_total{tenant=\"demo\",worker=\"counter\",version=\"$drifted\"}")
check "/metrics counts it by tenant, worker and version" [ "${metric##* }" = 4 ]
admin POST /v1/workers/counter/rollback "{\"version\":\"$good\"}"
check "rollback to the good version" [ "$status" = 200 ]

# No fixtures at all: refused only when they are required.
rm -rf "$tmp/counter/fixtures"
printf '#!/bin/sh\ncat >/dev/null\necho "{\\"n\\":1}" # no fixtures\n' >"$tmp/counter/main.sh"
deploy --require-fixtures
check "a version without fixtures is refused with --require-fixtures" [ "$(jq_body "d['error']['code']")" = FIXTURES_FAILED ]
mkdir -p "$tmp/new_tool"
cp "$tmp/counter/toolgate.json" "$tmp/counter/main.sh" "$tmp/new_tool/"
sed -i 's/"counter"/"never_listed"/' "$tmp/new_tool/toolgate.json"
"$toolgate" deploy "$tmp/new_tool" --url "$base" --require-fixtures >"$tmp/body" 2>/dev/null
check "a new worker refused at its first deploy" [ $? = 1 ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":5,"method":"tools/list"}'
check "never appears in tools/list" jq_quiet "sys.exit(any(t['name']=='never_listed' for t in d['result']['tools']))"
admin GET /v1/workers/never_listed
check "nor in the admin API" [ "$status" = 404 ]

# Fixtures kept apart from the code (the repository's contract-fixtures/).
n=$(ls "$root/contract-fixtures/format_text"/*.json | wc -l)
"$toolgate" deploy "$root/examples/workers/format_text" --url "$base" \
  --fixtures "$root/contract-fixtures/format_text" --require-fixtures >"$tmp/body" 2>"$tmp/deploy.err"
check "--fixtures sends a fixture folder along: format_text deploys" [ $? = 0 ]
check "with all of its $n contract fixtures passed" [ "$(jq_body "d['fixtures']['passed']")" = "$n" ]
mkdir -p "$tmp/clash/fixtures"
cp "$root/examples/workers/format_text"/* "$tmp/clash/"
cp "$root/contract-fixtures/format_text/defaults.json" "$tmp/clash/fixtures/"
"$toolgate" deploy "$tmp/clash" --url "$base" --fixtures "$root/contract-fixtures/format_text" \
  >/dev/null 2>"$tmp/deploy.err"
check "a fixture both in the folder and in --fixtures is refused before sending" [ $? = 2 ]
check "naming it" grep -q 'fixtures/defaults.json is also in the worker folder' "$tmp/deploy.err"

# --- lint ---
mkdir -p "$tmp/sloppy"
cat >"$tmp/sloppy/toolgate.json" <<'EOF'
{ "name": "sloppy", "version": "1.0.0", "description": "Echoes.", "runtime": "sh", "entry": "main.sh",
  "inputSchema": { "type": "object", "properties": { "q": { "type": "string" } } } }
EOF
printf '#!/bin/sh\ncat\n' >"$tmp/sloppy/main.sh"
"$toolgate" deploy "$tmp/sloppy" --url "$base" --strict >"$tmp/body" 2>"$tmp/deploy.err"
check "--strict refuses a definition with lint warnings" [ $? = 1 ]
check "with DEFINITION_LINT" [ "$(jq_body "d['error']['code']")" = DEFINITION_LINT ]
check "listing the undescribed property" jq_quiet "next(x for x in d['error']['details'] if x['path']=='/inputSchema/properties/q' and x['rule']=='description-missing')"
check "and the open additionalProperties" jq_quiet "next(x for x in d['error']['details'] if x['path']=='/inputSchema' and x['rule']=='additional-properties-open')"
"$toolgate" deploy "$tmp/sloppy" --url "$base" >"$tmp/body" 2>"$tmp/deploy.err"
check "without --strict it deploys" [ $? = 0 ]
check "with the warnings in the answer" [ "$(jq_body "len(d['warnings'])")" -ge 2 ]
check "and on the CLI's stderr" grep -q '^warning: /inputSchema/properties/q' "$tmp/deploy.err"

# --- definition pinning ---
counter 1.0.0 "Counts." 'echo "{\"n\":1}"'
deploy
check "back to the first version" [ "$(jq_body "d['version']")" = "$good" ]
curl -s -N --max-time 6 -H 'Accept: text/event-stream' -H "$s" "$url" >"$tmp/stream" &
stream_pid=$!
sleep 0.5
call_pinned "$hash1"
check "a call pinned to the listed hash runs" [ "$(jq_body "d['result']['structuredContent']['n']")" = 1 ]

counter 1.0.1 "Counts." 'echo "{\"n\":1}" # same definition, new code'
deploy
code_only=$(jq_body "d['version']")
check "a code-only deploy is a new version" [ "$code_only" != "$good" ]
check "with the same definition hash" [ "$(listed_hash)" = "$hash1" ]
call_pinned "$hash1"
check "and calls pinned to it still run" [ "$(jq_body "d['result']['structuredContent']['n']")" = 1 ]
sleep 1
check "a code-only deploy sends no tools/list_changed" [ "$(grep -c 'notifications/tools/list_changed' "$tmp/stream")" = 0 ]

counter 1.1.0 "Counts, one at a time." 'echo "{\"n\":1}"'
deploy
hash2=$(listed_hash)
check "a new description is a new definition hash" [ "$hash2" != "$hash1" ] && [ ${#hash2} = 64 ]
wait "$stream_pid"
check "a definition change sends tools/list_changed" [ "$(grep -c 'notifications/tools/list_changed' "$tmp/stream")" = 1 ]
call_pinned "$hash1"
check "a call pinned to the old hash is refused" [ "$(jq_body "d['result']['isError']")" = True ]
check "with DEFINITION_CHANGED" [ "$(tool_error code)" = DEFINITION_CHANGED ]
check "not retryable" [ "$(tool_error retryable)" = False ]
check "naming the hash now current" grep -q "$hash2" "$tmp/body"
call_pinned "$hash2"
check "pinned to the new hash, it runs" [ "$(jq_body "d['result']['structuredContent']['n']")" = 1 ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"counter","arguments":{},"_meta":{"dev.toolgate/definitionHash":7}}}'
check "a pinned hash that is not a string is a protocol error" [ "$(jq_body "d['error']['code']")" = -32602 ]
admin GET "/v1/audit?tool=counter&error_code=DEFINITION_CHANGED&limit=5"
check "the refused pinned call is on the record" [ "$(jq_body "len(d['records'])")" -ge 1 ]

admin GET /v1/workers/counter/versions
check "GET .../versions lists every version" [ "$(jq_body "len(d['versions'])")" = 4 ]
check "with each one's definition hash" [ "$(jq_body "[v['definition_hash'] for v in d['versions'] if v['version']=='$code_only'][0]")" = "$hash1" ]
check "the current one's is the listed one" [ "$(jq_body "[v['definition_hash'] for v in d['versions'] if v['current']][0]")" = "$hash2" ]

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
