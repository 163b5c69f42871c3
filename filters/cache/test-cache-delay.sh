#!/usr/bin/env bash
# The stacks people use: cache over the delay filter (a slow disk), and
# readahead over cache over delay.  Second reads are fast; sequential
# reads through readahead take a fraction of the round trips' time; the
# data (the pattern plugin: each 8-byte word is its own offset,
# big-endian) is right.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

delay="$abs_top_builddir/filters/delay/.libs/blockkit-delay-filter.so"
[[ -f "$delay" ]] || skip "the delay filter is not built"
# Until the delay filter is written it is a placeholder that passes
# through: then there is nothing to measure here.
"$BLOCKKIT" --filter=delay null --help 2>&1 | grep -q rdelay ||
    skip "the delay filter has no rdelay yet"

cat >"$tmp/check.py" <<'PYEOF'
import struct
def pattern(off, n):
    first = off & ~7
    words = b"".join(struct.pack(">Q", o) for o in range(first, off + n + 8, 8))
    return words[off - first:off - first + n]
PYEOF
export PYTHONPATH="$tmp"

# --- cache over delay ---
bk -U - --filter=cache --filter=delay pattern size=16M rdelay=0.5 --run '
nbdsh -u "$uri" -c "
import time
from check import pattern
M = 1 << 20
t = time.monotonic()
assert h.pread(M, 3 * M) == pattern(3 * M, M)
first = time.monotonic() - t
t = time.monotonic()
assert h.pread(M, 3 * M) == pattern(3 * M, M)
assert h.pread(4000, 3 * M + 999) == pattern(3 * M + 999, 4000)
second = time.monotonic() - t
print(\"cache over delay: first %.3f s, second %.3f s\" % (first, second))
assert first >= 0.5, first
assert second < 0.4, second
"' || fail "cache over delay"

# --- readahead over cache over delay: sequential reads ---
bk -U - --filter=readahead --filter=cache --filter=delay \
    pattern size=16M rdelay=0.05 --run '
nbdsh -u "$uri" -c "
import time
from check import pattern
R = 65536
t = time.monotonic()
for off in range(0, 8 << 20, R):
    assert h.pread(R, off) == pattern(off, R), off
took = time.monotonic() - t
print(\"readahead: 128 sequential reads in %.2f s (one trip each: 6.4 s)\" % took)
assert took < 3.2, took
"' || fail "readahead over cache over delay"
echo OK
