#!/usr/bin/env bash
# null plugin: reads zeroes, accepts and discards writes, reports a hole.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh
requires nbdinfo

bk -U - null size=10M --run 'nbdinfo --size "$uri"' >"$tmp/out"
[[ "$(cat "$tmp/out")" == 10485760 ]] || fail "size: $(cat "$tmp/out")"
bk -U - null 1G --run 'nbdinfo --size "$uri"' >"$tmp/out"
[[ "$(cat "$tmp/out")" == 1073741824 ]] || fail "magic size key: $(cat "$tmp/out")"

start_server "$tmp/sock" null size=1G
export uri="$(nbd_uri "$tmp/sock")"
nbdpy <<'PYEOF'
import os, nbd
h = nbd.NBD()
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_uri(os.environ["uri"])
assert h.get_size() == 1 << 30
assert h.pread(1 << 20, 12345) == bytes(1 << 20)
h.pwrite(b"x" * 65536, 0)          # accepted ...
assert h.pread(65536, 0) == bytes(65536)   # ... and discarded
h.zero(1 << 20, 0)
h.trim(1 << 20, 0)
h.flush()
ext = []
h.block_status(1 << 30, 0, lambda m, o, e, err: ext.extend(e))
assert ext[1] & 2 == 2, ext     # reads as zero
h.shutdown()
PYEOF

bk -U - null 0 --run 'nbdinfo --size "$uri"' >"$tmp/out"
[[ "$(cat "$tmp/out")" == 0 ]] || fail "zero-size disk: $(cat "$tmp/out")"

echo "$0: ok"
