#!/usr/bin/env bash
# Installs what `make bench` compares the agent with (Debian/Ubuntu): perf,
# bpftrace, libbpf-tools (syscount), llvm-symbolizer; plus the test setup.
set -euo pipefail
"$(dirname "$0")/../scripts/setup.sh"
packages=(linux-perf bpftrace libbpf-tools llvm)
grep -qi ubuntu /etc/os-release 2>/dev/null && packages=("${packages[@]/linux-perf/linux-tools-common}")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v llvm-symbolizer >/dev/null && missing=("${missing[@]/llvm}")
read -r -a missing <<<"${missing[*]}"
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "bench/setup.sh: benchmark tools present"
