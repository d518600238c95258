#!/bin/busybox sh
# PID 1 of the test guest. Stage 1 (initramfs): load the 9p/overlay modules, build the root as
# overlay(host / read-only, tmpfs), mount the kernel filesystems the tests expect (cgroup2 at
# /sys/fs/cgroup, securityfs), then switch_root into stage 2, which runs the command.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
fail() { echo "ISO-VM-INIT: $*" > /dev/ttyS0; [ -d /ctl ] && echo "$*" > /ctl/init-error; poweroff -f; }
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m.ko || fail "insmod $m"; done
p9="trans=virtio,version=9p2000.L,msize=524288"
mount -t 9p -o $p9 ctl /ctl || fail "mount ctl"
. /ctl/config
. /moddir
mount -t 9p -o $p9,cache=loose,ro hostroot /lower || fail "mount host root"
mount -t tmpfs -o mode=755 tmpfs /upper
mkdir -p /upper/data /upper/work
mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work overlay /newroot || fail "mount overlay"
R=/newroot
kv=$(uname -r)
mkdir -p $R/lib/modules/$kv
[ -d /lower$MODDIR ] && mount --bind /lower$MODDIR $R/lib/modules/$kv
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm $R/dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm
mount -t mqueue mqueue $R/dev/mqueue
mount -t tmpfs -o mode=755 tmpfs $R/run
mount -t tmpfs -o mode=1777 tmpfs $R/tmp
mount -t cgroup2 -o nsdelegate cgroup2 $R/sys/fs/cgroup || fail "mount cgroup2"
mount -t securityfs securityfs $R/sys/kernel/security
mkdir -p $R/run/vm/ctl "$R$SHARE"
mount --move /ctl $R/run/vm/ctl
mount -t 9p -o $p9 share "$R$SHARE" || fail "mount share"
cp /bin/busybox $R/run/vm/busybox
mkdir -p $R/run/vm/bin
for a in modprobe lsmod rmmod depmod; do ln -s ../busybox $R/run/vm/bin/$a; done
echo /run/vm/bin/modprobe > /proc/sys/kernel/modprobe
cat > $R/run/vm/stage2 <<'EOS'
B=/run/vm/busybox
C=/run/vm/ctl
. $C/config
$B mount --make-rshared /
for c in $($B cat /sys/fs/cgroup/cgroup.controllers); do echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control; done
$B hostname iso-vm
$B ip link set lo up
cd "$SHARE"
/usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/run/vm/bin \
  HOME=/root LANG=C.UTF-8 ISO_IN_VM=1 /bin/bash $C/cmd.sh </dev/null >$C/stdout 2>$C/stderr
echo $? > $C/rc.tmp
$B sync
$B mv $C/rc.tmp $C/rc
$B poweroff -f
EOS
exec switch_root $R /run/vm/busybox sh /run/vm/stage2
