#!/usr/bin/env bash
# Runs inside the test VM (tests/vm/run-guest: a chroot on the host root,
# read-only over 9p, with /run, /tmp and /mnt as tmpfs), as root: the
# shipped udev rules (udev/99-blockkit.rules) under a real systemd-udevd.
# Each check prints "CHECK NAME: PASS|FAIL"; test-vm-udev-systemd.sh
# reads these lines.
#
# Needs $abs_top_builddir and $abs_top_srcdir.
set -u

B="$abs_top_builddir"
S="$abs_top_srcdir"
export BLOCKKIT_PLUGIN_PATH="$B/plugins" BLOCKKIT_FILTER_PATH="$B/filters"
NA="$B/nbdattach/nbdattach"
export PATH="/usr/sbin:/usr/bin:/sbin:/bin"
# udevadm ignores requests "in a chroot" (its pid 1 is the initramfs's
# init, outside this root) unless told otherwise.
export SYSTEMD_IGNORE_CHROOT=1

for m in nbd ext4; do modprobe "$m" || echo "modprobe $m failed"; done

source "$(dirname "$0")/guest-lib.sh"

# wait_for TEST-ARGS...: up to 20 s for `test ARGS` to hold.
wait_for () {
    local i
    for i in $(seq 1 100); do
        test "$@" && return 0
        sleep 0.2
    done
    echo "timed out waiting for: test $*"
    ls -l /dev/disk/by-blockkit/ 2>&1 || :
    return 1
}

# The shipped rules, where udevd looks for local rules (/etc is read-only
# here, /run is the guest's own tmpfs).
start_udevd () {
    mkdir -p /run/udev/rules.d
    cp "$S/udev/99-blockkit.rules" /run/udev/rules.d/
    /lib/systemd/systemd-udevd --daemon
    udevadm control --ping
    udevadm trigger --type=subsystems --action=add
    udevadm trigger --type=devices --action=add
    udevadm settle --timeout=60
    # nbd devices that are not connected: not ready for systemd, no link.
    udevadm info --query=property /dev/nbd0 | tee /tmp/nbd0-idle.props
    grep -qx SYSTEMD_READY=0 /tmp/nbd0-idle.props
    [[ ! -e /dev/disk/by-blockkit ]] || [[ -z "$(ls /dev/disk/by-blockkit)" ]]
}
check udevd start_udevd

links () {
    local dev n props
    dev=$("$NA" -n demo memory 256M)
    n=${dev#/dev/nbd}
    echo "attached $dev"
    wait_for -L /dev/disk/by-blockkit/demo
    udevadm settle
    [[ $(readlink -f /dev/disk/by-blockkit/demo) == "$dev" ]]
    props=$(udevadm info --query=property "$dev")
    echo "$props"
    grep -qx SYSTEMD_READY=1 <<< "$props"
    grep -qx BLOCKKIT_NAME=demo <<< "$props"
    grep -q "^TAGS=.*:systemd:" <<< "$props"

    # Partitions: demo-part1 and demo-part2.
    printf 'label: dos\n,64M,L\n,,L\n' | sfdisk -q "$dev"
    wait_for -L /dev/disk/by-blockkit/demo-part2
    wait_for -L /dev/disk/by-blockkit/demo-part1
    udevadm settle
    ls -l /dev/disk/by-blockkit/
    [[ $(readlink -f /dev/disk/by-blockkit/demo-part1) == "${dev}p1" ]]
    [[ $(readlink -f /dev/disk/by-blockkit/demo-part2) == "${dev}p2" ]]
    # A filesystem made through the link; the inotify watch makes udev
    # reprocess the disk when mkfs closes it: the links stay.
    mkfs.ext4 -q /dev/disk/by-blockkit/demo-part1
    udevadm settle
    [[ -L /dev/disk/by-blockkit/demo && -L /dev/disk/by-blockkit/demo-part1 ]]
    mkdir -p /mnt/p1
    mount /dev/disk/by-blockkit/demo-part1 /mnt/p1
    echo hello > /mnt/p1/f
    umount /mnt/p1
    # A "change" event replayed while connected keeps every link.
    udevadm trigger --action=change --settle "$dev"
    udevadm trigger --action=change --settle "${dev}p1"
    [[ -L /dev/disk/by-blockkit/demo && -L /dev/disk/by-blockkit/demo-part1 &&
       -L /dev/disk/by-blockkit/demo-part2 ]]

    # Detach: every link goes, the disk is not ready any more.
    "$NA" --detach demo
    wait_detached "$dev"
    wait_for ! -e /dev/disk/by-blockkit/demo
    wait_for ! -e /dev/disk/by-blockkit/demo-part1
    wait_for ! -e /dev/disk/by-blockkit/demo-part2
    udevadm settle
    ls -la /dev/disk/by-blockkit/ || :
    ls -l /dev/nbd${n}* || :
    props=$(udevadm info --query=property "$dev")
    echo "$props"
    grep -qx SYSTEMD_READY=0 <<< "$props"
    not grep -q "^DEVLINKS=.*by-blockkit" <<< "$props"
    # A change event on the idle disk makes no link either.
    udevadm trigger --action=change --settle "$dev"
    [[ ! -e /dev/disk/by-blockkit/demo ]]
}
check links links

# Attach again under the same name: the link comes back.
reattach_other () {
    local dev
    dev=$("$NA" -n demo memory 64M)
    wait_for -L /dev/disk/by-blockkit/demo
    [[ $(readlink -f /dev/disk/by-blockkit/demo) == "$dev" ]]
    "$NA" --detach "$dev"
    wait_detached "$dev"
    wait_for ! -e /dev/disk/by-blockkit/demo
}
check again reattach_other

# Names outside the safe set get no link (but the property); a name
# with ":" and "@" gets its link, which a kill -9 and --reattach keeps.
names () {
    local dev dev2 pid props
    dev=$("$NA" -n 'two words' memory 64M)
    udevadm settle
    sleep 1; udevadm settle
    props=$(udevadm info --query=property "$dev")
    echo "$props"
    grep -qx "BLOCKKIT_NAME=two words" <<< "$props"
    ls -la /dev/disk/by-blockkit/ || :
    [[ -z "$(ls -A /dev/disk/by-blockkit 2>/dev/null)" ]]
    "$NA" --detach "$dev"; wait_detached "$dev"

    dev=$("$NA" -n '../../evil' memory 64M)
    udevadm settle; sleep 1; udevadm settle
    [[ ! -e /dev/evil && ! -e /dev/disk/evil ]]
    [[ -z "$(ls -A /dev/disk/by-blockkit 2>/dev/null)" ]]
    "$NA" --detach "$dev"; wait_detached "$dev"

    dev=$("$NA" -n 'web:data@1' -P /tmp/k.pid memory 64M)
    wait_for -L '/dev/disk/by-blockkit/web:data@1'
    pid=$(cat /tmp/k.pid)
    kill -9 "$pid"
    sleep 1
    "$NA" --reattach 'web:data@1' -n 'web:data@1' memory 64M
    udevadm trigger --action=change --settle "$dev"
    [[ -L '/dev/disk/by-blockkit/web:data@1' ]]
    "$NA" --detach "$dev"; wait_detached "$dev"
    wait_for ! -e '/dev/disk/by-blockkit/web:data@1'
}
check names names

udevadm control --exit || :
echo "guest checks done"
