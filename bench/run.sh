#!/usr/bin/env bash
# `make bench`: the agent's cost next to what users would run instead, measured
# in the same run on the same machine, as ratios. Prints one line per figure
# and writes them to bench/results.txt. Needs root. ~12 minutes by default.
#
#   BENCH_REPS=3               repetitions of each measurement (min/median/max)
#   BENCH_PROFILE_SECONDS=20   workload length per profiler in the profiling-cost benchmark
#   BENCH_MEMORY_SECONDS=300   length of the memory run
#   BENCH_SECTIONS="profile syscall symbolize accuracy startup memory unwind python xperf"   what to run
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${BENCH_REPS:-3}
PROFILE_SECONDS=${BENCH_PROFILE_SECONDS:-20}
MEMORY_SECONDS=${BENCH_MEMORY_SECONDS:-300}
SECTIONS=" ${BENCH_SECTIONS:-profile syscall symbolize accuracy startup memory unwind python xperf} "
run_section() { [[ $SECTIONS == *" $1 "* ]]; }
AGENT=$PWD/.build/release/profiler-agent
FIX=$PWD/.build/fixtures
WORK=$(mktemp -d /tmp/profiler-bench.XXXXXX)
OUT=bench/results.txt
CPUS=$(nproc)
stats() { python3 bench/stats.py "$@"; }
median() { stats median $1; }
ratio() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'{a / b:.3g}' if b else '1e9')" "$1" "$2"; }
report() { echo "$*" | tee -a "$OUT"; }
cleanup() {
  pkill -f "$WORK" 2>/dev/null || true
  [ -n "${SLEEPERS:-}" ] && kill $SLEEPERS 2>/dev/null || true
  sysctl -q kernel.bpf_stats_enabled="${STATS_BEFORE:-0}" || true
  [ -n "${MOUNTED_TRACEFS:-}" ] && umount /sys/kernel/tracing || true
  rm -rf "$WORK"
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (BPF, perf)" >&2; exit 1; }
for tool in perf bpftrace syscount llvm-symbolizer bpftool nm; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing: run bench/setup.sh" >&2; exit 1; }
done
clang -O2 -fno-omit-frame-pointer -pthread -o "$WORK/spin" bench/spin.c
clang -O2 -o "$WORK/getppid_loop" bench/getppid_loop.c
STATS_BEFORE=$(sysctl -n kernel.bpf_stats_enabled)
# syscount attaches classic tracepoints, which need tracefs (the agent does not).
if [ ! -e /sys/kernel/tracing/events ]; then mount -t tracefs nodev /sys/kernel/tracing && MOUNTED_TRACEFS=1; fi
sysctl -q kernel.bpf_stats_enabled=1  # BPF run time of every tool, counted the same way
: >"$OUT"
report "# profiler-agent benchmarks $(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), $CPUS CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
report "# figure: min/median/max over $REPS runs; goal; met?"

# Starts a profiler (by name) in the background; sets PROFILER_PID.
start_profiler() {
  case $1 in
    none) PROFILER_PID= ;;
    agent) "$AGENT" run --listen 127.0.0.1:0 --tracers none --unwinder "${BENCH_UNWINDER:-auto}" >"$WORK/agent.log" 2>&1 & PROFILER_PID=$! ;;
    perf) perf record -F 97 -g -a -o "$WORK/perf.data" >"$WORK/perf.log" 2>&1 & PROFILER_PID=$! ;;
    bpftrace) bpftrace -e 'profile:hz:97 { @[kstack, ustack, pid] = count(); }' >"$WORK/bpftrace.log" 2>&1 & PROFILER_PID=$! ;;
  esac
  sleep 3  # attached and settled
}
stop_profiler() {
  [ -n "$PROFILER_PID" ] || return 0
  kill -INT "$PROFILER_PID" 2>/dev/null || true
  wait "$PROFILER_PID" 2>/dev/null || true
  rm -f "$WORK/perf.data"
}

if run_section profile; then
# 1. Profiling cost at 97 Hz on every CPU under a CPU-bound workload on every core.
declare -A CPU THROUGHPUT
for rep in $(seq "$REPS"); do
  for tool in none agent perf bpftrace; do
    start_profiler "$tool"
    cpu0=0; [ -n "$PROFILER_PID" ] && cpu0=$(stats cpu "$PROFILER_PID")
    bpf0=$(stats bpf-ns)
    chunks=$("$WORK/spin" "$CPUS" "$PROFILE_SECONDS")
    cpu1=0; [ -n "$PROFILER_PID" ] && cpu1=$(stats cpu "$PROFILER_PID")
    bpf1=$(stats bpf-ns)
    stop_profiler
    CPU[$tool]+="$(python3 -c "print(($cpu1 - $cpu0) + ($bpf1 - $bpf0) / 1e9)") "
    THROUGHPUT[$tool]+="$chunks "
  done
done
base=$(median "${THROUGHPUT[none]}")
for tool in agent perf bpftrace; do
  losses=""; for t in ${THROUGHPUT[$tool]}; do losses+="$(python3 -c "print(100 * (1 - $t / $base))") "; done
  report "profile.cpu_seconds.$tool $(stats mmm ${CPU[$tool]}) (CPU s of the tool + its BPF programs over ${PROFILE_SECONDS}s)"
  report "profile.workload_loss_percent.$tool $(stats mmm $losses)"
done
agent_vs_perf=$(ratio "$(median "${CPU[agent]}")" "$(median "${CPU[perf]}")")
agent_loss=$(stats median $(for t in ${THROUGHPUT[agent]}; do python3 -c "print(100 * (1 - $t / $base))"; done))
report "profile.agent_cpu_vs_perf $agent_vs_perf (goal <= 0.5: $(python3 -c "print('met' if $agent_vs_perf <= 0.5 else 'MISSED')"))"
report "profile.agent_cpu_vs_bpftrace $(ratio "$(median "${CPU[agent]}")" "$(median "${CPU[bpftrace]}")")"
report "profile.agent_workload_loss_percent $agent_loss (goal <= 1: $(python3 -c "print('met' if $agent_loss <= 1 else 'MISSED')"))"

fi

if run_section syscall; then
# 2. Syscall tracer cost: 10M getppid calls.
declare -A LOOP SLOW
for rep in $(seq "$REPS"); do
  for tool in none agent agent_no_stacks syscount; do
    pid=
    case $tool in
      agent) "$AGENT" run --listen 127.0.0.1:0 --tracers syscall >"$WORK/agent.log" 2>&1 & pid=$! ;;
      # Event stacks (exemplars' own stacks) off: what their capture costs at the default throttle.
      agent_no_stacks) "$AGENT" run --listen 127.0.0.1:0 --tracers syscall --exemplar-interval 0 >"$WORK/agent.log" 2>&1 & pid=$! ;;
      syscount) syscount -L >"$WORK/syscount.log" 2>&1 & pid=$! ;;
    esac
    [ -n "$pid" ] && sleep 3
    LOOP[$tool]+="$("$WORK/getppid_loop" 10000000) "
    [ -n "$pid" ] && { kill -INT "$pid"; wait "$pid" 2>/dev/null || true; }
  done
done
base=$(median "${LOOP[none]}")
for tool in agent agent_no_stacks syscount; do
  slow=""; for t in ${LOOP[$tool]}; do slow+="$(ratio "$t" "$base") "; done
  SLOW[$tool]=$(median "$slow")
  report "syscall.slowdown.$tool $(stats mmm $slow) (10M getppid, time with / without)"
done
report "syscall.event_stacks_cost $(ratio "${SLOW[agent]}" "${SLOW[agent_no_stacks]}") (slowdown with event stacks / without, --exemplar-interval 1 vs 0; goal <= 1.05: $(python3 -c "print('met' if ${SLOW[agent]} <= 1.05 * ${SLOW[agent_no_stacks]} else 'MISSED')"))"
report "syscall.agent_vs_syscount $(ratio "${SLOW[agent]}" "${SLOW[syscount]}") (goal: agent slowdown <= syscount's: $(python3 -c "print('met' if ${SLOW[agent]} <= ${SLOW[syscount]} else 'MISSED')"))"

fi

if run_section symbolize; then
# 3. Symbolisation: 1M addresses of the Swift runtime library.
SWIFT_LIB=$(dirname "$(readlink -f "$(command -v swift)")")/../lib/swift/linux/libswiftCore.so
stats addresses "$SWIFT_LIB" 1000000 "$WORK/addresses"
OURS=""; LLVM=""
for rep in $(seq "$REPS"); do
  s=$(date +%s.%N); "$AGENT" symbolize --elf "$SWIFT_LIB" --no-demangle <"$WORK/addresses" >"$WORK/ours"; e=$(date +%s.%N)
  OURS+="$(python3 -c "print($e - $s)") "
  s=$(date +%s.%N); llvm-symbolizer --obj="$SWIFT_LIB" --no-demangle --no-inlines --output-style=JSON <"$WORK/addresses" >"$WORK/llvm"; e=$(date +%s.%N)
  LLVM+="$(python3 -c "print($e - $s)") "
done
speedup=$(ratio "$(median "$LLVM")" "$(median "$OURS")")
same=$(stats same "$WORK/ours" "$WORK/llvm")
report "symbolize.seconds.agent $(stats mmm $OURS) (1M addresses, $(basename "$SWIFT_LIB"))"
report "symbolize.seconds.llvm-symbolizer $(stats mmm $LLVM)"
report "symbolize.speedup_vs_llvm $speedup (goal >= 10: $(python3 -c "print('met' if $speedup >= 10 else 'MISSED')"))"
report "symbolize.identical_names_percent $same (goal 100: $(python3 -c "print('met' if $same >= 100 else 'MISSED')"))"

fi

if run_section accuracy; then
# 4. Accuracy: the 3:1 fixture, agent and perf in the same run.
AGENT_SPLIT=""; PERF_SPLIT=""
for rep in $(seq "$REPS"); do
  "$FIX/cpu_split" 30 & fixture=$!
  sleep 0.5
  perf record -F 97 -g -p "$fixture" -o "$WORK/split.data" -- sleep 5 >/dev/null 2>&1 &
  perf_pid=$!
  "$AGENT" record --pid "$fixture" --duration 5 --format folded -o "$WORK/split.folded" 2>/dev/null
  wait "$perf_pid" || true
  kill "$fixture"; wait "$fixture" 2>/dev/null || true
  AGENT_SPLIT+="$(stats folded-split "$WORK/split.folded") "
  PERF_SPLIT+="$(stats perf-split "$WORK/split.data") "
done
for tool in agent perf; do
  values=$([ $tool = agent ] && echo "$AGENT_SPLIT" || echo "$PERF_SPLIT")
  m=$(median "$values")
  report "accuracy.three_quarter_share.$tool $(stats mmm $values) (goal 75 ± 2: $(python3 -c "print('met' if abs($m - 75) <= 2 else 'MISSED')"))"
done

fi

if run_section startup; then
# 5. Start-up (launch to attached and sampling) and encoding.
UP=""; PERF_UP=""
for rep in $(seq "$REPS"); do
  port=$((17100 + rep))
  s=$(date +%s.%N)
  "$AGENT" run --listen 127.0.0.1:$port >"$WORK/agent.log" 2>&1 & pid=$!
  for _ in $(seq 3000); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.01; done
  e=$(date +%s.%N); kill -TERM $pid; wait $pid || true
  UP+="$(python3 -c "print($e - $s)") "
  # perf: launch to its first sample written (the data file grows past its header).
  s=$(date +%s.%N)
  perf record -F 97 -g -a -o "$WORK/up.data" >/dev/null 2>&1 & pid=$!
  for _ in $(seq 3000); do [ "$(stat -c %s "$WORK/up.data" 2>/dev/null || echo 0)" -gt 0 ] && break; sleep 0.01; done
  e=$(date +%s.%N); kill -INT $pid; wait $pid || true; rm -f "$WORK/up.data"
  PERF_UP+="$(python3 -c "print($e - $s)") "
done
report "startup.seconds.agent $(stats mmm $UP) (launch to /readyz: every tracer attached, sampling)"
report "startup.seconds.perf $(stats mmm $PERF_UP) (launch to perf.data created: perf record -a -g)"
report "startup.agent_vs_perf $(ratio "$(median "$UP")" "$(median "$PERF_UP")")"
swift build -c release --product PprofBench >/dev/null 2>&1
ENC=""; for rep in $(seq "$REPS"); do ENC+="$(.build/release/PprofBench | cut -d' ' -f1) "; done
report "encode.milliseconds_10k_stacks $(stats mmm $ENC) ($(.build/release/PprofBench | cut -d' ' -f2) bytes gzipped)"

fi

if run_section memory; then
# 6. Memory after a long run with ~500 idle processes and the fixtures busy.
SLEEPERS=""
for i in $(seq 500); do sleep 100000 & SLEEPERS+="$! "; done
"$WORK/spin" 1 $((MEMORY_SECONDS + 30)) >/dev/null & busy=$!
"$FIX/sleeper" 0 $((MEMORY_SECONDS * 20)) & sleepy=$!
# Frame pointers: the goals below predate the table unwinder (section 7 measures it with tables).
"$AGENT" run --listen 127.0.0.1:0 --unwinder fp >"$WORK/agent.log" 2>&1 & agent=$!
started=$(date +%s)
RSS=""; MAPS=""
for fraction in 0.6 0.8 1.0; do
  target=$(python3 -c "print(int($MEMORY_SECONDS * $fraction))")
  while [ $(( $(date +%s) - started )) -lt "$target" ]; do sleep 1; done
  RSS+="$(python3 -c "print($(stats rss $agent) / 1048576)") "
  MAPS+="$(python3 -c "print($(stats map-bytes $agent) / 1048576)") "
done
kill -TERM $agent; wait $agent || true
kill $busy $sleepy $SLEEPERS 2>/dev/null || true; SLEEPERS=""
rss=$(median "$RSS"); maps=$(median "$MAPS")
report "memory.rss_mib $(stats mmm $RSS) (at 60/80/100% of ${MEMORY_SECONDS}s; goal <= 40: $(python3 -c "print('met' if $rss <= 40 else 'MISSED')"))"
report "memory.bpf_maps_mib $(stats mmm $MAPS) (goal <= 32: $(python3 -c "print('met' if $maps <= 32 else 'MISSED')"))"
fi

if run_section unwind; then
# 7. The table unwinder (the default, --unwinder auto) against the frame-pointer walk.
PORT=19476
# (a) BPF run time per CPU sample, same workload (Debian's python3.11 loop on every CPU): tables vs frame pointers.
#     "nolo": tables on the path of kernels 5.8-5.14 (no bpf_task_pt_regs), on this kernel.
declare -A NS WALK
for rep in $(seq "$REPS"); do
  for mode in fp auto nolo; do
    loops=""; for c in $(seq "$CPUS"); do /usr/bin/python3.11 -c 'while True: pass' & loops+="$! "; done
    hide=""; [ $mode = nolo ] && hide="task_regs"
    PROFILER_AGENT_UNWIND_WITHOUT=$hide "$AGENT" run --listen 127.0.0.1:$PORT --tracers none \
      --unwinder "$([ $mode = fp ] && echo fp || echo auto)" >"$WORK/agent.log" 2>&1 & agent=$!
    sleep 3
    # The agent's own kernel BPF stats of its sampling program (each run = one sample on one CPU),
    # and the part of it spent in the table walk (bpf_ktime around it, unwind_stats).
    walk='profiler_agent_unwind_walk_seconds_total{source="cpu"}'
    ns0=$(stats metric $PORT 'profiler_agent_bpf_program_run_seconds_total{tracer="cpu",program="profile_sample"}')
    n0=$(stats metric $PORT 'profiler_agent_bpf_program_runs_total{tracer="cpu",program="profile_sample"}')
    w0=$(stats metric $PORT "$walk" 2>/dev/null || echo 0)
    sleep "$PROFILE_SECONDS"
    ns1=$(stats metric $PORT 'profiler_agent_bpf_program_run_seconds_total{tracer="cpu",program="profile_sample"}')
    n1=$(stats metric $PORT 'profiler_agent_bpf_program_runs_total{tracer="cpu",program="profile_sample"}')
    w1=$(stats metric $PORT "$walk" 2>/dev/null || echo 0)
    kill -TERM $agent; wait $agent || true
    kill $loops; wait $loops 2>/dev/null || true
    NS[$mode]+="$(python3 -c "print(1e6 * ($ns1 - $ns0) / max($n1 - $n0, 1))") "
    WALK[$mode]+="$(python3 -c "print(1e6 * ($w1 - $w0) / max($n1 - $n0, 1))") "
  done
done
report "unwind.bpf_us_per_sample.fp $(stats mmm ${NS[fp]}) (profile_sample run time / runs, python3.11 loop on every CPU)"
report "unwind.bpf_us_per_sample.tables $(stats mmm ${NS[auto]}) (of which the table walk $(stats mmm ${WALK[auto]}))"
report "unwind.bpf_us_per_sample.tables_before_5_15 $(stats mmm ${NS[nolo]}) (of which the walk $(stats mmm ${WALK[nolo]}); registers from the kernel stack, not bpf_task_pt_regs, on this kernel)"
cost=$(ratio "$(median "${NS[auto]}")" "$(median "${NS[fp]}")")
report "unwind.tables_vs_fp $cost (goal <= 1: $(python3 -c "print('met' if $cost <= 1 else 'MISSED')"))"

# (b) A busy node's tables and the agent's memory with them: this machine's processes plus real
#     binaries idle (python3.11, node, gdb with its libpython, perf), after 60 s of sampling.
"$AGENT" run --listen 127.0.0.1:$PORT >"$WORK/agent.log" 2>&1 & agent=$!
sleep 3
extra=""
/usr/bin/python3.11 -c 'import time; time.sleep(600)' & extra+="$! "
command -v node >/dev/null && { node -e 'setTimeout(() => {}, 600000)' & extra+="$! "; }
command -v gdb >/dev/null && { gdb -batch -nx -ex 'shell sleep 600' >/dev/null 2>&1 & extra+="$! "; }
perf stat -o /dev/null sleep 600 & extra+="$! "
"$WORK/spin" 1 70 >/dev/null & extra+="$! "
sleep 60
m() { stats metric $PORT "$1"; }
report "unwind.node.table_files $(m profiler_agent_unwind_table_files) ($(m profiler_agent_unwind_processes) processes described)"
report "unwind.node.table_rows $(m profiler_agent_unwind_table_rows)"
report "unwind.node.table_mib $(python3 -c "print(f'{$(m profiler_agent_unwind_table_bytes) / 1048576:.2f}')") (budget 12 MiB of rows + fixed rules/files)"
report "unwind.node.table_build_seconds $(m profiler_agent_unwind_table_build_seconds_total)"
report "unwind.node.files_over_budget $(m 'profiler_agent_unwind_files_without_table_total{reason="over_budget"}') evicted $(m 'profiler_agent_unwind_files_without_table_total{reason="evicted"}')"
rss=$(python3 -c "print(f'{$(stats rss $agent) / 1048576:.1f}')"); maps=$(python3 -c "print(f'{$(stats map-bytes $agent) / 1048576:.1f}')")
report "unwind.node.agent_rss_mib $rss (all tracers, tables loaded; goal <= 64: $(python3 -c "print('met' if $rss <= 64 else 'MISSED')"))"
report "unwind.node.bpf_maps_mib $maps (goal <= 64: $(python3 -c "print('met' if $maps <= 64 else 'MISSED')"))"
kill $extra 2>/dev/null || true; pkill -P $$ sleep 2>/dev/null || true

# (c) Exec -> the new process described with its tables (the BPF request answered): 30 execs of the
#     gcc -O2 -fomit-frame-pointer fixture, 0.3 s each.
count0=$(m profiler_agent_unwind_requests_answered_total); sum0=$(m profiler_agent_unwind_request_latency_seconds_total)
max0=$(m profiler_agent_unwind_request_latency_max_seconds)
for i in $(seq 30); do "$FIX/unwind_scenarios" chain & p=$!; sleep 0.3; kill $p; wait $p 2>/dev/null || true; done
count1=$(m profiler_agent_unwind_requests_answered_total); sum1=$(m profiler_agent_unwind_request_latency_seconds_total)
report "unwind.exec_to_described_ms $(python3 -c "print(f'{1000 * ($sum1 - $sum0) / max($count1 - $count0, 1):.2f}')") mean over $(python3 -c "print(int($count1 - $count0))") requests (goal <= 100); max since the agent started $(python3 -c "print(f'{1000 * $max0:.1f}')") ms before the execs, $(python3 -c "print(f'{1000 * $(m profiler_agent_unwind_request_latency_max_seconds):.1f}')") ms after"
kill -TERM $agent; wait $agent || true
fi

if run_section python; then
# 8. CPython frames (issue #13): BPF time per sample of a Python process against a native one
#    (both walked with tables, one busy process per CPU), and the agent with 50 Python processes.
PORT=19477
declare -A PNS PWALK
for rep in $(seq "$REPS"); do
  for kind in native python; do
    loops=""
    for c in $(seq "$CPUS"); do
      if [ $kind = python ]; then /usr/bin/python3.11 Fixtures/python_chain.py single 600 & else "$FIX/unwind_scenarios" chain & fi
      loops+="$! "
    done
    "$AGENT" run --listen 127.0.0.1:$PORT --tracers none >"$WORK/agent.log" 2>&1 & agent=$!
    sleep 3
    prog='profiler_agent_bpf_program_run_seconds_total{tracer="cpu",program="profile_sample"}'
    runs='profiler_agent_bpf_program_runs_total{tracer="cpu",program="profile_sample"}'
    ns0=$(stats metric $PORT "$prog"); n0=$(stats metric $PORT "$runs"); w0=$(stats metric $PORT profiler_agent_python_walk_seconds_total)
    sleep "$PROFILE_SECONDS"
    ns1=$(stats metric $PORT "$prog"); n1=$(stats metric $PORT "$runs"); w1=$(stats metric $PORT profiler_agent_python_walk_seconds_total)
    kill -TERM $agent; wait $agent || true
    kill $loops; wait $loops 2>/dev/null || true
    PNS[$kind]+="$(python3 -c "print(1e6 * ($ns1 - $ns0) / max($n1 - $n0, 1))") "
    PWALK[$kind]+="$(python3 -c "print(1e6 * ($w1 - $w0) / max($n1 - $n0, 1))") "
  done
done
report "python.bpf_us_per_sample.native $(stats mmm ${PNS[native]}) (profile_sample run time / runs, the gcc fixture's 13-frame chain on every CPU)"
report "python.bpf_us_per_sample.python $(stats mmm ${PNS[python]}) (python_chain.py: 11 native + 5 Python frames; of which the Python walk $(stats mmm ${PWALK[python]}))"
report "python.python_vs_native $(ratio "$(median "${PNS[python]}")" "$(median "${PNS[native]}")")"
# (b) 50 Python processes, each mostly asleep (a request every 50 ms): agent CPU and RSS over 30 s.
pythons=""
for i in $(seq 50); do
  /usr/bin/python3.11 -c 'import time
def handle(): return sum(i * i for i in range(2000))
while True:
    handle(); time.sleep(0.05)' & pythons+="$! "
done
sleep 2
"$AGENT" run --listen 127.0.0.1:$PORT >"$WORK/agent.log" 2>&1 & agent=$!
sleep 10
cpu0=$(stats cpu $agent)
sleep 30
cpu1=$(stats cpu $agent)
report "python.fifty_processes.profiled $(stats metric $PORT 'profiler_agent_interpreter_processes{runtime="cpython",version="3.11",state="profiled"}') of 50"
report "python.fifty_processes.agent_cpu_seconds_per_30s $(python3 -c "print(f'{$cpu1 - $cpu0:.3f}')") (all tracers)"
report "python.fifty_processes.agent_rss_mib $(python3 -c "print(f'{$(stats rss $agent) / 1048576:.1f}')")"
report "python.fifty_processes.name_cache $(stats metric $PORT 'profiler_agent_python_name_cache_total{result="hit"}') hits, $(stats metric $PORT 'profiler_agent_python_name_cache_total{result="miss"}') misses"
kill -TERM $agent; wait $agent || true
kill $pythons; wait $pythons 2>/dev/null || true
fi

if run_section xperf; then
# 8 (c). What `-X perf` costs the target (no agent running): the alternative to reading frames in BPF.
#     CPython 3.12 timing itself over the same work with and without it: Python-to-Python calls
#     (inlined in one interpreter activation normally; -X perf installs an eval-frame hook, which
#     stops that inlining, so each call becomes an activation entered through a trampoline) and
#     C-to-Python callbacks (one activation per call either way).
PY312=$(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.12.*/bin/python3.12 2>/dev/null | tail -1)
if [ -x "$PY312" ]; then
  xperf_work='import os, time
def f(x): return x + 1
def calls(n):
    t = 0
    for i in range(n): t = f(t)
    return t
start = time.perf_counter(); calls(3_000_000); py = time.perf_counter() - start
start = time.perf_counter(); sum(map(f, range(3_000_000))); c = time.perf_counter() - start
print(os.getpid(), py, c)'
  declare -A XP
  for rep in $(seq "$REPS"); do
    for mode in off on; do
      flags=(); [ $mode = on ] && flags=(-X perf)
      read -r pid py c < <("$PY312" "${flags[@]}" -c "$xperf_work")
      XP[$mode.py]+="$py "; XP[$mode.c]+="$c "
      rm -f "/tmp/perf-$pid.map"
    done
  done
  report "python.x_perf_cost.python_calls $(ratio "$(median "${XP[on.py]}")" "$(median "${XP[off.py]}")") (3.12, 3 M Python-to-Python calls, time with -X perf / without; $(stats mmm ${XP[off.py]}) s without, $(stats mmm ${XP[on.py]}) s with)"
  report "python.x_perf_cost.c_callbacks $(ratio "$(median "${XP[on.c]}")" "$(median "${XP[off.c]}")") (3.12, 3 M calls from map(), one trampoline each; $(stats mmm ${XP[off.c]}) s without, $(stats mmm ${XP[on.c]}) s with)"
else
  report "python.x_perf_cost not measured: no pyenv CPython 3.12"
fi
fi
