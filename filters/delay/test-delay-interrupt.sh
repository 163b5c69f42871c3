#!/usr/bin/env bash
# Long delays are cut short: a client that disconnects in the middle of a
# delayed request, and a server told to stop (SIGTERM) while requests
# sleep, do not wait for the delay to run out.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

start_server "$tmp/sock" --filter=delay memory 1M rdelay=60 delay-close=60
pid=$server_pid
export sock="$tmp/sock"

# A client starts a 60 s read, then goes away.
nbdpy <<'PYEOF'
import os, time, nbd
h = nbd.NBD()
h.connect_unix(os.environ["sock"])
h.aio_pread(nbd.Buffer(512), 0)
time.sleep(0.3)
del h   # closes the socket without waiting for the reply
PYEOF
# The server is still serving others, at once (it has worker threads).
server_alive "$pid"
start=$SECONDS
nbdsh -u "$(nbd_uri "$tmp/sock")" -c 'assert h.get_size() == 1048576'
(( SECONDS - start < 20 )) || fail "a new connection waited for the old delay"

# A client in the middle of a delayed read, then SIGTERM: the server exits
# long before the delay would have ended.
nbdpy <<'PYEOF' &
import os, time, nbd
h = nbd.NBD()
h.connect_unix(os.environ["sock"])
try:
    h.pread(512, 0)
except nbd.Error:
    pass
PYEOF
client=$!
sleep 1
start=$SECONDS
stop_server "$pid"
(( SECONDS - start < 10 )) || fail "server took too long to stop"
wait $client || :
echo OK
