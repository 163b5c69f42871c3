#!/usr/bin/env bash
# Seed 000: a fallback never applies the offset twice.  The test plugin
# has no zero callback, so the server writes zeroes with the plugin's
# pwrite; through the offset filter those writes must land at
# offset+request, never at offset*2+request.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

plugin="$builddir/.libs/test-offset-plugin.so"
[[ -f "$plugin" ]] || fail "test plugin $plugin not built"
log="$tmp/log"
K=1024

start_server "$tmp/sock" --filter=offset "$plugin" log="$log" size=1M \
             offset=256K
export uri="$(nbd_uri "$tmp/sock")"

nbdpy <<'PYEOF'
import os, nbd
K = 1024
h = nbd.NBD()
h.connect_uri(os.environ["uri"])
assert h.get_size() == 768 * K
assert h.can_zero()
# Fill the window with 0xff, then zero 64K at window offset 0.  The
# doubled offset (plugin 512K = window 256K) must keep its 0xff.
h.pwrite(b"\xff" * (768 * K), 0)
open(os.environ["tmp"] + "/mark", "w").close()
h.zero(64 * K, 0, nbd.CMD_FLAG_NO_HOLE)
h.zero(64 * K, 128 * K)          # may trim: still emulated with writes
assert h.pread(64 * K, 0) == bytes(64 * K)
assert h.pread(64 * K, 64 * K) == b"\xff" * (64 * K)
assert h.pread(64 * K, 128 * K) == bytes(64 * K)
assert h.pread(256 * K, 192 * K) == b"\xff" * (256 * K), "doubled offset hit"
h.shutdown()
PYEOF

cat "$log"
# After the fill (whose writes are all at 256K..1M), the zeroes arrive as
# writes at plugin offsets 256K..320K and 384K..448K only.
"$PYTHON" - "$log" <<'PYEOF'
import sys
K = 1024
lines = [l.split() for l in open(sys.argv[1])]
assert all(l[0] == "pwrite" for l in lines)
writes = [(int(l[1]), int(l[2])) for l in lines]
fill = 0
while fill < len(writes) and sum(c for c, _ in writes[:fill]) < 768 * K:
    fill += 1
zeroes = writes[fill:]
assert zeroes, "no emulated zero writes reached the plugin"
covered = 0
for count, off in zeroes:
    assert (256 * K <= off and off + count <= 320 * K) or \
           (384 * K <= off and off + count <= 448 * K), \
        "zero write at %d+%d is outside the shifted ranges" % (off, count)
    covered += count
assert covered == 128 * K, "zero writes covered %d bytes" % covered
PYEOF
echo "$0: ok"
