#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance,
# pinned in package.json, on the Node 22 it needs, from the `node` package)
# against a real toolgate serving the fixtures in examples/workers/ and
# workers/ here, once per protocol revision the gateway speaks on /mcp: the
# scenarios the suite requires for 2025-11-25 (the initialize handshake and
# sessions) and for 2026-07-28 (stateless), each at its own revision's wire.
# Every required scenario must pass except those listed, with their reasons,
# in expected-failures.yml (2025-11-25) and expected-failures-2026-07-28.yml.
#
#   tests/conformance/run.sh PATH/TO/toolgate
set -euo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
suite=$here/node_modules/@modelcontextprotocol/conformance
# A node_modules left by an older pin is installed again from the lock file.
pinned=$(sed -n 's/.*"@modelcontextprotocol\/conformance": "\([^"]*\)".*/\1/p' "$here/package.json")
installed=$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$suite/package.json" 2>/dev/null || true)
if [ ! -x "$here/node_modules/.bin/node" ] || [ "$installed" != "$pinned" ]; then
  (cd "$here" && npm ci --silent --no-audit --no-fund)
fi

tmp=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

"$toolgate" serve --insecure-no-auth --listen 127.0.0.1:0 --data-dir "$tmp/data" \
  --deploy "$root/examples/workers" --deploy "$here/workers" \
  >"$tmp/out" 2>"$tmp/err" &
server_pid=$!
url=
# The first start on a host probes whether KVM boots the microVM guest.
for _ in $(seq 600); do
  url=$(sed -n 's/^toolgate: serving MCP at \(http[^ ]*\).*/\1/p' "$tmp/out")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$tmp/err" >&2; echo "toolgate did not start" >&2; exit 1; }

# The suite's own log is long; it is shown whole only when the baseline check
# fails. Otherwise one line per revision says what ran.
cd "$tmp"
status=0
for revision in 2025-11-25 2026-07-28; do
  baseline=$here/expected-failures-$revision.yml
  [ "$revision" = 2025-11-25 ] && baseline=$here/expected-failures.yml
  if ! "$here/node_modules/.bin/node" "$suite/dist/index.js" server --url "$url" \
    --requirements "$revision" --expected-failures "$baseline" >"$tmp/log" 2>&1; then
    cat "$tmp/log"
    echo "conformance $revision: the baseline check failed (see above)" >&2
    status=1
    continue
  fi
  passing=$(grep -c '^✓' "$tmp/log" || true)
  expected=$(grep -c '^  ~ ' "$tmp/log" || true)
  echo "conformance $revision: $passing scenarios pass in full; $expected scenarios or checks fail as $(basename "$baseline") says they must"
done
exit "$status"
