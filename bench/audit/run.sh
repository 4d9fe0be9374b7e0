#!/usr/bin/env bash
# Runs the audit log benchmark (bench_audit.c says what each figure is):
# durable audited calls a second with group commit and with a commit per
# record, the latency the log adds to a call, and queries and verify on a log
# of a million records.
#   bench/audit/run.sh
# Environment: BUILD_DIR (an existing build directory to use; default
# build-bench, configured as Release), BENCH_THREADS (calling threads,
# default 32), BENCH_SECONDS (measured time per mode, default 3),
# BENCH_RECORDS (records in the big log, default 1000000; 0 skips it),
# AUDIT_DIR (where the logs go, default the build directory).
# Needs cmake, a C compiler and the project's libraries; about 2 GB free
# in AUDIT_DIR for the million records.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/../lib.sh"
threads=${BENCH_THREADS:-32}
seconds=${BENCH_SECONDS:-3}
records=${BENCH_RECORDS:-1000000}

build_release bench_audit

# Not lib.sh's $tmp: /tmp is often tmpfs, where an fsync costs nothing and the
# durable figures would lie. The build directory sits on the disk the
# gateway's data dir would; bench_audit names the filesystem it got.
data=$(mktemp -d "${AUDIT_DIR:-$build}/bench-audit.XXXXXX")
trap 'cleanup; rm -rf "$data"' EXIT

print_cpu
echo "bench_audit $build_type build"
"$build/bench/bench_audit" --threads "$threads" --seconds "$seconds" --records "$records" "$data"
