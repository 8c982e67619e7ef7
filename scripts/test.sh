#!/usr/bin/env bash
# Sets up a Debian/Ubuntu machine and runs every test (as root: the tests load
# BPF programs and sample real processes). Usage: sudo scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/test.sh: the tests load BPF programs: run as root (sudo scripts/test.sh)" >&2
  exit 1
fi
./scripts/setup.sh
make build
PROFILER_AGENT="$PWD/.build/release/profiler-agent" FIXTURES="$PWD/.build/fixtures" swift test
