#!/usr/bin/env bash
# protect= bounds are written as nbdkit-protect-filter(1) has them:
# decimal, 0octal, 0xhex, either bound may be left out, ~ complements.
# 0400-0777 is 256-511 (octal, not four hundred), 0x100-0x1ff the same
# range, ~1M- protects everything below 1M (the size suffix is a
# blockkit extension), -0x1ff everything up to 511.  Each case writes
# one byte either side of each boundary; bad bounds are refused.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

# case SPEC FIRST LAST: bytes FIRST..LAST (inclusive) are protected on a
# 2M memory disk, the bytes next to them are not.
case_() {
    local spec="$1" first="$2" last="$3"
    bk -U - --filter=protect memory 2M protect="$spec" \
        --run '"$PYTHON" -' <<PYEOF
import os, nbd
h = nbd.NBD()
h.connect_uri(os.environ["uri"])
size = h.get_size()
def writable(off):
    try:
        h.pwrite(b"\xaa", off)
        return True
    except nbd.Error as e:
        assert e.errnum == 1, e       # EPERM
        return False
first, last = $first, $last
for off in (first, last, (first + last) // 2):
    if 0 <= off < size:
        assert not writable(off), ("$spec", off, "writable")
for off in (first - 1, last + 1):
    if 0 <= off < size:
        assert writable(off), ("$spec", off, "protected")
print("ok: $spec")
PYEOF
}
case_ 0x100-0x1ff   256 511
case_ 0X100-0X1FF   256 511
case_ 0400-0777     256 511
case_ 256-511       256 511
case_ 0x100-        256 $((2 * 1024 * 1024 - 1))
case_ -0x1ff        0 511
case_ '~1M-'        0 $((1024 * 1024 - 1))
case_ '~1048576-'   0 $((1024 * 1024 - 1))
case_ 4k-0x1fff     4096 8191

for bad in 0x-1 08-9 0x1g-2 10-5 1M 'x-1'; do
    expect_fail bk -U - --filter=protect memory 2M protect="$bad" \
        --run true 2>"$tmp/err"
    grep -qF -- "$bad" "$tmp/err" || fail "protect=$bad: unclear error: $(cat "$tmp/err")"
done
echo OK
