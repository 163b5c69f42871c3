#!/usr/bin/env bash
# memory plugin on a Unix socket: large reads are spliced into the socket
# (server/lend.c), so the reply still refers to the plugin's memory after
# the server is done with it.  A hostile client reads a range, leaves the
# reply unread in its socket, and has the range trimmed and other data
# written from a second connection (which reuses the freed pages).  When
# it reads the reply at last, it must find the data as it was (or the
# zeroes of the trim): never the bytes written afterwards elsewhere,
# which would mean the freed memory went to other data while lent.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh

start_server "$tmp/sock" -v memory 64M
export uri="$(nbd_uri "$tmp/sock")"

nbdpy <<'PYEOF'
import os, time, nbd
M = 1 << 20
N = 128 * 1024                  # all four fit the send buffer: lent

a = nbd.NBD(); a.connect_uri(os.environ["uri"])
b = nbd.NBD(); b.connect_uri(os.environ["uri"])
for k in range(4):
    a.pwrite(b"A" * M, k * M)

bufs = [nbd.Buffer(N) for k in range(4)]
cookies = [a.aio_pread(bufs[k], k * M) for k in range(4)]
time.sleep(1)                   # the replies wait in a's socket, unread

b.trim(4 * M, 0)
for k in range(16):             # allocates pages, the freed ones first
    b.pwrite(b"B" * M, 8 * M + k * M)
b.flush()

for c in cookies:
    while not a.aio_command_completed(c):
        a.poll(-1)
for k in range(4):
    got = bufs[k].to_bytearray()
    if b"B"[0] in got:
        raise SystemExit("read %d shows data written after its reply: "
                         "lent memory was reused" % k)
    assert set(got) <= {0, ord("A")}, set(got)
# At least one reply must have been lent before the trim, or this tested
# nothing (a reply sent after it reads zeroes).
assert any(x.to_bytearray()[0] == ord("A") for x in bufs), "no reply was lent"
print("lent replies kept their data:",
      ["A" if x.to_bytearray()[0] == ord("A") else "zero" for x in bufs])
a.shutdown(); b.shutdown()
PYEOF

# The test means nothing unless the replies were really spliced.
grep -q "large reads are spliced" "$tmp/server.log" ||
    fail "the server did not splice large reads (see $tmp/server.log)"
