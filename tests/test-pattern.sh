#!/usr/bin/env bash
# pattern plugin: each 8-byte word holds its own offset, big-endian.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh
requires nbdinfo

start_server "$tmp/sock" pattern size=1T
export uri="$(nbd_uri "$tmp/sock")"
nbdpy <<'PYEOF'
import os, struct, nbd
h = nbd.NBD()
h.connect_uri(os.environ["uri"])
size = h.get_size()
assert size == 1 << 40
assert h.is_read_only(), "pattern disks are read-only"

def expect(off, n):
    start = off & ~7
    words = b"".join(struct.pack(">Q", o) for o in range(start, off + n + 8, 8))
    return words[off - start: off - start + n]

# Aligned reads at many offsets, including the very end.
for off in (0, 8, 4096, 1 << 20, 123 << 20, (1 << 32) - 8, 1 << 39, size - 65536):
    n = min(65536, size - off)
    got = h.pread(n, off)
    assert got == expect(off, n), off
# Unaligned reads, mid-word.
for off, n in ((1, 1), (3, 10), (12, 4), (4093, 17), ((1 << 33) + 5, 100),
               (size - 5, 5)):
    assert h.pread(n, off) == expect(off, n), (off, n)
# Word 8 at offset 8 is 00 00 00 00 00 00 00 08.
assert h.pread(16, 0) == bytes.fromhex("00000000000000000000000000000008")
# A big read.
big = h.pread(8 << 20, 1 << 30)
assert big == expect(1 << 30, 8 << 20)
h.shutdown()
print("pattern ok")
PYEOF

# A non-multiple-of-8 size still serves the partial last word.
bk -U - pattern size=13 --run '
    nbdsh -u "$uri" -c "assert h.get_size() == 13; assert h.pread(13, 0) == bytes(13)"'

echo "$0: ok"
