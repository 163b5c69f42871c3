#!/usr/bin/env bash
# fua: each fuamode's advertised flags, and what a FUA write, a plain
# write, a FUA zero and a flush turn into below the filter (seen by a
# call-logging test filter under it).
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
requires nbdinfo
oplog="$builddir/.libs/test-oplog-filter.so"
[[ -f "$oplog" ]] || fail "$oplog not built (run make check)"

# run MODE [KEY=VALUE...]: advertised FUA/flush, then the calls that
# arrived below for: FUA write, plain write, FUA zero, flush.
run() {
    local mode="$1"; shift
    log="$tmp/log-$mode"
    : >"$log"
    bk -U - --filter=fua --filter="$oplog" memory 1M oplog="$log" \
        fuamode="$mode" "$@" --run "$PYTHON - \"\$uri\"" <<'PYEOF'
import sys, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
print("can_fua=%d can_flush=%d" % (h.can_fua(), h.can_flush()))
fua = nbd.CMD_FLAG_FUA if h.can_fua() else 0
h.pwrite(b"\x11" * 4096, 0, fua)
h.pwrite(b"\x22" * 4096, 4096)
h.zero(4096, 8192, fua)
if h.can_flush():
    h.flush()
d = h.pread(12288, 0)
assert d == b"\x11" * 4096 + b"\x22" * 4096 + bytes(4096)
h.shutdown()
PYEOF
    # The log without open/close and reads, context numbers dropped.
    calls="$(grep -Ev ' (open|close|pread)' "$log" | cut -d' ' -f2- | tr '\n' ';')"
    echo "$mode: $calls"
}

expect() {
    local got="$1" want="$2"
    [[ "$got" == "$want" ]] || fail "expected: $want
got:      $got"
}

# none: not advertised, flush passes.
out="$(run none)"; echo "$out"
grep -q "can_fua=0 can_flush=1" <<<"$out" || fail "none: flags"
expect "$(tail -1 <<<"$out")" \
    "none: pwrite 4096 0 fua=0;pwrite 4096 4096 fua=0;zero 4096 8192 fua=0 may_trim=1 fast=0;flush;"

# emulate: FUA becomes the operation and then a flush below.
out="$(run emulate)"; echo "$out"
grep -q "can_fua=1 can_flush=1" <<<"$out" || fail "emulate: flags"
expect "$(tail -1 <<<"$out")" \
    "emulate: pwrite 4096 0 fua=0;flush;pwrite 4096 4096 fua=0;zero 4096 8192 fua=0 may_trim=1 fast=0;flush;flush;"

# native: the flag goes down as it came.
out="$(run native)"; echo "$out"
grep -q "can_fua=1 can_flush=1" <<<"$out" || fail "native: flags"
expect "$(tail -1 <<<"$out")" \
    "native: pwrite 4096 0 fua=1;pwrite 4096 4096 fua=0;zero 4096 8192 fua=1 may_trim=1 fast=0;flush;"

# force: every write is FUA, flush stops here.
out="$(run force)"; echo "$out"
grep -q "can_fua=1 can_flush=1" <<<"$out" || fail "force: flags"
expect "$(tail -1 <<<"$out")" \
    "force: pwrite 4096 0 fua=1;pwrite 4096 4096 fua=1;zero 4096 8192 fua=1 may_trim=1 fast=0;"

# pass: as if the filter were absent.
out="$(run pass)"; echo "$out"
grep -q "can_fua=1 can_flush=1" <<<"$out" || fail "pass: flags"
expect "$(tail -1 <<<"$out")" \
    "pass: pwrite 4096 0 fua=1;pwrite 4096 4096 fua=0;zero 4096 8192 fua=1 may_trim=1 fast=0;flush;"

# discard: FUA advertised but dropped, flush stops here.
out="$(run discard)"; echo "$out"
grep -q "can_fua=1 can_flush=1" <<<"$out" || fail "discard: flags"
expect "$(tail -1 <<<"$out")" \
    "discard: pwrite 4096 0 fua=0;pwrite 4096 4096 fua=0;zero 4096 8192 fua=0 may_trim=1 fast=0;"

# Modes that need flush or FUA below refuse a layer without them, with
# a message naming the mode; none still works there.
for m in emulate native force; do
    r=0
    bk -U - --filter=fua --filter="$oplog" memory 1M oplog-flush=no \
        fuamode=$m --run 'nbdinfo "$uri"' >/dev/null 2>"$tmp/err" || r=$?
    [[ $r != 0 ]] || fail "fuamode=$m over a layer without flush/FUA was accepted"
    grep -q "fuamode=$m" "$tmp/err" || { cat "$tmp/err"; fail "fuamode=$m: unclear error"; }
done
out="$(run none oplog-flush=no)"; echo "$out"
grep -q "can_fua=0 can_flush=0" <<<"$out" || fail "none over no flush: flags"

expect_fail bk --filter=fua memory 1M fuamode=bogus --run true 2>"$tmp/err"
grep -q "fuamode=bogus" "$tmp/err" || fail "error does not name fuamode=bogus"
:
