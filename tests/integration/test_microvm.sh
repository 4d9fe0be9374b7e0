#!/usr/bin/env bash
# The real daemon on 127.0.0.1 with the microvm driver, driven with curl: tool
# calls, errors, progress and parallel calls through single-use microVMs, the
# hostile workers the jail contains contained by the VM as well (no network
# device in the guest at all), and a SIGTERM that leaves no QEMU and no
# template memory behind. Exits 77 (skipped) without QEMU or a guest image.
#
#   tests/integration/test_microvm.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
image=$(dirname "$toolgate")/guest-image
if ! command -v qemu-system-x86_64 >/dev/null; then
  echo "skipped: qemu-system-x86_64 is not installed"
  exit 77
fi
if [ ! -d "$image" ]; then
  echo "skipped: no guest image beside toolgate (scripts/build-image.sh builds it)"
  exit 77
fi
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

# Under TCG every guest instruction is emulated: a python3 worker alone takes
# seconds to start, so the limits are wider than the jail's.
hostile_workers 3000 10000 20000
worker echo_python 20000 'import json, sys
print(json.dumps({"echo": json.load(sys.stdin)}))' python3
# The guest's shell expands this $(...), not ours.
# shellcheck disable=SC2016
worker list_net 10000 'cat >/dev/null; echo "{\"net\":\"$(ls /sys/class/net | xargs)\"}"'

start_gateway --driver microvm --warm 2 --deploy "$root/examples/workers" --deploy "$tmp/workers"

# The QEMU processes the daemon runs, one pid a line.
vms() { ps --ppid "$server_pid" -o pid=,comm= | awk '$2 ~ /^qemu-system/ {print $1}' | sort; }
# A tool with an outputSchema has its errors in _meta, any other in its result.
error_code() { jq_body "d['result'].get('_meta',{}).get('dev.toolgate/error',{}).get('code') or d['result'].get('structuredContent',{}).get('error',{}).get('code')"; }

driver=$(curl -s "$base/readyz" | python3 -c 'import json, sys; print(json.load(sys.stdin)["driver"])')
check "/readyz names the microvm driver ($driver)" grep -qxE 'microvm \((KVM|TCG)\)' <<<"$driver"
check "the startup line names the same driver" grep -qF "(sandbox driver: $driver)" "$tmp/gateway.out"

initialize
check "initialize: 200" [ "$status" = 200 ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","method":"notifications/initialized"}'

# --- arguments are checked before any VM is taken: the warm VMs stay put ---
before=
for _ in $(seq 30); do
  before=$(vms)
  sleep 1
  [ -n "$before" ] && [ "$(vms)" = "$before" ] && break
done
check "the warm pool settles" [ -n "$before" ]
call format_text '{"txt":"x"}'
check "bad arguments: INVALID_ARGUMENTS" [ "$(error_code)" = INVALID_ARGUMENTS ]
check "bad arguments: isError" [ "$(jq_body "d['result']['isError']")" = True ]
check "bad arguments: no VM used" [ "$(vms)" = "$before" ]

# --- results ---
call format_text '{"text":"hello world"}'
check "format_text runs in a microVM" [ "$(jq_body "d['result']['structuredContent']['text']")" = "hello world" ]
call date_time
check "the guest clock is the host's (within 60 s)" \
  jq_quiet "'x' if abs(d['result']['structuredContent']['unix'] - $(date +%s)) <= 60 else sys.exit(1)"
call test_error_handling
check "worker error: isError" [ "$(jq_body "d['result']['isError']")" = True ]
check "worker error keeps its code" [ "$(error_code)" = TEST_ERROR ]

# --- progress streams from the guest before the result ---
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"test_tool_with_progress","arguments":{},"_meta":{"progressToken":"p1"}}}'
check "tools/call answers as an SSE stream" grep -qi '^content-type: text/event-stream' "$tmp/headers"
check "three progress notifications" [ "$(grep -c '"method":"notifications/progress","params":{"progressToken":"p1"' "$tmp/body")" = 3 ]
check "the progress comes before the result" \
  [ "$(grep -n '"result"' "$tmp/body" | cut -d: -f1)" -gt "$(grep -n 'notifications/progress' "$tmp/body" | tail -1 | cut -d: -f1)" ]
check "progress result" [ "$(jq_body "d['result']['content'][0]['text']")" = "Progress test completed" ]

# --- hostile workers ---
call loop_forever
check "endless loop: TIMEOUT" [ "$(error_code)" = TIMEOUT ]
check "healthy after the endless loop" [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz")" = 200 ]
call fork_bomb
check "fork bomb: contained (the call ends)" [ "$status" = 200 ]
post "$accept" "$json" "$s" '{"jsonrpc":"2.0","id":30,"method":"ping"}'
check "ping answered right after the fork bomb" [ "$status" = 200 ]
call memory_bomb
check "memory bomb: no gigabyte allocated" [ "$(jq_body "d['result'].get('structuredContent',{}).get('allocated')")" != True ]
check "memory bomb: an error" [ "$(jq_body "d['result'].get('isError')")" = True ]
check "memory bomb: ended before its timeout" [ "$(error_code)" != TIMEOUT ]
call open_socket
check "network socket: refused" [ "$(error_code)" = NO_NETWORK ]
call read_shadow
check "/etc/shadow: not readable" [ "$(error_code)" = NO_SHADOW ]
call list_net
check "the guest has no network device but lo" [ "$(jq_body "d['result']['structuredContent']['net']")" = lo ]

# --- install once, start from the snapshot ---
setup_checks

# --- calls in parallel each get a VM of their own ---
# (A python3 worker of ours: the examples' 5 s limit is tight for six python
# starts at once on an emulated CPU.)
pids=()
for i in $(seq 6); do
  call_into "$tmp/parallel.$i" "$i" echo_python "{\"n\":$i}" &
  pids+=($!)
done
wait "${pids[@]}"
cat "$tmp"/parallel.* >"$tmp/body"
check "six parallel calls all succeed" [ "$(grep -c '"structuredContent":{"echo":{"n":' "$tmp/body")" = 6 ]

# --- SIGTERM with a call in flight: it finishes, then nothing is left ---
call_into "$tmp/inflight" 40 sleep_two &
inflight_pid=$!
sleep 0.5
running=$(vms)
kill -TERM "$server_pid"
# A reaped child is gone; an exited one not yet reaped shows as a zombie.
for _ in $(seq 150); do
  case $(ps -o stat= -p "$server_pid") in Z* | '') break ;; esac
  sleep 0.1
done
check "SIGTERM stops the daemon" bash -c "case \$(ps -o stat= -p $server_pid) in Z* | '') ;; *) exit 1 ;; esac"
wait "$server_pid"
check "clean exit on SIGTERM" [ $? = 0 ]
wait "$inflight_pid"
check "the call in flight at SIGTERM got its answer" grep -q '"slept":true' "$tmp/inflight"
check "the daemon ran VMs" [ -n "$running" ]
left=0
for pid in $running; do
  case $(ps -o comm= -p "$pid") in qemu-system*) left=$((left + 1)) ;; esac
done
check "no QEMU of the daemon left" [ "$left" = 0 ]
check "no QEMU with the daemon's memory left" [ "$(pgrep -f -- "/toolgate-vm-$server_pid-" | wc -l)" = 0 ]
check "no template memory left in /dev/shm" [ "$(compgen -G "/dev/shm/toolgate-vm-$server_pid-*" | wc -l)" = 0 ]
server_pid=

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
