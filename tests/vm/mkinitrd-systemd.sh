#!/usr/bin/env bash
# Builds the initramfs for tests/vm/run-guest-systemd: like mkinitrd.sh
# (static busybox, the modules for 9p over virtio) plus overlayfs, and an
# init that boots systemd, not a chroot, as the guest's init:
#
#   - the host's root, shared read-only over 9p, is the lower layer of an
#     overlay whose upper layer is a tmpfs: a writable root that forgets
#     everything at power-off and never touches the host;
#   - /tmp is a fresh tmpfs (the host's /tmp stays reachable as
#     /run/host-tmp), /mnt a 768M tmpfs for the guest script's images;
#   - a unit, blockkit-guest.service, runs the guest script (the kernel
#     parameter blockkit.script=PATH) once the system is up, with its
#     output on the serial console, prints BLOCKKIT-VM-EXIT=STATUS and
#     powers the machine off; the boot target, blockkit-guest.target,
#     pulls in only basic.target and that unit;
#   - services of the host that make no sense in the VM are masked;
#   - then `switch_root` into the overlay with /lib/systemd/systemd.
#
#   mkinitrd-systemd.sh KERNEL_VERSION OUTPUT [MODROOT]   (see initrd-common.sh)
set -euo pipefail

kver="$1"
out="$2"
source "$(dirname "$0")/initrd-common.sh"

work="$(initrd_workdir "$kver" lower rw newroot)"
trap 'rm -rf "$work"' EXIT
copy_modules "$kver" "$work/modules" virtio_pci 9pnet_virtio 9p overlay

{ init_prologue; cat <<'INIT'

fail () {
    echo "init: $*"
    echo "BLOCKKIT-VM-EXIT=1"
    sync
    poweroff -f
}

mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro host /lower ||
    fail "cannot mount the host root over 9p"
mount -t tmpfs -o size=512m,mode=0755 rw /rw || fail "tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work \
    root /newroot || fail "cannot mount the overlay root"
R=/newroot
# A kernel not the host's: its modules, where modprobe looks for them.
[ -z "$modules" ] || mount --bind "/lower$modules" $R/lib/modules ||
    fail "cannot mount $modules over /lib/modules"

mount -t tmpfs -o mode=0755 run $R/run
mkdir -p $R/run/host-tmp
mount --bind /lower/tmp $R/run/host-tmp
mount -t tmpfs -o mode=1777 tmp $R/tmp
mount -t tmpfs -o size=768m scratch $R/mnt
case "$script" in /tmp/*) script="/run/host-tmp/${script#/tmp/}" ;; esac

# The unit that runs the guest script and powers off.
E=$R/etc/systemd/system
mkdir -p $E
cat > $E/blockkit-guest.target <<EOF
[Unit]
Description=blockkit test VM: the guest script
Requires=basic.target blockkit-guest.service
After=basic.target blockkit-guest.service
AllowIsolate=yes
EOF
cat > $E/blockkit-guest.service <<EOF
[Unit]
Description=blockkit test VM: guest script $script
After=basic.target systemd-udev-trigger.service
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
Environment=PATH=/usr/sbin:/usr/bin:/sbin:/bin
WorkingDirectory=/tmp
ExecStart=/bin/bash -c 'bash "\$0"; s=\$?; sync; echo "BLOCKKIT-VM-EXIT=\$s"' '$script'
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
TTYReset=no
TTYVHangup=no
TimeoutStartSec=infinity
EOF
# The host's services that have no business in the test VM.
for u in apparmor.service systemd-timesyncd.service systemd-pstore.service \
         systemd-firstboot.service systemd-repart.service \
         serial-getty@ttyS0.service getty@tty1.service \
         e2scrub_reap.service e2scrub_all.timer fstrim.timer \
         apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
         man-db.timer postgresql.service; do
    ln -sf /dev/null $E/$u
done
# Not a container (the host may be one: systemd would think so too).
rm -f $R/.dockerenv $R/run/.containerenv
# A machine id of its own (the host's is in the lower layer).
cat /proc/sys/kernel/random/uuid | tr -d '-' > $R/etc/machine-id

[ -x $R/lib/systemd/systemd ] || fail "no /lib/systemd/systemd on the host (install systemd)"
mount --move /dev $R/dev
mount --move /proc $R/proc
mount --move /sys $R/sys
exec switch_root $R /lib/systemd/systemd --unit=blockkit-guest.target
INIT
} > "$work/init"
chmod +x "$work/init"

(cd "$work" && find . | cpio -o -H newc --quiet) | gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"
