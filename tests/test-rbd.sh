#!/usr/bin/env bash
# The rbd plugin against a real one-node Ceph cluster (tests/ceph), part 1:
# nbdinfo (size, map, capabilities), qemu-io patterns across object
# boundaries, a 256 MiB image copied both ways with nbdcopy and compared
# with what `rbd export` / `rbd import` see, trim freeing space (`rbd du`),
# a snapshot served read-only and unchanged, a clone's map with and
# without its parent, two connections seeing each other's writes, and
# `rbd resize` under a connected client.  Part 2 is test-rbd-2.sh.
source "${srcdir:-$(dirname "$0")}/functions.sh"
source "$srcdir/rbd-functions.sh"
requires nbdcopy
requires qemu-io
t_start=$SECONDS

start_ceph
M=$((1 << 20))

# ---- 1. nbdinfo: size, capabilities, block size, map.
echo "== nbdinfo"
rbd create --size 64M rbd/small
rbd bench --io-type write --io-size 1M --io-total 1M --io-pattern seq \
    rbd/small >/dev/null                        # object 0 gets data
start_server "$tmp/s1" rbd rbd/small conf="$conf"
uri1="$(nbd_uri "$tmp/s1")"
nbdinfo --json "$uri1" >"$tmp/info.json"
"$PYTHON" - "$tmp/info.json" <<'EOF'
import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
want = {"export-size": 64 << 20, "is_read_only": False, "can_flush": True,
        "can_fua": True, "can_trim": True, "can_zero": True,
        "can_fast_zero": True, "can_multi_conn": True,
        "block_size_preferred": 4 << 20, "block_size_minimum": 1}
for k, v in want.items():
    assert e.get(k) == v, (k, e.get(k), v)
EOF
map "$uri1" >"$tmp/map"
# (whole_object=false: the written MiB, not its whole 4 MiB object.)
[[ "$(cat "$tmp/map")" == "0 1048576 0
1048576 66060288 3" ]] ||
    { cat "$tmp/map"; fail "the first MiB should be data, the rest a hole"; }
# The magic key and the split keys name the same image.
bk -U - rbd image=small pool=rbd conf="$conf" --run 'nbdinfo --size "$uri"' \
    >"$tmp/size"
[[ "$(cat "$tmp/size")" == $((64 * M)) ]] || fail "pool= image= size"

# ---- 1b. Errors at start name the key to fix; none of them hangs.
echo "== errors"
# expect_error MESSAGE ARGS...: the server must fail to start, saying MESSAGE.
expect_error() {
    local msg="$1"; shift
    if bk -U - rbd "$@" --run true >"$tmp/err" 2>&1; then
        fail "the server started with: $*"
    fi
    grep -qF -- "$msg" "$tmp/err" || { cat "$tmp/err"; fail "no '$msg' for: $*"; }
}
expect_error "image=nope: no such image in pool rbd" rbd/nope conf="$conf"
expect_error "pool=nopool: no such pool" nopool/small conf="$conf"
expect_error "snap=nosnap: image rbd/small has no such snapshot" \
    rbd/small@nosnap conf="$conf"
command ceph-authtool --create-keyring "$tmp/bad.keyring" -n client.admin \
    --gen-key >/dev/null
expect_error "authentication failed (check id= and keyring=$tmp/bad.keyring)" \
    rbd/small conf="$conf" keyring="$tmp/bad.keyring"
expect_error "client.nobody: authentication failed" rbd/small conf="$conf" id=nobody
expect_error "rbd_cachee: not a Ceph option" rbd/small conf="$conf" rbd_cachee=false
expect_error "rbd_cache=maybe: Ceph does not take this value" \
    rbd/small conf="$conf" rbd_cache=maybe
expect_error "conf=$tmp/none: No such file" rbd/small conf="$tmp/none"
# No monitor at all: bounded by client_mount_timeout.
sed 's/^mon_host = .*/mon_host = [v2:127.0.0.1:9]/' "$conf" >"$tmp/dead.conf"
t0=$SECONDS
expect_error "no monitor of the cluster answered within client_mount_timeout=2" \
    rbd/small conf="$tmp/dead.conf" client_mount_timeout=2
(( SECONDS - t0 <= 10 )) || fail "an unreachable cluster took $((SECONDS - t0)) s"
bk --dump-plugin rbd | grep -q "^librbd_version=1\." || fail "--dump-plugin"

# ---- 2. qemu-io: patterns, across an object boundary, read back.
echo "== qemu-io"
qemu-io -f raw "$uri1" \
    -c 'write -P 0x5a 4190208 8192' -c 'write -P 0xa5 0 512' \
    -c 'write -z 16M 4M' -c 'flush' >/dev/null
qemu-io -r -f raw "$uri1" \
    -c 'read -P 0x5a 4190208 8192' -c 'read -P 0xa5 0 512' \
    -c 'read -P 0 16M 4M' >"$tmp/qio" 2>&1
if grep -qi "pattern verification failed\|error" "$tmp/qio"; then
    cat "$tmp/qio"; fail "qemu-io read back the wrong pattern"
fi
# ... and the cluster has them (rbd export, not through blockkit).
rbd export --no-progress rbd/small "$tmp/small.img"
cmp -n 8192 -i 4190208:0 "$tmp/small.img" <(head -c 8192 /dev/zero | tr '\0' '\132') ||
    fail "rbd export does not hold qemu-io's write"
stop_server "$server_pid"

# ---- 3. 256 MiB both ways: nbdcopy in, rbd export out; rbd import in,
# nbdcopy out.  Random data with holes.
echo "== nbdcopy 256 MiB"
head -c $((96 * M)) /dev/urandom >"$tmp/in.img"
truncate -s $((256 * M)) "$tmp/in.img"
dd if=/dev/urandom of="$tmp/in.img" bs=1M seek=200 count=24 conv=notrunc status=none
rbd create --size 256M rbd/big
start_server "$tmp/s2" rbd rbd/big conf="$conf"
uri2="$(nbd_uri "$tmp/s2")"
t0=$SECONDS
nbdcopy --requests=32 "$tmp/in.img" "$uri2"
echo "nbdcopy in: $((SECONDS - t0)) s"
rbd export --no-progress rbd/big "$tmp/big-export.img"
cmp "$tmp/in.img" "$tmp/big-export.img" || fail "rbd export differs from what nbdcopy wrote"
# nbdcopy skips the zero ranges: they must not have been allocated.
used=$(rbd_used rbd/big)
(( used <= 130 * M )) || fail "nbdcopy allocated $used bytes for 120 MiB of data"
stop_server "$server_pid"

rbd import --no-progress "$tmp/in.img" rbd/imported
start_server "$tmp/s3" -r rbd rbd/imported conf="$conf"
t0=$SECONDS
nbdcopy --requests=32 "$(nbd_uri "$tmp/s3")" "$tmp/out.img"
echo "nbdcopy out: $((SECONDS - t0)) s"
cmp "$tmp/in.img" "$tmp/out.img" || fail "nbdcopy read back differs from rbd import"
map "$(nbd_uri "$tmp/s3")" >"$tmp/map3"
grep -q "^209715200 25165824 0$" "$tmp/map3" ||
    { cat "$tmp/map3"; fail "the imported data at 200 MiB is not data in the map"; }
grep -q "^100663296 .* 3$" "$tmp/map3" ||
    { cat "$tmp/map3"; fail "the imported hole at 96 MiB is not a hole in the map"; }
stop_server "$server_pid"
rm -f "$tmp/out.img" "$tmp/big-export.img"

# ---- 4. Trim frees space in the cluster.
echo "== trim"
start_server "$tmp/s4" rbd rbd/big conf="$conf"
uri4="$(nbd_uri "$tmp/s4")"
before=$(rbd_used rbd/big)
nbdsh -u "$uri4" -c 'h.trim(64 << 20, 0); h.flush()'
after=$(rbd_used rbd/big)
echo "rbd du: $before -> $after bytes"
(( after <= before - 60 * M )) || fail "trimming 64 MiB freed only $((before - after)) bytes"
nbdsh -u "$uri4" -c '
assert h.pread(4096, 0) == bytes(4096)          # whole objects: removed
assert h.pread(4096, (64 << 20) + 4096) != bytes(4096)'
# Zero without NO_HOLE deallocates too (64-96 MiB was data); with it, the
# zeroes are allocated (128 MiB was a hole).
nbdsh -u "$uri4" -c '
h.zero(32 << 20, 64 << 20)
h.zero(8 << 20, 128 << 20, nbd.CMD_FLAG_NO_HOLE)
h.flush()
assert h.pread(4096, 128 << 20) == bytes(4096)'
map "$uri4" >"$tmp/map4"
grep -q "^0 134217728 3$" "$tmp/map4" && grep -q "^134217728 8388608 0$" "$tmp/map4" ||
    { cat "$tmp/map4"; fail "zero: the map is not hole then allocated zeroes"; }
stop_server "$server_pid"

# ---- 5. A snapshot: read-only, and unchanged by writes to the image.
echo "== snapshot"
rbd snap create --no-progress rbd/imported@s1
start_server "$tmp/s5" rbd rbd/imported conf="$conf"
nbdsh -u "$(nbd_uri "$tmp/s5")" -c 'h.pwrite(b"\xff" * (1 << 20), 0); h.flush()'
stop_server "$server_pid"
start_server "$tmp/s6" -r rbd rbd/imported@s1 conf="$conf"
uri6="$(nbd_uri "$tmp/s6")"
nbdinfo --json "$uri6" | grep -q '"is_read_only": true' || fail "the snapshot is not read-only"
nbdcopy "$uri6" "$tmp/snap.img"
cmp "$tmp/in.img" "$tmp/snap.img" || fail "the snapshot changed"
rm -f "$tmp/snap.img"
stop_server "$server_pid"
# Without -r it is read-only all the same (as rbd-nbd maps it), and a
# write is refused.
start_server "$tmp/s7" rbd rbd/imported@s1 conf="$conf"
uri7="$(nbd_uri "$tmp/s7")"
nbdinfo --json "$uri7" | grep -q '"is_read_only": true' ||
    fail "a snapshot served without -r is not read-only"
expect_fail nbdsh -u "$uri7" -c 'h.pwrite(b"\xff" * 512, 0)' >/dev/null 2>&1
nbdcopy "$uri7" "$tmp/snap.img"
cmp "$tmp/in.img" "$tmp/snap.img" || fail "the snapshot changed"
rm -f "$tmp/snap.img"
stop_server "$server_pid"

# ---- 6. A clone: its map with and without the parent's data.
echo "== clone"
rbd snap protect rbd/imported@s1
rbd clone rbd/imported@s1 rbd/child
rbd bench --io-type write --io-size 4M --io-total 4M --io-pattern seq \
    rbd/child >/dev/null                        # object 0 is the child's own
bk -U - -r rbd rbd/child conf="$conf" --run 'nbdinfo --map "$uri"' |
    awk '{ print $1, $2, $3 }' >"$tmp/map-with"
bk -U - -r rbd rbd/child conf="$conf" parent-extents=false \
    --run 'nbdinfo --map "$uri"' | awk '{ print $1, $2, $3 }' >"$tmp/map-without"
# With the parent: its data (0-96 MiB, 200-224 MiB) is data.
grep -q "^209715200 25165824 0$" "$tmp/map-with" &&
grep -q "^0 100663296 0$" "$tmp/map-with" ||
    { cat "$tmp/map-with"; fail "the clone's map does not include the parent's data"; }
# Without: only the child's own object 0; the rest may read the parent's
# data, so it is a hole not known to be zero (1).
[[ "$(cat "$tmp/map-without")" == "0 4194304 0
4194304 264241152 1" ]] ||
    { cat "$tmp/map-without"; fail "the clone's own map is wrong"; }

# ---- 7. Two connections see each other's writes (one image handle),
# and `rbd resize` under a connected client: a new client sees it.
echo "== two connections, resize"
rbd create --size 64M rbd/shared
start_server "$tmp/s8" rbd rbd/shared conf="$conf"
nbdpy "$(nbd_uri "$tmp/s8")" "$conf" <<'EOF'
import nbd, subprocess, sys
uri, conf = sys.argv[1], sys.argv[2]
a = nbd.NBD(); a.connect_uri(uri)
b = nbd.NBD(); b.connect_uri(uri)
assert a.can_multi_conn() and b.can_multi_conn()
a.pwrite(b"A" * 65536, 4 << 20)
assert b.pread(65536, 4 << 20) == b"A" * 65536, "b does not see a's write"
b.pwrite(b"B" * 512, (4 << 20) + 100)
assert a.pread(512, (4 << 20) + 100) == b"B" * 512, "a does not see b's write"
b.flush()   # multi-conn: covers a's write too
subprocess.run(["rbd", "-c", conf, "resize", "--no-progress", "--size", "96M",
                "rbd/shared"], check=True, timeout=60)
assert a.get_size() == 64 << 20       # a connection keeps its size
c = nbd.NBD(); c.connect_uri(uri)
assert c.get_size() == 96 << 20, c.get_size()
c.pwrite(b"C" * 4096, 90 << 20)
assert c.pread(4096, (4 << 20) + 8192) == b"A" * 4096
for h in (a, b, c):
    h.shutdown()
EOF
server_alive "$server_pid"
stop_server "$server_pid"
rbd export --no-progress rbd/shared "$tmp/shared.img"
[[ $(stat -c %s "$tmp/shared.img") -eq $((96 * M)) ]] || fail "resize"
cmp -n 4096 -i $((90 * M)):0 "$tmp/shared.img" <(printf 'C%.0s' $(seq 4096)) ||
    fail "the write past the old end did not reach the cluster"

echo "test-rbd.sh: $((SECONDS - t_start)) s"
