#!/usr/bin/env bash
# Runs the scheduler benchmark (bench_scheduler.c says what each figure is):
# 10,000 scheduled workers registered and reloaded, the time to find due runs
# against a naive pass over every schedule, and the CPU the scheduler's thread
# uses while idle against a naive thread ticking every second.
#   bench/scheduler/run.sh
# Environment: BUILD_DIR (an existing build directory to use; default
# build-bench, configured as Release), BENCH_WORKERS (default 10000),
# BENCH_DUE (runs due at once, default 100), BENCH_IDLE_SECONDS (default 10).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/../lib.sh"

build_release bench_scheduler

# On the build directory's disk, not /tmp, which is often tmpfs: the store
# fsyncs each poll's transaction as the gateway's does.
data=$(mktemp -d "${build}/bench-scheduler.XXXXXX")
trap 'cleanup; rm -rf "$data"' EXIT

print_cpu
echo "bench_scheduler $build_type build"
"$build/bench/bench_scheduler" --workers "${BENCH_WORKERS:-10000}" --due "${BENCH_DUE:-100}" \
  --idle-seconds "${BENCH_IDLE_SECONDS:-10}" "$data"
