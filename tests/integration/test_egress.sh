#!/usr/bin/env bash
# Egress through the real daemon to a real HTTPS upstream on 127.0.0.1
# (tests/integration/upstream.py, its certificate from a CA made here): a
# worker's request (python3 urllib, curl in sh, both through HTTP_PROXY)
# carries the credential its rule injects (a header, a query parameter, basic
# auth) and overwrites the worker's own; the worker finds the secret nowhere
# (environment, files, other processes, the echoed response); an origin,
# method or path without a rule is denied (403 EGRESS_DENIED) and audited; a
# redirect to another allowed origin arrives without the credential; rules
# changed at runtime stop a worker that is already running; the size, time
# and count limits answer their own errors.
#
#   tests/integration/test_egress.sh PATH/TO/toolgate [jail|microvm]
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate [jail|microvm]}
driver=${2:-jail}
if [ "$driver" = microvm ]; then
  if ! command -v qemu-system-x86_64 >/dev/null || [ ! -d "$(dirname "$toolgate")/guest-image" ]; then
    echo "skipped: no QEMU or no guest image for the microvm driver"
    exit 77
  fi
fi
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

# --- a CA, a certificate for 127.0.0.1 and localhost, the upstream ---
start_upstream 600

secret='s3cr3t-Value-7f9e2b'
qsecret='q-secret-41d0'
bsecret='b-secret-77aa'

# --- workers ---
timeout=10000
[ "$driver" = microvm ] && timeout=30000
mkdir -p "$tmp/workers/fetch"
cat >"$tmp/workers/fetch/toolgate.json" <<JSON
{ "name": "fetch", "version": "1.0.0", "description": "one HTTP request through the proxy",
  "runtime": "python3", "entry": "main.py", "inputSchema": { "type": "object" },
  "limits": { "timeout_ms": $timeout },
  "egress": [
    { "origin": "https://localhost:$port", "methods": ["GET", "POST"], "path_prefix": "/h/",
      "inject": { "header": "Authorization", "secret": "API_TOKEN", "format": "Bearer {}" } },
    { "origin": "https://localhost:$port", "methods": ["GET"], "path_prefix": "/q/",
      "inject": { "query": "api_key", "secret": "QUERY_KEY" } },
    { "origin": "https://localhost:$port", "methods": ["GET"], "path_prefix": "/b/",
      "inject": { "basic_username": "bot", "secret": "BASIC_PASS" } },
    { "origin": "https://localhost:$port", "methods": ["GET"], "path_prefix": "/free/" },
    { "origin": "https://127.0.0.1:$port", "methods": ["GET"] } ] }
JSON
cat >"$tmp/workers/fetch/main.py" <<'PY'
import json, sys, urllib.request, urllib.error
args = json.load(sys.stdin)
out = []
for r in args["requests"]:
    req = urllib.request.Request(r["url"], method=r.get("method", "GET"),
                                 data=r["body"].encode() if "body" in r else None,
                                 headers=r.get("headers", {}))
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            out.append({"status": res.status, "headers": dict(res.headers), "body": res.read().decode()})
    except urllib.error.HTTPError as e:
        out.append({"status": e.code, "headers": dict(e.headers), "body": e.read().decode()})
    except Exception as e:
        out.append({"status": 0, "body": repr(e)})
print(json.dumps({"responses": out}))
PY
mkdir -p "$tmp/workers/curl_sh"
cat >"$tmp/workers/curl_sh/toolgate.json" <<JSON
{ "name": "curl_sh", "version": "1.0.0", "description": "curl through the proxy",
  "runtime": "sh", "entry": "main.sh", "inputSchema": { "type": "object" },
  "limits": { "timeout_ms": $timeout },
  "egress": [ { "origin": "https://localhost:$port", "methods": ["POST"], "path_prefix": "/h/",
      "inject": { "header": "X-Api-Key", "secret": "API_TOKEN" } } ] }
JSON
# The worker's shell expands these, not ours.
# shellcheck disable=SC2016
printf '%s\n' 'cat >/dev/null
out=$(curl -s -H "X-Api-Key: mine" --data-binary "hello from sh" "http://localhost:'"$port"'/h/sh")
printf "%s" "$out" | python3 -c "import json,sys; print(json.dumps({\"echo\": sys.stdin.read()}))"' \
  >"$tmp/workers/curl_sh/main.sh"
mkdir -p "$tmp/workers/snoop"
cat >"$tmp/workers/snoop/toolgate.json" <<JSON
{ "name": "snoop", "version": "1.0.0", "description": "looks for the secret everywhere it can",
  "runtime": "python3", "entry": "main.py", "inputSchema": { "type": "object" },
  "limits": { "timeout_ms": $timeout },
  "egress": [ { "origin": "https://localhost:$port", "path_prefix": "/h/",
      "inject": { "header": "Authorization", "secret": "API_TOKEN", "format": "Bearer {}" } } ] }
JSON
cat >"$tmp/workers/snoop/main.py" <<'PY'
import json, os, sys, urllib.request
needles = [s.encode() for s in json.load(sys.stdin)["needles"]]
found = []
def look(where, data):
    for n in needles:
        if n in data:
            found.append(where)
# Make the gateway use the credential while we look.
with urllib.request.urlopen("http://localhost:PORT/h/echo") as res:
    look("response", res.read() + str(res.headers).encode())
look("environ", "\n".join(f"{k}={v}" for k, v in os.environ.items()).encode())
for pid in os.listdir("/proc"):
    # Our own memory holds the needles we were given.
    if not pid.isdigit() or int(pid) == os.getpid():
        continue
    for f in ("environ", "cmdline"):
        try:
            look(f"/proc/{pid}/{f}", open(f"/proc/{pid}/{f}", "rb").read())
        except OSError:
            pass
    try:
        maps = open(f"/proc/{pid}/maps").read().splitlines()
        with open(f"/proc/{pid}/mem", "rb") as mem:
            for line in maps:
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                if "r" not in line.split()[1] or hi - lo > 64 << 20:
                    continue
                try:
                    mem.seek(lo)
                    look(f"/proc/{pid}/mem", mem.read(hi - lo))
                except (OSError, ValueError, OverflowError):
                    pass
    except OSError:
        pass
for top in ("/job", "/tmp", "/etc", "/run", "/var"):
    for d, _, files in os.walk(top):
        for f in files:
            try:
                look(os.path.join(d, f), open(os.path.join(d, f), "rb").read(1 << 20))
            except OSError:
                pass
print(json.dumps({"found": found}))
PY
sed -i "s/PORT/$port/" "$tmp/workers/snoop/main.py"
mkdir -p "$tmp/workers/poller"
cat >"$tmp/workers/poller/toolgate.json" <<JSON
{ "name": "poller", "version": "1.0.0", "description": "asks until it is refused",
  "runtime": "python3", "entry": "main.py", "inputSchema": { "type": "object" },
  "limits": { "timeout_ms": 60000 },
  "egress": [ { "origin": "https://localhost:$port", "methods": ["GET"] } ] }
JSON
cat >"$tmp/workers/poller/main.py" <<PY
import json, sys, time, urllib.request, urllib.error
ok = 0
for i in range(400):
    try:
        urllib.request.urlopen("http://localhost:$port/free/poll?i=%d" % i).read()
        ok += 1
    except urllib.error.HTTPError as e:
        print(json.dumps({"ok": ok, "refused": e.code, "body": json.loads(e.read())}))
        sys.exit(0)
    time.sleep(0.1)
print(json.dumps({"ok": ok, "refused": None}))
PY

cat >"$tmp/config.json" <<JSON
{ "listen": "127.0.0.1:0", "data_dir": "$tmp/data", "deploy": ["$tmp/workers"],
  "sandbox": { "driver": "$driver" }, "pool": { "warm": 1 },
  "admission": { "tenant_rate": -1, "tool_rate": -1 },
  "egress": { "ca_file": "$tmp/ca.pem", "max_request_bytes": 65536,
              "max_response_bytes": 1048576, "timeout_ms": 1500, "max_requests": 12 } }
JSON
start_daemon gateway --config "$tmp/config.json"
admin=$("$toolgate" token --data-dir "$tmp/data" --tenant demo --sub ops --scope admin --audience "$url")
auth="Authorization: Bearer $admin"
put_secret() {
  status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X PUT -H "$auth" --data-binary "$2" \
    "$base/v1/secrets/$1")
}
put_secret API_TOKEN "$secret" && check "secret API_TOKEN stored" [ "$status" = 201 ]
put_secret QUERY_KEY "$qsecret"
put_secret BASIC_PASS "$bsecret"

post "$accept" "$json" "$auth" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}'
sid=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p' "$tmp/headers")
s="Mcp-Session-Id: $sid"
acall() { # acall NAME ARGUMENTS
  post "$accept" "$json" "$auth" "$s" "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":\"$1\",\"arguments\":$2}}"
}
result() { jq_body "d['result']['structuredContent']$1"; }
# The upstream's record of the requests whose path starts with $1.
seen() { python3 -c "
import json, sys
for l in open('$tmp/upstream.log'):
    r = json.loads(l)
    if r['path'].startswith('$1'):
        print(json.dumps(r))"; }
lc=http://localhost:$port
ip=http://127.0.0.1:$port

# --- credentials: injected, overwriting the worker's, redacted from the echo ---
acall fetch "{\"requests\":[{\"url\":\"$lc/h/one\",\"headers\":{\"Authorization\":\"Bearer worker-own\",\"X-Trace\":\"t1\"}}]}"
check "the request through the proxy succeeds" [ "$(result "['responses'][0]['status']")" = 200 ]
seen /h/one >"$tmp/one"
check "the upstream got the injected credential" grep -q "\"Authorization\", \"Bearer $secret\"" "$tmp/one"
check "and not the worker's own" bash -c "! grep -q worker-own '$tmp/one'"
check "and only one Authorization header" [ "$(grep -o '"Authorization"' "$tmp/one" | wc -l)" = 1 ]
check "the worker's other headers arrive" grep -q '"X-Trace", "t1"' "$tmp/one"
check "it came over TLS to the rule's origin" grep -q '"Host", "localhost:'"$port"'"' "$tmp/one"
check "the echoed body is redacted" [ "$(result "['responses'][0]['body'].count('[REDACTED]') > 0 and '$secret' not in d['result']['structuredContent']['responses'][0]['body']")" = True ]
check "the echoed header is redacted" [ "$(result "['responses'][0]['headers'].get('X-Echo-Authorization')")" = "[REDACTED]" ]

acall fetch "{\"requests\":[{\"url\":\"$lc/q/two?a=1&api_key=worker-own\"},{\"url\":\"$lc/b/three\"}]}"
check "query credential" [ "$(seen /q/two | python3 -c 'import json,sys; print(json.load(sys.stdin)["query"])')" = "a=1&api_key=$qsecret" ]
check "basic credential" grep -q "\"Authorization\", \"Basic $(printf 'bot:%s' "$bsecret" | base64)\"" <(seen /b/three)
check "neither reaches the worker" [ "$(result "['responses'][0]['body'].find('$qsecret') + d['result']['structuredContent']['responses'][1]['body'].find('$(printf 'bot:%s' "$bsecret" | base64)')")" = -2 ]

acall fetch "{\"requests\":[{\"url\":\"$lc/h/post\",\"method\":\"POST\",\"body\":\"payload-123\"}]}"
check "a POST body arrives" [ "$(seen /h/post | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["method"], r["body"])')" = "POST payload-123" ]

acall curl_sh '{}'
check "curl in sh goes through the proxy" grep -q '"X-Api-Key", "'"$secret"'"' <(seen /h/sh)
seen /h/sh >"$tmp/sh"
check "curl's own header is overwritten" bash -c "! grep -q '\"mine\"' '$tmp/sh'"
check "curl's body arrives" grep -q '"body": "hello from sh"' <(seen /h/sh)
check "curl sees the echo redacted" [ "$(result "['echo'].count('[REDACTED]') >= 1 and '$secret' not in d['result']['structuredContent']['echo']")" = True ]

acall snoop "{\"needles\":[\"$secret\",\"$qsecret\",\"$bsecret\"]}"
check "the worker finds the secret nowhere" [ "$(result "['found']")" = "[]" ]

# --- denied: origin, method, path; each audited ---
acall fetch "{\"requests\":[{\"url\":\"http://127.0.0.2:$port/h/x\"},{\"url\":\"$lc/h/x\",\"method\":\"DELETE\"},{\"url\":\"$lc/other\"},{\"url\":\"$lc/h/../admin\"}]}"
check "an origin without a rule: 403" [ "$(result "['responses'][0]['status']")" = 403 ]
check "with EGRESS_DENIED" [ "$(result "['responses'][0]['body']" | python3 -c 'import ast,json,sys; print(json.loads(sys.stdin.read())["error"]["code"])')" = EGRESS_DENIED ]
check "a method without a rule: 403" [ "$(result "['responses'][1]['status']")" = 403 ]
check "a path without a rule: 403" [ "$(result "['responses'][2]['status']")" = 403 ]
check "a dot-segment path is not let past a prefix" [ "$(result "['responses'][3]['status']")" = 403 ]
check "nothing denied reached the upstream" bash -c "! grep -q -e '\"/other\"' -e '\"/admin\"' -e '127.0.0.2' '$tmp/upstream.log'"
call_id=$(jq_body "d['result']['_meta']['dev.toolgate/callId']")
"$toolgate" audit query --file "$tmp/data/audit.db" --call-id "$call_id" --kind egress --json >"$tmp/body"
check "each denial is an egress record" [ "$(jq_body "sorted((r['status'], r['body']['method'], r['body']['origin']) for r in d['records'])")" = "[('denied', 'DELETE', 'http://localhost:$port'), ('denied', 'GET', 'http://127.0.0.2:$port'), ('denied', 'GET', 'http://localhost:$port'), ('denied', 'GET', 'http://localhost:$port')]" ]
"$toolgate" audit query --file "$tmp/data/audit.db" --call-id "$call_id" --kind call.end --json >"$tmp/body"
check "call.end sums the egress" [ "$(jq_body "d['records'][0]['body']['egress']['denied']")" = 4 ]
check "no record holds a secret value" bash -c "! grep -aq -e '$secret' -e '$qsecret' -e '$bsecret' '$tmp/data/audit.db' '$tmp/data/audit.db-wal'"

# --- redirects: followed within the rules, the credential left behind ---
acall fetch "{\"requests\":[{\"url\":\"$lc/h/redirect?to=https://127.0.0.1:$port/landed\"}]}"
check "a redirect to an allowed origin is followed" [ "$(result "['responses'][0]['status']")" = 200 ]
check "it arrived" [ -n "$(seen /landed)" ]
check "without the credential" bash -c "! grep -q Authorization <<<'$(seen /landed)'"
acall fetch "{\"requests\":[{\"url\":\"$lc/h/redirect?to=https://localhost:$port/h/again\"}]}"
check "a redirect within the origin keeps it" grep -q "Bearer $secret" <(seen /h/again)
acall fetch "{\"requests\":[{\"url\":\"$lc/h/redirect?to=https://127.0.0.3:$port/nowhere\"}]}"
# The proxy hands the redirect back; urllib then tries https directly, which
# the sandbox has no way to do.
check "a redirect to an origin without a rule is not followed" \
  [ "$(result "['responses'][0]['status'] in (0, 302)")" = True ]
check "nothing reached the unruled origin" [ -z "$(seen /nowhere)" ]

# --- limits ---
acall fetch "{\"requests\":[{\"url\":\"$lc/free/big?bytes=2000000\"},{\"url\":\"$lc/free/slow?ms=4000\"},{\"url\":\"$lc/h/post\",\"method\":\"POST\",\"body\":\"$(head -c 70000 /dev/zero | tr '\0' a)\"}]}"
code_of() { result "['responses'][$1]['body']" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["error"]["code"])'; }
check "a response over the limit: 502 RESPONSE_TOO_LARGE" [ "$(result "['responses'][0]['status']")/$(code_of 0)" = 502/RESPONSE_TOO_LARGE ]
check "a slow upstream: 504 UPSTREAM_TIMEOUT" [ "$(result "['responses'][1]['status']")/$(code_of 1)" = 504/UPSTREAM_TIMEOUT ]
check "a request body over the limit: 413" [ "$(result "['responses'][2]['status']")/$(code_of 2)" = 413/PAYLOAD_TOO_LARGE ]
reqs=$(python3 -c "import json; print(json.dumps({'requests': [{'url': '$lc/free/n%d' % i} for i in range(14)]}))")
acall fetch "$reqs"
check "requests beyond the call's limit: 429 EGRESS_LIMIT" [ "$(jq_body "[r['status'] for r in d['result']['structuredContent']['responses']][10:]")" = "[200, 200, 429, 429]" ]

# --- rules changed at runtime stop a running worker ---
curl -s -o "$tmp/poller.out" -H "$accept" -H "$json" -H "$auth" -H "$s" --max-time 90 \
  --data-binary '{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"poller","arguments":{}}}' \
  "$url" &
poller=$!
for _ in $(seq 300); do [ "$(seen /free/poll | wc -l)" -ge 3 ] && break; sleep 0.1; done
status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X PUT -H "$auth" --data-binary '[]' "$base/v1/workers/poller/egress")
check "rules replaced at runtime" [ "$status" = 200 ]
wait "$poller"
cp "$tmp/poller.out" "$tmp/body"
check "the running worker's next request is refused" [ "$(result "['refused']")" = 403 ]
check "after some that were allowed" [ "$(result "['ok'] >= 3")" = True ]
status=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "$auth" "$base/v1/workers/poller/egress")
check "GET shows the runtime rules" [ "$(jq_body "(d['source'], d['rules'])")" = "('runtime', [])" ]
status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X PUT -H "$auth" --data-binary '[{"origin":"http://x"}]' "$base/v1/workers/poller/egress")
check "rules that break the manifest's shape are refused" [ "$status" = 400 ]
status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X DELETE -H "$auth" "$base/v1/workers/poller/egress")
check "DELETE returns to the manifest's rules" [ "$(jq_body "d['source']")" = manifest ]

kill "$server_pid" && wait "$server_pid"
server_pid=
check "the gateway never printed a secret" bash -c "! grep -q -e '$secret' -e '$qsecret' -e '$bsecret' '$tmp'/gateway.out '$tmp'/gateway.err"
check "the audit log verifies" "$toolgate" audit verify --file "$tmp/data/audit.db"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
