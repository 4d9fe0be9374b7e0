#!/usr/bin/env bash
# Runs the microVM benchmark: the microvm driver (QEMU microvm guests restored
# from a snapshot) and the jail driver, each through the sandbox pool, side by
# side, against Firecracker's published figures (bench_vm.c says what each
# figure is).
#   bench/vm/run.sh
# Environment: BUILD_DIR (the build directory; default build), BENCH_SECONDS
# (the sustained-calls window per driver, default 10), BENCH_ITERATIONS (warm
# calls and spawns timed per driver, default 40), BENCH_WARM (idle sh
# sandboxes the pool keeps, default 4).
# Needs root (the jail's namespaces and cgroups), cmake, a C compiler, the
# project's libraries, qemu-system-x86_64, and what scripts/build-image.sh
# needs to build the guest image.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build}
seconds=${BENCH_SECONDS:-10}
iterations=${BENCH_ITERATIONS:-40}
warm=${BENCH_WARM:-4}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Configured every time, so a build directory made before bench_vm existed
# learns of it; a new one is a Release build.
type_arg=
[ -f "$build/CMakeCache.txt" ] || type_arg=-DCMAKE_BUILD_TYPE=Release
cmake -S "$root" -B "$build" $type_arg >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"; exit 1; }
cmake --build "$build" --target bench_vm guest-image -j "$(nproc)" >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"; exit 1; }
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
case "$build_type" in
  Release | RelWithDebInfo) ;;
  *) echo "!!! $build is a '$build_type' build: the host side is not optimised" ;;
esac

# The drivers log on stderr: the template's boot time is worth showing, anything
# else is a finding.
rc=0
"$build/bench/bench_vm" "$build/vm-pool/toolgate-agent" "$build/guest-image" \
  "$seconds" "$iterations" "$warm" 2>"$tmp/stderr" || rc=$?
echo
while IFS= read -r line; do
  case "$line" in
    *"template booted"*) echo "driver log: ${line#toolgate: }" ;;
    *) echo "!!! stderr: $line" ;;
  esac
done <"$tmp/stderr"
exit "$rc"
