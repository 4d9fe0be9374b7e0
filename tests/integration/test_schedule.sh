#!/usr/bin/env bash
# The scheduler through the real daemon: a worker on "@every 1s" runs about
# once a second, on its slots, as "schedule" calls of principal "schedule"; a
# worker slower than its interval never overlaps itself (the slots it is
# still running through are skipped, and recorded); retryable failures are
# retried with backoff up to the manifest's limit, others are not; scheduled
# runs take the manifest's arguments; schedules deployed, changed and deleted
# at runtime are followed; bad schedules are refused at deploy; and a restart
# neither loses nor doubles a run (one catch-up run for the slots it was down
# through, none with missed "skip"), as the runs history and the audit log
# show.
#
#   tests/integration/test_schedule.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

# sched_worker DIR NAME TRIGGERS SCRIPT [INPUT_SCHEMA]: a worker folder in DIR
# whose manifest's triggers are TRIGGERS (a JSON object).
sched_worker() {
  local schema=${5:-'{ "type": "object" }'}
  mkdir -p "$1/$2"
  cat >"$1/$2/toolgate.json" <<EOF
{ "name": "$2", "version": "1.0.0", "description": "scheduled test worker $2",
  "runtime": "sh", "entry": "main.sh", "inputSchema": $schema,
  "limits": { "timeout_ms": 20000, "memory_mb": 64, "max_output_bytes": 65536 },
  "triggers": $3 }
EOF
  printf '%s\n' "$4" >"$1/$2/main.sh"
}

w=$tmp/workers
sched_worker "$w" ticker '{ "schedule": "@every 1s" }' 'cat >/dev/null; echo "{\"tick\":true}"'
sched_worker "$w" skipper '{ "schedule": "@every 1s", "missed": "skip" }' \
  'cat >/dev/null; echo "{\"tick\":true}"'
sched_worker "$w" slow '{ "schedule": "@every 1s" }' \
  'cat >/dev/null; sleep 2.5; echo "{\"slow\":true}"'
sched_worker "$w" flaky \
  '{ "schedule": "@every 1s", "retry": { "max_retries": 2, "backoff_ms": 200, "max_backoff_ms": 400 } }' \
  'cat >/dev/null; echo "{\"error\":{\"code\":\"TRY_AGAIN\",\"message\":\"upstream busy\",\"retryable\":true}}"; exit 1'
sched_worker "$w" broken '{ "schedule": "@every 1s" }' \
  'cat >/dev/null; echo "{\"error\":{\"code\":\"BAD_DATA\",\"message\":\"no\",\"retryable\":false}}"; exit 1'
sched_worker "$w" greeter \
  '{ "schedule": "@every 1s", "arguments": { "who": "cron" } }' \
  'cat' '{ "type": "object", "required": ["who"], "properties": { "who": { "type": "string" } } }'
sched_worker "$w" office '{ "schedule": "0 9 * * MON-FRI", "timezone": "Europe/Paris", "button": false }' \
  'cat >/dev/null; echo "{}"'

cat >"$tmp/config.json" <<JSON
{ "listen": "127.0.0.1:0", "data_dir": "$tmp/data", "deploy": ["$w"],
  "admission": { "tenant_rate": -1, "tool_rate": -1, "tenant_concurrency": 64, "worker_concurrency": 16 },
  "runs": { "keep_results": 50 } }
JSON
start_daemon gateway --config "$tmp/config.json"
mint() { # mint TENANT SUB SCOPE
  "$toolgate" token --data-dir "$tmp/data" --tenant "$1" --sub "$2" --scope "$3" --audience "$url"
}
admin=$(mint demo admin "admin")
get() { # get PATH [TOKEN]
  status=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer ${2:-$admin}" "$base$1")
}
j() { python3 -c "import json; d = json.load(open('$tmp/body')); print($1)"; }
# runs_of WORKER [MORE_QUERY]: every run of WORKER, oldest first, as JSON in $tmp/runs_WORKER.
runs_of() {
  get "/v1/runs?worker=$1&limit=1000${2:-}"
  python3 -c "import json; d = json.load(open('$tmp/body')); json.dump(d['runs'][::-1], open('$tmp/runs_$1', 'w'))"
}
# py WORKER EXPR: EXPR over r, the runs of WORKER (runs_of first).
py() { python3 -c "import json; r = json.load(open('$tmp/runs_$1')); print($2)"; }
# audit_count QUERY: how many records GET /v1/audit?QUERY lists.
audit_count() {
  get "/v1/audit?limit=1000&$1"
  j "len(d['records'])"
}

started_at=$(date +%s%3N)
sleep 7

# --- @every 1s, on its slots ---
runs_of ticker
n=$(py ticker "len(r)")
check "the ticker ran about once a second ($n runs in 7 s)" [ "$n" -ge 5 ] && [ "$n" -le 8 ]
check "every run was ok" [ "$(py ticker "all(x['status'] == 'ok' for x in r)")" = True ]
check "as schedule calls" [ "$(py ticker "all(x['trigger'] == 'schedule' and x['principal'] == 'schedule' for x in r)")" = True ]
check "each on its own whole-second slot" [ "$(py ticker "len(set(x['scheduled_ms'] for x in r)) == len(r) and all(x['scheduled_ms'] % 1000 == 0 for x in r)")" = True ]
check "consecutive slots, none lost" [ "$(py ticker "all(b['scheduled_ms'] - a['scheduled_ms'] == 1000 for a, b in zip(r, r[1:]))")" = True ]
check "none started before its slot" [ "$(py ticker "all(x['started_ms'] >= x['scheduled_ms'] for x in r)")" = True ]
check "first tries" [ "$(py ticker "all(x['attempt'] == 1 for x in r)")" = True ]
check "the history shows when they were due" [ "$(py ticker "all(x['scheduled_at'].endswith('.000Z') for x in r)")" = True ]

# --- slower than its interval: never overlapping ---
runs_of slow
check "the slow worker ran" [ "$(py slow "sum(x['status'] == 'ok' for x in r)")" -ge 2 ]
ok_runs="[x for x in r if x['status'] == 'ok']"
check "its runs never overlap" [ "$(py slow "all(b['started_ms'] >= a['started_ms'] + a['duration_ms'] for a, b in zip($ok_runs, $ok_runs[1:]))")" = True ]
check "the slots it ran through are skipped, and recorded" [ "$(py slow "sum(x['status'] == 'skipped' for x in r)")" -ge 2 ]
check "each skip names its slot" [ "$(py slow "all(x['scheduled_ms'] % 1000 == 0 for x in r if x['status'] == 'skipped')")" = True ]
check "skips are in the audit log" [ "$(audit_count "kind=schedule.run&tool=slow&status=skipped")" -ge 2 ]

# --- retries ---
runs_of flaky
first_slot=$(py flaky "r[0]['scheduled_ms']")
check "a retryable failure is tried three times for its slot (1 + max_retries 2)" \
  [ "$(py flaky "[x['attempt'] for x in r if x['scheduled_ms'] == $first_slot]")" = "[1, 2, 3]" ]
check "each try failed with the worker's code" [ "$(py flaky "all(x['error_code'] == 'TRY_AGAIN' for x in r)")" = True ]
check "after a backoff" [ "$(py flaky "all(b['started_ms'] - a['started_ms'] >= 100 for a, b in zip(r, r[1:]) if b['attempt'] > 1)")" = True ]
check "retries in the audit log" [ "$(audit_count "kind=schedule.run&tool=flaky&status=retrying")" -ge 2 ]
check "and the slot's final failure" [ "$(audit_count "kind=schedule.run&tool=flaky&status=failed")" -ge 1 ]
runs_of broken
check "a failure that is not retryable runs once per slot" [ "$(py broken "len(set(x['scheduled_ms'] for x in r)) == len(r) and all(x['attempt'] == 1 for x in r)")" = True ]
check "and is recorded failed with its code" [ "$(audit_count "kind=schedule.run&tool=broken&status=failed&error_code=BAD_DATA")" -ge 2 ]

# --- arguments, audit ---
runs_of greeter
check "scheduled runs get the manifest's arguments" [ "$(py greeter "sum(x['status'] == 'ok' for x in r)")" -ge 4 ]
get "/v1/runs/$(py greeter "r[-1]['call_id']")"
check "which the worker saw" [ "$(j "d['result']['structuredContent']['who']")" = cron ]
check "every scheduled call is audited with trigger kind schedule" \
  [ "$(audit_count "kind=call.end&tool=ticker&trigger=schedule")" -ge 5 ]
check "each slot's end is a schedule.run record" [ "$(audit_count "kind=schedule.run&tool=ticker&status=ok")" -ge 5 ]
runs_of office
check "a weekday-morning schedule in Paris has not run" [ "$(py office "len(r)")" = 0 ]
button() { # button NAME: POST /v1/workers/NAME/run
  status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $admin" \
    --data-binary '{}' "$base/v1/workers/$1/run")
}
button office
check "a manifest's \"button\": false refuses button runs" [ "$status" = 403 ]
check "saying why" grep -q 'turns button runs off' "$tmp/body"
button ticker
check "a scheduled worker still runs from a button by default" [ "$status" = 200 ]

# --- schedules deployed, changed and deleted at runtime ---
d=$tmp/deploy
sched_worker "$d" late '{ "schedule": "@every 1s" }' 'cat >/dev/null; echo "{}"'
check "a scheduled worker deploys at runtime" "$toolgate" deploy "$d/late" --url "$base" --token "$admin"
sleep 3
runs_of late
check "and runs by itself" [ "$(py late "len(r)")" -ge 2 ]
sched_worker "$d" late '{ "schedule": "@every 1h" }' 'cat >/dev/null; echo "{\"v\":2}"'
sed -i 's/"1.0.0"/"1.0.1"/' "$d/late/toolgate.json"
check "a new version with another schedule deploys" "$toolgate" deploy "$d/late" --url "$base" --token "$admin"
runs_of late
before=$(py late "len(r)")
sleep 2.5
runs_of late
check "and the new schedule is followed at once" [ "$(py late "len(r)")" -le $((before + 1)) ]
status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $admin" "$base/v1/workers/late")
deleted_at=$(date +%s%3N)
check "the worker is deleted" [ "$status" = 204 ] || [ "$status" = 200 ]

any_object='{ "type": "object" }'
deploy_refused() { # deploy_refused WHAT TRIGGERS POINTER [SCHEMA]
  sched_worker "$d" bad "$2" 'cat' "${4:-$any_object}"
  "$toolgate" deploy "$d/bad" --url "$base" --token "$admin" >"$tmp/deploy-out" 2>&1
  check "$1 is refused at deploy" [ $? != 0 ]
  check "$1: the problem is at $3" grep -q "$3" "$tmp/deploy-out"
}
deploy_refused "a bad cron field" '{ "schedule": "61 * * * *" }' /triggers/schedule
deploy_refused "an unknown zone" '{ "schedule": "0 9 * * *", "timezone": "Mars/Olympus" }' /triggers/schedule
deploy_refused "a too short @every" '{ "schedule": "@every 500ms" }' /triggers/schedule
deploy_refused "a zone without a schedule" '{ "timezone": "Europe/Paris" }' /triggers
deploy_refused "arguments the tool refuses" '{ "schedule": "@hourly", "arguments": { "n": "x" } }' \
  /triggers/arguments/n '{ "type": "object", "properties": { "n": { "type": "integer" } } }'
deploy_refused "no arguments for a tool that requires some" '{ "schedule": "@hourly" }' \
  /triggers/arguments '{ "type": "object", "required": ["n"] }'

# --- a restart neither loses nor doubles a run ---
kill -TERM "$server_pid" && wait "$server_pid"
server_pid=
stopped_at=$(date +%s%3N)
sleep 4.2
start_daemon gateway2 --config "$tmp/config.json"
admin=$(mint demo admin "admin") # the new port is a new audience
sleep 3
runs_of ticker
ran="[x for x in r if x['trigger'] == 'schedule' and x['status'] in ('ok', 'error')]"
# The last slot the first gateway ran.
last_ran=$(py ticker "max(x['scheduled_ms'] for x in $ran if x['started_ms'] < $stopped_at)")
check "no slot ran twice across the restart" [ "$(py ticker "len(set(x['scheduled_ms'] for x in $ran)) == len($ran)")" = True ]
check "no slot before the stop was lost" [ "$(py ticker "sorted(x['scheduled_ms'] for x in $ran if x['scheduled_ms'] <= $last_ran) == list(range(min(x['scheduled_ms'] for x in $ran), $last_ran + 1, 1000))")" = True ]
# A catch-up run starts seconds after its slot (the gateway was down through it).
late="[x for x in $ran if x['started_ms'] - x['scheduled_ms'] > 2500]"
check "the slots the gateway was down through gave one catch-up run" [ "$(py ticker "len($late)")" = 1 ]
check "for the first of them" [ "$(py ticker "$late[0]['scheduled_ms']")" = $((last_ran + 1000)) ]
check "it ran after the restart" [ "$(py ticker "$late[0]['started_ms'] > $stopped_at")" = True ]
after="[x for x in $ran if x['scheduled_ms'] > $last_ran + 1000]"
check "then every slot since the start, none lost" [ "$(py ticker "len($after) >= 2 and $after[0]['scheduled_ms'] > $stopped_at and all(b['scheduled_ms'] - a['scheduled_ms'] == 1000 for a, b in zip($after, $after[1:]))")" = True ]
runs_of skipper
check "with missed skip, no catch-up run" [ "$(py skipper "len([x for x in r if x['started_ms'] - x['scheduled_ms'] > 2500])")" = 0 ]
check "the missed slots are recorded" [ "$(audit_count "kind=schedule.run&tool=skipper&status=missed")" -ge 1 ]
check "and it runs on its slots again" [ "$(py skipper "len([x for x in r if x['status'] == 'ok' and x['scheduled_ms'] > $stopped_at])")" -ge 1 ]
runs_of late
check "a deleted worker's schedule stays gone, across the restart too" [ "$(py late "max(x['started_ms'] for x in r) < $deleted_at")" = True ]
kill -TERM "$server_pid" && wait "$server_pid"
server_pid=
"$toolgate" audit verify --data-dir "$tmp/data" >"$tmp/verify" 2>&1
check "the audit chain verifies" [ $? = 0 ]
# A graceful stop should cut no call off; any it did is shown for the log.
grep -A3 "cut off" "$tmp/verify" >&2

echo "schedule: $(( $(date +%s%3N) - started_at )) ms"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
