#!/usr/bin/env bash
# The log filter: a Connect line, one line per request and one per reply
# (operation, id, offset, count, flags, result), and a Disconnect line.
# The error filter below it makes one request fail, so an error reply is
# logged too.  logappend keeps earlier lines; without it the file is
# started afresh.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

start_server "$tmp/sock" --filter=log --filter=error memory 1M \
    logfile="$tmp/log" error-pwrite-rate=1 error-pwrite=ENOSPC \
    error-pwrite-file="$tmp/fail"
pid=$server_pid
sock="$tmp/sock" fail="$tmp/fail" nbdpy <<'PYEOF'
import os, nbd
h = nbd.NBD()
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.set_export_name("ignored-name")
h.connect_unix(os.environ["sock"])
h.pread(4096, 8192)
h.pwrite(b"x" * 512, 0x1000, nbd.CMD_FLAG_FUA)
open(os.environ["fail"], "w").close()
try:
    h.pwrite(b"x" * 512, 0)
except nbd.Error:
    pass
h.zero(65536, 0x10000, nbd.CMD_FLAG_NO_HOLE)
h.trim(4096, 0)
h.flush()
h.cache(4096, 0)
h.block_status(65536, 0, lambda *a: 0)
h.shutdown()
PYEOF
# The Disconnect line is written when the connection closes.
for i in $(seq 50); do grep -q Disconnect "$tmp/log" && break; sleep 0.1; done
cat "$tmp/log"

expect() {
    grep -Eq "$1" "$tmp/log" || fail "no line matching: $1"
}
ts='^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}\.[0-9]{6} connection=1 '
expect "${ts}Connect export=\"ignored-name\" readonly=0 tls=0 size=0x100000 write=1 .*fua=2 "
expect "${ts}Read id=1 offset=0x2000 count=0x1000 flags=none$"
expect "${ts}\.\.\.Read id=1 return=0 \(OK\)$"
expect "${ts}Write id=2 offset=0x1000 count=0x200 flags=fua$"
expect "${ts}\.\.\.Write id=2 return=0 \(OK\)$"
expect "${ts}Write id=3 offset=0x0 count=0x200 flags=none$"
expect "${ts}\.\.\.Write id=3 return=-1 \(ENOSPC\)$"
expect "${ts}Zero id=4 offset=0x10000 count=0x10000 flags=none$"
expect "${ts}Trim id=5 offset=0x0 count=0x1000 flags=none$"
expect "${ts}Flush id=6 flags=none$"
expect "${ts}\.\.\.Flush id=6 return=0 \(OK\)$"
expect "${ts}Cache id=7 offset=0x0 count=0x1000 flags=none$"
expect "${ts}Extents id=8 offset=0x0 count=0x10000 flags=none$"
expect "${ts}\.\.\.Extents id=8 return=0 \(OK\)$"
expect "${ts}Disconnect transactions=8$"
# Exactly one line per request and per reply, plus Connect and Disconnect.
[[ $(wc -l <"$tmp/log") -eq $((2 * 8 + 2)) ]] || fail "wrong number of lines"
# Every request line comes before its reply.
awk '/ id=/ { match($0, / id=[0-9]+/); id = substr($0, RSTART + 4, RLENGTH - 4)
              if ($0 ~ /\.\.\./) { if (!(id in req)) exit 1 } else req[id] = 1 }' \
    "$tmp/log" || fail "a reply was logged before its request"
stop_server "$pid"

# logappend=true keeps the old lines, the default truncates.
bk --filter=log memory 1M logfile="$tmp/log" logappend=true \
    --run 'nbdinfo --size "$uri" >/dev/null'
[[ $(grep -c Connect "$tmp/log") -eq 2 ]] || fail "logappend lost lines"
bk --filter=log memory 1M logfile="$tmp/log" \
    --run 'nbdinfo --size "$uri" >/dev/null'
[[ $(grep -c Connect "$tmp/log") -eq 1 ]] || fail "log was not truncated"

# logfd=FD: lines go to an inherited descriptor.
bk --filter=log memory 1M logfd=3 \
    --run 'nbdsh -u "$uri" -c "h.pread(512, 0)"' 3>"$tmp/fdlog"
grep -q "Read id=1 offset=0x0 count=0x200" "$tmp/fdlog" ||
    fail "logfd: $(cat "$tmp/fdlog")"

# One of logfile or logfd is required.
expect_fail bk --filter=log memory 1M --run true 2>"$tmp/err"
grep -q logfile "$tmp/err" || fail "missing logfile not reported"
echo OK
