# Helpers shared by the benchmarks that load toolgate's MCP endpoint
# (bench/mcp, bench/auth), which source this file after `set -euo pipefail`:
# the knobs they share, a temporary directory removed on exit with the servers
# stopped, a Release build, the echo worker, and starting a server.
# shellcheck shell=bash
# The sourcing script reads what these helpers set.
# shellcheck disable=SC2034

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
warmup=${BENCH_WARMUP:-1}
clients=${BENCH_CLIENTS:-8}
warm=${BENCH_WARM:-4}

tmp=$(mktemp -d)
servers=()
# shellcheck disable=SC2317 # called by the EXIT trap, which shellcheck does not follow
cleanup() {
  local pid
  for pid in "${servers[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${servers[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

# build_release TARGET...: configures $build (a new one as a Release build)
# every time, so a build directory made before a target existed learns of it,
# and builds the TARGETs, showing the log only if that fails; sets build_type.
build_release() {
  local release=()
  [ -f "$build/CMakeCache.txt" ] || release=(-DCMAKE_BUILD_TYPE=Release)
  { cmake -S "$root" -B "$build" "${release[@]}" &&
    cmake --build "$build" --target "$@" -j "$(nproc)"; } \
    >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
  build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
  if [ "$build_type" != "Release" ]; then
    echo "!!! $build is a '$build_type' build: toolgate's numbers are not Release numbers"
  fi
}

# Throughput is the figure, so admission control is off: a member of serve's
# --config.
admission_off='"admission": {"tenant_rate": -1, "tool_rate": -1, "tenant_concurrency": -1,
  "worker_concurrency": -1}'

# The worker toolgate runs, $tmp/workers/echo: answers the fixed text "ok".
mkdir -p "$tmp/workers/echo"
cat >"$tmp/workers/echo/toolgate.json" <<'JSON'
{"name":"echo","version":"1.0.0","description":"Answers ok.","runtime":"sh","entry":"main.sh",
 "inputSchema":{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]},
 "output":"content"}
JSON
cat >"$tmp/workers/echo/main.sh" <<'SH'
#!/bin/sh
cat >/dev/null
printf '%s\n' '{"content":[{"type":"text","text":"ok"}]}'
SH

# start LOG COMMAND...: runs COMMAND in the background, its stdout in LOG.out
# and its stderr in LOG.err, stopped on exit, and waits for its "serving MCP
# at URL" line; sets url.
start() {
  local log=$1 pid
  shift
  "$@" >"$log.out" 2>"$log.err" &
  pid=$!
  servers+=("$pid")
  for _ in $(seq 100); do
    url=$(sed -n 's/.*serving MCP at \(http[^ ]*\).*/\1/p' "$log.out")
    [ -n "$url" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "!!! $* did not start:"
  cat "$log.out" "$log.err"
  exit 1
}

# serve NAME FLAG...: starts toolgate serve with its own data directory, the
# echo worker deployed and serve's FLAGs; logs in $tmp/NAME.out and
# $tmp/NAME.err, sets url.
serve() {
  local name=$1
  shift
  mkdir -p "$tmp/$name-data"
  start "$tmp/$name" "$build/toolgate" serve --data-dir "$tmp/$name-data" --warm "$warm" \
    --deploy "$tmp/workers" "$@"
}

print_cpu() {
  echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) ($(nproc) threads)"
}

# report_stderr WHEN GREP_ARG...: what toolgate wrote to the stderr files
# among the GREP_ARGs beyond the lines it always writes (its debug and info
# log lines, the warning that a benchmark serves without authentication), a
# finding: shows its first lines, saying it came during WHEN. GREP_ARGs may
# add -e PATTERNs of other lines to pass over.
report_stderr() {
  local when=$1
  shift
  if grep -h -v -e '"level":"info"' -e '"level":"debug"' \
    -e '"msg":"serving without authentication' "$@" >"$tmp/tg-complaints"; then
    echo
    echo "!!! toolgate wrote to stderr during $when (first lines):"
    head -n 20 "$tmp/tg-complaints"
  fi
}
