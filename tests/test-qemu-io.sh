#!/usr/bin/env bash
# qemu-io: pattern writes and reads, zero, discard, over NBD.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires qemu-io

start_server "$tmp/sock" memory 64M
uri="$(nbd_uri "$tmp/sock")"
qio() { timeout 120 qemu-io -f raw "$@"; }

out="$(qio -c 'write -P 0x55 0 1M' -c 'read -P 0x55 0 1M' \
           -c 'write -P 0xaa 1M 3M' -c 'read -P 0xaa 1M 3M' -c 'read -P 0x55 0 1M' \
           -c 'write -P 0x11 63M 1M' -c 'read -P 0x11 63M 1M' \
           -c 'write -z 2M 64k' -c 'read -P 0 2M 64k' -c 'read -P 0xaa 1M 1M' \
           -c 'aio_write -P 0x33 10M 1M' -c 'aio_write -P 0x44 11M 1M' -c aio_flush \
           -c 'read -P 0x33 10M 1M' -c 'read -P 0x44 11M 1M' \
           -c 'write -f -P 0x66 12M 64k' -c 'write -z -u 13M 64k' -c 'write -z -n 14M 64k' -c 'read -P 0x66 12M 64k' \
           -c 'discard 20M 1M' -c flush "$uri")"
echo "$out"
if grep -Eqi 'fail|error|mismatch|pattern verification' <<<"$out"; then fail "qemu-io reported a problem"; fi
[[ "$(grep -c '^wrote' <<<"$out")" -ge 6 ]] || fail "qemu-io did not write"
[[ "$(grep -c '^read' <<<"$out")" -ge 8 ]] || fail "qemu-io did not read"

# A mismatching pattern must be detected (the check can fail).
out="$(qio -c 'read -P 0x77 0 4k' "$uri" 2>&1 || :)"
grep -qi 'mismatch\|verification failed\|pattern' <<<"$out" ||
    fail "wrong pattern not detected: $out"

# A second connection sees the same data.
out="$(qio -r -c 'read -P 0x55 0 1M' -c 'read -P 0xaa 3M 1M' -c 'read -P 0 2M 64k' "$uri")"
if grep -Eqi 'fail|error|mismatch' <<<"$out"; then fail "second connection: $out"; fi

# Read-only server: qemu-io writes fail.
start_server "$tmp/ro.sock" -r memory 4M
if timeout 60 qemu-io -f raw -c 'write -P 0x55 0 4k' "$(nbd_uri "$tmp/ro.sock")" >"$tmp/out" 2>&1 &&
   ! grep -qi 'fail\|error\|denied\|read-only' "$tmp/out"; then
    fail "write to a read-only export did not fail: $(cat "$tmp/out")"
fi

echo "$0: ok"
