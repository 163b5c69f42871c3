#!/usr/bin/env bash
# Zero emulated by writes on ranges of 128 MiB and more: every chunk must
# advance the offset and the whole range must be zeroed (an established
# server once zeroed only the first 64 MiB of each range, exposing old
# data).  Two layers that lack zero: a plugin (test-fallback-plugin,
# zero=none, so the plugin layer writes zeroes) and a filter
# (nozero zeromode=emulate over memory, so the filter layer does).  The
# disk is first filled with non-zero data, then zeroed by one 300 MiB
# request (nbdsh) and by nbdcopy from a null source (nbdcopy's default
# request sizes), then read back whole.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh
requires nbdcopy
requires cmp

size=$((320 * 1024 * 1024))
plugin="$builddir/.libs/test-fallback-plugin.so"
[[ -f "$plugin" ]] || fail "$plugin not built"

# zeroed SOCK FROM COUNT: bytes [FROM, FROM+COUNT) of the export are zero.
zeroed() {
    nbdcopy "$(nbd_uri "$1")" "$tmp/image"
    cmp -i "$2:0" -n "$3" "$tmp/image" /dev/zero ||
        fail "not zeroed: [$2, +$3) on $1"
    rm -f "$tmp/image"
}
# fill SOCK: non-zero data everywhere (the pattern plugin's bytes).
fill() {
    nbdcopy -- [ "$BLOCKKIT" pattern "$size" ] "$(nbd_uri "$1")"
    nbdsh -u "$(nbd_uri "$1")" -c "assert h.pread(4096, $size - 4096) != bytes(4096)"
}

run_case() {
    local sock="$1"; shift
    start_server "$sock" "$@"
    nbdsh -u "$(nbd_uri "$sock")" -c "assert h.can_zero()"

    fill "$sock"
    nbdsh -u "$(nbd_uri "$sock")" -c "h.zero(300 * 1024 * 1024, 4096)"
    zeroed "$sock" 4096 $((300 * 1024 * 1024))
    # The bytes on either side of the range are still data.
    nbdsh -u "$(nbd_uri "$sock")" -c "
assert h.pread(8, 4088) != bytes(8)
assert h.pread(4096, 4096 + 300 * 1024 * 1024) != bytes(4096)"

    fill "$sock"
    nbdcopy -- [ "$BLOCKKIT" null "$size" ] "$(nbd_uri "$sock")"
    zeroed "$sock" 0 "$size"
    stop_server "$server_pid"
    echo "ok: $*"
}

run_case "$tmp/plugin.sock" "$plugin" size="$size" zero=none log=/dev/null
run_case "$tmp/filter.sock" --filter=nozero memory "$size" zeromode=emulate
echo PASS
