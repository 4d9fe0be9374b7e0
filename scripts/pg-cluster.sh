#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks, from Debian's
# postgresql-15 binaries: made in DIR, listening only on a Unix socket in DIR
# (no TCP port, so clusters of parallel tests never collide), trusting local
# connections, and fast rather than durable (fsync off: it is thrown away).
#
#   pg-cluster.sh start DIR   prints the database URL on stdout
#   pg-cluster.sh stop DIR    stops it and removes DIR
#   pg-cluster.sh url DIR     prints the URL of a running cluster
#
# PostgreSQL refuses to run as root, so as root the cluster belongs to the
# postgres user that Debian's package creates.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || {
    echo "usage: $0 start|stop|url DIR" >&2
    exit 2
}

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || {
    echo "$0: PostgreSQL server binaries not found (run scripts/setup.sh)" >&2
    exit 1
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

url() {
    printf 'postgresql://postgres@/toolgate?host=%s/run\n' "$(cd "$dir" && pwd)"
}

case "$cmd" in
start)
    # A cluster an interrupted run left behind goes first.
    "$0" stop "$dir"
    mkdir -p "$dir/run"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres: "$dir"
        runuser -u postgres -- test -x "$dir" || {
            echo "$0: the postgres user cannot reach $dir: give it a directory it can enter" >&2
            exit 1
        }
    fi
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 \
        --locale=C >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$dir/run' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
        start >/dev/null || {
        cat "$dir/server.log" >&2
        exit 1
    }
    as_owner "$bin/createdb" -h "$dir/run" -U postgres toolgate
    url
    ;;
stop)
    if [ -d "$dir/data" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
url)
    url
    ;;
*)
    echo "usage: $0 start|stop|url DIR" >&2
    exit 2
    ;;
esac
