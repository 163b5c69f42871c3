#!/usr/bin/env bash
# Runs inside the test VM with systemd as init (tests/vm/run-guest-systemd:
# the host root made writable by an overlay, this script run by the unit
# blockkit-guest.service): the shipped nbdattach@.service, udev rules and
# example mount unit, for real.  Each check prints "CHECK NAME: PASS|FAIL";
# test-vm-udev-systemd.sh reads these lines.
#
# Needs $abs_top_builddir and $abs_top_srcdir.  Scratch space: /mnt.
set -u

B="$abs_top_builddir"
S="$abs_top_srcdir"
NA="$B/nbdattach/nbdattach"
export PATH="/usr/sbin:/usr/bin:/sbin:/bin"
export SYSTEMD_PAGER=cat SYSTEMD_COLORS=0
DEV_UNIT='dev-disk-by\x2dblockkit-demo.device'

for m in nbd ext4; do modprobe "$m" || echo "modprobe $m failed"; done

source "$(dirname "$0")/guest-lib.sh"
# After a failed check: what the units said.
check_failed_more () {
    journalctl -b --no-pager -n 40 -u nbdattach@demo.service -u mnt-demo.mount 2>&1 |
        sed 's/^/  j /'
}

wait_for () {
    local i
    for i in $(seq 1 150); do
        test "$@" && return 0
        sleep 0.2
    done
    echo "timed out waiting for: test $*"; return 1
}

# wait_prop UNIT PROPERTY VALUE: up to 30 s.
wait_prop () {
    local i v
    for i in $(seq 1 150); do
        v=$(systemctl show -P "$2" "$1")
        [[ "$v" == "$3" ]] && return 0
        sleep 0.2
    done
    echo "$1: $2=$v, expected $3"; return 1
}

prop () { systemctl show -P "$2" "$1"; }

# clean_fs IMAGE: an ext4 filesystem that was cleanly unmounted (nothing
# left in its journal) and that fsck finds clean.
clean_fs () {
    if dumpe2fs -h "$1" 2>/dev/null | grep -E "features:.*needs_recovery"; then
        echo "$1: the journal needs recovery: not cleanly unmounted"; return 1
    fi
    fsck.ext4 -fn "$1"
}

# ---- install what `make install` installs, pointing at this build ----
install_units () {
    mkdir -p /etc/udev/rules.d /etc/systemd/system /etc/blockkit/devices
    cp "$S/udev/99-blockkit.rules" /etc/udev/rules.d/
    udevadm control --reload
    # The unit as built, with ExecStart on the build tree's nbdattach
    # (ExecStart= is reset in the drop-in, as an administrator would).
    cp "$B/systemd/nbdattach@.service" /etc/systemd/system/
    mkdir -p /etc/systemd/system/nbdattach@.service.d
    cat > /etc/systemd/system/nbdattach@.service.d/build-tree.conf <<EOF
[Service]
ExecStart=
ExecStart=$NA -f --config %I
Environment=BLOCKKIT_PLUGIN_PATH=$B/plugins BLOCKKIT_FILTER_PATH=$B/filters
Environment=BLOCKKIT_CONFIG_DIR=/etc/blockkit/devices
EOF
    cp "$S/systemd/mnt-demo.mount" /etc/systemd/system/
    truncate -s 256M /mnt/demo.img
    cat > /etc/blockkit/devices/demo.conf <<EOF
# The demo device of the systemd test: a file on the guest's tmpfs.
plugin = file
file = /mnt/demo.img
  # nbdattach's own keys, and a filter
dead-timeout = 60
filter = delay
delay-write = 0
EOF
    systemctl daemon-reload
    udevadm trigger --action=change --subsystem-match=block --sysname-match='nbd*' --settle
    systemctl cat nbdattach@demo.service
    [[ $(prop "$DEV_UNIT" ActiveState) == inactive ]]
    [[ $(prop dev-nbd0.device ActiveState) == inactive ]]
}
check install install_units

# ---- systemctl start: the device, its status, its name ----
start_service () {
    local dev n
    systemctl start nbdattach@demo.service
    systemctl is-active nbdattach@demo.service
    systemctl status --no-pager nbdattach@demo.service || :
    prop nbdattach@demo.service StatusText | tee /tmp/status
    dev=$(sed -n 's|^Serving \(/dev/nbd[0-9]*\)$|\1|p' /tmp/status)
    [[ -n "$dev" ]]
    echo "$dev" > /tmp/demo.dev
    n=${dev#/dev/nbd}
    [[ $(cat /sys/block/nbd$n/backend) == demo ]]
    [[ $(cat /sys/block/nbd$n/pid) == $(prop nbdattach@demo.service MainPID) ]]
    wait_for -L /dev/disk/by-blockkit/demo
    [[ $(readlink -f /dev/disk/by-blockkit/demo) == "$dev" ]]
    wait_prop "$DEV_UNIT" ActiveState active
    wait_prop "dev-nbd$n.device" ActiveState active
    # Protected from the OOM killer.
    [[ $(cat /proc/$(prop nbdattach@demo.service MainPID)/oom_score_adj) == -1000 ]]
}
check start start_service

# ---- the example mount unit mounts a filesystem from it ----
# after_blockdev_target: mnt-demo.mount is ordered after the device's
# blockdev@.target, named after the unit's What= (the by-blockkit link) or,
# once the mount is active, after its source in mountinfo (/dev/nbdN).
after_blockdev_target () {
    local dev
    dev=$(cat /tmp/demo.dev)
    prop mnt-demo.mount After | tr ' ' '\n' |
        grep -qxE 'blockdev@dev-disk-by\\x2dblockkit-demo\.target|blockdev@dev-'"${dev#/dev/}"'\.target'
}
mount_unit () {
    mkfs.ext4 -q /dev/disk/by-blockkit/demo
    udevadm settle
    systemctl start mnt-demo.mount
    findmnt /mnt/demo
    [[ $(findmnt -n -o SOURCE /mnt/demo) == "$(cat /tmp/demo.dev)" ]]
    # Ordered after the service through blockdev@.target.
    prop mnt-demo.mount After
    after_blockdev_target
    for i in 1 2 3; do
        head -c $((2 * 1024 * 1024 + i)) /dev/urandom > "/mnt/demo/file$i"
    done
    (cd /mnt/demo && md5sum file* > /tmp/sums)
    sync
}
check mount mount_unit

# ---- kill -9: systemd restarts the daemon, it reattaches, the mount lives ----
kill_restart () {
    local oldpid newpid inv writer
    oldpid=$(prop nbdattach@demo.service MainPID)
    inv=$(prop mnt-demo.mount InvocationID)
    # Writes in flight while the daemon dies.
    head -c $((24 * 1024 * 1024)) /dev/urandom > /tmp/during.src
    dd if=/tmp/during.src of=/mnt/demo/during bs=64k conv=fsync status=none &
    writer=$!
    sleep 0.5
    systemctl kill -s KILL nbdattach@demo.service
    echo "killed $oldpid"
    wait_prop nbdattach@demo.service NRestarts 1
    wait_prop nbdattach@demo.service ActiveState active
    newpid=$(prop nbdattach@demo.service MainPID)
    echo "restarted as $newpid: $(prop nbdattach@demo.service StatusText)"
    [[ "$newpid" != "$oldpid" && "$newpid" != 0 ]]
    [[ $(prop nbdattach@demo.service StatusText) == "Serving $(cat /tmp/demo.dev)" ]]
    journalctl -b --no-pager -u nbdattach@demo.service | grep -i reattach
    wait "$writer"
    # The same mount: systemd did not even try to stop it.
    if journalctl -b --no-pager -u mnt-demo.mount | grep -i unmounting; then
        echo "systemd unmounted /mnt/demo"; return 1
    fi
    systemctl is-active mnt-demo.mount
    [[ $(prop mnt-demo.mount InvocationID) == "$inv" ]]
    [[ $(findmnt -n -o SOURCE /mnt/demo) == "$(cat /tmp/demo.dev)" ]]
    [[ -L /dev/disk/by-blockkit/demo ]]
    echo 3 > /proc/sys/vm/drop_caches
    (cd /mnt/demo && md5sum -c /tmp/sums)
    cmp /tmp/during.src /mnt/demo/during
    echo after > /mnt/demo/after
    (cd /mnt/demo && md5sum file* during after > /tmp/sums)
    sync
}
check kill-restart kill_restart

# ---- stopping: unmount, then a clean detach; the data is all there ----
stop_units () {
    local dev n
    dev=$(cat /tmp/demo.dev); n=${dev#/dev/nbd}
    systemctl stop mnt-demo.mount
    not findmnt /mnt/demo
    fsck.ext4 -fn /dev/disk/by-blockkit/demo
    # Mounted again, then both stopped in one command: systemd unmounts
    # first (the mount is ordered after the service), then the daemon
    # detaches cleanly.
    systemctl start mnt-demo.mount
    (cd /mnt/demo && md5sum -c /tmp/sums)
    systemctl stop mnt-demo.mount nbdattach@demo.service
    [[ $(prop mnt-demo.mount ActiveState) == inactive ]]
    not findmnt /mnt/demo
    [[ $(prop nbdattach@demo.service ActiveState) == inactive ]]
    [[ $(prop nbdattach@demo.service Result) == success ]]
    [[ $(prop nbdattach@demo.service ExecMainStatus) == 0 ]]
    not "$NA" --check demo
    [[ ! -e /sys/block/nbd$n/pid ]]
    wait_for ! -e /dev/disk/by-blockkit/demo
    wait_prop "$DEV_UNIT" ActiveState inactive
    # The chain was flushed: the file itself holds a clean filesystem
    # with the data.
    clean_fs /mnt/demo.img
    mkdir -p /tmp/img
    mount -o ro,loop /mnt/demo.img /tmp/img 2>/dev/null || {
        echo "(no loop device: checked with fsck only)"; return 0; }
    (cd /tmp/img && md5sum -c /tmp/sums)
    umount /tmp/img
}
check stop stop_units

# ---- /etc/fstab and `systemctl enable`: a plain fstab line brings the
# device up through the device unit's Wants= ----
fstab_enable () {
    systemctl enable nbdattach@demo.service
    ls -l '/etc/systemd/system/dev-disk-by\x2dblockkit-demo.device.wants/'
    rm /etc/systemd/system/mnt-demo.mount
    # As blockkit-devices(7) gives it: x-systemd.after= orders an explicit
    # `systemctl stop` of both (blockdev@.target orders them at shutdown).
    echo '/dev/disk/by-blockkit/demo /mnt/demo ext4 defaults,nofail,x-systemd.after=nbdattach@demo.service 0 0' >> /etc/fstab
    systemctl daemon-reload
    systemctl cat mnt-demo.mount
    [[ $(prop nbdattach@demo.service ActiveState) == inactive ]]
    prop "$DEV_UNIT" Wants
    if ! timeout 120 systemctl start mnt-demo.mount; then
        systemctl list-jobs --no-pager || :
        systemctl status --no-pager mnt-demo.mount "$DEV_UNIT" nbdattach@demo.service || :
        return 1
    fi
    systemctl is-active nbdattach@demo.service
    findmnt /mnt/demo
    (cd /mnt/demo && md5sum -c /tmp/sums)
    after_blockdev_target
    systemctl stop mnt-demo.mount nbdattach@demo.service
    [[ $(prop nbdattach@demo.service Result) == success ]]
    wait_for ! -e /dev/disk/by-blockkit/demo
    clean_fs /mnt/demo.img
}
check fstab-enable fstab_enable

# ---- transport = ublk (issue 17): the same unit serves /dev/ublkbN,
# systemd's restart after kill -9 recovers it under a mounted
# filesystem, a stop deletes it.  Each step is checked with `|| return
# 1`: inside check's subshell bash ignores set -e. ----
ublk_unit () {
    local dev oldpid newpid
    if ! modprobe ublk_drv; then echo "no ublk in this kernel: nothing to check"; return 0; fi
    truncate -s 128M /mnt/udemo.img
    printf 'plugin = file\nfile = /mnt/udemo.img\ntransport = ublk\n' \
        > /etc/blockkit/devices/udemo.conf
    systemctl start nbdattach@udemo.service || return 1
    prop nbdattach@udemo.service StatusText | tee /tmp/ustatus
    dev=$(sed -n 's|^Serving \(/dev/ublkb[0-9]*\)$|\1|p' /tmp/ustatus)
    [[ -n "$dev" ]] || return 1
    wait_for -L /dev/disk/by-blockkit/udemo || return 1
    [[ $(readlink -f /dev/disk/by-blockkit/udemo) == "$dev" ]] || return 1
    mkfs.ext4 -q "$dev" || return 1
    mkdir -p /mnt/u
    mount "$dev" /mnt/u || return 1
    head -c 8M /dev/urandom > /mnt/u/f || return 1
    md5sum /mnt/u/f > /tmp/usum
    sync
    oldpid=$(prop nbdattach@udemo.service MainPID)
    systemctl kill -s KILL nbdattach@udemo.service
    wait_prop nbdattach@udemo.service NRestarts 1 || return 1
    wait_prop nbdattach@udemo.service ActiveState active || return 1
    newpid=$(prop nbdattach@udemo.service MainPID)
    echo "killed $oldpid, restarted as $newpid"
    [[ $newpid != "$oldpid" && $newpid != 0 ]] || return 1
    journalctl -b --no-pager -u nbdattach@udemo.service | grep -i reattach || return 1
    [[ -L /dev/disk/by-blockkit/udemo ]] || return 1
    echo 3 > /proc/sys/vm/drop_caches
    md5sum -c /tmp/usum || return 1
    umount /mnt/u || return 1
    systemctl stop nbdattach@udemo.service || return 1
    [[ $(prop nbdattach@udemo.service Result) == success ]] || return 1
    wait_for ! -e "$dev" || return 1
    wait_for ! -e /dev/disk/by-blockkit/udemo || return 1
    fsck.ext4 -fn /mnt/udemo.img
}
check ublk-unit ublk_unit

systemctl --failed --no-pager || :
echo "guest checks done"
