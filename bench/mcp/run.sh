#!/usr/bin/env bash
# Runs the MCP benchmark: toolgate serving a trivial sh worker (`echo`) and the
# official TypeScript SDK server serving the same tool in-process, both on
# 127.0.0.1, driven in turn by the same load generator (load.mjs); then the
# sandbox pool's own figures (bench_pool). Prints one table and the ratios.
#   bench/mcp/run.sh
# Environment: BUILD_DIR (an existing build directory to use; default
# build-bench, configured as Release), BENCH_SECONDS (measured time per server
# and mode, default 5), BENCH_WARMUP (seconds, default 1), BENCH_CLIENTS
# (concurrent clients, default 8), BENCH_WARM (toolgate's --warm, default 4),
# POOL_ITERATIONS (warm acquires bench_pool times, default 50).
# Needs root (the gateway's jail sandboxes), cmake, a C compiler, the
# project's libraries, and Node.js with npm.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
seconds=${BENCH_SECONDS:-5}
warmup=${BENCH_WARMUP:-1}
clients=${BENCH_CLIENTS:-8}
warm=${BENCH_WARM:-4}
iterations=${POOL_ITERATIONS:-50}

if [ ! -d "$here/node_modules/@modelcontextprotocol/sdk" ] || [ ! -d "$here/node_modules/zod" ]; then
  (cd "$here" && npm ci --silent)
fi

tmp=$(mktemp -d)
tg_pid=
sdk_pid=
cleanup() {
  for pid in $tg_pid $sdk_pid; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $tg_pid $sdk_pid; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >"$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log"; exit 1; }
fi
cmake --build "$build" --target toolgate toolgate-agent -j "$(nproc)" >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"; exit 1; }
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
if [ "$build_type" != "Release" ]; then
  echo "!!! $build is a '$build_type' build: toolgate's numbers are not Release numbers"
fi
# bench_pool is built here, not by bench/CMakeLists.txt, with the project's
# warning flags, against the libraries the build just made.
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wshadow -Wformat=2 -Wconversion -Wno-sign-conversion \
  -Wstrict-prototypes -Wmissing-prototypes -I"$root" "$here/bench_pool.c" \
  "$build/vm-pool/libtg_vmpool.a" "$build/gateway/core/libtg_core.a" \
  $(pkg-config --libs jansson libseccomp libcrypto) -lpthread -o "$tmp/bench_pool"

# The worker toolgate runs: answers the same fixed text the SDK server's echo does.
mkdir -p "$tmp/workers/echo" "$tmp/data"
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

# Starts a server in the background and waits for its "serving MCP at URL"
# line on stdout; sets url. $1 names the pid variable to set, $2 the log file.
start() {
  local var=$1 log=$2
  shift 2
  "$@" >"$log.out" 2>"$log.err" &
  printf -v "$var" '%s' "$!"
  for _ in $(seq 100); do
    url=$(sed -n 's/.*serving MCP at \(http[^ ]*\).*/\1/p' "$log.out")
    [ -n "$url" ] && return 0
    kill -0 "${!var}" 2>/dev/null || break
    sleep 0.1
  done
  echo "!!! $* did not start:"
  cat "$log.out" "$log.err"
  exit 1
}

# Throughput is the figure here, so admission control's per-tool rate limit is off.
printf '%s' '{"admission": {"tenant_rate": -1, "tool_rate": -1, "tenant_concurrency": -1,
  "worker_concurrency": -1}}' >"$tmp/config.json"
start tg_pid "$tmp/toolgate" "$build/toolgate" serve --insecure-no-auth --listen 127.0.0.1:0 \
  --config "$tmp/config.json" --data-dir "$tmp/data" --warm "$warm" --deploy "$tmp/workers"
tg_url=$url
start sdk_pid "$tmp/sdk" node "$here/sdk_server.mjs"
sdk_url=$url

sdk_version=$(node -p 'require(process.argv[1]).version' "$here/node_modules/@modelcontextprotocol/sdk/package.json")
echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) ($(nproc) threads)"
echo "node $(node --version), @modelcontextprotocol/sdk $sdk_version; toolgate $build_type build, --warm $warm"
echo "toolgate runs each tools/call in a fresh jail sandbox (taken from its warm pool, then destroyed);"
echo "the SDK server runs a JS function in-process. The load generator shares the machine with both."
echo

status=0
node "$here/load.mjs" --clients "$clients" --seconds "$seconds" --warmup "$warmup" \
  toolgate="$tg_url" sdk="$sdk_url" || status=$?
echo
"$tmp/bench_pool" "$build/vm-pool/toolgate-agent" "$iterations" "$warm" || status=$?

# Anything the gateway complained about during the run is a finding.
if grep -v -e 'WARNING: serving without authentication' -e '^toolgate: deployed ' "$tmp/toolgate.err" >"$tmp/tg-complaints"; then
  echo
  echo "!!! toolgate wrote to stderr during the run (first lines):"
  head -n 20 "$tmp/tg-complaints"
fi
exit "$status"
