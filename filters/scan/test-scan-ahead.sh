#!/usr/bin/env bash
# scan-ahead and scan-clock.  The scan (1M reads, 0.2 s each through a
# delay filter below) is near the start of a 16M disk when the client
# reads 1M at 12M:
#   - with scan-ahead (default), the scan jumps past the client's read:
#     its next read starts at 13M;
#   - with scan-clock (default), it then goes back for what it skipped,
#     so the scan and the client together cover the whole disk;
#   - with scan-clock=false, the skipped stretch is never read;
#   - with scan-ahead=false, the scan reads everything in order.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
export PYTHONPATH="$srcdir"

M=$((1 << 20))
for mode in default noclock noahead; do
    case $mode in
        default) extra=() ;;
        noclock) extra=(scan-clock=false) ;;
        noahead) extra=(scan-ahead=false) ;;
    esac
    start_server "$tmp/$mode.sock" --filter=scan --filter=delay \
        --filter=log memory 16M logfile="$tmp/$mode.log" scan-size=1M \
        rdelay=0.2 scan-forever=true "${extra[@]}"
    sock="$tmp/$mode.sock" log="$tmp/$mode.log" mode=$mode nbdpy <<'PYEOF'
import os, nbd
from scanlog import *
M = 1 << 20
log, mode = os.environ["log"], os.environ["mode"]
h = nbd.NBD()
h.connect_unix(os.environ["sock"])
h.pread(M, 12 * M)
def scan():
    return [r for c, rs in parse(log)[0].items() if c != 1 for r in rs]
def done():
    return any(c != 1 for c in parse(log)[1])
assert wait_for(done, 30), open(log).read()
s = scan()
offsets = [o for (o, n) in s]
print(mode, [o // M for o in offsets])
if mode == "noahead":
    assert offsets == [i * M for i in range(16)], offsets
else:
    assert 13 * M in offsets and 12 * M not in offsets, offsets
    i = offsets.index(13 * M)
    assert offsets[i:i + 3] == [13 * M, 14 * M, 15 * M], offsets
    skipped_from = offsets[i - 1] + M if i > 0 else 0
    assert skipped_from < 12 * M, offsets
    rest = offsets[i + 3:]
    if mode == "default":
        assert covered(s + [(12 * M, M)], 16 * M), offsets
        assert rest and rest[0] == skipped_from, offsets
    else:
        assert rest == [], offsets
        assert not covered(s + [(12 * M, M)], 16 * M), offsets
h.shutdown()
PYEOF
done
echo OK
