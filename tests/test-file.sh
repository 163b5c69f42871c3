#!/usr/bin/env bash
# file plugin on a sparse file: data lands in the file, extents come from
# SEEK_DATA/SEEK_HOLE, trim and zero punch holes, flush/FUA/cache work, -r
# refuses writes.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh
requires nbdinfo
requires fallocate

img="$tmp/disk.img"
truncate -s 64M "$img"
# Does this filesystem support holes at all?
dd if=/dev/zero of="$tmp/probe" bs=1M count=1 status=none
fallocate --punch-hole -o 0 -l 1M "$tmp/probe" 2>/dev/null ||
    skip "the filesystem under $tmp cannot punch holes"
blocks() { stat -c %b "$1"; }   # 512-byte blocks allocated
[[ "$(blocks "$img")" -eq 0 ]] || skip "the filesystem under $tmp does not make sparse files"

start_server "$tmp/sock" file "$img"      # magic key: file=
export uri="$(nbd_uri "$tmp/sock")"

[[ "$(nbdinfo --size "$uri")" == 67108864 ]] || fail "size"
nbdinfo --map "$uri" >"$tmp/map"; cat "$tmp/map"
[[ "$(awk '{print $1, $2, $3}' "$tmp/map")" == "0 67108864 3" ]] || fail "empty file map"

M=1048576
nbdpy <<'PYEOF'
import os, nbd
M = 1 << 20
h = nbd.NBD()
h.connect_uri(os.environ["uri"])
assert h.can_trim() and h.can_zero() and h.can_flush() and h.can_fua()
data = bytes((i * 7) & 255 for i in range(4 * M))
h.pwrite(data, 8 * M)
h.pwrite(b"fua!" * 1024, 20 * M, nbd.CMD_FLAG_FUA)
h.flush()
if h.can_cache():
    h.cache(4 * M, 8 * M)
assert h.pread(4 * M, 8 * M) == data
h.shutdown()
PYEOF

# The bytes are in the file itself.
"$PYTHON" - "$img" <<'PYEOF'
import sys
M = 1 << 20
f = open(sys.argv[1], "rb")
f.seek(8 * M); d = f.read(4 * M)
assert d == bytes((i * 7) & 255 for i in range(4 * M)), "file content"
f.seek(20 * M); assert f.read(4096) == b"fua!" * 1024
f.seek(0); assert f.read(8 * M) == bytes(8 * M)
PYEOF
b1="$(blocks "$img")"
echo "allocated after writes: $b1 blocks"
(( b1 >= 8192 )) || fail "file not allocated after 4M write ($b1 blocks)"

# Extents from SEEK_DATA/SEEK_HOLE.
nbdinfo --map "$uri" >"$tmp/map"; cat "$tmp/map"
"$PYTHON" - "$tmp/map" <<'PYEOF'
import sys
M = 1 << 20
ext = [tuple(int(x) for x in l.split()[:3]) for l in open(sys.argv[1])]
def kind(off):
    for o, l, t in ext:
        if o <= off < o + l:
            return t
    raise AssertionError("offset %d not covered" % off)
assert kind(0) == 3 and kind(7 * M) == 3 and kind(30 * M) == 3 and kind(63 * M) == 3
assert kind(8 * M) == 0 and kind(11 * M) == 0 and kind(20 * M) == 0
PYEOF

# Trim punches a hole.
nbdsh -u "$uri" -c "h.trim(2 * $M, 8 * $M); h.flush()"
b2="$(blocks "$img")"
echo "allocated after trim: $b2 blocks"
(( b2 <= b1 - 4096 + 64 )) || fail "trim of 2M freed too little ($b1 -> $b2 blocks)"
cmp -n $((2*M)) "$img" /dev/zero -i $((8*M)):0 || fail "trimmed range is not zero in the file"

# Zero (without NO_HOLE) punches a hole too; with NO_HOLE the data reads zero.
nbdsh -u "$uri" -c "h.zero(2 * $M, 10 * $M); h.flush()"
b3="$(blocks "$img")"
echo "allocated after zero: $b3 blocks"
(( b3 <= b2 - 4096 + 64 )) || fail "zero of 2M freed too little ($b2 -> $b3 blocks)"
nbdsh -u "$uri" -c "
h.pwrite(b'\xff' * 65536, 30 * $M)
h.zero(65536, 30 * $M, nbd.CMD_FLAG_NO_HOLE)
assert h.pread(65536, 30 * $M) == bytes(65536)
"
cmp -n 65536 "$img" /dev/zero -i $((30*M)):0 || fail "zeroed range is not zero in the file"
nbdinfo --map "$uri" >"$tmp/map"; cat "$tmp/map"
awk -v s=$((8*M)) -v e=$((12*M)) '$1 <= s && $1 + $2 >= e && $3 == 3 {found=1} END {exit !found}' "$tmp/map" ||
    fail "trimmed+zeroed 8M..12M is not one hole in --map"
stop_server "$server_pid"

# Read-only: -r, writes refused, file untouched.
sum="$(md5 "$img")"
start_server "$tmp/ro.sock" -r file file="$img"
nbdsh -u "$(nbd_uri "$tmp/ro.sock")" -c "
assert h.is_read_only()
h.set_strict_mode(0)    # send it anyway: the server must refuse it
for op in (lambda: h.pwrite(b'x', 0), lambda: h.trim(4096, 0),
           lambda: h.zero(4096, 0)):
    try:
        op()
        assert False, 'write/trim/zero succeeded on -r'
    except nbd.Error as e:
        assert e.errno == 'EPERM', e
assert h.pread(4096, 20 * $M) == b'fua!' * 1024
"
[[ "$(md5 "$img")" == "$sum" ]] || fail "read-only server modified the file"

# A read-only file (mode 0444) served with -r.
chmod 0444 "$img"
bk -r -U - file "$img" --run 'nbdinfo --size "$uri"' >"$tmp/size"
[[ "$(cat "$tmp/size")" == 67108864 ]] || fail "read-only file with -r"

echo "$0: ok"
