#!/usr/bin/env bash
# exitlast: a background server stays up with no client, stays up while
# clients come and go as long as one remains, and exits soon after the
# last one disconnects.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
requires nbdinfo

start_server "$tmp/sock" --filter=exitlast memory 1M
uri="$(nbd_uri "$tmp/sock")"
sleep 1
server_alive "$server_pid"      # nobody has connected yet

# Two overlapping clients: the first leaving does not end the server.
nbdpy "$uri" <<'PYEOF'
import sys, time, nbd
a = nbd.NBD(); a.connect_uri(sys.argv[1])
b = nbd.NBD(); b.connect_uri(sys.argv[1])
a.pwrite(b"x" * 512, 0)
a.shutdown()
time.sleep(0.5)
assert b.pread(512, 0) == b"x" * 512     # still served
b.shutdown()
PYEOF

# After the last one, the server exits by itself within a few seconds.
for i in $(seq 50); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$server_pid" 2>/dev/null && fail "server still running after the last client left"

# Same with nbdinfo (which asks for export info before it connects).
start_server "$tmp/sock2" --filter=exitlast memory 1M
nbdinfo "$(nbd_uri "$tmp/sock2")" | grep -q "export-size: 1048576" ||
    fail "nbdinfo did not get the export"
for i in $(seq 50); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$server_pid" 2>/dev/null && fail "server still running after nbdinfo left"
:
