#!/usr/bin/env bash
# Installs every build and test dependency of toolgate from Debian's packages.
# Idempotent: it asks apt only for what is missing, and prints nothing unless
# something fails (then it prints apt's log).
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libjansson-dev libpcre2-dev libidn2-dev
  libmicrohttpd-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev libseccomp-dev libjwt-dev
  busybox-static python3 curl
  # The audit tests tamper with the log through the sqlite3 shell.
  sqlite3
  # The metrics test parses /metrics with the Prometheus client's own parser.
  python3-prometheus-client
  # Schedules in a time zone read the IANA database.
  tzdata
  clang clang-format libclang-rt-14-dev llvm
  # The microVM sandbox driver runs QEMU; scripts/build-image.sh packs the
  # guest image with cpio and unpacks kernel modules shipped as .ko.xz.
  qemu-system-x86 cpio xz-utils
  # The PostgreSQL store: libpq to build, the server for the tests' throwaway
  # clusters (scripts/pg-cluster.sh), nginx in front of replicas in bench/.
  libpq-dev postgresql-15 nginx-light
  # The admin console's end-to-end test drives Debian's headless Chromium.
  chromium
)
# Node.js runs the benchmark peers and the MCP clients. A machine that already
# has node and npm (from any source) keeps them: Debian's npm cannot be
# installed beside a Node.js that did not come from Debian.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  log=$(mktemp)
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  if ! { "${sudo[@]}" apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup: installing ${missing[*]} failed" >&2
    exit 1
  fi
  rm -f "$log"
fi

# npm_ci DIR PACKAGE: installs DIR's locked npm dependencies (under the tree's
# top) unless PACKAGE is there already.
top="$(cd "$(dirname "$0")/.." && pwd)"
npm_ci() {
  [ -d "$top/$1/node_modules/$2" ] && return 0
  local log
  log=$(mktemp)
  if ! (cd "$top/$1" && npm ci --silent --no-audit --no-fund) >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup: npm ci in $1 failed" >&2
    exit 1
  fi
  rm -f "$log"
}
# The official MCP SDK client, which the integration tests drive the gateway with.
npm_ci tests/integration/sdk @modelcontextprotocol/sdk
# playwright-core, which drives Chromium in the admin console's test.
npm_ci tests/ui playwright-core
