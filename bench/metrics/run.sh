#!/usr/bin/env bash
# Runs the metrics and logging benchmark (bench_metrics.c and peer.mjs say
# what each figure is): toolgate's metrics registry against prom-client and
# its JSON line logger against pino, the same operations on each side in the
# same run: counter and histogram updates on an existing series (toolgate on
# 1 and 2 threads, Node on its one), the first use of a series, rendering
# /metrics with 1,000 series of each metric, a log line to /dev/null and one
# dropped below the level. Prints each side's time per operation and rate,
# and the ratio.
#   bench/metrics/run.sh
# Environment: BUILD_DIR (an existing build directory to use; default
# build-bench, configured as Release), BENCH_SECONDS (measured time per
# operation and side, default 1; a run takes about 25 s plus the build).
# Needs cmake, a C compiler, the project's libraries, and Node.js with npm
# (`npm ci` installs prom-client and pino into bench/metrics/node_modules).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/../lib.sh"
seconds=${BENCH_SECONDS:-1}

if [ ! -d "$here/node_modules/prom-client" ] || [ ! -d "$here/node_modules/pino" ]; then
  (cd "$here" && npm ci --silent)
fi

build_release bench_metrics

version() { node -p 'require(process.argv[1]).version' "$here/node_modules/$1/package.json"; }
print_cpu
echo "node $(node --version), prom-client $(version prom-client), pino $(version pino);" \
  "bench_metrics $build_type build; best of 3 rounds sharing $seconds s per operation"
echo

status=0
"$build/bench/bench_metrics" "$seconds" >"$tmp/toolgate" || status=$?
node --expose-gc "$here/peer.mjs" "$seconds" >"$tmp/peer" || status=$?
if [ "$status" != 0 ]; then
  echo "!!! a side failed (exit $status); its output:"
  cat "$tmp/toolgate" "$tmp/peer"
  exit "$status"
fi

# Lines are KEY NS_PER_OP OPS_PER_S EXTRA DESCRIPTION...; a row per
# operation: each side's time and rate (and EXTRA), then the ratio of times.
awk '
  function dur(ns) {
    if (ns < 1000) return sprintf("%.1f ns", ns)
    if (ns < 1e6) return sprintf("%.2f us", ns / 1e3)
    return sprintf("%.2f ms", ns / 1e6)
  }
  function rate(r) {
    if (r >= 1e6) return sprintf("%.2f M/s", r / 1e6)
    if (r >= 1e3) return sprintf("%.1f k/s", r / 1e3)
    return sprintf("%.1f /s", r)
  }
  function side(k, ns, r, extra, unit) {
    if (!(k in ns)) return sprintf("%-26s", "-")
    return sprintf("%-26s", sprintf("%s %s", dur(ns[k]),
      (unit == "" ? "(" rate(r[k]) ")" : extra[k] " " unit)))
  }
  # row LABEL TG_KEY PEER_KEY UNIT: UNIT names EXTRA when it is shown
  # instead of the rate.
  function row(label, tk, pk, unit,   ratio) {
    ratio = ""
    if ((tk in tns) && (pk in pns))
      ratio = tns[tk] <= pns[pk] ? sprintf("toolgate faster x%.2f", pns[pk] / tns[tk]) \
                                 : sprintf("toolgate slower x%.2f", tns[tk] / pns[pk])
    printf "%-46s %s %s %s\n", label, side(tk, tns, trate, textra, unit),
      side(pk, pns, prate, pextra, unit), ratio
  }
  function scaling(label, tk, one) {
    printf "%-46s %s %-26s x%.2f the rate of 1 thread\n", label, side(tk, tns, trate, textra, ""),
      "(Node: 1 thread)", trate[tk] / trate[one]
  }
  FNR == NR { tns[$1] = $2; trate[$1] = $3; textra[$1] = $4; next }
  { pns[$1] = $2; prate[$1] = $3; pextra[$1] = $4 }
  END {
    printf "%-46s %-26s %-26s %s\n", "operation", "toolgate", "prom-client / pino", "ratio of times"
    row("counter +1, 4 labels, existing series", "counter_inc", "counter_inc", "")
    row("histogram observe, 2 labels, 17 buckets", "histogram_observe", "histogram_observe", "")
    scaling("counter +1, 2 threads, same series", "counter_inc_2t_same", "counter_inc")
    scaling("counter +1, 2 threads, a series each", "counter_inc_2t_own", "counter_inc")
    scaling("counter +1, 2 threads, a metric each", "counter_inc_2t_metric", "counter_inc")
    scaling("histogram observe, 2 threads, same series", "histogram_observe_2t_same",
      "histogram_observe")
    scaling("histogram observe, 2 threads, a series each", "histogram_observe_2t_own",
      "histogram_observe")
    row("first use of a counter series", "create_counter", "create_counter", "B/series")
    row("first use of a histogram series", "create_histogram", "create_histogram", "B/series")
    row("render 1,000 + 1,000 series (20,004 lines)", "render", "render", "B")
    row("log line to /dev/null (pino sync: write/line)", "log_line", "log_line", "")
    row("  against pino default (async, batched)", "log_line", "log_line_async", "")
    row("log line below the level (dropped)", "log_dropped", "log_dropped", "")
  }' "$tmp/toolgate" "$tmp/peer"
echo
echo "Times are per operation (2 threads: the machine's, both threads' rates summed); the ratio is"
echo "the peer's time over toolgate's. B/series: heap a new series took (glibc's bytes in use; V8's"
echo "heap after a full GC). B: bytes of one render."
