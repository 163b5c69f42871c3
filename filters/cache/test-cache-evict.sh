#!/usr/bin/env bash
# cache-max-size bounds the space the cache file really takes (measured
# on the server's own unlinked file through /proc/PID/fd), and dirty
# blocks that are evicted are written back, not lost: write three times
# the maximum, flush, and read it all back, through the server and from
# the file itself.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
requires fallocate
[[ -d /proc/self/fd ]] || skip "no /proc"

iolog="$builddir/.libs/test-iolog-filter.so"
[[ -f "$iolog" ]] || fail "$iolog is missing (make check builds it)"
# The cache file goes to $TMPDIR; it must be able to punch holes.
export TMPDIR="$tmp"
dd if=/dev/zero of="$tmp/probe" bs=1M count=1 status=none
fallocate --punch-hole -o 0 -l 1M "$tmp/probe" 2>/dev/null ||
    skip "the filesystem under $tmp cannot punch holes"

img="$tmp/disk.img"
truncate -s 16M "$img"
export img log="$tmp/io.log"

# $1: cache-max-size (or "none"); the python script checks the bound.
run() {
    : >"$log"
    truncate -s 0 "$img"; truncate -s 16M "$img"
    local max=()
    [[ "$1" != none ]] && max=(cache-max-size="$1")
    start_server "$tmp/sock-$1" -v --filter=cache --filter="$iolog" \
        file "$img" iolog="$log" "${max[@]}"
    uri="$(nbd_uri "$tmp/sock-$1")" pid="$server_pid" MAX="$1" nbdpy <<'PYEOF'
import os, random, nbd
M, B = 1 << 20, 65536
img, log, pid = os.environ["img"], os.environ["log"], os.environ["pid"]
limit = None if os.environ["MAX"] == "none" else M

def cache_file_bytes():
    # The server's unlinked cache file, seen through its open descriptor.
    d = "/proc/%s/fd" % pid
    for fd in os.listdir(d):
        try:
            target = os.readlink(os.path.join(d, fd))
        except OSError:
            continue
        if "blockkit-cache-" in target:
            return os.stat(os.path.join(d, fd)).st_blocks * 512
    raise AssertionError("no cache file among the server's descriptors")

h = nbd.NBD()
h.connect_uri(os.environ["uri"])
size = h.get_size()
model = bytearray(size)
rng = random.Random(7)
peak = 0
# 48 whole blocks (3 MiB, three times the limit) spread over the disk,
# plus unaligned writes that need a read from below.
blocks = rng.sample(range(size // B), 48)
for i, b in enumerate(blocks):
    data = rng.randbytes(B)
    h.pwrite(data, b * B)
    model[b * B:(b + 1) * B] = data
    if i % 4 == 0:
        off = rng.randrange(size - 3000)
        data = rng.randbytes(3000)
        h.pwrite(data, off)
        model[off:off + 3000] = data
    # Reads fill the cache too.
    off = rng.randrange(size - B)
    assert h.pread(B, off) == bytes(model[off:off + B]), "read %d" % i
    peak = max(peak, cache_file_bytes())
print("cache file peak: %d bytes" % peak)
if limit is None:
    assert peak >= 3 * M, "without a limit the cache should hold 3M (%d)" % peak
else:
    # Room for filesystem rounding, not for a fourth of the data more.
    assert peak <= limit + 4 * B, "cache file %d bytes > limit %d" % (peak, limit)
    # Evicted dirty blocks went below before any flush.
    writes = [l for l in open(log) if l.startswith("pwrite")]
    assert len(writes) > 0, "nothing was written back on eviction"
    assert not any(l.startswith("flush") for l in open(log))
h.flush()
assert h.pread(size, 0) == bytes(model), "data read back differs"
assert open(img, "rb").read() == bytes(model), "data in the file differs"
h.shutdown()
PYEOF
    stop_server "$server_pid"
}

run none
run 1M
grep -q "cache: evicted" "$tmp/server.log" || fail "no eviction in the debug output"
echo OK
