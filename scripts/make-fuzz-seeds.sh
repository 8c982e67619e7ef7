#!/usr/bin/env bash
# Regenerates the seed inputs of Tests/Corpus (committed; run by hand when a parser
# learns a new format). Crash inputs found by `make fuzz` sit next to them as crash-*.
set -euo pipefail
cd "$(dirname "$0")/.."
C=Tests/Corpus
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cat > "$work/seed.c" <<'SRC'
#include <netdb.h>
__attribute__((noinline)) int leaf(int x) { return x * 3; }
__attribute__((noinline)) int caller(int x) { return leaf(x) + 1; }
int exported_data = 7;
int main(int argc, char **argv) { (void)argv; struct addrinfo *r; if (argc > 5) getaddrinfo("x", 0, 0, &r); return caller(argc); }
SRC
small="-Os -Wl,--build-id"
clang $small -o "$work/exe" "$work/seed.c"
clang $small -fPIC -shared -o "$work/lib.so" "$work/seed.c"
clang $small -no-pie -fno-pie -o "$work/nopie" "$work/seed.c"
strip -o "$work/stripped" "$work/exe"
objcopy --only-keep-debug "$work/exe" "$work/exe.debug"
objcopy --strip-debug --add-gnu-debuglink="$work/exe.debug" "$work/exe" "$work/debuglink"
for f in exe lib.so nopie stripped debuglink; do cp "$work/$f" "$C/elf/seed-$f"; done
head -c 200 "$work/exe" > "$C/elf/seed-truncated-header"

cat > "$C/procfs/seed-maps" <<'SRC'
55d0c0a00000-55d0c0a01000 r--p 00000000 08:02 1311 /usr/bin/app
55d0c0a01000-55d0c0a02000 r-xp 00001000 08:02 1311 /usr/bin/app
7f3a2c000000-7f3a2c200000 r-xp 00028000 08:02 99   /usr/lib/x86_64-linux-gnu/libc.so.6
7f3a2c400000-7f3a2c401000 r-xp 00000000 00:00 0    [vdso]
7f3a2c500000-7f3a2c600000 r-xp 00002000 08:02 77   /opt/lib/libx.so (deleted)
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0    [stack]
SRC
cat > "$C/procfs/seed-kallsyms" <<'SRC'
ffffffff81000000 T _stext
ffffffff81001000 T do_syscall_64
ffffffff81002000 t helper_function
ffffffffc0000000 t bpf_prog_6deef7357e7b4530_profile	[bpf]
ffffffffc0100000 t ext4_file_read_iter	[ext4]
SRC
printf '0000000000000000 T zero\n' > "$C/procfs/seed-kallsyms-hidden"

id=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
printf '0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_4e5f_6789_abcd_ef0123456789.slice/cri-containerd-%s.scope\n' $id > "$C/cgroup/seed-systemd-v2"
printf '12:memory:/kubepods/burstable/pod0a1b2c3d-4e5f-6789-abcd-ef0123456789/%s\n11:cpu:/\n1:name=systemd:/docker/%s\n0::/\n' $id $id > "$C/cgroup/seed-cgroupfs-v1"
printf '0::/system.slice/docker-%s.scope\n' $id > "$C/cgroup/seed-docker"
printf '0::/machine.slice/crio-%s.scope\n' $id > "$C/cgroup/seed-crio"

printf 'seconds=10&pid=1,2&pid=3' > "$C/query/seed-profile"
printf 'span_id=00000000deadbeef&format=folded' > "$C/query/seed-span"
printf 'type=dns&limit=20&seconds=3600' > "$C/query/seed-events"
printf 'name=a+b%%20c%%2B&bad=%%zz%%4&empty&=x' > "$C/query/seed-escapes"

# unwind: a selector byte (0 .eh_frame, 1 .debug_frame; see FuzzTarget.unwind) and a real
# section, and whole ELF files with FDEs (a gcc -O2 -fomit-frame-pointer build of the
# unwind fixture: PLT, DRAP, alloca frames). Each at most 64 KiB.
mkdir -p "$C/unwind"
gcc -O2 -fomit-frame-pointer -fasynchronous-unwind-tables -Wl,--build-id -o "$work/unwind" Fixtures/unwind_target.c
gcc -O2 -g -fomit-frame-pointer -fno-asynchronous-unwind-tables -fno-unwind-tables -o "$work/unwind_df" Fixtures/unwind_target.c
section() {  # section FILE NAME SELECTOR OUT: the selector byte, then the section's bytes (first 64 KiB - 1, cut at an entry)
  objcopy --dump-section "$2=$work/section" "$1" "$work/dumped.o"
  python3 - "$work/section" "$3" "$4" <<'PY'
import struct, sys
data = open(sys.argv[1], 'rb').read(); at = 0
while at + 4 <= len(data):
    length = struct.unpack_from('<I', data, at)[0]
    if at + 4 + length > 65535: break
    at += 4 + length
open(sys.argv[3], 'wb').write(bytes([int(sys.argv[2])]) + data[:at])
PY
}
section "$work/unwind" .eh_frame 0 "$C/unwind/seed-fixture-eh_frame"
section "$work/unwind_df" .debug_frame 1 "$C/unwind/seed-fixture-debug_frame"
section /usr/lib/x86_64-linux-gnu/libc.so.6 .eh_frame 0 "$C/unwind/seed-libc-eh_frame"
section /usr/bin/python3.11 .eh_frame 0 "$C/unwind/seed-python3.11-eh_frame"
cp "$work/unwind" "$C/unwind/seed-fixture-elf"
# Without section headers: .eh_frame only through PT_GNU_EH_FRAME.
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[40:48] = bytes(8); b[60:64] = bytes(4); open(sys.argv[2], "wb").write(b)' \
  "$work/unwind" "$C/unwind/seed-fixture-elf-no-sections"
