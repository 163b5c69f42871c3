#!/usr/bin/env bash
# readahead over a slow layer that logs every read reaching it: sequential
# reads take far fewer round trips below (and less time) than the client
# makes, with its own buffer when below cannot cache and with CACHE
# requests into the cache filter when it can; data is right; a write,
# zero or trim (from this or another connection) between reads never
# leaves stale data.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

iolog="$builddir/.libs/test-ra-iolog-filter.so"
[[ -f "$iolog" ]] || fail "$iolog is missing (make check builds it)"
img="$tmp/disk.img"
# 16 MiB of known data (again after each case that wrote to it).
make_img() {
    "$PYTHON" - "$img" <<'PYEOF'
import random, sys
open(sys.argv[1], "wb").write(random.Random(11).randbytes(16 << 20))
PYEOF
}
make_img
export img log="$tmp/io.log" DELAY=20

cat >"$tmp/seq.py" <<'PYEOF'
import os, time, nbd
M, R = 1 << 20, 65536
img, log, delay = os.environ["img"], os.environ["log"], int(os.environ["DELAY"]) / 1000
orig = open(img, "rb").read()
def below_reads():
    return sum(1 for l in open(log) if l.startswith("pread "))
h = nbd.NBD()
h.connect_uri(os.environ["uri"])

# 8 MiB read sequentially in 64K requests: 128 client reads.
before = below_reads()
t = time.monotonic()
for off in range(0, 8 * M, R):
    assert h.pread(R, off) == orig[off:off + R], "sequential read at %d" % off
took = time.monotonic() - t
n = below_reads() - before
print("128 sequential reads: %d reads below, %.2f s" % (n, took))
assert n <= 16, "too many round trips below: %d" % n
assert took < 128 * delay / 2, "sequential reads took %.2f s" % took
PYEOF

# --- buffer mode: the layer below cannot cache ---
: >"$log"
start_server "$tmp/sock1" --filter=readahead --filter="$iolog" \
    file "$img" iolog="$log" iolog-rdelay="$DELAY" iolog-cache=none
export uri="$(nbd_uri "$tmp/sock1")"
nbdpy <"$tmp/seq.py"

nbdpy <<'PYEOF'
import os, random, nbd
M, R = 1 << 20, 65536
img, log = os.environ["img"], os.environ["log"]
model = bytearray(open(img, "rb").read())
h = nbd.NBD()
h.connect_uri(os.environ["uri"])
h2 = nbd.NBD()
h2.connect_uri(os.environ["uri"])
def below_reads():
    return sum(1 for l in open(log) if l.startswith("pread "))

def seq(start, n):
    for off in range(start, start + n, 4096):
        assert h.pread(4096, off) == bytes(model[off:off + 4096]), "read at %d" % off

# Random reads do not fetch ahead: the window resets.
rng = random.Random(3)
before = below_reads()
for i in range(20):
    off = rng.randrange(0, 15 * M) & ~4095
    assert h.pread(4096, off) == bytes(model[off:off + 4096])
n = below_reads() - before
assert n >= 15, "random reads were served from a prefetch? %d reads below" % n

# A write (this connection) just ahead of a sequential reader.
seq(0, 256 * 1024)              # now data beyond 256K is buffered
h.pwrite(b"1" * 8192, 300 * 1024); model[300 * 1024:308 * 1024] = b"1" * 8192
seq(256 * 1024, 128 * 1024)
# A write from another connection.
seq(2 * M, 128 * 1024)
h2.pwrite(b"2" * 5000, 2 * M + 200 * 1024); model[2 * M + 200 * 1024:2 * M + 200 * 1024 + 5000] = b"2" * 5000
seq(2 * M + 128 * 1024, 256 * 1024)
# Zero and trim from another connection.
seq(4 * M, 64 * 1024)
h2.zero(4096, 4 * M + 100 * 1024); model[4 * M + 100 * 1024:4 * M + 104 * 1024] = bytes(4096)
h2.flush()
seq(4 * M + 64 * 1024, 128 * 1024)
if h2.can_trim():
    seq(6 * M, 64 * 1024)
    h2.trim(65536, 6 * M + 128 * 1024)
    # Trimmed data is unspecified; the file plugin punches a hole: zeroes.
    got = h.pread(65536, 6 * M + 128 * 1024)
    assert got == bytes(65536), "stale data after trim"
    model[6 * M + 128 * 1024:6 * M + 192 * 1024] = bytes(65536)
# Everything, read sequentially, matches.
for off in range(0, 16 * M, 256 * 1024):
    assert h.pread(256 * 1024, off) == bytes(model[off:off + 256 * 1024]), "final read at %d" % off
h.shutdown(); h2.shutdown()
PYEOF
stop_server "$server_pid"

# --- cache mode: readahead asks the cache filter below to fetch ahead ---
make_img
: >"$log"
start_server "$tmp/sock2" --filter=readahead --filter=cache --filter="$iolog" \
    file "$img" iolog="$log" iolog-rdelay="$DELAY"
export uri="$(nbd_uri "$tmp/sock2")"
nbdpy <"$tmp/seq.py"
# Below the cache, without readahead, the same reads take one trip each.
stop_server "$server_pid"
: >"$log"
start_server "$tmp/sock3" --filter=cache --filter="$iolog" \
    file "$img" iolog="$log" iolog-rdelay="$DELAY"
n="$(nbdsh -u "$(nbd_uri "$tmp/sock3")" -c '
for off in range(0, 8 << 20, 65536):
    h.pread(65536, off)
print(sum(1 for l in open("'"$log"'") if l.startswith("pread ")))')"
echo "without readahead: $n reads below"
(( n >= 100 )) || fail "expected about 128 reads below without readahead, got $n"

# Bad values are refused, naming the key.
for bad in readahead-max=1K readahead-max=1G readahead-max=lots; do
    if bk --filter=readahead -U - file "$img" "$bad" --run true >"$tmp/err" 2>&1
    then fail "$bad was accepted"; fi
    grep -q readahead-max "$tmp/err" || { cat "$tmp/err"; fail "error for $bad does not name the key"; }
done
echo OK
