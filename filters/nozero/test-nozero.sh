#!/usr/bin/env bash
# nozero: each zeromode changes what is advertised and what reaches the
# layer below (seen by a call-logging test filter under nozero); data is
# zeroed whichever way it travels.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
requires nbdinfo
oplog="$builddir/.libs/test-oplog-filter.so"
[[ -f "$oplog" ]] || fail "$oplog not built (run make check)"

# can KIND ARGS...: print 1 if nbdinfo says the export can KIND, else 0.
can() {
    local what="$1"; shift
    local r=0
    bk -U - "$@" --run "nbdinfo --can $what \"\$uri\"" || r=$?
    case $r in 0) echo 1 ;; 2) echo 0 ;; *) fail "nbdinfo --can $what: $r" ;; esac
}

# Default (zeromode=none): no zero at all, so no fast zero either.
[[ "$(can zero --filter=nozero memory 1M)" == 0 ]] || fail "none: zero advertised"
[[ "$(can fast_zero --filter=nozero memory 1M)" == 0 ]] || fail "none: fast zero"
[[ "$(can zero memory 1M)" == 1 ]] || fail "memory plugin alone lacks zero?"
for m in emulate notrim plugin; do
    [[ "$(can zero --filter=nozero memory 1M zeromode=$m)" == 1 ]] ||
        fail "zeromode=$m: zero not advertised"
    [[ "$(can fast_zero --filter=nozero memory 1M zeromode=$m)" == 1 ]] ||
        fail "zeromode=$m: fast zero not advertised"
    [[ "$(can fast_zero --filter=nozero memory 1M zeromode=$m fastzeromode=none)" == 0 ]] ||
        fail "zeromode=$m fastzeromode=none: fast zero advertised"
done
# Bad values are refused, naming the key.
expect_fail bk --filter=nozero memory 1M zeromode=bogus --run true 2>"$tmp/err"
grep -q "zeromode=bogus" "$tmp/err" || fail "error does not name zeromode=bogus"

# run_case ZEROMODE FASTZEROMODE: zero through nozero, log what arrives.
run_case() {
    local log="$tmp/log-$1-$2"
    : >"$log"
    bk -U - --filter=nozero --filter="$oplog" memory 1M oplog="$log" \
        zeromode="$1" fastzeromode="$2" --run "$PYTHON - \"\$uri\" $2" <<'PYEOF'
import sys, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
fzm = sys.argv[2]
h.pwrite(b"\xaa" * 65536, 0)
h.zero(4096, 8192)                               # may trim
h.zero(4096, 16384, nbd.CMD_FLAG_NO_HOLE)
d = h.pread(65536, 0)
assert d[8192:12288] == bytes(4096) and d[16384:20480] == bytes(4096)
assert d[:8192] == b"\xaa" * 8192 and d[20480:] == b"\xaa" * (65536 - 20480)
if h.can_fast_zero():
    try:
        h.zero(4096, 32768, nbd.CMD_FLAG_FAST_ZERO)
        print("fast zero: ok")
        assert h.pread(4096, 32768) == bytes(4096)
    except nbd.Error as e:
        print("fast zero: failed", e.errnum)
        assert h.pread(4096, 32768) == b"\xaa" * 4096
h.shutdown()
PYEOF
    cat "$log"
}

# emulate: the layer below sees writes, never a zero; fast zeroes fail.
out="$(run_case emulate default)"; echo "$out"
grep -q " zero " "$tmp/log-emulate-default" && fail "emulate: zero reached the layer below"
grep -q "pwrite 4096 8192" "$tmp/log-emulate-default" || fail "emulate: no zero write at 8192"
grep -q "pwrite 4096 16384" "$tmp/log-emulate-default" || fail "emulate: no zero write at 16384"
grep -q "fast zero: failed" <<<"$out" || fail "emulate: fast zero did not fail"

# notrim: zero passes, MAY_TRIM never does.
run_case notrim default
grep -q "zero 4096 8192 fua=0 may_trim=0" "$tmp/log-notrim-default" || fail "notrim: may_trim passed"
grep -q "may_trim=1" "$tmp/log-notrim-default" && fail "notrim: may_trim=1 seen"

# plugin: passes unchanged (fast zero honoured by the memory plugin).
out="$(run_case plugin default)"; echo "$out"
grep -q "zero 4096 8192 fua=0 may_trim=1 fast=0" "$tmp/log-plugin-default" || fail "plugin: zero changed"
grep -q "zero 4096 32768 fua=0 may_trim=1 fast=1" "$tmp/log-plugin-default" || fail "plugin: fast zero not passed"
grep -q "fast zero: ok" <<<"$out" || fail "plugin: fast zero failed"

# fastzeromode=slow: fast zeroes fail at once, nothing goes down.
out="$(run_case plugin slow)"; echo "$out"
grep -q "fast zero: failed" <<<"$out" || fail "slow: fast zero succeeded"
grep -q "zero 4096 32768" "$tmp/log-plugin-slow" && fail "slow: fast zero reached the layer below"

# fastzeromode=ignore: the flag is dropped and the zero is done.
out="$(run_case plugin ignore)"; echo "$out"
grep -q "fast zero: ok" <<<"$out" || fail "ignore: fast zero failed"
grep -q "zero 4096 32768 fua=0 may_trim=1 fast=0" "$tmp/log-plugin-ignore" || fail "ignore: flag not dropped"
:
