#!/usr/bin/env bash
# MCP 2026-07-28 on /mcp, driven with curl against the real daemon: the
# stateless revision (no initialize, no session, server/discover, the
# Mcp-Method, Mcp-Name and Mcp-Param-* headers checked against the body, the
# version and capabilities in every request's _meta, log notifications only
# at the level a request names, subscriptions/listen, a call cancelled by its
# client closing the response stream, a tool that requires a client
# capability refused with -32021 to a client that did not declare it) beside
# a 2025-11-25 session on the same endpoint, whose calls a disconnect does
# not cancel, then with
# authentication: the token's tenant and scopes decide, as in 2025.
#
#   tests/integration/test_mcp_2026.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

mkdir -p "$tmp/workers/greet"
cat >"$tmp/workers/greet/toolgate.json" <<'EOF'
{ "name": "greet", "version": "1.0.0", "description": "greets someone by name",
  "runtime": "sh", "entry": "main.sh",
  "inputSchema": { "type": "object", "properties": { "name": { "type": "string" } },
                   "required": ["name"], "additionalProperties": false },
  "limits": { "timeout_ms": 5000, "memory_mb": 64, "max_output_bytes": 65536 } }
EOF
printf '%s\n' 'cat >/dev/null; echo "{\"greeting\":\"hello\"}"' >"$tmp/workers/greet/main.sh"
worker upstream_down 5000 'cat >/dev/null; echo "{\"error\":{\"code\":\"UPSTREAM_UNAVAILABLE\",\"message\":\"the CRM is down\",\"retryable\":true}}"; exit 1'
worker chatty 5000 'cat >/dev/null
printf "%s\n" "{\"progress\":1,\"total\":2,\"message\":\"half\"}" >&3
printf "%s\n" "{\"log\":\"info\",\"data\":\"working\"}" >&3
printf "%s\n" "{\"log\":\"error\",\"data\":\"a problem\"}" >&3
echo "{\"done\":true}"'
mkdir -p "$tmp/workers/in_region"
cat >"$tmp/workers/in_region/toolgate.json" <<'EOF'
{ "name": "in_region", "version": "1.0.0", "description": "runs a query in a region",
  "runtime": "sh", "entry": "main.sh",
  "inputSchema": { "type": "object", "properties": {
      "region": { "type": "string", "x-mcp-header": "Region" },
      "shard": { "type": "integer", "x-mcp-header": "Shard" },
      "query": { "type": "string" } }, "required": ["region", "query"] },
  "limits": { "timeout_ms": 5000, "memory_mb": 64, "max_output_bytes": 65536 } }
EOF
printf '%s\n' 'cat >/dev/null; echo "{\"ran\":true}"' >"$tmp/workers/in_region/main.sh"
mkdir -p "$tmp/workers/needs_sampling"
cat >"$tmp/workers/needs_sampling/toolgate.json" <<'EOF'
{ "name": "needs_sampling", "version": "1.0.0", "description": "runs only for a client that samples",
  "runtime": "sh", "entry": "main.sh",
  "requires": { "clientCapabilities": ["sampling", "roots"] },
  "inputSchema": { "type": "object", "properties": {}, "additionalProperties": false },
  "limits": { "timeout_ms": 5000, "memory_mb": 64, "max_output_bytes": 65536 } }
EOF
printf '%s\n' 'cat >/dev/null; echo "{\"sampled\":true}"' >"$tmp/workers/needs_sampling/main.sh"
start_gateway --deploy "$tmp/workers"

v='MCP-Protocol-Version: 2026-07-28'
# body26 METHOD PARAMS [ID]: a 2026-07-28 request whose _meta carries the
# version, capabilities and client info, beside what PARAMS's _meta holds.
body26() {
  python3 -c '
import json, sys
p = json.loads(sys.argv[2])
meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"}}
meta.update(p.get("_meta", {}))
p["_meta"] = {k: x for k, x in meta.items() if x is not None}
print(json.dumps({"jsonrpc": "2.0", "id": int(sys.argv[3]), "method": sys.argv[1], "params": p}))' \
    "$1" "$2" "${3:-7}"
}
# call26 NAME ARGUMENTS [META]: a stateless tools/call with its headers right.
call26() {
  post "$accept" "$json" "$v" 'Mcp-Method: tools/call' "Mcp-Name: $1" \
    "$(body26 tools/call "{\"name\":\"$1\",\"arguments\":$2,\"_meta\":${3:-{\}}}")"
}
events() { grep -c "\"method\": *\"$1\"" "$tmp/body" || true; }
no_session_header() { ! grep -qi '^mcp-session-id:' "$tmp/headers"; }

# --- server/discover ---
post "$accept" "$json" "$v" 'Mcp-Method: server/discover' "$(body26 server/discover '{}')"
check "discover: 200" [ "$status" = 200 ]
check "discover lists 2026-07-28 and 2025-11-25" \
  [ "$(jq_body "' '.join(d['result']['supportedVersions'][:2])")" = "2026-07-28 2025-11-25" ]
check "discover offers tools" jq_quiet "d['result']['capabilities']['tools']"
check "discover is complete" [ "$(jq_body "d['result']['resultType']")" = complete ]
check "discover names the server in _meta" \
  [ "$(jq_body "d['result']['_meta']['io.modelcontextprotocol/serverInfo']['name']")" = toolgate ]
check "discover gives caching hints" [ "$(jq_body "d['result']['cacheScope']")" = public ]
check "discover: no session made" no_session_header
post "$accept" "$json" "$v" 'Mcp-Method: server/discover' \
  "$(body26 server/discover '{"_meta":{"io.modelcontextprotocol/clientInfo":null}}')"
check "discover without clientInfo: 200" [ "$status" = 200 ]

# --- tools/list ---
post "$accept" "$json" "$v" 'Mcp-Method: tools/list' "$(body26 tools/list '{}')"
check "tools/list: 200" [ "$status" = 200 ]
check "tools/list: the tenant's tools in name order" \
  [ "$(jq_body "' '.join(t['name'] for t in d['result']['tools'])")" = "chatty greet in_region needs_sampling upstream_down" ]
check "tools/list: ttlMs" [ "$(jq_body "d['result']['ttlMs'] >= 0")" = True ]
check "tools/list: private cache scope" [ "$(jq_body "d['result']['cacheScope']")" = private ]
check "tools/list: complete" [ "$(jq_body "d['result']['resultType']")" = complete ]
check "tools/list: definition hashes" jq_quiet "d['result']['tools'][0]['_meta']['dev.toolgate/definitionHash']"

# --- tools/call, with no session header at all ---
call26 greet '{"name":"Ada"}'
check "tools/call: 200" [ "$status" = 200 ]
check "tools/call: the worker's result" [ "$(jq_body "d['result']['structuredContent']['greeting']")" = hello ]
check "tools/call: complete" [ "$(jq_body "d['result']['resultType']")" = complete ]
check "tools/call: names the server" \
  [ "$(jq_body "d['result']['_meta']['io.modelcontextprotocol/serverInfo']['name']")" = toolgate ]
check "tools/call: the request's id" [ "$(jq_body "d['id']")" = 7 ]
check "tools/call: no session made" no_session_header
call26 greet '{"name":5}'
check "invalid arguments: a tool error" [ "$(jq_body "d['result']['isError']")" = True ]
check "invalid arguments: INVALID_ARGUMENTS" \
  [ "$(jq_body "d['result']['structuredContent']['error']['code']")" = INVALID_ARGUMENTS ]
check "invalid arguments: complete all the same" [ "$(jq_body "d['result']['resultType']")" = complete ]
call26 upstream_down '{}'
check "worker error: its own code" \
  [ "$(jq_body "d['result']['structuredContent']['error']['code']")" = UPSTREAM_UNAVAILABLE ]
check "worker error: source worker, retryable" \
  [ "$(jq_body "d['result']['structuredContent']['error']['source'], d['result']['structuredContent']['error']['retryable']")" = "worker True" ]
call26 nosuch '{}'
check "unknown tool: -32602" [ "$(jq_body "d['error']['code']")" = -32602 ]

# A tool that requires client capabilities runs only for a client that
# declared them all; the refusal names what is missing as ClientCapabilities.
post "$accept" "$json" "$v" 'Mcp-Method: tools/list' "$(body26 tools/list '{}')"
check "tools/list shows what a tool requires" \
  [ "$(jq_body "[sorted(t['_meta'].get('dev.toolgate/requiredClientCapabilities', {})) for t in d['result']['tools'] if t['name'] in ('greet', 'needs_sampling')]")" = "[[], ['roots', 'sampling']]" ]
call26 needs_sampling '{}'
check "undeclared capabilities: 400 -32021" [ "$status $(jq_body "d['error']['code']")" = "400 -32021" ]
check "naming each missing capability" \
  [ "$(jq_body "sorted(d['error']['data']['requiredCapabilities'].items())")" = "[('roots', {}), ('sampling', {})]" ]
call26 needs_sampling '{}' '{"io.modelcontextprotocol/clientCapabilities":{"sampling":{}}}'
check "one of two declared: only the other is missing" \
  [ "$(jq_body "list(d['error']['data']['requiredCapabilities'])")" = "['roots']" ]
call26 needs_sampling '{}' '{"io.modelcontextprotocol/clientCapabilities":{"sampling":{},"roots":{}}}'
check "both declared: the call runs" [ "$(jq_body "d['result']['structuredContent']['sampled']")" = True ]
mkdir -p "$tmp/telepathy"
cp "$tmp/workers/needs_sampling/main.sh" "$tmp/telepathy/main.sh"
sed 's/"roots"/"telepathy"/' "$tmp/workers/needs_sampling/toolgate.json" >"$tmp/telepathy/toolgate.json"
"$toolgate" deploy "$tmp/telepathy" --url "$base" >/dev/null 2>&1
check "a capability MCP does not define fails the deploy" [ $? != 0 ]

# Logs only for a request that names a level, and only at or above it.
call26 chatty '{}'
check "no logLevel: no log notifications" [ "$(events notifications/message)" = 0 ]
call26 chatty '{}' '{"io.modelcontextprotocol/logLevel":"info","progressToken":"p1"}'
check "logLevel info: both log lines" [ "$(events notifications/message)" = 2 ]
check "progress on the request's own stream" [ "$(events notifications/progress)" = 1 ]
check "and then the result" [ "$(jq_body "d['result']['structuredContent']['done']")" = True ]
call26 chatty '{}' '{"io.modelcontextprotocol/logLevel":"error"}'
check "logLevel error: the error line only" [ "$(events notifications/message)" = 1 ]
call26 chatty '{}' '{"io.modelcontextprotocol/logLevel":"loud"}'
check "unknown logLevel: 400 -32602" [ "$status $(jq_body "d['error']['code']")" = "400 -32602" ]

# --- the headers against the body ---
greet=$(body26 tools/call '{"name":"greet","arguments":{"name":"Ada"}}' 11)
post "$accept" "$json" "$v" 'Mcp-Method: tools/call' 'Mcp-Name: upstream_down' "$greet"
check "Mcp-Name names another tool: 400 -32020" [ "$status $(jq_body "d['error']['code']")" = "400 -32020" ]
check "the error carries the request's id" [ "$(jq_body "d['id']")" = 11 ]
post "$accept" "$json" "$v" 'Mcp-Method: tools/list' 'Mcp-Name: greet' "$greet"
check "Mcp-Method disagrees: 400 -32020" [ "$status $(jq_body "d['error']['code']")" = "400 -32020" ]
post "$accept" "$json" "$v" 'Mcp-Method: tools/call' "$greet"
check "no Mcp-Name on tools/call: 400 -32020" [ "$status $(jq_body "d['error']['code']")" = "400 -32020" ]
post "$accept" "$json" "$v" 'Mcp-Name: greet' "$greet"
check "no Mcp-Method: 400 -32020" [ "$status $(jq_body "d['error']['code']")" = "400 -32020" ]
post "$accept" "$json" 'Mcp-Method: tools/call' 'Mcp-Name: greet' "$greet"
check "no MCP-Protocol-Version: 400 -32020" [ "$status $(jq_body "d['error']['code']")" = "400 -32020" ]
post "$accept" "$json" "$v" 'Mcp-Method: tools/call' "Mcp-Name: =?base64?$(printf greet | base64)?=" "$greet"
check "a Base64 Mcp-Name is decoded" [ "$(jq_body "d['result']['structuredContent']['greeting']")" = hello ]
post "$accept" "$json" "MCP-Protocol-Version: 2099-01-01" 'Mcp-Method: tools/list' "$(body26 tools/list '{}')"
check "version header disagrees with _meta: 400 -32020" [ "$status $(jq_body "d['error']['code']")" = "400 -32020" ]

# Parameters a tool mirrors into headers (x-mcp-header) must agree too.
region=$(body26 tools/call '{"name":"in_region","arguments":{"region":"us-west1","shard":42,"query":"q"}}')
post "$accept" "$json" "$v" 'Mcp-Method: tools/call' 'Mcp-Name: in_region' 'Mcp-Param-Region: us-west1' \
  'Mcp-Param-Shard: 42.0' "$region"
check "Mcp-Param headers that match: the call runs" [ "$(jq_body "d['result']['structuredContent']['ran']")" = True ]
post "$accept" "$json" "$v" 'Mcp-Method: tools/call' 'Mcp-Name: in_region' \
  "Mcp-Param-Region: =?base64?$(printf us-west1 | base64)?=" 'Mcp-Param-Shard: 42' "$region"
check "a Base64 Mcp-Param header is decoded" [ "$(jq_body "d['result']['structuredContent']['ran']")" = True ]
post "$accept" "$json" "$v" 'Mcp-Method: tools/call' 'Mcp-Name: in_region' 'Mcp-Param-Shard: 42' "$region"
check "a missing Mcp-Param header: 400 -32020" [ "$status $(jq_body "d['error']['code']")" = "400 -32020" ]
post "$accept" "$json" "$v" 'Mcp-Method: tools/call' 'Mcp-Name: in_region' 'Mcp-Param-Region: eu-west1' \
  'Mcp-Param-Shard: 42' "$region"
check "an Mcp-Param header that disagrees: 400 -32020" [ "$status $(jq_body "d['error']['code']")" = "400 -32020" ]
post "$accept" "$json" "$v" 'Mcp-Method: tools/call' 'Mcp-Name: in_region' 'Mcp-Param-Region: us-west1' \
  "$(body26 tools/call '{"name":"in_region","arguments":{"region":"us-west1","query":"q"}}')"
check "no header for an argument not given" [ "$(jq_body "d['result']['structuredContent']['ran']")" = True ]

# --- _meta and versions ---
post "$accept" "$json" "$v" 'Mcp-Method: tools/list' '{"jsonrpc":"2.0","id":3,"method":"tools/list"}'
check "no _meta: 400 -32602" [ "$status $(jq_body "d['error']['code']")" = "400 -32602" ]
post "$accept" "$json" "$v" 'Mcp-Method: tools/list' \
  "$(body26 tools/list '{"_meta":{"io.modelcontextprotocol/clientCapabilities":null}}')"
check "no clientCapabilities: 400 -32602" [ "$status $(jq_body "d['error']['code']")" = "400 -32602" ]
post "$accept" "$json" 'MCP-Protocol-Version: 2099-01-01' 'Mcp-Method: tools/list' \
  "$(body26 tools/list '{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01"}}')"
check "unsupported version: 400 -32022" [ "$status $(jq_body "d['error']['code']")" = "400 -32022" ]
check "with the supported versions" [ "$(jq_body "d['error']['data']['supported'][0]")" = 2026-07-28 ]
check "and the requested one" [ "$(jq_body "d['error']['data']['requested']")" = 2099-01-01 ]
for m in ping initialize logging/setLevel resources/list; do
  post "$accept" "$json" "$v" "Mcp-Method: $m" "$(body26 "$m" '{}')"
  check "$m in 2026-07-28: 404 -32601" [ "$status $(jq_body "d['error']['code']")" = "404 -32601" ]
done

# --- subscriptions/listen: tool list changes on a long response stream ---
listen26() { # listen26 FILE ID FILTER: a subscription open for 4 s, its stream in FILE
  curl -s -N --max-time 4 -o "$1" -H "$accept" -H "$json" -H "$v" -H 'Mcp-Method: subscriptions/listen' \
    --data-binary "$(body26 subscriptions/listen "{\"notifications\":$3}" "$2")" "$url"
}
listen26 "$tmp/listen-tools" 31 '{"toolsListChanged":true,"promptsListChanged":true}' &
tools_pid=$!
listen26 "$tmp/listen-prompts" 32 '{"promptsListChanged":true}' &
prompts_pid=$!
sleep 1
"$toolgate" deploy "$root/examples/workers/date_time" --url "$base" >/dev/null 2>&1
check "a deploy while subscribed" [ $? = 0 ]
wait "$tools_pid" "$prompts_pid"
first_event() { sed -n 's/^data: //p' "$1" | head -n 1; }
check "the acknowledgment comes first" \
  [ "$(first_event "$tmp/listen-tools" | python3 -c 'import json,sys; print(json.load(sys.stdin)["method"])')" = notifications/subscriptions/acknowledged ]
check "it honors tool list changes only" \
  [ "$(first_event "$tmp/listen-tools" | python3 -c 'import json,sys; print(json.load(sys.stdin)["params"]["notifications"])')" = "{'toolsListChanged': True}" ]
check "the deploy reaches the subscription" [ "$(grep -c 'notifications/tools/list_changed' "$tmp/listen-tools")" = 1 ]
check "tagged with the subscription's id" \
  [ "$(grep 'notifications/tools/list_changed' "$tmp/listen-tools" | sed 's/^data: //' | python3 -c 'import json,sys; print(json.load(sys.stdin)["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"])')" = 31 ]
check "a subscription without toolsListChanged hears no tool changes" \
  [ "$(grep -c 'notifications/tools/list_changed' "$tmp/listen-prompts")" = 0 ]
check "but was acknowledged, with nothing honored" grep -q '"notifications": *{}' "$tmp/listen-prompts"
post "$accept" "$json" "$v" 'Mcp-Method: subscriptions/listen' "$(body26 subscriptions/listen '{}')"
check "subscriptions/listen without a filter: -32602" [ "$(jq_body "d['error']['code']")" = -32602 ]

# --- a 2025-11-25 session on the same endpoint ---
initialize
check "initialize still opens a session" [ -n "$sid" ]
check "and negotiates 2025-11-25" [ "$(jq_body "d['result']['protocolVersion']")" = 2025-11-25 ]
post "$accept" "$json" "$s" 'MCP-Protocol-Version: 2025-11-25' '{"jsonrpc":"2.0","method":"notifications/initialized"}'
post "$accept" "$json" "$s" 'MCP-Protocol-Version: 2025-11-25' '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
check "session tools/list: the same tools" [ "$(jq_body "len(d['result']['tools'])")" = 6 ]
check "session tools/list: the 2025 shape" [ "$(jq_body "'resultType' in d['result']")" = False ]
call greet '{"name":"Ada"}'
check "session tools/call" [ "$(jq_body "d['result']['structuredContent']['greeting']")" = hello ]
call needs_sampling
check "a session that declared no sampling at initialize: -32602" \
  [ "$(jq_body "d['error']['code'], sorted(d['error']['data']['requiredCapabilities'])")" = "-32602 ['roots', 'sampling']" ]
post "$accept" "$json" "$s" 'MCP-Protocol-Version: 2025-11-25' '{"jsonrpc":"2.0","id":3,"method":"ping"}'
check "session ping" [ "$(jq_body "d['result']")" = "{}" ]
post "$accept" "$json" "$s" 'MCP-Protocol-Version: 2025-11-25' '{"jsonrpc":"2.0","id":4,"method":"server/discover"}'
check "server/discover is not a 2025 method" [ "$(jq_body "d['error']['code']")" = -32601 ]
# A dual-era client that tries a 2025 version without a session gets the
# 2025 answer (no modern error code), so it falls back to initialize.
post "$accept" "$json" 'MCP-Protocol-Version: 2025-11-25' '{"jsonrpc":"2.0","id":5,"method":"tools/list"}'
check "2025 version, no session: 400 without a modern code" \
  [ "$status $(jq_body "d.get('error', {}).get('code')")" = "400 BAD_REQUEST" ]
call26 greet '{"name":"Ada"}'
check "stateless calls still work beside the session" \
  [ "$(jq_body "d['result']['structuredContent']['greeting']")" = hello ]

# --- closing a call's response stream cancels it; in 2025 it does not ---
worker slow 30000 'cat >/dev/null; sleep 20; echo "{\"slept\":true}"'
worker pause 30000 'cat >/dev/null; sleep 3; echo "{\"paused\":true}"'
for w in slow pause; do
  "$toolgate" deploy "$tmp/workers/$w" --url "$base" >/dev/null 2>&1
  check "$w deploys" [ $? = 0 ]
done
# wait_end TOOL: until the tool's call.end record is written (up to 15 s),
# with the record in $tmp/body.
wait_end() {
  for _ in $(seq 150); do
    curl -s -o "$tmp/body" "$base/v1/audit?tool=$1&kind=call.end"
    [ "$(jq_body "len(d['records'])")" -ge 1 ] && return 0
    sleep 0.1
  done
  return 1
}
curl -s -N --max-time 1 -o "$tmp/abandoned" -H "$accept" -H "$json" -H "$v" \
  -H 'Mcp-Method: tools/call' -H 'Mcp-Name: slow' \
  --data-binary "$(body26 tools/call '{"name":"slow","arguments":{}}' 41)" "$url"
check "the client gave up on the slow call" [ $? = 28 ]
check "a closed stream: the call ends" wait_end slow
check "cancelled" [ "$(jq_body "d['records'][0]['status'], d['records'][0]['error_code']")" = "error CANCELLED" ]
# The history is written just after the answer.
for _ in $(seq 50); do
  curl -s -o "$tmp/body" "$base/v1/runs?worker=slow"
  [ "$(jq_body "len(d['runs'])")" -ge 1 ] && break
  sleep 0.1
done
check "the runs history shows it cancelled" [ "$(jq_body "[(r['status'], r['error_code']) for r in d['runs']]")" = "[('error', 'CANCELLED')]" ]
check "and the metrics" \
  bash -c "curl -s '$base/metrics' | grep -q '^toolgate_calls_total{.*tool=\"slow\",status=\"error\",code=\"CANCELLED\"} 1\$'"
curl -s --max-time 1 -o /dev/null -H "$accept" -H "$json" -H "$s" \
  --data-binary '{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"pause","arguments":{}}}' "$url"
check "a 2025 client that disconnects: the call ends" wait_end pause
check "having run to its end" [ "$(jq_body "d['records'][0]['status']")" = ok ]

# --- with authentication: the token's tenant and scopes, as in 2025 ---
kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_daemon auth --listen "127.0.0.1:$port" --data-dir "$tmp/auth-data" --deploy "$tmp/workers/greet"
token() { # token TENANT SCOPE: a token the dev-mode gateway accepts
  "$toolgate" token --data-dir "$tmp/auth-data" --tenant "$1" --sub agent --scope "$2" \
    --audience "$url" 2>/dev/null
}
lister=$(token demo tools:list)
list26() { post "$accept" "$json" "$v" 'Mcp-Method: tools/list' "$@" "$(body26 tools/list '{}')"; }
list26
check "no token: 401" [ "$status" = 401 ]
list26 "Authorization: Bearer $lister"
check "the token's tenant's tools" [ "$(jq_body "[t['name'] for t in d['result']['tools']]")" = "['greet']" ]
list26 "Authorization: Bearer $(token other tools:list)"
check "another tenant sees none of them" [ "$(jq_body "len(d['result']['tools'])")" = 0 ]
post "$accept" "$json" "$v" 'Mcp-Method: tools/call' 'Mcp-Name: greet' "Authorization: Bearer $lister" \
  "$(body26 tools/call '{"name":"greet","arguments":{"name":"Ada"}}')"
check "tools/call without tools:call: 403" [ "$status" = 403 ]
post "$accept" "$json" "$v" 'Mcp-Method: tools/call' 'Mcp-Name: greet' \
  "Authorization: Bearer $(token demo 'tools:list tools:call')" \
  "$(body26 tools/call '{"name":"greet","arguments":{"name":"Ada"}}')"
check "with it, the call runs" [ "$(jq_body "d['result']['structuredContent']['greeting']")" = hello ]

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
