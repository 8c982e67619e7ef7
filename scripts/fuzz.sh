#!/usr/bin/env bash
# `make fuzz`: runs every libFuzzer target of profiler-fuzz for FUZZ_SECONDS each
# (or until FUZZ_RUNS inputs), FUZZ_JOBS at a time. Grown corpora live in
# .build/fuzz-corpus/<target>; a crashing input is written to Tests/Corpus/<target>/crash-*
# (commit it with the fix: the tests replay it). Prints execs/s and total execs per target.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZER=${FUZZER:-.build/fuzz/release/profiler-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-120}
RUNS=${FUZZ_RUNS:--1}
JOBS=${FUZZ_JOBS:-$(nproc)}
TARGETS=${FUZZ_TARGETS:-elf procfs cgroup query unwind}
[ -x "$FUZZER" ] || { echo "fuzz.sh: $FUZZER missing: run 'make fuzz'" >&2; exit 1; }

logs=.build/fuzz-logs; mkdir -p "$logs"
run_target() {
  local t=$1 max_len=4096
  # Text inputs stay short (longer ones only slow the search: lines are parsed one by one).
  [ "$t" = elf ] && max_len=65536
  # unwind: every input builds two tables; 8 KiB (hundreds of FDEs) keeps it near 10^3 execs/s.
  [ "$t" = unwind ] && max_len=8192
  mkdir -p ".build/fuzz-corpus/$t"
  # SWIFT_BACKTRACE: the Swift crash handler and ASan fight over a crash; let libFuzzer report it.
  SWIFT_BACKTRACE=enable=no FUZZ_TARGET=$t "$FUZZER" -max_total_time="$SECONDS_EACH" -runs="$RUNS" -rss_limit_mb=2048 -max_len=$max_len \
    -timeout=10 -print_final_stats=1 -artifact_prefix="Tests/Corpus/$t/" \
    ".build/fuzz-corpus/$t" "Tests/Corpus/$t" > "$logs/$t.log" 2>&1
}
pids=(); status=0
for t in $TARGETS; do
  run_target "$t" & pids+=($!)
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 1; done
done
for p in "${pids[@]}"; do wait "$p" || status=1; done

for t in $TARGETS; do
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log" | tail -1)
  crash=$(grep -c "^==[0-9]*==ERROR\|deadly signal\|runtime failure" "$logs/$t.log" || true)
  printf '%-7s %12s execs  %8s execs/s  corpus %5d  crashes %s\n' "$t" "${runs:-?}" "${rate:-?}" \
    "$(ls ".build/fuzz-corpus/$t" | wc -l)" "$crash"
done
[ "$status" -eq 0 ] || { echo "fuzz.sh: a target crashed: see $logs/*.log and Tests/Corpus/*/crash-*" >&2; exit 1; }
