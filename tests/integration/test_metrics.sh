#!/usr/bin/env bash
# /metrics through the real daemon, read by a real Prometheus text-format
# parser (prometheus_client's): every metric of docs/metrics.md is there with
# its type; an idle pool's gauges add up; a call that succeeds, one refused
# for its arguments and one whose worker makes an allowed and a denied egress
# request (to an HTTPS upstream on 127.0.0.1) move the counters and the
# histogram counts by exactly what they did; a scheduled worker deployed at
# runtime adds to the scheduler's lag.
#
#   tests/integration/test_metrics.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# The Prometheus parser is Debian's package, for Debian's interpreter: a
# python3 earlier on PATH (a virtualenv, pyenv) would not see it.
debian_python=/usr/bin/python3
if ! "$debian_python" -c 'import prometheus_client' 2>/dev/null; then
  echo "$debian_python has no prometheus_client (scripts/setup.sh installs python3-prometheus-client)" >&2
  exit 1
fi
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

# --- the upstream: a CA, a certificate for localhost, tests/integration/upstream.py ---
start_upstream 300

# --- workers ---
mkdir -p "$tmp/workers/answer" "$tmp/workers/fetch"
cat >"$tmp/workers/answer/toolgate.json" <<'JSON'
{ "name": "answer", "version": "1.0.0", "description": "answers at once",
  "runtime": "sh", "entry": "main.sh",
  "inputSchema": { "type": "object", "properties": { "n": { "type": "integer" } },
                   "additionalProperties": false },
  "limits": { "timeout_ms": 10000 } }
JSON
printf '%s\n' 'cat >/dev/null; echo "{\"answer\":42}"' >"$tmp/workers/answer/main.sh"
cat >"$tmp/workers/fetch/toolgate.json" <<JSON
{ "name": "fetch", "version": "1.0.0", "description": "GETs each URL it is given",
  "runtime": "python3", "entry": "main.py", "inputSchema": { "type": "object" },
  "limits": { "timeout_ms": 10000 },
  "egress": [ { "origin": "https://localhost:$port", "methods": ["GET"] } ] }
JSON
cat >"$tmp/workers/fetch/main.py" <<'PY'
import json, sys, urllib.request, urllib.error
statuses = []
for url in json.load(sys.stdin)["urls"]:
    try:
        with urllib.request.urlopen(url, timeout=30) as res:
            statuses.append(res.status)
    except urllib.error.HTTPError as e:
        statuses.append(e.code)
print(json.dumps({"statuses": statuses}))
PY

cat >"$tmp/config.json" <<JSON
{ "listen": "127.0.0.1:0", "data_dir": "$tmp/data", "deploy": ["$tmp/workers"],
  "sandbox": { "driver": "jail" }, "pool": { "warm": 1 },
  "admission": { "tenant_rate": -1, "tool_rate": -1 },
  "egress": { "ca_file": "$tmp/ca.pem" } }
JSON
start_daemon gateway --config "$tmp/config.json"
admin=$("$toolgate" token --data-dir "$tmp/data" --tenant demo --sub ops --scope admin --audience "$url")
auth="Authorization: Bearer $admin"

# --- reading /metrics ---
# prom.py FILE: parses the scrape, failing on any parse error, on a sample
# no TYPE line claims (the parser's lax "untyped"), on a family named twice
# and on a histogram whose buckets are not cumulative up to +Inf == _count;
# then prints "name{k="v",...} value" per sample, labels sorted, for grep
# and for value below.
cat >"$tmp/prom.py" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1]).read()
families = list(text_string_to_metric_families(text))
names = [f.name for f in families]
problems = []
for name in sorted(set(n for n in names if names.count(n) > 1)):
    problems.append("family %s more than once" % name)
for f in families:
    if f.type == "untyped":
        problems.append("untyped samples %s" % [s.name for s in f.samples])
    if f.type != "histogram":
        continue
    series = {}
    for s in f.samples:
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        series.setdefault(key, {"buckets": [], "count": None})
        if s.name.endswith("_bucket"):
            series[key]["buckets"].append((float(s.labels["le"]), s.value))
        elif s.name.endswith("_count"):
            series[key]["count"] = s.value
    for key, h in series.items():
        b = h["buckets"]
        if not b or b[-1][0] != float("inf") or b[-1][1] != h["count"] or \
                any(b[i][0] >= b[i + 1][0] or b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            problems.append("histogram %s %s: buckets %s, count %s" % (f.name, key, b, h["count"]))
if problems:
    sys.exit("\n".join(problems))
for f in families:
    print("# %s %s" % (f.name, f.type))
    for s in f.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        print("%s{%s} %r" % (s.name, labels, s.value))
PY
# scrape NAME: GET /metrics into $tmp/NAME.prom, parsed into $tmp/NAME.samples.
scrape() {
  status=$(curl -s -o "$tmp/$1.prom" -D "$tmp/$1.headers" -w '%{http_code}' "$base/metrics")
  check "scrape $1: 200" [ "$status" = 200 ]
  check "scrape $1: text format 0.0.4" grep -qi '^content-type: text/plain; version=0.0.4' "$tmp/$1.headers"
  "$debian_python" "$tmp/prom.py" "$tmp/$1.prom" >"$tmp/$1.samples" 2>"$tmp/$1.problems"
  check "scrape $1 parses: $(head -c 600 "$tmp/$1.problems")" [ $? = 0 ]
}
# value NAME SAMPLE [LABEL=VALUE...]: the sum of SAMPLE's values in scrape
# NAME over the series with those labels (0 when there is none).
value() {
  python3 - "$tmp/$1.samples" "${@:2}" <<'PY'
import re, sys
want = sys.argv[2]
labels = dict(a.split("=", 1) for a in sys.argv[3:])
total = 0.0
for line in open(sys.argv[1]):
    m = re.match(r'^([^#{ ]+)\{(.*)\} (\S+)$', line.strip())
    if not m or m.group(1) != want:
        continue
    have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
    if all(have.get(k) == v for k, v in labels.items()):
        total += float(m.group(3))
print(int(total) if total == int(total) else total)
PY
}
# moved WHAT SAMPLE BY [LABEL=VALUE...]: SAMPLE grew by exactly BY from
# scrape "before" to scrape "after".
moved() {
  local what=$1 sample=$2 by=$3
  shift 3
  local b a
  b=$(value before "$sample" "$@")
  a=$(value after "$sample" "$@")
  check "$what: $sample{$*} +$by (from $b to $a)" [ "$((a - b))" = "$by" ]
}

# --- every metric, with its type (the parser names a counter without _total) ---
# An idle pool has made its warm sandboxes; until then the gauges move.
for _ in $(seq 100); do
  scrape idle
  [ "$(value idle toolgate_pool_sandboxes state=booting)" = 0 ] &&
    [ "$(value idle toolgate_pool_sandboxes state=warm runtime=sh)" = 1 ] &&
    [ "$(value idle toolgate_pool_sandboxes state=warm runtime=python3)" = 1 ] && break
  sleep 0.1
done
for family in "toolgate_calls counter" "toolgate_call_phase_seconds histogram" \
  "toolgate_call_duration_seconds histogram" "toolgate_calls_in_flight gauge" \
  "toolgate_calls_queued gauge" "toolgate_pool_sandboxes gauge" \
  "toolgate_sandbox_start_seconds histogram" "toolgate_egress_requests counter" \
  "toolgate_egress_request_seconds histogram" "toolgate_audit_queue_depth gauge" \
  "toolgate_audit_commit_seconds histogram" "toolgate_audit_writable gauge" \
  "toolgate_audit_commits counter" "toolgate_sandbox_runs counter" \
  "toolgate_scheduler_lag_seconds histogram" "toolgate_output_schema_violations counter" \
  "toolgate_build_info gauge"; do
  check "metric $family" grep -qx "# $family" "$tmp/idle.samples"
done
check "the build is on toolgate_build_info" grep -q '^toolgate_build_info{version="[0-9][^"]*"} 1' "$tmp/idle.samples"

# --- the pool, idle: warm sandboxes only, one per runtime as configured ---
for rt in sh python3; do
  check "pool $rt: 1 warm" [ "$(value idle toolgate_pool_sandboxes runtime=$rt state=warm)" = 1 ]
  check "pool $rt: none busy" [ "$(value idle toolgate_pool_sandboxes runtime=$rt state=busy)" = 0 ]
  check "pool $rt: none booting" [ "$(value idle toolgate_pool_sandboxes runtime=$rt state=booting)" = 0 ]
  check "pool $rt: its sandbox's start was timed" \
    [ "$(value idle toolgate_sandbox_start_seconds_count runtime=$rt how=spawn)" -ge 1 ]
done
check "no call in flight" [ "$(value idle toolgate_calls_in_flight)" = 0 ]
check "no call queued" [ "$(value idle toolgate_calls_queued)" = 0 ]
check "the audit queue is empty" [ "$(value idle toolgate_audit_queue_depth)" = 0 ]

# --- calls ---
post "$accept" "$json" "$auth" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}'
sid=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p' "$tmp/headers")
s="Mcp-Session-Id: $sid"
acall() { # acall NAME ARGUMENTS
  post "$accept" "$json" "$auth" "$s" "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":\"$1\",\"arguments\":$2}}"
}
phases() { # phases WHAT BY PHASE...: each phase's count grew by BY
  local what=$1 by=$2 p
  shift 2
  for p in "$@"; do moved "$what" toolgate_call_phase_seconds_count "$by" phase="$p"; done
}

scrape before
acall answer '{"n": 1}'
check "a call succeeds" [ "$(jq_body "d['result']['structuredContent']['answer']")" = 42 ]
scrape after
moved "ok call" toolgate_calls_total 1 tenant=demo tool=answer status=ok code=
moved "ok call" toolgate_calls_total 1
moved "ok call" toolgate_call_duration_seconds_count 1 tenant=demo tool=answer
moved "ok call" toolgate_sandbox_runs_total 1
phases "ok call" 1 validate admission audit acquire run
phases "ok call" 0 egress
check "ok call: the audit log committed" \
  [ "$(value after toolgate_audit_commits_total)" -gt "$(value before toolgate_audit_commits_total)" ]
check "ok call: its commits were timed" \
  [ "$(value after toolgate_audit_commit_seconds_count)" -gt "$(value before toolgate_audit_commit_seconds_count)" ]
check "ok call: nothing in flight after" [ "$(value after toolgate_calls_in_flight)" = 0 ]
check "ok call: nothing queued after" [ "$(value after toolgate_calls_queued)" = 0 ]

cp "$tmp/after.samples" "$tmp/before.samples"
acall answer '{"n": "one"}'
check "bad arguments are refused" [ "$(jq_body "d['result']['structuredContent']['error']['code']")" = INVALID_ARGUMENTS ]
scrape after
moved "refused call" toolgate_calls_total 1 tenant=demo tool=answer status=error code=INVALID_ARGUMENTS
moved "refused call" toolgate_calls_total 1
moved "refused call" toolgate_call_duration_seconds_count 1 tool=answer
moved "refused call" toolgate_sandbox_runs_total 0
phases "refused call" 1 validate audit
phases "refused call" 0 admission acquire run egress

cp "$tmp/after.samples" "$tmp/before.samples"
acall fetch "{\"urls\": [\"http://localhost:$port/free/one\", \"http://denied.example/two\"]}"
check "the worker's egress went as its rules say" \
  [ "$(jq_body "d['result']['structuredContent']['statuses']")" = "[200, 403]" ]
scrape after
moved "egress call" toolgate_calls_total 1 tool=fetch status=ok code=
moved "egress call" toolgate_egress_requests_total 1 origin="https://localhost:$port" outcome=ok
moved "egress call" toolgate_egress_requests_total 1 origin=http://denied.example outcome=denied
moved "egress call" toolgate_egress_requests_total 2
moved "egress call" toolgate_egress_request_seconds_count 1 outcome=ok
moved "egress call" toolgate_egress_request_seconds_count 1 outcome=denied
phases "egress call" 1 validate admission audit acquire run egress
# Each used sandbox is destroyed after its answer and replaced in the
# background: the pool settles back to what it was, with a start for each.
for _ in $(seq 100); do
  scrape settled
  [ "$(value settled toolgate_pool_sandboxes state=busy)" = 0 ] &&
    [ "$(value settled toolgate_pool_sandboxes state=booting)" = 0 ] &&
    [ "$(value settled toolgate_pool_sandboxes state=warm)" = 2 ] && break
  sleep 0.1
done
for rt in sh python3; do
  check "pool $rt after the calls: 1 warm" [ "$(value settled toolgate_pool_sandboxes runtime=$rt state=warm)" = 1 ]
  check "pool $rt after the calls: none busy" [ "$(value settled toolgate_pool_sandboxes runtime=$rt state=busy)" = 0 ]
  check "pool $rt: one start more, for the sandbox of its call" \
    [ "$(value settled toolgate_sandbox_start_seconds_count runtime=$rt how=spawn)" = \
      $(($(value idle toolgate_sandbox_start_seconds_count runtime=$rt how=spawn) + 1)) ]
done

# --- the scheduler: a worker on @every 1s deployed at runtime ---
mkdir -p "$tmp/deploy/ticker"
cat >"$tmp/deploy/ticker/toolgate.json" <<'JSON'
{ "name": "ticker", "version": "1.0.0", "description": "runs every second",
  "runtime": "sh", "entry": "main.sh", "inputSchema": { "type": "object" },
  "limits": { "timeout_ms": 10000 }, "triggers": { "schedule": "@every 1s" } }
JSON
printf '%s\n' 'cat >/dev/null; echo "{}"' >"$tmp/deploy/ticker/main.sh"
"$toolgate" deploy "$tmp/deploy/ticker" --url "$base" --token "$admin" >"$tmp/deploy.out" 2>&1
check "a scheduled worker deploys" [ $? = 0 ]
for _ in $(seq 50); do
  scrape scheduled
  [ "$(value scheduled toolgate_scheduler_lag_seconds_count)" -ge 2 ] && break
  sleep 0.2
done
check "scheduled runs' lag is measured" [ "$(value scheduled toolgate_scheduler_lag_seconds_count)" -ge 2 ]
check "and counted as calls" [ "$(value scheduled toolgate_calls_total tool=ticker)" -ge 1 ]
check "and far below a second on an idle gateway" \
  [ "$(value scheduled toolgate_scheduler_lag_seconds_bucket le=1)" = "$(value scheduled toolgate_scheduler_lag_seconds_count)" ]

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
