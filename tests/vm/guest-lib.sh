# What the guest scripts (guest-nbdattach.sh, guest-ublk.sh,
# guest-systemd-udev.sh, guest-systemd-boot.sh) share; sourced by them,
# inside the VM.

# check NAME FUNCTION [ARGS...]: runs FUNCTION in a subshell with errexit
# and pipefail, its output kept in /tmp/check-NAME.log, and prints
# "CHECK NAME [KERNEL]: PASS (UPTIME s)" or "CHECK NAME [KERNEL]: FAIL"
# (KERNEL: uname -r, the kernel matrix's column) and the end of the
# log: the lines the test-vm-*.sh scripts count.  A guest script that
# defines check_failed_more NAME gets it called after a failure, to show
# more (a journal, say).
#   GUEST_CHECKS="name ..."   run only these checks
#   GUEST_VERBOSE=1           show the log of passing checks too
# bash's <(...) names /dev/fd/N, which the chroot's devtmpfs lacks.
[[ -e /dev/fd ]] || ln -s /proc/self/fd /dev/fd

check () {
    local name="$1"; shift
    if [[ -n "${GUEST_CHECKS:-}" && " $GUEST_CHECKS " != *" $name "* ]]; then
        return 0
    fi
    # Not as an if's condition (nor with || or &&): there bash ignores
    # errexit in the whole subshell, set -e inside it included, and only
    # the function's last command would count.
    local rc opts="$-"
    set +e
    ( set -euo pipefail; "$@" ) > "/tmp/check-$name.log" 2>&1
    rc=$?
    [[ $opts != *e* ]] || set -e
    if (( rc == 0 )); then
        echo "CHECK $name [$(uname -r)]: PASS ($(cut -d' ' -f1 /proc/uptime) s)"
        [[ -z "${GUEST_VERBOSE:-}" ]] || sed 's/^/  | /' "/tmp/check-$name.log"
    else
        echo "CHECK $name [$(uname -r)]: FAIL"
        sed 's/^/  | /' "/tmp/check-$name.log" | tail -n 60
        if declare -F check_failed_more >/dev/null; then check_failed_more "$name"; fi
    fi
}

# not COMMAND [ARGS...]: succeeds when COMMAND fails.  For a check's
# "this must fail" lines: bash's errexit ignores `! COMMAND` anywhere but
# a function's last line, so such a line could never fail the check.
not () {
    if "$@"; then
        echo "not: this succeeded and should have failed: $*" >&2
        return 1
    fi
}

# wait_detached DEVICE: up to 20 s for nbdattach ($NA) to say DEVICE is
# no longer connected.
wait_detached () {
    local i
    for i in $(seq 1 100); do
        "$NA" --check "$1" || return 0
        sleep 0.2
    done
    echo "$1 still connected"; return 1
}

# reach_host_loopback: makes the guest's 127.0.0.0/8 the host's, so that
# a service the test started on the host's 127.0.0.1 (a Ceph cluster)
# is reachable inside the guest at the very addresses it advertises (a
# Ceph client connects to whatever the monitor's maps list, 127.0.0.1
# here, and could not be redirected to another address).  Needs the VM
# booted with VM_NIC=user,model=virtio-net-pci: qemu's user-mode network
# turns every TCP connection the guest makes into a connection the host
# makes, to the same address.  The guest gives up its own loopback
# address for it (nothing in such a guest needs one), and the kernel is
# told to route 127/8 out of eth0 (route_localnet), which it otherwise
# refuses as martian.
reach_host_loopback () {
    modprobe virtio_net || return 1
    ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 || return 1
    ip link set lo up
    ip addr del 127.0.0.1/8 dev lo 2>/dev/null || :
    sysctl -q -w net.ipv4.conf.eth0.route_localnet=1 net.ipv4.conf.all.route_localnet=1
    ip route add 127.0.0.0/8 via 10.0.2.2 dev eth0
}

# wait_exited PID: up to 20 s for the process (a daemon) to end.
wait_exited () {
    local i
    for i in $(seq 1 100); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.2
    done
    echo "process $1 still running"; return 1
}

# fs_roundtrip FS NBDATTACH-ARGS...: attaches a device with the
# arguments ($NA), makes an FS (ext4, xfs or btrfs) on it, writes three
# files of random data, checks their checksums after a remount, and
# detaches: for nbd devices (guest-nbdattach.sh) and ublk ones
# (guest-ublk.sh) alike.
fs_roundtrip () {
    local fs="$1" dev
    shift
    dev=$("$NA" "$@")
    echo "attached $dev"
    case "$fs" in
        ext4) mkfs.ext4 -q "$dev" ;;
        xfs) mkfs.xfs -q "$dev" ;;
        btrfs) mkfs.btrfs -q "$dev" ;;
        *) echo "fs_roundtrip: no mkfs for $fs"; return 1 ;;
    esac
    mkdir -p /mnt/fs
    mount "$dev" /mnt/fs
    for i in 1 2 3; do
        head -c $((3 * 1024 * 1024 + i)) /dev/urandom > "/mnt/fs/file$i"
    done
    (cd /mnt/fs && md5sum file* > /tmp/sums-$fs)
    umount /mnt/fs
    mount "$dev" /mnt/fs
    (cd /mnt/fs && md5sum -c /tmp/sums-$fs)
    umount /mnt/fs
    "$NA" --detach "$dev"
    wait_detached "$dev"
}
