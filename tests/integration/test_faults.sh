#!/usr/bin/env bash
# Failure injection through the real daemon: each fault ends with a structured
# error, a healthy gateway and a complete audit log.
#
#  - a full disk (the data dir on a small tmpfs, filled): calls fail closed
#    with AUDIT_UNAVAILABLE (retryable), /readyz is unready, and once space is
#    freed the gateway recovers by itself; every call the client saw succeed
#    has its call.begin and call.end. Needs root for the mount; skipped
#    without.
#  - registry.db locked by another process during a deploy: 503 UNAVAILABLE
#    after the busy timeout, then the same deploy succeeds. (A lock on the
#    audit log, and the log moved away, are test_audit.sh's.)
#  - sandboxes that die mid-call (the worker kills every process it can, or
#    its namespace's pid 1), hang ignoring SIGTERM, flood stdout, flood fd 3
#    with progress and log lines or with bytes that are not JSON, or write
#    garbage on stdout: each answers a structured tool error (or, for fd 3,
#    its result), /readyz stays ready and later calls work. (An endless loop
#    answering TIMEOUT is test_gateway.sh's.)
#  - an egress upstream that accepts the connection and then says nothing, or
#    resets it: the worker gets 504 UPSTREAM_TIMEOUT / 502 UPSTREAM_FAILED as
#    an HTTP response and the call ends normally. (A slow answer after the
#    TLS handshake is test_egress.sh's.)
# Then `toolgate audit verify` passes and every call made here has both its
# records.
#
#   tests/integration/test_faults.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

summary=()
note() { summary+=("$1"); }

# --- the data dir on a small tmpfs, when we may mount one ---
mkdir -p "$tmp/data"
tmpfs=
if mount -t tmpfs -o size=24m tmpfs "$tmp/data" 2>"$tmp/mount.err"; then
  tmpfs=1
else
  echo "note: cannot mount a tmpfs ($(cat "$tmp/mount.err")): the full disk part is skipped"
fi

helpers=()
stop_all() {
  local status=$?
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  server_pid=
  for p in "${helpers[@]}"; do kill "$p" 2>/dev/null; done
  [ -n "$tmpfs" ] && umount -l "$tmp/data" 2>/dev/null
  # cleanup reads the script's exit status from $?.
  (exit "$status")
  cleanup
}
trap stop_all EXIT

# --- an upstream that accepts and then hangs, or resets ---
cat >"$tmp/raw_upstream.py" <<'PY'
"""Accepts TCP connections on 127.0.0.1 and either holds them open without a
byte (hang) or closes them with an RST (reset)."""
import os, socket, struct, sys
mode, port_file = sys.argv[1:3]
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(16)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.getsockname()[1]))
os.rename(port_file + ".tmp", port_file)
held = []
while True:
    conn, _ = srv.accept()
    if mode == "reset":
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
    else:
        held.append(conn)
PY
for mode in hang reset; do
  python3 "$tmp/raw_upstream.py" "$mode" "$tmp/$mode.port" &
  helpers+=($!)
done
for _ in $(seq 100); do [ -s "$tmp/hang.port" ] && [ -s "$tmp/reset.port" ] && break; sleep 0.05; done
hang_port=$(cat "$tmp/hang.port")
reset_port=$(cat "$tmp/reset.port")

# --- workers ---
worker ok 10000 'cat >/dev/null; echo "{\"ok\":true}"'
# The worker's shell expands these, not ours.
# shellcheck disable=SC2016
{
  # kill -1 spares the caller, and a namespace's pid 1 ignores SIGKILL sent
  # from inside: each worker then kills itself too.
  worker kill_all 10000 'cat >/dev/null; kill -KILL -1; sleep 1; kill -KILL $$; echo "{\"survived\":true}"'
  worker kill_init 10000 'cat >/dev/null; kill -KILL 1; sleep 1; kill -KILL $$; echo "{\"survived\":true}"'
  worker sandbox_killed 10000 'cat >/dev/null; exec sleep 9.75'
  worker hang 1500 'cat >/dev/null; trap "" TERM INT HUP; while :; do sleep 1; done'
  worker flood_stdout 10000 'cat >/dev/null; s=floodfloodfloodfloodfloodfloodfloodflood; s=$s$s$s$s$s$s$s$s; while :; do printf "%s" "$s$s$s$s"; done'
  worker flood_events 20000 'cat >/dev/null; i=0; while [ $i -lt 3000 ]; do echo "{\"progress\":$i,\"total\":3000,\"message\":\"step $i\"}" >&3; echo "{\"log\":\"info\",\"data\":\"line $i\"}" >&3; i=$((i+1)); done; echo "{\"done\":true}"'
  worker flood_garbage 20000 'cat >/dev/null; i=0; while [ $i -lt 3000 ]; do printf "\377\376{not json\001\n[1,2\n" >&3; i=$((i+1)); done; printf "%0200000d" 0 >&3; echo "{\"done\":true}"'
  worker garbage_stdout 10000 'cat >/dev/null; printf "not json \377\376 {\n"'
}
mkdir -p "$tmp/workers/fetch_raw"
cat >"$tmp/workers/fetch_raw/toolgate.json" <<JSON
{ "name": "fetch_raw", "version": "1.0.0", "description": "one request to a broken upstream",
  "runtime": "python3", "entry": "main.py", "inputSchema": { "type": "object" },
  "limits": { "timeout_ms": 20000 },
  "egress": [ { "origin": "https://localhost:$hang_port", "methods": ["GET"] },
              { "origin": "https://localhost:$reset_port", "methods": ["GET"] } ] }
JSON
cat >"$tmp/workers/fetch_raw/main.py" <<'PY'
import json, sys, urllib.request, urllib.error
url = json.load(sys.stdin)["url"]
try:
    with urllib.request.urlopen(url, timeout=30) as res:
        out = {"status": res.status, "body": res.read().decode()}
except urllib.error.HTTPError as e:
    out = {"status": e.code, "body": e.read().decode()}
except Exception as e:
    out = {"status": 0, "body": repr(e)}
print(json.dumps(out))
PY

cat >"$tmp/config.json" <<JSON
{ "admission": { "tenant_rate": -1, "tool_rate": -1, "tenant_concurrency": -1,
                 "worker_concurrency": -1 },
  "egress": { "timeout_ms": 1500 } }
JSON
start_gateway --config "$tmp/config.json" --warm 1 --deploy "$tmp/workers"
initialize
audit_db=$tmp/data/audit.db

code() { jq_body "(d.get('result', {}).get('structuredContent') or {}).get('error', {}).get('code', '')"; }
message() { jq_body "d['result']['structuredContent']['error']['message'][:90]" 2>/dev/null; }
call_id() { jq_body "d['result']['_meta']['dev.toolgate/callId']"; }
readyz() { curl -s -o /dev/null -w '%{http_code}' "$base/readyz"; }
# Whether the answer is a tool error with a code, a message and a retryable flag.
structured() {
  jq_quiet "d['result']['isError'] is True and all(k in d['result']['structuredContent']['error'] for k in ('code', 'message', 'retryable'))"
}
# The call ids of every call that ran, each of which must leave call.begin
# and call.end (a call refused with AUDIT_UNAVAILABLE never began).
ids=()
remember_id() {
  local id
  id=$(call_id 2>/dev/null) && [ -n "$id" ] && ids+=("$id")
}
still_fine() { # still_fine WHAT: /readyz ready and the next call works
  check "$1: /readyz still ready" [ "$(readyz)" = 200 ]
  call ok
  check "$1: a later call works" [ "$(jq_body "d['result']['structuredContent']['ok']")" = True ]
  remember_id
}

call ok
check "a call works before any fault" [ "$(jq_body "d['result']['structuredContent']['ok']")" = True ]
remember_id

# --- sandboxes that misbehave ---
one_of() { # one_of WORD LIST...: whether WORD is one of LIST
  local w=$1
  shift
  [ -n "$w" ] && [[ " $* " == *" $w "* ]]
}
# The fd 3 floods: the worker's result, or a structured error.
result_or_structured() {
  [ "$(jq_body "d['result'].get('structuredContent', {}).get('done')" 2>/dev/null)" = True ] || structured
}
# fault NAME EXPECTED_CODES...: calls NAME and checks a structured error with
# one of the codes.
fault() {
  local name=$1
  shift
  local t0=$SECONDS
  call "$name"
  check "$name: HTTP 200" [ "$status" = 200 ]
  check "$name: a structured tool error" structured
  local got
  got=$(code 2>/dev/null)
  check "$name: one of $* (got ${got:-nothing})" one_of "$got" "$@"
  note "sandbox $name: $got in $((SECONDS - t0)) s ($(message))"
  remember_id
  still_fine "$name"
}
fault kill_all WORKER_FAILED
fault kill_init WORKER_FAILED

# The sandbox killed from outside mid-call (the OOM killer, an operator): the
# init of the pid namespace the worker's `sleep 9.75` runs in, found among
# the gateway's descendants.
sandbox_init() {
  python3 - "$server_pid" <<'PY'
import os, sys
server = int(sys.argv[1])
def parent(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])
def nspid(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("NSpid:"):
            return line.split()[-1]
for p in os.listdir("/proc"):
    try:
        if not p.isdigit() or open(f"/proc/{p}/cmdline", "rb").read() != b"sleep\09.75\0":
            continue
        chain, pid = [], int(p)
        while pid > 1:
            chain.append(pid)
            pid = parent(pid)
        if server in chain:
            print(next(c for c in chain if nspid(c) == "1"))
            break
    except (OSError, StopIteration):
        pass
PY
}
call_into "$tmp/killed" 40 sandbox_killed &
caller=$!
victim=
for _ in $(seq 100); do
  victim=$(sandbox_init)
  [ -n "$victim" ] && break
  sleep 0.05
done
check "the sandbox of a running call is found" [ -n "$victim" ]
[ -n "$victim" ] && kill -KILL "$victim"
t0=$SECONDS
wait "$caller"
cp "$tmp/killed" "$tmp/body"
got=$(code 2>/dev/null)
check "a sandbox killed mid-call: a structured tool error" structured
check "a sandbox killed mid-call: WORKER_FAILED (got ${got:-nothing})" [ "$got" = WORKER_FAILED ]
note "sandbox killed from outside: $got in $((SECONDS - t0)) s ($(message))"
remember_id
still_fine "sandbox killed"
fault hang TIMEOUT
fault flood_stdout OUTPUT_TOO_LARGE
fault garbage_stdout WORKER_FAILED

# fd 3 floods: the call completes (or fails structured), the gateway is fine.
for name in flood_events flood_garbage; do
  t0=$SECONDS
  post "$accept" "$json" "$s" "{\"jsonrpc\":\"2.0\",\"id\":30,\"method\":\"tools/call\",\"params\":{\"name\":\"$name\",\"arguments\":{},\"_meta\":{\"progressToken\":\"p-$name\"}}}"
  done_ok=$(jq_body "d['result'].get('structuredContent', {}).get('done')" 2>/dev/null)
  check "$name: its result, or a structured error" result_or_structured
  progress=$(grep -c '"method":"notifications/progress"' "$tmp/body")
  note "fd 3 $name: ${done_ok:+result done=$done_ok}$(code 2>/dev/null) with $progress progress notifications in $((SECONDS - t0)) s"
  remember_id
  still_fine "$name"
done

# --- egress upstreams that hang or reset ---
for mode in hang reset; do
  port=$hang_port want=504/UPSTREAM_TIMEOUT
  [ "$mode" = reset ] && port=$reset_port want=502/UPSTREAM_FAILED
  call fetch_raw "{\"url\":\"http://localhost:$port/x\"}"
  got=$(jq_body "'%s/%s' % (d['result']['structuredContent']['status'], json.loads(d['result']['structuredContent']['body'])['error']['code'])" 2>/dev/null)
  check "an upstream that ${mode}s: $want as an HTTP response (got ${got:-no answer})" [ "$got" = "$want" ]
  check "an upstream that ${mode}s: the call itself succeeds" [ "$(jq_body "d['result'].get('isError', False)")" = False ]
  note "egress upstream $mode: the worker got $got"
  remember_id
  still_fine "upstream $mode"
done

# --- registry.db locked by another process during a deploy ---
mkdir -p "$tmp/late"
cat >"$tmp/late/toolgate.json" <<'JSON'
{ "name": "late", "version": "1.0.0", "description": "deployed while the registry is locked",
  "runtime": "sh", "entry": "main.sh", "inputSchema": { "type": "object" },
  "limits": { "timeout_ms": 10000 } }
JSON
printf '%s\n' 'cat >/dev/null; echo "{\"late\":true}"' >"$tmp/late/main.sh"
python3 -c "
import base64, json, sys
d = sys.argv[1]
print(json.dumps({'manifest': json.load(open(d + '/toolgate.json')),
                  'files': [{'path': 'main.sh',
                             'content_base64': base64.b64encode(open(d + '/main.sh', 'rb').read()).decode()}]}))
" "$tmp/late" >"$tmp/late.json"
deploy_late() {
  status=$(curl -s -o "$tmp/body" -w '%{http_code}' --max-time 60 -H "$json" \
    --data-binary @"$tmp/late.json" "$base/v1/workers")
}
python3 -c "
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
db.execute('BEGIN IMMEDIATE')
open(sys.argv[2], 'w').close()
time.sleep(float(sys.argv[3]))
db.execute('ROLLBACK')
" "$tmp/data/registry.db" "$tmp/locked" 8 &
locker=$!
for _ in $(seq 100); do [ -e "$tmp/locked" ] && break; sleep 0.05; done
t0=$SECONDS
deploy_late
waited=$((SECONDS - t0))
check "a deploy while registry.db is locked: 503" [ "$status" = 503 ]
check "with UNAVAILABLE, retryable" [ "$(jq_body "(d['error']['code'], d['error']['retryable'])")" = "('UNAVAILABLE', True)" ]
note "registry.db locked: deploy answered $status $(jq_body "d['error']['code']" 2>/dev/null) after ${waited} s"
check "/readyz stays ready with the registry locked" [ "$(readyz)" = 200 ]
wait "$locker"
deploy_late
check "the same deploy succeeds once the lock is gone" [ "${status:0:1}" = 2 ]
call late
check "and the worker it deployed answers" [ "$(jq_body "d['result']['structuredContent']['late']")" = True ]
remember_id

# --- a full disk ---
if [ -n "$tmpfs" ]; then
  dd if=/dev/zero of="$tmp/data/filler" bs=64k 2>/dev/null
  full_codes=()
  succeeded=()
  saw_unavailable=
  for i in $(seq 60); do
    call ok
    if [ "$(jq_body "d['result'].get('isError', False)" 2>/dev/null)" = False ]; then
      succeeded+=("$(call_id)")
    else
      check "full disk, call $i: a structured tool error" structured
      c=$(code 2>/dev/null)
      full_codes+=("$c")
      # One that began and then failed (a sandbox short of space) has both records.
      [ "$c" = AUDIT_UNAVAILABLE ] || remember_id
      if [ "$c" = AUDIT_UNAVAILABLE ]; then
        saw_unavailable=1
        check "AUDIT_UNAVAILABLE is retryable" [ "$(jq_body "d['result']['structuredContent']['error']['retryable']")" = True ]
        break
      fi
    fi
  done
  check "a full disk: calls fail closed with AUDIT_UNAVAILABLE" [ -n "$saw_unavailable" ]
  check "a full disk: /readyz unready" [ "$(readyz)" = 503 ]
  check "a full disk: the gateway is alive" [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz")" = 200 ]
  call ok
  check "a full disk: still AUDIT_UNAVAILABLE" [ "$(code)" = AUDIT_UNAVAILABLE ]
  note "full disk: ${#succeeded[@]} calls succeeded while the WAL had room, then ${full_codes[*]:-nothing}; /readyz $(readyz)"

  rm -f "$tmp/data/filler"
  recovered=
  for _ in $(seq 100); do
    [ "$(readyz)" = 200 ] && recovered=1 && break
    sleep 0.1
  done
  check "space freed: /readyz ready again" [ -n "$recovered" ]
  call ok
  check "space freed: calls work" [ "$(jq_body "d['result']['structuredContent']['ok']")" = True ]
  remember_id
  ids+=("${succeeded[@]}")
  note "full disk freed: /readyz $(readyz), calls work"
else
  note "full disk: skipped (no tmpfs)"
fi

# --- the audit log: intact, and both records of every call ---
check "healthy at the end" [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz")" = 200 ]
kill "$server_pid" && wait "$server_pid"
check "clean exit on SIGTERM" [ $? = 0 ]
server_pid=
check "toolgate audit verify passes" "$toolgate" audit verify --file "$audit_db"
printf '%s\n' "${ids[@]}" >"$tmp/ids"
missing=$(python3 -c "
import sqlite3, sys
db = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)
bad = []
for cid in open(sys.argv[2]).read().split():
    kinds = {k for (k,) in db.execute('SELECT kind FROM records WHERE call_id = ?', (cid,))}
    if not {'call.begin', 'call.end'} <= kinds:
        bad.append(cid + ':' + ','.join(sorted(kinds)))
print(' '.join(bad))
" "$audit_db" "$tmp/ids")
check "every call that ran has call.begin and call.end (${#ids[@]} calls; missing: ${missing:-none})" [ -z "$missing" ]

echo "summary:"
for line in "${summary[@]}"; do echo "  $line"; done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
