#!/usr/bin/env bash
# nocache: cachemode=none hides NBD_CMD_CACHE, emulate answers it with
# reads at this layer (seen by a call-logging filter under nocache), and
# passthrough lets the layer below answer it.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
requires nbdinfo
oplog="$builddir/.libs/test-oplog-filter.so"
[[ -f "$oplog" ]] || fail "$oplog not built (run make check)"

can_cache() {
    local r=0
    bk -U - "$@" --run 'nbdinfo --can cache "$uri"' || r=$?
    case $r in 0) echo 1 ;; 2) echo 0 ;; *) fail "nbdinfo --can cache: $r" ;; esac
}

# A control: the memory plugin itself answers cache.
[[ "$(can_cache memory 1M)" == 1 ]] || fail "memory plugin has no cache?"
[[ "$(can_cache --filter=nocache memory 1M)" == 0 ]] || fail "default: cache advertised"
[[ "$(can_cache --filter=nocache memory 1M cachemode=none)" == 0 ]] || fail "none: cache advertised"
[[ "$(can_cache --filter=nocache memory 1M cachemode=emulate)" == 1 ]] || fail "emulate: cache not advertised"
[[ "$(can_cache --filter=nocache memory 1M cachemode=passthrough)" == 1 ]] || fail "passthrough: cache not advertised"
expect_fail bk --filter=nocache memory 1M cachemode=bogus --run true 2>"$tmp/err"
grep -q "cachemode=bogus" "$tmp/err" || fail "error does not name cachemode=bogus"

# cache_via MODE: issue one cache request; the log shows what went down.
cache_via() {
    : >"$tmp/log-$1"
    bk -U - --filter=nocache --filter="$oplog" memory 1M oplog="$tmp/log-$1" \
        cachemode="$1" --run 'nbdsh -u "$uri" -c "h.cache(65536, 131072)"'
    cat "$tmp/log-$1"
}
cache_via emulate
grep -q "cache" "$tmp/log-emulate" && fail "emulate: cache passed down"
grep -q "pread .* 131072" "$tmp/log-emulate" || fail "emulate: no read at the cached range"
cache_via passthrough
grep -q "cache 65536 131072" "$tmp/log-passthrough" || fail "passthrough: cache not passed down"
grep -q "pread" "$tmp/log-passthrough" && fail "passthrough: cache turned into reads"
:
