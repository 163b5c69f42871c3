#!/usr/bin/env bash
# The error filter:
#   - error-rate=1 fails every request with the chosen errno (as the
#     client sees it through NBD), error-rate=0 never fails, a rate in
#     between fails some;
#   - error-file turns errors on and off during one connection;
#   - per-operation keys affect only their operation, and override the
#     plain keys.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

cat >"$tmp/lib.py" <<'PYEOF'
import errno, os, nbd
def connect(name):
    h = nbd.NBD()
    h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    h.connect_unix(os.environ["tmp"] + "/" + name + ".sock")
    return h
def errnum(fn):
    """The errno a request fails with, or 0."""
    try:
        fn()
    except nbd.Error as e:
        return e.errnum
    return 0
PYEOF
export PYTHONPATH="$tmp"

serve() {
    local name="$1"; shift
    start_server "$tmp/$name.sock" --filter=error memory 1M "$@"
}
serve eio error-rate=1
serve enospc error-rate=100% error=ENOSPC
serve eperm error-rate=1 error=eperm
serve never error-rate=0
serve half error-rate=1/2
serve file error-rate=1 error-file="$tmp/on"
serve perop error-pwrite-rate=1 error-pwrite=ENOSPC
serve override error-rate=1 error-pread=ENOMEM error-flush-rate=0 \
    error-zero-file="$tmp/zero-on"

nbdpy <<'PYEOF'
import os
from lib import *
E = errno

h = connect("eio")
for fn in (lambda: h.pread(512, 0), lambda: h.pwrite(b"x" * 512, 0),
           lambda: h.flush(), lambda: h.trim(512, 0), lambda: h.zero(512, 0),
           lambda: h.cache(512, 0),
           lambda: h.block_status(512, 0, lambda *a: 0)):
    assert errnum(fn) == E.EIO
assert errnum(lambda: connect("enospc").pread(512, 0)) == E.ENOSPC
assert errnum(lambda: connect("eperm").pwrite(b"x", 0)) == E.EPERM

h = connect("never")
for i in range(200):
    h.pread(512, i * 512)

h = connect("half")
results = [errnum(lambda: h.pread(512, 0)) for i in range(200)]
fails = results.count(E.EIO)
assert 30 < fails < 170, fails
assert results.count(0) + fails == 200

# The file toggles errors within one connection.
h = connect("file")
on = os.environ["tmp"] + "/on"
h.pwrite(b"a" * 512, 0)
open(on, "w").close()
assert errnum(lambda: h.pread(512, 0)) == E.EIO
assert errnum(lambda: h.pwrite(b"b" * 512, 0)) == E.EIO
os.unlink(on)
assert h.pread(512, 0) == b"a" * 512

# Per-operation keys: only writes fail, with their own errno.
h = connect("perop")
assert h.pread(512, 0) == bytes(512)
assert errnum(lambda: h.pwrite(b"x" * 512, 0)) == E.ENOSPC
h.zero(512, 0); h.trim(512, 0); h.flush()

# Per-operation keys override the plain ones, whatever their order.
h = connect("override")
assert errnum(lambda: h.pread(512, 0)) == E.ENOMEM
assert errnum(lambda: h.pwrite(b"x", 0)) == E.EIO
h.flush()
# zero fails only while its own file exists.
h.zero(512, 0)
open(os.environ["tmp"] + "/zero-on", "w").close()
assert errnum(lambda: h.zero(512, 0)) == E.EIO
PYEOF

# Bad values are refused, naming the key.
expect_fail bk --filter=error memory 1M error=EFOO --run true 2>"$tmp/err"
grep -q "error: unknown error" "$tmp/err" || fail "bad error: $(cat "$tmp/err")"
expect_fail bk --filter=error memory 1M error-pread-rate=2 --run true \
    2>"$tmp/err"
grep -q "error-pread-rate" "$tmp/err" || fail "bad rate: $(cat "$tmp/err")"
echo OK
