#!/usr/bin/env bash
# retry-readonly=yes: after a failure the plugin is reopened read-only;
# reads go on working, writes then fail with EROFS (and are not retried),
# which NBD carries as EPERM.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

plugin="$builddir/.libs/test-retry-plugin.so"
[[ -f "$plugin" ]] || skip "$plugin not built (run via make check)"

start_server "$tmp/sock" --filter=retry "$plugin" log="$tmp/log" \
    fail-total=2 retry-delay=0.05 retry-readonly=yes
sock="$tmp/sock" log="$tmp/log" nbdpy <<'PYEOF'
import errno, os, nbd
h = nbd.NBD()
h.connect_unix(os.environ["sock"])
assert not h.is_read_only()
# The first write fails; the retry reopens read-only, where a write can
# only fail with EROFS.
try:
    h.pwrite(b"x" * 512, 0)
    raise AssertionError("write after a read-only reopen succeeded")
except nbd.Error as e:
    assert e.errnum == errno.EPERM, e   # EROFS on the wire
log = open(os.environ["log"]).read().split("\n")
assert log[0] == "open readonly=0", log
assert "open readonly=1" in log, log
# The second failure: a read, retried on a new read-only context.
assert h.pread(512, 0) == bytes(512)
assert log.count("open readonly=0") == 1
assert open(os.environ["log"]).read().count("open readonly=1") == 2
h.shutdown()
PYEOF
echo OK
