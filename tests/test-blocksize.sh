#!/usr/bin/env bash
# Block size constraints: a plugin advertising minimum 512 / preferred 4096 /
# maximum 32M (test-blocksize-plugin.c, built by `make check`).  Clients see
# the constraints, and the server refuses unaligned or oversized requests
# with EINVAL (or EOVERFLOW) itself: the plugin aborts if one reaches it.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh
requires nbdinfo

plugin="$builddir/.libs/test-blocksize-plugin.so"
[[ -f "$plugin" ]] || skip "$plugin not built (run via make check)"

start_server "$tmp/sock" "$plugin"
export sock="$tmp/sock"
pid="$server_pid"

nbdinfo --json "$(nbd_uri "$sock")" >"$tmp/info.json"
"$PYTHON" - "$tmp/info.json" <<'PYEOF'
import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
assert e["block_size_minimum"] == 512, e
assert e["block_size_preferred"] == 4096, e
assert e["block_size_maximum"] == 32 << 20, e
PYEOF

nbdpy <<'PYEOF'
import os, nbd
failures = []
h = nbd.NBD()
h.connect_unix(os.environ["sock"])
assert h.get_block_size(nbd.SIZE_MINIMUM) == 512
assert h.get_block_size(nbd.SIZE_PREFERRED) == 4096
assert h.get_block_size(nbd.SIZE_MAXIMUM) == 32 << 20
size = h.get_size()

# Aligned requests work.
h.pwrite(b"\x5a" * 4096, 8192)
assert h.pread(4096, 8192) == b"\x5a" * 4096
h.pwrite(b"\x01" * 512, 512)
assert h.pread(1024, 0) == bytes(512) + b"\x01" * 512

# libnbd itself refuses unaligned requests in strict mode ...
try:
    h.pread(100, 1)
    failures.append("libnbd strict mode let an unaligned read through")
except nbd.Error:
    pass
# ... so turn strict mode off and send them anyway.
h.set_strict_mode(0)
def expect_error(what, errnos, fn):
    try:
        fn()
        failures.append("%s: succeeded, want %s" % (what, errnos))
    except nbd.Error as e:
        if e.errno in errnos:
            print("ok: %s -> %s" % (what, e.errno))
        else:
            failures.append("%s: got %s, want %s" % (what, e.errno, errnos))
    if h.aio_is_closed() or h.aio_is_dead():
        raise SystemExit("%s: connection dropped\n%s" % (what, "\n".join(failures)))
    assert h.pread(4096, 8192) == b"\x5a" * 4096, what

expect_error("unaligned read offset", ["EINVAL"], lambda: h.pread(512, 1))
expect_error("unaligned read count", ["EINVAL"], lambda: h.pread(100, 0))
expect_error("unaligned write offset", ["EINVAL"], lambda: h.pwrite(b"x" * 512, 256))
expect_error("unaligned write count", ["EINVAL"], lambda: h.pwrite(b"x" * 700, 4096))
expect_error("unaligned trim", ["EINVAL"], lambda: h.trim(512, 100))
expect_error("unaligned zero", ["EINVAL"], lambda: h.zero(1000, 0))
expect_error("unaligned cache", ["EINVAL"], lambda: h.cache(1, 0)) if h.can_cache() else None
expect_error("read above maximum", ["EINVAL", "EOVERFLOW"],
             lambda: h.pread((32 << 20) + 512, 0))
# Unaligned data must not have been written anywhere.
assert h.pread(8192, 0) == bytes(512) + b"\x01" * 512 + bytes(7168)
h.shutdown()
if failures:
    raise SystemExit("FAILURES:\n  " + "\n  ".join(failures))
PYEOF

server_alive "$pid"
echo "$0: ok"
