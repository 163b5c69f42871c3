#!/usr/bin/env bash
# noextents: a sparse memory disk with one block of data maps as one data
# extent through the filter (and as data plus holes without it).
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
requires nbdinfo

start_server "$tmp/sock" --filter=noextents memory 8M
start_server "$tmp/plain" memory 8M
for s in sock plain; do
    nbdsh -u "$(nbd_uri "$tmp/$s")" -c 'h.pwrite(b"\x55" * 65536, 1 << 20)'
done

nbdinfo --map "$(nbd_uri "$tmp/plain")" | tee "$tmp/plain.map"
(( $(wc -l <"$tmp/plain.map") >= 2 )) || fail "control: the plain disk is not sparse"

nbdinfo --map "$(nbd_uri "$tmp/sock")" | tee "$tmp/map"
[[ "$(awk '{print $1, $2, $3}' "$tmp/map")" == "0 8388608 0" ]] ||
    fail "noextents: expected one data extent covering the disk"
# The data itself is untouched.
nbdsh -u "$(nbd_uri "$tmp/sock")" -c '
assert h.pread(65536, 1 << 20) == b"\x55" * 65536
assert h.pread(4096, 0) == bytes(4096)'
