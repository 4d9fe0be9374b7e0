#!/usr/bin/env bash
# Structured logs and trace context through the real daemon: a call whose
# request carries a W3C traceparent (on /mcp, a button run and a webhook)
# keeps its trace id in the audit records, in the worker's TRACEPARENT (with
# a parent id of the call's own and the caller's sampled flag) and in the
# daemon's log lines about it; a call without one, or with a malformed one,
# starts a trace of its own; and every line the daemon wrote on stderr is
# one JSON object with time, level and msg.
#
#   tests/integration/test_logs.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

# The worker's own shell expands $TRACEPARENT.
# shellcheck disable=SC2016
worker trace_env 10000 'cat >/dev/null; printf "{\"traceparent\":\"%s\"}\n" "$TRACEPARENT"'
start_gateway --deploy "$tmp/workers"

trace=4bf92f3577b34da6a3ce929d0e0e4736
parent=00f067aa0ba902b7
matches() { [[ $1 =~ $2 ]]; } # matches STRING REGEX
# The worker's TRACEPARENT, from the last answer (an SSE body or the JSON of a run).
seen() { jq_body "(d.get('result') or d)['structuredContent']['traceparent']"; }
call_id() { jq_body "(d.get('result') or d)['_meta']['dev.toolgate/callId']"; }
# audit_traces CALL_ID: the trace ids of the call's audit records, one a line.
audit_traces() {
  curl -s "$base/v1/audit?call_id=$1" |
    python3 -c 'import json, sys; [print(r["trace_id"]) for r in json.load(sys.stdin)["records"]]'
}
# log_traces CALL_ID: the trace ids of the daemon's log lines about the call.
log_traces() {
  python3 - "$tmp/gateway.err" "$1" <<'EOF'
import json, sys
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if isinstance(d, dict) and d.get("call_id") == sys.argv[2]:
        print(d.get("trace_id"))
EOF
}
# same_trace CALL_ID TRACE: the call's audit records and log lines carry TRACE.
same_trace() {
  local a l
  a=$(audit_traces "$1" | sort -u)
  l=$(log_traces "$1" | sort -u)
  [ "$a" = "$2" ] && [ "$l" = "$2" ]
}

# --- /mcp ---
initialize
post "$accept" "$json" "$s" "traceparent: 00-$trace-$parent-01" \
  '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"trace_env","arguments":{}}}'
tp=$(seen)
id=$(call_id)
check "the worker sees the caller's trace ($tp)" matches "$tp" "^00-$trace-[0-9a-f]{16}-01\$"
check "under a parent id of the call's own" [ "${tp:36:16}" != "$parent" ]
check "the audit records keep the trace id" [ "$(audit_traces "$id" | sort -u)" = "$trace" ]
check "so do the log lines about the call" [ "$(log_traces "$id" | sort -u)" = "$trace" ]
check "which name the call" [ "$(log_traces "$id" | wc -l)" -ge 1 ]

post "$accept" "$json" "$s" "traceparent: 00-$trace-$parent-00" \
  '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"trace_env","arguments":{}}}'
check "an unsampled trace stays unsampled" matches "$(seen)" "^00-$trace-[0-9a-f]{16}-00\$"

call trace_env
tp=$(seen)
own=${tp:3:32}
check "no traceparent: a new, sampled trace ($tp)" matches "$tp" '^00-[0-9a-f]{32}-[0-9a-f]{16}-01$'
check "whose id is the audit's and the log's" same_trace "$(call_id)" "$own"

post "$accept" "$json" "$s" "traceparent: 00-${trace^^}-$parent-01" \
  '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"trace_env","arguments":{}}}'
tp=$(seen)
check "a malformed traceparent is not joined" [ "${tp:3:32}" != "$trace" ]
check "the call has a trace of its own" same_trace "$(call_id)" "${tp:3:32}"

# --- a button run ---
status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "traceparent: 00-$trace-$parent-01" \
  --data-binary '{}' "$base/v1/workers/trace_env/run")
check "a button run answers 200" [ "$status" = 200 ]
check "and joins the caller's trace" matches "$(seen)" "^00-$trace-[0-9a-f]{16}-01\$"
check "in the audit and the log" same_trace "$(call_id)" "$trace"

# --- a webhook ---
curl -s -o "$tmp/hook" -X POST "$base/v1/workers/trace_env/hooks"
hook_id=$(python3 -c "import json; print(json.load(open('$tmp/hook'))['id'])")
secret=$(python3 -c "import json; print(json.load(open('$tmp/hook'))['secret'])")
printf '{}' >"$tmp/hook-body"
signature=$(python3 - "$secret" "$(date +%s)" "$tmp/hook-body" <<'EOF'
import hashlib, hmac, sys
secret, t, path = sys.argv[1], sys.argv[2], sys.argv[3]
body = open(path, 'rb').read()
print(f"t={t},v1={hmac.new(secret.encode(), t.encode() + b'.' + body, hashlib.sha256).hexdigest()}")
EOF
)
status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  -H "Toolgate-Signature: $signature" -H "traceparent: 00-$trace-$parent-01" \
  --data-binary "@$tmp/hook-body" "$base/v1/hooks/$hook_id")
check "a signed webhook answers 200" [ "$status" = 200 ]
check "and joins the sender's trace" matches "$(seen)" "^00-$trace-[0-9a-f]{16}-01\$"
check "in the audit and the log" same_trace "$(call_id)" "$trace"

# --- every line on stderr, the last ones (stopping) included ---
kill "$server_pid" && wait "$server_pid"
server_pid=
check "the daemon wrote log lines" [ -s "$tmp/gateway.err" ]
check "each one JSON object with time, level and msg" python3 - "$tmp/gateway.err" <<'EOF'
import json, re, sys
ok = True
for n, line in enumerate(open(sys.argv[1], "rb").read().split(b"\n")[:-1], 1):
    try:
        d = json.loads(line.decode("utf-8"))
        good = (isinstance(d, dict) and d.get("level") in ("debug", "info", "warn", "error")
                and isinstance(d.get("msg"), str)
                and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", d.get("time", "")))
    except ValueError:
        good = False
    if not good:
        print(f"line {n} is not a log line: {line[:200]!r}", file=sys.stderr)
        ok = False
sys.exit(0 if ok else 1)
EOF

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
