#!/usr/bin/env bash
# The log filter writes nbdkit-log-filter(1)'s format, which scripts
# parse: Ready, Preconnect and ListExports lines, a Connect line with
# what the layer below offers (block sizes included), one line per
# request (id, offset, count and the flags as fua=/trim=/fast=/req_one=)
# ending in "...", one per reply ("...Op id=N return=0", or
# "return=-1 error=ENOSPC", the extents list for Extents), and a
# Disconnect line.  Export names are shell-quoted.  The error filter
# below makes one write fail.  With logappend earlier lines stay; with
# neither logfile nor logscript the filter logs to the debug output.
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
h.set_export_name("it's a \"name\" $x")
h.set_opt_mode(True)
h.connect_unix(os.environ["sock"])
h.opt_list(lambda name, desc: 0)
h.opt_go()
h.pread(4096, 8192)
h.pwrite(b"x" * 512, 0x1000, nbd.CMD_FLAG_FUA)
open(os.environ["fail"], "w").close()
try:
    h.pwrite(b"x" * 512, 0)
except nbd.Error:
    pass
os.unlink(os.environ["fail"])
h.zero(65536, 0x10000, nbd.CMD_FLAG_NO_HOLE)
h.zero(4096, 0x20000, nbd.CMD_FLAG_FAST_ZERO)
h.trim(4096, 0)
h.flush()
h.cache(4096, 0)
h.block_status(65536, 0, lambda *a: 0)
h.block_status(65536, 0, lambda *a: 0, nbd.CMD_FLAG_REQ_ONE)
h.shutdown()
PYEOF
# The Disconnect line is written when the connection closes.
for i in $(seq 50); do grep -q Disconnect "$tmp/log" && break; sleep 0.1; done
cat "$tmp/log"

expect() {
    grep -Eq "$1" "$tmp/log" || fail "no line matching: $1"
}
t='^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}\.[0-9]{6} '
ts="${t}connection=1 "
expect "${t}Ready thread_model=3$"
expect "${t}Preconnect id=1 readonly=0 \.\.\.$"
expect "${t}\.\.\.Preconnect id=1 return=0$"
expect "${t}ListExports id=1 readonly=0 tls=0 \.\.\.$"
expect "${t}\.\.\.ListExports id=1 exports=\(.*\) return=0$"
expect "${ts}Connect export=\"it's a \\\\\"name\\\\\" \\\\\\\$x\" tls=0 size=0x100000 minsize=0x[0-9a-f]+ prefsize=0x[0-9a-f]+ maxsize=0x[0-9a-f]+ write=1 flush=1 rotational=0 trim=1 zero=2 fua=2 extents=1 cache=2 fast_zero=1$"
expect "${ts}Read id=1 offset=0x2000 count=0x1000 \.\.\.$"
expect "${ts}\.\.\.Read id=1 return=0$"
expect "${ts}Write id=2 offset=0x1000 count=0x200 fua=1 \.\.\.$"
expect "${ts}\.\.\.Write id=2 return=0$"
expect "${ts}Write id=3 offset=0x0 count=0x200 fua=0 \.\.\.$"
expect "${ts}\.\.\.Write id=3 return=-1 error=ENOSPC$"
expect "${ts}Zero id=4 offset=0x10000 count=0x10000 trim=0 fua=0 fast=0 \.\.\.$"
expect "${ts}Zero id=5 offset=0x20000 count=0x1000 trim=1 fua=0 fast=1 \.\.\.$"
expect "${ts}Trim id=6 offset=0x0 count=0x1000 fua=0 \.\.\.$"
expect "${ts}Flush id=7 \.\.\.$"
expect "${ts}\.\.\.Flush id=7 return=0$"
expect "${ts}Cache id=8 offset=0x0 count=0x1000 \.\.\.$"
expect "${ts}Extents id=9 offset=0x0 count=0x10000 req_one=0 \.\.\.$"
# The memory plugin keeps 32K pages: the first was written, the second
# is a hole; the list is what the plugin returned.
expect "${ts}\.\.\.Extents id=9 extents=\(0x0 0x8000 \"\" 0x8000 0x8000 \"hole,zero\"\) return=0$"
expect "${ts}Extents id=10 offset=0x0 count=0x10000 req_one=1 \.\.\.$"
expect "${ts}Disconnect transactions=10$"
# Exactly one line per request and per reply, plus Ready, Preconnect x2,
# ListExports x2, Connect and Disconnect.
[[ $(wc -l <"$tmp/log") -eq $((2 * 10 + 7)) ]] || fail "wrong number of lines"
# Every request line comes before its reply.
awk '/connection=1 .* id=/ { match($0, / id=[0-9]+/); id = substr($0, RSTART + 4, RLENGTH - 4)
              if ($0 ~ / \.\.\.[A-Z]/) { if (!(id in req)) exit 1 } else req[id] = 1 }' \
    "$tmp/log" || fail "a reply was logged before its request"
stop_server "$pid"

# An export name made only of safe characters is written bare.
bk --filter=log memory 1M logfile="$tmp/log" \
    --run 'sock=$unixsocket nbdsh -c "
import os
h.set_export_name(\"a-b,c/d:e=f.g_h\")
h.connect_unix(os.environ[\"sock\"])"'
grep -Eq "Connect export=a-b,c/d:e=f.g_h tls=0 " "$tmp/log" ||
    fail "bare export name: $(cat "$tmp/log")"

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
grep -q "Read id=1 offset=0x0 count=0x200 \.\.\.$" "$tmp/fdlog" ||
    fail "logfd: $(cat "$tmp/fdlog")"

# Neither logfile nor logscript: accepted, as nbdkit does; the lines go
# to the debug output, seen with -v.
bk -v --filter=log memory 1M \
    --run 'nbdsh -u "$uri" -c "h.pread(512, 0)"' 2>"$tmp/err"
grep -Eq "debug: .*connection=1 Read id=1 offset=0x0 count=0x200 \.\.\.$" "$tmp/err" ||
    fail "no Read line in the debug output: $(cat "$tmp/err")"
grep -Eq "debug: .*connection=1 \.\.\.Read id=1 return=0$" "$tmp/err" ||
    fail "no Read reply in the debug output"
bk --filter=log memory 1M \
    --run 'nbdsh -u "$uri" -c "h.pread(512, 0)"' 2>"$tmp/err"
! grep -q "Read id=1" "$tmp/err" || fail "logged to stderr without -v"
echo OK
