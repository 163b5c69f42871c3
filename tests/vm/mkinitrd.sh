#!/usr/bin/env bash
# Builds the small initramfs the test VM boots: static busybox, the
# modules for 9p over virtio, and an init that mounts the host's root
# (shared read-only over 9p) and runs a guest script from it in a chroot.
#
#   mkinitrd.sh KERNEL_VERSION OUTPUT
set -euo pipefail

kver="$1"
out="$2"
moddir="/lib/modules/$kver"

[[ -x /bin/busybox ]] || { echo "mkinitrd: /bin/busybox missing (busybox-static)"; exit 1; }
[[ -d "$moddir" ]] || { echo "mkinitrd: $moddir missing (linux-image-amd64)"; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{bin,dev,proc,sys,mnt,modules}
cp /bin/busybox "$work/bin/busybox"

# Modules in dependency order, as modprobe would load them.
modlist=()
for m in virtio_pci 9pnet_virtio 9p; do
    while read -r cmd path _; do
        [[ "$cmd" == insmod ]] || continue
        name="$(basename "$path")"
        if [[ ! " ${modlist[*]:-} " =~ " $name " ]]; then
            cp "$path" "$work/modules/$name"
            modlist+=("$name")
        fi
    done < <(modprobe --show-depends -S "$kver" "$m" 2>/dev/null || true)
done
printf '%s\n' "${modlist[@]}" > "$work/modules/order"

cat > "$work/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r m; do insmod "/modules/$m" 2>/dev/null; done < /modules/order
script=
for arg in $(cat /proc/cmdline); do
    case "$arg" in blockkit.script=*) script="${arg#blockkit.script=}" ;; esac
done
status=1
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host /mnt; then
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
chmod +x "$work/init"

(cd "$work" && find . | cpio -o -H newc --quiet) | gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"
