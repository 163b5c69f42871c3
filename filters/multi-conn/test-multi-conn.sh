#!/usr/bin/env bash
# multi-conn: what each mode advertises, and with emulation a flush (or a
# FUA write) on one connection reaches the layer below once for every
# open connection that needs it, as multi-conn-track-dirty says (seen by
# a call-logging test filter under multi-conn, which numbers contexts).
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
requires nbdinfo
oplog="$builddir/.libs/test-oplog-filter.so"
[[ -f "$oplog" ]] || fail "$oplog not built (run make check)"

# mc FILTERS-BEFORE... -- KEYS...: print 1 if multi-conn is advertised.
mc() {
    local pre=() r=0
    while [[ "$1" != -- ]]; do pre+=("$1"); shift; done; shift
    bk -U - "${pre[@]}" --filter=multi-conn --filter="$oplog" memory 1M "$@" \
        --run 'nbdinfo --can multi_conn "$uri"' || r=$?
    case $r in 0) echo 1 ;; 2) echo 0 ;; *) fail "nbdinfo --can multi_conn: $r" ;; esac
}
# The memory plugin advertises multi-conn; oplog-multi-conn=no hides it.
[[ "$(mc -- )" == 1 ]] || fail "auto over multi-conn plugin"
[[ "$(mc -- oplog-multi-conn=no)" == 1 ]] || fail "auto must emulate"
[[ "$(mc -- oplog-multi-conn=no oplog-flush=no)" == 0 ]] || fail "auto without flush must disable"
[[ "$(mc --filter=noparallel -- serialize=connections)" == 0 ]] || fail "auto with serialized connections"
[[ "$(mc -- multi-conn-mode=emulate oplog-multi-conn=no)" == 1 ]] || fail "emulate"
[[ "$(mc -- multi-conn-mode=plugin)" == 1 ]] || fail "plugin (yes)"
[[ "$(mc -- multi-conn-mode=plugin oplog-multi-conn=no)" == 0 ]] || fail "plugin (no)"
[[ "$(mc -- multi-conn-mode=disable)" == 0 ]] || fail "disable"
[[ "$(mc -- multi-conn-mode=unsafe oplog-multi-conn=no oplog-flush=no)" == 1 ]] || fail "unsafe"
# emulate without flush below: the client cannot connect, and is told why.
expect_fail bk -U - --filter=multi-conn --filter="$oplog" memory 1M \
    multi-conn-mode=emulate oplog-flush=no --run 'nbdinfo "$uri"' 2>"$tmp/err"
grep -q "multi-conn-mode=emulate" "$tmp/err" || fail "emulate without flush: unclear error"
expect_fail bk --filter=multi-conn memory 1M multi-conn-mode=bogus --run true 2>"$tmp/err"
grep -q "multi-conn-mode=bogus" "$tmp/err" || fail "error does not name multi-conn-mode=bogus"

# flushes TRACK: three connections (contexts 1, 2, 3 in the log): 1
# writes, 2 reads, 3 only connects.  Then a flush on 1, a second flush on
# 1 with nothing new, and a FUA write on 3.  Prints the flushing contexts
# after each step as "a|b|c".
flushes() {
    local log="$tmp/log-$1"
    : >"$log"
    bk -U - --filter=multi-conn ${extra_filter:-} --filter="$oplog" memory 1M \
        oplog="$log" oplog-multi-conn=no multi-conn-track-dirty="$1" \
        --run "$PYTHON - \"\$uri\" \"$log\"" <<'PYEOF'
import sys, nbd
uri, log = sys.argv[1], sys.argv[2]
def flushed():
    # Contexts that got a flush since the last call, sorted.
    global seen
    lines = open(log).read().splitlines()
    new, seen = lines[seen:], len(lines)
    return ",".join(sorted(l.split()[0] for l in new if l.endswith(" flush")))
seen = 0
hs = []
for i in range(3):
    h = nbd.NBD(); h.connect_uri(uri); hs.append(h)
    assert h.can_multi_conn()
opened = [l.split()[0] for l in open(log).read().splitlines() if l.endswith(" open")]
assert opened == ["1", "2", "3"], opened
hs[0].pwrite(b"\x77" * 4096, 0)
hs[1].pread(4096, 8192)
flushed()
hs[0].flush(); a = flushed()
hs[0].flush(); b = flushed()
hs[2].pwrite(b"\x88" * 4096, 4096, nbd.CMD_FLAG_FUA); c = flushed()
# Every connection sees both writes.
for h in hs:
    assert h.pread(8192, 0) == b"\x77" * 4096 + b"\x88" * 4096
print("%s|%s|%s" % (a, b, c))
for h in hs:
    h.shutdown()
PYEOF
}

r="$(flushes connection)"; echo "connection: $r"
[[ "$r" == "1,2||3" ]] || fail "track-dirty=connection: got $r"
# The same under SERIALIZE_REQUESTS, where replicated flushes take each
# context's lock.
r="$(extra_filter=--filter=noparallel flushes connection)"; echo "connection, serialized: $r"
[[ "$r" == "1,2||3" ]] || fail "track-dirty=connection, serialize=requests: got $r"
r="$(flushes fast)"; echo "fast: $r"
[[ "$r" == "1,2,3||1,2,3" ]] || fail "track-dirty=fast: got $r"
r="$(flushes off)"; echo "off: $r"
[[ "$r" == "1,2,3|1,2,3|1,2,3" ]] || fail "track-dirty=off: got $r"

# Without emulation a flush stays on its own connection.
: >"$tmp/log-plugin"
bk -U - --filter=multi-conn --filter="$oplog" memory 1M oplog="$tmp/log-plugin" \
    multi-conn-mode=plugin multi-conn-track-dirty=off --run "$PYTHON - \"\$uri\"" <<'PYEOF'
import sys, nbd
hs = [nbd.NBD() for _ in range(3)]
for h in hs: h.connect_uri(sys.argv[1])
hs[0].flush()
for h in hs: h.shutdown()
PYEOF
[[ "$(grep -c ' flush$' "$tmp/log-plugin")" == 1 ]] || fail "plugin mode replicated a flush"
:
