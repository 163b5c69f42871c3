#!/usr/bin/env bash
# Block status through the blocksize filter answers whole blocks: with
# minblock=64k over a file whose extents are 4K, a block with any data in
# it is data and only a block that is all hole is reported as one, so a
# client that skips holes never skips data (checked against reads).
# Unaligned queries get the tail of their first block.  And when the
# layer below stops its answer inside a block (eval's extents script
# answers 4K at a time) the filter never asks it at an unaligned offset
# (blocksize-policy below refuses those): the rest of the block counts
# as data.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

K=1024
truncate -s 1M "$tmp/disk"
printf A | dd of="$tmp/disk" bs=1 seek=$((64 * K + 4096)) conv=notrunc status=none
printf B | dd of="$tmp/disk" bs=1 seek=300000 conv=notrunc status=none
# The test needs a file system that reports holes at 4K granularity.
[[ $(du -k "$tmp/disk" | cut -f1) -lt 64 ]] || skip "no sparse files in $tmp"

start_server "$tmp/sock" --filter=blocksize file "$tmp/disk" minblock=64k
sock="$tmp/sock" nbdpy <<'PYEOF'
import os, nbd
K = 1024
h = nbd.NBD()
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_unix(os.environ["sock"])

def status(off, count, flags=0):
    out = []
    def cb(ctx, o, e, err):
        out.extend(zip(e[0::2], e[1::2]))
    h.block_status(count, off, cb, flags)
    return out

# The whole disk: every extent boundary on a 64K boundary, data exactly
# where the two written blocks are.
ext = status(0, 1024 * K)
print(ext)
pos = 0
data = []
for length, flags in ext:
    assert pos % (64 * K) == 0 and length % (64 * K) == 0, ext
    if not flags & nbd.STATE_ZERO:
        data.append((pos, length))
    else:
        assert h.pread(length, pos) == bytes(length), (pos, length)
    pos += length
assert data == [(64 * K, 64 * K), (256 * K, 64 * K)], data

# Unaligned queries: the answer starts at the client's offset and is
# the type of the block it falls in.
assert status(100, 10)[0][1] == 3
assert status(64 * K + 100, 5000)[0][1] == 0
first = status(128 * K - 1, 2)
assert first[0] == (1, 0), first
assert status(299999, 7)[0][1] == 0
# REQ_ONE: one extent, of whole blocks.
one = status(0, 1024 * K, nbd.CMD_FLAG_REQ_ONE)
assert one == [(64 * K, 3)], one
h.shutdown()
PYEOF

# A layer below that answers 4K at a time, and refuses unaligned
# requests.  eval is Debian's nbdkit plugin binary, which blockkit loads.
p=
for d in /usr/lib/*/nbdkit/plugins /usr/lib64/nbdkit/plugins; do
    [[ -f "$d/nbdkit-eval-plugin.so" ]] && p="$d/nbdkit-eval-plugin.so"
done
[[ -n "$p" ]] || skip "nbdkit's eval plugin is not installed"
stop_server "$server_pid"
start_server "$tmp/sock2" --filter=blocksize --filter=blocksize-policy "$p" \
    minblock=64k blocksize-minimum=64k blocksize-error-policy=error \
    get_size='echo 1048576' \
    pread='dd if=/dev/zero count=$3 iflag=count_bytes status=none' \
    extents='
      # 4K per answer: data in the first 4K of each 128K, hole elsewhere.
      if [ $(( $4 % 131072 )) -lt 4096 ]; then echo $4 4096 data
      else echo $4 4096 hole,zero; fi'
sock="$tmp/sock2" nbdpy <<'PYEOF'
import os, nbd
K = 1024
h = nbd.NBD()
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_unix(os.environ["sock"])
out = []
def cb(ctx, o, e, err):
    out.extend(zip(e[0::2], e[1::2]))
h.block_status(1024 * K, 0, cb)
print(out)
# Each 64K block had a 4K answer and the rest unknown: all data.
assert sum(l for l, f in out) > 0
assert all(f == 0 for l, f in out), out
assert all(l % (64 * K) == 0 for l, f in out), out
h.shutdown()
PYEOF
echo OK
