#!/usr/bin/env bash
# Runs history and button triggers through the real daemon: POST
# /v1/workers/{name}/run answers the CallToolResult with its call id; an
# Idempotency-Key retry answers the stored result without running the worker
# again (counted by /metrics toolgate_sandbox_runs_total and the history),
# another body with the key is 409; /v1/runs filters and pages newest first;
# /v1/runs/{id} and /logs show the result, stderr and fd-3 log lines, and 404
# once pruned beyond runs.keep_results; scopes and tenants are enforced; and
# `toolgate runs` prints the table and the logs.
#
#   tests/integration/test_runs.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

worker echo 10000 'cat; echo'
worker chatty 10000 'cat >/dev/null; echo "warning: chatty on stderr" >&2
echo "{\"log\":\"info\",\"data\":\"chatty log line\"}" >&3
echo "{\"progress\":1}" >&3
echo "{\"said\":true}"'
worker sleeper 10000 'cat >/dev/null; sleep 1; echo "{\"slept\":true}"'
worker fail 10000 'cat >/dev/null; echo "{\"error\":{\"code\":\"NOT_TODAY\",\"message\":\"no\",\"retryable\":false}}"; exit 1'

cat >"$tmp/config.json" <<JSON
{ "listen": "127.0.0.1:0", "data_dir": "$tmp/data", "deploy": ["$tmp/workers"],
  "admission": { "tenant_rate": -1, "tool_rate": -1 }, "runs": { "keep_results": 3 } }
JSON
start_daemon gateway --config "$tmp/config.json"
mint() { # mint TENANT SUB SCOPE
  "$toolgate" token --data-dir "$tmp/data" --tenant "$1" --sub "$2" --scope "$3" --audience "$url"
}
admin=$(mint demo ann "admin")
trigger=$(mint demo tim "workers:trigger")
reader=$(mint demo rita "audit:read")
caller=$(mint demo carl "tools:list tools:call")
other=$(mint other olga "admin")

# run NAME TOKEN BODY [HEADER...]: POST /v1/workers/NAME/run into $tmp/body.
run() {
  local name=$1 token=$2 body=$3
  shift 3
  local args=()
  for h in "$@"; do args+=(-H "$h"); done
  status=$(curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $token" "${args[@]}" --data-binary "$body" "$base/v1/workers/$name/run")
}
get() { # get PATH TOKEN
  status=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $2" "$base$1")
}
j() { python3 -c "import json; d = json.load(open('$tmp/body')); print($1)"; }
sandbox_runs() { curl -s "$base/metrics" | sed -n 's/^toolgate_sandbox_runs_total //p'; }
# wait_runs N QUERY TOKEN: until GET /v1/runs?QUERY lists N runs (history is
# written just after the answer).
wait_runs() {
  for _ in $(seq 50); do
    get "/v1/runs?$2" "$3"
    [ "$status" = 200 ] && [ "$(j "len(d['runs'])")" -ge "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

# --- button runs ---
run echo "$trigger" '{"msg":"hi"}'
check "a button run answers 200" [ "$status" = 200 ]
check "with the worker's result" [ "$(j "d['structuredContent']['msg']")" = hi ]
echo_id=$(j "d['call_id']")
check "and its call id" [ ${#echo_id} = 32 ]
check "the same as _meta's" [ "$(j "d['_meta']['dev.toolgate/callId']")" = "$echo_id" ]
run echo "$trigger" ''
check "an empty body runs with {}" [ "$status" = 200 ]
check "and answers {}" [ "$(j "d['structuredContent']")" = "{}" ]
run fail "$trigger" '{}'
check "a worker's error is still 200" [ "$status" = 200 ]
check "with isError" [ "$(j "d['isError']")" = True ]
check "and its code" [ "$(j "d['structuredContent']['error']['code']")" = NOT_TODAY ]
fail_id=$(j "d['call_id']")
run echo "$trigger" '[1]'
check "a body that is not an object is 400" [ "$status" = 400 ]
run nope "$trigger" '{}'
check "an unknown worker is 404" [ "$status" = 404 ]
run echo "$reader" '{}'
check "without workers:trigger: 403" [ "$status" = 403 ]
run echo "$caller" '{}'
check "tools:call is not workers:trigger" [ "$status" = 403 ]
run echo "$other" '{}'
check "another tenant's worker is unknown" [ "$status" = 404 ]

# --- idempotency ---
before=$(sandbox_runs)
run echo "$trigger" '{"n":1,"m":2}' 'Idempotency-Key: order-42'
check "the first request with a key runs" [ "$status" = 200 ]
first_id=$(j "d['call_id']")
run echo "$trigger" '{"m":2, "n":1}' 'Idempotency-Key: order-42'
check "a retry with the same body answers 200" [ "$status" = 200 ]
check "with the stored answer" [ "$(j "d['call_id']")" = "$first_id" ]
check "marked as replayed" grep -qi '^Idempotent-Replayed: true' "$tmp/headers"
run echo "$trigger" '{"n":1,"m":2}' 'Idempotency-Key: order-42'
check "a third retry too" [ "$(j "d['call_id']")" = "$first_id" ]
check "the worker ran exactly once (metrics)" [ "$(sandbox_runs)" = $((before + 1)) ]
run echo "$trigger" '{"n":2}' 'Idempotency-Key: order-42'
check "the key with another body is 409" [ "$status" = 409 ]
check "CONFLICT" [ "$(j "d['error']['code']")" = CONFLICT ]
run echo "$other" '{"n":1,"m":2}' 'Idempotency-Key: order-42'
check "keys are per tenant (the other has no echo)" [ "$status" = 404 ]
run echo "$trigger" '{}' "Idempotency-Key: $(printf 'k%.0s' $(seq 256))"
check "a key over 255 characters is 400" [ "$status" = 400 ]
wait_runs 1 "worker=echo&trigger=button" "$reader"
check "the history has the keyed run once" \
  [ "$(j "sum(1 for r in d['runs'] if r['call_id'] == '$first_id')")" = 1 ]
# A key used while its first request still runs: 409, and it still runs once.
worker_slow_before=$(sandbox_runs)
curl -s -o "$tmp/slow1" -X POST -H "Authorization: Bearer $trigger" -H 'Idempotency-Key: slow' \
  --data-binary '{"s":1}' "$base/v1/workers/sleeper/run" &
slow_pid=$!
sleep 0.4
run sleeper "$trigger" '{"s":1}' 'Idempotency-Key: slow'
check "a retry while the first runs is 409" [ "$status" = 409 ]
check "with Retry-After" grep -qi '^Retry-After: 1' "$tmp/headers"
wait "$slow_pid"
run sleeper "$trigger" '{"s":1}' 'Idempotency-Key: slow'
check "after it ends, the retry gets its answer" \
  [ "$(j "d['call_id']")" = "$(python3 -c "import json; print(json.load(open('$tmp/slow1'))['call_id'])")" ]
check "and it ran once" [ "$(sandbox_runs)" = $((worker_slow_before + 1)) ]

# --- the history ---
as_mcp() {
  post "$accept" "$json" "Authorization: Bearer $admin" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}'
  sid=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p' "$tmp/headers")
  post "$accept" "$json" "Authorization: Bearer $admin" "Mcp-Session-Id: $sid" \
    '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"chatty","arguments":{}}}'
}
as_mcp
chatty_id=$(jq_body "d['result']['_meta']['dev.toolgate/callId']")
wait_runs 1 "trigger=agent" "$reader"
check "an agent's call is a run too" [ "$(j "d['runs'][0]['call_id']")" = "$chatty_id" ]
check "with trigger agent" [ "$(j "d['runs'][0]['trigger']")" = agent ]
check "and its principal" [ "$(j "d['runs'][0]['principal']")" = demo/ann ]
get "/v1/runs?status=error" "$reader"
check "status=error lists the failed run" [ "$(j "[r['call_id'] for r in d['runs']]")" = "['$fail_id']" ]
check "with its error code" [ "$(j "d['runs'][0]['error_code']")" = NOT_TODAY ]
get "/v1/runs?worker=echo&trigger=button" "$reader"
check "worker and trigger filter" [ "$(j "all(r['worker'] == 'echo' and r['trigger'] == 'button' for r in d['runs'])")" = True ]
get "/v1/runs/$chatty_id" "$reader"
check "GET /v1/runs/{id} answers" [ "$status" = 200 ]
check "with the kept result" [ "$(j "d['result']['structuredContent']['said']")" = True ]
check "its output size" [ "$(j "d['output_bytes'] > 0")" = True ]
get "/v1/runs/$chatty_id/logs" "$reader"
check "the logs show stderr" [ "$(j "'warning: chatty on stderr' in d['stderr']")" = True ]
check "and the log lines" [ "$(j "d['events'][0]['data']")" = "chatty log line" ]
check "not progress" [ "$(j "len(d['events'])")" = 1 ]
get "/v1/runs/$chatty_id" "$other"
check "another tenant cannot see a run" [ "$status" = 404 ]
get "/v1/runs" "$other"
check "nor list any" [ "$(j "len(d['runs'])")" = 0 ]
get "/v1/runs" "$trigger"
check "listing needs audit:read" [ "$status" = 403 ]
get "/v1/runs/0123456789abcdef0123456789abcdef/logs" "$reader"
check "an unknown run's logs are 404" [ "$status" = 404 ]

# keep_results 3: after four more echo runs the first has only its summary.
for i in 1 2 3 4; do run echo "$trigger" "{\"i\":$i}"; done
sleep 0.3
get "/v1/runs/$echo_id" "$reader"
check "a pruned run keeps its summary" [ "$status" = 200 ]
check "without its result" [ "$(j "'result' in d or d['kept']")" = False ]
get "/v1/runs/$echo_id/logs" "$reader"
check "its logs are 404" [ "$status" = 404 ]

# Pages: newest first, no repeats or gaps while runs keep being recorded.
get "/v1/runs?limit=1000" "$reader"
all=$(j "' '.join(r['call_id'] for r in d['runs'])")
bg=()
for i in $(seq 6); do
  curl -s -o /dev/null -X POST -H "Authorization: Bearer $trigger" --data-binary "{\"bg\":$i}" \
    "$base/v1/workers/echo/run" &
  bg+=($!)
done
seen=
cursor=
pages=0
while :; do
  get "/v1/runs?limit=2${cursor:+&cursor=$cursor}" "$reader"
  [ "$status" = 200 ] || break
  seen="$seen $(j "' '.join(r['call_id'] for r in d['runs'])")"
  pages=$((pages + 1))
  cursor=$(j "d.get('next_cursor', '')")
  [ -n "$cursor" ] || break
done
wait "${bg[@]}"
check "paging took several pages" [ "$pages" -gt 3 ]
python3 - "$all" "$seen" <<'EOF'
import sys
before, seen = sys.argv[1].split(), sys.argv[2].split()
assert len(seen) == len(set(seen)), "a run shown twice"
pos = [seen.index(c) for c in before]
assert pos == sorted(pos), "runs out of order"
EOF
check "every page continues where the last stopped" [ $? = 0 ]
get "/v1/runs?cursor=bogus" "$reader"
check "a bad cursor is 400" [ "$status" = 400 ]
get "/v1/runs?limit=0" "$reader"
check "a bad limit is 400" [ "$status" = 400 ]

# --- the CLI ---
"$toolgate" runs --url "$base" --token "$reader" --worker fail >"$tmp/cli" 2>&1
check "toolgate runs prints a table" grep -q "^STARTED .*DURATION .*STATUS .*ERROR .*OUTPUT .*CALL ID" "$tmp/cli"
check "with the failed run" grep -q "error .*NOT_TODAY .*$fail_id" "$tmp/cli"
check "and only it" [ "$(wc -l <"$tmp/cli")" = 2 ]
"$toolgate" runs --url "$base" --token "$reader" --trigger agent --json >"$tmp/body"
check "--json prints the answer" [ "$(j "d['runs'][0]['call_id']")" = "$chatty_id" ]
"$toolgate" runs --url "$base" --token "$reader" --logs "$chatty_id" >"$tmp/cli" 2>&1
check "--logs prints stderr" grep -q "warning: chatty on stderr" "$tmp/cli"
check "and log lines" grep -q "^info .*chatty log line" "$tmp/cli"
"$toolgate" runs --url "$base" --token "$trigger" >"$tmp/cli" 2>&1
check "the CLI without audit:read fails" [ $? = 1 ]
"$toolgate" runs --bogus >/dev/null 2>&1
check "a bad flag is a usage error" [ $? = 2 ]

check "the gateway logged no history failure" \
  [ "$(grep -c "not kept in the history" "$tmp/gateway.err")" = 0 ]
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
