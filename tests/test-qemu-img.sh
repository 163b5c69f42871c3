#!/usr/bin/env bash
# qemu-img: info, convert to and from NBD (raw and qcow2), compare.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires qemu-img

# A source image with data and holes.
src="$tmp/src.img"
truncate -s 32M "$src"
head -c 4M /dev/urandom | dd of="$src" bs=1M seek=2 conv=notrunc status=none
printf 'the end' | dd of="$src" bs=1 seek=$((32*1024*1024 - 7)) conv=notrunc status=none

start_server "$tmp/sock" memory 32M
uri="$(nbd_uri "$tmp/sock")"
qi() { timeout 180 qemu-img "$@"; }

qi info -f raw "$uri" >"$tmp/info"
grep -q 'virtual size: 32 MiB' "$tmp/info" || fail "qemu-img info: $(cat "$tmp/info")"

# File -> NBD, then compare both ways.
qi convert -n -p -f raw -O raw "$src" "$uri"
qi compare -f raw -F raw "$src" "$uri" || fail "compare after convert to NBD"
# NBD -> file (raw and qcow2), compare.
qi convert -f raw -O raw "$uri" "$tmp/back.img"
cmp "$src" "$tmp/back.img" || fail "raw copy back differs"
qi convert -f raw -O qcow2 "$uri" "$tmp/back.qcow2"
qi compare -f raw -F qcow2 "$uri" "$tmp/back.qcow2" || fail "qcow2 copy differs"
# qcow2 -> NBD with several coroutines in flight (-m 8) and -W.
start_server "$tmp/sock2" memory 32M
uri2="$(nbd_uri "$tmp/sock2")"
qi convert -n -W -m 8 -f qcow2 -O raw "$tmp/back.qcow2" "$uri2"
qi compare -f raw -F raw "$src" "$uri2" || fail "compare after parallel convert"
qi compare -f raw -F raw "$uri" "$uri2" || fail "NBD vs NBD compare"

# compare must notice a difference.
printf 'X' | dd of="$src" bs=1 seek=12345 conv=notrunc status=none
rc=0; qi compare -q -f raw -F raw "$src" "$uri" || rc=$?
[[ $rc -eq 1 ]] || fail "qemu-img compare did not notice a difference (rc $rc)"

# The map over NBD shows the holes (qemu-img map uses block status).
qi map -f raw --output=json "$uri" >"$tmp/map.json"
"$PYTHON" - "$tmp/map.json" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
M = 1 << 20
data = [e for e in m if e["data"]]
assert any(e["start"] <= 2 * M < e["start"] + e["length"] for e in data), m
assert not any(e["start"] <= 20 * M < e["start"] + e["length"] for e in data), m
PYEOF

echo "$0: ok"
