#!/usr/bin/env bash
# cache=writethrough writes below at once; cache=unsafe ignores flush but
# still writes everything back when the client disconnects;
# cache-on-read=false does not keep what is read, and cache-on-read=/PATH
# keeps it only while the file exists; bad values are refused.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

iolog="$builddir/.libs/test-iolog-filter.so"
[[ -f "$iolog" ]] || fail "$iolog is missing (make check builds it)"
img="$tmp/disk.img"
export img log="$tmp/io.log"
fresh() { "$PYTHON" -c 'import sys; open(sys.argv[1], "wb").write(b"0123456789abcdef" * 65536)' "$img"; : >"$log"; }

# Runs a python-libnbd script (on stdin) against a fresh server with the
# cache filter over the logging filter over the file; $1 names the case,
# the rest are cache keys.
run_case() {
    local name="$1"; shift
    fresh
    start_server "$tmp/$name.sock" --filter=cache --filter="$iolog" \
        file "$img" iolog="$log" iolog-rdelay=100 "$@"
    uri="$(nbd_uri "$tmp/$name.sock")" nbdpy
    stop_server "$server_pid"
}

cat >"$tmp/common.py" <<'PYEOF'
import os, time, nbd
M = 1 << 20
img, log = os.environ["img"], os.environ["log"]
orig = b"0123456789abcdef" * 65536
def below(op):
    return [l for l in open(log).read().splitlines() if l.startswith(op + " ")]
def on_disk(off, n):
    with open(img, "rb") as f:
        f.seek(off); return f.read(n)
h = nbd.NBD()
h.connect_uri(os.environ["uri"])
PYEOF
export PYTHONPATH="$tmp"

# --- writethrough: below at once ---
run_case wt cache=writethrough <<'PYEOF'
from common import *
h.pwrite(b"T" * 100, 4096)
assert on_disk(4096, 100) == b"T" * 100, "writethrough did not write below"
h.pread(M, 0)                          # cached ...
h.pwrite(b"U" * 65536, 65536)           # ... and kept up to date
h.zero(10, 200000)
assert h.pread(M, 0) == orig[:4096] + b"T" * 100 + orig[4196:65536] + b"U" * 65536 + orig[131072:200000] + bytes(10) + orig[200010:M]
assert on_disk(65536, 65536) == b"U" * 65536 and on_disk(200000, 10) == bytes(10)
h.flush()
h.shutdown()
PYEOF

# --- unsafe: flush is ignored; disconnect writes back ---
run_case unsafe cache=unsafe <<'PYEOF'
from common import *
h.pwrite(b"S" * 65536, 2 * 65536)
h.flush()
assert on_disk(2 * 65536, 65536) == orig[2 * 65536:3 * 65536], "unsafe flush wrote back"
assert below("pwrite") == [] and below("flush") == []
assert h.pread(65536, 2 * 65536) == b"S" * 65536
h.shutdown()
# The server wrote the dirty block back when the client went away.
for i in range(100):
    if on_disk(2 * 65536, 65536) == b"S" * 65536:
        break
    time.sleep(0.05)
assert on_disk(2 * 65536, 65536) == b"S" * 65536, "not written back at disconnect"
PYEOF

# --- cache-on-read=false: reads are not kept ---
run_case noread cache-on-read=false <<'PYEOF'
from common import *
h.pread(M, 0)
n = len(below("pread"))
h.pread(M, 0)
assert len(below("pread")) > n, "cache-on-read=false kept a read"
# Writes are still cached.
h.pwrite(b"w" * 65536, 0)
n = len(below("pread"))
assert h.pread(65536, 0) == b"w" * 65536
assert len(below("pread")) == n
h.shutdown()
PYEOF

# --- cache-on-read=/PATH: only while the file exists ---
run_case path cache-on-read="$tmp/trigger" <<'PYEOF'
from common import *
h.pread(65536, 0)                       # no trigger: not kept
trigger = os.path.join(os.path.dirname(log), "trigger")
open(trigger, "w").close()
h.pread(65536, 65536)                   # trigger: kept
os.unlink(trigger)
n = len(below("pread"))
h.pread(65536, 65536)
assert len(below("pread")) == n, "read with the trigger was not kept"
h.pread(65536, 0)
assert len(below("pread")) == n + 1, "read without the trigger was kept"
h.shutdown()
PYEOF

# --- block status: dirty blocks are data before the file has them ---
fresh
truncate -s 0 "$img"; truncate -s 4M "$img"
start_server "$tmp/ext.sock" --filter=cache file "$img"
uri="$(nbd_uri "$tmp/ext.sock")" nbdpy <<'PYEOF'
import os, nbd
M = 1 << 20
h = nbd.NBD()
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_uri(os.environ["uri"])
def status():
    ext = []
    def cb(meta, off, entries, err):
        pos = off
        for j in range(0, len(entries), 2):
            ext.append((pos, entries[j], entries[j + 1]))
            pos += entries[j]
    h.block_status(4 * M, 0, cb)
    return ext
def flags_at(ext, o):
    for s, n, f in ext:
        if s <= o < s + n:
            return f
    raise AssertionError("no extent at %d in %r" % (o, ext))
before = status()
if flags_at(before, M) & nbd.STATE_HOLE:       # the file system makes holes
    h.pwrite(b"d" * 65536, M)                   # dirty, not yet in the file
    ext = status()
    assert flags_at(ext, M) == 0, ext
    assert flags_at(ext, 2 * M) & nbd.STATE_HOLE, ext
    h.flush()
    assert flags_at(status(), M) == 0
h.shutdown()
PYEOF
stop_server "$server_pid"

# --- small blocks, a tiny cache, an export that ends inside a block ---
# Random unaligned writes, zeroes, trims, flushes and reads against a
# model.
fresh
truncate -s $((1024 * 1024 + 1000)) "$img"
start_server "$tmp/odd.sock" --filter=cache file "$img" \
    cache-min-block-size=4K cache-max-size=16K
uri="$(nbd_uri "$tmp/odd.sock")" nbdpy <<'PYEOF'
import os, random, nbd
img = os.environ["img"]
model = bytearray(open(img, "rb").read())
size = len(model)
h = nbd.NBD()
h.connect_uri(os.environ["uri"])
assert h.get_size() == size
rng = random.Random(5)
for i in range(400):
    off = rng.randrange(size)
    n = rng.randrange(1, min(20000, size - off) + 1)
    op = rng.random()
    if op < 0.4:
        data = rng.randbytes(n)
        h.pwrite(data, off)
        model[off:off + n] = data
    elif op < 0.5:
        h.zero(n, off)
        model[off:off + n] = bytes(n)
    elif op < 0.55:
        h.flush()
    elif op < 0.6:
        # Whole cache blocks are trimmed below (the file punches a hole:
        # zeroes); the parts of blocks at either end are left alone.
        h.trim(n, off)
        start = (off + 4095) // 4096 * 4096
        end = off + n if off + n == size else (off + n) // 4096 * 4096
        if end > start:
            model[start:end] = bytes(end - start)
    else:
        assert h.pread(n, off) == bytes(model[off:off + n]), "op %d" % i
# The end of the export, written whole and in part.
h.pwrite(b"E" * 1000, size - 1000); model[size - 1000:] = b"E" * 1000
h.pwrite(b"e" * 10, size - 10); model[size - 10:] = b"e" * 10
assert h.pread(size, 0) == bytes(model)
h.flush()
assert open(img, "rb").read() == bytes(model), "file differs after flush"
h.shutdown()
PYEOF
stop_server "$server_pid"

# Bad values are refused, naming the key.
fresh
for bad in cache=sometimes cache-on-read=perhaps cache-max-size=lots \
           cache-min-block-size=1000 cache-min-block-size=2K \
           cache-max-size=4K; do
    if bk --filter=cache -U - file "$img" "$bad" --run true >"$tmp/err" 2>&1
    then fail "$bad was accepted"; fi
    grep -q "${bad%%=*}" "$tmp/err" || { cat "$tmp/err"; fail "error for $bad does not name the key"; }
done
echo OK
