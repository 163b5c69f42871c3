#!/usr/bin/env bash
# blocksize: an aligned write that lands while a read-modify-write of the
# same block is in progress must not be undone by the RMW writing back
# the block it read before the aligned write.  Two connections: one
# writes one unaligned byte into each block (an RMW, whose read the test
# plugin makes slow), the other writes the whole block, sent while the
# RMW of that block is in progress.  Every byte of each block must end up
# as one of the two writes left it; a block that still holds its old
# contents outside the unaligned byte lost the aligned write.
#
# Then the same with the filter stacked twice over a plugin whose blocks
# (8K) are larger than minblock (4K), so both layers do read-modify-
# writes, the lower one inside the upper one's: each layer's lock must be
# its own (one shared lock deadlocks, or is released early).
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

# The strict test plugin sleeps after copying out each read, so the data
# an RMW holds goes stale while the aligned write lands.
plugin="$builddir/.libs/test-strict-plugin.so"
[[ -f "$plugin" ]] || fail "test plugin $plugin not built"
cat >"$tmp/race.py" <<'PYEOF'
import os, time, nbd
B, N = 4096, 64
u, a = nbd.NBD(), nbd.NBD()
for x in (u, a):
    x.connect_uri(os.environ["uri"])

# Known old contents, so a stale write-back is visible.
a.pwrite(b"\x11" * (B * N), 0)

# RMWs are serialized, so the aligned writes are sent one block at a
# time, each a few ms after the RMW of its block, inside its slow read.
for i in range(N):
    cu = u.aio_pwrite(b"\xbb", i * B + 100 + i)
    time.sleep(0.005)
    ca = a.aio_pwrite(bytes([i % 200 + 32]) * B, i * B)
    for x, c in ((u, cu), (a, ca)):
        while not x.aio_command_completed(c):
            x.poll(-1)

got = a.pread(B * N, 0)
lost = []
for i in range(N):
    blk, k, fill = got[i * B:(i + 1) * B], 100 + i, i % 200 + 32
    ok = blk[k] in (0xbb, fill) and \
        blk[:k] == bytes([fill]) * k and \
        blk[k + 1:] == bytes([fill]) * (B - k - 1)
    if not ok:
        lost.append(i)
assert not lost, "aligned writes lost in %d of %d blocks (first: block %d)" \
    % (len(lost), N, lost[0])
for x in (u, a):
    x.shutdown()
PYEOF

start_server "$tmp/sock" --filter=blocksize "$plugin" log="$tmp/log" \
    minblock=4096 rdelay=20000
export uri="$(nbd_uri "$tmp/sock")"
nbdpy <"$tmp/race.py" || fail "one blocksize layer"
server_alive "$server_pid"
stop_server "$server_pid"
echo "ok: one layer"

start_server "$tmp/sock2" --filter=blocksize --filter=blocksize "$plugin" \
    log="$tmp/log2" minimum=8192 minblock=4096 rdelay=5000
export uri="$(nbd_uri "$tmp/sock2")"
nbdpy <"$tmp/race.py" || fail "two stacked blocksize layers"
server_alive "$server_pid"
grep -q "^pread 8192 " "$tmp/log2" || fail "the lower layer did no read-modify-write"
echo "ok: two stacked layers"
echo "$0: ok"
