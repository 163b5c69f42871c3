#!/usr/bin/env bash
# -s: serve one client on stdin/stdout (libnbd's connect_command), and
# systemd socket activation (LISTEN_FDS).
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh

nbdpy <<'PYEOF'
import os, nbd
bk = os.environ["BLOCKKIT"]
h = nbd.NBD()
h.connect_command([bk, "-s", "--exit-with-parent", "memory", "size=4M"])
assert h.get_size() == 4 * 1024 * 1024, h.get_size()
buf = b"single!!" * 512
h.pwrite(buf, 8192)
assert h.pread(4096, 8192) == buf
h.flush()
h.shutdown()

# Read-only over stdin.
h = nbd.NBD()
h.connect_command([bk, "-s", "-r", "pattern", "size=1M"])
assert h.is_read_only()
assert h.pread(8, 4096) == (4096).to_bytes(8, "big")
h.shutdown()
print("ok")
PYEOF

# nbdinfo's [ CMD ARGS ] syntax starts the server with systemd socket
# activation (LISTEN_PID/LISTEN_FDS, no -s or -U).
out="$(timeout 60 nbdinfo --size -- [ "$BLOCKKIT" memory size=3M ])"
[[ "$out" == 3145728 ]] || fail "nbdinfo via socket activation: $out"

echo "$0: ok"
