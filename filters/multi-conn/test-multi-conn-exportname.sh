#!/usr/bin/env bash
# multi-conn-exportname=true|false (nbdkit-multi-conn-filter(1)): with
# emulation, a flush on a connection to export "a" is replicated to the
# other connections of "a" only when true, to every connection when
# false (the default).  Two connections to "a" and one to "b" all write;
# a flush on the first "a" connection must reach contexts 1 and 2 (true)
# or 1, 2 and 3 (false), and a later flush on "b" must still flush "b"'s
# write, also with multi-conn-track-dirty=fast.  The call-logging test
# filter under multi-conn numbers the contexts in the order opened.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
oplog="$builddir/.libs/test-oplog-filter.so"
[[ -f "$oplog" ]] || fail "$oplog not built (run make check)"

# run TRACK EXPORTNAME-BOOL: prints "after flush on a|after flush on b".
run() {
    local log="$tmp/log-$1-$2"
    : >"$log"
    local keys=(multi-conn-track-dirty="$1")
    [[ "$2" == default ]] || keys+=(multi-conn-exportname="$2")
    bk -U - --filter=multi-conn --filter="$oplog" memory 1M \
        oplog="$log" oplog-multi-conn=no "${keys[@]}" \
        --run "$PYTHON - \"\$unixsocket\" \"$log\"" <<'PYEOF'
import sys, nbd
sock, log = sys.argv[1], sys.argv[2]
seen = 0
def flushed():
    global seen
    lines = open(log).read().splitlines()
    new, seen = lines[seen:], len(lines)
    return ",".join(sorted(l.split()[0] for l in new if l.endswith(" flush")))
hs = []
for name in ("a", "a", "b"):
    h = nbd.NBD()
    h.set_export_name(name)
    h.connect_unix(sock)
    assert h.can_multi_conn()
    hs.append(h)
for i, h in enumerate(hs):
    h.pwrite(bytes([i + 1]) * 512, i * 512)
flushed()
hs[0].flush(); a = flushed()
hs[2].flush(); b = flushed()
print("%s|%s" % (a, b))
for h in hs:
    h.shutdown()
PYEOF
}

check() {
    local got
    got="$(run "$1" "$2")"
    echo "track=$1 exportname=$2: $got"
    [[ "$got" == "$3" ]] || fail "track=$1 exportname=$2: expected $3, got $got"
}
check connection true    "1,2|3"
check connection false   "1,2,3|"
check connection default "1,2,3|"
check fast       true    "1,2|3"
check off        true    "1,2|3"
check off        false   "1,2,3|1,2,3"

expect_fail bk --filter=multi-conn memory 1M multi-conn-exportname=maybe \
    --run true 2>"$tmp/err"
grep -q "maybe" "$tmp/err" || fail "bad boolean: unclear error"
echo OK
