#!/bin/bash
# Runs `verify` (every unwinder object, fp and dwarf, through the verifier) on
# Debian kernels in QEMU (TCG: this host's KVM does not boot stock kernels).
# The static `verify` binary and busybox are the whole initramfs: no 9p root.
#   bench/unwind-harness/qemu-verify.sh [PACKAGE...]
# default packages: linux-image-6.1.0-47-amd64 linux-image-6.12.111+deb12-amd64-unsigned
set -euo pipefail
cd "$(dirname "$0")"
make -s verify
WORK=${WORK:-/tmp/unwind-qemu}
mkdir -p "$WORK/initrd/bin" "$WORK/initrd/proc" "$WORK/initrd/sys" "$WORK/initrd/dev"
cp /bin/busybox verify "$WORK/initrd/bin/"
cat > "$WORK/initrd/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/verify
echo o > /proc/sysrq-trigger
/bin/busybox sleep 5
INIT
chmod +x "$WORK/initrd/init"
(cd "$WORK/initrd" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 > ../initrd.gz)
status=0
for pkg in "${@:-linux-image-6.1.0-47-amd64 linux-image-6.12.111+deb12-amd64-unsigned}"; do
	for p in $pkg; do
		[ -d "$WORK/$p" ] || (cd "$WORK" && apt-get download -q "$p" >/dev/null 2>&1 && dpkg-deb -x "$p"_*.deb "$p")
		kernel=$(ls "$WORK/$p"/boot/vmlinuz-*)
		out=$(timeout 600 qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 1 -m 1024 -nographic -no-reboot \
			-kernel "$kernel" -initrd "$WORK/initrd.gz" -append "console=ttyS0 quiet panic=-1 rdinit=/init" 2>&1 |
			grep -E "^(kernel |profile|offcpu|dns |tls |VERIFIER|libbpf)" || true)
		echo "$out"
		grep -q "VERIFIER: ALL OK" <<< "$out" || status=1
	done
done
exit $status
