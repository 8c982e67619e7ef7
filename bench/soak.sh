#!/usr/bin/env bash
# `make soak`: `profiler-agent run` (every tracer, per-container syscall series)
# while SOAK_RATE short-lived processes per minute start and exit for SOAK_SECONDS.
# Every 10 s: RSS, tracked processes, map-full counters and the entries of exited
# threads left in the per-thread BPF maps. Fails when, after SOAK_WARMUP seconds,
# RSS grows more than 10%, any map-full counter moves, or (3 s after the churn
# stops) an exited thread still has a BPF map entry. Root; ~SOAK_SECONDS + 20 s.
# Retained profile windows are capped at SOAK_RETAIN (1 MiB, full within the warm-up):
# filling the --retain budget (16 MiB by default) is bounded growth by design, not a leak.
set -euo pipefail
cd "$(dirname "$0")/.."
AGENT=${AGENT:-.build/release/profiler-agent}
FIX=.build/fixtures
DURATION=${SOAK_SECONDS:-300}; RATE=${SOAK_RATE:-2000}; WARMUP=${SOAK_WARMUP:-60}
OUT=.build/soak; mkdir -p "$OUT"
PORT=${SOAK_PORT:-17097}
[ -x "$AGENT" ] && [ -x "$FIX/churn_child" ] || { echo "soak.sh: run 'make build' first" >&2; exit 1; }

"$AGENT" run --listen "127.0.0.1:$PORT" --window 10 --retain "${SOAK_RETAIN:-1MiB}" --syscall-containers 8 2> "$OUT/agent.log" &
agent=$!
churn=
cleanup() { [ -n "$churn" ] && kill "$churn" 2>/dev/null; kill "$agent" 2>/dev/null; wait "$agent" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done

metric() { awk -v n="$1" '$1 == n { print $2; f=1 } END { if (!f) print 0 }' "$OUT/metrics.txt"; }
full_drops() {
  curl -sf "http://127.0.0.1:$PORT/metrics" > "$OUT/metrics.txt"
  echo $(( $(metric 'profiler_agent_samples_dropped_total{reason="map_full"}' | cut -d. -f1) \
         + $(metric profiler_agent_offcpu_dropped_total | cut -d. -f1) \
         + $(metric profiler_agent_syscall_process_map_full_total | cut -d. -f1) \
         + $(metric profiler_agent_syscall_spans_full_total | cut -d. -f1) ))
}

python3 Fixtures/churn.py "$FIX/churn_child" "$OUT/copies" "$DURATION" "$RATE" > "$OUT/churn.txt" &
churn=$!
start=$(date +%s)
printf 't_s\trss_kib\ttracked\tmap_full\tstale\n' | tee "$OUT/samples.tsv"
while kill -0 "$churn" 2>/dev/null; do
  sleep 10
  # First, 10 s after this loop's own short-lived commands: their entries are drained by now.
  stale=$(python3 bench/stats.py stale "$agent")
  t=$(( $(date +%s) - start ))
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$agent/status")
  drops=$(full_drops)
  tracked=$(metric profiler_agent_tracked_processes | cut -d. -f1)
  printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$rss" "$tracked" "$drops" "$stale" | tee -a "$OUT/samples.tsv"
done
wait "$churn"; churn=
sleep 3
stale=$(python3 bench/stats.py stale "$agent")
drops=$(full_drops)
tracked=$(metric profiler_agent_tracked_processes | cut -d. -f1)
echo "churn: $(cat "$OUT/churn.txt") processes in ${DURATION} s; 3 s later: stale entries $stale, map-full drops $drops, tracked processes $tracked"

python3 - "$OUT/samples.tsv" "$WARMUP" "$stale" "$drops" <<'PY'
import json, statistics, sys
rows = [line.split("\t") for line in open(sys.argv[1]).read().splitlines()[1:]]
warmup = int(sys.argv[2])
after = [(int(r[0]), int(r[1])) for r in rows if int(r[0]) >= warmup]
failed = []
if len(after) < 4:
    sys.exit("soak: too short to judge RSS growth (need 4 samples after warm-up)")
base = statistics.median(v for _, v in after[:3])
end = statistics.median(v for _, v in after[-3:])
growth = 100.0 * (end - base) / base
print(f"RSS after warm-up {base / 1024:.1f} MiB -> {end / 1024:.1f} MiB at the end: {growth:+.1f}% (goal <= +10%)")
if growth > 10:
    failed.append("RSS grew more than 10%")
stale = json.loads(sys.argv[3])
left = {name: v[1] for name, v in stale.items() if v[1]}
if left:
    failed.append(f"BPF entries of exited threads left: {left}")
if int(sys.argv[4]) != 0:
    failed.append(f"map-full drops: {sys.argv[4]}")
if failed:
    sys.exit("soak FAILED: " + "; ".join(failed))
print("soak passed")
PY
