#!/usr/bin/env bash
# Requests that break the rules, sent with libnbd's strict mode off: each
# gets the error the NBD spec names for it and the connection goes on.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh

start_server "$tmp/sock" memory 1M
start_server "$tmp/ro.sock" -r memory 1M
export rw="$tmp/sock" ro="$tmp/ro.sock"

nbdpy <<'PYEOF'
import os, nbd

M = 1 << 20
failures = []

def connect(sock, structured=True, meta=True):
    h = nbd.NBD()
    h.set_request_structured_replies(structured)
    if meta:
        h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    h.connect_unix(sock)
    h.set_strict_mode(0)
    return h

def expect_error(h, what, errnos, fn):
    try:
        fn()
    except nbd.Error as e:
        if e.errno not in errnos:
            failures.append("%s: got %s, want one of %s" % (what, e.errno, errnos))
        else:
            print("ok: %s -> %s" % (what, e.errno))
    else:
        failures.append("%s: succeeded, want %s" % (what, errnos))
    # The connection must still work.
    try:
        h.pwrite(b"alive", 100) if not h.is_read_only() else None
        assert h.pread(5, 100) in (b"alive", bytes(5))
    except nbd.Error as e:
        failures.append("%s: connection unusable afterwards: %s" % (what, e))
        raise SystemExit("\n".join(failures))

h = connect(os.environ["rw"])
size = h.get_size()
assert size == M
cb = lambda *args: 0

# Beyond the end of the export.
expect_error(h, "read past end", ["EINVAL"], lambda: h.pread(1024, size - 512))
expect_error(h, "read starting past end", ["EINVAL"], lambda: h.pread(512, size + 4096))
expect_error(h, "write past end", ["ENOSPC"], lambda: h.pwrite(b"x" * 1024, size - 512))
expect_error(h, "write starting past end", ["ENOSPC"], lambda: h.pwrite(b"x" * 512, size * 4))
expect_error(h, "zero past end", ["ENOSPC"], lambda: h.zero(1024, size - 512))
expect_error(h, "trim past end", ["EINVAL"], lambda: h.trim(1024, size - 512))
expect_error(h, "cache past end", ["EINVAL"], lambda: h.cache(1024, size - 512))
expect_error(h, "block status past end", ["EINVAL"],
             lambda: h.block_status(1024, size + 512, cb))
# offset + count wraps around 2^64.
expect_error(h, "read with wrapping offset", ["EINVAL"],
             lambda: h.pread(4096, (1 << 64) - 2048))
expect_error(h, "write with wrapping offset", ["ENOSPC", "EINVAL"],
             lambda: h.pwrite(b"y" * 4096, (1 << 64) - 2048))
expect_error(h, "trim with wrapping offset", ["EINVAL"],
             lambda: h.trim(4096, (1 << 64) - 2048))

# Flags that do not apply to the command, or that nobody defined.
# FUA is valid on every command once negotiated (the spec: MUST accept).
assert h.pread(512, 0, nbd.CMD_FLAG_FUA) is not None
h.flush(nbd.CMD_FLAG_FUA)
expect_error(h, "read with NO_HOLE", ["EINVAL"], lambda: h.pread(512, 0, nbd.CMD_FLAG_NO_HOLE))
expect_error(h, "write with unknown flag 0x100", ["EINVAL"],
             lambda: h.pwrite(b"z" * 512, 0, 0x100))
expect_error(h, "flush with REQ_ONE", ["EINVAL"], lambda: h.flush(nbd.CMD_FLAG_REQ_ONE))
expect_error(h, "trim with FAST_ZERO", ["EINVAL"], lambda: h.trim(512, 0, nbd.CMD_FLAG_FAST_ZERO))

# Zero-length requests are not an error for the server to crash on.
for what, fn in (("read", lambda: h.pread(0, 0)),
                 ("write", lambda: h.pwrite(b"", 0)),
                 ("trim", lambda: h.trim(0, 0)),
                 ("zero", lambda: h.zero(0, 0))):
    try:
        fn()
        print("ok: zero-length %s succeeded" % what)
    except nbd.Error as e:
        print("ok: zero-length %s -> %s" % (what, e.errno))
    assert h.pread(5, 100) == b"alive"
h.shutdown()

# Block status without having negotiated a meta context.
h = connect(os.environ["rw"], meta=False)
expect_error(h, "block status without meta context", ["EINVAL"],
             lambda: h.block_status(4096, 0, cb))
h.shutdown()

# With simple replies only: DF and block status are not allowed.
h = connect(os.environ["rw"], structured=False, meta=False)
assert not h.get_structured_replies_negotiated()
expect_error(h, "read with DF, no structured replies", ["EINVAL"],
             lambda: h.pread(512, 0, nbd.CMD_FLAG_DF))
expect_error(h, "block status, no structured replies", ["EINVAL"],
             lambda: h.block_status(4096, 0, cb))
expect_error(h, "read past end, simple reply", ["EINVAL"], lambda: h.pread(1024, size - 512))
h.shutdown()

# A read-only export refuses writes, trims and zeroes with EPERM
# (and does not change the data).
h = connect(os.environ["ro"])
assert h.is_read_only()
expect_error(h, "write to -r", ["EPERM"], lambda: h.pwrite(b"w" * 512, 0))
# With FUA / FAST_ZERO not advertised, EINVAL for the flag is as right.
expect_error(h, "write FUA to -r", ["EPERM"] if h.can_fua() else ["EPERM", "EINVAL"],
             lambda: h.pwrite(b"w" * 512, 0, nbd.CMD_FLAG_FUA))
expect_error(h, "trim on -r", ["EPERM"], lambda: h.trim(512, 0))
expect_error(h, "zero on -r", ["EPERM"], lambda: h.zero(512, 0))
expect_error(h, "fast zero on -r",
             ["EPERM", "ENOTSUP"] + ([] if h.can_fast_zero() else ["EINVAL"]),
             lambda: h.zero(512, 0, nbd.CMD_FLAG_FAST_ZERO))
expect_error(h, "write past end on -r", ["EPERM", "ENOSPC", "EINVAL"],
             lambda: h.pwrite(b"w" * 512, size))
assert h.pread(512, 0) == bytes(512), "read-only export was modified"
h.flush()
h.shutdown()

if failures:
    raise SystemExit("FAILURES:\n  " + "\n  ".join(failures))
print("all bad requests handled")
PYEOF

server_alive "$(cat "$rw.pid")"
server_alive "$(cat "$ro.pid")"
echo "$0: ok"
