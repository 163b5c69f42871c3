#!/usr/bin/env bash
# gzip over the file plugin: the image compressed at test time is copied
# out with nbdcopy and compared byte for byte; read-only; the size is the
# uncompressed size; nothing is decompressed at startup, once on the first
# connection (4 connecting at once still decompress once), into an
# unlinked file in $TMPDIR; over the nbd plugin (a remote source, not yet
# there at startup); several members and zero padding are read as
# gunzip reads them; corrupt input (not gzip, truncated, bad CRC, bad
# length, trailing garbage, and 60 files with random bytes flipped, served
# by one server) fails the connection with an error saying what is wrong,
# and never crashes the server or serves wrong data.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
requires nbdcopy
requires gzip

img="$tmp/disk.img"
"$PYTHON" - "$img" <<'PYEOF'
import random, sys
r = random.Random(5)
out = bytearray()
size = 6 * 1024 * 1024 + 123
while len(out) < size:
    if r.random() < 0.3:
        out += r.randbytes(r.randrange(1, 20000))
    else:
        out += bytes([r.randrange(256)]) * r.randrange(1, 20000)
open(sys.argv[1], "wb").write(bytes(out[:size]))
PYEOF
size=$(stat -c %s "$img")
gzip -1 -c "$img" >"$tmp/disk.img.gz"

mkdir "$tmp/tmpdir"
export TMPDIR="$tmp/tmpdir"
start_server "$tmp/sock" -v --filter=gzip file "$tmp/disk.img.gz"
uri="$(nbd_uri "$tmp/sock")"
# Not at startup.
grep -q "gzip: export .* decompressed" "$tmp/server.log" &&
    fail "decompressed at startup"
# Four clients connect at once: one decompression.
pids=()
for i in 1 2 3 4; do
    nbdsh -u "$uri" -c "assert h.get_size() == $size" -c 'assert h.is_read_only()' &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a parallel first connection failed"; done
[[ $(grep -c "gzip: export .* decompressed" "$tmp/server.log") == 1 ]] ||
    fail "not decompressed exactly once"
nbdcopy "$uri" "$tmp/out.img"
cmp "$img" "$tmp/out.img" || fail "nbdcopy output differs"
rm "$tmp/out.img"
# The temporary file is in $TMPDIR, already unlinked, and held open.
[[ -z "$(ls -A "$tmp/tmpdir")" ]] || fail "temporary file left in TMPDIR"
ls -l /proc/"$server_pid"/fd >"$tmp/fds"
grep -q "$tmp/tmpdir/blockkit-gzip-.* (deleted)" "$tmp/fds" ||
    fail "no unlinked temporary file in TMPDIR held by the server"
if nbdsh -u "$uri" -c 'h.pwrite(b"x", 0)' 2>/dev/null; then
    fail "a write succeeded"
fi
server_alive "$server_pid"
stop_server "$server_pid"

# Over a remote plugin (the nbd plugin, reaching another server that
# serves the .gz file as it is), started before that server exists.
start_server "$tmp/front.sock" --filter=gzip nbd socket="$tmp/back.sock"
front_pid=$server_pid
start_server "$tmp/back.sock" file "$tmp/disk.img.gz"
nbdcopy "$(nbd_uri "$tmp/front.sock")" "$tmp/remote.out"
cmp "$img" "$tmp/remote.out" || fail "over the nbd plugin: output differs"
rm "$tmp/remote.out"
stop_server "$front_pid"
stop_server "$server_pid"

# Several members, then zero padding: what gunzip makes of it.
d="$tmp/files"
mkdir "$d"
head -c 1000000 "$img" | gzip -1 >"$d/members"
dd if="$img" bs=1000000 skip=1 count=3 status=none | gzip -9 >>"$d/members"
tail -c +4000001 "$img" | gzip -1 >>"$d/members"
head -c 4096 /dev/zero >>"$d/members"
# Damaged ones.
gz="$tmp/disk.img.gz"
gzsize=$(stat -c %s "$gz")
flip() {
    "$PYTHON" -c '
import sys
f = open(sys.argv[1], "r+b"); off = int(sys.argv[2])
f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x55]))
' "$1" "$2"
}
head -c 50000 /dev/urandom >"$d/garbage"
head -c $((gzsize - 20)) "$gz" >"$d/truncated"
cp "$gz" "$d/bad-crc";     flip "$d/bad-crc" $((gzsize - 6))
cp "$gz" "$d/bad-length";  flip "$d/bad-length" $((gzsize - 2))
cp "$gz" "$d/bad-data";    flip "$d/bad-data" $((gzsize / 2))
cp "$gz" "$d/trailing";    echo "trailing garbage" >>"$d/trailing"
: >"$d/empty"

# The fuzz corpus, from a small file.
head -c 200000 "$img" >"$tmp/small.img"
gzip -6 -c "$tmp/small.img" >"$tmp/small.gz"
"$PYTHON" - "$tmp/small.gz" "$d" <<'PYEOF'
import random, sys
r = random.Random(17)
data = open(sys.argv[1], "rb").read()
for i in range(60):
    m = bytearray(data)
    for j in range(r.randrange(1, 4)):
        if r.random() < 0.3:
            off = r.randrange(len(m) - 8, len(m))     # CRC32 and ISIZE
        elif r.random() < 0.3:
            off = r.randrange(0, 10)                  # the header
        else:
            off = r.randrange(len(m))
        m[off] ^= r.randrange(1, 256)
    if r.random() < 0.1:
        m = m[:r.randrange(len(m))]
    open("%s/fuzz-%02d" % (sys.argv[2], i), "wb").write(bytes(m))
PYEOF

: >"$tmp/server.log"
start_server "$tmp/sock2" --filter=gzip file dir="$d"
export sock="$tmp/sock2" img small="$tmp/small.img" d
nbdpy <<'PYEOF'
import os, nbd
img = open(os.environ["img"], "rb").read()
small = open(os.environ["small"], "rb").read()
def connect(name):
    h = nbd.NBD()
    h.set_export_name(name)
    h.connect_unix(os.environ["sock"])
    return h
h = connect("members")
assert h.get_size() == len(img), h.get_size()
for off in range(0, len(img), 1 << 20):
    assert h.pread(min(1 << 20, len(img) - off), off) == img[off:off + (1 << 20)], off
h.shutdown()
for name in ("garbage", "truncated", "bad-crc", "bad-length", "bad-data",
             "trailing", "empty"):
    try:
        connect(name)
    except nbd.Error:
        continue
    raise AssertionError("%s: opened" % name)
opened = 0
for name in sorted(os.listdir(os.environ["d"])):
    if not name.startswith("fuzz-"):
        continue
    try:
        h = connect(name)
    except nbd.Error:
        continue
    # gzip cannot fail later: what opens must be entirely right (only
    # header fields no check covers, like the time stamp, can change).
    opened += 1
    assert h.get_size() == len(small), "%s: size %d" % (name, h.get_size())
    assert h.pread(len(small), 0) == small, "%s: wrong data" % name
    h.shutdown()
print("fuzz: %d of 60 damaged files opened (with the right data)" % opened)
PYEOF
server_alive "$server_pid"
for msg in "incorrect header check" "truncated" "incorrect data check" \
           "incorrect length check" "trailing garbage" "empty"; do
    grep -q "$msg" "$tmp/server.log" || { cat "$tmp/server.log"; fail "no error saying: $msg"; }
done
echo OK
