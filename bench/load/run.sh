#!/usr/bin/env bash
# The load test: toolgate on the jail driver serving a quick sh worker, driven
# open-loop at rising rates by bench_load with a mix of tools/call, tools/list
# and admin GETs until p99 passes 250 ms or errors appear; then the official
# TypeScript SDK server (bench/mcp/sdk_server.mjs, the same tool in-process)
# under the same ramp; then the check that the audit log holds call.begin and
# call.end for every acknowledged call, and `toolgate audit verify`.
# With --soak, one steady rate instead, sampling the gateway's memory, fds,
# threads and live sandboxes, and failing when they grow.
#   bench/load/run.sh [--short] [--soak [SECONDS]]
# --short: a CI-sized run (the load run within 90 s, a 100 s soak). Exits
# non-zero on a failed check (audit, flatness, a server that did not start),
# never on a speed.
# Environment: BUILD_DIR (default build-bench, configured as Release),
# SKIP_BUILD=1 (use BUILD_DIR's toolgate and bench/bench_load as they are),
# LOAD_STEP (seconds a step; 10, short 3), LOAD_RATES (comma-separated req/s),
# LOAD_SESSIONS (MCP sessions per server, default 8), SOAK_RATE (req/s,
# default 50), SOAK_SAMPLE (seconds between samples; 5, short 2), BENCH_WARM
# (toolgate's --warm, default 4).
# Needs root (the gateway's jail sandboxes), cmake, a C compiler, the
# project's libraries and libcurl; Node.js with npm for the peer (without
# them the peer is skipped, with a note).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
short=0
soak=
while [ $# -gt 0 ]; do
  case $1 in
    --short) short=1 ;;
    --soak)
      soak=default
      if [ $# -gt 1 ] && [[ $2 =~ ^[0-9]+$ ]]; then
        soak=$2
        shift
      fi
      ;;
    *)
      echo "usage: bench/load/run.sh [--short] [--soak [SECONDS]]" >&2
      exit 2
      ;;
  esac
  shift
done
if [ "$soak" = default ]; then
  soak=1800
  [ "$short" = 1 ] && soak=100
fi

# shellcheck source=bench/lib.sh
source "$here/../lib.sh"
if [ "$short" = 1 ]; then
  step=${LOAD_STEP:-3}
  refine=1
  sample=${SOAK_SAMPLE:-2}
else
  step=${LOAD_STEP:-10}
  refine=2
  sample=${SOAK_SAMPLE:-5}
fi
rates=${LOAD_RATES:-10,20,40,80,160,320,640,1280,2560,5120,10240,20480}
sessions=${LOAD_SESSIONS:-8}
soak_rate=${SOAK_RATE:-50}

if [ "${SKIP_BUILD:-0}" = 1 ]; then
  for f in toolgate bench/bench_load; do
    [ -x "$build/$f" ] || { echo "!!! $build/$f is not built"; exit 1; }
  done
  build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
else
  build_release toolgate toolgate-agent bench_load
fi

# The peer needs the SDK that bench/mcp installs; without Node.js or npm the
# gateway is still measured and checked.
peer=1
mcp=$here/../mcp
if [ -n "$soak" ]; then
  peer=0
elif ! command -v node >/dev/null; then
  echo "!!! no node: the SDK peer is skipped"
  peer=0
elif [ ! -d "$mcp/node_modules/@modelcontextprotocol/sdk" ] || [ ! -d "$mcp/node_modules/zod" ]; then
  (cd "$mcp" && npm ci --silent) || { echo "!!! npm ci failed: the SDK peer is skipped"; peer=0; }
fi

# Admission control raised out of the way: the rate limiter is not what is
# measured.
cat >"$tmp/config.json" <<'JSON'
{"admission": {"tenant_rate": -1, "tool_rate": -1, "tenant_burst": -1, "tool_burst": -1,
               "tenant_concurrency": -1, "worker_concurrency": -1}}
JSON
mkdir -p "$tmp/data"
start "$tmp/toolgate" "$build/toolgate" serve --insecure-no-auth --listen 127.0.0.1:0 \
  --data-dir "$tmp/data" --driver jail --warm "$warm" --config "$tmp/config.json" \
  --deploy "$here/workers"
tg_url=$url
tg_pid=${servers[-1]}
if [ "$peer" = 1 ]; then
  start "$tmp/sdk" node "$mcp/sdk_server.mjs"
  sdk_url=$url
fi

print_cpu
echo "load average before the run: $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "toolgate $build_type build, jail driver, --warm $warm, admission limits off; worker: a two-line sh echo"
[ "$peer" = 1 ] && echo "peer: @modelcontextprotocol/sdk $(node -p 'require(process.argv[1]).version' \
  "$mcp/node_modules/@modelcontextprotocol/sdk/package.json") on node $(node --version), the same tool as an in-process JS function"
echo

status=0
common=(--sessions "$sessions" --tool echo --args '{"text":"hi"}' --ids "$tmp/ids")
if [ -n "$soak" ]; then
  "$build/bench/bench_load" "${common[@]}" --soak "$soak" --rate "$soak_rate" --pid "$tg_pid" \
    --sample "$sample" --admin "${tg_url%/mcp}" --call-meta toolgate="$tg_url" || status=1
else
  targets=(toolgate="$tg_url")
  [ "$peer" = 1 ] && targets+=(sdk="$sdk_url")
  "$build/bench/bench_load" "${common[@]}" --step "$step" --rates "$rates" --refine "$refine" \
    --admin "${tg_url%/mcp}" --call-meta "${targets[@]}" || status=1
  if [ "$peer" = 1 ]; then
    echo "The ratio compares protocol and pipeline overhead, not like for like: toolgate runs"
    echo "every tools/call in a fresh jail sandbox and audits it durably; the SDK calls a JS function."
  fi
fi

# Every acknowledged call has its call.begin and call.end, and the chain holds.
echo
"$build/toolgate" audit export --since 1d --data-dir "$tmp/data" >"$tmp/export.jsonl" || status=1
"$build/bench/bench_load" --check-audit "$tmp/ids" "$tmp/export.jsonl" || status=1
if ! "$build/toolgate" audit verify --data-dir "$tmp/data" | sed "s|$tmp/data/||"; then
  echo "!!! toolgate audit verify failed"
  status=1
fi
kill -0 "$tg_pid" 2>/dev/null || { echo "!!! the gateway is gone"; status=1; }

report_stderr "the run" "$tmp/toolgate.err"
[ "$status" = 0 ] || echo "!!! a check failed"
exit "$status"
