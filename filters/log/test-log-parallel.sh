#!/usr/bin/env bash
# Lines from parallel requests never interleave: 4 clients each with 64
# requests in flight, every line of the log must be whole.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

start_server "$tmp/sock" --filter=log memory 16M logfile="$tmp/log"
pid=$server_pid
sock="$tmp/sock" nbdpy <<'PYEOF'
import os, nbd
hs = []
for c in range(4):
    h = nbd.NBD()
    h.connect_unix(os.environ["sock"])
    hs.append(h)
for h in hs:
    for i in range(64):
        h.aio_pwrite(b"z" * 4096, i * 4096)
for h in hs:
    while h.aio_in_flight() > 0:
        h.poll(-1)
for h in hs:
    h.shutdown()
PYEOF
for i in $(seq 50); do
    [[ $(grep -c Disconnect "$tmp/log") -eq 4 ]] && break
    sleep 0.1
done
[[ $(grep -c Disconnect "$tmp/log") -eq 4 ]] || fail "not 4 disconnects"
bad=$(grep -v -e ' Ready thread_model=' -e 'Preconnect id=' "$tmp/log" |
      grep -Evc '^[0-9-]{10} [0-9:.]{15} connection=[1-4] (Connect .*|Disconnect transactions=64|Write id=[0-9]+ offset=0x[0-9a-f]+ count=0x1000 fua=0 \.\.\.|\.\.\.Write id=[0-9]+ return=0)$' || :)
[[ "$bad" -eq 0 ]] || fail "$bad malformed lines"
[[ $(grep -c 'Write id' "$tmp/log") -eq 512 ]] || fail "wrong number of writes"
echo OK
