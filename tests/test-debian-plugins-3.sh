#!/usr/bin/env bash
# More of Debian's nbdkit plugin binaries, loaded unchanged into blockkit,
# each checked for what it documents, and where the output is data,
# compared byte for byte with the same binary under nbdkit itself:
#   info    mode=exportname (the export name as the disk), mode=address
#   full    reads zeroes, every write fails with ENOSPC
#   random  seed= gives the same bytes in both servers
#   zero    a disk of zero bytes
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh
requires nbdcopy
dir=/usr/lib/x86_64-linux-gnu/nbdkit/plugins
[[ -f "$dir/nbdkit-info-plugin.so" ]] || skip "Debian's nbdkit plugins are not installed"
requires nbdkit
p() { echo "$dir/nbdkit-$1-plugin.so"; }

echo "== info"
bk -U - "$(p info)" --run 'nbdsh -u "nbd+unix:///hello-world?socket=$unixsocket" -c "
assert h.pread(h.get_size(), 0) == b\"hello-world\", h.pread(h.get_size(), 0)"'
bk -U - "$(p info)" mode=address --run 'nbdsh -u "$uri" -c "
d = h.pread(h.get_size(), 0)
assert d == b\"unix\", d"  # as under nbdkit'

echo "== full"
bk -U - "$(p full)" 1M --run 'nbdsh -u "$uri" -c "
import errno, nbd
assert h.pread(4096, 0) == bytes(4096)
try:
    h.pwrite(b\"x\" * 512, 0)
    raise SystemExit(\"write to full succeeded\")
except nbd.Error as e:
    assert \"ENOSPC\" in str(e), e
"'

echo "== random: the same bytes as under nbdkit"
bk -U - "$(p random)" 8M seed=4242 --run 'nbdcopy "$uri" "$tmp/bk.img"'
timeout 60 nbdkit -U - "$(p random)" 8M seed=4242 --run 'nbdcopy "$uri" "$tmp/nk.img"'
cmp "$tmp/bk.img" "$tmp/nk.img" || fail "random: bytes differ from nbdkit's"
[[ "$(md5 "$tmp/bk.img")" != "$(head -c 8M /dev/zero | md5sum | cut -d' ' -f1)" ]] ||
    fail "random gave zeroes"

echo "== zero"
[[ "$(bk -U - "$(p zero)" --run 'nbdinfo --size "$uri"')" == 0 ]] || fail "zero plugin size"
echo PASS
