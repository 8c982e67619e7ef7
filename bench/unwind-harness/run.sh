#!/bin/bash
# Harness for the table unwinder (bpf/unwind.bpf.h), as root, after `make bpf`:
#   bench/unwind-harness/run.sh [SECONDS] [FREQ]
# For the gcc -O2 -fomit-frame-pointer chain (in its chain, read, thread,
# signal, sleep (off-CPU) and dns (call-site) modes) and Debian's python3.11
# loop: fills the maps from readelf (tables.py), samples with unwinder = dwarf
# and = fp, symbolises, compares with gdb's bt, and prints the BPF run time
# per sample (kernel.bpf_stats_enabled=1) of both. The perf event follows the
# target (PER_TASK=1), so that the program runs for the target's samples only.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_=${1:-5}
FREQ=${2:-499}
OUT=${OUT:-/tmp/unwind-harness}
mkdir -p "$OUT"
make -s all
sysctl -qw kernel.bpf_stats_enabled=1

export PER_TASK=1

target() { # name command...
	local name=$1; shift
	"$@" & local pid=$!
	sleep ${WAIT:-0.5}
	cp "/proc/$pid/maps" "$OUT/$name.maps"
	python3 tables.py "$pid" "$OUT/$name.tab" 2> "$OUT/$name.tables"
	gdb -batch ${GDB_THREAD:+-ex "thread $GDB_THREAD"} -ex bt -p "$pid" > "$OUT/$name.gdb" 2>/dev/null || true
	local modes=${MODES:-dwarf fp}
	for mode in $modes; do
		./harness "$mode" "$pid" "$OUT/$name.tab" "$SECONDS_" "$FREQ" > "$OUT/$name.$mode" 2> "$OUT/$name.$mode.err"
	done
	kill "$pid"; wait "$pid" 2>/dev/null || true
	echo "=== $name: $(tail -1 "$OUT/$name.tables")"
	for mode in $modes; do
		echo "--- unwinder = $mode"
		python3 symbolize.py "$OUT/$name.maps" "$OUT/$name.$mode" 1 $([ $mode = dwarf ] && echo "$OUT/$name.gdb")
		grep "^bpf:" "$OUT/$name.$mode.err" || true
		{ grep -E "^unwind " "$OUT/$name.$mode.err" || true; } | awk '$3 != 0 {print $2 "=" $3}' | paste -sd ' ' |
			awk '{print} match($0, /walk_ns=[0-9]+/) { w = substr($0, RSTART + 8, RLENGTH - 8);
				match($0, /stacks=[0-9]+/); n = substr($0, RSTART + 7, RLENGTH - 7); if (n) printf "walk: %d ns per stack\n", w / n }'
	done
}

target chain ./chain
target chain-read ./chain read
GDB_THREAD=2 target chain-thread ./chain thread
WAIT=1.5 target chain-signal ./chain signal # the handler starts after 1 s
MODES=dwarf target chain-deep ./chain deep # 200 + 8 frames: cut at 127, flagged truncated
MODES=offcpu target chain-sleep ./chain sleep
MODES=callsite target chain-dns ./chain dns
target python3.11 /usr/bin/python3.11 -c 'while True: pass'
