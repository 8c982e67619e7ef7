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
