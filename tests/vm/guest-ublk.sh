#!/usr/bin/env bash
# Runs inside the test VM (Linux 6.12, which has ublk), as root, with the
# host's root (and so this build tree) mounted read-only: nbdattach
# --transport=ublk against the real ublk driver (issue 17).  Each check
# prints "CHECK NAME [KERNEL]: PASS|FAIL"; test-vm-ublk.sh reads them.
# The most valuable checks come first, so that a slow machine that hits
# the time limit loses the least.
#
# Needs $abs_top_builddir.  Scratch space: /mnt (tmpfs) and /tmp.
set -u

B="$abs_top_builddir"
export BLOCKKIT_PLUGIN_PATH="$B/plugins" BLOCKKIT_FILTER_PATH="$B/filters"
NA="$B/nbdattach/nbdattach"
export PATH="/usr/sbin:/usr/bin:/sbin:/bin"

source "$(dirname "$0")/guest-lib.sh"
U=(--transport=ublk)
ZERO_ATTACH=("${U[@]}")
source "$(dirname "$0")/guest-zeroes.sh"

detach () {
    "$NA" --detach "$1"
    wait_detached "$1"
    [[ ! -e "$1" ]] || { echo "$1 still exists after --detach"; return 1; }
}

# 1. The parameters the chain gives the driver: the memory plugin with
#    4096-byte blocks asked for, not rotational, can trim and zero.
params () {
    local dev q
    dev=$("$NA" "${U[@]}" -b 4096 memory 256M)
    echo "attached $dev"
    [[ $dev == /dev/ublkb* ]]
    q=/sys/block/${dev#/dev/}/queue
    grep . $q/logical_block_size $q/rotational $q/write_cache \
        $q/discard_max_bytes $q/write_zeroes_max_bytes $q/max_sectors_kb
    [[ $(cat /sys/block/${dev#/dev/}/size) == $((256 * 1024 * 2)) ]]
    [[ $(cat $q/logical_block_size) == 4096 ]]
    [[ $(cat $q/rotational) == 0 ]]
    [[ $(cat $q/discard_max_bytes) != 0 ]]
    [[ $(cat $q/write_zeroes_max_bytes) != 0 ]]
    detach "$dev"
}

# 2. ext4, xfs and btrfs round trips with checksums (guest-lib.sh's
#    fs_roundtrip) on 4096-byte blocks; mkfs.xfs refuses devices under
#    300 MB.  (The checks run at the end of this file.)

# 3. file plugin on a sparse file: discard punches holes.  Zeroing is
#    guest-zeroes.sh's (below): blkdiscard -z must reach the plugin as
#    zero requests that keep the blocks, never as writes, and a hole
#    punched in the device as zero requests that may trim.  (fallocate's
#    zero range, its nbd check zero-range, makes the same request as
#    blkdiscard -z by the time it reaches the driver: not repeated.)
file_discard () {
    local dev img=/mnt/sparse.img before after
    truncate -s 256M "$img"
    dev=$("$NA" "${U[@]}" file "$img")
    dd if=/dev/urandom of="$dev" bs=1M count=32 oflag=direct status=none
    before=$(du -k "$img" | cut -f1)
    blkdiscard "$dev"
    after=$(du -k "$img" | cut -f1)
    echo "discard: allocated before ${before}K, after ${after}K"
    (( before >= 30000 ))
    (( after < 1024 ))
    detach "$dev"
    rm -f "$img"
}

# 4. A read-only chain is a read-only device.
readonly_device () {
    local dev img=/mnt/ro.img out
    truncate -s 64M "$img"
    mkfs.ext4 -q "$img"
    dev=$("$NA" "${U[@]}" -r file "$img")
    [[ $(blockdev --getro "$dev") == 1 ]]
    mkdir -p /mnt/ro
    mount -o ro "$dev" /mnt/ro
    umount /mnt/ro
    if out=$(dd if=/dev/zero of="$dev" bs=4k count=1 oflag=direct 2>&1); then
        echo "a write to a read-only device succeeded"; return 1
    fi
    echo "$out"
    grep -qiE "read-only|not permitted" <<< "$out"
    detach "$dev"
}

# 5. Four queues, fio verify with four jobs at depth 16.  blk-mq maps
#    each CPU to one queue, so the VM has four CPUs (test-vm-ublk.sh) and
#    each job runs on its own: every queue then serves requests, each
#    through its own connection to the chain, which the log filter
#    numbers.
multi_queue () {
    local dev n conns
    dev=$("$NA" "${U[@]}" -C 4 --filter=log memory 256M logfile=/tmp/mq.log)
    n=${dev#/dev/}
    grep . /sys/block/$n/mq/*/cpu_list
    [[ $(ls /sys/block/$n/mq | wc -l) == 4 ]]
    fio --name=mq --filename="$dev" --ioengine=libaio --direct=1 \
        --rw=randwrite --bs=4k --iodepth=16 --numjobs=4 --size=16M \
        --offset_increment=64M --verify=crc32c --verify_fatal=1 \
        --cpus_allowed=0-$(( $(nproc) - 1 )) --cpus_allowed_policy=split \
        --group_reporting >/tmp/fio-mq.log 2>&1 || { cat /tmp/fio-mq.log; return 1; }
    grep -E "err=|WRITE:" /tmp/fio-mq.log
    detach "$dev"
    grep -o "connection=[0-9]* Write " /tmp/mq.log | sort | uniq -c
    conns=$(grep -o "connection=[0-9]* Write " /tmp/mq.log | sort -u | wc -l)
    if (( conns != 4 )); then
        echo "writes came through $conns queues, not 4 ($(nproc) CPUs)"; return 1
    fi
}

# 6. SIGTERM: buffered writes reach the plugin's file before the device
#    goes, and the device is deleted.
sigterm_flush () {
    local dev img=/mnt/term.img pid
    truncate -s 64M "$img"
    dev=$("$NA" "${U[@]}" -P /tmp/term.pid file "$img")
    head -c 1M /dev/urandom > /tmp/term.data
    # Buffered, no sync: the page cache holds it when the signal comes.
    dd if=/tmp/term.data of="$dev" bs=1M seek=3 status=none
    pid=$(cat /tmp/term.pid)
    kill -TERM "$pid"
    wait_exited "$pid"
    [[ ! -e "$dev" ]]
    [[ ! -e /run/nbdattach/${dev#/dev/} ]]
    dd if="$img" of=/tmp/term.back bs=1M skip=3 count=1 status=none
    cmp /tmp/term.back /tmp/term.data
    rm -f "$img"
}

# 7. kill -9 during a verifying fio run on ext4: the device waits (user
#    recovery), --reattach NAME recovers it, the held I/O completes,
#    fio's verify passes and fsck finds the filesystem clean.
recovery () {
    local dev img=/mnt/re.img pid fiopid
    truncate -s 256M "$img"
    dev=$("$NA" "${U[@]}" -n retest -P /tmp/re.pid file "$img")
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
    "$NA" --list | tee /tmp/list-dead.out
    grep -E "^${dev#/dev/ublkb} .*retest .*ublk$" /tmp/list-dead.out | grep -q waiting
    "$NA" "${U[@]}" --reattach retest -n retest -P /tmp/re.pid file "$img"
    wait "$fiopid" || { cat /tmp/fio-re.log; return 1; }
    grep -E "err=" /tmp/fio-re.log
    umount /mnt/re
    fsck.ext4 -fn "$dev"
    detach "$dev"
    rm -f "$img"
}

# 8. Detach, as for nbd devices (guest-nbdattach.sh's detach check):
#    idle, the device goes and its daemon exits.  Mounted, --detach
#    succeeds at once, the device goes and further I/O fails, through
#    the filesystem too; the driver deletes the device only when the
#    filesystem lets go of it, which --detach says, and the daemon exits
#    after a lazy unmount.
detach_cases () {
    local dev pid start
    dev=$("$NA" "${U[@]}" -P /tmp/det.pid memory 64M)
    pid=$(cat /tmp/det.pid)
    detach "$dev"
    wait_exited "$pid"
    [[ ! -e /run/nbdattach/${dev#/dev/} ]]
    dev=$("$NA" "${U[@]}" -P /tmp/det.pid memory 64M)
    pid=$(cat /tmp/det.pid)
    mkfs.ext4 -q "$dev"; mkdir -p /mnt/m; mount "$dev" /mnt/m
    echo before > /mnt/m/before; sync
    start=$SECONDS
    "$NA" --detach "$dev" 2>&1 | tee /tmp/det.out
    echo "--detach of a mounted device took $((SECONDS - start)) s"
    (( SECONDS - start < 10 ))
    grep -q "is mounted on /mnt/m: detached" /tmp/det.out
    wait_detached "$dev"
    if dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null; then
        echo "read from a detached device succeeded"; return 1
    fi
    if dd if=/dev/urandom of=/mnt/m/after bs=4k count=1 oflag=direct \
          conv=fsync 2>/dev/null; then
        echo "a write through the filesystem of a detached device succeeded"
        return 1
    fi
    umount -l /mnt/m
    wait_exited "$pid"
    [[ ! -e /run/nbdattach/${dev#/dev/} ]]
    if "$NA" --list | grep " $dev "; then echo "listed after detach"; return 1; fi
}

# 9. --list and --check, for ublk devices by path and by name.
list_check () {
    local dev line
    dev=$("$NA" "${U[@]}" -n listme memory 32M)
    "$NA" --list | tee /tmp/list.out
    head -n 1 /tmp/list.out | grep -q TRANSPORT
    line=$(grep " $dev " /tmp/list.out)
    [[ $(awk '{print $4}' <<< "$line") == yes ]]
    [[ $(awk '{print $5}' <<< "$line") == listme ]]
    [[ $(awk '{print $7}' <<< "$line") == memory ]]
    [[ $(awk '{print $8}' <<< "$line") == ublk ]]
    "$NA" --check "$dev"
    "$NA" --check listme
    detach listme
    if "$NA" --check "$dev"; then echo "--check after detach"; return 1; fi
}

# 10. Bad uses get clear errors.
errors () {
    local out dev
    if out=$("$NA" "${U[@]}" --ioctl memory 1M 2>&1); then return 1; fi
    echo "$out"; grep -q "ioctl" <<< "$out"
    if out=$("$NA" --transport=sctp memory 1M 2>&1); then return 1; fi
    echo "$out"; grep -q "transport must be nbd or ublk" <<< "$out"
    if out=$("$NA" "${U[@]}" --reattach nosuch memory 1M 2>&1); then return 1; fi
    echo "$out"; grep -q "no such ublk device" <<< "$out"
    dev=$("$NA" "${U[@]}" -n errs memory 16M)
    if out=$("$NA" --upgrade errs 2>&1); then return 1; fi
    echo "$out"; grep -q "upgraded by recovery" <<< "$out"
    if out=$("$NA" --resize "$dev" 2>&1); then return 1; fi
    echo "$out"; grep -q "not for ublk devices" <<< "$out"
    detach "$dev"
}

# 11. udev: /dev/disk/by-blockkit/NAME and NAME-partN for a ublk disk,
#    from the shipped rules under a real systemd-udevd (last: udevd then
#    keeps running).
wait_for () {
    local i
    for i in $(seq 1 100); do
        test "$@" && return 0
        sleep 0.2
    done
    echo "timed out waiting for: test $*"; ls -l /dev/disk/by-blockkit/ || :
    return 1
}
udev_links () {
    local dev
    export SYSTEMD_IGNORE_CHROOT=1   # see guest-systemd-udev.sh
    mkdir -p /run/udev/rules.d
    cp "$(dirname "$0")/../../udev/99-blockkit.rules" /run/udev/rules.d/
    /lib/systemd/systemd-udevd --daemon
    udevadm control --ping
    # Only block devices: all of them take minutes under emulation.
    udevadm trigger --subsystem-match=block --action=add
    udevadm settle --timeout=120 || echo "(udev still busy; going on)"
    dev=$("$NA" "${U[@]}" -n udemo memory 64M)
    wait_for -L /dev/disk/by-blockkit/udemo
    [[ $(readlink -f /dev/disk/by-blockkit/udemo) == "$dev" ]]
    udevadm info --query=property "$dev" | grep -x BLOCKKIT_NAME=udemo
    printf 'label: dos\n,,L\n' | sfdisk -q "$dev"
    wait_for -L /dev/disk/by-blockkit/udemo-part1
    [[ $(readlink -f /dev/disk/by-blockkit/udemo-part1) == "${dev}p1" ]]
    "$NA" --detach udemo
    wait_detached "$dev"
    udevadm settle
    if [[ -e /dev/disk/by-blockkit/udemo || -e /dev/disk/by-blockkit/udemo-part1 ]]; then
        echo "links left after detach"; ls -l /dev/disk/by-blockkit; return 1
    fi
}

for m in ublk_drv ext4 xfs btrfs loop; do modprobe "$m" || echo "modprobe $m failed"; done
check ublk-params params
check ublk-ext4 fs_roundtrip ext4 "${U[@]}" -b 4096 memory 256M
check ublk-xfs fs_roundtrip xfs "${U[@]}" -b 4096 memory 320M
check ublk-btrfs fs_roundtrip btrfs "${U[@]}" -b 4096 memory 256M
check ublk-discard file_discard
check ublk-zero-blkdiscard zero_blkdiscard
check ublk-zero-punch zero_punch
check ublk-readonly readonly_device
check ublk-fio multi_queue
check ublk-sigterm sigterm_flush
check ublk-recovery recovery
check ublk-detach detach_cases
check ublk-list-check list_check
check ublk-errors errors
check ublk-udev udev_links
echo "guest checks done"
