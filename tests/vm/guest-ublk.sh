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

# Each check runs in a new shell (this script, given the function's
# name), where errexit works: in check's subshell it is inside an `if`,
# and bash then ignores `set -e` for everything the function runs.
SELF="$(realpath "$0")"
isolated () { bash "$SELF" "$@"; }

U=(--transport=ublk)

detach () {
    "$NA" --detach "$1"
    wait_detached "$1"
    [[ ! -e "$1" ]] || { echo "$1 still exists after --detach"; return 1; }
}

# 1. ext4 round trip with checksums on the memory plugin, and the
#    parameters the chain gave the driver.
ext4_roundtrip () {
    local dev n q
    dev=$("$NA" "${U[@]}" -b 4096 memory 512M)
    echo "attached $dev"
    [[ $dev == /dev/ublkb* ]]
    n=${dev#/dev/}
    q=/sys/block/$n/queue
    grep . $q/logical_block_size $q/rotational $q/write_cache \
        $q/discard_max_bytes $q/write_zeroes_max_bytes $q/max_sectors_kb
    [[ $(cat /sys/block/$n/size) == $((512 * 1024 * 2)) ]]
    [[ $(cat $q/logical_block_size) == 4096 ]]
    [[ $(cat $q/rotational) == 0 ]]
    [[ $(cat $q/discard_max_bytes) != 0 ]]     # memory can trim
    mkfs.ext4 -q "$dev"
    mkdir -p /mnt/fs
    mount "$dev" /mnt/fs
    for i in 1 2 3; do
        head -c $((3 * 1024 * 1024 + i)) /dev/urandom > "/mnt/fs/file$i"
    done
    (cd /mnt/fs && md5sum file* > /tmp/sums-ext4)
    umount /mnt/fs
    mount "$dev" /mnt/fs
    (cd /mnt/fs && md5sum -c /tmp/sums-ext4)
    umount /mnt/fs
    detach "$dev"
}

# 2. file plugin on a sparse file: discard punches holes; `blkdiscard
#    -z` reaches the plugin as zero requests (the log filter shows them,
#    and no writes), and a hole punched in the device (fallocate -p: a
#    zero request that may trim) punches one in the file.
file_discard () {
    local dev img=/mnt/sparse.img before after n
    truncate -s 256M "$img"
    dev=$("$NA" "${U[@]}" --filter=log file "$img" logfile=/tmp/zero.log)
    dd if=/dev/urandom of="$dev" bs=1M count=32 oflag=direct status=none
    before=$(du -k "$img" | cut -f1)
    blkdiscard "$dev"
    after=$(du -k "$img" | cut -f1)
    echo "discard: allocated before ${before}K, after ${after}K"
    (( before >= 30000 ))
    (( after < 1024 ))
    dd if=/dev/urandom of="$dev" bs=1M count=32 oflag=direct status=none
    n=$(wc -l < /tmp/zero.log)
    blkdiscard -z -o 0 -l 16M "$dev"
    tail -n +$((n + 1)) /tmp/zero.log > /tmp/zero.new
    grep " Zero " /tmp/zero.new | head -n 3
    grep -q " Zero .*offset=0x0 " /tmp/zero.new
    if grep " Write " /tmp/zero.new; then echo "blkdiscard -z wrote"; return 1; fi
    cmp -n 16M "$dev" /dev/zero
    fallocate -p -o 16M -l 16M "$dev"
    after=$(du -k "$img" | cut -f1)
    echo "after punching 16M-32M: ${after}K allocated"
    (( after < 20000 ))
    cmp -n 32M "$dev" /dev/zero
    detach "$dev"
    rm -f "$img"
}

# 3. A read-only chain is a read-only device.
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

# 4. Several queues, fio verify with several jobs.
multi_queue () {
    local dev
    dev=$("$NA" "${U[@]}" -C 2 memory 256M)
    ls /sys/block/${dev#/dev/}/mq
    [[ $(ls /sys/block/${dev#/dev/}/mq | wc -l) == 2 ]]
    fio --name=mq --filename="$dev" --ioengine=libaio --direct=1 \
        --rw=randwrite --bs=4k --iodepth=16 --numjobs=4 --size=16M \
        --offset_increment=64M --verify=crc32c --verify_fatal=1 \
        --group_reporting >/tmp/fio-mq.log 2>&1 || { cat /tmp/fio-mq.log; return 1; }
    grep -E "err=|WRITE:" /tmp/fio-mq.log
    detach "$dev"
}

# 5. SIGTERM: buffered writes reach the plugin's file before the device
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
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then echo "daemon still running"; return 1; fi
    [[ ! -e "$dev" ]]
    [[ ! -e /run/nbdattach/${dev#/dev/} ]]
    dd if="$img" of=/tmp/term.back bs=1M skip=3 count=1 status=none
    cmp /tmp/term.back /tmp/term.data
    rm -f "$img"
}

# 6. kill -9 during a verifying fio run on ext4: the device waits (user
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

# 7. --list and --check, for ublk devices by path and by name; detach
#    of a mounted device.
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
    # Mounted: the disk goes away and further I/O fails.
    dev=$("$NA" "${U[@]}" memory 64M)
    mkfs.ext4 -q "$dev"; mkdir -p /mnt/m; mount "$dev" /mnt/m
    "$NA" --detach "$dev"
    wait_detached "$dev"
    umount -l /mnt/m
}

# 8. Bad uses get clear errors.
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

# 9. udev: /dev/disk/by-blockkit/NAME and NAME-partN for a ublk disk,
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
    cp "$(dirname "$SELF")/../../udev/99-blockkit.rules" /run/udev/rules.d/
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

if [[ $# -gt 0 ]]; then
    set -euo pipefail
    "$@"
    exit 0
fi

for m in ublk_drv ext4 loop; do modprobe "$m" || echo "modprobe $m failed"; done
check ublk-ext4 isolated ext4_roundtrip
check ublk-discard isolated file_discard
check ublk-readonly isolated readonly_device
check ublk-fio isolated multi_queue
check ublk-sigterm isolated sigterm_flush
check ublk-recovery isolated recovery
check ublk-list-check isolated list_check
check ublk-errors isolated errors
check ublk-udev isolated udev_links
echo "guest checks done"
