#!/usr/bin/env bash
# cow: block status agrees with reads after unaligned trims and zeroes.
# A deterministic case first: data written over three blocks, then a
# trim from inside the first block to inside the third leaves the whole
# middle block a hole that reads as zeroes, and the partly trimmed blocks
# data that still reads as written (trim only drops whole blocks).  Then
# a seeded random mix of writes, trims and zeroes at unaligned offsets
# and lengths, over a file with holes and data below and a partial last
# block, with block status asked at random unaligned ranges: every extent
# that says "zero" must read as zeroes, reads must match a model of what
# was written, and extents must tile the range asked.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

img="$tmp/base.img"
"$PYTHON" - "$img" <<'PYEOF'
import random, sys
B = 65536
size = 40 * B + 1000            # a partial last overlay block
r = random.Random(7)
with open(sys.argv[1], "wb") as f:
    f.write(r.randbytes(size))
    # Zeroes (data below that reads as zero) and a hole in the file.
    f.seek(5 * B); f.write(bytes(3 * B))
    f.truncate(size)
PYEOF
fallocate -p -o $((10 * 65536)) -l $((4 * 65536)) "$img" 2>/dev/null || :
chmod a-w "$img"

for bs in 65536 4096; do
start_server "$tmp/sock$bs" --filter=cow file "$img" cow-block-size=$bs
sock="$tmp/sock$bs" img="$img" bs=$bs nbdpy <<'PYEOF'
import os, random, nbd
B = int(os.environ["bs"])
h = nbd.NBD()
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_unix(os.environ["sock"])
size = h.get_size()
model = bytearray(open(os.environ["img"], "rb").read())

def status(count, off):
    out = []
    h.block_status(count, off,
                   lambda c, o, e, err: out.extend(zip(e[0::2], e[1::2])))
    return out

def check_status(off, count):
    pos = off
    for length, flags in status(count, off):
        length = min(length, size - pos)
        if flags & nbd.STATE_ZERO:
            got = h.pread(length, pos)
            assert got == bytes(length), \
                "zero extent %d+%d reads data (B=%d)" % (pos, length, B)
        pos += length
    assert pos >= min(off + count, size), (off, count, pos)

# The deterministic case, in blocks 20-22.
base = 20 * B
data = os.urandom(3 * B)
h.pwrite(data, base)
model[base:base + 3 * B] = data
h.trim(2 * B, base + 100)                # 100 into block 20 .. 100 into 22
ext = status(3 * B, base)
print(ext)
assert (ext[0][1] & nbd.STATE_HOLE) == 0, ext
# Block 21 is a trimmed hole; blocks 20 and 22 are data as written.
pos = base
kinds = []
for length, flags in ext:
    kinds.append((pos, length, flags))
    pos += length
assert (base + B, B, nbd.STATE_HOLE | nbd.STATE_ZERO) in kinds, kinds
assert h.pread(B, base + B) == bytes(B)
model[base + B:base + 2 * B] = bytes(B)
assert h.pread(B, base) == bytes(model[base:base + B])
assert h.pread(B, base + 2 * B) == bytes(model[base + 2 * B:base + 3 * B])
check_status(0, size)

# The random mix.
r = random.Random(B)
for i in range(300):
    op = r.choice(["write", "trim", "trim", "zero", "zero-may-trim"])
    off = r.randrange(0, size - 1)
    n = r.randrange(1, min(r.choice([100, 5000, 70000, 300000]), size - off) + 1)
    if op == "write":
        d = r.randbytes(n)
        h.pwrite(d, off)
        model[off:off + n] = d
    elif op == "trim":
        h.trim(n, off)
        # Trimmed bytes may read as before or as zeroes: take what reads
        # say, but only inside the trimmed range.
        got = h.pread(n, off)
        for j in range(n):
            assert got[j] in (0, model[off + j]), (i, off, n, j)
        model[off:off + n] = got
    else:
        h.zero(n, off, 0 if op == "zero-may-trim" else nbd.CMD_FLAG_NO_HOLE)
        model[off:off + n] = bytes(n)
    for j in range(3):
        qo = r.randrange(0, size - 1)
        check_status(qo, r.randrange(1, size - qo + 1))
    if i % 50 == 0:
        assert h.pread(size, 0) == bytes(model), "data differs at step %d" % i
assert h.pread(size, 0) == bytes(model)
check_status(0, size)
h.shutdown()
print("B=%d OK" % B)
PYEOF
stop_server "$server_pid"
done
echo OK
