#!/usr/bin/env bash
# The sandbox escape suite: the real gateway on 127.0.0.1 runs the workers in
# workers/, each of which tries one way out of its sandbox, once per sandbox
# driver, and every attempt must fail (docs/security.md lists them and what
# stops each).
#
# A worker reports {"escaped": bool, "detail": ...}, but its word is not
# enough: the runner checks from the host what it can. Nothing appears in the
# marker directory the workers try to write to; the sentinel (sentinel.py),
# listening on the host's loopback and unix sockets, sees no connection; the
# gateway's audit log has no call of the tool "canary" that only an escaped
# worker would call; no process carrying the run's tag outlives its call; a
# secret the host or an earlier call (of this tenant or another) holds never
# shows up in an answer; /proc/modules is unchanged; the gateway and the
# sentinel keep running; a runaway call ends with TIMEOUT near its limit; the
# gateway's sandboxes come back to the warm ones. For the microvm it also
# acts as a QEMU taken over by its guest would (qemu_breach).
#
#   tests/escape/run.sh PATH/TO/toolgate [DRIVER...]   (default: jail microvm)
#
# Prints one line per attempt and driver, then "N passed, N failed" (and how
# many known gaps of a second layer it showed, "N weak"). Exits 1 on any
# escape (or an attempt it could not judge), 77 when no driver could
# run. A driver whose gateway cannot start here is skipped and says why; the
# microvm driver needs QEMU and the guest image beside toolgate. Under it
# every time limit is ESCAPE_VM_SCALE (6) times the jail's, for TCG, where
# the guest's CPU is emulated.
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate [DRIVER...]}
toolgate=$(cd "$(dirname "$toolgate")" && pwd)/$(basename "$toolgate")
shift
drivers=("$@")
[ ${#drivers[@]} = 0 ] && drivers=(jail microvm)
here=$(cd "$(dirname "$0")" && pwd)

tmp=$(mktemp -d)
# Sandboxes run as other uids: the host files they try must be readable to
# any uid, so that only the sandbox stands in the way.
chmod 755 "$tmp"
passed=0
failed=0
weak=0
server_pid=
sentinel_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ -n "$sentinel_pid" ] && kill "$sentinel_pid" 2>/dev/null && wait "$sentinel_pid" 2>/dev/null
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# row ATTEMPT RESULT EVIDENCE: one line of the table, counted. RESULT is ok,
# FAIL (an escape, or an attempt that could not be judged), weak (a known gap
# of a second layer, docs/security.md: shown, not failed) or skip.
row() {
  printf '%-16s %-8s %-4s %s\n' "$1" "$driver" "$2" "$3"
  case $2 in
    ok) passed=$((passed + 1)) ;;
    weak) weak=$((weak + 1)) ;;
    skip) ;;
    *) failed=$((failed + 1)) ;;
  esac
}

# start NAME FLAG...: `toolgate serve FLAG...` with its output in $dir; sets
# $server_pid, $url and $base, or returns 1 if it does not come up. A microVM
# template boots for seconds first (a minute and more under TCG).
start() {
  local name=$1
  shift
  "$toolgate" serve "$@" >"$dir/$name.out" 2>"$dir/$name.err" &
  server_pid=$!
  url=
  for _ in $(seq 1800); do
    url=$(sed -n 's/^toolgate: serving MCP at \(http[^ ]*\).*/\1/p' "$dir/$name.out")
    [ -n "$url" ] || ! kill -0 "$server_pid" 2>/dev/null && break
    sleep 0.1
  done
  base=${url%/mcp}
  [ -n "$url" ]
}

stop() {
  kill "$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=
}

# MCP over curl. initialize [TOKEN]: a session, its header in $session and the
# bearer header (if any) in $auth. call NAME ARGS: tools/call with the answer
# in $dir/body and the time taken in $ms.
initialize() {
  auth=${1:+Authorization: Bearer $1}
  session=$(curl -s -D - -o /dev/null -H 'Accept: application/json, text/event-stream' \
    -H 'Content-Type: application/json' ${auth:+-H "$auth"} --data-binary \
    '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"escape","version":"1"}}}' \
    "$url" | sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/Mcp-Session-Id: \1/p')
}
call() {
  local t0
  t0=$(date +%s%N)
  curl -s -o "$dir/body" --max-time $((60 * scale + 60)) \
    -H 'Accept: application/json, text/event-stream' -H 'Content-Type: application/json' \
    -H "$session" ${auth:+-H "$auth"} --data-binary \
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"$1\",\"arguments\":$2}}" \
    "$url"
  ms=$((($(date +%s%N) - t0) / 1000000))
}

# field NAME: from the last answer, the worker's "escaped" (true, false or
# none), its "detail", or the error "code" (none without one).
field() {
  python3 - "$dir/body" "$1" <<'EOF'
import json, sys
text = open(sys.argv[1], errors="replace").read()
if text.startswith("event:") or text.startswith("data:"):
    text = [l[5:] for l in text.splitlines() if l.startswith("data:")][-1]
try:
    r = json.loads(text).get("result", {})
except ValueError:
    r = {}
sc = r.get("structuredContent") or {}
err = r.get("_meta", {}).get("dev.toolgate/error") or sc.get("error") or {}
v = {"escaped": {True: "true", False: "false"}.get(sc.get("escaped"), "none"),
     "detail": sc.get("detail") or err.get("message") or text[:300],
     "code": err.get("code") or "none"}[sys.argv[2]]
print(" ".join(str(v).split()))
EOF
}

# Host-side checks every attempt gets; each failure is appended to $bad.
# The tagged processes get a few seconds to go: a sandbox may be torn down
# just after its answer.
host_checks() {
  bad=
  local left=
  for _ in $(seq 50); do
    left=$(pgrep -f -- "esc-$tag" | tr '\n' ' ')
    [ -z "$left" ] && break
    sleep 0.1
  done
  [ -n "$left" ] && bad+="tagged processes left on the host: $left; "
  [ -n "$(ls -A "$dir/markers")" ] && bad+="a marker was written on the host: $(ls -A "$dir/markers"); "
  [ -s "$dir/sentinel.log" ] && bad+="the sentinel was reached: $(head -c 200 "$dir/sentinel.log"); "
  grep -qF "$host_secret" "$dir/body" && bad+="the host's secret is in the answer; "
  kill -0 "$sentinel_pid" 2>/dev/null || bad+="the sentinel is gone; "
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$base/healthz")" = 200 ] ||
    bad+="the gateway does not answer /healthz; "
}

# judge ATTEMPT EXPECT [EXTRA_BAD]: the table line of the last call.
# EXPECT is "report" (the worker must answer escaped: false), or an error
# code the call must end with (TIMEOUT), "error" (any error but TIMEOUT), or
# "any" (only the host's view counts).
judge() {
  local attempt=$1 expect=$2 escaped code detail
  host_checks
  bad+=${3:-}
  escaped=$(field escaped)
  code=$(field code)
  detail=$(field detail)
  case $expect in
    any) ;;
    report) [ "$escaped" = false ] || bad+="worker reports escaped=$escaped ($code); " ;;
    error) { [ "$code" != none ] && [ "$code" != TIMEOUT ] && [ "$escaped" != true ]; } ||
      bad+="expected an error other than TIMEOUT, got $code (escaped=$escaped); " ;;
    *) [ "$code" = "$expect" ] || bad+="expected $expect, got $code (escaped=$escaped); " ;;
  esac
  if [ -z "$bad" ]; then
    row "$attempt" ok "${ms}ms $code: ${detail:0:150}"
  else
    row "$attempt" FAIL "$bad| ${detail:0:400}"
  fi
  [ -n "${VERBOSE:-}" ] && echo "  $detail" >&2
  return 0
}

# The workers, with esc.py beside each python3 one and every time limit
# multiplied by $scale.
stage() {
  rm -rf "$dir/workers"
  cp -r "$here/workers" "$dir/workers"
  local w
  for w in "$dir"/workers/*/; do
    [ -f "$w/main.py" ] && cp "$here/esc.py" "$w/"
    python3 - "$w/toolgate.json" "$scale" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
m["limits"]["timeout_ms"] *= int(sys.argv[2])
json.dump(m, open(sys.argv[1], "w"))
EOF
  done
}

# The gateway's sandboxes that exist now: the jail's cgroups, the microVMs'
# QEMU processes.
sandboxes() {
  if [ "$driver" = jail ]; then
    # (cgroup v1 has one directory per hierarchy, all of the same name.)
    find /sys/fs/cgroup -maxdepth 6 -type d -name "tg-$server_pid-*" -printf '%f\n' 2>/dev/null |
      sort -u | wc -l
  else
    pgrep -c -P "$server_pid" '^qemu-system'
  fi
}

run_driver() {
  dir=$tmp/$driver
  mkdir -p "$dir/markers" "$dir/host"
  chmod 777 "$dir/markers"
  chmod 755 "$dir" "$dir/host"
  host_secret=host-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  echo "$host_secret" >"$dir/host/secret"
  chmod 644 "$dir/host/secret"
  : >"$dir/sentinel.log"
  python3 "$here/sentinel.py" "$dir" &
  sentinel_pid=$!
  for _ in $(seq 50); do [ -f "$dir/sentinel.json" ] && break; sleep 0.1; done
  stage

  local flags=(--driver "$driver" --warm 1)
  [ "$driver" = microvm ] && flags+=(--image "$image")
  if ! start gateway --insecure-no-auth --listen 127.0.0.1:0 --data-dir "$dir/data" \
    "${flags[@]}" --deploy "$dir/workers"; then
    echo "skipped $driver: its gateway did not start: $(tail -3 "$dir/gateway.err")" >&2
    return 1
  fi
  local described
  described=$(sed -n 's/.*(sandbox driver: \(.*\))$/\1/p' "$dir/gateway.out")
  echo "--- driver $driver: $described" >&2
  initialize

  tag=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
  local addrs
  addrs=$(hostname -I 2>/dev/null | python3 -c 'import json, sys; print(json.dumps(sys.stdin.read().split()[:4]))')
  common=$(python3 - "$dir" "${base##*:}" "$server_pid" "$tag" "$addrs" <<'EOF'
import json, sys
d, port, pid, tag, addrs = sys.argv[1:]
s = json.load(open(d + "/sentinel.json"))
print(json.dumps({"marker_dir": d + "/markers", "host_secret_path": d + "/host/secret",
                  "data_dir": d + "/data", "gateway_port": int(port), "gateway_pid": int(pid),
                  "sentinel_tcp": s["tcp"], "sentinel_udp": s["udp"], "sentinel_unix": s["unix"],
                  "sentinel_abstract": s["abstract"], "sentinel_pid": s["pid"], "tag": tag,
                  "host_addrs": json.loads(addrs)}))
EOF
)

  local a
  for a in read_host_files net_outside net_raw net_unix_host net_udp ptrace proc_pid1 mount \
    set_time proc_sys keyctl userns chroot dev_access setuid perf_bpf kernel_info disk_fill; do
    call "$a" "$common"
    judge "$a" report
  done

  call list_processes "$common"
  local seen=
  grep -qE 'toolgate serve|sentinel\.py' "$dir/body" && seen="a host process is listed; "
  judge list_processes report "$seen"

  call net_gateway "$common"
  local canary
  # The audit log must show this call (so the query works) and no canary.
  local seen_call canary
  seen_call=$("$toolgate" audit query --data-dir "$dir/data" --kind call.begin --tool net_gateway \
    --json 2>&1 | grep -c '"tool": "net_gateway"')
  canary=$("$toolgate" audit query --data-dir "$dir/data" --kind call.begin --tool canary \
    --json 2>&1 | grep -c '"tool": "canary"')
  judge net_gateway report "$([ "$seen_call" -ge 1 ] || echo "the audit log does not show the call; ")$(
    [ "$canary" = 0 ] || echo "the gateway ran canary for a sandbox; ")"

  # (A host without module support has no /proc/modules: nothing to compare.)
  local modules
  modules=$(cut -d' ' -f1 /proc/modules 2>/dev/null | sort)
  call kernel_modules "$common"
  judge kernel_modules report "$([ "$(cut -d' ' -f1 /proc/modules 2>/dev/null | sort)" = "$modules" ] ||
    echo "the host's modules changed; ")"

  call memory_bomb "$common"
  judge memory_bomb error

  call fork_bomb "$common"
  judge fork_bomb report

  # Runaway calls end near their limit: the manifest's, plus teardown.
  local limit=$((2000 * scale)) slack=$((3000 * scale))
  call cpu_loop "$common"
  judge cpu_loop TIMEOUT "$([ "$ms" -le $((limit + slack)) ] || echo "ended after ${ms}ms, limit ${limit}ms; ")"

  call outlive_timeout "$common"
  sleep 5 # past the survivors' sleep 3: they would have written their marker
  judge outlive_timeout TIMEOUT

  call daemonize "$common"
  sleep 5
  judge daemonize report

  # Call A leaves a secret, call B (a fresh sandbox) looks for it.
  local secret
  secret=call-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  call secret_writer "${common%\}},\"secret\":\"$secret\"}"
  call secret_finder "$common"
  judge other_call report "$(grep -qF "$secret" "$dir/body" && echo "the earlier call's secret was found; ")"

  call signal_host "$common"
  local stopped=
  for pid in "$server_pid" "$sentinel_pid"; do
    case $(ps -o stat= -p "$pid") in T*) stopped+="pid $pid was stopped; " ;; esac
    kill -CONT "$pid" 2>/dev/null
  done
  # kill -1 may take the worker's own runner along (the microVM's runs as the
  # worker's uid), so no report need come: only the host's view counts.
  judge signal_host any "$stopped"

  local n
  for _ in $(seq 100); do
    n=$(sandboxes)
    [ "$n" -le 2 ] && break
    sleep 0.2
  done
  bad=
  [ "$n" -le 2 ] || bad="$n sandboxes left, 2 warm expected"
  if [ -z "$bad" ]; then row leftovers ok "$n sandboxes, the warm ones"; else row leftovers FAIL "$bad"; fi
  [ "$driver" = microvm ] && qemu_breach
  stop

  tenants
  kill "$sentinel_pid" 2>/dev/null
  wait "$sentinel_pid" 2>/dev/null
  sentinel_pid=
}

# The microVM's second boundary, for a guest that took QEMU over: acting as
# QEMU's uid, the host opens what such a QEMU must not reach, another VM's
# memory (/proc/PID/mem) and, for writing, the template memory every later VM
# starts from. Only opened, never read or written. Needs root (QEMU runs as a
# uid of its own only when the daemon is root) and setpriv. (The quoted
# scripts are the inner shell's, with the path as its $1.)
# shellcheck disable=SC2016
qemu_breach() {
  local uid q reached='' f
  q=$(pgrep -P "$server_pid" '^qemu-system' | head -1)
  uid=$(ps -o uid= -p "$q" | tr -d ' ')
  if [ "$(id -u)" != 0 ] || [ -z "$q" ] || ! command -v setpriv >/dev/null; then
    row qemu_breach skip "needs root, setpriv and a running VM"
    return
  fi
  as_qemu() { setpriv --reuid "$uid" --regid "$uid" --clear-groups /bin/sh -c "$1" _ "$2" 2>/dev/null; }
  as_qemu 'exec 3<"$1"' "/proc/$q/mem" && reached+="another VM's memory (/proc/$q/mem, uid $uid); "
  for f in /dev/shm/toolgate-vm-"$server_pid"-*/memory; do
    [ -e "$f" ] && as_qemu 'exec 3<>"$1"' "$f" && reached+="the template memory $f for writing; "
  done
  if [ -z "$reached" ]; then
    row qemu_breach ok "as QEMU's uid $uid: no other VM's memory, no template memory for writing"
  else
    row qemu_breach weak "a QEMU taken over could open $reached"
  fi
}

# Another tenant's calls: tenant demo's call leaves a secret, tenant other's
# call (its own deploy of the same finder) looks for it. Needs a gateway with
# authentication, so it is a second one.
tenants() {
  mkdir -p "$dir/tenant-demo"
  cp -r "$dir/workers/secret_writer" "$dir/workers/secret_finder" "$dir/tenant-demo/"
  cat >"$dir/config.json" <<EOF
{ "listen": "127.0.0.1:0", "data_dir": "$dir/auth-data", "deploy": ["$dir/tenant-demo"],
  "admission": { "tenant_rate": -1, "tool_rate": -1 } }
EOF
  local flags=(--driver "$driver" --warm 1)
  [ "$driver" = microvm ] && flags+=(--image "$image")
  if ! start auth --config "$dir/config.json" "${flags[@]}"; then
    row other_tenant FAIL "the gateway with authentication did not start: $(tail -1 "$dir/auth.err")"
    return
  fi
  mint() { "$toolgate" token --data-dir "$dir/auth-data" --tenant "$1" --sub "$2" --scope "$3" --audience "$url"; }
  local demo other secret
  demo=$(mint demo alice "tools:list tools:call")
  other=$(mint other olga "tools:list tools:call workers:deploy")
  "$toolgate" deploy "$dir/workers/secret_finder" --url "$base" --token "$other" >"$dir/deploy.out" 2>&1 ||
    row other_tenant FAIL "deploy for tenant other failed: $(tail -1 "$dir/deploy.out")"
  secret=tenant-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  initialize "$demo"
  call secret_writer "${common%\}},\"secret\":\"$secret\"}"
  local wrote
  wrote=$(field code)
  initialize "$other"
  call secret_finder "$common"
  judge other_tenant report "$([ "$wrote" = none ] || echo "tenant demo's call failed: $wrote; ")$(
    grep -qF "$secret" "$dir/body" && echo "tenant demo's secret was found; ")"
  auth=
  stop
}

ran=0
for driver in "${drivers[@]}"; do
  scale=1
  case $driver in
    jail) ;;
    microvm)
      image=$(dirname "$toolgate")/guest-image
      if ! command -v qemu-system-x86_64 >/dev/null || [ ! -d "$image" ]; then
        echo "skipped microvm: no qemu-system-x86_64 or no guest image beside toolgate" >&2
        continue
      fi
      scale=${ESCAPE_VM_SCALE:-6}
      ;;
    *)
      echo "unknown driver $driver" >&2
      exit 2
      ;;
  esac
  t0=$(date +%s)
  if run_driver; then
    ran=$((ran + 1))
    echo "--- driver $driver: $(($(date +%s) - t0)) s" >&2
  else
    stop
    kill "$sentinel_pid" 2>/dev/null
    sentinel_pid=
  fi
done

echo "$passed passed, $failed failed$([ "$weak" = 0 ] || echo ", $weak weak")"
[ "$ran" = 0 ] && [ "$failed" = 0 ] && exit 77
[ "$failed" = 0 ]
