#!/usr/bin/env bash
# The stack from the issue: retry over error.  The error filter fails
# every request while a file exists; the retry filter keeps reopening
# until the file is removed, and the client sees success and the right
# data.  With the file left in place the error gets through in the end.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

start_server "$tmp/sock" --filter=retry --filter=error memory 1M \
    error-rate=1 error-file="$tmp/broken" error=ENOSPC \
    retries=4 retry-delay=0.2
export sock="$tmp/sock" broken="$tmp/broken"

nbdpy <<'PYEOF'
import errno, os, threading, time, nbd
h = nbd.NBD()
h.connect_unix(os.environ["sock"])
data = os.urandom(65536)
h.pwrite(data, 0)

# Errors on: the read is retried (0.2, 0.4, 0.8 s...) until the file goes.
open(os.environ["broken"], "w").close()
threading.Timer(0.5, os.unlink, [os.environ["broken"]]).start()
t = time.monotonic()
assert h.pread(65536, 0) == data
el = time.monotonic() - t
assert 0.5 <= el < 5, el

# Errors on for good: 4 retries (0.2+0.4+0.8+1.6 s), then ENOSPC.
open(os.environ["broken"], "w").close()
t = time.monotonic()
try:
    h.pwrite(data, 0)
    raise AssertionError("write succeeded while errors were on")
except nbd.Error as e:
    assert e.errnum == errno.ENOSPC, e
el = time.monotonic() - t
assert 3.0 <= el < 10, el
os.unlink(os.environ["broken"])
assert h.pread(65536, 0) == data
h.shutdown()
PYEOF
echo OK
