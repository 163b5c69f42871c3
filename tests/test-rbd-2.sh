#!/usr/bin/env bash
# The rbd plugin against a real one-node Ceph cluster (tests/ceph), part 2:
# the cow filter over a read-only snapshot, fio with several jobs and
# verify=crc32c, and the cluster stopped under running clients (the OSD
# killed by pid): requests fail with a clear error within
# rados_osd_op_timeout, nothing hangs, and once the OSD is started again
# the retry filter carries a request that was waiting over the outage;
# with the cluster gone altogether, the server still exits.
source "${srcdir:-$(dirname "$0")}/functions.sh"
source "$srcdir/rbd-functions.sh"
requires fio
fio --enghelp=nbd >/dev/null 2>&1 || skip "this fio has no nbd engine"
t_start=$SECONDS

start_ceph
M=$((1 << 20))

# ---- 1. The cow filter over a read-only snapshot: writes land in the
# overlay, the snapshot (and the image) stay as they were.
echo "== cow over a snapshot"
head -c $((32 * M)) /dev/urandom >"$tmp/base.img"
rbd import --no-progress "$tmp/base.img" rbd/base
rbd snap create --no-progress rbd/base@gold
start_server "$tmp/cow" --filter=cow rbd rbd/base@gold conf="$conf"
nbdsh -u "$(nbd_uri "$tmp/cow")" -c '
assert not h.is_read_only()
h.pwrite(b"\xee" * 65536, 1 << 20)
h.zero(1 << 20, 8 << 20)
h.flush()
assert h.pread(65536, 1 << 20) == b"\xee" * 65536
assert h.pread(4096, 8 << 20) == bytes(4096)'
stop_server "$server_pid"
rbd export --no-progress rbd/base@gold "$tmp/gold.img"
cmp "$tmp/base.img" "$tmp/gold.img" || fail "the snapshot changed under the cow filter"
rm "$tmp/gold.img"
rbd export --no-progress rbd/base "$tmp/gold.img"
cmp "$tmp/base.img" "$tmp/gold.img" || fail "the image changed under the cow filter"
rm -f "$tmp/gold.img"

# ---- 2. fio: 4 jobs, each its own region and connection, random writes
# verified, then verified again in a separate pass, then by the cluster.
echo "== fio verify"
rbd create --size 128M rbd/fio
start_server "$tmp/fio" rbd rbd/fio conf="$conf"
uri="$(nbd_uri "$tmp/fio")"
cd "$tmp"       # fio leaves *-verify.state files in the current directory
common=(--ioengine=nbd --uri="$uri" --size=16M --bsrange=4k-256k --iodepth=16
        --verify=crc32c --do_verify=1 --verify_fatal=1 --group_reporting
        --randseed=42 --output-format=json)
fio --name=rw --rw=randwrite --numjobs=4 --offset_increment=32M \
    "${common[@]}" --output="$tmp/w.json"
fio --name=rw --rw=randwrite --numjobs=4 --offset_increment=32M \
    "${common[@]}" --verify_only --output="$tmp/v.json"
"$PYTHON" - "$tmp/w.json" "$tmp/v.json" <<'EOF'
import json, sys
for f in sys.argv[1:]:
    for job in json.load(open(f))["jobs"]:
        assert job["error"] == 0, (f, job["error"])
w = json.load(open(sys.argv[1]))["jobs"][0]["write"]
print("fio: %d writes, %.1f MiB/s" % (w["total_ios"], w["bw"] / 1024))
assert w["total_ios"] > 0
EOF
# The same bytes through the cluster's own client.
nbdcopy "$uri" "$tmp/fio-nbd.img"
rbd export --no-progress rbd/fio "$tmp/fio-rbd.img"
cmp "$tmp/fio-nbd.img" "$tmp/fio-rbd.img" || fail "rbd export differs from blockkit"
rm -f "$tmp/fio-nbd.img" "$tmp/fio-rbd.img"
stop_server "$server_pid"
cd - >/dev/null

# ---- 3. The OSD stops under the clients, and comes back.
echo "== OSD killed and restarted"
for img in plain retried; do
    rbd create --size 64M "rbd/$img"
    # Data in the cluster that the server's cache has never seen.
    rbd bench --io-type write --io-size 4M --io-total 64M --io-pattern seq \
        "rbd/$img" >/dev/null
done
start_server "$tmp/plain" rbd rbd/plain conf="$conf" rados_osd_op_timeout=4
plain_pid=$server_pid
start_server "$tmp/retried" --filter=retry rbd rbd/retried conf="$conf" \
    rados_osd_op_timeout=4 retries=20 retry-delay=1 retry-exponential=false
retried_pid=$server_pid
nbdsh -u "$(nbd_uri "$tmp/plain")" -c 'h.pwrite(b"P" * 4096, 0); h.flush()'
nbdsh -u "$(nbd_uri "$tmp/retried")" -c 'h.pwrite(b"R" * 4096, 0); h.flush()'

kill -TERM "$osd_pid"       # (memstore saves its objects as it stops)
for _ in $(seq 300); do kill -0 "$osd_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$osd_pid" 2>/dev/null && fail "the OSD did not stop"

# Without the retry filter: an error, in bounded time, that says why.
t0=$SECONDS
expect_fail nbdsh -u "$(nbd_uri "$tmp/plain")" -c 'h.pread(4096, 8 << 20)' 2>/dev/null
expect_fail nbdsh -u "$(nbd_uri "$tmp/plain")" \
    -c 'h.pwrite(b"x" * 4096, 12 << 20); h.flush()' 2>/dev/null
took=$((SECONDS - t0))
echo "two requests failed in $took s"
(( took <= 25 )) || fail "requests to a stopped cluster took $took s to fail"
grep -q "did not answer within rados_osd_op_timeout" "$tmp/server.log" ||
    fail "no clear error for a stopped cluster"

# With it: a request issued during the outage waits it out.
nbdsh -u "$(nbd_uri "$tmp/retried")" -c '
assert h.pread(4096, 0) == b"R" * 4096
h.pwrite(b"S" * 4096, 20 << 20)
h.flush()
assert h.pread(4096, 20 << 20) == b"S" * 4096' >"$tmp/retried.out" 2>&1 &
client=$!
# The OSD comes back only once a try has failed (after the 4 s
# rados_osd_op_timeout): a fixed pause raced with the client's start and
# the OSD's boot.
for _ in $(seq 600); do
    grep -q "in rbd/retried: the cluster did not answer" "$tmp/server.log" && break
    kill -0 "$client" 2>/dev/null || break
    sleep 0.1
done
grep -q "in rbd/retried: the cluster did not answer" "$tmp/server.log" || {
    cat "$tmp/retried.out"
    fail "the request through the retry filter never failed: nothing was tested"; }
t0=$SECONDS
read -r osd_cmd <"$ceph_dir/osd-cmd"
$osd_cmd </dev/null >>"$ceph_dir/log/osd.0.out" 2>&1 &
osd_pid=$!
disown "$osd_pid"     # stop-cluster kills it (by pid), not the shell
echo "$osd_pid" >"$ceph_dir/run/osd.0.pid"     # for stop-cluster
wait "$client" || { cat "$tmp/retried.out"; fail "the retry filter did not recover"; }
echo "the waiting request completed $((SECONDS - t0)) s after the OSD restart"

# The plain server recovers by itself too: its image handle is the same.
nbdsh -u "$(nbd_uri "$tmp/plain")" -c '
assert h.pread(4096, 0) == b"P" * 4096
h.pwrite(b"Q" * 4096, 12 << 20)
h.flush()'
server_alive "$plain_pid"
server_alive "$retried_pid"
rbd export --no-progress rbd/retried "$tmp/retried.img"
cmp -n 4096 -i $((20 * M)):0 "$tmp/retried.img" \
    <(head -c 4096 /dev/zero | tr '\0' 'S') || fail "the retried write is not in the cluster"
stop_server "$retried_pid"

# ---- 4. The whole cluster gone: the server still exits, in bounded time.
echo "== cluster gone, server stopped"
"$srcdir/ceph/stop-cluster" "$ceph_dir"
t0=$SECONDS
stop_server "$plain_pid"
echo "the server exited $((SECONDS - t0)) s after SIGTERM"
grep -q "rbd/plain: the cluster did not answer within 4 s while closing" \
    "$tmp/server.log" || fail "no message about the image left unclosed"

echo "test-rbd-2.sh: $((SECONDS - t_start)) s"
