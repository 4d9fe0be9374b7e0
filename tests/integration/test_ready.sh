#!/usr/bin/env bash
# /readyz says whether a gateway should be sent calls: ready with its audit
# log, store and pool healthy; unready, naming the runtime, once its
# sandboxes stop starting (here: the sandbox agent is gone from beside the
# binary); ready again once they start again. A load balancer drains an
# unready replica and sends it calls again when it recovers.
set -uo pipefail
toolgate=$1
source "$(dirname "$0")/lib.sh"

# A copy of the binaries, so that the agent can be taken from beside this one.
mkdir -p "$tmp/bin"
cp "$toolgate" "$(dirname "$toolgate")/vm-pool/toolgate-agent" "$tmp/bin/"
toolgate=$tmp/bin/toolgate
worker echo 10000 'cat'
TOOLGATE_CALLS_ACQUIRE_MS=300 start_daemon gateway --insecure-no-auth --listen 127.0.0.1:0 \
  --data-dir "$tmp/data" --driver jail --warm 1 --deploy "$tmp/workers/echo"

ready() { curl -s -o "$tmp/ready" -w '%{http_code}' "$base/readyz"; }
field() { python3 -c "import json; print(json.load(open('$tmp/ready'))['$1'])"; }

check "a healthy gateway is ready" [ "$(ready)" = 200 ]
check "its store is ok" [ "$(field store)" = ok ]
check "its pool is ok" [ "$(field pool)" = ok ]

mv "$tmp/bin/toolgate-agent" "$tmp/agent.away"
initialize
for i in 1 2 3; do call echo "{\"n\":$i}"; done
status_seen=
for _ in $(seq 100); do
  status_seen=$(ready)
  [ "$status_seen" = 503 ] && break
  sleep 0.1
done
check "sandboxes that no longer start make it unready (503)" [ "$status_seen" = 503 ]
check "naming the runtime" grep -q '"pool": *"sh: the last [0-9]* sandboxes failed to start"' "$tmp/ready"
check "the rest is still ok" [ "$(field store)" = ok ] && [ "$(field audit)" = ok ]
call echo '{"n":4}'
check "a call meanwhile fails retryable (CAPACITY)" grep -q CAPACITY "$tmp/body"
"$toolgate" status --url "$base" >"$tmp/status.out" 2>"$tmp/status.err"
check "toolgate status exits 1" [ $? = 1 ]
check "and says why" grep -q "pool sh: the last [0-9]* sandboxes failed to start" "$tmp/status.err"

mv "$tmp/agent.away" "$tmp/bin/toolgate-agent"
for _ in $(seq 100); do
  status_seen=$(ready)
  [ "$status_seen" = 200 ] && break
  sleep 0.1
done
check "it is ready again once sandboxes start" [ "$status_seen" = 200 ]
call echo '{"n":5}'
check "and serves calls" grep -q '"n":5' "$tmp/body"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
