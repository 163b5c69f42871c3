#!/usr/bin/env bash
# The retry filter over test-retry-plugin.so, a RAM disk whose data calls
# fail on demand and which logs every open, close and data call:
#   - a request that fails a few times succeeds after as many reopens,
#     and the data written through the failures reads back intact;
#   - with too few retries (or retries=0) the error reaches the client;
#   - a plugin that fails after every open is given up on after exactly
#     `retries` reopens;
#   - the delay doubles between retries unless retry-exponential=no;
#   - requests of one connection run in parallel, failures and reopens
#     among them included: requests that failed on the same context
#     reopen it once between them, and none is lost.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

plugin="$builddir/.libs/test-retry-plugin.so"
[[ -f "$plugin" ]] || skip "$plugin not built (run via make check)"

# run NAME PLUGIN-AND-FILTER-ARGS... : a server with its own plugin log,
# and the python script on stdin run against it.
run() {
    local name="$1"; shift
    start_server "$tmp/$name.sock" --filter=retry "$plugin" \
        log="$tmp/$name.log" "$@"
    sock="$tmp/$name.sock" log="$tmp/$name.log" nbdpy
}

cat >"$tmp/lib.py" <<'PYEOF'
import errno, os, time, nbd
h = nbd.NBD()
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_unix(os.environ["sock"])
def lines():
    with open(os.environ["log"]) as f:
        return f.read().split("\n")[:-1]
def count(word):
    return sum(1 for l in lines() if l == word)
def expect_error(fn, errnum):
    try:
        fn()
    except nbd.Error as e:
        assert e.errnum == errnum, e
        return
    raise AssertionError("expected an error")
def timed(fn):
    t = time.monotonic()
    fn()
    return time.monotonic() - t
PYEOF
export PYTHONPATH="$tmp"

# Three failures, five retries: success after three reopens.
run recover fail-total=3 retries=5 retry-delay=0.1 <<'PYEOF'
from lib import *
pattern = bytes(range(256)) * 256
el = timed(lambda: h.pwrite(pattern, 4096))
assert count("open readonly=0") == 4, lines()
assert count("close") == 3, lines()
assert count("pwrite fail") == 3 and count("pwrite ok") == 1, lines()
# Delays 0.1 + 0.2 + 0.4 (exponential).
assert 0.69 <= el < 5, el
assert h.pread(len(pattern), 4096) == pattern
# Nothing failed any more: no more reopens.
assert count("open readonly=0") == 4
h.shutdown()
PYEOF

# Three failures, two retries: the client sees the plugin's errno.
run tooshort fail-total=3 retries=2 retry-delay=0.05 error=ENOSPC <<'PYEOF'
from lib import *
expect_error(lambda: h.pwrite(b"x" * 512, 0), errno.ENOSPC)
assert count("open readonly=0") == 3, lines()
assert count("pwrite fail") == 3, lines()
# The next request is the fourth call: it succeeds on the current context.
h.pwrite(b"y" * 512, 0)
assert h.pread(512, 0) == b"y" * 512
assert count("open readonly=0") == 3, lines()
h.shutdown()
PYEOF

# retries=0: no reopen at all.
run none fail-total=1 retries=0 <<'PYEOF'
from lib import *
expect_error(lambda: h.pread(512, 0), errno.EIO)
assert count("open readonly=0") == 1, lines()
assert h.pread(512, 0) == bytes(512)
h.shutdown()
PYEOF

# Fails after every open: given up after exactly `retries` reopens, for
# every kind of request.
run always fail-after-open=1000 retries=3 retry-delay=0.01 <<'PYEOF'
from lib import *
expect_error(lambda: h.pread(512, 0), errno.EIO)
assert count("open readonly=0") == 4, lines()
assert count("close") == 3, lines()
for fn in (lambda: h.flush(), lambda: h.trim(512, 0), lambda: h.zero(512, 0),
           lambda: h.block_status(512, 0, lambda *a: 0)):
    expect_error(fn, errno.EIO)
assert count("open readonly=0") == 4 + 4 * 3, lines()
h.shutdown()
PYEOF

# Linear backoff: 0.5 + 0.5 rather than 0.5 + 1.0.
run linear fail-total=2 retries=5 retry-delay=0.5 retry-exponential=no \
    <<'PYEOF'
from lib import *
el = timed(lambda: h.pread(512, 0))
assert 1.0 <= el < 1.45, el
h.shutdown()
PYEOF
run exponential fail-total=2 retries=5 retry-delay=500ms <<'PYEOF'
from lib import *
el = timed(lambda: h.pread(512, 0))
assert 1.5 <= el < 5, el
h.shutdown()
PYEOF

# Eight writes in flight at once on one connection, each call taking
# 200 ms in the plugin: they overlap there (the filter does not
# serialize them), the first four calls fail, and every write still
# lands, after fewer reopens than failures (one reopen serves the
# requests that failed on the same context).
run parallel fail-total=4 delay-ms=200 retries=5 retry-delay=0.05 <<'PYEOF'
from lib import *
cookies = [h.aio_pwrite(bytes([i + 1]) * 4096, i * 4096) for i in range(8)]
while h.aio_in_flight() > 0:
    h.poll(-1)
assert all(h.aio_command_completed(c) for c in cookies)
assert count("pwrite fail") == 4 and count("pwrite ok") == 8, lines()
peak = max(int(l.split()[1]) for l in lines() if l.startswith("inflight "))
assert peak >= 4, ("requests did not overlap in the plugin", lines())
opens = count("open readonly=0")
assert 2 <= opens <= 4, ("reopens", opens, lines())
for i in range(8):
    assert h.pread(4096, i * 4096) == bytes([i + 1]) * 4096, i
h.shutdown()
PYEOF

# Bad values are refused, naming the key.
expect_fail bk --filter=retry memory 1M retries=-1 --run true 2>"$tmp/err"
grep -q retries "$tmp/err" || fail "bad retries not reported"
expect_fail bk --filter=retry memory 1M retry-delay=soon --run true \
    2>"$tmp/err"
grep -q retry-delay "$tmp/err" || fail "bad retry-delay not reported"
echo OK
