#!/usr/bin/env bash
# Runs inside the test VM, as root, with the host's root (and so this
# build tree) mounted read-only: the nbdattach checks of issue 4 against
# a real kernel.  Each check prints "CHECK NAME: PASS" or "CHECK NAME:
# FAIL" followed by its log; test-vm-nbdattach.sh reads these lines.
#
# Needs $abs_top_builddir.  Scratch space: /mnt (tmpfs) and /tmp.
set -u

B="$abs_top_builddir"
export BLOCKKIT_PLUGIN_PATH="$B/plugins" BLOCKKIT_FILTER_PATH="$B/filters"
NA="$B/nbdattach/nbdattach"
export PATH="/usr/sbin:/usr/bin:/sbin:/bin"

for m in nbd ext4 xfs btrfs loop; do modprobe "$m" || echo "modprobe $m failed"; done

source "$(dirname "$0")/guest-lib.sh"

detach () {
    "$NA" --detach "$1"
    wait_detached "$1"
}

# 1. memory plugin, three filesystems, data survives a remount.
check fs-ext4 fs_roundtrip ext4 memory 512M
check fs-xfs fs_roundtrip xfs memory 512M
check fs-btrfs fs_roundtrip btrfs memory 512M

# 2. file plugin on a sparse file: discard punches holes; partitions.
file_discard () {
    local dev img=/mnt/sparse.img before after
    truncate -s 256M "$img"
    dev=$("$NA" file "$img")
    dd if=/dev/urandom of="$dev" bs=1M count=32 oflag=direct status=none
    sync
    before=$(du -k "$img" | cut -f1)
    blkdiscard "$dev"
    sync
    after=$(du -k "$img" | cut -f1)
    echo "allocated before discard: ${before}K, after: ${after}K"
    (( before >= 30000 )) && (( after < 1024 ))
    detach "$dev"
    rm -f "$img"
}
check file-discard file_discard

file_partitions () {
    local dev img=/mnt/parts.img
    truncate -s 128M "$img"
    dev=$("$NA" file "$img")
    printf 'label: dos\n,48M,L\n,,L\n' | sfdisk -q "$dev"
    for i in $(seq 1 50); do [[ -b ${dev}p2 ]] && break; sleep 0.2; done
    ls -l "${dev}p1" "${dev}p2"
    mkfs.ext4 -q "${dev}p1"
    mkfs.ext4 -q "${dev}p2"
    mkdir -p /mnt/p1 /mnt/p2
    mount "${dev}p1" /mnt/p1
    mount "${dev}p2" /mnt/p2
    echo one > /mnt/p1/f; echo two > /mnt/p2/f
    umount /mnt/p1 /mnt/p2
    mount "${dev}p1" /mnt/p1; mount "${dev}p2" /mnt/p2
    [[ $(cat /mnt/p1/f) == one && $(cat /mnt/p2/f) == two ]]
    umount /mnt/p1 /mnt/p2
    detach "$dev"
    rm -f "$img"
}
check file-partitions file_partitions

# 3. A read-only chain is a read-only device, and writes fail cleanly.
readonly_device () {
    local dev img=/mnt/ro.img out
    truncate -s 64M "$img"
    mkfs.ext4 -q "$img"
    mkdir -p /mnt/ro
    mount -o loop "$img" /mnt/ro 2>/dev/null && { echo hello > /mnt/ro/f; umount /mnt/ro; } ||
        echo "(no loop device: the filesystem stays empty)"
    dev=$("$NA" -r file "$img")
    [[ $(blockdev --getro "$dev") == 1 ]]
    mount -o ro "$dev" /mnt/ro
    ls /mnt/ro
    umount /mnt/ro
    if out=$(dd if=/dev/zero of="$dev" bs=4k count=1 oflag=direct 2>&1); then
        echo "a write to a read-only device succeeded"; return 1
    fi
    echo "$out"
    grep -qiE "read-only|not permitted" <<< "$out"
    detach "$dev"
}
check readonly readonly_device

# 4. Four connections and fio verify with several jobs.
multi_conn () {
    local dev out
    dev=$("$NA" -C 4 memory 256M)
    fio --name=mc --filename="$dev" --ioengine=libaio --direct=1 \
        --rw=randwrite --bs=4k --iodepth=8 --numjobs=4 --size=16M \
        --offset_increment=64M --verify=crc32c --verify_fatal=1 \
        --group_reporting >/tmp/fio-mc.log 2>&1 || { cat /tmp/fio-mc.log; return 1; }
    grep -E "err=|WRITE:" /tmp/fio-mc.log
    detach "$dev"
    # A chain without multi-conn may not have more than one connection.
    if out=$("$NA" -C 2 --filter=multi-conn memory 64M multi-conn-mode=disable 2>&1); then
        echo "-C 2 without multi-conn was accepted: $out"; return 1
    fi
    echo "$out"
    grep -q "multi" <<< "$out"
}
check multi-conn multi_conn

# 5. Detach idle and mounted devices; SIGTERM flushes.
detach_cases () {
    local dev img=/mnt/term.img pid
    dev=$("$NA" memory 64M)
    detach "$dev"
    # Mounted: the documented behaviour is that the device goes away and
    # further I/O fails; a lazy unmount cleans up.
    dev=$("$NA" memory 64M)
    mkfs.ext4 -q "$dev"; mkdir -p /mnt/m; mount "$dev" /mnt/m
    detach "$dev"
    if dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null; then
        echo "read from a detached device succeeded"; return 1
    fi
    umount -l /mnt/m
    # SIGTERM: data written before it is there after attaching again.
    truncate -s 64M "$img"
    dev=$("$NA" -P /tmp/term.pid file "$img")
    head -c 1M /dev/urandom > /tmp/term.data
    dd if=/tmp/term.data of="$dev" bs=1M seek=3 conv=fsync status=none
    pid=$(cat /tmp/term.pid)
    kill -TERM "$pid"
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    not kill -0 "$pid" 2>/dev/null
    wait_detached "$dev"
    dev=$("$NA" file "$img")
    cmp <(dd if="$dev" bs=1M skip=3 count=1 iflag=direct status=none) /tmp/term.data
    detach "$dev"
    rm -f "$img"
}
check detach detach_cases

# 6. kill -9 during a verifying fio run on a filesystem, then --reattach.
reattach () {
    local dev img=/mnt/re.img pid fiopid
    truncate -s 256M "$img"
    dev=$("$NA" -n retest -P /tmp/re.pid --dead-timeout 60 file "$img")
    mkfs.ext4 -q "$dev"; mkdir -p /mnt/re; mount "$dev" /mnt/re
    fio --name=re --directory=/mnt/re --ioengine=psync --rw=write --bs=64k \
        --size=48M --verify=crc32c --verify_fatal=1 --fsync=32 \
        >/tmp/fio-re.log 2>&1 &
    fiopid=$!
    sleep 3
    pid=$(cat /tmp/re.pid)
    kill -9 "$pid"
    echo "killed daemon $pid"
    sleep 1
    "$NA" --reattach retest -n retest -P /tmp/re.pid file "$img"
    wait "$fiopid" || { cat /tmp/fio-re.log; return 1; }
    grep -E "err=" /tmp/fio-re.log
    umount /mnt/re
    fsck.ext4 -fn "$dev"
    detach "$dev"
    rm -f "$img"
}
check reattach reattach

# 7. --list and --check agree with sysfs.
list_check () {
    local dev n
    dev=$("$NA" -n listme memory 32M)
    n=${dev#/dev/nbd}
    "$NA" --list | tee /tmp/list.out
    line=$(grep "^$n " /tmp/list.out)
    [[ $(awk '{print $4}' <<< "$line") == yes ]]
    [[ $(awk '{print $5}' <<< "$line") == "$(cat /sys/block/nbd$n/backend)" ]]
    [[ $(awk '{print $6}' <<< "$line") == "$(cat /sys/block/nbd$n/pid)" ]]
    [[ $(awk '{print $7}' <<< "$line") == memory ]]
    "$NA" --check "$dev"
    "$NA" --check listme
    detach "$dev"
    not "$NA" --check "$dev"
    [[ ! -e /sys/block/nbd$n/pid ]]
}
check list-check list_check

# 8. The ioctl path.
ioctl_path () {
    local dev
    dev=$("$NA" --ioctl memory 128M)
    mkfs.ext4 -q "$dev"; mkdir -p /mnt/io; mount "$dev" /mnt/io
    head -c 2M /dev/urandom > /mnt/io/f; md5sum /mnt/io/f > /tmp/io.sum
    umount /mnt/io; mount "$dev" /mnt/io; md5sum -c /tmp/io.sum
    umount /mnt/io
    detach "$dev"
}
check ioctl ioctl_path

# 8b. --transport=ublk on a kernel without ublk (Debian 12's 6.1): a
#     clear error naming the kernel option.  Kernels with ublk are
#     tested by guest-ublk.sh.
ublk_missing () {
    local out
    if [[ -e /dev/ublk-control ]] || modprobe ublk_drv 2>/dev/null; then
        echo "this kernel has ublk (tests/vm/guest-ublk.sh covers it)"
        return 0
    fi
    if out=$("$NA" --transport=ublk memory 64M 2>&1); then
        echo "attached without ublk: $out"; return 1
    fi
    echo "$out"
    grep -q "CONFIG_BLK_DEV_UBLK" <<< "$out"
}
check ublk-missing ublk_missing

source "$(dirname "$0")/guest-resize-upgrade.sh"

# 9. Remote disks: the nbd plugin over TLS, server restarts.
source "$(dirname "$0")/guest-remote.sh"
source "$(dirname "$0")/guest-reattach.sh"

# 10. Zeroing: blkdiscard -z, fallocate's zero range and punch hole.
source "$(dirname "$0")/guest-zeroes.sh"
check zero-blkdiscard zero_blkdiscard
check zero-range zero_range
check zero-punch zero_punch

echo "guest checks done"
