#!/usr/bin/env bash
# data plugin: disks from inline expressions, raw=, base64=, a file, size=.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh

# check_data 'EXPECTED-PYTHON-BYTES' ARGS...: the disk's full content.
cat >"$tmp/check.py" <<'PYEOF'
import os, sys, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
got = bytes(h.pread(h.get_size(), 0)) if h.get_size() else b""
exp = eval(os.environ["EXPECTED"])
if got != exp:
    print("got", got, "want", exp)
    sys.exit(1)
PYEOF
check_data() {
    EXPECTED="$1"; shift
    export EXPECTED
    bk -U - data "$@" --run '"$PYTHON" "$tmp/check.py" "$uri"' ||
        fail "data $* gave the wrong content"
    echo "ok: data $*"
}

check_data 'bytes([1, 2, 3])'                          data='1 2 3'
check_data 'bytes([0x55, 0xaa, 255, 0o17])'             data='0x55 0xAA 255 017'
check_data 'bytes([1]) + bytes(15) + bytes([2])'        data='1 @0x10 2'
check_data 'b"\x55\xaa" * 4'                            data='( 0x55 0xAA )*4'
check_data 'bytes([1, 2, 3]) + bytes(7)'                data='1 2 3' size=10
check_data 'b"hi" + bytes([9])'                         data='"hi" 9'
check_data 'bytes(5) + b"\x07"'                         data='@5 7'
check_data 'b"hello"'                                   raw=hello
check_data 'b"hello" + bytes(11)'                       raw=hello size=16
check_data 'b"hello"'                                   base64=aGVsbG8=
printf 'file\0content' >"$tmp/src"
check_data 'b"file\x00content"'                         data="<$tmp/src"
check_data 'b""'                                        data=''

# Writable, like a memory disk seeded with the data.
bk -U - data data='1 2 3 4' size=1M --run 'nbdsh -u "$uri" -c "
assert not h.is_read_only()
assert h.pread(4, 0) == bytes([1, 2, 3, 4])
h.pwrite(b\"XY\", 1)
assert h.pread(4, 0) == bytes([1]) + b\"XY\" + bytes([4])
h.pwrite(b\"end\", (1 << 20) - 3)
assert h.pread(3, (1 << 20) - 3) == b\"end\"
"' || fail "data plugin writes"

# A bad expression is a startup error, not a crash.
rc=0
timeout 30 "$BLOCKKIT" -U - data data='( 1 2' --run true >"$tmp/err" 2>&1 || rc=$?
[[ $rc -ne 0 && $rc -lt 128 ]] || fail "unbalanced expression: exit $rc"

echo "$0: ok"
