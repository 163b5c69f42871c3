#!/usr/bin/env bash
# The scan stops cleanly: a slow scan (a delay filter below makes each
# 1M read take 0.2 s, so 64M would take 13 s)
#   - stops when the client that started it disconnects: its context is
#     closed and no reads follow, and the server goes on serving;
#   - with scan-forever=true, goes on after the client has gone;
#   - never holds up the server's exit on SIGTERM.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
export PYTHONPATH="$srcdir"

# scan-forever=false (default): the client leaves after ~0.5 s.
start_server "$tmp/sock" --filter=scan --filter=delay --filter=log \
    memory 64M logfile="$tmp/log" scan-size=1M rdelay=0.2
pid=$server_pid
sock="$tmp/sock" log="$tmp/log" nbdpy <<'PYEOF'
import os, time, nbd
from scanlog import *
log = os.environ["log"]
h = nbd.NBD()
h.connect_unix(os.environ["sock"])
time.sleep(0.5)
h.shutdown()
del h
# The scan's context (not the client's, connection 1) disconnects soon.
assert wait_for(lambda: any(c != 1 for c in parse(log)[1]), 10), \
    open(log).read()
reads, gone = parse(log)
n = sum(len(rs) for c, rs in reads.items() if c != 1)
assert 1 <= n < 20, n
time.sleep(1)
reads, gone = parse(log)
assert sum(len(rs) for c, rs in reads.items() if c != 1) == n, \
    "the scan read on after it was stopped"
PYEOF
server_alive "$pid"
nbdsh -u "$(nbd_uri "$tmp/sock")" -c 'assert h.get_size() == 64 << 20'
start=$SECONDS
stop_server "$pid"
(( SECONDS - start < 5 )) || fail "server took $((SECONDS - start)) s to stop"

# scan-forever=true: the scan goes on after the client has gone, and
# SIGTERM in the middle of it stops the server at once.
start_server "$tmp/sock2" --filter=scan --filter=delay --filter=log \
    memory 64M logfile="$tmp/log2" scan-size=1M rdelay=0.2 scan-forever=true
pid=$server_pid
sock="$tmp/sock2" log="$tmp/log2" nbdpy <<'PYEOF'
import os, time, nbd
from scanlog import *
log = os.environ["log"]
h = nbd.NBD()
h.connect_unix(os.environ["sock"])
time.sleep(0.3)
h.shutdown()
del h
assert wait_for(lambda: 1 in parse(log)[1]), "client did not disconnect"
def scan_reads():
    return sum(len(rs) for c, rs in parse(log)[0].items() if c != 1)
n = scan_reads()
assert wait_for(lambda: scan_reads() >= n + 3, 10), (n, scan_reads())
PYEOF
server_alive "$pid"
start=$SECONDS
stop_server "$pid"
(( SECONDS - start < 5 )) || fail "server took $((SECONDS - start)) s to stop"
echo OK
