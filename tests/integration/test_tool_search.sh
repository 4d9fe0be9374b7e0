#!/usr/bin/env bash
# Search mode through the real daemon on 127.0.0.1: the 300 tools of
# tests/search/catalog300.json deployed as tiny sh workers, one toolset of
# them all and one in search mode. Prints the bytes of tools/list in each
# (every page) and the context saved, then runs the catalog's queries
# through search_tools and prints precision at 1 and at 5 for each of its
# query sets (dev, heldout), holding floors;
# a tool is callable (and listed) in a 2025-11-25 session only once a search
# returned it (or it is always loaded), and in 2026-07-28 requests as a tool
# of the toolset.
#
#   tests/integration/test_tool_search.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

# The floors are the ranking's own (tests/unit/registry/test_search.c), per
# query set: the gateway must not lose precision on the way.
declare -A p1_floor=([dev]=0.63 [heldout]=0.40) p5_floor=([dev]=0.82 [heldout]=0.75)
# Search mode must save at least this share of tools/list's bytes.
saving_floor=0.9

python3 - "$root/tests/search/catalog300.json" "$tmp/workers" <<'EOF'
import json, os, sys
catalog = json.load(open(sys.argv[1]))
for t in catalog["tools"]:
    d = os.path.join(sys.argv[2], t["name"])
    os.makedirs(d)
    manifest = {"name": t["name"], "version": "1.0.0", "title": t["title"],
                "description": t["description"], "runtime": "sh", "entry": "main.sh",
                "inputSchema": t["inputSchema"], "limits": {"timeout_ms": 10000}}
    json.dump(manifest, open(os.path.join(d, "toolgate.json"), "w"))
    with open(os.path.join(d, "main.sh"), "w") as f:
        f.write("cat >/dev/null; echo '{\"tool\":\"%s\"}'\n" % t["name"])
EOF
started=$(date +%s)
start_gateway --warm 1 --deploy "$tmp/workers"
check "the 300 tools deploy ($(($(date +%s) - started)) s)" [ -n "$url" ]

admin() { # admin METHOD PATH [BODY]: status in $status, body in $tmp/body
  status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X "$1" -H "$json" ${3:+--data-binary "$3"} "$base$2")
}
admin PUT /v1/toolsets/everything '{"tools":["*"]}'
check "a toolset of every tool ($status)" [ "$status" = 201 ]
admin PUT /v1/toolsets/searchable '{"tools":["*"],"mode":"search","alwaysLoaded":["util_convert_currency"]}'
check "the same in search mode ($status)" [ "$status" = 201 ]

open_session() {
  post "$accept" "$json" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}'
  sid=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p' "$tmp/headers")
  s="Mcp-Session-Id: $sid"
}
# list_bytes: the bytes of every page of tools/list in session $s, and the
# tools listed, as "BYTES COUNT".
list_bytes() {
  local cursor='' bytes=0 count=0 params
  while :; do
    params='{}'
    [ -n "$cursor" ] && params="{\"cursor\":\"$cursor\"}"
    post "$accept" "$json" "$s" "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\",\"params\":$params}"
    bytes=$((bytes + $(python3 -c "import json; print(len(json.dumps(json.load(open('$tmp/body'))['result']['tools'], separators=(',', ':'))))")))
    count=$((count + $(jq_body "len(d['result']['tools'])")))
    cursor=$(jq_body "d['result'].get('nextCursor', '')")
    [ -n "$cursor" ] || break
  done
  echo "$bytes $count"
}

url=$base/mcp/everything
open_session
read -r full_bytes full_count <<<"$(list_bytes)"
check "the full toolset lists all 300 tools ($full_count)" [ "$full_count" = 300 ]
url=$base/mcp/searchable
open_session
read -r search_bytes search_count <<<"$(list_bytes)"
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
check "search mode lists search_tools and the always-loaded tool" \
  [ "$(jq_body "[t['name'] for t in d['result']['tools']]")" = "['search_tools', 'util_convert_currency']" ]
check "search_tools takes a query and a limit" \
  [ "$(jq_body "(d['result']['tools'][0]['inputSchema']['required'], d['result']['tools'][0]['annotations']['readOnlyHint'])")" = "(['query'], True)" ]
saving=$(python3 -c "print(f'{1 - $search_bytes / $full_bytes:.3f}')")
echo "tools/list on 300 tools: $full_bytes bytes in full, $search_bytes bytes in search mode ($search_count tools): $((full_bytes - search_bytes)) bytes saved ($saving)"
check "search mode saves at least $saving_floor of tools/list's bytes ($saving)" \
  python3 -c "import sys; sys.exit(0 if $saving >= $saving_floor else 1)"

# --- before a search, a tool is not callable in the session ---
call_tool() { # call_tool NAME ARGUMENTS
  post "$accept" "$json" "$s" "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":\"$1\",\"arguments\":$2}}"
}
call_tool shop_refund_order '{}'
check "a tool not yet found: the unknown-tool error" [ "$(jq_body "d['error']['code']")" = -32602 ]
check "with a hint to use search_tools" [ "$(jq_body "'search_tools' in d['error']['message']")" = True ]
call_tool util_convert_currency '{"amount":1,"from":"EUR","to":"USD"}'
check "an always-loaded tool runs without a search" [ "$(jq_body "d['result']['structuredContent']['tool']")" = util_convert_currency ]
call_tool search_tools '{"query":""}'
check "an empty query: INVALID_ARGUMENTS" [ "$(jq_body "d['result']['structuredContent']['error']['code']")" = INVALID_ARGUMENTS ]
call_tool search_tools '{"query":"refund","limit":99}'
check "a limit past 20: INVALID_ARGUMENTS" [ "$(jq_body "d['result']['isError']")" = True ]

# --- the catalog's queries through search_tools, each set on its own:
# "dev" tuned the ranking, "heldout" did not ---
python3 - "$root/tests/search/catalog300.json" >"$tmp/queries" <<'EOF'
import json, sys
for q in json.load(open(sys.argv[1]))["queries"]:
    print(json.dumps({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                      "params": {"name": "search_tools", "arguments": {"query": q["query"], "limit": 5}}}))
    print(q.get("set", "dev"), q["expect"])
EOF
declare -A at1 at5 nq
while IFS= read -r request && IFS=' ' read -r set expect; do
  post "$accept" "$json" "$s" "$request"
  rank=$(jq_body "([t['name'] for t in d['result']['structuredContent']['tools']] + ['$expect']).index('$expect')")
  nq[$set]=$((${nq[$set]:-0} + 1))
  [ "$rank" = 0 ] && at1[$set]=$((${at1[$set]:-0} + 1))
  [ "$rank" -lt 5 ] && at5[$set]=$((${at5[$set]:-0} + 1))
done <"$tmp/queries"
for set in dev heldout; do
  [ -n "${nq[$set]:-}" ] || continue
  p1=$(python3 -c "print(f'{${at1[$set]:-0} / ${nq[$set]}:.3f}')")
  p5=$(python3 -c "print(f'{${at5[$set]:-0} / ${nq[$set]}:.3f}')")
  echo "search_tools, $set queries (${nq[$set]}): precision@1 $p1 (${at1[$set]:-0}), precision@5 $p5 (${at5[$set]:-0})"
  floor1=${p1_floor[$set]} floor5=${p5_floor[$set]}
  check "$set: precision@1 at least $floor1 ($p1)" python3 -c "import sys; sys.exit(0 if $p1 >= $floor1 else 1)"
  check "$set: precision@5 at least $floor5 ($p5)" python3 -c "import sys; sys.exit(0 if $p5 >= $floor5 else 1)"
done

# --- what a search found is callable, with the definition tools/list gives,
# and listed in the session from then on ---
open_session
curl -s -N --max-time 3 -H 'Accept: text/event-stream' -H "$s" "$url" >"$tmp/stream" &
stream_pid=$!
sleep 0.5
call_tool search_tools '{"query":"refund an order","limit":3}'
check "search_tools returns full definitions" \
  [ "$(jq_body "all('inputSchema' in t and 'dev.toolgate/definitionHash' in t['_meta'] for t in d['result']['structuredContent']['tools'])")" = True ]
check "and names them in its text" [ "$(jq_body "'shop_refund_order' in d['result']['content'][0]['text']")" = True ]
found=$(jq_body "sorted(t['name'] for t in d['result']['structuredContent']['tools'])")
wait "$stream_pid"
check "the session is told its tool list changed" [ "$(grep -c 'notifications/tools/list_changed' "$tmp/stream")" = 1 ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
check "its tools/list now shows the tools found" \
  [ "$(jq_body "sorted(t['name'] for t in d['result']['tools'] if t['name'] not in ('search_tools', 'util_convert_currency'))")" = "$found" ]
call_tool shop_refund_order '{"order_id":"o1","note":"damaged"}'
check "the found tool is now callable" [ "$(jq_body "d['result']['structuredContent']['tool']")" = shop_refund_order ]
url=$base/mcp/everything
call_tool shop_refund_order '{}'
check "the search-mode session is not usable on another toolset ($status)" [ "$status" = 404 ]

# --- a description over the 200 bytes search_tools quotes, with a character
# across the cut: the text stops before it (JSON holds no half character) ---
mkdir -p "$tmp/wide"
python3 - "$tmp/wide" <<'EOF'
import json, os, sys
head = "Keeps a candidate's curriculum vitae for the hiring team. "
description = head + "x" * (199 - len(head)) + "\u00e9 and the rest of a long description."
json.dump({"name": "hr_keep_cv", "version": "1.0.0", "description": description, "runtime": "sh",
           "entry": "main.sh", "inputSchema": {"type": "object", "additionalProperties": False}},
          open(os.path.join(sys.argv[1], "toolgate.json"), "w"))
open(os.path.join(sys.argv[1], "main.sh"), "w").write("echo '{}'\n")
EOF
check "a tool with a long description deploys" "$toolgate" deploy "$tmp/wide" --url "$base" >/dev/null
url=$base/mcp/searchable
call_tool search_tools '{"query":"curriculum vitae","limit":1}'
check "search_tools finds it, its text cut between characters" \
  [ "$(jq_body "(d['result']['structuredContent']['tools'][0]['name'], d['result']['content'][0]['text'].endswith('x' * 20))")" = "('hr_keep_cv', True)" ]

# --- 2026-07-28: no session, the toolset is the boundary ---
url=$base/mcp/searchable
v='MCP-Protocol-Version: 2026-07-28'
meta='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"test","version":"1"}}'
post "$accept" "$json" "$v" 'Mcp-Method: tools/list' "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{$meta}}"
check "2026-07-28 tools/list in search mode" [ "$(jq_body "[t['name'] for t in d['result']['tools']]")" = "['search_tools', 'util_convert_currency']" ]
post "$accept" "$json" "$v" 'Mcp-Method: tools/call' 'Mcp-Name: search_tools' \
  "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"search_tools\",\"arguments\":{\"query\":\"send an SMS\"},$meta}}"
check "2026-07-28 search_tools answers a complete result" \
  [ "$(jq_body "(d['result']['resultType'], len(d['result']['structuredContent']['tools']) > 0)")" = "('complete', True)" ]
post "$accept" "$json" "$v" 'Mcp-Method: tools/call' 'Mcp-Name: shop_cancel_order' \
  "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"shop_cancel_order\",\"arguments\":{\"order_id\":\"o1\"},$meta}}"
check "2026-07-28 calls a tool of the toolset by name" [ "$(jq_body "d['result']['structuredContent']['tool']")" = shop_cancel_order ]

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
