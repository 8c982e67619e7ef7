#!/usr/bin/env bash
# Installs what profiler-agent needs to build, run and test on Debian/Ubuntu.
# Idempotent: installs only what is missing. Swift itself (6.x) comes from swift.org.
set -euo pipefail

packages=(
  libbpf-dev libelf-dev zlib1g-dev   # libbpf and what it links
  liblzma-dev                        # MiniDebugInfo (.gnu_debugdata) is xz-compressed
  bpftool                            # skeleton generation
  clang llvm                         # BPF compiler; llvm-symbolizer for tests
  binutils                           # readelf, objcopy, strip, nm (fixtures, tests)
  golang-go                          # `go tool pprof` reads our profiles; the stripped-Go fixture and `go tool addr2line`
  prometheus                         # promtool / prometheus check our /metrics in tests
  chromium                           # headless browser renders the flamegraph page in tests
  curl python3                       # HTTP client and the stand-in Pyroscope receiver in tests
  make util-linux procps             # setpriv (unprivileged and capability tests), ps
  openssl python3-venv               # TLS test server; the virtualenv below
  qemu-system-x86 busybox-static     # the kernel matrix boots other kernels (tests/vm/)
  xz-utils                           # … and unpacks their xz-compressed modules
  gdb linux-perf                     # the references stacks are compared with in tests
  nodejs openjdk-17-jdk-headless     # the JIT fixtures (perf maps) in tests
  rustc                              # Debian's rustc builds the Rust-names fixture (legacy and v0 mangling)
)
if ! grep -qiE 'debian|ubuntu' /etc/os-release 2>/dev/null; then
  echo "setup.sh: this script installs with apt (Debian/Ubuntu); install the equivalents of: ${packages[*]}" >&2
fi
# Ubuntu ships bpftool in linux-tools; Debian as bpftool.
if grep -qi ubuntu /etc/os-release 2>/dev/null; then
  packages=("${packages[@]/bpftool/linux-tools-common}")
  packages=("${packages[@]/linux-perf/}")  # perf is in linux-tools-common and linux-tools-$(uname -r)
  packages+=("linux-tools-$(uname -r)")
fi

missing=()
for p in "${packages[@]}"; do
  [ -n "$p" ] || continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The Swift toolchain brings its own clang and llvm-symbolizer; do not require Debian's then.
if command -v clang >/dev/null && clang -print-targets 2>/dev/null | grep -q bpf; then
  missing=("${missing[@]/clang}")
fi
command -v llvm-symbolizer >/dev/null && missing=("${missing[@]/llvm}")
read -r -a missing <<<"${missing[*]}"

if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup.sh: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# kubernetes-validate (PyPI) checks deploy/'s manifests in the tests; kept in .build/venv.
venv="$(dirname "$0")/../.build/venv"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  echo "setup.sh: installing kubernetes-validate into .build/venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q kubernetes-validate==1.37.0
fi
# py-spy (PyPI) is the reference the Python-frame tests compare the agent's stacks with.
if [ ! -x "$venv/bin/py-spy" ]; then
  echo "setup.sh: installing py-spy into .build/venv"
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q py-spy==0.4.3
fi

command -v swift >/dev/null || { echo "setup.sh: Swift 6 is required (https://www.swift.org/install/linux/)" >&2; exit 1; }
echo "setup.sh: dependencies present"
