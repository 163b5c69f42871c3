#!/usr/bin/env bash
# blocksize over a strict plugin (minimum 512, maximum 64K, aborts on
# anything else): the client sees minimum 1 and does unaligned 1-byte
# writes, 1M reads and writes, unaligned zero, trim and cache, and
# concurrent read-modify-writes of one sector from two connections; the
# data is right and the plugin never sees a bad request.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

plugin="$builddir/.libs/test-strict-plugin.so"
[[ -f "$plugin" ]] || fail "test plugin $plugin not built"
export log="$tmp/log"

start_server "$tmp/sock" --filter=blocksize "$plugin" log="$log" rdelay=300
export uri="$(nbd_uri "$tmp/sock")"

nbdpy <<'PYEOF'
import os, random, nbd
K, M = 1024, 1 << 20
h = nbd.NBD()
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_uri(os.environ["uri"])
assert h.get_block_size(nbd.SIZE_MINIMUM) == 1
assert h.get_block_size(nbd.SIZE_MAXIMUM) >= 32 * M
assert h.get_size() == 16 * M

# 1-byte writes at unaligned offsets, including either side of a boundary.
offs = [1, 511, 512, 513, 1023, 4097, 16 * M - 1]
for i, off in enumerate(offs):
    h.pwrite(bytes([i + 1]), off)
for i, off in enumerate(offs):
    assert h.pread(1, off) == bytes([i + 1]), off
assert h.pread(1, 0) == b"\0" and h.pread(1, 2) == b"\0"

# 1M of random data at an unaligned offset, read back various ways.
rnd = random.Random(42)
data = bytes(rnd.getrandbits(8) for _ in range(M))
h.pwrite(data, 1 * M + 1000)
assert h.pread(M, 1 * M + 1000) == data
assert h.pread(M + 2000, M) == bytes(1000) + data + bytes(1000)
assert h.pread(777, 1 * M + 1333) == data[333:1110]

# Unaligned zero inside 0xff: exact bytes zeroed.
h.pwrite(b"\xff" * (64 * K), 4 * M)
h.zero(10000, 4 * M + 777)
got = h.pread(64 * K, 4 * M)
assert got == b"\xff" * 777 + bytes(10000) + b"\xff" * (64 * K - 10777)
h.zero(3 * M + 123, 6 * M + 5, nbd.CMD_FLAG_NO_HOLE)   # > 64K: split
assert h.pread(3 * M + 123, 6 * M + 5) == bytes(3 * M + 123)

# Unaligned trim: the partial blocks at the ends keep their data.
h.pwrite(b"\xee" * (64 * K), 10 * M)
h.trim(20000, 10 * M + 100)
assert h.pread(412, 10 * M + 100) == b"\xee" * 412       # head block
end = 10 * M + 20100
assert h.pread(64 * K - 20100, end) == b"\xee" * (64 * K - 20100)

# Cache and block status at odd offsets and lengths.
if h.can_cache():
    h.cache(3 * M + 5, 7)
seen = []
h.block_status(1001, 3, lambda ctx, off, ents, err: seen.append((off, ents)))
assert seen and seen[0][0] == 3 and seen[0][1][0] >= 1, seen

# Fast zero cannot be honoured for unaligned ends.
if h.can_fast_zero():
    try:
        h.zero(100, 8 * M + 1, nbd.CMD_FLAG_FAST_ZERO)
        raise AssertionError("unaligned fast zero succeeded")
    except nbd.Error as e:
        assert e.errno == "ENOTSUP", e
h.shutdown()

# Concurrent read-modify-writes: two connections write every byte of one
# sector (even bytes / odd bytes), all requests in flight at once.  The
# plugin sleeps in each read, so unserialized RMWs would lose bytes.
base = 12 * M + 512
hs = [nbd.NBD(), nbd.NBD()]
for x in hs:
    x.connect_uri(os.environ["uri"])
cookies = []
for i in range(512):
    x = hs[i % 2]
    cookies.append((x, x.aio_pwrite(bytes([i % 251 + 1]), base + i)))
for x, c in cookies:
    while not x.aio_command_completed(c):
        x.poll(-1)
want = bytes(i % 251 + 1 for i in range(512))
got = hs[0].pread(512, base)
lost = [i for i in range(512) if got[i] != want[i]]
assert not lost, "lost %d concurrent writes, first at byte %d" % (len(lost), lost[0])
for x in hs:
    x.shutdown()
PYEOF
server_alive "$server_pid"

# The plugin saw only aligned requests within its maximum, and large
# requests were split.
! grep -q BAD "$log" || fail "the plugin got a bad request: $(grep BAD "$log" | head -1)"
awk '{ if ($2 % 512 || $3 % 512 || $2 > 65536) bad++ } END { exit bad > 0 }' "$log" ||
    fail "misaligned or oversized request in the log"
grep -q "^pwrite 65536 " "$log" || fail "1M write was not split into 64K pieces"
grep -q "^zero 65536 " "$log" || fail "3M zero was not split into 64K pieces"
grep -q "^pread 512 " "$log" || fail "no single-block reads (read-modify-write)"
echo "requests seen by the plugin: $(wc -l <"$log")"
echo "$0: ok"
