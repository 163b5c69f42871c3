# Sourced by guest-nbdattach.sh, inside the VM: --reattach that cannot
# fail silently (issue 14).  The kernel takes sockets sent with
# RECONFIGURE only into connection slots already marked dead and drops
# the others while the netlink call succeeds; nbdattach checks before
# and after.  "reconnected socket" in the kernel log counts the sockets
# the kernel really took.
#   reattach-alive    the old daemon still runs: a clear error naming
#                     --upgrade, nothing sent to the kernel, the old
#                     daemon still serves
#   reattach-killed   kill -9 during writes to a mounted ext4 on two
#                     connections, --reattach at once (no pause): both
#                     sockets taken, --list shows the new daemon, data
#                     intact, fsck clean; and again from the reattached
#                     daemon (sysfs keeps the first daemon's pid)
#   reattach-trap     the driver's trap itself: a live old connection (its
#                     daemon stopped, the state file saying it is gone):
#                     the kernel drops every socket sent, nbdattach sees
#                     it and fails after the dead-connection timeout
#                     instead of reporting success; the old daemon,
#                     continued, serves on
#   reattach-expired  the dead-connection timeout expires under a read:
#                     --reattach says the kernel gave up, --list shows the
#                     device orphaned, --check says so, --detach removes
#                     it, its state file and its /dev/disk/by-blockkit link
# Needs $NA and guest-lib.sh's check and wait_detached.

REATTACH_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Sockets the kernel took into /dev/nbdN (N in $1) so far.
reconnected () {
    dmesg | grep -c "nbd$1: reconnected socket" || true
}

# wait_gone PID: up to 10 s for a killed process to be gone.
wait_gone () {
    local i
    for i in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    echo "process $1 did not go"; return 1
}

# The device's line of --list, fields as in the header.
list_line () {
    "$NA" --list 2>/dev/null | awk -v n="$1" '$1 == n'
}

# small_device NAME [OPTION...]: /mnt/NAME.img, 64 MiB, attached as NAME
# (the daemon's pid in /tmp/NAME.pid) with 1 MiB of random data at its
# start (also in /tmp/NAME.data); sets dev, n and pid.
small_device () {
    local name="$1"; shift
    truncate -s 64M "/mnt/$name.img"
    dev=$("$NA" -n "$name" -P "/tmp/$name.pid" "$@" file "/mnt/$name.img")
    n=${dev#/dev/nbd}
    pid=$(cat "/tmp/$name.pid")
    head -c 1M /dev/urandom > "/tmp/$name.data"
    dd if="/tmp/$name.data" of="$dev" bs=1M conv=fsync status=none
}

# still_served NAME: the device of small_device NAME is served (its data
# reads back, --check agrees), then detached and its file removed.
still_served () {
    cmp <(dd if="$dev" bs=1M count=1 iflag=direct status=none) "/tmp/$1.data"
    "$NA" --check "$dev"
    "$NA" --detach "$dev"; wait_detached "$dev"
    rm -f "/mnt/$1.img"
}

reattach_alive () {
    local dev n pid out before t0
    small_device ra
    before=$(reconnected "$n")
    t0=$SECONDS
    if out=$("$NA" --reattach ra -n ra file /mnt/ra.img 2>&1); then
        echo "--reattach succeeded with its daemon alive: $out"; return 1
    fi
    echo "$out"
    echo "refused after $((SECONDS - t0)) s"
    grep -q -- "--upgrade" <<< "$out"
    grep -q "still served by its daemon (pid $pid" <<< "$out"
    # Nothing reached the kernel; the old daemon serves on.
    [[ $(reconnected "$n") == "$before" ]]
    kill -0 "$pid"
    [[ $(cat /tmp/ra.pid) == "$pid" ]]
    [[ $(list_line "$n" | awk '{print $4, $6}') == "yes $pid" ]]
    still_served ra
}
check reattach-alive reattach_alive

reattach_killed () {
    local img=/mnt/rk.img dev n pid pid2 pid3 before writer
    truncate -s 256M "$img"
    dev=$("$NA" -n rk -C 2 -P /tmp/rk.pid --dead-timeout 30 file "$img")
    n=${dev#/dev/nbd}
    pid=$(cat /tmp/rk.pid)
    mkfs.ext4 -q "$dev"; mkdir -p /mnt/rk; mount "$dev" /mnt/rk
    for i in 1 2 3; do head -c $((2 * 1024 * 1024 + i)) /dev/urandom > "/mnt/rk/f$i"; done
    (cd /mnt/rk && md5sum f* > /tmp/rk.sums)
    sync
    head -c 16M /dev/urandom > /tmp/rk.during
    before=$(reconnected "$n")
    # Writes in flight while the daemon dies; no pause before --reattach:
    # it waits for the old daemon to be gone and its connections dead.
    dd if=/tmp/rk.during of=/mnt/rk/during bs=64k conv=fsync status=none &
    writer=$!
    sleep 0.5
    kill -9 "$pid"
    echo "killed daemon $pid"
    [[ $("$NA" --reattach rk -n rk -C 2 -P /tmp/rk.pid file "$img") == "$dev" ]]
    pid2=$(cat /tmp/rk.pid)
    echo "reattached: daemon $pid2, kernel log: $(( $(reconnected "$n") - before )) socket(s) taken"
    [[ $pid2 != "$pid" ]]
    (( $(reconnected "$n") == before + 2 ))
    wait "$writer"
    echo "sysfs pid: $(cat /sys/block/nbd$n/pid) (first daemon $pid, now $pid2)"
    [[ $(list_line "$n" | awk '{print $4, $6}') == "yes $pid2" ]]
    "$NA" --check rk
    echo 3 > /proc/sys/vm/drop_caches
    (cd /mnt/rk && md5sum -c /tmp/rk.sums)
    cmp /tmp/rk.during /mnt/rk/during

    # Again, from the reattached daemon: the state file names it (sysfs
    # still has the first daemon's pid, which must not count).
    kill -9 "$pid2"
    echo "killed daemon $pid2"
    [[ $("$NA" --reattach rk -n rk -C 2 -P /tmp/rk.pid file "$img") == "$dev" ]]
    pid3=$(cat /tmp/rk.pid)
    (( $(reconnected "$n") == before + 4 ))
    [[ $(list_line "$n" | awk '{print $4, $6}') == "yes $pid3" ]]
    echo after > /mnt/rk/after; sync
    echo 3 > /proc/sys/vm/drop_caches
    (cd /mnt/rk && md5sum -c /tmp/rk.sums)
    umount /mnt/rk
    fsck.ext4 -fn "$dev"
    "$NA" --detach "$dev"; wait_detached "$dev"
    rm -f "$img"
}
check reattach-killed reattach_killed

reattach_trap () {
    local dev n pid out before state t0
    small_device rt --dead-timeout 3
    # The old daemon stopped, its connection alive, and its state file
    # saying it is gone (as when a process it started held its sockets).
    state=$(cat /run/nbdattach/nbd$n)
    kill -STOP "$pid"
    sed "s/^pid=.*/pid=999999/" <<< "$state" > /run/nbdattach/nbd$n
    before=$(reconnected "$n")
    t0=$SECONDS
    if out=$("$NA" --reattach rt -n rt file /mnt/rt.img 2>&1); then
        kill -CONT "$pid"
        echo "--reattach succeeded over a live connection: $out"; return 1
    fi
    echo "$out"
    echo "failed after $((SECONDS - t0)) s"
    grep -q "took 0 of 1 new connection" <<< "$out"
    [[ $(reconnected "$n") == "$before" ]]
    kill -CONT "$pid"
    echo "$state" > /run/nbdattach/nbd$n
    # The old daemon serves the read nbdattach left waiting, and others.
    still_served rt
}
check reattach-trap reattach_trap

# udevd with the shipped rules, for the /dev/disk/by-blockkit link (not
# running for the other checks of this guest).
reattach_udevd () {
    export SYSTEMD_IGNORE_CHROOT=1
    mkdir -p /run/udev/rules.d
    cp "$REATTACH_SRC/udev/99-blockkit.rules" /run/udev/rules.d/
    /lib/systemd/systemd-udevd --daemon
    udevadm control --ping
    udevadm trigger --action=add --subsystem-match=block
    udevadm settle --timeout=60
}

reattach_expired () {
    local img=/mnt/rx.img dev n pid out rc t0 link=/dev/disk/by-blockkit/rx udev=
    PS4='+ [$(cut -d" " -f1 /proc/uptime)] '; set -x
    if [[ -x /lib/systemd/systemd-udevd ]]; then reattach_udevd; udev=1
    else echo "no systemd-udevd: the link is not checked"; fi
    small_device rx --dead-timeout 3
    if [[ -n $udev ]]; then
        for i in $(seq 1 100); do [[ -L $link ]] && break; sleep 0.2; done
        [[ $(readlink -f "$link") == "$dev" ]]
        udevadm settle
    fi
    kill -9 "$pid"; wait_gone "$pid"
    echo "killed daemon $pid"
    # A read waits for a new daemon for the dead-connection timeout, then
    # fails: the kernel has given up on the device.
    t0=$(date +%s%N)
    if dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct status=none; then
        echo "a read of the orphaned device worked"; return 1
    fi
    echo "the read failed after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
    (( $(date +%s%N) - t0 >= 2500000000 ))
    if out=$("$NA" --reattach rx -n rx file "$img" 2>&1); then
        echo "--reattach succeeded after the timeout: $out"; return 1
    fi
    echo "$out"
    grep -q "given up" <<< "$out"
    grep -q -- "--detach /dev/nbd$n" <<< "$out"
    "$NA" --list 2>/tmp/rx.err | tee /tmp/rx.list
    cat /tmp/rx.err
    [[ $(awk -v n="$n" '$1 == n {print $4, $6}' /tmp/rx.list) == "orphan -" ]]
    grep -q "/dev/nbd$n is orphaned" /tmp/rx.err
    rc=0; "$NA" --check rx 2>/tmp/rx.check || rc=$?
    cat /tmp/rx.check
    [[ $rc == 2 ]]
    grep -q orphaned /tmp/rx.check
    [[ -z $udev || -L $link ]]
    # --detach by name cleans up: the device, its state file, its link.
    "$NA" --detach rx
    for i in $(seq 1 100); do [[ -e /sys/block/nbd$n/pid ]] || break; sleep 0.2; done
    [[ ! -e /sys/block/nbd$n/pid && $(cat /sys/block/nbd$n/size) == 0 ]]
    [[ ! -e /run/nbdattach/nbd$n ]]
    [[ -z $(list_line "$n" | awk '$4 != "no"') ]]
    if [[ -n $udev ]]; then
        for i in $(seq 1 100); do [[ -e $link ]] || break; sleep 0.2; done
        [[ ! -e $link ]]
        udevadm control --exit
    fi
    rm -f "$img"
}
check reattach-expired reattach_expired
# udevd must not outlive the check, even a failed one.
SYSTEMD_IGNORE_CHROOT=1 udevadm control --exit 2>/dev/null || :
