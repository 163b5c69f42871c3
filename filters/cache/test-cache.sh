#!/usr/bin/env bash
# cache over a slow layer (a test filter that delays and logs every read
# below): a second read of the same data is fast and reaches nothing
# below; in writeback mode (the default) writes reach the file only on
# flush or FUA; CACHE requests fill the cache; data is right throughout.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

iolog="$builddir/.libs/test-iolog-filter.so"
[[ -f "$iolog" ]] || fail "$iolog is missing (make check builds it)"

img="$tmp/disk.img"
"$PYTHON" - "$img" <<'PYEOF'
import random, sys
M = 1 << 20
open(sys.argv[1], "wb").write(random.Random(37).randbytes(8 * M))
PYEOF
export img log="$tmp/io.log"
: >"$log"

start_server "$tmp/sock" --filter=cache --filter="$iolog" \
    file "$img" iolog="$log" iolog-rdelay=500
export uri="$(nbd_uri "$tmp/sock")"

nbdpy <<'PYEOF'
import os, time, nbd
M = 1 << 20
img, log = os.environ["img"], os.environ["log"]
orig = open(img, "rb").read()
def below(op):
    return [l for l in open(log).read().splitlines() if l.startswith(op + " ")]
def on_disk(off, n):
    with open(img, "rb") as f:
        f.seek(off); return f.read(n)

h = nbd.NBD()
h.connect_uri(os.environ["uri"])

# First read: slow (the layer below sleeps 0.5 s per read) ...
t = time.monotonic()
assert h.pread(M, M) == orig[M:2 * M], "first read"
first = time.monotonic() - t
n = len(below("pread"))
print("first read %.3f s, %d reads below" % (first, n))
assert first >= 0.5, first
assert 1 <= n <= 2, below("pread")   # a run of blocks is one read below
# ... the second read of the same data is fast and reaches nothing below.
t = time.monotonic()
assert h.pread(M, M) == orig[M:2 * M], "second read"
second = time.monotonic() - t
print("second read %.3f s" % second)
assert second < 0.4, "cached read took %.3f s" % second
assert h.pread(1000, M + 12345) == orig[M + 12345:M + 13345]
assert len(below("pread")) == n, "a cached read went below"

# CACHE fills the cache: a later read of it goes nowhere below.
assert h.can_cache()
h.cache(M, 6 * M)
n = len(below("pread"))
t = time.monotonic()
assert h.pread(M, 6 * M) == orig[6 * M:7 * M]
assert time.monotonic() - t < 0.4
assert len(below("pread")) == n, "read after CACHE went below"

# Writeback: writes stay in the cache until a flush ...
h.pwrite(b"W" * 65536, 3 * M)
h.pwrite(b"partial", 5 * M + 10)        # partial block: read from below
assert h.pread(65536, 3 * M) == b"W" * 65536
assert h.pread(20, 5 * M) == orig[5 * M:5 * M + 10] + b"partial" + orig[5 * M + 17:5 * M + 20]
assert on_disk(3 * M, 65536) == orig[3 * M:3 * M + 65536], "written through before flush"
assert on_disk(5 * M, 20) == orig[5 * M:5 * M + 20], "written through before flush"
assert below("pwrite") == [], below("pwrite")
h.flush()
assert on_disk(3 * M, 65536) == b"W" * 65536, "not written back on flush"
assert on_disk(5 * M + 10, 7) == b"partial"
assert on_disk(5 * M, 10) == orig[5 * M:5 * M + 10]
assert any(l.startswith("flush") for l in open(log)), "flush did not go below"
# ... or a FUA write, which goes below at once.
if h.can_fua():
    h.pwrite(b"F" * 4096, 7 * M, nbd.CMD_FLAG_FUA)
    assert on_disk(7 * M, 4096) == b"F" * 4096, "FUA write not below"
# Zero lands in the cache too, and reads back.
h.zero(65536 + 100, 2 * M - 50)
assert h.pread(65536 + 200, 2 * M - 100) == orig[2 * M - 100:2 * M - 50] + bytes(65536 + 100) + orig[2 * M + 65586:2 * M + 65636]
h.flush()
assert on_disk(2 * M, 65536) == bytes(65536)
h.shutdown()
PYEOF
server_alive "$server_pid"
echo OK
