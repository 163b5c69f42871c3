#!/usr/bin/env bash
# The delay filter: each kind of request is delayed by its own key, and
# only by it (bounded timings: at least the delay, well under 3 s).
# The memory plugin does zero, trim, FUA and cache natively, so nothing
# is emulated below the filter here (see test-delay-fallback.sh for that).
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

start_server "$tmp/sock" --filter=delay memory 1M \
    rdelay=0.3 delay-write=400ms delay-zero=0.5 delay-trim=0.6 \
    delay-extents=0.7 delay-cache=0.8 delay-flush=0.9
export sock="$tmp/sock"

nbdpy <<'PYEOF'
import os, time, nbd
h = nbd.NBD()
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_unix(os.environ["sock"])

def timed(what, want, fn):
    t = time.monotonic()
    r = fn()
    el = time.monotonic() - t
    print("%-8s %.3f s (delay %.1f)" % (what, el, want))
    assert el >= want - 0.01, (what, el, want)
    assert el < 3, (what, el, want)
    return r

data = os.urandom(4096)
timed("pwrite", 0.4, lambda: h.pwrite(data, 8192))
assert timed("pread", 0.3, lambda: h.pread(4096, 8192)) == data
timed("zero", 0.5, lambda: h.zero(4096, 8192))
assert h.pread(4096, 8192) == bytes(4096)
timed("trim", 0.6, lambda: h.trim(4096, 0))
timed("extents", 0.7, lambda: h.block_status(65536, 0, lambda *a: 0))
timed("cache", 0.8, lambda: h.cache(4096, 0))
timed("flush", 0.9, lambda: h.flush())
# memory does FUA itself: no flush happens below, so no flush delay
# (test-delay-fallback.sh checks the emulated case with wide margins).
timed("fua", 0.4, lambda: h.pwrite(data, 0, nbd.CMD_FLAG_FUA))
h.shutdown()
PYEOF

# Fractions, units and the error for a bad value.
expect_fail bk --filter=delay memory 1M rdelay=abc --run true 2>"$tmp/err"
grep -q "rdelay" "$tmp/err" || fail "bad rdelay not reported: $(cat "$tmp/err")"
expect_fail bk --filter=delay memory 1M delay-fast-zero=maybe --run true \
    2>"$tmp/err"
grep -q "delay-fast-zero" "$tmp/err" || fail "bad delay-fast-zero not reported"

# delay-open: the connection takes the delay to come up.
start=$(date +%s.%N)
bk --filter=delay memory 1M delay-open=0.5 --run 'nbdinfo --size "$uri"' \
    >"$tmp/size"
end=$(date +%s.%N)
[[ "$(cat "$tmp/size")" == 1048576 ]] || fail "nbdinfo: $(cat "$tmp/size")"
awk -v s="$start" -v e="$end" 'BEGIN { exit !(e - s >= 0.5 && e - s < 10) }' ||
    fail "delay-open: took $(awk -v s="$start" -v e="$end" 'BEGIN{print e-s}') s"

# delay-close: the log filter below the delay writes its Disconnect line
# when its layer closes, which is after the delay filter's close delay.
# (libnbd's shutdown waits for the server to close the socket, so the
# client sees the delay too.)
start_server "$tmp/sock-close" --filter=delay --filter=log memory 1M \
    logfile="$tmp/close.log" delay-close=1
sock="$tmp/sock-close" log="$tmp/close.log" nbdpy <<'PYEOF'
import os, time, nbd
h = nbd.NBD()
h.connect_unix(os.environ["sock"])
t = time.monotonic()
h.shutdown()
del h
while "Disconnect" not in open(os.environ["log"]).read():
    assert time.monotonic() - t < 10, "no Disconnect line"
    time.sleep(0.02)
el = time.monotonic() - t
assert 0.9 <= el < 5, el
PYEOF

# Fast zero: by default delayed like any zero; with delay-fast-zero=false
# it fails at once with ENOTSUP (and is advertised, since it is fast).
for mode in true false; do
    start_server "$tmp/sock-$mode" --filter=delay memory 1M \
        delay-zero=1 delay-fast-zero=$mode
    sock="$tmp/sock-$mode" mode=$mode nbdpy <<'PYEOF'
import errno, os, time, nbd
h = nbd.NBD()
h.connect_unix(os.environ["sock"])
assert h.can_fast_zero()
t = time.monotonic()
if os.environ["mode"] == "true":
    h.zero(4096, 0, nbd.CMD_FLAG_FAST_ZERO)
    el = time.monotonic() - t
    assert 1.0 <= el < 5, el
else:
    try:
        h.zero(4096, 0, nbd.CMD_FLAG_FAST_ZERO)
        raise AssertionError("fast zero should have failed")
    except nbd.Error as e:
        assert e.errnum == errno.ENOTSUP, e
    el = time.monotonic() - t
    assert el < 0.9, el
    # An ordinary zero is still delayed.
    t = time.monotonic()
    h.zero(4096, 0)
    el = time.monotonic() - t
    assert 1.0 <= el < 5, el
h.shutdown()
PYEOF
done
echo OK
