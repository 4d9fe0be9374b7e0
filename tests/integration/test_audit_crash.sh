#!/usr/bin/env bash
# The audit log survives a crash: the gateway runs under concurrent calls,
# is killed with SIGKILL at a random moment, and restarts on the same data
# dir. Every call a client saw succeed must have its call.begin and call.end,
# the chain must verify, and verify must list exactly the calls that began
# and never ended (cut off by the kill), none of which a client saw succeed.
#
#   tests/integration/test_audit_crash.sh PATH/TO/toolgate [ROUNDS]
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate [ROUNDS]}
rounds=${2:-3}
clients=6
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

worker quick 10000 'cat; echo'
worker slow 10000 'cat >/dev/null; sleep 0.2; echo "{\"slept\":true}"'
cat >"$tmp/config.json" <<JSON
{ "listen": "127.0.0.1:0", "data_dir": "$tmp/data", "insecure_no_auth": true,
  "admission": { "tenant_rate": -1, "tool_rate": -1, "tenant_concurrency": -1,
                 "worker_concurrency": -1 } }
JSON
log=$tmp/data/audit.db
deployed=

# client N: calls in a loop until killed, appending the call id of each
# result it received whole and successful to $tmp/ok.N.
client() {
  local n=$1 i=0 tool sid_
  curl -s -D "$tmp/h.$n" -o /dev/null -H "$accept" -H "$json" --max-time 10 --data-binary \
    '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"crash","version":"1"}}}' \
    "$url" || return
  sid_=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p' "$tmp/h.$n")
  while :; do
    i=$((i + 1))
    tool=quick
    [ $((i % 3)) = 0 ] && tool=slow
    curl -s -o "$tmp/r.$n" -H "$accept" -H "$json" -H "Mcp-Session-Id: $sid_" --max-time 10 \
      --data-binary "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"tools/call\",\"params\":{\"name\":\"$tool\",\"arguments\":{\"client\":$n,\"i\":$i}}}" \
      "$url" || return
    python3 - "$tmp/r.$n" >>"$tmp/ok.$n" <<'PY' || return
import json, sys
text = open(sys.argv[1]).read()
data = [l[5:] for l in text.splitlines() if l.startswith("data:")]
if not data:
    sys.exit(1)
result = json.loads(data[-1]).get("result", {})
if not result.get("isError"):
    print(result["_meta"]["dev.toolgate/callId"])
PY
  done
}

total_ok=0
total_cut=0
for round in $(seq "$rounds"); do
  if [ -z "$deployed" ]; then
    start_daemon "gateway$round" --config "$tmp/config.json" --deploy "$tmp/workers"
    deployed=1
  else
    start_daemon "gateway$round" --config "$tmp/config.json"
  fi
  pids=()
  for n in $(seq "$clients"); do
    client "$n" &
    pids+=($!)
  done
  # A random moment once the load is on: 1.5 to 4 s.
  sleep "$(python3 -c 'import random; print(round(random.uniform(1.5, 4), 2))')"
  kill -KILL "$server_pid"
  wait "$server_pid" 2>/dev/null
  server_pid=
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  cat "$tmp"/ok.* >"$tmp/ok_round$round"
  rm -f "$tmp"/ok.*

  # The log as the killed gateway left it, before a restart writes to it.
  "$toolgate" audit verify --file "$log" --json >"$tmp/verify$round.json"
  check "round $round: the chain verifies after SIGKILL" [ $? = 0 ]
  "$toolgate" audit export --file "$log" --since 0 --format jsonl >"$tmp/export$round"
  python3 - "$tmp/export$round" "$tmp/ok_round$round" "$tmp/verify$round.json" >"$tmp/round$round" <<'PY'
import json, sys
begins, ends = set(), set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["kind"] == "call.begin":
        begins.add(r["call_id"])
    elif r["kind"] == "call.end":
        ends.add(r["call_id"])
ok = [l.strip() for l in open(sys.argv[2]) if l.strip()]
report = json.load(open(sys.argv[3]))
missing = [c for c in ok if c not in begins or c not in ends]
cut = begins - ends
print(len(ok), len(missing), len(cut), int(set(report["open_calls"]) == cut),
      int(not (cut & set(ok))))
PY
  read -r nok nmissing ncut same disjoint <"$tmp/round$round"
  check "round $round: clients saw calls succeed" [ "$nok" -gt 0 ]
  check "round $round: every success has both records ($nmissing missing of $nok)" [ "$nmissing" = 0 ]
  check "round $round: verify lists exactly the cut-off calls ($ncut)" [ "$same" = 1 ]
  check "round $round: no cut-off call was seen to succeed" [ "$disjoint" = 1 ]
  total_ok=$((total_ok + nok))
  total_cut=$((total_cut + ncut))
  echo "round $round: $nok calls succeeded, $ncut cut off by the kill"
done

# After the last kill, the gateway starts again and goes on with the chain.
start_daemon after --config "$tmp/config.json"
initialize
call quick '{"after":true}'
check "the restarted gateway serves calls" [ "$(jq_body "d['result'].get('isError', False)")" = False ]
kill "$server_pid" && wait "$server_pid"
server_pid=
check "and the chain still verifies" "$toolgate" audit verify --file "$log"

echo "$total_ok calls succeeded and $total_cut were cut off over $rounds kills"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
