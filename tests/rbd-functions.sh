# What the rbd plugin's tests (test-rbd*.sh) share, sourced after
# functions.sh: a one-node Ceph cluster of the test's own (tests/ceph),
# started once per script under $tmp and always stopped when it exits,
# and short names for the Ceph tools pointed at it.

is_blockkit || skip "the rbd plugin is blockkit's"
[[ $(id -u) -eq 0 ]] || skip "the test Ceph cluster runs its daemons as root"
for _p in ceph-mon ceph-osd ceph rbd monmaptool ceph-authtool uuidgen; do
    requires "$_p"
done
unset _p
requires nbdinfo
requires_nbdsh

# Under AddressSanitizer (.ci/sanitize sets ASAN_OPTIONS), a C program
# that loads librados, which is C++ and throws exceptions internally, hits
# ASan's check that __cxa_throw was resolved when the program started: it
# was not, as nothing had loaded libstdc++ yet.  Loading it first fixes
# that (for every process here: the others use libstdc++ anyway).
if [[ -n "${ASAN_OPTIONS:-}" ]]; then
    _libstdcxx="$(/sbin/ldconfig -p | awk '/libstdc\+\+\.so\.6 .*x86-64/ { print $NF; exit }')"
    [[ -n "$_libstdcxx" ]] || _libstdcxx=/usr/lib/x86_64-linux-gnu/libstdc++.so.6
    export LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$_libstdcxx"
fi

# start_ceph: start the cluster, export CEPH_CONF (which rbd, ceph and
# librados read) and set $conf, $osd_pid, $ceph_dir.
start_ceph() {
    ceph_dir="$tmp/ceph"
    on_exit "'$srcdir/ceph/stop-cluster' '$ceph_dir'"
    local t0=$SECONDS rc=0
    timeout 120 "$srcdir/ceph/start-cluster" "$ceph_dir" >"$tmp/ceph.env" \
        2>"$tmp/ceph.err" || rc=$?
    if [[ $rc -ne 0 ]]; then
        cat "$tmp/ceph.err" >&2
        tail -n 20 "$ceph_dir"/log/*.log >&2 2>/dev/null || :
        [[ $rc -eq 77 ]] && skip "$(cat "$tmp/ceph.err")"
        fail "the test Ceph cluster did not start"
    fi
    # shellcheck disable=SC1091
    source "$ceph_dir/env"
    export CEPH_CONF
    conf="$CEPH_CONF"
    osd_pid="$CEPH_OSD_PID"
    echo "ceph: cluster up in $((SECONDS - t0)) s" \
         "($(grep CEPH_START_SECONDS "$tmp/ceph.env"))"
}

# Bounded, like the other clients (functions.sh).
_rbd_bin="$(type -P rbd)"
_ceph_bin="$(type -P ceph)"
rbd() { timeout -k 5 60 "$_rbd_bin" "$@"; }
ceph() { timeout -k 5 60 "$_ceph_bin" "$@"; }

# rbd_used IMAGE: bytes `rbd du` says the image uses.
rbd_used() {
    rbd du --format json "$1" | "$PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
print(sum(i["used_size"] for i in d["images"] if "snapshot" not in i))'
}

# map URI: nbdinfo --map, as "offset length type" lines (type 0 data,
# 1 hole not known to be zero, 3 hole reading as zeroes).
map() { nbdinfo --map "$1" | awk '{ print $1, $2, $3 }'; }
