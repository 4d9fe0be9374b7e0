#!/usr/bin/env bash
# The toolgate command line: `toolgate --help`, `toolgate help COMMAND` and
# `COMMAND --help`/-h of every command on stdout with every option the
# command parses (read from its source), usage errors on stderr with exit 2;
# `toolgate status` against the real daemon (text and --json), against a
# stand-in gateway whose metrics and readiness are fixed (parsing, absent
# metrics, unready), and against a dead port; progress lines on a terminal
# (a pty from script(1)) for `deploy --fixtures` and `audit export`, and
# none, not a byte of \r or escape codes, when the output is piped or TERM is
# dumb.
#
#   tests/integration/test_cli.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

# run ARG...: toolgate with $rc, stdout in $tmp/out, stderr in $tmp/err.
run() {
  "$toolgate" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
}
# The options a command's source parses: strcmp(argv[...], "--name").
options_of() {
  grep -oE 'strcmp\(argv\[[^]]+\], "--[a-z][a-z-]*"\)' "$root/gateway/$1" |
    sed -E 's/.*"(--[a-z-]+)".*/\1/' | grep -vx -- --help | sort -u
}
# Whether a file holds a byte piped output must not carry: carriage return or escape.
has_control() { LC_ALL=C grep -q $'[\r\033]' "$@"; }
not() { ! "$@"; }

# --- help ---
run --help
check "--help exits 0" [ "$rc" = 0 ]
check "--help prints on stdout only" [ -s "$tmp/out" ] && [ ! -s "$tmp/err" ]
cp "$tmp/out" "$tmp/main-help"
run help
check "help is --help" cmp -s "$tmp/out" "$tmp/main-help"
run -h
check "-h is --help" cmp -s "$tmp/out" "$tmp/main-help"

commands="version status deploy schema image token audit secret runs contract"
declare -A source_of=([status]=status_cmd.c [deploy]=deploy_cmd.c [schema]=schema_cmd.c
  [image]=image_cmd.c [token]=token_cmd.c [audit]=audit_cmd.c [secret]=secret_cmd.c
  [runs]=runs_cmd.c [contract]=contract_cmd.c)
for cmd in $commands; do
  check "--help lists $cmd" grep -qE "^  $cmd " "$tmp/main-help"
done
for cmd in $commands; do
  run "$cmd" --help
  check "$cmd --help exits 0" [ "$rc" = 0 ]
  check "$cmd --help: usage on stdout" grep -q "^usage: toolgate $cmd" "$tmp/out"
  check "$cmd --help: nothing on stderr" [ ! -s "$tmp/err" ]
  cp "$tmp/out" "$tmp/help-$cmd"
  run "$cmd" -h
  check "$cmd -h is $cmd --help" cmp -s "$tmp/out" "$tmp/help-$cmd"
  run help "$cmd"
  check "help $cmd is $cmd --help" cmp -s "$tmp/out" "$tmp/help-$cmd"
  [ -n "${source_of[$cmd]:-}" ] || continue
  opts=$(options_of "${source_of[$cmd]}")
  check "$cmd parses options (the source is read right)" [ -n "$opts" ]
  for opt in $opts; do
    check "$cmd --help explains $opt" grep -qE -- "^ +$opt( |$)" "$tmp/help-$cmd"
  done
done
# A subcommand's help is its command's.
for args in "audit verify" "audit export" "contract run" "contract gen" "secret set" \
  "schema validate" "image build"; do
  read -ra words <<<"$args"
  run "${words[@]}" --help
  check "$args --help exits 0 with the usage" [ "$rc" = 0 ] && grep -q "^usage: toolgate ${words[0]}" "$tmp/out"
done

# --- usage errors ---
run
check "no command: exit 2" [ "$rc" = 2 ]
check "no command: usage on stderr, nothing on stdout" grep -q "^usage: toolgate" "$tmp/err" && [ ! -s "$tmp/out" ]
run nosuch
check "unknown command: exit 2" [ "$rc" = 2 ] && grep -q 'unknown command "nosuch"' "$tmp/err"
run help nosuch
check "help of an unknown command: exit 2" [ "$rc" = 2 ]
for cmd in $commands; do
  run "$cmd" --no-such-option
  check "$cmd --no-such-option: exit 2" [ "$rc" = 2 ]
  check "$cmd --no-such-option: usage on stderr" grep -q "^usage: toolgate $cmd" "$tmp/err"
  check "$cmd --no-such-option: nothing on stdout" [ ! -s "$tmp/out" ]
done
run deploy
check "deploy without DIR: exit 2" [ "$rc" = 2 ]
run audit export
check "audit export without --since: exit 2" [ "$rc" = 2 ]
run token --tenant t
check "token without --sub and --scope: exit 2" [ "$rc" = 2 ]

# --- status against a dead port ---
dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
run status --url "http://127.0.0.1:$dead"
check "status of a dead port: exit 1" [ "$rc" = 1 ]
check "says it is unreachable" grep -q "unreachable" "$tmp/out"
check "and why, on stderr" grep -q "no gateway: cannot reach http://127.0.0.1:$dead" "$tmp/err"
run status --url "http://127.0.0.1:$dead" --json
check "status --json of a dead port: exit 1" [ "$rc" = 1 ]
check "with status unreachable" python3 -c "import json,sys; d=json.load(open('$tmp/out')); sys.exit(d['status']!='unreachable' or d['ready'] is not False)"

# --- status against a stand-in gateway: the metrics parsed ---
mkdir -p "$tmp/fake"
cat >"$tmp/fake/server.py" <<'PY'
import http.server, os, sys
root = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        name = {"/healthz": "healthz", "/readyz": "readyz", "/metrics": "metrics"}.get(self.path)
        path = os.path.join(root, name or "none")
        if not os.path.exists(path):
            self.send_response(404); self.end_headers(); return
        body = open(path, "rb").read()
        code = int(open(path + ".code").read()) if os.path.exists(path + ".code") else 200
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
echo '{"status":"ok"}' >"$tmp/fake/healthz"
echo '{"status":"ready","driver":"jail","auth":"bearer tokens","audit":"ok"}' >"$tmp/fake/readyz"
cat >"$tmp/fake/metrics" <<'PROM'
# HELP toolgate_pool_sandboxes Sandboxes by runtime and state.
# TYPE toolgate_pool_sandboxes gauge
toolgate_pool_sandboxes{runtime="sh",state="warm"} 4
toolgate_pool_sandboxes{runtime="sh",state="busy"} 1
toolgate_pool_sandboxes{runtime="sh",state="booting"} 0
toolgate_pool_sandboxes{state="warm",runtime="python3"} 2
toolgate_calls_total{tenant="a,b",tool="x",status="ok",code=""} 1500
toolgate_calls_total{tenant="q\"}",tool="y",status="error",code="TIMEOUT"} 12
toolgate_calls_total{tenant="c",tool="y",status="ok",code=""} 8 1700000000000
toolgate_calls_in_flight 3
toolgate_calls_queued 0
toolgate_audit_queue_depth 0
toolgate_audit_commits_total 1234
toolgate_audit_writable 1
toolgate_something_else{runtime="sh",state="warm"} 99
PROM
python3 "$tmp/fake/server.py" "$tmp/fake" >"$tmp/fake/port" 2>"$tmp/fake.err" &
fake_pid=$!
for _ in $(seq 50); do [ -s "$tmp/fake/port" ] && break; sleep 0.1; done
fake="http://127.0.0.1:$(cat "$tmp/fake/port")"
run status --url "$fake"
check "status of a ready gateway: exit 0" [ "$rc" = 0 ]
check "gateway line: URL, ready, auth" grep -qE "^gateway +$fake +ready +\(auth: bearer tokens\)" "$tmp/out"
check "driver line" grep -qE "^driver +jail$" "$tmp/out"
check "audit line" grep -qE "^audit +ok +queue 0 +commits 1234$" "$tmp/out"
check "pool line, a runtime whose labels come in another order included" \
  grep -qE "^pool +sh: 4 warm, 1 busy, 0 booting +python3: 2 warm, 0 busy, 0 booting$" "$tmp/out"
check "calls line: every series summed, quoted braces and commas in labels read" \
  grep -qE "^calls +1520 total, 12 errors, 3 in flight, 0 queued$" "$tmp/out"
run status --url "$fake" --json
check "status --json: exit 0" [ "$rc" = 0 ]
check "status --json: the same numbers" python3 -c "
import json, sys
d = json.load(open('$tmp/out'))
ok = (d['status'] == 'ready' and d['ready'] is True and d['driver'] == 'jail'
      and d['auth'] == 'bearer tokens' and d['audit_log'] == {'writable': True, 'queue': 0, 'commits': 1234}
      and d['pool'] == {'sh': {'warm': 4, 'busy': 1, 'booting': 0}, 'python3': {'warm': 2, 'busy': 0, 'booting': 0}}
      and d['calls'] == {'total': 1520, 'errors': 12, 'in_flight': 3, 'queued': 0})
sys.exit(0 if ok else 1)"
# A gateway that exports none of these metrics yet.
printf '%s\n' 'toolgate_audit_writable 1' '# TYPE toolgate_calls_total counter' >"$tmp/fake/metrics"
run status --url "$fake"
check "absent metrics: still exit 0" [ "$rc" = 0 ]
check "absent metrics: the pool not reported" grep -qE "^pool +\(not reported\)$" "$tmp/out"
check "absent metrics: no numbers made up" not grep -qE "queue|commits|in flight" "$tmp/out"
check "a declared counter without series is 0" grep -qE "^calls +0 total, 0 errors$" "$tmp/out"
run status --url "$fake" --json
check "absent metrics: null in --json" python3 -c "
import json, sys
d = json.load(open('$tmp/out'))
sys.exit(0 if d['pool'] is None and d['calls']['in_flight'] is None and d['audit_log']['queue'] is None else 1)"
# Unready: the audit log cannot take records.
echo '{"status":"unready","driver":"jail","auth":"bearer tokens","audit":"unwritable"}' >"$tmp/fake/readyz"
echo 503 >"$tmp/fake/readyz.code"
run status --url "$fake"
check "unready: exit 1" [ "$rc" = 1 ]
check "unready: said on the gateway line" grep -qE "^gateway +$fake +unready" "$tmp/out"
check "unready: why on stderr" grep -q "unwritable" "$tmp/err"
kill "$fake_pid" 2>/dev/null
wait "$fake_pid" 2>/dev/null

# --- status against the real daemon ---
start_gateway --warm 1
run status --url "$base"
check "status of the daemon: exit 0" [ "$rc" = 0 ]
check "it is ready" grep -qE "^gateway +$base +ready +\(auth: off" "$tmp/out"
check "it names its driver" grep -qE "^driver +[a-z]+" "$tmp/out"
TOOLGATE_URL=$base "$toolgate" status >/dev/null 2>&1
check "status takes \$TOOLGATE_URL" [ $? = 0 ]
run status --url "$base" --json
check "status --json of the daemon: exit 0" [ "$rc" = 0 ]
check "its JSON: ready, the URL, the driver /readyz gave" python3 -c "
import json, sys, urllib.request
d = json.load(open('$tmp/out'))
r = json.load(urllib.request.urlopen('$base/readyz'))
sys.exit(0 if d['status'] == 'ready' and d['url'] == '$base' and d['driver'] == r['driver'] else 1)"

# --- progress: deploy with fixtures ---
deploy_cmd="'$toolgate' deploy '$root/examples/workers/format_text' --url '$base' --fixtures '$root/contract-fixtures/format_text' --require-fixtures"
TERM=xterm script -qec "$deploy_cmd" /dev/null </dev/null >"$tmp/pty-deploy"
check "deploy on a terminal: exit 0" [ $? = 0 ]
check "deploy on a terminal shows a progress line" grep -q $'\rdeploying\|\r[-|/\\] deploying' "$tmp/pty-deploy"
check "and clears it" grep -q $'\r\033\\[K' "$tmp/pty-deploy"
check "then prints the answer" grep -q '"fixtures"' "$tmp/pty-deploy"
"$toolgate" deploy "$root/examples/workers/format_text" --url "$base" \
  --fixtures "$root/contract-fixtures/format_text" --require-fixtures >"$tmp/out" 2>"$tmp/err"
check "deploy piped: exit 0" [ $? = 0 ]
check "deploy piped: no \\r or escapes on stdout or stderr" not has_control "$tmp/out" "$tmp/err"
check "deploy piped: stdout is the answer alone" python3 -c "import json; json.load(open('$tmp/out'))"
TERM=dumb script -qec "$deploy_cmd" /dev/null </dev/null >"$tmp/pty-dumb"
# (A pty turns each \n into \r\n: look for the line's words and escapes instead.)
check "deploy on a dumb terminal: no progress line" not grep -q $'deploying\|\033' "$tmp/pty-dumb"
check "but the answer" grep -q '"fixtures"' "$tmp/pty-dumb"

# --- progress: audit export ---
export_cmd="'$toolgate' audit export --since 1d --data-dir '$tmp/data'"
TERM=xterm script -qec "$export_cmd 2>&1 >/dev/null" /dev/null </dev/null >"$tmp/pty-export"
check "audit export on a terminal: exit 0" [ $? = 0 ]
check "counts records exported N/M" grep -qE 'exporting \[[#.]+\] [0-9]+/[0-9]+' "$tmp/pty-export"
"$toolgate" audit export --since 1d --data-dir "$tmp/data" >"$tmp/out" 2>"$tmp/err"
check "audit export piped: exit 0" [ $? = 0 ]
check "audit export piped: records, one JSON object a line" python3 -c "
import json
lines = open('$tmp/out').read().splitlines()
assert lines and all(json.loads(l)['seq'] for l in lines)"
check "audit export piped: no \\r or escapes" not has_control "$tmp/out" "$tmp/err"
check "audit export piped: nothing on stderr" [ ! -s "$tmp/err" ]

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
