#!/usr/bin/env bash
# The scan filter reads the whole disk in the background.  The log filter
# below it records every read with its connection number: the client is
# connection 1 and the scan's own context is another one.
#   - without the client reading anything, the scan's reads cover the disk;
#   - the data the client reads is unaffected;
#   - scan-size sets the size of the scan's reads.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
export PYTHONPATH="$srcdir"

start_server "$tmp/sock" --filter=scan --filter=log memory 8M \
    logfile="$tmp/log" scan-size=1M
sock="$tmp/sock" log="$tmp/log" nbdpy <<'PYEOF'
import os, nbd
from scanlog import *
h = nbd.NBD()
h.connect_unix(os.environ["sock"])
log = os.environ["log"]

def scanned():
    reads, gone = parse(log)
    scan = [r for c, rs in reads.items() if c != 1 for r in rs]
    return covered(scan, 8 << 20)
assert wait_for(scanned), open(log).read()
reads, gone = parse(log)
assert 1 not in reads, "the client read nothing, yet: %r" % reads[1]
scan = [r for c, rs in reads.items() if c != 1 for r in rs]
assert all(n == 1 << 20 for (o, n) in scan), scan
assert len(scan) == 8, scan
# The scan's context is finalized and closed when the scan is done.
assert wait_for(lambda: any(c != 1 for c in parse(log)[1])), open(log).read()

# The client's data is the client's.
data = os.urandom(1 << 20)
h.pwrite(data, 3 << 20)
assert h.pread(1 << 20, 3 << 20) == data
h.shutdown()
PYEOF

# Bad values are refused, naming the key.
expect_fail bk --filter=scan memory 1M scan-size=1 --run true 2>"$tmp/err"
grep -q scan-size "$tmp/err" || fail "bad scan-size not reported"
expect_fail bk --filter=scan memory 1M scan-ahead=perhaps --run true \
    2>"$tmp/err"
grep -q scan-ahead "$tmp/err" || fail "bad scan-ahead not reported"
echo OK
