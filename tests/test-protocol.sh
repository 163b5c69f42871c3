#!/usr/bin/env bash
# NBD protocol features through libnbd: structured replies on and off,
# base:allocation with and without REQ_ONE, zero with NO_HOLE and FAST_ZERO,
# trim, flush, FUA, cache, DF, 64 MiB reads and writes, NBD_CMD_DISC.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh

start_server "$tmp/sock" memory 256M
export sock="$tmp/sock"
pid="$server_pid"

nbdpy <<'PYEOF'
import os, nbd
M = 1 << 20
sock = os.environ["sock"]

def connect(structured=True, meta=True):
    h = nbd.NBD()
    h.set_request_structured_replies(structured)
    if meta:
        h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    h.connect_unix(sock)
    return h

# ---- structured replies + base:allocation ----
h = connect()
assert h.get_protocol() == "newstyle-fixed"
assert h.get_structured_replies_negotiated()
assert h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
for f in (h.can_flush, h.can_fua, h.can_trim, h.can_zero, h.can_fast_zero,
          h.can_cache, h.can_df, h.can_multi_conn):
    assert f(), f.__name__
size = h.get_size()
assert size == 256 * M

# 64 MiB write and read, FUA, DF.
big = os.urandom(64 * M)
h.pwrite(big, 128 * M)
assert h.pread(64 * M, 128 * M) == big
h.pwrite(big[:M], 0, nbd.CMD_FLAG_FUA)

# Structured read with a chunk callback: chunks tile the request.
chunks = []
def chunk(buf, offset, status, err):
    chunks.append((offset, len(buf), status))
    return 0
buf = h.pread_structured(4 * M, 128 * M, chunk)
assert buf == big[:4 * M]
covered = sum(l for (o, l, s) in chunks)
assert covered == 4 * M, chunks
assert all(s in (nbd.READ_DATA, nbd.READ_HOLE) for (o, l, s) in chunks)
# DF: a single chunk for the whole request (also for 64M).
for (n, off, want) in ((M, 0, big[:M]), (64 * M, 128 * M, big)):
    chunks = []
    assert h.pread_structured(n, off, chunk, nbd.CMD_FLAG_DF) == want
    assert len(chunks) == 1 and chunks[0][:2] == (off, n), chunks

# Block status, full and REQ_ONE.
def status(length, offset, flags=0):
    ents = []
    def cb(ctx, off, entries, err):
        assert ctx == nbd.CONTEXT_BASE_ALLOCATION
        assert off == offset
        ents.extend(entries)
    h.block_status(length, offset, cb, flags)
    return [(ents[i], ents[i + 1]) for i in range(0, len(ents), 2)]

full = status(size, 0)
assert sum(l for (l, f) in full) <= size and full, full
one = status(size, 0, nbd.CMD_FLAG_REQ_ONE)
assert len(one) == 1, one
assert one[0][0] <= size
# Data at 128M..192M is reported as data.
d = status(M, 130 * M, nbd.CMD_FLAG_REQ_ONE)
assert len(d) == 1 and d[0][1] & 1 == 0, d
# 200M..256M was never written: hole + zero.
d = status(8 * M, 200 * M)
assert d[0][1] == 3, d
# Extents never go past the end of the export.
d = status(4096, size - 4096)
assert 0 < sum(l for (l, f) in d) <= 4096, d

# Zero: plain (may punch a hole), NO_HOLE, FAST_ZERO.
h.zero(M, 128 * M)
assert h.pread(M, 128 * M) == bytes(M)
assert h.pread(M, 129 * M) == big[M:2 * M]
h.zero(M, 130 * M, nbd.CMD_FLAG_NO_HOLE)
assert h.pread(M, 130 * M) == bytes(M)
try:
    h.zero(M, 131 * M, nbd.CMD_FLAG_FAST_ZERO)
    assert h.pread(M, 131 * M) == bytes(M)
except nbd.Error as e:
    # Allowed only as ENOTSUP, and then nothing may have changed.
    assert e.errno == "ENOTSUP", e
    assert h.pread(M, 131 * M) == big[3 * M:4 * M]
h.zero(M, 132 * M, nbd.CMD_FLAG_FUA)
assert h.pread(M, 132 * M) == bytes(M)
# Zero of a length far beyond 64M (no payload) works.
h.zero(128 * M, 128 * M)
assert h.pread(M, 190 * M) == bytes(M)
assert status(M, 128 * M)[0][1] & 2 == 2

# Trim: data afterwards is unspecified unless zero is reported, but the
# command succeeds, also with FUA, also for a huge length.
h.pwrite(b"t" * M, 10 * M)
h.trim(M, 10 * M)
h.trim(M, 10 * M, nbd.CMD_FLAG_FUA)
h.trim(200 * M, 0)
# Flush, cache.
h.flush()
h.cache(64 * M, 0)
h.cache(size, 0)
assert h.pread(4, 10 * M) in (bytes(4), b"tttt")
h.shutdown()                       # NBD_CMD_DISC

# ---- simple replies only ----
h = connect(structured=False, meta=False)
assert not h.get_structured_replies_negotiated()
assert not h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
data = bytes(range(256)) * (64 * M // 256)
h.pwrite(data, 0)
assert h.pread(64 * M, 0) == data
h.pwrite(b"simple", 5)
assert h.pread(16, 0) == data[:5] + b"simple" + data[11:16]
h.zero(4096, 8192, nbd.CMD_FLAG_FAST_ZERO) if h.can_fast_zero() else h.zero(4096, 8192)
assert h.pread(4096, 8192) == bytes(4096)
h.trim(4096, M)
h.flush()
h.cache(M, 0)
h.shutdown()

# ---- structured replies on, no meta context requested ----
h = connect(structured=True, meta=False)
assert h.get_structured_replies_negotiated()
assert not h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
assert h.pread(6, 5) == b"simple"
h.shutdown()

# ---- meta context listing ----
h = nbd.NBD()
h.set_opt_mode(True)
h.connect_unix(sock)
ctxs = []
h.opt_list_meta_context(lambda name: ctxs.append(name))
assert "base:allocation" in ctxs, ctxs
h.add_meta_context("base:allocation")
ctxs2 = []
h.opt_list_meta_context(lambda name: ctxs2.append(name))
assert ctxs2 == ["base:allocation"], ctxs2
h.clear_meta_contexts()
h.add_meta_context("nosuch:context")
ctxs3 = []
h.opt_list_meta_context(lambda name: ctxs3.append(name))
assert ctxs3 == [], ctxs3
h.opt_go()
assert not h.can_meta_context("nosuch:context")
h.shutdown()
print("protocol ok")
PYEOF

server_alive "$pid"
echo "$0: ok"
