#!/usr/bin/env bash
# The filter context API's manual lifecycle paths (seed 003), over
# test-layers-plugin.c, which logs every open, close and data call with
# the number of the context it was made on ("#N"):
#   - ctxmanual: .open uses nbdkit_context_get_backend +
#     nbdkit_next_context_open + nbdkit_context_set_next instead of next;
#     the server prepares, finalizes and closes that context by itself;
#     and a filter that takes it back in .close and closes it itself does
#     not get it closed twice;
#   - ctxsecond: a second context opened, prepared, read through in .open
#     and finalized and closed in .close: two opens, two closes, in order;
#   - ctxshared: one shared context opened in .after_fork, before any
#     client, read by a background thread and by every client, closed in
#     .cleanup at exit;
#   - ctxnonext: no context below at all (set_next NULL): reads answered
#     by the filter, calls that fall through fail cleanly, no crash.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

libs="$builddir/.libs"
plugin="$libs/test-layers-plugin.so"
for f in "$plugin" "$libs"/test-ctx-{manual,second,shared,nonext,nonext-size}-filter.so; do
    [[ -f "$f" ]] || skip "$f not built (run via make check)"
done
is_blockkit || skip "the test layers are built against blockkit's filter API"

# run_chain CLIENT-SCRIPT ARGS...: runs the server with ARGS and the
# python3 client script, and leaves the call log, sorted on its stamps
# and without them, in $tmp/actual (see test-layer-log.h).  The server's
# exit status (the client's, under --run) is in $rc.
run_chain() {
    local client="$1"; shift
    local log="$tmp/calls.log"
    rm -f "$log"
    rc=0
    bk "$@" orderlog="$log" --run "$PYTHON $client" 2>"$tmp/server.err" ||
        rc=$?
    sort -s -n -k1,1 "$log" | cut -d' ' -f2- >"$tmp/actual"
}
expect_rc0() {
    [[ $rc -eq 0 ]] || {
        cat "$tmp/server.err"; cat "$tmp/actual"
        fail "$1: server or client failed (exit status $rc)"
    }
}
# expect_log FILE WHAT: FILE must equal stdin.
expect_log() {
    if ! diff -u - "$1" >"$tmp/diff"; then
        cat "$tmp/diff"
        fail "$2: wrong callbacks or order (- expected, + actual)"
    fi
}
# between FROM TO: the lines of $tmp/actual from the first line matching
# FROM to the first matching TO after it.
between() { sed -n "/$1/,/$2/p" "$tmp/actual"; }

# A client that writes, reads back and flushes over one connection.
cat >"$tmp/rw.py" <<'EOF'
import os
import nbd

h = nbd.NBD()
h.connect_uri(os.environ["uri"])
h.pwrite(b"m" * 512, 4096)
assert h.pread(512, 4096) == b"m" * 512
h.flush()
h.shutdown()
EOF

# ---- ctxmanual: the manually associated context is managed for it ----
run_chain "$tmp/rw.py" --filter="$libs/test-ctx-manual-filter.so" "$plugin"
expect_rc0 ctxmanual
between 'preconnect' 'plugin cleanup' >"$tmp/conn"
expect_log "$tmp/conn" ctxmanual <<'EOF'
plugin preconnect
plugin default_export
manual open
plugin open readonly=0 #1
manual open: associated
manual prepare
plugin pwrite 512 4096 fua=0 data=nonzero #1
plugin pread 512 4096 #1
plugin flush #1
manual finalize
manual close
plugin close #1
plugin cleanup
EOF

# ---- ctxmanual, taking the context back in .close ----
run_chain "$tmp/rw.py" --filter="$libs/test-ctx-manual-filter.so" "$plugin" \
    manual.closeself=1
expect_rc0 "ctxmanual closeself"
between 'manual close' 'plugin unload' >"$tmp/conn"
expect_log "$tmp/conn" "ctxmanual closeself" <<'EOF'
manual close
manual close: closing below itself
plugin close #1
plugin cleanup
plugin unload
EOF

# ---- ctxsecond: two contexts per connection, two connections ----
cat >"$tmp/two.py" <<'EOF'
import os
import nbd

for i in range(2):
    h = nbd.NBD()
    h.connect_uri(os.environ["uri"])
    h.pwrite(bytes([65 + i]) * 512, 0)
    assert h.pread(512, 0) == bytes([65 + i]) * 512
    h.shutdown()
EOF
run_chain "$tmp/two.py" --filter="$libs/test-ctx-second-filter.so" "$plugin"
expect_rc0 ctxsecond
between 'preconnect' 'plugin cleanup' >"$tmp/conn"
# The second connection's read through its second context sees what the
# first connection wrote ("A"), proving it reads the same disk.
expect_log "$tmp/conn" ctxsecond <<'EOF'
plugin preconnect
plugin default_export
second open
plugin open readonly=0 #1
plugin open readonly=1 #2
second open: second opened
plugin pread 512 0 #2
second open: read through second ok
second prepare
plugin pwrite 512 0 fua=0 data=nonzero #1
plugin pread 512 0 #1
second finalize
second close
plugin close #2
second close: second closed
plugin close #1
plugin preconnect
plugin default_export
second open
plugin open readonly=0 #3
plugin open readonly=1 #4
second open: second opened
plugin pread 512 0 #4
second open: read through second ok
second prepare
plugin pwrite 512 0 fua=0 data=nonzero #3
plugin pread 512 0 #3
second finalize
second close
plugin close #4
second close: second closed
plugin close #3
plugin cleanup
EOF

# ---- ctxshared: one context for the whole server ----
# Two clients at once: what one writes (through its own context) the
# other reads (through the shared one).  The client first waits until the
# background thread has read, so that its read is known to come before
# any client.
cat >"$tmp/shared.py" <<'EOF'
import os, time
import nbd

log = os.environ["CALLS_LOG"]

def wait_for(what):
    deadline = time.monotonic() + 30
    while what not in open(log).read():
        assert time.monotonic() < deadline, "never logged: " + what
        time.sleep(0.01)

wait_for("background: first read ok")

h1 = nbd.NBD()
h1.connect_uri(os.environ["uri"])
h2 = nbd.NBD()
h2.connect_uri(os.environ["uri"])
h1.pwrite(b"s" * 512, 8192)
assert h2.pread(512, 8192) == b"s" * 512
assert h1.pread(512, 8192) == b"s" * 512
h1.shutdown()
# The server closes each connection in its own thread: one at a time
# keeps the log's order fixed.
wait_for("close #2")
h2.shutdown()
EOF
CALLS_LOG="$tmp/calls.log" \
run_chain "$tmp/shared.py" --filter="$libs/test-ctx-shared-filter.so" "$plugin"
expect_rc0 ctxshared
# The background thread's reads of the last block, at whatever moment
# they happen, are left out of the exact comparison.
grep -v -e 'pread 512 1048064 #1$' -e 'background: first read ok' \
    "$tmp/actual" | sed -n '/plugin after_fork/,$p' >"$tmp/conn"
expect_log "$tmp/conn" ctxshared <<'EOF'
plugin after_fork
shared after_fork
plugin open readonly=0 #1
shared after_fork: shared context open and prepared
plugin preconnect
plugin default_export
plugin open readonly=0 #2
plugin preconnect
plugin default_export
plugin open readonly=0 #3
plugin pwrite 512 8192 fua=0 data=nonzero #2
plugin pread 512 8192 #1
plugin pread 512 8192 #1
plugin close #2
plugin close #3
shared cleanup
shared cleanup: background thread stopped, it read
plugin close #1
shared cleanup: shared context closed
plugin cleanup
plugin unload
EOF
# The background thread read before the first client arrived, through
# the shared context.
sed -n '1,/plugin preconnect/p' "$tmp/actual" |
    grep -q 'plugin pread 512 1048064 #1$' ||
    fail "ctxshared: no background read before the first client"

# ---- ctxnonext: a filter with no context below ----
cat >"$tmp/nonext.py" <<'EOF'
import os
import nbd

h = nbd.NBD()
h.add_meta_context("base:allocation")
h.connect_uri(os.environ["uri"])
assert h.get_size() == 1024 * 1024
assert h.is_read_only()
assert h.pread(4096, 8192) == b"\x5a" * 4096
# Block status falls through to the layer that is not there: an error
# for this request only.
try:
    h.block_status(4096, 0, lambda *args: 0)
    raise AssertionError("block status succeeded without a next context")
except nbd.Error as e:
    assert e.errno == "EIO", e
assert h.pread(512, 0) == b"\x5a" * 512
h.shutdown()
EOF
run_chain "$tmp/nonext.py" --filter="$libs/test-ctx-nonext-filter.so" "$plugin"
expect_rc0 ctxnonext
between 'preconnect' 'plugin cleanup' >"$tmp/conn"
expect_log "$tmp/conn" ctxnonext <<'EOF'
plugin preconnect
plugin default_export
nonext open
plugin open readonly=0 #1
plugin close #1
nonext open: next context closed, none associated
nonext prepare next=NULL
nonext finalize next=NULL
nonext close
plugin cleanup
EOF
grep -q 'no next context' "$tmp/server.err" ||
    fail "ctxnonext: the fall-through error is not explained: $(cat "$tmp/server.err")"

# The same filter leaving the handshake's queries to the missing layer:
# the client cannot connect, twice, and the server goes on and exits
# normally.
cat >"$tmp/nonext-size.py" <<'EOF'
import os
import nbd

for i in range(2):
    h = nbd.NBD()
    try:
        h.connect_uri(os.environ["uri"])
        raise AssertionError("connected although the handshake could not work")
    except nbd.Error:
        pass
EOF
run_chain "$tmp/nonext-size.py" \
    --filter="$libs/test-ctx-nonext-size-filter.so" "$plugin"
expect_rc0 "ctxnonext (size only)"
[[ "$(grep -c '^nonext close$' "$tmp/actual")" -eq 2 ]] ||
    fail "ctxnonext (size only): expected two opened and closed contexts"
tail -n 1 "$tmp/actual" | grep -q '^plugin unload$' ||
    fail "ctxnonext (size only): the server did not exit normally"

echo "$0: OK"
