#!/usr/bin/env bash
# Sets up a Debian/Ubuntu machine and runs every test (as root: the tests load
# BPF programs and sample real processes). Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# The tests load BPF programs: as root (a root shell, e.g. CI or a container, has no sudo).
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "scripts/test.sh: the tests load BPF programs: run as root" >&2; exit 1; }
  exec sudo "$0" "$@"
fi
./scripts/setup.sh
make build
PROFILER_AGENT="$PWD/.build/release/profiler-agent" FIXTURES="$PWD/.build/fixtures" swift test
