#!/usr/bin/env bash
# The audit log through the real daemon: every call leaves call.begin and
# call.end (refusals one call.end), deploys and refused tokens their records;
# arguments are stored hashed and redacted; /v1/audit answers each filter for
# the caller's tenant only and pages without repeats or gaps while calls keep
# writing; /v1/usage sums the calls; `toolgate audit query|export|verify`
# read the file; verify names the first record edited, deleted or swapped
# with the sqlite3 shell; and calls fail closed (AUDIT_UNAVAILABLE, nothing
# runs, /readyz unready) while the log cannot be written (moved away, locked
# by another process), then recover.
#
#   tests/integration/test_audit.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

# --- workers ---
worker echo 10000 'cat; echo'
worker fail 10000 'cat >/dev/null; echo "{\"error\":{\"code\":\"NOT_TODAY\",\"message\":\"no\",\"retryable\":false}}"; exit 1'
worker burn 20000 'cat >/dev/null; i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo "{\"n\":$i}"'
mkdir -p "$tmp/workers/login"
cat >"$tmp/workers/login/toolgate.json" <<'JSON'
{ "name": "login", "version": "1.0.0", "description": "takes a password it must never see logged",
  "runtime": "sh", "entry": "main.sh",
  "inputSchema": { "type": "object", "required": ["user", "password"],
    "properties": { "user": { "type": "string" },
      "password": { "type": "string", "x-toolgate-sensitive": true },
      "extra": { "type": "array", "items": { "$ref": "#/$defs/pin" } } },
    "$defs": { "pin": { "type": "object", "properties": {
      "pin": { "type": "string", "x-toolgate-sensitive": true } } } } },
  "limits": { "timeout_ms": 10000 } }
JSON
printf '%s\n' 'cat >/dev/null; echo "{\"ok\":true}"' >"$tmp/workers/login/main.sh"

cat >"$tmp/config.json" <<JSON
{ "listen": "127.0.0.1:0", "data_dir": "$tmp/data", "deploy": ["$tmp/workers"],
  "admission": { "tenant_rate": -1, "tool_rate": -1 }, "audit": { "deadline_ms": 500 } }
JSON
start_daemon gateway --config "$tmp/config.json"
mint() { # mint TENANT SUB SCOPE
  "$toolgate" token --data-dir "$tmp/data" --tenant "$1" --sub "$2" --scope "$3" --audience "$url"
}
alice=$(mint demo alice "tools:list tools:call audit:read")
bob=$(mint demo bob "tools:list tools:call")
eve=$(mint other eve "audit:read")
log=$tmp/data/audit.db

# as TOKEN: the session and Authorization header for call below.
as() {
  local token=$1
  auth="Authorization: Bearer $token"
  post "$accept" "$json" "$auth" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}'
  sid=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p' "$tmp/headers")
  s="Mcp-Session-Id: $sid"
}
acall() { # acall NAME ARGUMENTS: tools/call as the current token
  post "$accept" "$json" "$auth" "$s" "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":\"$1\",\"arguments\":$2}}"
}
call_id() { jq_body "d['result']['_meta']['dev.toolgate/callId']"; }
is_error() { [ "$(jq_body "d['result'].get('isError', False)")" = True ]; }
# get PATH TOKEN: GET from the admin API into $tmp/body with $status.
get() {
  status=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $2" "$base$1")
}
count() { jq_body "len(d['records'])"; }

# --- every call on the record ---
as "$alice"
acall echo '{"msg":"hi"}'
check "echo answers" [ "$status" = 200 ]
echo_id=$(call_id)
check "the result names its call" [ ${#echo_id} = 32 ]
acall fail '{}'
fail_id=$(call_id)
check "the worker's own error" is_error
acall login '{"user":"ann","password":"hunter2-very-secret","extra":[{"pin":"9911-pin"}]}'
login_id=$(call_id)
acall burn '{}'
burn_id=$(call_id)
as "$bob"
acall login '{"user":"bob"}'
check "arguments against the schema are refused" is_error
acall login '{"user":"bob","password":3}'
refused_id=$(call_id)

get "/v1/audit?call_id=$echo_id" "$alice"
check "/v1/audit answers" [ "$status" = 200 ]
check "a call leaves two records" [ "$(count)" = 2 ]
check "begin then end, same trace" [ "$(jq_body "[r['kind'] for r in d['records']] == ['call.end','call.begin'] and d['records'][0]['trace_id'] == d['records'][1]['trace_id']")" = True ]
check "call.end: ok, a sandbox, durations, cpu" [ "$(jq_body "(r:=d['records'][0])['status']=='ok' and r['principal']=='demo/alice' and r['trigger_kind']=='agent' and (b:=r['body'])['sandbox']['driver'] in ('jail','microvm') and b['durations_us']['run']>0 and b['wall_us']>=b['durations_us']['run'] and b['cpu_us']>=0 and b['output_bytes']>0")" = True ]
check "call.begin: the arguments and their hash" [ "$(jq_body "(b:=d['records'][1]['body'])['arguments']=={'msg':'hi'} and len(b['arguments_sha256'])==64")" = True ]

get "/v1/audit?call_id=$login_id&kind=call.begin" "$alice"
check "sensitive arguments are redacted" [ "$(jq_body "d['records'][0]['body']['arguments'] == {'user': 'ann', 'password': '[REDACTED]', 'extra': [{'pin': '[REDACTED]'}]}")" = True ]
check "no secret value anywhere in the log files" \
  bash -c "! grep -aq -e hunter2-very-secret -e 9911-pin '$log' '$log-wal'"

get "/v1/audit?call_id=$burn_id&kind=call.end" "$alice"
check "a CPU-bound worker's CPU is measured by the host" [ "$(jq_body "d['records'][0]['body']['cpu_us'] > 10000")" = True ]

# --- filters ---
get "/v1/audit?tool=fail&status=error" "$alice"
check "tool and status" [ "$(jq_body "[r['call_id'] for r in d['records']]")" = "['$fail_id']" ]
get "/v1/audit?error_code=NOT_TODAY" "$alice"
check "error_code" [ "$(jq_body "[r['call_id'] for r in d['records']]")" = "['$fail_id']" ]
get "/v1/audit?principal=demo/bob&status=refused" "$alice"
check "principal and status refused" [ "$(jq_body "sorted(set(r['error_code'] for r in d['records']))")" = "['INVALID_ARGUMENTS']" ]
check "the refused call is among them" [ "$(jq_body "'$refused_id' in [r['call_id'] for r in d['records']]")" = True ]
get "/v1/audit?trigger=agent&kind=call.begin" "$alice"
check "trigger and kind" [ "$(count)" = 4 ]
get "/v1/audit?kind=deploy" "$alice"
check "deploys at start are recorded" [ "$(count)" = 4 ]
get "/v1/audit?kind=call.end&until=1000" "$alice"
check "until" [ "$(count)" = 0 ]
get "/v1/audit?kind=call.end&since=1h" "$alice"
check "since as an age" [ "$(count)" = 6 ]
now_iso=$(date -u -d '+1 minute' +%Y-%m-%dT%H:%M:%SZ)
get "/v1/audit?since=$now_iso" "$alice"
check "since as RFC 3339" [ "$(count)" = 0 ]
get "/v1/audit?since=yesterday" "$alice"
check "a bad time is a 400" [ "$status" = 400 ]
get "/v1/audit?cursor=abc" "$alice"
check "a bad cursor is a 400" [ "$status" = 400 ]
get "/v1/audit" "$eve"
check "another tenant sees none of it" [ "$status" = 200 ] && check "none" [ "$(count)" = 0 ]
get "/v1/audit" "$bob"
check "audit:read is required" [ "$status" = 403 ]
status=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer forged.token.here" "$base/v1/audit")
check "a forged token is refused" [ "$status" = 401 ]
get "/v1/audit?kind=auth.denied" "$alice"
check "the missing scope is recorded as auth.denied" [ "$(jq_body "[(r['principal'], r['status']) for r in d['records']]")" = "[('demo/bob', 'forbidden')]" ]
check "the forged token too, with no tenant" \
  bash -c "'$toolgate' audit query --file '$log' --kind auth.denied --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print([(r[\"tenant\"], r[\"status\"]) for r in d[\"records\"]])' | grep -q \"(None, 'unauthorized')\""

# --- usage ---
get "/v1/usage?group=worker" "$alice"
check "usage per worker" [ "$(jq_body "(u:={r['worker']: r for r in d['usage']})['echo']['calls']==1 and u['login']['calls']==1 and u['login']['refused']==2 and u['fail']['errors']==1 and u['burn']['cpu_seconds']>0.01 and u['burn']['wall_seconds']>0")" = True ]
get "/v1/usage?group=day&from=24h" "$alice"
check "usage per day" [ "$(jq_body "len(d['usage'])==1 and d['usage'][0]['calls']==4 and d['usage'][0]['day']=='$(date -u +%Y-%m-%d)'")" = True ]
get "/v1/usage?group=month" "$alice"
check "a bad group is a 400" [ "$status" = 400 ]
get "/v1/usage" "$eve"
check "usage is per tenant" [ "$(jq_body "d['usage']")" = "[]" ]

# --- pages stay stable while calls keep writing ---
as "$alice"
for i in $(seq 30); do acall echo "{\"i\":$i}"; done
(
  for i in $(seq 40); do
    curl -s -o /dev/null -H "$accept" -H "$json" -H "$auth" -H "$s" --data-binary \
      "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"bg\":$i}}}" "$url"
  done
) &
writer=$!
get "/v1/audit?limit=1" "$alice"
top=$(jq_body "d['records'][0]['seq']")
: >"$tmp/paged"
cursor=
for _ in $(seq 200); do
  get "/v1/audit?limit=7${cursor:+&cursor=$cursor}" "$alice"
  [ "$status" = 200 ] || break
  jq_body "'\n'.join(str(r['seq']) for r in d['records'])" >>"$tmp/paged"
  cursor=$(jq_body "d.get('next_cursor', '')")
  [ -n "$cursor" ] || break
done
wait "$writer"
check "paging reached the end" [ -z "$cursor" ]
check "no record twice, newest first" [ "$(sort -rn "$tmp/paged" | uniq | wc -l)" = "$(wc -l <"$tmp/paged")" ]
check "strictly descending" bash -c "sort -rn -c '$tmp/paged'"
sqlite3 "$log" "SELECT seq FROM records WHERE tenant='demo' AND seq <= $top ORDER BY seq DESC" >"$tmp/expected"
check "every record there when paging began, none skipped" \
  bash -c "awk '\$1 <= $top' '$tmp/paged' | diff -q - '$tmp/expected' >/dev/null"

# --- the CLI ---
"$toolgate" audit query --data-dir "$tmp/data" --tenant demo --tool fail >"$tmp/table"
check "query prints a table" grep -q "call.end .*fail .*error *NOT_TODAY *$fail_id" "$tmp/table"
"$toolgate" audit query --data-dir "$tmp/data" --principal demo/bob --status refused --json >"$tmp/body"
check "query --json with filters" [ "$(jq_body "all(r['status']=='refused' for r in d['records']) and len(d['records'])>=2")" = True ]
"$toolgate" audit export --data-dir "$tmp/data" --since 1h --format jsonl >"$tmp/export"
check "export writes every record, oldest first" \
  [ "$(wc -l <"$tmp/export")" = "$(sqlite3 "$log" 'SELECT count(*) FROM records')" ]
check "each line is a record" python3 -c "
import json
seqs = [json.loads(l)['seq'] for l in open('$tmp/export')]
assert seqs == sorted(seqs) and seqs[0] == 1"
"$toolgate" audit export --data-dir "$tmp/data" --since "$now_iso" --format jsonl >"$tmp/export"
check "export --since" [ ! -s "$tmp/export" ]
check "export needs --since" bash -c "! '$toolgate' audit export --data-dir '$tmp/data' 2>/dev/null"
"$toolgate" audit verify --data-dir "$tmp/data" >"$tmp/verify"
check "verify: intact" grep -q "intact:" "$tmp/verify"

# --- fail closed: the log moved away, then back ---
runs() { curl -s "$base/metrics" -H "$auth" | sed -n 's/^toolgate_sandbox_runs_total //p'; }
admin=$(mint demo root admin)
auth="Authorization: Bearer $admin"
as "$admin"
before=$(runs)
mv "$log" "$log.away"
acall echo '{"while":"away"}'
check "a call while the log is away: AUDIT_UNAVAILABLE" \
  [ "$(jq_body "d['result']['structuredContent']['error']['code']")" = AUDIT_UNAVAILABLE ]
check "retryable" [ "$(jq_body "d['result']['structuredContent']['error']['retryable']")" = True ]
for i in 1 2 3; do acall echo "{\"away\":$i}"; done
check "no worker ran" [ "$(runs)" = "$before" ]
ready=$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")
check "/readyz: unready" [ "$ready" = 503 ]
status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X DELETE -H "$auth" "$base/v1/workers/burn")
check "no change to workers while the log is away" [ "$status" = 503 ]
mv "$log.away" "$log"
ok=
for _ in $(seq 50); do
  acall echo '{"back":true}'
  if ! is_error; then ok=1 && break; fi
  sleep 0.1
done
check "calls succeed again once the log is back" [ -n "$ok" ]
check "a worker ran again" [ "$(runs)" -gt "$before" ]
ready=$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")
check "/readyz: ready again" [ "$ready" = 200 ]
status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X DELETE -H "$auth" "$base/v1/workers/burn")
check "changes work again" [ "$status" = 204 ]
get "/v1/audit?kind=deploy&tool=burn" "$admin"
check "a delete is a deploy record" [ "$(jq_body "d['records'][0]['status']")" = deleted ]

# --- fail closed: another process holds the log's write lock ---
before=$(runs)
mkfifo "$tmp/lock"
sqlite3 "$log" <"$tmp/lock" >/dev/null 2>&1 &
locker=$!
exec 7>"$tmp/lock"
echo "BEGIN IMMEDIATE; SELECT 1;" >&7
sleep 0.3
acall echo '{"while":"locked"}'
check "a call while the log is locked: AUDIT_UNAVAILABLE" \
  [ "$(jq_body "d['result']['structuredContent']['error']['code']")" = AUDIT_UNAVAILABLE ]
check "no worker ran while locked" [ "$(runs)" = "$before" ]
echo "COMMIT;" >&7
exec 7>&-
wait "$locker"
ok=
for _ in $(seq 50); do
  acall echo '{"unlocked":true}'
  if ! is_error; then ok=1 && break; fi
  sleep 0.1
done
check "calls succeed once the lock is released" [ -n "$ok" ]
kill "$server_pid" && wait "$server_pid"
server_pid=
check "verify passes after the outages" "$toolgate" audit verify --file "$log"

# --- tampering, each on a fresh copy: verify names the first bad record ---
tampered() { # tampered NAME SQL: a copy of the log with SQL applied
  cp "$log" "$tmp/$1.db"
  sqlite3 "$tmp/$1.db" "$2"
  "$toolgate" audit verify --file "$tmp/$1.db" >"$tmp/$1.out"
}
# Records 1-4 are the deploys, 5-12 the begin and end of echo, fail, login
# and burn, 13 and 14 the refusals.
check "the records are where the tampering expects them" [ "$(sqlite3 "$log" "SELECT kind || ' ' || coalesce(error_code, '-') FROM records WHERE seq IN (5, 8, 12, 14) ORDER BY seq" | tr '\n' ,)" = "call.begin -,call.end NOT_TODAY,call.end -,call.end INVALID_ARGUMENTS," ]
tampered edit "UPDATE records SET body = replace(body, '\"hi\"', '\"ho\"') WHERE seq = 5"
check "an edited body: exit 1" [ $? = 1 ]
check "names record 5 as edited" grep -q "record 5 was edited" "$tmp/edit.out"
tampered code "UPDATE records SET error_code = 'ALL_GOOD' WHERE seq = 8"
check "an edited error code is found" grep -q "record 8 was edited" "$tmp/code.out"
tampered status "UPDATE records SET status = 'error' WHERE seq = 12"
check "an edited status is found" grep -q "record 12 was edited" "$tmp/status.out"
tampered delete "DELETE FROM records WHERE seq = 7"
check "a deleted record: exit 1" [ $? = 1 ]
check "names record 7 as removed" grep -q "record 7 was removed" "$tmp/delete.out"
tampered swap "UPDATE records SET seq = -1 WHERE seq = 5; UPDATE records SET seq = 5 WHERE seq = 6; UPDATE records SET seq = 6 WHERE seq = -1;"
check "swapped records: exit 1" [ $? = 1 ]
check "names record 5 as reordered" grep -q "record 5 was reordered" "$tmp/swap.out"
tampered tail "DELETE FROM records WHERE seq = (SELECT max(seq) - 1 FROM records)"
check "a record removed near the end is found" grep -q "was removed" "$tmp/tail.out"
check "the untouched log still verifies" "$toolgate" audit verify --file "$log"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
