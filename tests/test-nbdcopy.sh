#!/usr/bin/env bash
# nbdcopy in both directions with several connections and requests in
# flight, checked with checksums; also NBD to NBD.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires nbdcopy

src="$tmp/src.img"
truncate -s 128M "$src"
head -c 24M /dev/urandom | dd of="$src" bs=1M seek=1 conv=notrunc status=none
head -c 8M /dev/urandom | dd of="$src" bs=1M seek=100 conv=notrunc status=none
sum="$(md5 "$src")"

start_server "$tmp/a.sock" memory 128M
a="$(nbd_uri "$tmp/a.sock")"
start_server "$tmp/b.sock" memory 128M
b="$(nbd_uri "$tmp/b.sock")"
nc() { timeout 180 nbdcopy "$@"; }

nc --connections=4 --requests=16 "$src" "$a"
nc --connections=4 --requests=16 "$a" "$tmp/out1.img"
[[ "$(md5 "$tmp/out1.img")" == "$sum" ]] || fail "file -> NBD -> file checksum"

nc --connections=4 --threads=4 "$a" "$b"
nc --connections=2 "$b" - >"$tmp/out2.img"
[[ "$(md5 "$tmp/out2.img")" == "$sum" ]] || fail "NBD -> NBD -> file checksum"

# Single connection, synchronous.
nc --connections=1 --synchronous "$b" "$tmp/out3.img"
[[ "$(md5 "$tmp/out3.img")" == "$sum" ]] || fail "synchronous copy checksum"

# Overwrite with zeroes from null, then verify zero.
start_server "$tmp/z.sock" null 128M
nc --connections=4 "$(nbd_uri "$tmp/z.sock")" "$b"
nc "$b" "$tmp/out4.img"
cmp -n $((128*1024*1024)) "$tmp/out4.img" /dev/zero || fail "zeroing copy"
# And the original is unaffected.
nc --connections=4 "$a" "$tmp/out5.img"
[[ "$(md5 "$tmp/out5.img")" == "$sum" ]] || fail "source changed"

echo "$0: ok"
