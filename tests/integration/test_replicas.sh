#!/usr/bin/env bash
# Replicas: three gateways on one PostgreSQL (a throwaway cluster this test
# makes and stops) behave as one gateway. A deploy on one is called on
# another and reaches a third's clients as tools/list_changed; a 2025
# session started on one continues on the others and ends everywhere at
# once; MCP 2026-07-28 requests go anywhere; a schedule on "@every 1s" runs
# once per slot across the replicas, also after one is killed; the rate
# limit and the concurrency cap hold across them; and the audit log stays
# one verifiable chain after a replica is killed under load.
#
#   tests/integration/test_replicas.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

worker echo 10000 'cat'
worker slow 20000 'cat >/dev/null; sleep 3; echo "{\"slow\":true}"'
mkdir -p "$tmp/workers/ticker"
cat >"$tmp/workers/ticker/toolgate.json" <<'EOF'
{ "name": "ticker", "version": "1.0.0", "description": "runs every second",
  "runtime": "sh", "entry": "main.sh", "inputSchema": { "type": "object" },
  "limits": { "timeout_ms": 10000, "memory_mb": 64, "max_output_bytes": 65536 },
  "triggers": { "schedule": "@every 1s" } }
EOF
printf 'cat >/dev/null; echo "{\\"tick\\":true}"\n' >"$tmp/workers/ticker/main.sh"

start_postgres
# Limits every replica shares: a burst of 4 then 1.5 calls a second per
# tool (the ticker's one a second fits), and 2 calls of one tool at once.
export TOOLGATE_ADMISSION_TOOL_BURST=4 TOOLGATE_ADMISSION_TOOL_RATE=1.5
export TOOLGATE_ADMISSION_WORKER_CONCURRENCY=2
start_replica a --warm 1 --deploy "$tmp/workers"
start_replica b --warm 1
start_replica c --warm 1
a=${replica_base[a]} b=${replica_base[b]} c=${replica_base[c]}

# rpc BASE [HEADER...] BODY: POST to BASE/mcp, like post.
rpc() {
  local target=$1
  shift
  url=$target/mcp
  post "$@"
}
admin() { # admin BASE METHOD PATH [BODY]: status in $status, body in $tmp/body
  status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X "$2" -H "$json" ${4:+--data-binary "$4"} "$1$3")
}
init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}'
v2026=(-H 'MCP-Protocol-Version: 2026-07-28')
# call_2026 BASE TOOL ARGUMENTS OUT: a stateless (2026-07-28) tools/call on
# BASE's /mcp, the answer in OUT.
call_2026() {
  curl -s -o "$4" -H "$accept" -H "$json" "${v2026[@]}" -H 'Mcp-Method: tools/call' \
    -H "Mcp-Name: $2" --max-time 30 --data-binary \
    "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{\"name\":\"$2\",\"arguments\":$3,\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientInfo\":{\"name\":\"t\",\"version\":\"1\"},\"io.modelcontextprotocol/clientCapabilities\":{}}}}" \
    "$1/mcp"
}

# --- a session moves between replicas ---
rpc "$a" "$accept" "$json" "$init"
sid=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p' "$tmp/headers")
s="Mcp-Session-Id: $sid"
check "a session starts on replica a" [ -n "$sid" ]
rpc "$b" "$accept" "$json" "$s" '{"jsonrpc":"2.0","method":"notifications/initialized"}'
check "is initialized through replica b" [ "$status" = 202 ]
rpc "$c" "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"error"}}'
check "sets its log level through replica c" [ "$status" = 200 ] && jq_quiet "d['result']"
rpc "$b" "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"said":"hi"}}}'
check "and calls a tool through replica b" [ "$(jq_body "d['result']['structuredContent']['said']")" = hi ]
rpc "$c" "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":4,"method":"tools/list"}'
check "lists tools through replica c" [ "$(jq_body "sorted(t['name'] for t in d['result']['tools'])")" = "['echo', 'slow', 'ticker']" ]

# --- a deploy on one replica is seen by all ---
# A client of replica c listens on its GET stream; a second session on b.
rpc "$c" "$accept" "$json" "$init"
listener_sid=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p' "$tmp/headers")
curl -s -N --max-time 6 -H 'Accept: text/event-stream' -H "Mcp-Session-Id: $listener_sid" \
  "$c/mcp" >"$tmp/stream" &
stream_pid=$!
sleep 0.5
code=$(printf '#!/bin/sh\ncat >/dev/null\necho "{\\"fresh\\":true}"\n' | base64 -w0)
admin "$b" POST /v1/workers "{\"manifest\":{\"name\":\"fresh\",\"version\":\"1.0.0\",\"description\":\"deployed on b\",\"runtime\":\"sh\",\"entry\":\"main.sh\",\"inputSchema\":{\"type\":\"object\"}},\"files\":[{\"path\":\"main.sh\",\"content_base64\":\"$code\"}]}"
check "a worker deploys on replica b" [ "$status" = 201 ]
rpc "$a" "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"fresh","arguments":{}}}'
check "and is called at once on replica a" [ "$(jq_body "d['result']['structuredContent']['fresh']")" = True ]
rpc "$c" "$accept" "$json" "${v2026[@]}" -H 'Mcp-Method: tools/call' -H 'Mcp-Name: fresh' \
  '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"fresh","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}'
check "and statelessly (2026-07-28) on replica c" [ "$(jq_body "d['result']['structuredContent']['fresh']")" = True ]
wait "$stream_pid"
check "the deploy on b reaches c's client as tools/list_changed" \
  [ "$(grep -c 'notifications/tools/list_changed' "$tmp/stream")" = 1 ]

# The session ends on one replica and is gone on every other.
status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X DELETE -H "$s" "$c/mcp")
check "the session ends through replica c" [ "$status" = 204 ]
rpc "$a" "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":7,"method":"tools/list"}'
check "and replica a answers 404 for it" [ "$status" = 404 ]

# --- limits hold across replicas ---
# 24 calls at once, 8 through each replica: one shared bucket admits its
# burst of 4 and 1.5 a second after; three buckets would admit 12 at once.
# The replicas are children of this shell too: wait for the clients only.
clients=()
started=$(date +%s%3N)
for i in $(seq 24); do
  case $((i % 3)) in 0) target=$a ;; 1) target=$b ;; *) target=$c ;; esac
  call_2026 "$target" echo '{"n":1}' "$tmp/rate.$i" &
  clients+=($!)
done
wait "${clients[@]}"
elapsed=$(($(date +%s%3N) - started))
admitted=$(cat "$tmp"/rate.* | grep -c '"n": *1')
limited=$(cat "$tmp"/rate.* | grep -c 'RATE_LIMITED')
echo "note: $admitted of 24 calls admitted across three replicas in $elapsed ms, $limited rate limited"
# The refill over the time the calls took is part of the bound, plus one.
bound=$(python3 -c "import math; print(4 + math.floor(1.5 * $elapsed / 1000) + 1)")
check "the rate limit holds across replicas ($admitted <= $bound)" [ "$admitted" -le "$bound" ]
check "and every other call was told RATE_LIMITED" [ $((admitted + limited)) = 24 ]

# Six slow calls at once, two through each replica: two run, four are refused.
sleep 3
clients=()
for i in $(seq 6); do
  case $((i % 3)) in 0) target=$a ;; 1) target=$b ;; *) target=$c ;; esac
  call_2026 "$target" slow '{}' "$tmp/cap.$i" &
  clients+=($!)
done
wait "${clients[@]}"
ran=$(cat "$tmp"/cap.* | grep -c '"slow": *true')
check "the concurrency cap holds across replicas: 2 of 6 ran ($ran)" [ "$ran" = 2 ]
check "and 4 were refused as busy" [ "$(cat "$tmp"/cap.* | grep -c 'RATE_LIMITED')" = 4 ]

# --- the schedule runs once per slot across replicas ---
# runs_of WORKER: its runs, oldest first, in $tmp/runs.
runs_of() {
  curl -s "$a/v1/runs?worker=$1&limit=1000" |
    python3 -c "import json,sys; json.dump(json.load(sys.stdin)['runs'][::-1], open('$tmp/runs', 'w'))"
}
py() { python3 -c "import json; r = json.load(open('$tmp/runs')); print($1)"; }
sleep 6
runs_of ticker
slots=$(py "len(r)")
check "the ticker ran on its slots ($slots runs so far)" [ "$slots" -ge 5 ]
check "each slot once, whichever replica ran it" [ "$(py "len(set(x['scheduled_ms'] for x in r)) == len(r)")" = True ]

# Kill a replica without warning: the others go on, each slot still once.
killed_at=$(date +%s%3N)
kill -9 "${replica[b]}"
wait "${replica[b]}" 2>/dev/null
sleep 16
runs_of ticker
check "the schedule goes on after replica b is killed" \
  [ "$(py "sum(1 for x in r if x['scheduled_ms'] > $killed_at + 12000)")" -ge 2 ]
check "still each slot once" [ "$(py "len(set(x['scheduled_ms'] for x in r)) == len(r)")" = True ]
check "no slot left stuck: every run ended" [ "$(py "all(x['status'] in ('ok', 'error') for x in r)")" = True ]

# --- the audit log stays one chain after a replica is killed under load ---
clients=()
for i in $(seq 40); do
  target=$a
  [ $((i % 2)) = 0 ] && target=$c
  call_2026 "$target" ticker '{}' /dev/null &
  clients+=($!)
  [ "$i" = 20 ] && kill -9 "${replica[c]}"
done
wait "${clients[@]}"
"$toolgate" audit verify --file "$store" >"$tmp/verify" 2>&1
check "the audit log verifies after replica c was killed under load" grep -q "intact" "$tmp/verify"
status=$(curl -s -o "$tmp/body" -w '%{http_code}' "$a/v1/audit/verify")
check "and so says replica a" [ "$status" = 200 ] && [ "$(jq_body "d['ok']")" = True ]
check "with records from every replica" [ "$(jq_body "d['records'] > 100")" = True ]

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
