#!/bin/busybox sh
# /init of the matrix's initramfs: loads the 9p modules, mounts the host's root
# read-only and the results directory writable, brings up loopback (the only
# network there is), runs the guest suite from the host's root, powers off.
/bin/busybox --install -s /bin
export PATH=/bin
. /config
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $MODULES; do insmod "/modules/$m.ko" || echo "init: insmod $m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host /newroot || { echo "init: cannot mount the host root"; echo o >/proc/sysrq-trigger; }
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mount -t bpf bpf /newroot/sys/fs/bpf
mount -t tmpfs tmpfs /newroot/sys/fs/cgroup && mkdir /newroot/sys/fs/cgroup/unified && mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup/unified
mkdir -p /newroot/dev/shm
# The guest's own /tmp, /run, /dev/shm, /root are tmpfs; a checkout (or results) under one of them
# would vanish under it, so the checkout is kept through a bind mount and the results mounted after.
mount -o bind "/newroot$REPO" /keep || echo "init: cannot keep the checkout $REPO"
for d in /tmp /run /dev/shm /root; do mount -t tmpfs tmpfs "/newroot$d"; done
[ -d "/newroot$REPO/tests/vm" ] || { mkdir -p "/newroot$REPO" && mount -o bind /keep "/newroot$REPO"; } || echo "init: cannot remount the checkout"
mkdir -p "/newroot$RESULTS" 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results "/newroot$RESULTS" || echo "init: cannot mount the results directory"
# The module the suite inserts itself (not loaded above): where the suite can reach it.
[ -f /modules/dummy.ko ] && cp /modules/dummy.ko "/newroot$RESULTS/dummy.ko"
ip link set lo up
hostname kernel-matrix
echo "init: $(uname -r) up after $(cut -d" " -f1 /proc/uptime) s, running the suite"
chroot /newroot /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 $SUITE \
  >"/newroot$RESULTS/suite.log" 2>&1
rc=$?
echo "init: suite finished with status $rc at $(cut -d" " -f1 /proc/uptime) s"
sync
echo o >/proc/sysrq-trigger
sleep 10
