#!/usr/bin/env bash
# Toolsets through the real daemon on 127.0.0.1 (dev-mode authentication):
# /v1/toolsets and `toolgate toolset` define them, with every problem of a
# bad definition reported; /mcp/{toolset} lists and calls only its tools
# (globs, a version pin), in 2025-11-25 sessions and in 2026-07-28 requests;
# an unknown toolset is 404; a session is served only on the endpoint it was
# made on; a toolset "default" restricts /mcp; a token with a toolsets claim
# is refused (403, audited) on other toolsets, on /mcp, on button runs and
# deploys of tools outside them; a toolset edit tells open sessions to list
# their tools again. Then two replicas on one PostgreSQL: a toolset edit on
# one reaches the other's clients, and a tool a search unlocked through one
# is callable through the other.
#
#   tests/integration/test_toolsets.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

for w in crm_find crm_update mail_send; do
  worker "$w" 10000 "cat >/dev/null; echo '{\"tool\":\"$w\"}'"
done
worker report 10000 "cat >/dev/null; echo '{\"version\":\"v1\"}'"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_daemon gw --listen "127.0.0.1:$port" --data-dir "$tmp/data" --warm 1 --deploy "$tmp/workers"
mcp=$url
adm=
for _ in $(seq 50); do
  adm=$(sed -n 's/^toolgate: token for tenant demo (all scopes, 24 h): *\([^[:space:]]*\).*/\1/p' "$tmp/gw.out")
  [ -n "$adm" ] && break
  sleep 0.1
done
export TOOLGATE_TOKEN=$adm
auth="Authorization: Bearer $adm"
token() { # token SCOPE [TOOLSETS]: a dev-mode token for tenant demo
  "$toolgate" token --data-dir "$tmp/data" --tenant demo --sub agent --scope "$1" \
    --audience "$mcp" ${2+--toolsets "$2"}
}

# report 2.0.0 becomes current; 1.0.0 stays, to be pinned.
sed -i 's/"version": "1.0.0"/"version": "2.0.0"/' "$tmp/workers/report/toolgate.json"
sed -i 's/v1/v2/' "$tmp/workers/report/main.sh"
"$toolgate" deploy "$tmp/workers/report" --url "$base" >"$tmp/deploy.out" 2>&1
check "report 2.0.0 deploys" [ $? = 0 ]

admin() { # admin METHOD PATH [BODY] [AUTH]: status in $status, body in $tmp/body
  status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X "$1" -H "$json" -H "${4:-$auth}" \
    ${3:+--data-binary "$3"} "$base$2")
}
names() { jq_body "' '.join(sorted(t['name'] for t in d['result']['tools']))"; }
list() { post "$accept" "$json" "$auth" "$s" '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'; }
call() { # call NAME: tools/call in session $s
  post "$accept" "$json" "$auth" "$s" \
    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"$1\",\"arguments\":{}}}"
}
open_session() { # open_session [AUTH]: a 2025-11-25 session on $url
  post "$accept" "$json" "${1:-$auth}" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}'
  sid=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p' "$tmp/headers")
  s="Mcp-Session-Id: $sid"
}
v='MCP-Protocol-Version: 2026-07-28'
body26() { # body26 METHOD PARAMS: a 2026-07-28 request
  python3 -c '
import json, sys
p = json.loads(sys.argv[2])
p["_meta"] = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
              "io.modelcontextprotocol/clientCapabilities": {},
              "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"}}
print(json.dumps({"jsonrpc": "2.0", "id": 7, "method": sys.argv[1], "params": p}))' "$1" "$2"
}
list26() { post "$accept" "$json" "$auth" "$v" 'Mcp-Method: tools/list' "$(body26 tools/list '{}')"; }
call26() {
  post "$accept" "$json" "$auth" "$v" 'Mcp-Method: tools/call' "Mcp-Name: $1" \
    "$(body26 tools/call "{\"name\":\"$1\",\"arguments\":{}}")"
}

# --- defining toolsets ---
admin PUT /v1/toolsets/crm '{"tools":["crm_*","report@1.0.0"],"description":"CRM work"}'
check "PUT creates a toolset: 201 ($status)" [ "$status" = 201 ]
check "and answers its definition" [ "$(jq_body "d['tools'] == ['crm_*', 'report@1.0.0'] and d['mode'] == 'all'")" = True ]
admin PUT /v1/toolsets/crm '{"tools":["crm_*","report@1.0.0"],"description":"CRM work, again"}'
check "PUT again replaces it: 200 ($status)" [ "$status" = 200 ]
admin PUT /v1/toolsets/bad '{"tools":["crm_*", 3, "a b"],"mode":"fast","colour":"red"}'
check "a bad definition: 400 ($status)" [ "$status" = 400 ]
check "with every problem as details" \
  [ "$(jq_body "sorted(p['path'] for p in d['error']['details'])")" = "['/colour', '/mode', '/tools/1', '/tools/2']" ]
admin PUT /v1/toolsets/Bad_Name '{"tools":["x"]}'
check "a bad name: 404 ($status)" [ "$status" = 404 ]
admin PUT /v1/toolsets/broken 'not json'
check "a body that is not JSON: 400 ($status)" [ "$status" = 400 ]
printf '{"tools":["mail_*","crm_find"],"mode":"all"}' >"$tmp/ops.json"
"$toolgate" toolset put ops --file "$tmp/ops.json" --url "$base" >"$tmp/cli.out" 2>&1
check "toolgate toolset put" [ $? = 0 ]
"$toolgate" toolset list --url "$base" >"$tmp/cli.out" 2>&1
check "toolgate toolset list shows both" [ "$(grep -cE '^(crm|ops)\b' "$tmp/cli.out")" = 2 ]
"$toolgate" toolset get crm --url "$base" >"$tmp/body" 2>&1
check "toolgate toolset get prints the definition" [ "$(jq_body "d['description']")" = "CRM work, again" ]
admin GET /v1/toolsets
check "GET /v1/toolsets lists them by name" [ "$(jq_body "[t['name'] for t in d['toolsets']]")" = "['crm', 'ops']" ]
admin GET /v1/audit?kind=toolset.write
check "each change is a toolset.write record" [ "$(jq_body "sorted(r['status'] for r in d['records'])")" = "['created', 'created', 'replaced']" ]

# --- /mcp/{toolset} lists and calls only its tools ---
url=$base/mcp/crm
open_session
check "initialize on /mcp/crm: 200 ($status)" [ "$status" = 200 ]
crm_s=$s
list
check "tools/list shows the glob's tools and the pinned one" [ "$(names)" = "crm_find crm_update report" ]
check "the pinned tool is listed at its pinned version" \
  [ "$(jq_body "[t for t in d['result']['tools'] if t['name']=='report'][0]['_meta']['dev.toolgate/version'][:1] != ''")" = True ]
call crm_find
check "a tool of the toolset runs" [ "$(jq_body "d['result']['structuredContent']['tool']")" = crm_find ]
call report
check "the pinned tool runs its pinned version" [ "$(jq_body "d['result']['structuredContent']['version']")" = v1 ]
call mail_send
check "a tool outside the toolset is an unknown tool" \
  [ "$(jq_body "(d['error']['code'], d['error']['message'])")" = "(-32602, 'unknown tool \"mail_send\"')" ]
list26
check "2026-07-28 tools/list on /mcp/crm shows its tools only" [ "$(names)" = "crm_find crm_update report" ]
call26 report
check "2026-07-28 runs the pinned version" [ "$(jq_body "d['result']['structuredContent']['version']")" = v1 ]
call26 mail_send
check "2026-07-28: a tool outside is an unknown tool" [ "$(jq_body "d['error']['code']")" = -32602 ]

url=$base/mcp/nope
post "$accept" "$json" "$auth" '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
check "an unknown toolset: 404 ($status)" [ "$status" = 404 ]
check "with a JSON error" [ "$(jq_body "d['error']['code']")" = NOT_FOUND ]
url=$base/mcp/Bad%20x
post "$accept" "$json" "$auth" '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
check "a malformed toolset name: 404 ($status)" [ "$status" = 404 ]
url=$base/mcp/
post "$accept" "$json" "$auth" '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
check "/mcp/ names no toolset: 404 ($status)" [ "$status" = 404 ]

# --- a session is bound to its endpoint ---
url=$base/mcp/ops
list
check "the crm session on /mcp/ops: 404 ($status)" [ "$status" = 404 ]
url=$mcp
list
check "the crm session on /mcp: 404 ($status)" [ "$status" = 404 ]
status=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "$auth" -H "$s" "$mcp")
check "nor can /mcp end it ($status)" [ "$status" = 404 ]
url=$base/mcp/crm
list
check "on its own endpoint it goes on ($status)" [ "$status" = 200 ]

# --- /mcp: the full catalog, until the tenant defines "default" ---
url=$mcp
open_session
mcp_s=$s
list
check "/mcp lists every tool" [ "$(names)" = "crm_find crm_update mail_send report" ]
admin PUT /v1/toolsets/default '{"tools":["mail_*"]}'
list
check "with a toolset default, /mcp lists only it" [ "$(names)" = "mail_send" ]
call crm_find
check "and calls only its tools" [ "$(jq_body "d['error']['code']")" = -32602 ]
list26
check "2026-07-28 on /mcp too" [ "$(names)" = "mail_send" ]
admin DELETE /v1/toolsets/default
check "DELETE a toolset: 204 ($status)" [ "$status" = 204 ]
list
check "without it, /mcp lists every tool again" [ "$(names)" = "crm_find crm_update mail_send report" ]

# --- a toolset edit tells the sessions of the tenant ---
url=$base/mcp/crm
curl -s -N --max-time 3 -H 'Accept: text/event-stream' -H "$auth" -H "$crm_s" "$url" >"$tmp/stream" &
stream_pid=$!
sleep 0.5
admin PUT /v1/toolsets/crm '{"tools":["crm_find"]}'
wait "$stream_pid"
check "a toolset edit: notifications/tools/list_changed" \
  [ "$(grep -c 'notifications/tools/list_changed' "$tmp/stream")" = 1 ]
s=$crm_s
list
check "and the session lists the new selection" [ "$(names)" = "crm_find" ]
admin PUT /v1/toolsets/crm '{"tools":["crm_*","report@1.0.0"]}'

# --- a token restricted to toolsets ---
agent=$(token "tools:list tools:call workers:trigger workers:deploy" crm)
check "toolgate token --toolsets mints a token" [ -n "$agent" ]
restricted="Authorization: Bearer $agent"
url=$base/mcp/crm
open_session "$restricted"
check "the restricted token opens a session on its toolset ($status)" [ "$status" = 200 ]
post "$accept" "$json" "$restricted" "$s" '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
check "and lists its tools" [ "$(names)" = "crm_find crm_update report" ]
url=$base/mcp/ops
post "$accept" "$json" "$restricted" '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
check "another toolset: 403 ($status)" [ "$status" = 403 ]
check "saying why" [ "$(jq_body "'toolsets claim' in d['error']['message']")" = True ]
url=$base/mcp/nope
post "$accept" "$json" "$restricted" '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
check "a toolset it does not name is 403 whether it exists or not ($status)" [ "$status" = 403 ]
url=$mcp
post "$accept" "$json" "$restricted" "$v" 'Mcp-Method: tools/list' "$(body26 tools/list '{}')"
check "/mcp without default in the claim: 403 ($status)" [ "$status" = 403 ]
check "pointing at /mcp/{toolset}" [ "$(jq_body "'/mcp/{toolset}' in d['error']['message']")" = True ]
admin POST /v1/workers/mail_send/run '{}' "$restricted"
check "a button run of a tool outside its toolsets: 403 ($status)" [ "$status" = 403 ]
admin POST /v1/workers/crm_find/run '{}' "$restricted"
check "a button run of one of its tools: 200 ($status)" [ "$status" = 200 ]
TOOLGATE_TOKEN=$agent "$toolgate" deploy "$tmp/workers/mail_send" --url "$base" >"$tmp/deploy.out" 2>&1
check "a deploy (which runs the worker) of a tool outside: refused" [ $? != 0 ]
admin DELETE /v1/workers/mail_send '' "$restricted"
check "deleting a tool outside: 403 ($status)" [ "$status" = 403 ]
admin PUT /v1/toolsets/crm '{"tools":["*"]}' "$restricted"
check "a restricted token cannot widen its toolset: 403 ($status)" [ "$status" = 403 ]
admin GET /v1/toolsets '' "$restricted"
check "it lists only its toolsets" [ "$(jq_body "[t['name'] for t in d['toolsets']]")" = "['crm']" ]
admin GET "/v1/audit?kind=auth.denied&limit=20"
check "the refusals are audited (auth.denied)" \
  [ "$(jq_body "sum(1 for r in d['records'] if 'toolsets claim' in r['body'].get('reason', ''))")" -ge 4 ]

both=$(token "tools:list tools:call" crm,default)
url=$mcp
post "$accept" "$json" "Authorization: Bearer $both" "$v" 'Mcp-Method: tools/list' "$(body26 tools/list '{}')"
check "/mcp with default in the claim: 200 ($status)" [ "$status" = 200 ]
free=$(token "tools:list tools:call")
post "$accept" "$json" "Authorization: Bearer $free" "$v" 'Mcp-Method: tools/list' "$(body26 tools/list '{}')"
check "a token without the claim is unrestricted ($status)" [ "$(names)" = "crm_find crm_update mail_send report" ]

# --- deleting a toolset ends its endpoint ---
"$toolgate" toolset delete ops --url "$base" >"$tmp/cli.out" 2>&1
check "toolgate toolset delete" [ $? = 0 ]
url=$base/mcp/ops
post "$accept" "$json" "$auth" '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
check "a deleted toolset: 404 ($status)" [ "$status" = 404 ]

# --- two replicas on one store ---
kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
server_pid=
unset TOOLGATE_TOKEN
start_postgres
start_replica a --warm 1 --deploy "$tmp/workers"
start_replica b --warm 1
base=${replica_base[a]}
status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X PUT -H "$json" \
  --data-binary '{"tools":["crm_*"],"mode":"search"}' "$base/v1/toolsets/crm")
check "a toolset on the shared store ($status)" [ "$status" = 201 ]
url=${replica_base[b]}/mcp/crm
post "$accept" "$json" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}'
s="Mcp-Session-Id: $(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p' "$tmp/headers")"
check "replica b serves it ($status)" [ "$status" = 200 ]
curl -s -N --max-time 3 -H 'Accept: text/event-stream' -H "$s" "$url" >"$tmp/stream-b" &
stream_pid=$!
sleep 0.5
curl -s -o /dev/null -X PUT -H "$json" --data-binary '{"tools":["crm_*","report"],"mode":"search"}' \
  "$base/v1/toolsets/crm"
wait "$stream_pid"
check "an edit through a reaches b's session" [ "$(grep -c 'notifications/tools/list_changed' "$tmp/stream-b")" = 1 ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search_tools","arguments":{"query":"crm update","limit":1}}}'
check "search_tools through b finds crm_update" \
  [ "$(jq_body "[t['name'] for t in d['result']['structuredContent']['tools']]")" = "['crm_update']" ]
url=${replica_base[a]}/mcp/crm
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"crm_update","arguments":{}}}'
check "the session moves to a, and the found tool is callable there" \
  [ "$(jq_body "d['result']['structuredContent']['tool']")" = crm_update ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"crm_find","arguments":{}}}'
check "one it did not find is not" [ "$(jq_body "d['error']['code']")" = -32602 ]

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
