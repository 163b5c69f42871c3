#!/usr/bin/env bash
# memory plugin: sparse RAM disk; data round trips; extents after writes,
# trim and zero; huge virtual sizes.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh
requires nbdinfo

start_server "$tmp/sock" memory 64M
export uri="$(nbd_uri "$tmp/sock")"

nbdpy <<'PYEOF'
import os, nbd
M = 1 << 20
h = nbd.NBD()
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_uri(os.environ["uri"])
size = h.get_size()
assert size == 64 * M

def extents(off, length):
    """Return [(offset, length, flags)] covering [off, off+length)."""
    out = []
    def cb(metacontext, offset, entries, err):
        assert metacontext == nbd.CONTEXT_BASE_ALLOCATION
        o = offset
        for i in range(0, len(entries), 2):
            out.append((o, entries[i], entries[i + 1]))
            o += entries[i]
    h.block_status(length, off, cb)
    return out

def kind_at(off):
    e = extents(off, 1 << 16)
    assert e[0][0] == off
    return e[0][2]

# Fresh disk: all hole+zero, reads return zeroes.
assert all(f == 3 for (_, _, f) in extents(0, size)), extents(0, size)
assert h.pread(M, 10 * M) == bytes(M)

# Write 1 MiB of data at 4 MiB and 1 MiB at 40 MiB.
d1 = os.urandom(M)
d2 = bytes(range(256)) * 4096
h.pwrite(d1, 4 * M)
h.pwrite(d2, 40 * M)
assert h.pread(M, 4 * M) == d1
assert h.pread(M, 40 * M) == d2
# Neighbours untouched.
assert h.pread(4096, 4 * M - 4096) == bytes(4096)
assert h.pread(4096, 5 * M) == bytes(4096)

# Extents: data where written, holes elsewhere.
assert kind_at(4 * M) & 1 == 0, kind_at(4 * M)
assert kind_at(40 * M) & 1 == 0
assert kind_at(0) == 3
assert kind_at(20 * M) == 3
assert kind_at(63 * M) == 3
# The extents cover the whole disk contiguously.
e = extents(0, size)
pos = 0
for (o, l, f) in e:
    assert o == pos and l > 0
    pos += l
assert pos <= size and pos > 0

# Trim the first region: becomes a hole again and reads as zeroes.
h.trim(M, 4 * M)
assert kind_at(4 * M) & 1 == 1, kind_at(4 * M)
assert h.pread(M, 4 * M) == bytes(M)
# Zero the second: reads as zeroes, reported as zero.
h.zero(M, 40 * M)
assert h.pread(M, 40 * M) == bytes(M)
assert kind_at(40 * M) & 2 == 2, kind_at(40 * M)
assert all(f & 2 for (_, _, f) in extents(0, size)), extents(0, size)

# Unaligned small writes across page boundaries.
for off in (1, 4095, 32767, 65535, 1048575, size - 3):
    h.pwrite(b"abc", off)
    assert h.pread(3, off) == b"abc", off
    assert h.pread(1, off - 1 if off > 1 else 0)[:1] in (b"\0", b"a")
h.flush()
h.shutdown()
print("memory ok")
PYEOF

# Other connections see the same data (one disk per server).
nbdpy <<'PYEOF'
import os, nbd
h = nbd.NBD()
h.connect_uri(os.environ["uri"])
assert h.pread(3, 65535) == b"abc"
h.shutdown()
PYEOF

# Very large virtual sizes work and stay sparse.
bk -U - memory size=$(( (1 << 62) )) --run 'nbdinfo --size "$uri"' >"$tmp/size"
[[ "$(cat "$tmp/size")" == $(( 1 << 62 )) ]] || fail "size 2^62: $(cat "$tmp/size")"
bk -U - memory 1E --run '
    nbdsh -u "$uri" -c "
h.pwrite(b\"end\", h.get_size() - 3)
assert h.pread(3, h.get_size() - 3) == b\"end\"
h.pwrite(b\"mid\", 1 << 59)
assert h.pread(3, 1 << 59) == b\"mid\"
"'

echo "$0: ok"
