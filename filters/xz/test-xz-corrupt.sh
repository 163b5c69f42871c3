#!/usr/bin/env bash
# Corrupt .xz input never crashes the server and never yields wrong data.
# Targeted cases: not xz at all, truncated (end cut off, or only the first
# half), a damaged index, damaged compressed data in one block and a
# damaged CRC64 of another (those two fail only reads of their own block,
# with EIO; the rest of the image still reads).  Then a fuzz-like loop:
# many copies of a small multi-block file and a small single-block file
# with random bytes flipped, all served by one server (file plugin dir=,
# one export per copy): each copy either fails to open, or serves the
# right size and every read is either correct or an error.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
requires xz

d="$tmp/files"
mkdir "$d"
orig="$tmp/orig.img"
"$PYTHON" - "$orig" <<'PYEOF'
import random, sys
r = random.Random(3)
out = bytearray()
while len(out) < 256 * 1024:
    if r.random() < 0.5:
        out += r.randbytes(r.randrange(1, 3000))
    else:
        out += bytes([r.randrange(256)]) * r.randrange(1, 3000)
open(sys.argv[1], "wb").write(bytes(out[:256 * 1024]))
PYEOF
xz -0 --check=crc64 --block-size=16KiB -c "$orig" >"$tmp/good.xz"
xz -0 -T1 --check=crc32 -c "$orig" >"$tmp/single.xz"

# Where the blocks are: "block" lines of xz --robot --list -vv have the
# block's compressed offset (col 5), total size (col 7) and, with -vv,
# its unpadded size (col 14, "compressed size" + header: use total).
xz --robot --list -vv "$tmp/good.xz" >"$tmp/list"
blk() { awk -v n="$1" -v c="$2" '$1 == "block" && $3 == n { print $c }' "$tmp/list"; }
b3_off=$(blk 3 5)  b3_len=$(blk 3 7)  b5_off=$(blk 5 5)
b5_unpadded=$(awk '$1 == "block" && $3 == 5 { print $12 }' "$tmp/list")
[[ -n "$b3_off" && -n "$b5_off" && -n "$b5_unpadded" ]] || { cat "$tmp/list"; fail "cannot parse xz --list"; }

flip() { # flip FILE OFFSET: invert one byte in place
    "$PYTHON" -c '
import sys
f = open(sys.argv[1], "r+b"); off = int(sys.argv[2])
f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0xff]))
' "$1" "$2"
}
size=$(stat -c %s "$tmp/good.xz")
head -c 100000 /dev/urandom >"$d/garbage"
head -c $((size - 100)) "$tmp/good.xz" >"$d/trunc-end"
head -c $((size / 2)) "$tmp/good.xz" >"$d/trunc-half"
cp "$tmp/good.xz" "$d/bad-index";  flip "$d/bad-index" $((size - 12 - 6))
cp "$tmp/good.xz" "$d/bad-data";   flip "$d/bad-data" $((b3_off + b3_len / 2))
# The CRC64 is the last 8 bytes of the unpadded block.
cp "$tmp/good.xz" "$d/bad-crc";    flip "$d/bad-crc" $((b5_off + b5_unpadded - 3))
cp "$tmp/good.xz" "$d/good"

# The fuzz corpus: 1 to 4 bytes flipped, half of the time near the end
# (index and footer, where the index parser works).
"$PYTHON" - "$tmp/good.xz" "$tmp/single.xz" "$d" <<'PYEOF'
import random, sys
r = random.Random(int(__import__("os").environ.get("FUZZ_SEED", "11")))
for src, name, n in ((sys.argv[1], "fuzz-multi", 60), (sys.argv[2], "fuzz-single", 30)):
    data = open(src, "rb").read()
    for i in range(n):
        m = bytearray(data)
        for j in range(r.randrange(1, 5)):
            if r.random() < 0.5:
                off = r.randrange(max(0, len(m) - 200), len(m))
            else:
                off = r.randrange(len(m))
            m[off] ^= 1 << r.randrange(8) if r.random() < 0.7 else r.randrange(1, 256)
        if r.random() < 0.1:
            m = m[:r.randrange(len(m))]         # truncated as well
        open("%s/%s-%02d" % (sys.argv[3], name, i), "wb").write(bytes(m))
PYEOF

start_server "$tmp/sock" --filter=xz file dir="$d" xz-max-depth=4
export sock="$tmp/sock" orig
nbdpy <<'PYEOF'
import errno, os, nbd
orig = open(os.environ["orig"], "rb").read()
B = 16 * 1024
def connect(name):
    h = nbd.NBD()
    h.set_export_name(name)
    h.connect_unix(os.environ["sock"])
    return h

def must_not_open(name):
    try:
        connect(name)
    except nbd.Error:
        return
    raise AssertionError("%s: opened" % name)
for name in ("garbage", "trunc-end", "trunc-half", "bad-index"):
    must_not_open(name)

def read_all(name):
    """Block by block: which 16K blocks read correctly, which fail."""
    h = connect(name)
    assert h.get_size() == len(orig), "%s: size %d" % (name, h.get_size())
    bad = []
    for off in range(0, len(orig), B):
        try:
            got = h.pread(B, off)
        except nbd.Error as e:
            assert e.errno in (errno.EIO, "EIO"), "%s: errno %s" % (name, e.errno)
            bad.append(off // B)
            continue
        assert got == orig[off:off + B], "%s: wrong data at %d" % (name, off)
    h.shutdown()
    return bad

assert read_all("good") == []
# xz --list numbers blocks from 1.
assert read_all("bad-data") == [2], read_all("bad-data")
assert read_all("bad-crc") == [4], read_all("bad-crc")

# The fuzz corpus: open failure, or right size and correct-or-EIO reads
# (reads of 3 sizes, so that reads spanning blocks are covered too).
opened = failed_reads = 0
for name in sorted(os.listdir(os.path.dirname(os.environ["orig"]) + "/files")):
    if not name.startswith("fuzz-"):
        continue
    try:
        h = connect(name)
    except nbd.Error:
        continue
    opened += 1
    assert h.get_size() == len(orig), "%s: size %d" % (name, h.get_size())
    for n in (B, 3 * B + 5, len(orig)):
        for off in range(0, len(orig) - n + 1, n):
            try:
                got = h.pread(n, off)
            except nbd.Error as e:
                assert e.errno in (errno.EIO, "EIO"), "%s: errno %s" % (name, e.errno)
                failed_reads += 1
                continue
            assert got == orig[off:off + n], "%s: wrong data at %d+%d" % (name, off, n)
    h.shutdown()
print("fuzz: %d of 90 corrupt files opened, %d reads failed with EIO" % (opened, failed_reads))
PYEOF

server_alive "$server_pid"
# The errors say what is wrong.
for msg in "not an xz file" "truncated" "corrupt" "block at compressed offset $b3_off" \
           "block at compressed offset $b5_off"; do
    grep -q "$msg" "$tmp/server.log" || { cat "$tmp/server.log"; fail "no error saying: $msg"; }
done
echo OK
