#!/usr/bin/env bash
# Runs inside the test VM (tests/vm/run-guest), as root: `nbdattach rbd`
# against a real kernel and a real Ceph cluster (issue 12).  The cluster
# runs on the host's 127.0.0.1 (test-vm-rbd.sh, ceph-host.sh), reached
# through the VM's user-mode network (reach_host_loopback), and the
# guest is its client, with Ceph's client programs copied into RAM first
# (ceph-in-ram.sh says why).  Each check prints "CHECK NAME: PASS|FAIL"
# (guest-lib.sh).
#
# Needs $abs_top_builddir, $abs_top_srcdir, $CEPH_CONF (the client
# configuration) and $CEPH_RAM_IMG (made on the host by ceph_ram_pack).
# Scratch space: /mnt (tmpfs) and /tmp.
set -u

export PATH="/usr/sbin:/usr/bin:/sbin:/bin"
export BLOCKKIT_PLUGIN_PATH="$abs_top_builddir/plugins"
export BLOCKKIT_FILTER_PATH="$abs_top_builddir/filters"
export CEPH_CONF
# The guest's /var/tmp is the host's, read-only (the cow filter's file).
export TMPDIR=/tmp
NA="$abs_top_builddir/nbdattach/nbdattach"
S="$abs_top_srcdir"
here="$S/tests/vm"
source "$here/guest-lib.sh"
source "$here/ceph-in-ram.sh"

for m in nbd ext4 loop; do modprobe "$m" || echo "modprobe $m failed"; done
reach_host_loopback || { echo "guest-rbd: no network to the host (VM_NIC?)"; exit 1; }
ceph_ram_mount "$CEPH_RAM_IMG" || { echo "guest-rbd: cannot unpack Ceph into RAM"; exit 1; }
t0=$SECONDS
rbd ls rbd > /dev/null || { echo "guest-rbd: the cluster on the host does not answer"; exit 1; }
echo "guest-rbd: first rbd command took $((SECONDS - t0)) s"

mkdir -p /mnt/fs

# Emulation makes every step slower: wider bounds than the plugin's own.
slow="client_mount_timeout=60 rados_mon_op_timeout=60 rados_osd_op_timeout=60"

attach () {       # attach [NBDATTACH OPTIONS] IMAGE: prints the device
    local args=("$@") image="${args[-1]}"
    unset 'args[-1]'
    # shellcheck disable=SC2086
    "$NA" "${args[@]}" rbd image="$image" conf="$CEPH_CONF" $slow
}
detach () {
    "$NA" --detach "$1"
    wait_detached "$1"
}
# sums DIR: checksums of the files in DIR, one line each.
sums () { (cd "$1" && md5sum file*); }

# 1. An ext4 filesystem on an rbd image: written, detached, attached
#    again (a new cluster connection) and read back.  The bytes on the
#    device are the bytes in the cluster (`rbd export`).
rbd_ext4 () {
    local dev i
    rbd create --size 256M rbd/disk
    dev=$(attach rbd/disk)
    echo "attached $dev"
    mkfs.ext4 -q -E nodiscard "$dev"
    mount "$dev" /mnt/fs
    for i in 1 2 3; do
        head -c $((2 * 1024 * 1024 + i)) /dev/urandom > "/mnt/fs/file$i"
    done
    sums /mnt/fs > /tmp/sums-disk
    umount /mnt/fs
    dd if="$dev" bs=1M iflag=direct status=none | md5sum > /tmp/dev-sum
    detach "$dev"
    rbd export --no-progress rbd/disk - | md5sum > /tmp/export-sum
    diff /tmp/dev-sum /tmp/export-sum
    dev=$(attach rbd/disk)
    echo "attached again: $dev"
    mount "$dev" /mnt/fs
    sums /mnt/fs | diff /tmp/sums-disk -
    umount /mnt/fs
    detach "$dev"
}
check rbd-ext4 rbd_ext4

# 2. A snapshot is a read-only device with the files as they were; a
#    clone of it is writable, and writing to it leaves the snapshot as it
#    was.
rbd_snapshot_clone () {
    local dev before after
    rbd snap create rbd/disk@s1
    rbd snap protect rbd/disk@s1
    rbd clone rbd/disk@s1 rbd/child
    before=$(rbd export --no-progress rbd/disk@s1 - | md5sum)
    dev=$(attach rbd/disk@s1)
    echo "snapshot on $dev, ro=$(cat "/sys/block/${dev#/dev/}/ro")"
    [[ $(cat "/sys/block/${dev#/dev/}/ro") == 1 ]]
    if dd if=/dev/zero of="$dev" bs=4k count=1 oflag=direct status=none; then
        echo "a write to the snapshot's device succeeded"; return 1
    fi
    mount -o ro,noload "$dev" /mnt/fs
    sums /mnt/fs | diff /tmp/sums-disk -
    umount /mnt/fs
    detach "$dev"

    dev=$(attach rbd/child)
    echo "clone on $dev"
    mount "$dev" /mnt/fs
    sums /mnt/fs | diff /tmp/sums-disk -
    head -c 1M /dev/urandom > /mnt/fs/file4
    rm /mnt/fs/file1
    sums /mnt/fs > /tmp/sums-child
    umount /mnt/fs
    detach "$dev"
    dev=$(attach rbd/child)
    mount "$dev" /mnt/fs
    sums /mnt/fs | diff /tmp/sums-child -
    umount /mnt/fs
    detach "$dev"
    after=$(rbd export --no-progress rbd/disk@s1 - | md5sum)
    [[ "$before" == "$after" ]]
}
check rbd-snapshot-clone rbd_snapshot_clone

# 3. Filters stacked on the plugin.  cow over the read-only snapshot
#    makes a writable device whose writes stay in the guest; cache
#    (writeback, its default) over the clone holds writes until a flush,
#    and what reaches the cluster is what was written.
rbd_filters () {
    local dev before
    before=$(rbd export --no-progress rbd/disk@s1 - | md5sum)
    dev=$(attach --filter=cow rbd/disk@s1)
    echo "cow over the snapshot on $dev, ro=$(cat "/sys/block/${dev#/dev/}/ro")"
    [[ $(cat "/sys/block/${dev#/dev/}/ro") == 0 ]]
    mount "$dev" /mnt/fs
    sums /mnt/fs | diff /tmp/sums-disk -
    head -c 1M /dev/urandom > /mnt/fs/file9
    sync
    umount /mnt/fs
    detach "$dev"
    [[ "$before" == "$(rbd export --no-progress rbd/disk@s1 - | md5sum)" ]]

    head -c 16M /dev/urandom > /tmp/pattern
    dev=$(attach --filter=cache rbd/child)
    echo "cache over the clone on $dev"
    dd if=/tmp/pattern of="$dev" bs=1M seek=64 oflag=direct status=none
    blockdev --flushbufs "$dev"
    cmp <(dd if="$dev" bs=1M skip=64 count=16 iflag=direct status=none) /tmp/pattern
    detach "$dev"
    cmp <(rbd export --no-progress rbd/child - |
          tail -c +$((64 * 1048576 + 1)) | head -c $((16 * 1048576))) /tmp/pattern
}
check rbd-filters rbd_filters

# 4. `rbd resize` in the cluster grows the device while it is mounted:
#    the plugin's header watch tells nbdattach, which tells the kernel,
#    and the mounted ext4 is grown online.
rbd_resize () {
    local dev want=$((384 * 1048576)) i
    rbd create --size 256M rbd/grow
    dev=$(attach rbd/grow)
    mkfs.ext4 -q -E nodiscard "$dev"
    mount "$dev" /mnt/fs
    head -c 3M /dev/urandom > /mnt/fs/file1
    sums /mnt/fs > /tmp/sums-grow
    rbd resize --size 384M rbd/grow
    for i in $(seq 1 150); do
        [[ $(blockdev --getsize64 "$dev") == "$want" ]] && break
        sleep 0.2
    done
    echo "device size after rbd resize: $(blockdev --getsize64 "$dev")"
    [[ $(blockdev --getsize64 "$dev") == "$want" ]]
    resize2fs "$dev"
    df -k /mnt/fs
    (( $(df -k --output=size /mnt/fs | tail -n 1) > 300 * 1024 ))
    sums /mnt/fs | grep file1 | diff /tmp/sums-grow -
    umount /mnt/fs
    detach "$dev"
}
check rbd-resize rbd_resize

# 5. An image that does not exist: nbdattach fails and no device is left
#    behind; in the foreground (-f) the plugin's reason is printed where
#    the command ran (a daemonizing nbdattach leaves it to syslog).
rbd_missing () {
    local before after
    before=$("$NA" --list | wc -l)
    if attach rbd/no-such-image 2> /tmp/missing.err; then
        echo "attaching a missing image succeeded"; return 1
    fi
    cat /tmp/missing.err
    grep -qE "^nbdattach: the (plugin|chain) failed to (start|open)" /tmp/missing.err
    if timeout 120 "$NA" -f rbd image=rbd/no-such-image conf="$CEPH_CONF" $slow \
           2> /tmp/missing-f.err; then
        echo "attaching a missing image in the foreground succeeded"; return 1
    fi
    cat /tmp/missing-f.err
    grep -q "image=no-such-image: no such image in pool rbd" /tmp/missing-f.err
    after=$("$NA" --list | wc -l)
    [[ "$before" == "$after" ]]
}
check rbd-missing rbd_missing

echo "guest checks done"
