#!/usr/bin/env bash
# The load test's CI stage: the short load run and the short soak against an
# already-built tree. Fails on a failed check (a call missing from the audit
# log, a broken chain, memory, fds, threads or sandboxes that grow, a server
# that did not start), never on a speed.
#   bench/load/ci.sh BUILD_DIR
set -euo pipefail

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: bench/load/ci.sh BUILD_DIR" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)

status=0
echo "== load, short"
BUILD_DIR=$build SKIP_BUILD=1 "$here/run.sh" --short || status=1
echo "== soak, short"
BUILD_DIR=$build SKIP_BUILD=1 "$here/run.sh" --short --soak || status=1
exit "$status"
