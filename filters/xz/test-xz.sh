#!/usr/bin/env bash
# xz over the file plugin: one image compressed at test time with several
# block sizes (64KiB, 1MiB, 16MiB, one single block), each copied out with
# nbdcopy and compared byte for byte with the original; random unaligned
# reads across block boundaries from several connections at once; a
# concatenated file with stream padding; over the nbd plugin (a remote
# source, not yet there at startup); read-only; the size is the
# uncompressed size; xz-max-block and xz-max-depth (and the old names).
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
requires nbdinfo
requires nbdcopy
requires xz

img="$tmp/disk.img"
# 17 MiB + 1234 bytes (two 16MiB blocks) of mixed data: runs of one byte (compress well),
# random stretches (do not), and text; not a multiple of any block size.
"$PYTHON" - "$img" <<'PYEOF'
import random, sys
r = random.Random(7)
out = bytearray()
size = 17 * 1024 * 1024 + 1234
while len(out) < size:
    k = r.random()
    n = r.randrange(1, 64 * 1024)
    if k < 0.6:
        out += bytes([r.randrange(256)]) * n
    elif k < 0.7:
        out += r.randbytes(n)
    else:
        out += (b"block %d of the test image, " % len(out)) * (n // 40 + 1)
with open(sys.argv[1], "wb") as f:
    f.write(bytes(out[:size]))
PYEOF
size=$(stat -c %s "$img")

# -0: the fastest preset; the block structure is what is tested.
xz -0 --block-size=64KiB -c "$img" >"$tmp/b64k.xz" &
xz -0 --block-size=1MiB -c "$img" >"$tmp/b1m.xz" &
xz -0 --block-size=16MiB -c "$img" >"$tmp/b16m.xz" &
xz -0 -T1 -c "$img" >"$tmp/single.xz" &
wait
for f in b64k b1m b16m single; do
    xz --robot --list "$tmp/$f.xz" | awk -v f=$f '$1 == "totals" { print f ": " $3 " block(s)" }'
done

for f in b64k b1m b16m single; do
    : >"$tmp/server.log"
    start_server "$tmp/$f.sock" -v --filter=xz file "$tmp/$f.xz"
    uri="$(nbd_uri "$tmp/$f.sock")"
    [[ "$(nbdinfo --size "$uri")" == "$size" ]] || fail "$f: wrong size"
    nbdinfo --json "$uri" | "$PYTHON" -c '
import json, sys
e = json.load(sys.stdin)["exports"][0]
assert e["is_read_only"], "not read-only"
' || fail "$f: not read-only"
    nbdcopy "$uri" "$tmp/out.img"
    cmp "$img" "$tmp/out.img" || fail "$f: nbdcopy output differs"
    rm -f "$tmp/out.img"
    # Writes are refused.
    if nbdsh -u "$uri" -c 'h.pwrite(b"x", 0)' 2>/dev/null; then
        fail "$f: a write succeeded"
    fi
    server_alive "$server_pid"
    if [[ $f == single ]]; then
        grep -q "warning: the file has a single xz block" "$tmp/server.log" ||
            fail "single: no warning about the single block"
    elif grep -q "single xz block" "$tmp/server.log"; then
        fail "$f: single-block warning for a file with several blocks"
    fi
    stop_server "$server_pid"
done

# Random unaligned reads from 4 connections at once, each checked; a
# small cache (xz-max-depth=2) so that blocks are evicted and reloaded.
check_random() {
    local f="$1" nreads="$2"; shift 2
    start_server "$tmp/r$f.sock" --filter=xz file "$tmp/$f.xz" "$@"
    export uri="$(nbd_uri "$tmp/r$f.sock")" img nreads
    nbdpy <<'PYEOF'
import os, random, threading, nbd
img = open(os.environ["img"], "rb").read()
errors = []
def worker(seed):
    try:
        h = nbd.NBD()
        h.connect_uri(os.environ["uri"])
        r = random.Random(seed)
        for i in range(int(os.environ["nreads"])):
            n = r.choice([1, 512, 4096, 65536, 65537, 300000, 1100000])
            off = r.randrange(0, len(img) - n)
            got = h.pread(n, off)
            if got != img[off:off + n]:
                raise AssertionError("read %d at %d differs" % (n, off))
        # The very end of the image.
        assert h.pread(1234, len(img) - 1234) == img[-1234:]
        h.shutdown()
    except Exception as e:
        errors.append(e)
ts = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
for t in ts: t.start()
for t in ts: t.join()
if errors:
    raise errors[0]
PYEOF
    server_alive "$server_pid"
    stop_server "$server_pid"
}
check_random b64k 40 xz-max-depth=2
check_random b1m 40
# A single block: every read behind the decoders decompresses from the
# start again, so only a few.
check_random single 3

# Concatenated streams, with stream padding between and after them.
head -c 5000000 "$img" | xz -0 --block-size=256KiB >"$tmp/cat.xz"
printf '\0\0\0\0' >>"$tmp/cat.xz"
tail -c +5000001 "$img" | xz -0 -T1 --block-size=1MiB >>"$tmp/cat.xz"
printf '\0\0\0\0\0\0\0\0' >>"$tmp/cat.xz"
bk --filter=xz -U - file "$tmp/cat.xz" \
   --run 'nbdcopy "$uri" "$tmp/cat.out"' || fail "concatenated streams"
cmp "$img" "$tmp/cat.out" || fail "concatenated streams: output differs"

# Over a remote plugin (the nbd plugin, reaching another server that
# serves the .xz file as it is), started before that server exists:
# nothing is read below at startup.
start_server "$tmp/front.sock" --filter=xz nbd socket="$tmp/back.sock"
front_pid=$server_pid
start_server "$tmp/back.sock" file "$tmp/b1m.xz"
nbdcopy "$(nbd_uri "$tmp/front.sock")" "$tmp/remote.out"
cmp "$img" "$tmp/remote.out" || fail "over the nbd plugin: output differs"
rm "$tmp/remote.out"
stop_server "$front_pid"
stop_server "$server_pid"

# xz-max-block: a file with larger blocks is refused on open, saying why.
bk --filter=xz -U - file "$tmp/b1m.xz" xz-max-block=512K \
   --run 'nbdinfo --size "$uri"' >"$tmp/err" 2>&1 &&
    fail "xz-max-block=512K accepted 1 MiB blocks"
grep -q "xz-max-block" "$tmp/err" || { cat "$tmp/err"; fail "no xz-max-block error"; }
bk --filter=xz -U - file "$tmp/b1m.xz" maxblock=1M maxdepth=1 \
   --run 'nbdcopy "$uri" "$tmp/m.out"' || fail "maxblock=1M maxdepth=1"
cmp "$img" "$tmp/m.out" || fail "maxblock=1M maxdepth=1: output differs"

# Bad values are refused, naming the key.
for bad in xz-max-depth=0 xz-max-block=0 xz-max-block=lots maxdepth=-1; do
    if bk --filter=xz -U - file "$tmp/b1m.xz" "$bad" --run true \
          >"$tmp/err" 2>&1; then
        fail "$bad was accepted"
    fi
    grep -q "${bad%%=*}" "$tmp/err" || { cat "$tmp/err"; fail "error for $bad does not name the key"; }
done

# An empty image compresses to a valid file with no blocks.
: >"$tmp/empty"
xz -c "$tmp/empty" >"$tmp/empty.xz"
[[ "$(bk --filter=xz -U - file "$tmp/empty.xz" --run 'nbdinfo --size "$uri"')" == 0 ]] ||
    fail "empty image"
echo OK
