#!/usr/bin/env bash
# truncate=SIZE: shrinking hides data; growing reads zeroes past the real
# end, accepts zeroes there and refuses other data with ENOSPC.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
requires nbdinfo

img="$tmp/disk.img"
"$PYTHON" -c '
import sys
open(sys.argv[1], "wb").write(bytes(range(256)) * 4096)' "$img"   # 1M
sum="$(md5 "$img")"

# Shrinking: 1M -> 100000 bytes, the rest unreachable.
start_server "$tmp/small.sock" --filter=truncate file "$img" truncate=100000
export uri="$(nbd_uri "$tmp/small.sock")"
[[ "$(nbdinfo --size "$uri")" == 100000 ]] || fail "truncated size"
nbdpy <<'PYEOF'
import os, nbd
h = nbd.NBD()
h.connect_uri(os.environ["uri"])
pat = bytes(range(256)) * 4096
assert h.pread(100000, 0) == pat[:100000]
try:
    h.pread(1, 100000)
    assert False, "read past the truncated end succeeded"
except nbd.Error:
    pass
PYEOF
stop_server "$server_pid"
[[ "$(md5 "$img")" == "$sum" ]] || fail "image changed"

# Growing: 1M -> 3M.
start_server "$tmp/big.sock" --filter=truncate file "$img" truncate=3M
export uri="$(nbd_uri "$tmp/big.sock")"
[[ "$(nbdinfo --size "$uri")" == 3145728 ]] || fail "grown size"
nbdpy <<'PYEOF'
import os, nbd
M = 1 << 20
h = nbd.NBD()
h.connect_uri(os.environ["uri"])
pat = bytes(range(256)) * 4096
# Reads across the real end: data, then zeroes.
assert h.pread(8192, M - 4096) == pat[M - 4096:] + bytes(4096)
assert h.pread(M, 2 * M) == bytes(M)
# Zeroes past the end are accepted, with every kind of request.
h.pwrite(bytes(65536), 2 * M)
h.zero(M, 2 * M - 4096)
h.trim(M, 2 * M)
# Non-zero data past the end: ENOSPC, and nothing written, not even the
# part inside the real disk.
for off in (2 * M, M - 10):
    try:
        h.pwrite(b"\x01" * 20, off)
        assert False, "non-zero write past the end succeeded"
    except nbd.Error as e:
        assert e.errno == "ENOSPC", e
assert h.pread(10, M - 10) == pat[M - 10:]
# A write straddling the end whose tail is zero is fine.
h.pwrite(b"\x07" * 10 + bytes(10), M - 10)
assert h.pread(20, M - 10) == b"\x07" * 10 + bytes(10)
h.flush()
h.shutdown()
PYEOF
nbdinfo --map "$uri" >"$tmp/map"; cat "$tmp/map"
grep -Eq "^ +1048576 +2097152 +3 " "$tmp/map" ||
    fail "the grown part is not one hole,zero extent"
stop_server "$server_pid"

# The real file kept its size and got only the in-range write.
[[ "$(stat -c %s "$img")" == 1048576 ]] || fail "image size changed"
"$PYTHON" - "$img" <<'PYEOF'
import sys
M = 1 << 20
d = open(sys.argv[1], "rb").read()
pat = bytes(range(256)) * 4096
assert d[:M - 10] == pat[:M - 10]
assert d[M - 10:] == b"\x07" * 10
PYEOF

# Bad values are refused at startup, naming the key.
for arg in truncate=lots round-up=3 round-down=0; do
    if bk -U - --filter=truncate file "$img" $arg --run true \
          >"$tmp/out" 2>&1; then
        fail "$arg accepted"
    fi
    grep -q "${arg%%=*}" "$tmp/out" || { cat "$tmp/out"; fail "error for $arg"; }
done
echo "$0: ok"
