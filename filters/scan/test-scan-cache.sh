#!/usr/bin/env bash
# Scan over cache, the stack the scan filter is for: the scan reads the
# disk through the cache filter, which keeps what it reads, so afterwards
# the client's reads are all served by the cache and none reaches the log
# filter under it.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
export PYTHONPATH="$srcdir"

bk --filter=cache memory 1M cache-on-read=true --run true 2>"$tmp/err" ||
    skip "the cache filter is not usable: $(cat "$tmp/err")"

start_server "$tmp/sock" --filter=scan --filter=cache --filter=log \
    memory 8M logfile="$tmp/log" cache-on-read=true scan-size=1M
sock="$tmp/sock" log="$tmp/log" nbdpy <<'PYEOF'
import os, nbd
from scanlog import *
M = 1 << 20
log = os.environ["log"]
h = nbd.NBD()
h.connect_unix(os.environ["sock"])
def scan():
    return [r for c, rs in parse(log)[0].items() if c != 1 for r in rs]
assert wait_for(lambda: covered(scan(), 8 * M)), open(log).read()
assert wait_for(lambda: any(c != 1 for c in parse(log)[1])), open(log).read()
for i in range(8):
    assert h.pread(M, i * M) == bytes(M)
reads = parse(log)[0]
assert 1 not in reads, "client reads reached the plugin: %r" % reads[1]
h.shutdown()
PYEOF
echo OK
