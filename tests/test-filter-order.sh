#!/usr/bin/env bash
# The order in which the server calls every layer of a chain (issue 3):
# two (then three) copies of test-order-filter.c over test-layers-plugin.c,
# each appending every callback it receives to one call log, with a real
# client (python3-libnbd) listing exports, connecting, reading, writing,
# flushing and disconnecting, and the server then exiting (--run).  The
# log is compared line for line with the order the API promises:
#   load: plugin first, then the filters inwards-out; unload the same;
#   config: each key goes down the chain until a layer claims it;
#   thread_model: asked of every layer, plugin first then inside-out (as
#   nbdkit does); get_ready, after_fork: plugin first; default_export:
#   once per connection (LIST and GO share the answer, as in nbdkit);
#   preconnect, list_exports, default_export, open, data calls:
#   outermost first; prepare: innermost first; finalize, close: outermost
#   first; cleanup: outermost first.
# And the chain's thread model is the most restrictive one of any layer;
# after a failed .prepare, the layers that were prepared are finalized.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

libs="$builddir/.libs"
plugin="$libs/test-layers-plugin.so"
fa="$libs/test-order-filter-a.so"
fb="$libs/test-order-filter-b.so"
fc="$libs/test-order-filter-c.so"
for f in "$plugin" "$fa" "$fb" "$fc"; do
    [[ -f "$f" ]] || skip "$f not built (run via make check)"
done
is_blockkit || skip "the test layers are built against blockkit's filter API"

cat >"$tmp/client.py" <<'EOF'
import os
import nbd

h = nbd.NBD()
h.set_opt_mode(True)
h.connect_uri(os.environ["uri"])
names = []
h.opt_list(lambda name, description: names.append(name))
assert names == [""], names
h.opt_go()
assert h.pread(512, 0) == bytes(512)
h.pwrite(b"x" * 512, 4096)
h.flush()
h.shutdown()
EOF

# Runs the server with ARGS (filters, plugin, keys) and the client, then
# prints the call log in the order the callbacks ran (sorted on the stamp
# each line starts with; see test-layer-log.h), stamps removed.
run_chain() {
    local log="$tmp/order.log"
    rm -f "$log"
    bk -v "$@" orderlog="$log" --run "$PYTHON $tmp/client.py" \
       2>"$tmp/server.err" ||
        { cat "$tmp/server.err"; fail "server or client failed: $*"; }
    # After the log is opened, lines are written as they happen, so the
    # file order must already agree with the stamps from there on.
    sort -s -n -k1,1 "$log" | cut -d' ' -f2-
}

# Compares the actual log (file $1) with the expected one (stdin).
expect_log() {
    if ! diff -u - "$1" >"$tmp/diff"; then
        cat "$tmp/diff"
        fail "$2: the callbacks ran in the wrong order (- expected, + actual)"
    fi
}

# ---- two filters: --filter=a --filter=b (a nearest the client) ----
# a.tag is claimed by a, b.tag by b, size by the plugin; orderlog (added
# last by run_chain) is read by every layer and claimed by the plugin.
run_chain --filter="$fa" --filter="$fb" "$plugin" \
    a.tag=1 b.tag=2 size=1M >"$tmp/actual"
expect_log "$tmp/actual" "two filters" <<'EOF'
plugin load
b load
a load
a config a.tag
a config b.tag
b config b.tag
a config size
b config size
plugin config size
a config orderlog
b config orderlog
plugin config orderlog
a config_complete
b config_complete
plugin config_complete
plugin thread_model
b thread_model
a thread_model
plugin get_ready
b get_ready thread_model=3
a get_ready thread_model=3
plugin after_fork
b after_fork
a after_fork
a preconnect
b preconnect
plugin preconnect
a list_exports
b list_exports
plugin list_exports
a default_export
b default_export
plugin default_export
a open readonly=0
b open readonly=0
plugin open readonly=0 #1
b prepare readonly=0
a prepare readonly=0
a pread 512 0
b pread 512 0
plugin pread 512 0 #1
a pwrite 512 4096 fua=0
b pwrite 512 4096 fua=0
plugin pwrite 512 4096 fua=0 data=nonzero #1
a flush
b flush
plugin flush #1
a finalize
b finalize
a close
b close
plugin close #1
a cleanup
b cleanup
plugin cleanup
plugin unload
b unload
a unload
EOF
grep -q 'using thread model: parallel' "$tmp/server.err" ||
    fail "every layer is parallel, but the chain is not"

# ---- three filters, b asking for serialize_requests ----
run_chain --filter="$fa" --filter="$fb" --filter="$fc" "$plugin" \
    b.serialize=yes c.tag=x >"$tmp/actual3"
grep -q 'using thread model: serialize_requests' "$tmp/server.err" || {
    grep 'thread model' "$tmp/server.err" || :
    fail "a filter declared serialize_requests, but the chain runs otherwise"
}
# The lines about the connection, and those around the thread model.
grep -E ' (load|config b.serialize|config c.tag|get_ready.*|open.*|prepare.*|pread.*|pwrite.*|flush.*|finalize|close.*|unload)$' \
    "$tmp/actual3" >"$tmp/actual3-conn"
expect_log "$tmp/actual3-conn" "three filters" <<'EOF'
plugin load
c load
b load
a load
a config b.serialize
b config b.serialize
a config c.tag
b config c.tag
c config c.tag
plugin get_ready
c get_ready thread_model=2
b get_ready thread_model=2
a get_ready thread_model=2
a open readonly=0
b open readonly=0
c open readonly=0
plugin open readonly=0 #1
c prepare readonly=0
b prepare readonly=0
a prepare readonly=0
a pread 512 0
b pread 512 0
c pread 512 0
plugin pread 512 0 #1
a pwrite 512 4096 fua=0
b pwrite 512 4096 fua=0
c pwrite 512 4096 fua=0
plugin pwrite 512 4096 fua=0 data=nonzero #1
a flush
b flush
c flush
plugin flush #1
a finalize
b finalize
c finalize
a close
b close
c close
plugin close #1
plugin unload
c unload
b unload
a unload
EOF

# ---- -r: every layer is opened and prepared read-only ----
cat >"$tmp/client.py" <<'EOF'
import os
import nbd

h = nbd.NBD()
h.connect_uri(os.environ["uri"])
assert h.is_read_only()
assert h.pread(512, 0) == bytes(512)
h.shutdown()
EOF
run_chain -r --filter="$fa" --filter="$fb" "$plugin" >"$tmp/actual-ro"
grep -E ' (open|prepare).*$' "$tmp/actual-ro" >"$tmp/actual-ro-open"
expect_log "$tmp/actual-ro-open" "read-only" <<'EOF'
a open readonly=1
b open readonly=1
plugin open readonly=1 #1
b prepare readonly=1
a prepare readonly=1
EOF

# ---- a .prepare that fails: the connection attempt fails, and every
# layer that was prepared (b, inside a) is still finalized, then all are
# closed ----
cat >"$tmp/client.py" <<'EOF'
import os
import nbd

h = nbd.NBD()
try:
    h.connect_uri(os.environ["uri"])
    raise AssertionError("connected although a .prepare failed")
except nbd.Error:
    pass
EOF
run_chain --filter="$fa" --filter="$fb" "$plugin" a.failprepare=1 \
    >"$tmp/actual-fail"
sed -n '/ open/,/plugin close/p' "$tmp/actual-fail" >"$tmp/actual-fail-conn"
expect_log "$tmp/actual-fail-conn" "failed prepare" <<'EOF'
a open readonly=0
b open readonly=0
plugin open readonly=0 #1
b prepare readonly=0
a prepare readonly=0
b finalize
a close
b close
plugin close #1
EOF

# ---- a key nobody claims: the plugin refuses it, naming it ----
expect_fail bk --filter="$fa" --filter="$fb" "$plugin" \
    orderlog="$tmp/x.log" a.tag=1 nosuchkey=1 --run true \
    2>"$tmp/badkey.err"
grep -q 'nosuchkey' "$tmp/badkey.err" ||
    fail "the unclaimed key is not named: $(cat "$tmp/badkey.err")"

echo "$0: OK"
