# Sourced by guest-nbdattach.sh inside the test VM (it defines $NA,
# check, detach): online resize (nbdattach --resize) and live upgrade
# (nbdattach --upgrade) of issue 14 against the real kernel.  Numbers
# the report needs are printed as "RESULT ..." lines.  The daemons of
# the checks without heavy I/O run with -v: their messages are in the
# check's log.

# note TEXT: a progress line on the console as it happens (a check's
# own output is shown only when it ends, which a hang never does).
note () {
    echo "$*"
    echo "<3>resize-upgrade: $*" > /dev/kmsg
}

# On a failure: what the kernel and the daemons were doing.
show_state () {
    echo "--- state after the failure"
    grep -H . /sys/block/nbd*/pid 2>/dev/null || true
    grep nbd /proc/mounts || true
    ps -eo pid,stat,wchan:32,args | grep -E "nbdattach|fio" | grep -v grep || true
    ls -la /mnt; df -k /mnt
    dmesg | tail -n 30
}

# The file plugin's backing file grows; --resize; resize2fs or xfs_growfs
# grow the mounted filesystem; the data written before is intact; the
# link udev made for the name (when udev runs) is still there.
resize_grow () {
    local fs="$1" dev img=/mnt/grow-$1.img n before after
    truncate -s 320M "$img"
    dev=$("$NA" -v -n grow-$fs file "$img")
    note "resize-$fs on $dev"
    n=${dev#/dev/nbd}
    case "$fs" in
        ext4) mkfs.ext4 -q "$dev" ;;
        xfs) mkfs.xfs -q "$dev" ;;
    esac
    mkdir -p /mnt/g; mount "$dev" /mnt/g
    head -c 5M /dev/urandom > /mnt/g/before
    (cd /mnt/g && md5sum before > /tmp/grow.sum)
    before=$(df -k --output=size /mnt/g | tail -n 1)

    # SIZE that the chain does not have: a clear error, nothing changes.
    if "$NA" --resize "$dev" 1G 2>/tmp/resize.err; then
        echo "--resize to a size the file is not succeeded"; return 1
    fi
    cat /tmp/resize.err
    grep -q "cannot change its size itself" /tmp/resize.err

    truncate -s 640M "$img"
    "$NA" --resize grow-$fs 640M
    [[ $(blockdev --getsize64 "$dev") == $((640 * 1024 * 1024)) ]]
    [[ $(cat /sys/block/nbd$n/size) == $((640 * 2048)) ]]
    case "$fs" in
        ext4) resize2fs "$dev" ;;
        xfs) xfs_growfs /mnt/g ;;
    esac
    after=$(df -k --output=size /mnt/g | tail -n 1)
    echo "RESULT resize-$fs: filesystem ${before}K -> ${after}K on $(uname -r)"
    (( after > before * 19 / 10 ))
    # The new space is usable and the old data intact.
    fallocate -l 400M /mnt/g/fill
    dd if=/dev/urandom of=/mnt/g/fill bs=1M seek=390 count=8 conv=notrunc,fsync status=none
    (cd /mnt/g && md5sum -c /tmp/grow.sum)
    rm /mnt/g/fill
    [[ ! -d /dev/disk/by-blockkit ]] || [[ -L /dev/disk/by-blockkit/grow-$fs ]]
    umount /mnt/g
    case "$fs" in
        ext4) fsck.ext4 -fn "$dev" ;;
        xfs) xfs_repair -n "$dev" ;;
    esac
    detach "$dev" || { show_state; return 1; }
    rm -f "$img"
}
check resize-ext4 resize_grow ext4
check resize-xfs resize_grow xfs

# Shrinking: refused while mounted, done with --force or once unmounted.
resize_shrink () {
    local dev img=/mnt/shrink.img
    truncate -s 256M "$img"
    dev=$("$NA" -v file "$img")
    note "resize-shrink on $dev"
    mkfs.ext4 -q "$dev" 128M
    mkdir -p /mnt/s; mount "$dev" /mnt/s
    truncate -s 192M "$img"
    if "$NA" --resize "$dev" 2>/tmp/shrink.err; then
        echo "shrinking a mounted device succeeded"; return 1
    fi
    cat /tmp/shrink.err
    grep -q "is mounted on /mnt/s" /tmp/shrink.err
    [[ $(blockdev --getsize64 "$dev") == $((256 * 1024 * 1024)) ]]
    "$NA" --force --resize "$dev"
    [[ $(blockdev --getsize64 "$dev") == $((192 * 1024 * 1024)) ]]
    umount /mnt/s
    fsck.ext4 -fn "$dev"
    truncate -s 160M "$img"
    "$NA" --resize "$dev"
    [[ $(blockdev --getsize64 "$dev") == $((160 * 1024 * 1024)) ]]
    # Asking again changes nothing and says so.
    "$NA" --resize "$dev" | grep unchanged
    detach "$dev" || { show_state; return 1; }
    rm -f "$img"
}
check resize-shrink resize_shrink

# An upgrade to a binary that fails to start, or starts and cannot serve,
# rolls back: the same daemon serves on, data intact; the installed
# binary fixed, the upgrade goes through.  A RAM disk refuses upgrades.
upgrade_rollback () {
    local dev img=/mnt/rb.img bin=/tmp/upbin/nbdattach pid
    mkdir -p /tmp/upbin
    cp "$NA" "$bin"
    truncate -s 64M "$img"
    dev=$("$bin" -v -P /tmp/rb.pid file "$img")
    note "upgrade-rollback on $dev"
    pid=$(cat /tmp/rb.pid)
    head -c 1M /dev/urandom > /tmp/rb.data
    dd if=/tmp/rb.data of="$dev" bs=1M seek=5 oflag=direct status=none

    # Not executable at all.
    rm "$bin"; printf '#!/bin/sh\nexit 3\n' > "$bin"; chmod +x "$bin"
    if "$NA" --upgrade "$dev" 2>/tmp/rb.err; then
        echo "upgrade to a failing binary succeeded"; return 1
    fi
    cat /tmp/rb.err; grep -q "rolled back" /tmp/rb.err
    # Starts, but its chain does not load (a filter it lacks).
    printf '#!/bin/sh\nexec %s --filter=no-such-filter "$@"\n' "$NA" > "$bin"
    if "$NA" --upgrade "$dev" 2>/tmp/rb.err; then
        echo "upgrade to a binary without plugins succeeded"; return 1
    fi
    cat /tmp/rb.err; grep -q "rolled back" /tmp/rb.err
    [[ $(cat /tmp/rb.pid) == "$pid" ]]
    kill -0 "$pid"
    dd if="$dev" of=/tmp/rb.back bs=1M skip=5 count=1 iflag=direct status=none
    cmp /tmp/rb.back /tmp/rb.data
    dd if=/dev/urandom of="$dev" bs=1M seek=9 count=1 oflag=direct status=none

    # The real binary back: the upgrade works.
    rm "$bin"; cp "$NA" "$bin"
    "$NA" --upgrade "$dev"
    [[ $(cat /tmp/rb.pid) != "$pid" ]]
    dd if="$dev" of=/tmp/rb.back bs=1M skip=5 count=1 iflag=direct status=none
    cmp /tmp/rb.back /tmp/rb.data
    detach "$dev" || { show_state; return 1; }

    dev=$("$NA" memory 64M)
    if "$NA" --upgrade "$dev" 2>/tmp/rb.err; then
        echo "a RAM disk was upgraded"; return 1
    fi
    cat /tmp/rb.err; grep -q "lives in this process" /tmp/rb.err
    detach "$dev" || { show_state; return 1; }
    rm -rf "$img" /tmp/upbin
}
check upgrade-rollback upgrade_rollback

# fio's largest completion latency (ms) in its json output FILE.
fio_max_lat_ms () {
    python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
m = max(max(job[d]["clat_ns"]["max"] for d in ("read", "write")) for job in j["jobs"])
print("%.1f" % (m / 1e6))' "$1"
}

# fio verify on a mounted filesystem while the daemon is upgraded ten
# times: no I/O error, verify passes, fsck clean.  The longest stall is
# what fio saw as its largest latency, next to the same job's without
# upgrades, and what the daemon measured from its pause to the new
# binary serving.
upgrade_under_io () {
    local dev img=/mnt/up.img fiopid i pid0 pid1 base up job n0
    n0=$(dmesg | wc -l)
    truncate -s 256M "$img"
    # The daemon runs from a copy in the guest: the binary it re-executes
    # must not change under it (the build tree is the host's).
    mkdir -p /tmp/upbin2; cp "$NA" /tmp/upbin2/nbdattach
    dev=$(/tmp/upbin2/nbdattach -n upg -C 2 -P /tmp/up.pid file "$img")
    note "upgrade-under-io on $dev"
    mkfs.ext4 -q "$dev"; mkdir -p /mnt/u; mount "$dev" /mnt/u
    job=(--name=up --directory=/mnt/u --ioengine=libaio --direct=1
         --rw=randwrite --bs=4k --iodepth=16 --size=32M
         --verify=crc32c --verify_fatal=1 --verify_backlog=128
         --time_based --output-format=json)
    fio "${job[@]}" --runtime=15 --output=/tmp/fio-base.json
    base=$(fio_max_lat_ms /tmp/fio-base.json)
    note "baseline fio max latency ${base} ms"
    # Long enough for ten upgrades under emulation; it ends on its own.
    fio "${job[@]}" --runtime=180 --output=/tmp/fio-up.json &
    fiopid=$!
    sleep 3
    for i in $(seq 1 10); do
        pid0=$(cat /tmp/up.pid)
        "$NA" --upgrade upg | tee -a /tmp/upgrades.log
        note "upgrade $i: $(tail -n 1 /tmp/upgrades.log)"
        pid1=$(cat /tmp/up.pid)
        [[ $pid1 != "$pid0" ]]
        kill -0 "$pid1"
        for _ in $(seq 1 50); do kill -0 "$pid0" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid0" 2>/dev/null; then echo "old daemon $pid0 lives on"; return 1; fi
        kill -0 "$fiopid" 2>/dev/null || { echo "fio ended before upgrade $i"; return 1; }
        sleep 1
    done
    note "10 upgrades done, waiting for fio"
    wait "$fiopid" || { cat /tmp/fio-up.json; return 1; }
    python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
for job in j["jobs"]:
    assert job["error"] == 0, job["error"]
    print("fio written", job["write"]["io_bytes"], "verified", job["read"]["io_bytes"])' /tmp/fio-up.json
    up=$(fio_max_lat_ms /tmp/fio-up.json)
    echo "RESULT upgrade x10 under fio on $(uname -r): fio max latency ${up} ms (${base} ms without upgrades)"
    echo "RESULT daemon-measured pauses: $(sed -n 's/.*waited \([0-9.]*\) ms.*/\1/p' /tmp/upgrades.log | tr '\n' ' ')ms"
    [[ $(grep -c "upgraded, now served by" /tmp/upgrades.log) == 10 ]]
    if dmesg | tail -n +$((n0 + 1)) |
            grep -iE "nbd.*(dead|timed out|error)|I/O error|blk_update_request"; then
        echo "the kernel logged errors during the upgrades"; return 1
    fi
    umount /mnt/u
    fsck.ext4 -fn "$dev"
    detach "$dev" || { show_state; return 1; }
    rm -rf "$img" /tmp/upgrades.log /tmp/upbin2
}
check upgrade-under-io upgrade_under_io

# A resize while fio verifies the device: each --resize must finish
# (a queue freeze with requests in flight has been reported to hang).
resize_under_io () {
    local dev img=/mnt/rio.img fiopid i t0 t1 size=64 n=0
    truncate -s ${size}M "$img"
    dev=$("$NA" -C 2 file "$img")
    note "resize-under-io on $dev"
    fio --name=rio --filename="$dev" --ioengine=libaio --direct=1 \
        --rw=randwrite --bs=4k --iodepth=32 --size=32M \
        --verify=crc32c --verify_fatal=1 --verify_backlog=128 \
        --time_based --runtime=60 --output=/tmp/fio-rio.log &
    fiopid=$!
    sleep 3
    for i in 1 2 3 4 5; do
        kill -0 "$fiopid" 2>/dev/null || break
        size=$((size + 16))
        truncate -s ${size}M "$img"
        t0=$(date +%s%N)
        timeout 60 "$NA" --resize "$dev" | tee -a /tmp/rio.log || {
            echo "--resize $i did not finish in 60 s"; show_state; return 1; }
        t1=$(date +%s%N)
        note "RESULT resize-under-io $i: $(( (t1 - t0) / 1000000 )) ms on $(uname -r): $(tail -n 1 /tmp/rio.log)"
        n=$((n + 1))
        sleep 2
    done
    (( n >= 3 )) || { echo "fio ended after $n resizes"; return 1; }
    [[ $(blockdev --getsize64 "$dev") == $((size * 1024 * 1024)) ]]
    wait "$fiopid" || { cat /tmp/fio-rio.log; return 1; }
    grep -E "err=|WRITE:|READ:" /tmp/fio-rio.log
    detach "$dev" || { show_state; return 1; }
    rm -f "$img"
}
# Last: if the kernel hangs in a resize under I/O, nothing after it runs.
check resize-under-io resize_under_io
