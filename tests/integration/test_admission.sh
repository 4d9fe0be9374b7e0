#!/usr/bin/env bash
# Admission control through the real daemon: a flood past a tool's rate limit
# answers RATE_LIMITED at once with an honest retryAfterMs (a retry after it
# succeeds), and a worker's concurrency cap refuses the call beyond it while
# the others run.
#
#   tests/integration/test_admission.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
worker quick 5000 'cat >/dev/null; echo "{\"ok\":true}"'
worker slow 10000 'cat >/dev/null; sleep 2; echo "{\"ok\":true}"'
# A bucket of 5 that refills at one call every two seconds.
printf '%s' '{"admission": {"tool_rate": 0.5, "tool_burst": 5, "worker_concurrency": 2}}' \
  >"$tmp/config.json"
start_gateway --config "$tmp/config.json" --warm 2 --deploy "$tmp/workers"
initialize

# --- 20 calls back to back to a tool whose bucket holds 5 ---
# (one after another, so that the rate limit binds, not the concurrency cap)
for i in $(seq 20); do
  call_into "$tmp/flood.$i" "$i" quick
done
ok=$(grep -l '"ok":true' "$tmp"/flood.* | wc -l)
limited=$(grep -l '"code":"RATE_LIMITED"' "$tmp"/flood.* | wc -l)
check "the bucket's 5 calls ran ($ok)" [ "$ok" = 5 ]
check "the other 15 answered RATE_LIMITED ($limited)" [ "$limited" = 15 ]
retry_ms=$(python3 -c "
import json, sys
for n in range(1, 21):
    text = open('$tmp/flood.%d' % n).read()
    data = [l[5:] for l in text.splitlines() if l.startswith('data:')]
    err = json.loads(data[-1])['result'].get('structuredContent', {}).get('error')
    if err and err['code'] == 'RATE_LIMITED':
        print(err['retryAfterMs'], err['retryable']); break")
check "RATE_LIMITED is retryable with a retryAfterMs ($retry_ms)" [ "${retry_ms#* }" = True ]
retry_ms=${retry_ms%% *}
check "retryAfterMs is within the refill time of one token" [ "$retry_ms" -ge 1 -a "$retry_ms" -le 2000 ]
sleep "$(python3 -c "print(($retry_ms + 50) / 1000)")"
call quick
check "a retry after retryAfterMs succeeds" grep -q '"ok":true' "$tmp/body"

# --- a worker runs at most 2 calls at once ---
pids=()
for i in 1 2; do
  call_into "$tmp/slow.$i" "$i" slow &
  pids+=($!)
done
sleep 1
call slow
check "a third call while two run is refused" grep -q '"code":"RATE_LIMITED"' "$tmp/body"
check "and told to retry soon, as a slot frees when a call ends" grep -q '"retryAfterMs":100,' "$tmp/body"
wait "${pids[@]}"
check "the two running calls finish" [ "$(grep -l '"ok":true' "$tmp"/slow.* | wc -l)" = 2 ]

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
