#!/usr/bin/env bash
# rate: 256 KiB read at 2 Mbit/s takes about a second (bounded, generous),
# for the server-wide and the per-connection limit; without the filter it
# is quick; a rate file is re-read while the server runs.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

# timed_read URI BYTES: seconds taken to read BYTES in 64 KiB requests
# (checking the data: the disk holds the pattern plugin's offsets).
timed_read() {
    nbdpy "$1" "$2" <<'PYEOF'
import sys, time, struct, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
n = int(sys.argv[2])
t = time.monotonic()
for off in range(0, n, 65536):
    d = h.pread(65536, off)
    assert struct.unpack(">Q", d[:8])[0] == off
print("%.3f" % (time.monotonic() - t))
h.shutdown()
PYEOF
}
between() { awk -v t="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(t >= lo && t < hi) }'; }

start_server "$tmp/plain" pattern 16M
t="$(timed_read "$(nbd_uri "$tmp/plain")" 262144)"; echo "no limit: $t s"
between "$t" 0 0.5 || fail "unlimited read took $t s"

for key in rate connection-rate; do
    start_server "$tmp/$key" --filter=rate pattern 16M $key=2M
    t="$(timed_read "$(nbd_uri "$tmp/$key")" 262144)"; echo "$key=2M: $t s"
    between "$t" 0.9 5 || fail "$key=2M: 256 KiB took $t s (expected about 1 s)"
done

# rate-file: 16M at first (256 KiB in ~0.125 s), then 1M (128 KiB in ~1 s),
# then no file at all (no limit).  A tiny burst keeps idle time from
# paying for the next read.
echo 16M >"$tmp/ratefile"
start_server "$tmp/rf" --filter=rate pattern 16M rate-file="$tmp/ratefile" \
    burstiness=0.001
uri="$(nbd_uri "$tmp/rf")"
t="$(timed_read "$uri" 262144)"; echo "rate-file 16M: $t s"
between "$t" 0.1 0.9 || fail "rate-file 16M: 256 KiB took $t s"
echo 1M >"$tmp/ratefile"; sleep 1.2
t="$(timed_read "$uri" 131072)"; echo "rate-file 1M: $t s"
between "$t" 0.9 5 || fail "rate-file 1M: 128 KiB took $t s"
rm "$tmp/ratefile"; sleep 1.2
timed_read "$uri" 65536 >/dev/null     # the read that notices the change
t="$(timed_read "$uri" 1048576)"; echo "rate-file removed: $t s"
between "$t" 0 0.5 || fail "rate-file removed: 1 MiB took $t s"

expect_fail bk --filter=rate memory 1M rate=fast --run true 2>"$tmp/err"
grep -q "rate=fast" "$tmp/err" || fail "error does not name rate=fast"
