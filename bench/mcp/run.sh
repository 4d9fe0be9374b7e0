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
# shellcheck source=bench/lib.sh
source "$here/../lib.sh"
seconds=${BENCH_SECONDS:-5}
iterations=${POOL_ITERATIONS:-50}

if [ ! -d "$here/node_modules/@modelcontextprotocol/sdk" ] || [ ! -d "$here/node_modules/zod" ]; then
  (cd "$here" && npm ci --silent)
fi

build_release toolgate toolgate-agent
# bench_pool is built here, not by bench/CMakeLists.txt, with the project's
# warning flags, against the libraries the build just made.
# shellcheck disable=SC2046 # pkg-config's flags are separate words
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wshadow -Wformat=2 -Wconversion -Wno-sign-conversion \
  -Wstrict-prototypes -Wmissing-prototypes -I"$root" "$here/bench_pool.c" \
  "$build/vm-pool/libtg_vmpool.a" "$build/gateway/core/libtg_core.a" \
  $(pkg-config --libs jansson libseccomp libcrypto) -lpthread -o "$tmp/bench_pool"

# toolgate serves lib.sh's echo worker, which answers the same fixed text as
# the SDK server's echo.
printf '{%s}\n' "$admission_off" >"$tmp/config.json"
serve toolgate --insecure-no-auth --listen 127.0.0.1:0 --config "$tmp/config.json"
tg_url=$url
start "$tmp/sdk" node "$here/sdk_server.mjs"
sdk_url=$url

sdk_version=$(node -p 'require(process.argv[1]).version' "$here/node_modules/@modelcontextprotocol/sdk/package.json")
print_cpu
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
report_stderr "the run" "$tmp/toolgate.err"
exit "$status"
