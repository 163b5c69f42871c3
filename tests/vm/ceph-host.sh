# The Ceph cluster for the rbd tests and benchmark in the VM
# (test-vm-rbd.sh, bench/rbd-kernel), sourced on the host.
#
# Why on the host: a cluster inside the emulated guest never became
# usable in time (start-cluster took 704 s under a loaded host, and then
# `rbd create` did not finish: every one of Ceph's many file operations
# is a 9p round trip there).  On the host it starts in 2-4 s, and the
# guest is then what a client machine is: librbd (in nbdattach's rbd
# plugin, or in rbd-nbd) talking to a cluster over TCP.  The VM reaches
# it through qemu's user-mode network (reach_host_loopback in
# guest-lib.sh).
#
#   ceph_host_start DIR GUEST_DIR
#       starts tests/ceph/start-cluster DIR (killed again by
#       ceph_host_stop DIR), prints its start time as
#       CEPH-START-SECONDS=N, and writes DIR/guest.conf: the client
#       configuration for the guest, where DIR is seen as GUEST_DIR.
#   ceph_host_stop DIR

# The source tree, found once, when this file is sourced.
ceph_host_top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

ceph_host_start () {
    local dir="$1" gdir="$2" fsid
    "$ceph_host_top/tests/ceph/start-cluster" "$dir" > "$dir.env" || {
        echo "ceph_host_start: the cluster did not start" >&2; return 1; }
    grep '^CEPH_START_SECONDS=' "$dir.env" | sed 's/_/-/g'
    # shellcheck disable=SC1090
    source "$dir/env"
    fsid="$(sed -n 's/^fsid = //p' "$CEPH_CONF")"
    # Only what a client needs: the host's own configuration names
    # its log, pid and socket files under DIR, which the guest sees
    # read-only.
    cat > "$dir/guest.conf" <<CONF
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$CEPH_MON_PORT]
keyring = $gdir/keyring
auth_client_required = cephx
log_file = /tmp/ceph-client.\$pid.log
run_dir = /tmp
admin_socket =
CONF
}

ceph_host_stop () {
    "$ceph_host_top/tests/ceph/stop-cluster" "$1"
    rm -f "$1.env"
}
