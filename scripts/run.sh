#!/usr/bin/env bash
# Sets up a Debian/Ubuntu machine, builds the agent and records a 10 s CPU
# profile of every process into cpu.pb.gz, then prints its top functions.
# Usage: scripts/run.sh [record options…]   (e.g. --duration 30 --pid 1234)
set -euo pipefail
cd "$(dirname "$0")/.."
# Profiling loads BPF programs: as root (a root shell, e.g. CI or a container, has no sudo).
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "scripts/run.sh: profiling loads BPF programs: run as root" >&2; exit 1; }
  exec sudo "$0" "$@"
fi
./scripts/setup.sh
make build
.build/release/profiler-agent record --output cpu.pb.gz "$@"
go tool pprof -top -nodecount=25 cpu.pb.gz
