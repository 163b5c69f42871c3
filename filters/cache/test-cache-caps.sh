#!/usr/bin/env bash
# cache: what it advertises follows the layer below and the mode, as
# blockkit-cache-filter(1) "CAPABILITIES" explains:
#   writethrough  flush, FUA, fast zero, multi-conn: those of below
#   writeback     flush and FUA always (FUA emulated by flush if below
#                 has none), fast zero advertised but always refused
#                 with ENOTSUP at once, multi-conn only if below has it
#   unsafe        flush, FUA, fast zero (refused) and multi-conn always
# The layer below is Debian's eval plugin (a file, each capability
# switchable).  Then behaviour: in writeback over a below without flush,
# a FUA write and a flush put the data in the file before they return;
# a fast zero is refused and changes nothing.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
requires nbdinfo

p=
for d in /usr/lib/*/nbdkit/plugins /usr/lib64/nbdkit/plugins; do
    [[ -f "$d/nbdkit-eval-plugin.so" ]] && p="$d/nbdkit-eval-plugin.so"
done
[[ -n "$p" ]] || skip "nbdkit's eval plugin is not installed"
export img="$tmp/disk.img"
truncate -s 1M "$img"

# below FLUSH MULTI FASTZERO: eval keys for a layer with these.
below() {
    local yes='exit 0' no='exit 3'
    args=(get_size='echo 1048576'
          pread='dd if="$img" skip=$4 count=$3 iflag=skip_bytes,count_bytes status=none'
          pwrite='dd of="$img" seek=$4 oflag=seek_bytes conv=notrunc status=none'
          zero='dd if=/dev/zero of="$img" seek=$4 count=$3 oflag=seek_bytes iflag=count_bytes conv=notrunc status=none'
          can_write="$yes" can_zero="$yes")
    [[ $1 == 1 ]] && args+=(flush='exit 0' can_flush="$yes" can_fua="echo emulate") \
                  || args+=(can_flush="$no" can_fua="echo none")
    [[ $2 == 1 ]] && args+=(can_multi_conn="$yes") || args+=(can_multi_conn="$no")
    [[ $3 == 1 ]] && args+=(can_fast_zero="$yes") || args+=(can_fast_zero="$no")
}
caps() {
    bk -U - --filter=cache "$p" cache="$1" "${args[@]}" \
        --run 'nbdinfo --json "$uri"' | "$PYTHON" -c '
import json, sys
e = json.load(sys.stdin)["exports"][0]
print(" ".join("%s=%d" % (k, e["can_" + k])
               for k in ("flush", "fua", "fast_zero", "multi_conn")))'
}
check() {   # MODE FLUSH MULTI FASTZERO EXPECTED
    local got
    below "$2" "$3" "$4"
    got="$(caps "$1")"
    echo "$1 below(flush=$2 multi=$3 fast_zero=$4): $got"
    [[ "$got" == "$5" ]] || fail "expected $5"
}
check writethrough 1 0 0 "flush=1 fua=1 fast_zero=0 multi_conn=0"
check writethrough 0 0 0 "flush=0 fua=0 fast_zero=0 multi_conn=0"
check writethrough 1 1 1 "flush=1 fua=1 fast_zero=1 multi_conn=1"
check writeback    1 0 0 "flush=1 fua=1 fast_zero=1 multi_conn=0"
check writeback    0 0 0 "flush=1 fua=1 fast_zero=1 multi_conn=0"
check writeback    1 1 1 "flush=1 fua=1 fast_zero=1 multi_conn=1"
check unsafe       0 0 0 "flush=1 fua=1 fast_zero=1 multi_conn=1"
check unsafe       1 1 1 "flush=1 fua=1 fast_zero=1 multi_conn=1"

# Writeback over a layer with no flush and no FUA.
below 0 0 0
start_server "$tmp/sock" --filter=cache "$p" cache=writeback "${args[@]}"
sock="$tmp/sock" nbdpy <<'PYEOF'
import os, nbd
img = os.environ["img"]
def on_disk(off, n):
    with open(img, "rb") as f:
        f.seek(off)
        return f.read(n)
h = nbd.NBD()
h.connect_unix(os.environ["sock"])
h.pwrite(b"a" * 4096, 0)
assert on_disk(0, 4096) == bytes(4096), "writeback wrote at once"
h.pwrite(b"b" * 4096, 65536, nbd.CMD_FLAG_FUA)
assert on_disk(65536, 4096) == b"b" * 4096, "FUA write not on disk"
h.flush()
assert on_disk(0, 4096) == b"a" * 4096, "flush did not write back"
try:
    h.zero(65536, 0, nbd.CMD_FLAG_FAST_ZERO)
    raise AssertionError("fast zero accepted")
except nbd.Error as e:
    assert e.errnum == 95, e            # ENOTSUP
assert h.pread(4096, 0) == b"a" * 4096, "refused fast zero changed data"
h.zero(4096, 0)
assert h.pread(4096, 0) == bytes(4096)
h.shutdown()
PYEOF
echo OK
