#!/bin/bash
# Harness for the table unwinder (bpf/unwind.bpf.h), as root, after `make bpf`:
#   bench/unwind-harness/run.sh [SECONDS] [FREQ]
# For the gcc -O2 -fomit-frame-pointer chain and Debian's python3.11 loop:
# fills the maps from readelf (tables.py), samples with unwinder = dwarf and
# = fp, symbolises, compares with gdb's bt, and prints the BPF run time per
# sample (kernel.bpf_stats_enabled=1) of both, net of the runs on other
# processes (a run with a pid that does not exist gives their cost).
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_=${1:-5}
FREQ=${2:-499}
OUT=${OUT:-/tmp/unwind-harness}
mkdir -p "$OUT"
make -s all
sysctl -qw kernel.bpf_stats_enabled=1

# "name total_ns runs" of a harness stderr file
bpf_line() { sed -n 's/^bpf: run_cnt \([0-9]*\) run_time_ns \([0-9]*\).*/\2 \1/p' "$1"; }

./harness fp 999999999 x "$SECONDS_" "$FREQ" > /dev/null 2> "$OUT/idle.err"
read -r idle_ns idle_runs < <(bpf_line "$OUT/idle.err")

target() { # name command...
	local name=$1; shift
	"$@" & local pid=$!
	sleep ${WAIT:-0.5}
	cp "/proc/$pid/maps" "$OUT/$name.maps"
	python3 tables.py "$pid" "$OUT/$name.tab" 2> "$OUT/$name.tables"
	gdb -batch -ex bt -p "$pid" > "$OUT/$name.gdb" 2>/dev/null || true
	for mode in dwarf fp; do
		./harness "$mode" "$pid" "$OUT/$name.tab" "$SECONDS_" "$FREQ" > "$OUT/$name.$mode" 2> "$OUT/$name.$mode.err"
	done
	kill "$pid"; wait "$pid" 2>/dev/null || true
	echo "=== $name: $(tail -1 "$OUT/$name.tables")"
	for mode in dwarf fp; do
		echo "--- unwinder = $mode"
		python3 symbolize.py "$OUT/$name.maps" "$OUT/$name.$mode" 1 $([ $mode = dwarf ] && echo "$OUT/$name.gdb")
		read -r ns runs < <(bpf_line "$OUT/$name.$mode.err")
		samples=$(awk '{s += $1} END {print s + 0}' "$OUT/$name.$mode")
		awk -v ns="$ns" -v runs="$runs" -v s="$samples" -v ins="$idle_ns" -v iruns="$idle_runs" 'BEGIN {
			other = runs - s; per_other = iruns ? ins / iruns : 0
			printf "bpf: %d runs, %d ns per run; %d samples of the target: %.0f ns per target sample (other runs at %.0f ns)\n",
				runs, ns / runs, s, (ns - other * per_other) / (s ? s : 1), per_other }'
	done
	grep -E "^unwind (stacks|reached_stop|null_end|depth_limit|read_fault|bad_rule|frames_table|frames_fp|fp_)" "$OUT/$name.dwarf.err" | tr -s ' ' | paste -sd ' '
}

target chain ./chain
target chain-read ./chain read
target chain-thread ./chain thread
# the handler starts after 1 s: target() waits 0.5 s, so wait 1 s more first
WAIT=1.5 target chain-signal ./chain signal
target python3.11 /usr/bin/python3.11 -c 'while True: pass'
