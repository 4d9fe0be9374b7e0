#!/usr/bin/env bash
# `toolgate contract` against the real daemon with every example worker
# deployed: the committed fixtures all pass over MCP; --worker limits the run;
# one wrong expectation fails exactly its case; a fixture of an unknown tool,
# a malformed fixture and an empty folder fail; `contract gen` writes cases
# marked generated that the gateway meets (its invalid cases refused at the
# path and keyword they name), replaces its own stale files but keeps a
# hand-written one, and gives the same cases from tools/list as from the
# worker folder; bad command lines and an unreachable gateway exit 2.
#
#   tests/integration/test_contract.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

cat >"$tmp/config.json" <<JSON
{ "listen": "127.0.0.1:0", "data_dir": "$tmp/data", "deploy": ["$root/examples/workers"],
  "admission": { "tenant_rate": -1, "tool_rate": -1 } }
JSON
start_daemon gateway --config "$tmp/config.json"
token=$("$toolgate" token --data-dir "$tmp/data" --tenant demo --sub contract \
  --scope "tools:list tools:call" --audience "$url")

fixtures=$root/contract-fixtures
# contract ARG...: the subcommand against the gateway; $rc, $tmp/out, $tmp/err.
contract() {
  "$toolgate" contract "$@" --url "$base" --token "$token" >"$tmp/out" 2>"$tmp/err"
  rc=$?
}
count() { find "$1" -name '*.json' | wc -l; }
# The reason `contract run` printed for one case (its FAIL line), or "".
fail_line() { grep "^FAIL $1: " "$tmp/out"; }

# --- the committed fixtures ---
n=$(count "$fixtures")
check "every example worker has fixtures" \
  [ "$(find "$fixtures" -mindepth 1 -maxdepth 1 -type d | wc -l)" = \
  "$(find "$root/examples/workers" -mindepth 1 -maxdepth 1 -type d | wc -l)" ]
contract run --dir "$fixtures"
check "every committed fixture passes: exit 0" [ "$rc" = 0 ]
check "and says $n passed, 0 failed" grep -qx "$n passed, 0 failed" "$tmp/out"
check "with one PASS line per fixture" [ "$(grep -c '^PASS ' "$tmp/out")" = "$n" ]
[ "$rc" = 0 ] || cat "$tmp/out" "$tmp/err" >&2

m=$(count "$fixtures/format_text")
contract run --dir "$fixtures" --worker format_text
check "--worker runs only that worker's cases" [ "$rc" = 0 ]
check "all $m of them" grep -qx "$m passed, 0 failed" "$tmp/out"
check "and no other" [ "$(grep -c '^PASS format_text/' "$tmp/out")" = "$m" ]

# --- one wrong expectation ---
cp -r "$fixtures" "$tmp/wrong"
python3 - "$tmp/wrong/format_text/upper_squeezed.json" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
f["expect"]["structuredContent"]["words"] = 3
json.dump(f, open(sys.argv[1], "w"), indent=2)
PY
contract run --dir "$tmp/wrong"
check "a wrong expectation: exit 1" [ "$rc" = 1 ]
check "exactly one FAIL" [ "$(grep -c '^FAIL ' "$tmp/out")" = 1 ]
check "for that case, at its pointer" \
  fail_line format_text/upper_squeezed | grep -q 'structuredContent differs at /words: expected 3, got 2'
check "the others pass" grep -qx "$((n - 1)) passed, 1 failed" "$tmp/out"

# --- failures that are not a result's ---
mkdir -p "$tmp/odd/no_such_tool" "$tmp/odd/format_text"
echo '{"description": "a tool nobody deployed", "arguments": {}, "expect": {}}' \
  >"$tmp/odd/no_such_tool/anything.json"
echo '{"description": "two expectations", "arguments": {"text": "a"},
       "expect": {"content": [], "matches": true}}' >"$tmp/odd/format_text/malformed.json"
echo '{"description": "a success expected of a refused call", "arguments": {}, "expect": {}}' \
  >"$tmp/odd/format_text/refused.json"
contract run --dir "$tmp/odd"
check "an unknown tool, a malformed and a refused case: exit 1" [ "$rc" = 1 ]
check "the unknown tool is a JSON-RPC error" \
  fail_line no_such_tool/anything | grep -q 'JSON-RPC error -32602'
check "the malformed fixture names its pointer" \
  fail_line format_text/malformed | grep -q 'malformed fixture: /expect: must hold at most one'
check "the refused call says its error code and message" \
  fail_line format_text/refused | grep -q "the call failed: INVALID_ARGUMENTS: arguments do not match"
check "0 passed, 3 failed" grep -qx "0 passed, 3 failed" "$tmp/out"
mkdir -p "$tmp/empty"
contract run --dir "$tmp/empty"
check "no fixtures: exit 1" [ "$rc" = 1 ]
check "and says so" grep -q "no fixtures" "$tmp/err"

# --- generated fixtures ---
gen=$tmp/gen/format_text
contract gen format_text --from "$root/examples/workers/format_text" --dir "$tmp/gen"
check "gen --from exits 0" [ "$rc" = 0 ]
g=$(count "$gen")
check "and writes cases" [ "$g" -gt 0 ]
check "it says each one it wrote" [ "$(grep -c '^wrote ' "$tmp/out")" = "$g" ]
generated_only() { # every *.json in $1 is marked generated
  python3 -c "
import glob, json, sys
sys.exit(0 if all(json.load(open(p)).get('generated') is True for p in glob.glob('$1/*.json')) else 1)"
}
check "every one marked generated" generated_only "$gen"
check "at least one invalid case" grep -lq INVALID_ARGUMENTS "$gen"/*.json
pretty() { [ -z "$(tail -c 1 "$1")" ] && grep -q '^  "' "$1"; }
files=("$gen"/*.json)
check "indented, with a final newline" pretty "${files[0]}"
contract run --dir "$tmp/gen" --worker format_text
check "the gateway meets every generated case" [ "$rc" = 0 ]
check "all $g of them" grep -qx "$g passed, 0 failed" "$tmp/out"
[ "$rc" = 0 ] || cat "$tmp/out" "$tmp/err" >&2

# Regenerating: a stale generated case goes, a hand-written one stays.
cp "${files[0]}" "$gen/stale_case.json"
cp "$fixtures/format_text/upper_squeezed.json" "$gen/hand_written.json"
contract gen format_text --from "$root/examples/workers/format_text" --dir "$tmp/gen"
check "regenerating exits 0" [ "$rc" = 0 ]
check "removes the stale generated file" [ ! -e "$gen/stale_case.json" ]
check "and says so" grep -q "^removed .*stale_case.json" "$tmp/out"
check "keeps the hand-written one" cmp -s "$gen/hand_written.json" "$fixtures/format_text/upper_squeezed.json"
check "and writes the same cases again" [ "$(count "$gen")" = "$((g + 1))" ]
contract run --dir "$tmp/gen" --worker format_text
check "generated and hand-written cases pass together" grep -qx "$((g + 1)) passed, 0 failed" "$tmp/out"

# From the gateway's tools/list: the same cases.
contract gen format_text --dir "$tmp/gen-gw"
check "gen from the gateway exits 0" [ "$rc" = 0 ]
check "gives the same files as --from" diff -r -x hand_written.json "$gen" "$tmp/gen-gw/format_text"
contract gen no_such_tool --dir "$tmp/gen-gw"
check "gen of a tool the gateway does not list: exit 1" [ "$rc" = 1 ]
check "and says so" grep -q 'no tool "no_such_tool"' "$tmp/err"
check "writing nothing" [ ! -e "$tmp/gen-gw/no_such_tool" ]

# --- command lines ---
"$toolgate" contract >/dev/null 2>&1
check "no subcommand: exit 2" [ $? = 2 ]
"$toolgate" contract run --bogus >/dev/null 2>"$tmp/err"
check "an unknown option: exit 2" [ $? = 2 ]
check "with the usage" grep -q "usage: toolgate contract run" "$tmp/err"
"$toolgate" contract gen "../escape" --from "$root/examples/workers/format_text" >/dev/null 2>&1
check "a tool name that is not a folder name: exit 2" [ $? = 2 ]
"$toolgate" contract gen >/dev/null 2>&1
check "gen without a name: exit 2" [ $? = 2 ]
"$toolgate" contract run --dir "$fixtures" --url http://127.0.0.1:1 >/dev/null 2>"$tmp/err"
check "an unreachable gateway: exit 2" [ $? = 2 ]
check "saying why" grep -q "cannot open an MCP session" "$tmp/err"
"$toolgate" contract run --dir "$fixtures" --url "$base" --token not-a-token >/dev/null 2>"$tmp/err"
check "a refused token: exit 2" [ $? = 2 ]
check "with the gateway's reason" grep -q "HTTP 401" "$tmp/err"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
