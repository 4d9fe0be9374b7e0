#!/usr/bin/env bash
# Runs the schema benchmark: toolgate's validator (bench_schema) and ajv on the
# same cases, one after the other, then prints the joined table.
#   bench/schema/run.sh
# Environment: BUILD_DIR (an existing build directory to use; default
# build-bench, configured as Release), BENCH_SECONDS (time per measurement,
# default 0.4).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
seconds=${BENCH_SECONDS:-0.4}

if [ ! -d "$here/node_modules/ajv" ] || [ ! -d "$here/node_modules/ajv-formats" ]; then
  (cd "$here" && npm ci --silent)
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >"$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log"; exit 1; }
fi
cmake --build "$build" --target bench_schema -j "$(nproc)" >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"; exit 1; }
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
if [ "$build_type" != "Release" ]; then
  echo "!!! $build is a '$build_type' build: toolgate's numbers are not Release numbers"
fi

echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) ($(nproc) threads)"
echo "node $(node --version), ajv $(node -p 'require(process.argv[1]).version' "$here/node_modules/ajv/package.json")," \
  "ajv-formats $(node -p 'require(process.argv[1]).version' "$here/node_modules/ajv-formats/package.json");" \
  "toolgate $build_type build; ${seconds}s per measurement"
echo

"$build/bench/bench_schema" "$here/cases" "$seconds" >"$tmp/toolgate.jsonl"
node "$here/bench_ajv.js" "$here/cases" "$seconds" >"$tmp/ajv.jsonl"
node "$here/report.js" "$here/cases" "$tmp/toolgate.jsonl" "$tmp/ajv.jsonl"
