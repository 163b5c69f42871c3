#!/usr/bin/env bash
# protect: changes inside a protected range fail with EPERM and change
# nothing; identical rewrites and writes elsewhere succeed.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

img="$tmp/disk.img"
"$PYTHON" -c '
import sys
open(sys.argv[1], "wb").write(bytes((i * 13) & 255 for i in range(1 << 20)))' "$img"
cp "$img" "$tmp/orig.img"

# Protected: bytes 512-1023, and everything from 64K+1 up to 128K-1.
# The boundaries are odd on purpose.
start_server "$tmp/sock" --filter=protect file "$img" \
             protect=512-1023 protect=65537-131071
export uri="$(nbd_uri "$tmp/sock")"

nbdpy <<'PYEOF'
import os, nbd
K = 1024
h = nbd.NBD()
h.connect_uri(os.environ["uri"])
h.set_strict_mode(0)
orig = bytes((i * 13) & 255 for i in range(1 << 20))

def eperm(what, op):
    try:
        op()
    except nbd.Error as e:
        assert e.errno == "EPERM", "%s: %s" % (what, e)
        return
    raise AssertionError("%s succeeded" % what)

# Inside: refused.
eperm("write inside", lambda: h.pwrite(b"X" * 16, 600))
eperm("zero inside", lambda: h.zero(16, 600))
eperm("trim inside", lambda: h.trim(512, 512))
eperm("write inside 2nd", lambda: h.pwrite(b"X", 100 * K))
# Overlapping a boundary from either side: refused, nothing written.
eperm("write over start", lambda: h.pwrite(b"Y" * 8, 508))
eperm("write over end", lambda: h.pwrite(b"Y" * 8, 1020))
eperm("write over both", lambda: h.pwrite(b"Y" * 4096, 0))
eperm("zero over end", lambda: h.zero(4096, 1020))
eperm("trim over start", lambda: h.trim(4096, 64 * K))
assert h.pread(8192, 0) == orig[:8192], "a refused request changed data"
assert h.pread(128 * K, 0) == orig[:128 * K]

# Just outside the boundaries: allowed.
h.pwrite(b"a" * 512, 0)                 # ends at 511
h.pwrite(b"b" * 100, 1024)              # starts at 1024
h.pwrite(b"d", 65536)                   # last unprotected byte before 65537
h.pwrite(b"e" * 10, 131072)             # first byte after
h.zero(4096, 200 * K)
h.trim(4096, 300 * K)

# Identical data inside (and across) a protected range: allowed.
cur = h.pread(4096, 0)
h.pwrite(cur, 0)
h.pwrite(orig[70 * K:90 * K], 70 * K)
# Identical inside, different outside, in one request: allowed.
blk = bytearray(h.pread(2048, 0))
blk[0:4] = b"zzzz"; blk[1500:1504] = b"wwww"
h.pwrite(bytes(blk), 0)
assert h.pread(2048, 0) == bytes(blk)
h.flush()
h.shutdown()
PYEOF
stop_server "$server_pid"

# The file: protected bytes untouched, the allowed writes in place.
"$PYTHON" - "$img" <<'PYEOF'
import sys
K = 1024
d = open(sys.argv[1], "rb").read()
orig = bytes((i * 13) & 255 for i in range(1 << 20))
assert d[512:1024] == orig[512:1024], "protected 512-1023 changed"
assert d[65537:131072] == orig[65537:131072], "protected 64K+1..128K-1 changed"
assert d[0:4] == b"zzzz" and d[4:512] == b"a" * 508
assert d[1024:1100] == b"b" * 76 and d[1500:1504] == b"wwww"
assert d[65536:65537] == b"d" and d[131072:131082] == b"e" * 10
assert d[200 * K:204 * K] == bytes(4096)
PYEOF

# Zeroing protected bytes that are already zero is allowed; ~ ranges.
truncate -s 1M "$tmp/zero.img"
bk -U - --filter=protect file "$tmp/zero.img" protect=~4096-8191 --run '
nbdsh -u "$uri" -c "
h.zero(65536, 0)                       # all zero already: fine
h.pwrite(b\"ok\" * 2048, 4096)          # the one writable range
try:
    h.pwrite(b\"no\", 8191)
    raise AssertionError(\"write past the ~ range succeeded\")
except nbd.Error as e:
    assert e.errno == \"EPERM\", e
try:
    h.pwrite(b\"no\", 4095)
    raise AssertionError(\"write before the ~ range succeeded\")
except nbd.Error as e:
    assert e.errno == \"EPERM\", e
"' || fail "~ range"
cmp -n 4096 -i 4096:0 "$tmp/zero.img" <("$PYTHON" -c 'import sys; sys.stdout.buffer.write(b"ok" * 2048)') ||
    fail "write to the ~ range did not land"

# Bad ranges are refused at startup, naming the value.
for arg in protect=10 protect=20-10 protect=x-y; do
    if bk -U - --filter=protect file "$img" $arg --run true >"$tmp/out" 2>&1
    then fail "$arg accepted"; fi
    grep -q "protect=${arg#protect=}" "$tmp/out" || { cat "$tmp/out"; fail "error for $arg"; }
done
echo "$0: ok"
