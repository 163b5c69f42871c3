#!/usr/bin/env bash
# Builds the small initramfs the test VM boots: static busybox, the
# modules for 9p over virtio, and an init that mounts the host's root
# (shared read-only over 9p) and runs a guest script from it in a chroot.
#
#   mkinitrd.sh KERNEL_VERSION OUTPUT [MODROOT]   (see initrd-common.sh)
set -euo pipefail

kver="$1"
out="$2"
source "$(dirname "$0")/initrd-common.sh"

work="$(initrd_workdir "$kver" mnt)"
trap 'rm -rf "$work"' EXIT
copy_modules "$kver" "$work/modules" virtio_pci 9pnet_virtio 9p

{ init_prologue; cat <<'INIT'
status=1
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host /mnt; then
    # A kernel not the host's: its modules, where modprobe looks for them.
    [ -z "$modules" ] || mount --bind "/mnt$modules" /mnt/lib/modules
    mount -t proc proc /mnt/proc
    mount -t sysfs sys /mnt/sys
    mount -t devtmpfs dev /mnt/dev
    mount -t tmpfs run /mnt/run
    # The host's /tmp stays reachable as /run/host-tmp (a test's files
    # usually live there), under the guest's own writable /tmp.
    mkdir -p /mnt/run/host-tmp
    mount --bind /mnt/tmp /mnt/run/host-tmp
    mount -t tmpfs tmp /mnt/tmp
    case "$script" in /tmp/*) script="/run/host-tmp/${script#/tmp/}" ;; esac
    # The guest script's scratch space: a tmpfs big enough for images.
    mount -t tmpfs -o size=768m scratch /mnt/mnt
    chroot /mnt /bin/sh -c "cd /tmp && PATH=/usr/sbin:/usr/bin:/sbin:/bin bash '$script'"
    status=$?
else
    echo "init: cannot mount the host root over 9p"
fi
echo "BLOCKKIT-VM-EXIT=$status"
sync
poweroff -f
INIT
} > "$work/init"
chmod +x "$work/init"

(cd "$work" && find . | cpio -o -H newc --quiet) | gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"
