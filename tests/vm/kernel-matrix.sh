#!/usr/bin/env bash
# The real-BPF guest suite (tests/vm/matrix.py) on several kernels: Debian's kernels booted
# under QEMU (TCG) with the host's root shared read-only over 9p, and the host's own kernel.
# Prints a table kernel × feature and writes it as markdown to .build/kernel-matrix/report.md.
#
#   make kernel-matrix                  # the CI suite on Debian 5.10, 6.1, 6.12 and the host kernel
#   make kernel-matrix FULL=1           # the larger suite (longer records, more lookups)
#   KERNELS="linux-image-6.1.0-47-amd64" tests/vm/kernel-matrix.sh   # other Debian kernel packages
#   UPDATE_DOCS=1 ...                   # also rewrite docs/kernel-matrix.md and README's table
#
# Kernels are fetched with `apt-get download` and unpacked with `dpkg-deb -x` under
# .build/kernel-matrix/ (nothing is installed on the host). Guests have no network device:
# only loopback. Exits non-zero when a check fails or when QEMU or a kernel cannot be had.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "kernel-matrix: the host row loads BPF programs: run as root" >&2; exit 1; }
  exec sudo --preserve-env=AGENT,FIXTURES,KERNELS,FULL,HOST_ROW,UPDATE_DOCS,GUEST_TIMEOUT "$0" "$@"
fi

AGENT="$(realpath -m "${AGENT:-.build/release/profiler-agent}")"
FIXTURES="$(realpath -m "${FIXTURES:-.build/fixtures}")"
# Meta-packages are resolved to the kernel image they depend on (the newest of that series).
# linux-image-amd64: Debian 12's 6.1; linux-image-6.12-amd64: its 6.12 (bookworm-security).
# bullseye:linux-image-amd64: Debian 11's 5.10 (bullseye-security), the oldest kernel supported.
FULL="${FULL:-0}"
KERNELS="${KERNELS:-bullseye:linux-image-amd64 linux-image-amd64 linux-image-6.12-amd64}"
HOST_ROW="${HOST_ROW:-1}"
GUEST_TIMEOUT="${GUEST_TIMEOUT:-420}"
CACHE="$ROOT/.build/kernel-matrix"
RUN="$CACHE/run"
# Loaded in this order (each after what it depends on) unless built in.
MODULES="virtio_pci 9pnet_virtio 9p virtio_blk"
# Put in the initramfs but not loaded at boot: the suite inserts it (a module loaded after the agent started).
LATE_MODULES="dummy"

fail() { echo "kernel-matrix: $*" >&2; exit 1; }

command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 is missing (apt-get install qemu-system-x86; scripts/setup.sh installs it)"
BUSYBOX="$(command -v busybox || true)"
[ -n "$BUSYBOX" ] || fail "busybox is missing (apt-get install busybox-static; scripts/setup.sh installs it)"
if readelf -l "$BUSYBOX" | grep -q 'program interpreter'; then
  fail "$BUSYBOX is not statically linked (apt-get install busybox-static)"
fi
for tool in apt-get apt-cache dpkg-deb readelf /usr/bin/python3 bpftool openssl unshare xz; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/setup.sh installs what the matrix needs)"
done
[ -x "$AGENT" ] || fail "no agent at $AGENT: run 'make build' first (or set AGENT=)"
[ -x "$FIXTURES/cpu_split" ] && [ -x "$FIXTURES/dns_lookup" ] || fail "no fixtures in $FIXTURES: run 'make build' first (or set FIXTURES=)"
[ "$(uname -m)" = x86_64 ] || fail "the QEMU rows boot amd64 kernels: this host is $(uname -m)"

mkdir -p "$CACHE/debs" "$CACHE/kernels"
rm -rf "$RUN" && mkdir -p "$RUN"

# A kernel is PACKAGE (from the host's apt sources) or SUITE:PACKAGE, from Debian's SUITE-security
# archive through an apt configuration of its own under $CACHE/apt-SUITE (the host's is untouched).
apt_options() {
  local suite="$1"
  [ -n "$suite" ] || return 0
  local dir="$CACHE/apt-$suite"
  echo "-o Dir::Etc::sourcelist=$dir/sources.list -o Dir::Etc::sourceparts=- -o Dir::State::Lists=$dir/lists -o Dir::Cache=$dir/cache"
}
apt_suite() {
  local suite="$1" dir="$CACHE/apt-$1"
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security $suite-security main" >"$dir/sources.list"
  # shellcheck disable=SC2046
  apt-get -qq -o APT::Sandbox::User=root $(apt_options "$suite") update >&2 \
    || fail "cannot read Debian's $suite-security package index (apt-get update)"
}

# Name of the kernel image package PACKAGE stands for (a meta-package: its dependency).
resolve() {
  local suite="$1" package="$2" dep
  # shellcheck disable=SC2046
  dep="$(apt-cache $(apt_options "$suite") depends "$package" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
  echo "${dep:-$package}"
}

# Downloads and unpacks PACKAGE into $CACHE/kernels/PACKAGE (once); prints that directory.
fetch_kernel() {
  local suite="$1" package="$2" dir="$CACHE/kernels/$2"
  if [ ! -f "$dir/.unpacked" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    # shellcheck disable=SC2046
    (cd "$CACHE/debs" && rm -f "${package}"_*.deb && apt-get -q -o APT::Sandbox::User=root $(apt_options "$suite") download "$package" >&2) \
      || fail "cannot download $package with apt-get (is it in the apt sources? try apt-get update)"
    dpkg-deb -x "$CACHE/debs/${package}"_*.deb "$dir"
    touch "$dir/.unpacked"
  fi
  echo "$dir"
}

# Writes the initramfs for the kernel unpacked in DIR (release RELEASE) to OUT.
build_initramfs() {
  local dir="$1" release="$2" out="$3" results="$4"
  local moddir="$dir/lib/modules/$release" work
  work="$(mktemp -d)"
  mkdir -p "$work"/{bin,dev,proc,sys,newroot,modules,keep}
  cp "$BUSYBOX" "$work/bin/busybox"
  local order=() seen=" "
  add_module() {  # NAME: its dependencies first, then itself
    local name="$1" path dep
    [[ "$seen" == *" $name "* ]] && return 0
    seen+="$name "
    path="$(find "$moddir/kernel" -name "$name.ko*" -o -name "${name//_/-}.ko*" | head -1)"
    if [ -z "$path" ]; then
      grep -qE "/$name\.ko$" "$moddir/modules.builtin" || fail "$release has no module $name and does not build it in"
      return 0
    fi
    case "$path" in
      *.ko.xz) xz -dc "$path" >"$work/modules/$name.ko" ;;
      *.ko.zst) zstd -qdc "$path" >"$work/modules/$name.ko" ;;
      *.ko.gz) gzip -dc "$path" >"$work/modules/$name.ko" ;;
      *) cp "$path" "$work/modules/$name.ko" ;;
    esac
    # The package has no modules.dep (depmod makes it on install): read the module's own list.
    for dep in $(tr '\0' '\n' <"$work/modules/$name.ko" | sed -n 's/^depends=//p' | tr , ' '); do
      add_module "$(echo "$dep" | tr - _)"
    done
    order+=("$name")
  }
  for m in $MODULES; do add_module "$m"; done
  local boot=("${order[@]}")
  for m in $LATE_MODULES; do add_module "$m"; done
  order=("${boot[@]}")
  cp "$ROOT/tests/vm/guest-init.sh" "$work/init"
  chmod +x "$work/init"
  {
    echo "MODULES='${order[*]}'"
    echo "RESULTS='$results'"
    echo "REPO='$ROOT'"
    printf 'SUITE=%q\n' "/usr/bin/python3 $ROOT/tests/vm/matrix.py suite --results $results --agent $AGENT --fixtures $FIXTURES --repo $ROOT --full $FULL --guest"
  } >"$work/config"
  (cd "$work" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1) >"$out"
  rm -rf "$work"
}

rows=()
status=0
for requested in $KERNELS; do
  suite=""
  case "$requested" in *:*) suite="${requested%%:*}"; requested="${requested#*:}"; apt_suite "$suite" ;; esac
  package="$(resolve "$suite" "$requested")"
  echo "kernel-matrix: ${suite:+$suite:}$requested → $package"
  dir="$(fetch_kernel "$suite" "$package")"
  vmlinuz="$(ls "$dir"/boot/vmlinuz-* 2>/dev/null | head -1)"
  [ -n "$vmlinuz" ] || fail "$package has no /boot/vmlinuz-*"
  release="${vmlinuz##*/vmlinuz-}"
  results="$RUN/$release"
  mkdir -p "$results"
  build_initramfs "$dir" "$release" "$results/initramfs.gz" "$results"
  truncate -s 16M "$results/disk.img"  # a scratch disk for the block I/O check (/dev/vda in the guest)
  echo "kernel-matrix: booting $release under QEMU (TCG, 2 vCPUs; console in $results/console.log)"
  start=$(date +%s)
  # -nodefaults -nic none: no network device (only the guest's loopback). The guest's clock is the
  # HPET (clocksource=tsc under TCG was tried: time then runs unevenly, an 80 ms DNS delay measured 53 ms).
  timeout "$GUEST_TIMEOUT" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 2048 \
    -nodefaults -nic none -display none -no-reboot -serial "file:$results/console.log" \
    -kernel "$vmlinuz" -initrd "$results/initramfs.gz" -append "console=ttyS0 panic=-1 loglevel=4" \
    -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
    -virtfs "local,path=$results,mount_tag=results,security_model=none" \
    -drive "file=$results/disk.img,if=virtio,format=raw" \
    || echo "kernel-matrix: QEMU for $release ended with status $? (124: timed out after ${GUEST_TIMEOUT}s)" >&2
  echo "$(( $(date +%s) - start ))" >"$results/seconds"
  if [ ! -f "$results/results.json" ]; then
    echo "kernel-matrix: $release wrote no results; the end of its console:" >&2
    tail -n 30 "$results/console.log" >&2 || true
  fi
  rm -f "$results/disk.img" "$results/initramfs.gz"
  rows+=("$results")
done

if [ "$HOST_ROW" = 1 ]; then
  results="$RUN/host-$(uname -r)"
  mkdir -p "$results"
  echo "kernel-matrix: the same suite on this host's kernel $(uname -r) (not in QEMU)"
  start=$(date +%s)
  /usr/bin/python3 tests/vm/matrix.py suite --results "$results" --agent "$AGENT" --fixtures "$FIXTURES" --repo "$ROOT" --full "$FULL" \
    || true
  echo "$(( $(date +%s) - start ))" >"$results/seconds"
  rows+=("$results")
fi

/usr/bin/python3 tests/vm/matrix.py report --markdown "$CACHE/report.md" --commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --agent "$AGENT" "${rows[@]}" || status=1
if [ "${UPDATE_DOCS:-0}" = 1 ]; then
  /usr/bin/python3 tests/vm/matrix.py docs --markdown "$CACHE/report.md" --readme README.md --out docs/kernel-matrix.md
fi
exit "$status"
