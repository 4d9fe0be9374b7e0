#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance,
# pinned in package.json, on the Node 22 it needs, from the `node` package)
# against a real toolgate serving the fixtures in examples/workers/. Every
# scenario must pass except those listed, with their reasons, in
# expected-failures.yml.
#
#   tests/conformance/run.sh PATH/TO/toolgate
set -euo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ ! -x "$here/node_modules/.bin/node" ] || [ ! -d "$here/node_modules/@modelcontextprotocol/conformance" ]; then
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
  --deploy "$root/examples/workers" \
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
# fails. Otherwise one line says what ran.
cd "$tmp"
if ! "$here/node_modules/.bin/node" "$here/node_modules/@modelcontextprotocol/conformance/dist/index.js" \
  server --url "$url" --expected-failures "$here/expected-failures.yml" >"$tmp/log" 2>&1; then
  cat "$tmp/log"
  echo "conformance: the baseline check failed (see above)" >&2
  exit 1
fi
passing=$(grep -c '^✓' "$tmp/log" || true)
expected=$(grep -c '^  ~ ' "$tmp/log" || true)
echo "conformance: $passing scenarios pass; $expected fail as expected-failures.yml says they must"
