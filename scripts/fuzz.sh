#!/usr/bin/env bash
# Builds every libFuzzer target (clang, ASan + UBSan) in build-fuzz/ and runs
# each for SECONDS_PER_TARGET on a scratch copy of its committed corpus, so the
# corpus in git only changes when someone copies inputs back on purpose.
# Exits non-zero when any target finds a crash, leak or timeout; the reproducer
# stays in build-fuzz/fuzz-run/<target>/artifacts/, the log next to it.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 300; CI runs 60)
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-300}
if [[ ! $secs =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS_PER_TARGET]" >&2
  exit 2
fi

build="build-fuzz"
mkdir -p "$build"
log=$build/build.log
# CC only matters when build-fuzz/ is configured the first time.
if ! { CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
         -DTOOLGATE_FUZZ=ON -DTOOLGATE_SANITIZE=ON &&
       mapfile -t targets < "$build/tests/fuzz/targets.txt" &&
       cmake --build "$build" --parallel "$(nproc)" --target "${targets[@]}"; } > "$log" 2>&1; then
  cat "$log" >&2
  echo "fuzz: build failed (log: $log)" >&2
  exit 1
fi
mapfile -t targets < "$build/tests/fuzz/targets.txt"

# Stack traces for UBSan too; ASan's leak check is on by default.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

failed=0
for t in "${targets[@]}"; do
  run=$build/fuzz-run/$t
  rm -rf "$run"
  mkdir -p "$run/corpus" "$run/artifacts"
  seeds=tests/fuzz/corpus/${t#fuzz_}
  if [[ -d $seeds ]]; then
    cp -R "$seeds/." "$run/corpus/"
  fi

  rc=0
  "$build/tests/fuzz/$t" -max_total_time="$secs" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$run/artifacts/" \
    "$run/corpus" > "$run/log" 2>&1 || rc=$?

  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run/log" | tail -n 1)
  cov=$(grep -oE 'cov: [0-9]+' "$run/log" | tail -n 1 | cut -d' ' -f2 || true)
  found=$(find "$run/artifacts" -type f | head -n 1)
  if [[ $rc -eq 0 && -z $found ]]; then
    echo "$t: ok, ${runs:-0} runs in ${secs}s, coverage ${cov:-?}, corpus $(find "$run/corpus" -type f | wc -l) inputs"
  else
    failed=1
    echo "$t: FAILED (exit $rc) ${found:+reproducer $found, }log $run/log" >&2
    # The report and the first frames of its stack, so a failure seen only
    # in CI can be understood from its log without the reproducer.
    grep -m 24 -E '^(==[0-9]+== ?ERROR|SUMMARY|fuzz_[a-z_]+:)|runtime error|^ +#[0-9]+ ' "$run/log" >&2 || true
  fi
done
exit "$failed"
