#!/usr/bin/env bash
# The admin console end to end: the daemon on loopback with the sample
# workers and a scheduled one, /ui's headers and methods checked with curl,
# then the page driven in headless Chromium by console_test.mjs (sign in, the
# workers, a button run, its call and audit records, filters, the charts, the
# schedules, the chain's status, a wrong token), which leaves a full-page
# screenshot, console.png, in OUT_DIR.
#
#   tests/ui/test_console.sh PATH/TO/toolgate OUT_DIR
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate OUT_DIR}
out_dir=${2:?usage: $0 PATH/TO/toolgate OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "tests/ui: playwright-core is not installed; run scripts/setup.sh" >&2
  exit 1
fi
chromium=${CHROMIUM:-$(command -v chromium)}
if [ -z "$chromium" ]; then
  echo "tests/ui: Debian's chromium is not installed; run scripts/setup.sh" >&2
  exit 1
fi
# shellcheck source=tests/integration/lib.sh
source "$here/../integration/lib.sh"

# A worker on a schedule, so the Schedules section has runs to show; its
# description is markup the page must show as text.
mkdir -p "$tmp/workers/ticker"
cat >"$tmp/workers/ticker/toolgate.json" <<'JSON'
{ "name": "ticker", "version": "1.0.0", "title": "Ticker",
  "description": "<img src=x onerror=\"window.pwned=1\"> says tick every five seconds",
  "runtime": "sh", "entry": "main.sh",
  "inputSchema": { "type": "object", "additionalProperties": false },
  "limits": { "timeout_ms": 5000 }, "triggers": { "schedule": "@every 5s" } }
JSON
printf '%s\n' 'cat >/dev/null; echo "{\"tick\":true}"' >"$tmp/workers/ticker/main.sh"
mkdir -p "$tmp/workers/ticker/fixtures"
echo '{ "description": "ticks", "arguments": {}, "expect": { "structuredContent": { "tick": true } } }' \
  >"$tmp/workers/ticker/fixtures/ticks.json"

cat >"$tmp/config.json" <<JSON
{ "listen": "127.0.0.1:0", "data_dir": "$tmp/data",
  "deploy": ["$root/examples/workers", "$tmp/workers"],
  "admission": { "tenant_rate": -1, "tool_rate": -1 } }
JSON
# The jail driver starts at once; the console, not the sandbox, is under test.
start_daemon gateway --config "$tmp/config.json" --driver jail
admin=$("$toolgate" token --data-dir "$tmp/data" --tenant demo --sub ui --scope "admin" \
  --audience "$url")
reader=$("$toolgate" token --data-dir "$tmp/data" --tenant demo --sub auditor --scope "audit:read" \
  --audience "$url")

# Deploys through the API replay the workers' fixtures, which the console
# shows: deploy DIR [FLAG...], quiet unless it fails.
deploy() {
  "$toolgate" deploy "$@" --url "$base" --token "$admin" --require-fixtures >"$tmp/deploy.out" 2>&1 ||
    { cat "$tmp/deploy.out" >&2; return 1; }
}
check "the ticker deploys with its fixture" deploy "$tmp/workers/ticker"
check "format_text deploys with its contract fixtures" \
  deploy "$root/examples/workers/format_text" --fixtures "$root/contract-fixtures/format_text"

# head_of PATH [CURL FLAG...]: the status in $status, the headers in $tmp/headers.
head_of() {
  local path=$1
  shift
  status=$(curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' "$@" "$base$path")
}
has_header() { grep -qi "^$1: $2"$'\r'"\?$" "$tmp/headers"; }

head_of /ui
check "/ui redirects with 308" [ "$status" = 308 ]
check "to /ui/" has_header Location /ui/
head_of /ui/
check "/ui/ serves the page without a token" [ "$status" = 200 ]
check "as HTML" has_header Content-Type 'text/html; charset=utf-8'
check "under the strict CSP" has_header Content-Security-Policy \
  "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'"
check "with nosniff" has_header X-Content-Type-Options nosniff
check "no referrer" has_header Referrer-Policy no-referrer
check "and no-cache" has_header Cache-Control no-cache
check "the page has no inline script" python3 -c "
import re, sys
sys.exit(any(not re.search(r'\\bsrc=', tag) for tag in re.findall(r'<script[^>]*>', open('$tmp/body').read())))"
check "and loads nothing from elsewhere" bash -c "! grep -q '://' '$tmp/body'"
head_of /ui/app.js
check "app.js is JavaScript" has_header Content-Type 'text/javascript; charset=utf-8'
head_of /ui/style.css
check "style.css is CSS" has_header Content-Type 'text/css; charset=utf-8'
check "which loads nothing from elsewhere" bash -c "! grep -q '://' '$tmp/body'"
head_of /ui/index.html -I
check "HEAD answers 200" [ "$status" = 200 ]
check "with no body" bash -c "! grep -qi doctype '$tmp/body'"
head_of /ui/nope.js
check "an unknown asset is 404" [ "$status" = 404 ]
check "with the same headers" has_header X-Content-Type-Options nosniff
head_of /ui/../v1/workers --path-as-is
check "no path climbs out of the console" [ "$status" = 404 ]
head_of /ui/ -X POST
check "POST is 405" [ "$status" = 405 ]
check "naming GET and HEAD" has_header Allow 'GET, HEAD'

start=$(date +%s%N)
if node "$here/console_test.mjs" "$base" "$admin" "$reader" "$out_dir" "$chromium"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  echo "FAIL: the console in Chromium (above)" >&2
  tail -n 20 "$tmp/gateway.err" >&2
fi
echo "console_test.mjs took $((($(date +%s%N) - start) / 1000000)) ms"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
