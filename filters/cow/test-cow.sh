#!/usr/bin/env bash
# cow over a read-only file: writes (whole blocks, partial blocks, runs
# across blocks), zeroes and trims land in the overlay and read back; the
# file on disk never changes; all connections share the overlay; extents
# show the overlay; bad keys are refused with the key named.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
requires nbdinfo

img="$tmp/base.img"
"$PYTHON" - "$img" <<'PYEOF'
import random, sys
# 4 MiB + 1000 bytes: the last overlay block is a partial one.
size = 4 * 1024 * 1024 + 1000
with open(sys.argv[1], "wb") as f:
    f.write(random.Random(131).randbytes(size))
PYEOF
chmod a-w "$img"
sum_before="$(md5 "$img")"

start_server "$tmp/sock" -v --filter=cow file "$img"
export uri="$(nbd_uri "$tmp/sock")" img

# Writable, although nothing below can be written.
nbdinfo --json "$uri" >"$tmp/info.json"
"$PYTHON" - "$tmp/info.json" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
e = j["exports"][0]
assert e["export-size"] == 4 * 1024 * 1024 + 1000, e["export-size"]
assert e["is_read_only"] is False, "cow export is read-only"
assert e["can_flush"] and e["can_trim"] and e["can_zero"], e
PYEOF

nbdpy <<'PYEOF'
import os, random, nbd
B = 65536
img = open(os.environ["img"], "rb").read()
model = bytearray(img)
size = len(model)
h = nbd.NBD()
h.connect_uri(os.environ["uri"])
assert not h.is_read_only()
assert h.get_size() == size

def write(buf, off, flags=0):
    h.pwrite(buf, off, flags)
    model[off:off + len(buf)] = buf

def check(off, n, what):
    got = h.pread(n, off)
    if got != bytes(model[off:off + n]):
        for i in range(n):
            if got[i] != model[off + i]:
                raise AssertionError("%s: first difference at %d" % (what, off + i))

# A whole block.
write(b"A" * B, 2 * B)
check(0, 4 * B, "whole block")
# A partial block keeps the rest of the block (copied up from below).
write(b"partial!" * 12, 5 * B + 1000)
check(5 * B, B, "partial block")
assert h.pread(1000, 5 * B) == img[5 * B:5 * B + 1000], "head of partial block"
assert h.pread(B - 1096, 5 * B + 1096) == img[5 * B + 1096:6 * B], "tail of partial block"
# A write across three blocks, unaligned at both ends, with FUA.
write(bytes(range(256)) * 600, 7 * B + 333, nbd.CMD_FLAG_FUA)
check(7 * B, 4 * B, "spanning write")
# The last, partial block of the export.
write(b"Z" * 500, size - 700)
check(size - B, B, "last block")
# Zero: a whole block, and part of a block.
h.zero(B, 12 * B); model[12 * B:13 * B] = bytes(B)
h.zero(100, 14 * B + 50); model[14 * B + 50:14 * B + 150] = bytes(100)
check(12 * B, 3 * B, "zero")
# Zero of a block already in the overlay frees it and reads zero.
h.zero(B, 2 * B); model[2 * B:3 * B] = bytes(B)
check(2 * B, B, "zero over written block")
# Trim of whole blocks reads back as zeroes; trim of a part keeps data.
h.trim(2 * B, 20 * B); model[20 * B:22 * B] = bytes(2 * B)
h.trim(10, 30 * B + 10)
check(20 * B, 11 * B, "trim")
h.flush()

# Random unaligned writes and zeroes against a model.
rng = random.Random(42)
for i in range(300):
    off = rng.randrange(0, size - 1)
    n = rng.randrange(1, min(3 * B, size - off) + 1)
    op = rng.random()
    if op < 0.5:
        write(bytes([rng.randrange(256)]) * n, off)
    elif op < 0.65:
        h.zero(n, off); model[off:off + n] = bytes(n)
    else:
        check(off, n, "random read %d" % i)
check(0, size, "everything")

# Extents: the zeroed block is a zero extent, a written block data.
ext = {}
def cb(meta, off, entries, err):
    pos = off
    for j in range(0, len(entries), 2):
        ext[pos] = (entries[j], entries[j + 1])
        pos += entries[j]
h2 = nbd.NBD()
h2.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h2.connect_uri(os.environ["uri"])
# A second connection sees the first one's writes: the overlay is shared.
assert h2.pread(size, 0) == bytes(model), "second connection differs"
h2.zero(4 * B, 40 * B); model[40 * B:44 * B] = bytes(4 * B)
h2.pwrite(b"D" * B, 44 * B); model[44 * B:45 * B] = b"D" * B
h2.trim(B, 45 * B); model[45 * B:46 * B] = bytes(B)
h2.block_status(6 * B, 40 * B, cb)
def flags_at(o):
    for s, (n, f) in ext.items():
        if s <= o < s + n:
            return f
    raise AssertionError("no extent covers %d" % o)
assert flags_at(40 * B) & nbd.STATE_ZERO, ext
assert flags_at(43 * B) & nbd.STATE_ZERO, ext
assert flags_at(44 * B) == 0, ext
assert flags_at(45 * B) & nbd.STATE_ZERO, ext
assert h.pread(size, 0) == bytes(model), "first connection differs"
h2.shutdown()
h.shutdown()
PYEOF

server_alive "$server_pid"
[[ "$(md5 "$img")" == "$sum_before" ]] || fail "the file below was changed"
# The plugin was opened read-only (root could write a chmod a-w file).
grep -q "file: open readonly=1" "$tmp/server.log" ||
    fail "the file plugin was not opened read-only"
if grep -q "file: open readonly=0" "$tmp/server.log"; then
    fail "the file plugin was opened read-write"
fi

# A plugin that cannot write at all becomes writable under cow.
bk --filter=cow -U - pattern size=1M --run 'nbdsh -u "$uri" -c "
assert not h.is_read_only()
h.pwrite(b\"x\" * 10, 4096)
assert h.pread(10, 4096) == b\"x\" * 10
# The rest of the block still has the pattern: 8-byte big-endian offsets.
assert h.pread(8, 8192) == (8192).to_bytes(8, \"big\")
"' || fail "cow over pattern"

# A small block size works too.
bk --filter=cow -U - file "$img" cow-block-size=4K --run 'nbdsh -u "$uri" -c "
h.pwrite(b\"y\" * 5000, 4000)
assert h.pread(5000, 4000) == b\"y\" * 5000
"' || fail "cow-block-size=4K"
[[ "$(md5 "$img")" == "$sum_before" ]] || fail "the file below was changed (4K)"

# Bad values are refused, naming the key.
for bad in cow-block-size=3000 cow-block-size=1K cow-block-size=1G \
           cow-on-cache=maybe cow-on-read=perhaps; do
    if bk --filter=cow -U - file "$img" "$bad" --run true \
          >"$tmp/err" 2>&1; then
        fail "$bad was accepted"
    fi
    grep -q "${bad%%=*}" "$tmp/err" || { cat "$tmp/err"; fail "error for $bad does not name the key"; }
done
echo OK
