#!/usr/bin/env bash
# Seed 000: a delay is never applied twice because of a fallback below
# the filter.  test-delay-plugin.so lacks zero (zero=none: the server
# writes zeroes through the plugin's pwrite, below the filter) and can
# only emulate FUA by flushing (fua=emulate):
#   - a zero gets delay-zero once, not delay-write as well;
#   - FUA costs a flush below, so it gets delay-flush on top;
#   - on a plugin with native FUA it does not.
# Margins are wide: the delays differ by whole seconds.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

plugin="$builddir/.libs/test-delay-plugin.so"
[[ -f "$plugin" ]] || skip "$plugin not built (run via make check)"

start_server "$tmp/sock" --filter=delay "$plugin" zero=none fua=emulate \
    count="$tmp/counts" wdelay=1 delay-zero=0.2 delay-flush=1
pid=$server_pid
start_server "$tmp/sock-native" --filter=delay "$plugin" fua=native \
    wdelay=1 delay-zero=0.2 delay-flush=1

sock="$tmp/sock" native="$tmp/sock-native" nbdpy <<'PYEOF'
import os, time, nbd

def conn(sock):
    h = nbd.NBD()
    h.connect_unix(sock)
    return h

def timed(what, lo, hi, fn):
    t = time.monotonic()
    r = fn()
    el = time.monotonic() - t
    print("%-28s %.3f s (want [%.1f, %.1f))" % (what, el, lo, hi))
    assert lo - 0.01 <= el < hi, (what, el, lo, hi)
    return r

h = conn(os.environ["sock"])
assert h.can_zero() and h.can_fua()
h.pwrite(b"\xff" * 262144, 0)
# Zero on a plugin without zero: emulated by writes below the filter,
# yet delayed by delay-zero (0.2) only, not also by wdelay (1).
timed("zero (emulated below)", 0.2, 1.0, lambda: h.zero(262144, 0))
assert h.pread(262144, 0) == bytes(262144)
# FUA emulated by a flush below: the flush's delay is added.
timed("pwrite+FUA (emulated)", 2.0, 6.0,
      lambda: h.pwrite(b"x" * 4096, 0, nbd.CMD_FLAG_FUA))
# Zero with FUA: delay-zero + delay-flush, never delay-write.
timed("zero+FUA (both emulated)", 1.2, 2.0,
      lambda: h.zero(4096, 0, nbd.CMD_FLAG_FUA))
timed("trim+FUA (emulated)", 1.0, 6.0,
      lambda: h.trim(4096, 0, nbd.CMD_FLAG_FUA))
timed("flush", 1.0, 2.0, lambda: h.flush())
h.shutdown()

# Native FUA: no flush happens, so only wdelay.
h = conn(os.environ["native"])
timed("pwrite+FUA (native)", 1.0, 2.0,
      lambda: h.pwrite(b"x" * 4096, 0, nbd.CMD_FLAG_FUA))
timed("zero (native)", 0.2, 1.0, lambda: h.zero(4096, 0))
h.shutdown()
PYEOF

# The plugin's counts prove that the fallbacks really happened below.
stop_server "$pid"
for i in $(seq 50); do [[ -s "$tmp/counts" ]] && break; sleep 0.1; done
cat "$tmp/counts"
grep -qx "zero 0" "$tmp/counts" || fail "the plugin was asked to zero"
grep -qx "pwrite 0" "$tmp/counts" && fail "zero was not emulated by pwrite"
grep -qx "flush 0" "$tmp/counts" && fail "FUA was not emulated by flush"
echo OK
