#!/usr/bin/env bash
# The real daemon on 127.0.0.1 with a temporary data dir, driven with curl:
# the Streamable HTTP rules of /mcp with each bad input's status and error
# code, tool calls end to end through real jail sandboxes, and hostile workers
# (an endless loop, a fork bomb, a memory bomb, a network socket, a read of the
# host's /etc/shadow) that must all fail while the gateway stays healthy.
#
#   tests/integration/test_gateway.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
hostile_workers 1000 5000 10000

# A configuration file that does not fit is refused with every problem.
printf '{"listen": 5, "pool": {"warm": 1000, "bogus": 1}}' >"$tmp/bad-config.json"
"$toolgate" serve --config "$tmp/bad-config.json" 2>"$tmp/config-err"
check "a bad configuration refuses to start" [ $? = 2 ]
check "and lists every problem" [ "$(grep -c '"msg":"configuration [^ ]*: /' "$tmp/config-err")" = 3 ]

# Admission control has its own test (test_admission.sh); here it would turn
# the 200 simultaneous calls below into RATE_LIMITED before the pool is full.
printf '%s' '{"admission": {"tenant_rate": -1, "tool_rate": -1, "tenant_concurrency": -1,
  "worker_concurrency": -1}}' >"$tmp/config.json"
start_gateway --config "$tmp/config.json" --warm 2 --deploy "$root/examples/workers" \
  --deploy "$tmp/workers"

# --- transport rules ---
post "$json" 'Accept: text/html' '{"jsonrpc":"2.0","id":1,"method":"ping"}'
check "Accept without JSON and SSE: 406" [ "$status" = 406 ]
check "406 names NOT_ACCEPTABLE" [ "$(jq_body "d['error']['code']")" = NOT_ACCEPTABLE ]
post "$accept" 'Content-Type: text/plain' '{"jsonrpc":"2.0","id":1,"method":"ping"}'
check "text/plain body: 415" [ "$status" = 415 ]
post "$accept" "$json" '{"jsonrpc":"2.0","id":1,'
check "unparsable body: 400" [ "$status" = 400 ]
check "unparsable body: -32700 as JSON" [ "$(jq_body "d['error']['code']")" = -32700 ]
post "$accept" "$json" '{"id":1,"method":"ping"}'
check "missing jsonrpc: -32600" [ "$(jq_body "d['error']['code']")" = -32600 ]
post "$accept" "$json" '[{"jsonrpc":"2.0","id":1,"method":"ping"}]'
check "batch: -32600" [ "$(jq_body "d['error']['code']")" = -32600 ]
{
  printf '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"'
  head -c 1200000 /dev/zero | tr '\0' a
  printf '"}}'
} >"$tmp/big"
post "$accept" "$json" "@$tmp/big"
check "oversized body: 413" [ "$status" = 413 ]
post "$accept" "$json" "$(python3 -c "print('{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"a\":' + '[' * 5000 + ']' * 5000 + '}}')")"
check "deep nesting: -32700, no crash" [ "$(jq_body "d['error']['code']")" = -32700 ]
post "$accept" "$json" 'Host: rebind.example' '{"jsonrpc":"2.0","id":1,"method":"ping"}'
check "foreign Host: 403" [ "$status" = 403 ]
post "$accept" "$json" 'Origin: https://evil.example' '{"jsonrpc":"2.0","id":1,"method":"ping"}'
check "foreign Origin: 403" [ "$status" = 403 ]
check "GET /mcp without a session: 400" [ "$(curl -s -o /dev/null -w '%{http_code}' -H "$accept" "$url")" = 400 ]
check "PUT /mcp: 405" [ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$accept" "$url")" = 405 ]

initialize
check "initialize: 200" [ "$status" = 200 ]
check "initialize gives a session id" [ -n "$sid" ]
check "version negotiated" [ "$(jq_body "d['result']['protocolVersion']")" = 2025-11-25 ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","method":"notifications/initialized"}'
check "notification: 202" [ "$status" = 202 ]
post "$accept" "$json" '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
check "no session id: 400" [ "$status" = 400 ]
post "$accept" "$json" 'Mcp-Session-Id: nosuchsession' '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
check "unknown session: 404" [ "$status" = 404 ]
post "$accept" "$json" "$s" 'MCP-Protocol-Version: 1999-01-01' '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
check "unsupported protocol version: 400" [ "$status" = 400 ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":2,"method":"no/such"}'
check "unknown method: -32601" [ "$(jq_body "d['error']['code']")" = -32601 ]

# --- tools ---
post "$accept" "$json" "$s" 'MCP-Protocol-Version: 2025-11-25' '{"jsonrpc":"2.0","id":3,"method":"tools/list"}'
check "tools/list: 200" [ "$status" = 200 ]
check "tools/list has format_text" jq_quiet "'x' if any(t['name']=='format_text' for t in d['result']['tools']) else sys.exit(1)"
check "tools carry a definition hash" jq_quiet "'x' if all(len(t['_meta']['dev.toolgate/definitionHash'])==64 for t in d['result']['tools']) else sys.exit(1)"
check "json_schema_2020_12_tool keeps \$schema, \$defs, additionalProperties" jq_quiet "'x' if [t for t in d['result']['tools'] if t['name']=='json_schema_2020_12_tool' and t['inputSchema']['\$schema'].endswith('2020-12/schema') and 'address' in t['inputSchema']['\$defs'] and t['inputSchema']['additionalProperties'] is False] else sys.exit(1)"
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"no_such_tool","arguments":{}}}'
check "unknown tool: -32602" [ "$(jq_body "d['error']['code']")" = -32602 ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"format_text","arguments":{"text":" a  b ","case":"upper"}}}'
check "format_text runs in a sandbox" [ "$(jq_body "d['result']['structuredContent']['text']")" = "A B" ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"format_text","arguments":{"txt":"x"}}}'
# format_text has an outputSchema: its errors travel in _meta (docs/workers.md).
check "bad arguments: INVALID_ARGUMENTS" [ "$(jq_body "d['result']['_meta']['dev.toolgate/error']['code']")" = INVALID_ARGUMENTS ]
check "bad arguments: no structuredContent" [ "$(jq_body "'structuredContent' in d['result']")" = False ]
check "bad arguments: isError" [ "$(jq_body "d['result']['isError']")" = True ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"test_error_handling","arguments":{}}}'
check "worker error keeps its code" [ "$(jq_body "d['result']['structuredContent']['error']['code']")" = TEST_ERROR ]
check "worker error source" [ "$(jq_body "d['result']['structuredContent']['error']['source']")" = worker ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"test_image_content","arguments":{}}}'
check "image content" [ "$(jq_body "d['result']['content'][0]['mimeType']")" = image/png ]

post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"test_tool_with_progress","arguments":{},"_meta":{"progressToken":"p1"}}}'
check "tools/call answers as an SSE stream" grep -qi '^content-type: text/event-stream' "$tmp/headers"
check "three progress notifications, then the result" [ "$(grep -c '"method":"notifications/progress","params":{"progressToken":"p1"' "$tmp/body")" = 3 ]
check "progress result" [ "$(jq_body "d['result']['content'][0]['text']")" = "Progress test completed" ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":13,"method":"logging/setLevel","params":{"level":"debug"}}'
check "logging/setLevel" [ "$status" = 200 ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"test_tool_with_logging","arguments":{}}}'
check "three log notifications" [ "$(grep -c '"method":"notifications/message"' "$tmp/body")" = 3 ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":15,"method":"logging/setLevel","params":{"level":"error"}}'
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":16,"method":"tools/call","params":{"name":"test_tool_with_logging","arguments":{}}}'
check "info logs filtered at level error" [ "$(grep -c '"method":"notifications/message"' "$tmp/body")" = 0 ]

# --- the GET stream hears deploys ---
curl -s -N --max-time 4 -H 'Accept: text/event-stream' -H "$s" "$url" >"$tmp/stream" &
stream_pid=$!
sleep 0.5

# --- the admin API ---
admin() { # admin METHOD PATH [BODY]: status in $status, body in $tmp/body
  status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X "$1" -H "$json" ${3:+--data-binary "$3"} "$base$2")
}
admin GET /v1/workers
check "GET /v1/workers" [ "$status" = 200 ]
check "the list holds format_text" jq_quiet "'x' if any(w['name']=='format_text' for w in d['workers']) else sys.exit(1)"
code=$(printf '#!/bin/sh\ncat >/dev/null\necho "{\\"v\\":1}"\n' | base64 -w0)
admin POST /v1/workers "{\"manifest\":{\"name\":\"deployed_over_http\",\"version\":\"1.0.0\",\"description\":\"x\",\"runtime\":\"sh\",\"entry\":\"main.sh\",\"inputSchema\":{\"type\":\"object\"}},\"files\":[{\"path\":\"main.sh\",\"content_base64\":\"$code\"}]}"
check "POST /v1/workers deploys: 201" [ "$status" = 201 ]
first=$(jq_body "d['version']")
code2=$(printf '#!/bin/sh\ncat >/dev/null\necho "{\\"v\\":2}"\n' | base64 -w0)
admin POST /v1/workers "{\"manifest\":{\"name\":\"deployed_over_http\",\"version\":\"1.0.1\",\"description\":\"x\",\"runtime\":\"sh\",\"entry\":\"main.sh\",\"inputSchema\":{\"type\":\"object\"}},\"files\":[{\"path\":\"main.sh\",\"content_base64\":\"$code2\"}]}"
check "a second deploy makes a new version" [ "$(jq_body "d['version']")" != "$first" ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"deployed_over_http","arguments":{}}}'
check "the new version runs" [ "$(jq_body "d['result']['structuredContent']['v']")" = 2 ]
admin POST /v1/workers/deployed_over_http/rollback "{\"version\":\"$first\"}"
check "rollback: 200" [ "$status" = 200 ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"deployed_over_http","arguments":{}}}'
check "the rolled-back version runs" [ "$(jq_body "d['result']['structuredContent']['v']")" = 1 ]
admin GET /v1/workers/deployed_over_http
check "GET one worker lists both versions" [ "$(jq_body "len(d['versions'])")" = 2 ]
admin POST /v1/workers '{"manifest":{"name":"bad name!","version":"one","runtime":"cobol","entry":"x"},"files":[]}'
check "bad manifest: 400" [ "$status" = 400 ]
check "bad manifest: every problem listed" [ "$(jq_body "len(d['error']['details'])")" -ge 3 ]
check "toolgate deploy sends a folder" "$toolgate" deploy "$root/examples/workers/date_time" --url "$base" >/dev/null
check "toolgate deploy fails when the gateway is unreachable" \
  bash -c "! '$toolgate' deploy '$tmp/workers/memory_bomb' --url http://127.0.0.1:1 >/dev/null 2>&1"
mkdir -p "$tmp/bad_worker"
printf '{"name": "bad worker", "version": "x", "runtime": "cobol", "entry": "main.sh"}' >"$tmp/bad_worker/toolgate.json"
"$toolgate" deploy "$tmp/bad_worker" --url "$base" >"$tmp/body" 2>/dev/null
check "toolgate deploy of a bad manifest exits 1" [ $? = 1 ]
check "and prints every problem the gateway found" [ "$(jq_body "len(d['error']['details'])")" -ge 3 ]
admin DELETE /v1/workers/deployed_over_http
check "DELETE: 204" [ "$status" = 204 ]
wait "$stream_pid"
# The new tool and its delete change tools/list; the second deploy (new code
# under the same definition) and the rollback between the two do not.
check "a new tool and its delete reach the GET stream as tools/list_changed, code changes do not" \
  [ "$(grep -c 'notifications/tools/list_changed' "$tmp/stream")" = 2 ]
admin GET /v1/workers/deployed_over_http
check "deleted: 404" [ "$status" = 404 ]

# --- install once, start from the snapshot ---
setup_checks

# --- slow calls do not hold up the rest ---
# 200 calls of a 2-second worker at once: they fill the pool and queue up, and
# meanwhile ping and tools/list are still answered (a blocked server would let
# these requests time out, failing the checks).
pids=()
for i in $(seq 200); do
  call_into "$tmp/slow.$i" "$i" sleep_two &
  pids+=($!)
done
sleep 0.5
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":30,"method":"ping"}'
check "ping answered while 200 calls wait" [ "$status" = 200 ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":31,"method":"tools/list"}'
check "tools/list answered while 200 calls wait" [ "$status" = 200 ]
wait "${pids[@]}"
answered=0
for i in $(seq 200); do
  grep -q '"result"' "$tmp/slow.$i" && answered=$((answered + 1))
done
check "every waiting call got a result (done, or a retryable CAPACITY)" [ "$answered" = 200 ]
check "the ones that found no sandbox say CAPACITY" [ "$(grep -L '"slept"' "$tmp"/slow.* | xargs -r grep -L '"code":"CAPACITY"' | wc -l)" = 0 ]

# --- cancellation stops the sandbox ---
call_into "$tmp/cancelled" 51 sleep_two &
cancel_pid=$!
sleep 0.5
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":51,"reason":"test"}}'
check "notifications/cancelled: 202" [ "$status" = 202 ]
wait "$cancel_pid"
cp "$tmp/cancelled" "$tmp/body"
check "the cancelled call answers CANCELLED" [ "$(jq_body "d['result']['structuredContent']['error']['code']")" = CANCELLED ]

# --- hostile workers ---
call loop_forever
check "endless loop: TIMEOUT" [ "$(jq_body "d['result']['structuredContent']['error']['code']")" = TIMEOUT ]
call fork_bomb
check "fork bomb: contained (the call ends)" [ "$status" = 200 ]
call memory_bomb
check "memory bomb: no gigabyte allocated" [ "$(jq_body "d['result'].get('structuredContent',{}).get('allocated')")" != True ]
call open_socket
check "network socket: refused" [ "$(jq_body "d['result']['structuredContent']['error']['code']")" = NO_NETWORK ]
call read_shadow
check "/etc/shadow: not readable" [ "$(jq_body "d['result']['structuredContent']['error']['code']")" = NO_SHADOW ]

check "healthy after all that" [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz")" = 200 ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"date_time","arguments":{}}}'
check "still serving calls" jq_quiet "d['result']['structuredContent']['utc']"

check "DELETE ends the session" [ "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "$s" "$url")" = 204 ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":11,"method":"ping"}'
check "ended session: 404" [ "$status" = 404 ]

# Stopping with calls in flight: they finish (or, still queued, fail with a
# retryable UNAVAILABLE), and every client gets its answer before the exit.
initialize
pids=()
for i in 1 2 3; do
  call_into "$tmp/inflight.$i" "$i" sleep_two &
  pids+=($!)
done
sleep 0.5
kill -TERM "$server_pid"
wait "$server_pid"
check "clean exit on SIGTERM" [ $? = 0 ]
wait "${pids[@]}"
check "calls in flight at SIGTERM got their answers" [ "$(cat "$tmp"/inflight.* | grep -c '"slept":true')" = 3 ]
server_pid=

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
