#!/usr/bin/env bash
# Many requests in flight (aio) on one connection: all complete with the
# right data (reads and writes of mixed sizes), and replies come back out of order when a slow request is
# overtaken by fast ones.  Several connections at once.  -t THREADS,
# including -t 1, never deadlocks.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh

cat >"$tmp/aio.py" <<'PYEOF'
import os, sys, nbd, threading
M = 1 << 20
sock, want_ooo = sys.argv[1], sys.argv[2] == "1"

h = nbd.NBD()
h.connect_unix(sock)
size = h.get_size()

# Fill the disk with a recognisable pattern, 1 MiB at a time, in flight.
def block(i):
    return (b"%08d" % i) * (M // 8)
cookies = [h.aio_pwrite(block(i), i * M) for i in range(size // M)]
while h.aio_in_flight() > 0:
    h.poll(-1)
for c in cookies:
    assert h.aio_command_completed(c)

# 512 reads in flight at once, random sizes and offsets, checked.
import random
rnd = random.Random(42)
reqs = []
for _ in range(512):
    n = rnd.choice((512, 4096, 65536, 1 << 18))
    off = rnd.randrange(0, size - n) & ~511
    buf = nbd.Buffer(n)
    reqs.append((h.aio_pread(buf, off), buf, off, n))
while h.aio_in_flight() > 0:
    h.poll(-1)
whole = b"".join(block(i) for i in range(size // M))
for c, buf, off, n in reqs:
    assert h.aio_command_completed(c)
    assert buf.to_bytearray() == whole[off:off + n], (off, n)

# Writes of mixed sizes in flight at once, not overlapping: big ones,
# whose payload is read straight into their own buffer, between small
# ones, run from the input buffer.  Every byte lands where it belongs.
sizes = (M, 4096, 200000, 65536 + 512, 512, 2 * M, 100000, 1, 131072,
         131073, 28, 65537)
img = bytearray(whole)
reqs = []
off = 0
while True:
    n = rnd.choice(sizes)
    if off + n > size:
        break
    data = os.urandom(n)
    reqs.append(h.aio_pwrite(data, off))
    img[off:off + n] = data
    off += n + rnd.choice((0, 0, 1, 4096))
while h.aio_in_flight() > 0:
    h.poll(-1)
for c in reqs:
    assert h.aio_command_completed(c)
assert h.pread(size, 0) == img, "mixed-size writes"
h.pwrite(whole, 0)

# Out of order: a 32 MiB read followed by small reads; record the order in
# which replies arrive.  Some small read must overtake the big one.
ooo = False
for attempt in range(20):
    order = []
    def done(tag):
        def cb(err):
            order.append(tag)
            return 1
        return cb
    big = nbd.Buffer(32 * M)
    h.aio_pread(big, 0, completion=done("big"))
    for i in range(16):
        h.aio_pread(nbd.Buffer(4096), (40 + i) * M, completion=done(i))
    while h.aio_in_flight() > 0:
        h.poll(-1)
    assert len(order) == 17
    if order[0] != "big":
        ooo = True
        print("out of order after %d attempts: %s" % (attempt + 1, order[:4]))
        break
if want_ooo and not ooo:
    raise SystemExit("replies never came back out of order")

# Four connections writing different regions at the same time.
def worker(k):
    g = nbd.NBD()
    g.connect_unix(sock)
    data = bytes([k + 1]) * (4 * M)
    cs = [g.aio_pwrite(data[j * M:(j + 1) * M], (k * 4 + j) * M) for j in range(4)]
    while g.aio_in_flight() > 0:
        g.poll(-1)
    assert g.pread(4 * M, k * 4 * M) == data
    g.shutdown()
ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
for k in range(4):
    assert h.pread(4 * M, k * 4 * M) == bytes([k + 1]) * (4 * M), k
h.shutdown()
print("ok")
PYEOF

# Default threads and -t 16: replies out of order expected where the
# 32 MiB read takes time (a filter in the chain: it is copied through a
# buffer).  The memory plugin alone sends it straight from its pages the
# moment it is read (direct.c): nothing is slower than the send, and it
# is the first reply ready.
for t in "" "-t 16"; do
    start_server "$tmp/sock$t" $t --filter=noextents memory 64M
    timeout 120 "$PYTHON" "$tmp/aio.py" "$tmp/sock$t" 1 || fail "aio with '$t' (filter)"
    server_alive "$server_pid"
    start_server "$tmp/sockd$t" $t memory 64M
    timeout 120 "$PYTHON" "$tmp/aio.py" "$tmp/sockd$t" 0 || fail "aio with '$t'"
    server_alive "$server_pid"
done
# -t 1 (and -t 2): everything still completes.
for t in "-t 1" "-t 2"; do
    start_server "$tmp/sock$t" $t memory 64M
    timeout 120 "$PYTHON" "$tmp/aio.py" "$tmp/sock$t" 0 || fail "aio with '$t'"
    server_alive "$server_pid"
done

echo "$0: ok"
