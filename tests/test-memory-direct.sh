#!/usr/bin/env bash
# memory plugin: large reads and writes, which the server moves straight
# between the socket and the plugin's pages (nbdkit_set_direct_ops), read
# back byte for byte against a model of the disk: writes at offsets that
# cut pages, over data (the direct path), over holes and over partly
# allocated ranges (the ordinary path, which keeps zeroes over holes
# sparse), reads spanning data and holes, with and without structured
# replies, pipelined on several connections; and many small reads in
# flight together, which the reader answers from the pages in batches.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh

start_server "$tmp/sock" memory 64M
export uri="$(nbd_uri "$tmp/sock")"

nbdpy <<'PYEOF'
import os, random, nbd
M = 1 << 20
P = 32768                       # the sparse array's page
size = 64 * M
model = bytearray(size)
rng = random.Random(15)

def connect(structured=True):
    h = nbd.NBD()
    h.set_request_structured_replies(structured)
    h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    h.connect_uri(os.environ["uri"])
    assert h.get_structured_replies_negotiated() == structured
    return h

def write(h, off, data):
    h.pwrite(data, off)
    model[off:off + len(data)] = data

def check(h, off, n):
    got = h.pread(n, off)
    if got != model[off:off + n]:
        bad = next(i for i in range(n) if got[i] != model[off + i])
        raise SystemExit("read of %d at %d differs from byte %d" % (n, off, bad))

def holes(h, off, n):
    out = []
    def cb(ctx, o, entries, err):
        for i in range(0, len(entries), 2):
            out.append((o, entries[i], entries[i + 1]))
            o += entries[i]
    h.block_status(n, off, cb)
    return [(o, l) for (o, l, f) in out if f & 1]

h = connect()
# Over holes: the ordinary path allocates; zeroes written there stay holes.
write(h, 0, os.urandom(4 * M))
write(h, 8 * M, bytes(2 * M))
assert holes(h, 8 * M, 2 * M) == [(8 * M, 2 * M)], holes(h, 8 * M, 2 * M)
# Over data, at offsets cutting pages: the direct path.
for off, n in [(512, M), (P - 512, 3 * M + 4096), (5 * 4096, 128 * 1024),
               (M + 4096 * 3, 2 * M + 512)]:
    write(h, off, os.urandom(n))
    check(h, 0, 4 * M)
# Partly allocated (one page written in a hole): the ordinary path.
write(h, 20 * M + P, os.urandom(4096))
write(h, 20 * M, os.urandom(M))
check(h, 19 * M, 3 * M)
# Reads spanning data and holes, both reply kinds.
hs = connect(False)
for c in (h, hs):
    check(c, 0, 12 * M)
    check(c, 3 * M + 123 * 512, 5 * M)
    check(c, 30 * M, 2 * M)           # all hole
# A write of zeroes over data is data (the direct path), reads as zeroes.
write(hs, M, bytes(M))
check(h, 0, 4 * M)

# Pipelined: large writes in flight together on three connections, at
# once on all of them, each on bytes no other write in flight touches
# (so that the model is exact), then large reads in flight together.
conns = [connect(), connect(False), connect()]
for k, c in enumerate(conns):
    write(c, 32 * M + k * 10 * M, os.urandom(10 * M))   # allocate
for rnd in range(5):
    pending = []
    for k, c in enumerate(conns):
        for slot in range(4):
            n = rng.choice([128 * 1024, 256 * 1024, M, 2 * M + 4096])
            off = 32 * M + k * 10 * M + slot * (5 * M // 2) + rng.randrange(0, 5 * M // 2 - n, 512)
            data = os.urandom(n)
            model[off:off + n] = data
            pending.append((c, c.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(data)), off)))
    for c, cookie in pending:
        while not c.aio_command_completed(cookie):
            c.poll(-1)
for k, c in enumerate(conns):
    buf = [nbd.Buffer(M) for _ in range(10)]
    cookies = [c.aio_pread(buf[i], 32 * M + k * 10 * M + i * M) for i in range(10)]
    for cookie in cookies:
        while not c.aio_command_completed(cookie):
            c.poll(-1)
    for i in range(10):
        off = 32 * M + k * 10 * M + i * M
        assert buf[i].to_bytearray() == model[off:off + M], (k, i)
# Small reads, which the reader answers in batches straight from the
# pages: many in flight at once, at offsets and sizes that cut pages,
# over data and holes, both reply kinds.
for c in (h, hs):
    reqs = []
    for i in range(300):
        n = rng.choice([1, 512, 4096, 4096 + 512, 3 * P - 1, 64 * 1024 - 1])
        off = rng.randrange(0, 44 * M - n)
        buf = nbd.Buffer(n)
        reqs.append((off, n, buf, c.aio_pread(buf, off)))
    for off, n, buf, cookie in reqs:
        while not c.aio_command_completed(cookie):
            c.poll(-1)
        assert buf.to_bytearray() == model[off:off + n], (off, n)
for c in conns + [h, hs]:
    c.shutdown()
print("direct reads and writes match the model")
PYEOF
