#!/usr/bin/env bash
# offset filter over the file plugin: size, where the bytes land in the
# image file, block status shifted back, and clear errors for windows
# that do not fit.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
requires nbdinfo

M=1048576
img="$tmp/disk.img"
truncate -s 8M "$img"

start_server "$tmp/sock" --filter=offset file "$img" offset=1M range=2M
export uri="$(nbd_uri "$tmp/sock")"

[[ "$(nbdinfo --size "$uri")" == $((2*M)) ]] || fail "size with range"

nbdpy <<'PYEOF'
import os, nbd
M = 1 << 20
h = nbd.NBD()
h.connect_uri(os.environ["uri"])
assert h.get_size() == 2 * M
h.pwrite(b"A" * 4096, 0)
h.pwrite(b"Z" * 4096, 2 * M - 4096)
h.zero(4096, 65536, nbd.CMD_FLAG_NO_HOLE)
h.flush()
assert h.pread(4096, 0) == b"A" * 4096
assert h.pread(4096, 2 * M - 4096) == b"Z" * 4096
# The server refuses requests past the end of the window.
for op in (lambda: h.pread(1, 2 * M), lambda: h.pwrite(b"x", 2 * M)):
    try:
        op()
        assert False, "request past the window succeeded"
    except nbd.Error:
        pass
h.shutdown()
PYEOF

# The bytes are in the image at the shifted offsets, nothing elsewhere.
"$PYTHON" - "$img" <<'PYEOF'
import sys
M = 1 << 20
d = open(sys.argv[1], "rb").read()
assert d[M:M + 4096] == b"A" * 4096, "first write"
assert d[3 * M - 4096:3 * M] == b"Z" * 4096, "last write"
assert d[:M] == bytes(M), "bytes before the window changed"
assert d[M + 4096:3 * M - 4096] == bytes(2 * M - 8192), "window middle"
assert d[3 * M:] == bytes(5 * M), "bytes after the window changed"
PYEOF

# Block status is shifted back: data at the start of the window.
nbdinfo --map "$uri" >"$tmp/map"; cat "$tmp/map"
read -r off len typ _ <"$tmp/map"
[[ "$off" == 0 && "$typ" == 0 ]] || fail "first extent is not data at 0"
(( len >= 4096 && len < 2*M )) || fail "first extent length $len"
[[ "$(awk 'END {print $1 + $2}' "$tmp/map")" == $((2*M)) ]] ||
    fail "map does not end at the window end"
stop_server "$server_pid"

# Without range: everything from offset to the end.
bk -U - --filter=offset file "$img" offset=3M --run 'nbdinfo --size "$uri"' \
   >"$tmp/size"
[[ "$(cat "$tmp/size")" == $((5*M)) ]] || fail "size without range"
bk -U - --filter=offset file "$img" offset=8M --run 'nbdinfo --size "$uri"' \
   >"$tmp/size"
[[ "$(cat "$tmp/size")" == 0 ]] || fail "empty window at the end"

# Windows that do not fit: the connection fails with a clear error.
for args in "offset=9M" "offset=1M range=8M"; do
    if bk -U - --filter=offset file "$img" $args \
          --run 'nbdinfo --size "$uri"' >"$tmp/out" 2>&1; then
        cat "$tmp/out"; fail "window $args accepted"
    fi
    cat "$tmp/out"
    grep -q "offset filter: offset=" "$tmp/out" ||
        fail "no clear error for $args"
done
# A bad value is refused at startup.
if bk -U - --filter=offset file "$img" offset=banana --run true \
      >"$tmp/out" 2>&1; then
    fail "offset=banana accepted"
fi
grep -q "offset=banana" "$tmp/out" || { cat "$tmp/out"; fail "bad value error"; }

echo "$0: ok"
