# Helpers shared by the integration scripts, which source this file after
# setting $toolgate: a temporary directory removed on exit with the daemon
# stopped, check and its tally, test workers, starting the daemon on loopback,
# and the requests of an MCP client.
# shellcheck shell=bash
# The sourcing script sets $toolgate and reads what these helpers set.
# shellcheck disable=SC2034,SC2154

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d)
passed=0
failed=0
server_pid=
replica_pids=()
pg_dir=

# In a sanitizer build a daemon's leaks and memory errors are reported on its
# stderr (LeakSanitizer runs when it exits after SIGTERM); any such report
# fails the test, whatever its checks said.
cleanup() {
  local status=$?
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  for pid in "${replica_pids[@]}"; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  [ -n "$pg_dir" ] && "$root/scripts/pg-cluster.sh" stop "$pg_dir"
  if grep -l -E '^(==[0-9]+==ERROR: (Address|Leak)Sanitizer|.*runtime error:)' "$tmp"/*.err 2>/dev/null >"$tmp/sanitizer-reports"; then
    while read -r report; do
      echo "sanitizer report in $(basename "$report"):" >&2
      head -c 4000 "$report" >&2
    done <"$tmp/sanitizer-reports"
    status=1
  fi
  [ -n "${KEEP_TMP:-}" ] && echo "kept $tmp" >&2 || rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT

check() { # check DESCRIPTION CONDITION...
  local what=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $what" >&2
    [ -f "$tmp/body" ] && echo "  last body: $(head -c 600 "$tmp/body")" >&2
  fi
}

# A test worker in $tmp/workers: worker NAME TIMEOUT_MS SCRIPT [RUNTIME]
# (RUNTIME sh by default, or python3).
worker() {
  local runtime=${4:-sh} entry=main.sh
  [ "$runtime" = python3 ] && entry=main.py
  mkdir -p "$tmp/workers/$1"
  cat >"$tmp/workers/$1/toolgate.json" <<EOF
{ "name": "$1", "version": "1.0.0", "description": "integration test worker $1",
  "runtime": "$runtime", "entry": "$entry",
  "inputSchema": { "type": "object" },
  "limits": { "timeout_ms": $2, "memory_mb": 64, "max_output_bytes": 65536 } }
EOF
  printf '%s\n' "$3" >"$tmp/workers/$1/$entry"
}

# The hostile and slow workers every sandbox driver must contain:
# hostile_workers LOOP_TIMEOUT_MS SH_TIMEOUT_MS PYTHON_TIMEOUT_MS
hostile_workers() {
  worker loop_forever "$1" 'while :; do :; done'
  worker sleep_two "$2" 'cat >/dev/null; sleep 2; echo "{\"slept\":true}"'
  worker fork_bomb "$2" 'b() { b | b & }; b; sleep 1; echo "{\"survived\":true}"'
  worker memory_bomb "$3" 'x = bytearray(1 << 30)
x[::4096] = b"x" * len(x[::4096])
print('"'"'{"allocated": true}'"'"')' python3
  worker open_socket "$2" 'busybox nc -w 1 127.0.0.1 22 </dev/null && echo "{\"connected\":true}" || { echo "{\"error\":{\"code\":\"NO_NETWORK\",\"message\":\"connect failed\",\"retryable\":false}}"; exit 1; }'
  worker read_shadow "$2" 'if cat /etc/shadow 2>/dev/null; then echo "{\"read\":true}"; else echo "{\"error\":{\"code\":\"NO_SHADOW\",\"message\":\"cannot read /etc/shadow\",\"retryable\":false}}"; exit 1; fi'
}

# A TLS upstream (tests/integration/upstream.py) on a free loopback port, with
# a CA of its own ($tmp/ca.pem) that signed its certificate for localhost and
# 127.0.0.1; it stops after LIFETIME_S or when the script exits:
# start_upstream LIFETIME_S. Sets $port and $upstream_pid, and logs requests
# to $tmp/upstream.log.
start_upstream() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=toolgate-test-ca \
    -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$tmp/up.key" \
    -out "$tmp/up.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$tmp/san.ext"
  openssl x509 -req -in "$tmp/up.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial \
    -days 2 -extfile "$tmp/san.ext" -out "$tmp/up.pem" 2>/dev/null
  python3 "$root/tests/integration/upstream.py" "$tmp/up.pem" "$tmp/up.key" "$tmp/port" \
    "$tmp/upstream.log" "$1" &
  upstream_pid=$!
  for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
  port=$(cat "$tmp/port")
  # cleanup ends the script with the status it had when it began to exit.
  trap 'rc=$?; kill $upstream_pid 2>/dev/null; (exit $rc); cleanup' EXIT
}

# Starts `toolgate serve FLAG...` with its stdout in $tmp/NAME.out and stderr
# in $tmp/NAME.err, and waits until it serves: start_daemon NAME FLAG...
# Sets $server_pid, $url (of /mcp) and $base. A microVM template boots for
# seconds before the daemon serves, and the KVM probe for up to 15 more.
start_daemon() {
  local name=$1
  shift
  # Made before the daemon, so that reading it below never races its creation.
  : >"$tmp/$name.out"
  "$toolgate" serve "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  server_pid=$!
  url=
  for _ in $(seq 900); do
    url=$(sed -n 's/^toolgate: serving MCP at \(http[^ ]*\).*/\1/p' "$tmp/$name.out")
    [ -n "$url" ] || ! kill -0 "$server_pid" 2>/dev/null && break
    sleep 0.1
  done
  if [ -z "$url" ]; then
    echo "the $name gateway did not start:" >&2
    cat "$tmp/$name.err" >&2
    echo "$passed passed, $((failed + 1)) failed"
    exit 1
  fi
  base=${url%/mcp}
}

# A throwaway PostgreSQL cluster, stopped and removed by cleanup: sets
# $store to its URL. Its directory is not under $tmp, which only root may
# enter: the server runs as the postgres user.
start_postgres() {
  pg_dir=$(mktemp -d /tmp/toolgate-pg.XXXXXX)
  store=$("$root/scripts/pg-cluster.sh" start "$pg_dir") || {
    echo "cannot start PostgreSQL" >&2
    exit 1
  }
}

# start_replica NAME FLAG...: a gateway on the shared store $store, with a
# data dir of its own and the secrets key every replica shares; its pid in
# replica_pids and ${replica[NAME]}, its base URL in ${replica_base[NAME]}.
declare -A replica replica_base
start_replica() {
  local name=$1
  shift
  [ -f "$tmp/secrets.key" ] || {
    head -c 32 /dev/urandom >"$tmp/secrets.key"
    chmod 600 "$tmp/secrets.key"
  }
  local saved=$server_pid
  TOOLGATE_SECRETS_MASTER_KEY_FILE=$tmp/secrets.key start_daemon "$name" --insecure-no-auth \
    --listen 127.0.0.1:0 --data-dir "$tmp/data-$name" --store "$store" "$@"
  replica[$name]=$server_pid
  replica_base[$name]=$base
  replica_pids+=("$server_pid")
  server_pid=$saved
}

# The daemon without authentication on a free loopback port, with a data dir
# in $tmp, its output in $tmp/gateway.out and .err: start_gateway [FLAG...].
start_gateway() {
  start_daemon gateway --insecure-no-auth --listen 127.0.0.1:0 --data-dir "$tmp/data" "$@"
}

# post [HEADER...] BODY: POST to /mcp, leaving the status in $status and the
# body in $tmp/body.
accept='Accept: application/json, text/event-stream'
json='Content-Type: application/json'
post() {
  local body=${!#}
  local headers=("${@:1:$#-1}")
  local args=()
  for h in "${headers[@]}"; do args+=(-H "$h"); done
  status=$(curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X POST "${args[@]}" \
    --data-binary "$body" "$url")
}
# The JSON body, or the last event's data of an SSE body (tools/call).
jq_body() {
  python3 -c "
import json, sys
text = open('$tmp/body').read()
if text.startswith('event:') or text.startswith('data:'):
    text = [l[5:] for l in text.splitlines() if l.startswith('data:')][-1]
d = json.loads(text)
print($1)"
}
jq_quiet() { jq_body "$1" >/dev/null; }

# Opens an MCP session: the session id in $sid, its header in $s.
initialize() {
  post "$accept" "$json" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}'
  sid=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p' "$tmp/headers")
  s="Mcp-Session-Id: $sid"
}

# call NAME [ARGUMENTS]: tools/call in the session $s, answered like post.
call() {
  local arguments='{}'
  [ $# -ge 2 ] && arguments=$2
  post "$accept" "$json" "$s" "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":\"$1\",\"arguments\":$arguments}}"
}

# call_into FILE ID NAME [ARGUMENTS]: tools/call in the session $s with the
# answer in FILE, for calls run in the background (call_into ... &).
call_into() {
  local arguments='{}'
  [ $# -ge 4 ] && arguments=$4
  curl -s -o "$1" -H "$accept" -H "$json" -H "$s" --max-time 60 \
    --data-binary "{\"jsonrpc\":\"2.0\",\"id\":$2,\"method\":\"tools/call\",\"params\":{\"name\":\"$3\",\"arguments\":$arguments}}" \
    "$url"
}


# Worker setup through the running gateway ($toolgate, $base, session $s):
# a setup runs once at deploy time and every call starts from what it left;
# a failing setup fails the deploy and the version's calls.
setup_checks() {
  local ok=$tmp/setup_ok bad=$tmp/setup_bad i
  mkdir -p "$ok" "$bad"
  cat >"$ok/toolgate.json" <<'JSON'
{ "name": "setup_ok", "version": "1.0.0", "description": "starts from what its setup installed",
  "runtime": "sh", "entry": "main.sh", "inputSchema": { "type": "object" },
  "setup": { "entry": "setup.sh", "timeout_ms": 30000 },
  "limits": { "timeout_ms": 10000 } }
JSON
  printf '%s\n' 'mkdir -p deps && echo installed > deps/lib.txt && echo run >> deps/runs' >"$ok/setup.sh"
  printf '%s\n' 'cat >/dev/null; echo changed >> deps/lib.txt' \
    'printf "{\"lib\":\"%s\",\"setup_runs\":%s}\n" "$(head -n 1 deps/lib.txt)" "$(wc -l < deps/runs)"' >"$ok/main.sh"
  sed 's/"setup_ok"/"setup_bad"/' "$ok/toolgate.json" >"$bad/toolgate.json"
  printf '%s\n' 'echo "no dependencies here" >&2; exit 3' >"$bad/setup.sh"
  cp "$ok/main.sh" "$bad/main.sh"

  check "a worker with a setup deploys" "$toolgate" deploy "$ok" --url "$base" >/dev/null
  for i in 1 2; do
    call setup_ok
    check "call $i starts from the setup's files" [ "$(jq_body "d['result']['structuredContent']['lib']")" = installed ]
    check "call $i: the setup ran once" [ "$(jq_body "d['result']['structuredContent']['setup_runs']")" = 1 ]
  done
  "$toolgate" deploy "$bad" --url "$base" >"$tmp/deploy-out" 2>&1
  check "a failing setup fails the deploy" [ $? != 0 ]
  check "and says SETUP_FAILED" grep -q SETUP_FAILED "$tmp/deploy-out"
  call setup_bad
  check "its calls answer SETUP_FAILED" [ "$(jq_body "d['result']['structuredContent']['error']['code']")" = SETUP_FAILED ]
  check "with the setup's stderr" grep -q "no dependencies here" "$tmp/body"
}
