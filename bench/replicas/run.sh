#!/usr/bin/env bash
# Scale-out: calls a second through nginx in front of one, two and three
# toolgate replicas on one PostgreSQL (a throwaway cluster made here), each
# measured with bench_load's open-loop ramp (tools/call, tools/list and admin
# GETs, until p99 passes 250 ms or an error), beside one gateway on its
# embedded sqlite store, the peer every figure is a ratio against. After
# each run, every acknowledged call must have its call.begin and call.end in
# the audit log and the chain must verify: no call is lost.
#
# On one machine the replicas share its cores, so more replicas cannot add
# CPU: the figure that matters is that throughput does not fall as replicas
# are added (the shared store, sessions moving between replicas on every
# request, cross-replica admission) and that no call is lost.
#
#   bench/replicas/run.sh [--short]
# --short: shorter steps. Environment: BUILD_DIR (default build-bench,
# Release), LOAD_STEP, LOAD_RATES, LOAD_SESSIONS, BENCH_WARM (per replica).
# Needs root (jail sandboxes), nginx and PostgreSQL from scripts/setup.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
short=0
[ "${1:-}" = --short ] && short=1
# shellcheck source=bench/lib.sh
source "$here/../lib.sh"
step=${LOAD_STEP:-10}
[ "$short" = 1 ] && step=${LOAD_STEP:-3}
rates=${LOAD_RATES:-10,20,40,80,160,320,640,1280,2560}
sessions=${LOAD_SESSIONS:-8}
warm=${BENCH_WARM:-2}

command -v nginx >/dev/null || { echo "!!! nginx is not installed (scripts/setup.sh)"; exit 1; }
build_release toolgate toolgate-agent bench_load
# Not under $tmp, which only root may enter: the server runs as postgres.
pg=$(mktemp -d /tmp/toolgate-pg.XXXXXX)
store=$("$root/scripts/pg-cluster.sh" start "$pg")
nginx_pid=
stop_all() {
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  nginx_pid=
  local pid
  for pid in "${servers[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  servers=()
}
trap 'stop_all; "$root/scripts/pg-cluster.sh" stop "$pg"; cleanup' EXIT

cat >"$tmp/config.json" <<JSON
{$admission_off}
JSON
head -c 32 /dev/urandom >"$tmp/secrets.key"
chmod 600 "$tmp/secrets.key"

# A database of its own for each run, so every run starts empty.
fresh_store() {
  psql -q "$store" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" \
    >/dev/null 2>&1
  printf '%s\n' "${store/\/toolgate\?//$1?}"
}

# nginx on loopback port $1 in front of the replica base URLs that follow;
# sets front (its /mcp URL).
start_nginx() {
  local port=$1
  shift
  {
    echo "daemon off; worker_processes 1; pid $tmp/nginx.pid; error_log $tmp/nginx.err warn;"
    echo "events { worker_connections 4096; }"
    echo "http { access_log off; client_body_temp_path $tmp/nginx-body;"
    echo "  upstream toolgate { keepalive 64;"
    local b
    for b in "$@"; do echo "    server ${b#http://};"; done
    echo "  }"
    echo "  server { listen 127.0.0.1:$port;"
    echo "    location / { proxy_pass http://toolgate; proxy_http_version 1.1;"
    echo "      proxy_set_header Host \$host:\$server_port; proxy_set_header Connection \"\";"
    echo "      proxy_buffering off; proxy_read_timeout 60s; } } }"
  } >"$tmp/nginx.conf"
  nginx -c "$tmp/nginx.conf" -p "$tmp" &
  nginx_pid=$!
  for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break
    sleep 0.1
  done
  front=http://127.0.0.1:$port/mcp
}

# measure LABEL URL EXPORT_CMD...: the ramp against URL, then the audit check
# with the export EXPORT_CMD prints; the highest sustained rate in $best.
status=0
measure() {
  local label=$1 target=$2
  shift 2
  rm -f "$tmp/ids"
  "$build/bench/bench_load" --sessions "$sessions" --tool echo --args '{"text":"hi"}' \
    --ids "$tmp/ids" --step "$step" --rates "$rates" --refine 1 --admin "${target%/mcp}" \
    "$label=$target" \
    >"$tmp/$label.load" || status=1
  best=$(sed -n 's/.*highest sustained rate \([0-9.]*\) req\/s.*/\1/p' "$tmp/$label.load" | tail -n 1)
  if [ -z "$best" ]; then
    best=0
    echo "!!! $label: no step passed:"
    tail -n 15 "$tmp/$label.load"
    status=1
  fi
  "$@" >"$tmp/$label.export"
  if ! "$build/bench/bench_load" --check-audit "$tmp/ids" "$tmp/$label.export" >"$tmp/$label.audit"; then
    echo "!!! $label: acknowledged calls are missing from the audit log"
    cat "$tmp/$label.audit"
    status=1
  fi
}

print_cpu
echo "load average before the run: $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "toolgate $build_type build, jail driver, --warm $warm per replica, admission limits off;"
echo "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') round-robin with keepalive; PostgreSQL $(psql --version | awk '{print $3}') on a Unix socket, fsync off"
echo "the replicas share this machine's $(nproc) cores: more replicas add no CPU"
echo

mkdir -p "$tmp/sqlite-data"
start "$tmp/sqlite" "$build/toolgate" serve --insecure-no-auth --listen 127.0.0.1:0 \
  --data-dir "$tmp/sqlite-data" --driver jail --warm "$warm" --config "$tmp/config.json" --log-level error \
  --deploy "$tmp/workers"
measure sqlite "$url" "$build/toolgate" audit export --since 1d --data-dir "$tmp/sqlite-data"
"$build/toolgate" audit verify --data-dir "$tmp/sqlite-data" >/dev/null || {
  echo "!!! sqlite: the audit chain does not verify"
  status=1
}
baseline=$best
calls_sqlite=$(grep -c . "$tmp/ids" || true)
stop_all
declare -A result calls
for n in 1 2 3; do
  db=$(fresh_store "replicas$n")
  bases=()
  # The replicas accept the Host that nginx passes on: its own address.
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  for i in $(seq "$n"); do
    mkdir -p "$tmp/r$n-$i"
    deploy=()
    [ "$i" = 1 ] && deploy=(--deploy "$tmp/workers")
    TOOLGATE_SECRETS_MASTER_KEY_FILE=$tmp/secrets.key TOOLGATE_HTTP_ALLOWED_HOSTS=127.0.0.1:$port start "$tmp/r$n-$i" "$build/toolgate" \
      serve --insecure-no-auth --listen 127.0.0.1:0 --data-dir "$tmp/r$n-$i" --store "$db" \
      --driver jail --warm "$warm" --config "$tmp/config.json" --log-level error "${deploy[@]}"
    bases+=("${url%/mcp}")
  done
  start_nginx "$port" "${bases[@]}"
  measure "replicas$n" "$front" "$build/toolgate" audit export --since 1d --file "$db"
  "$build/toolgate" audit verify --file "$db" >/dev/null || {
    echo "!!! $n replicas: the audit chain does not verify"
    status=1
  }
  result[$n]=$best
  calls[$n]=$(grep -c . "$tmp/ids" || true)
  stop_all
done

printf '%-34s %12s %10s %12s\n' "setup" "calls/s" "vs sqlite" "acked calls"
printf '%-34s %12s %10s %12s\n' "one gateway, sqlite (the peer)" "$baseline" "1.00" "$calls_sqlite"
for n in 1 2 3; do
  printf '%-34s %12s %10s %12s\n' "$n replica(s) on PostgreSQL + nginx" "${result[$n]}" \
    "$(python3 -c "print(f'{${result[$n]} / $baseline:.2f}' if $baseline else '-')")" "${calls[$n]}"
done
echo
echo "calls/s: bench_load's highest sustained rate (p99 <= 250 ms, no errors) of the"
echo "tools/call + tools/list + admin mix; every acknowledged call was checked in the audit log."
report_stderr "the runs" "$tmp"/*.err
[ "$status" = 0 ] || echo "!!! a check failed"
exit "$status"
