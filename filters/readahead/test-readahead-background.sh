#!/usr/bin/env bash
# readahead prefetches in the background, as nbdkit's readahead filter
# does: over a layer that can cache (the cache filter), the CACHE
# requests for the window go below after the read is answered, so a
# slow prefetch (delay-cache=1 below) never delays the reply to the read
# that triggered it.  The log filter between them shows the prefetches
# do happen, beyond what was read, and a client that disconnects while
# one is in flight is fine.  Under a serializing thread model the
# prefetch is made before the reply instead (noparallel).
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

run() {
    local log="$1"; shift
    bk -U - --filter=readahead "$@" --filter=log --filter=delay \
        --filter=cache memory 64M logfile="$log" delay-cache=1 \
        --run "$PYTHON - \"\$uri\" \"$log\"" <<'PYEOF'
import sys, time, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
worst = 0
for i in range(8):
    t = time.monotonic()
    h.pread(65536, i * 65536)
    worst = max(worst, time.monotonic() - t)
print("slowest read %.3f s" % worst)
# The prefetcher is a background thread: on a loaded machine it may not
# have sent a CACHE yet.  Wait (up to 20 s) until one is in the log, so
# the test does not depend on how fast that thread gets the CPU.
for _ in range(200):
    if " Cache id=" in open(sys.argv[2]).read():
        break
    time.sleep(0.1)
h.shutdown()          # with a prefetch still sleeping below
PYEOF
}

out="$(run "$tmp/log")"
echo "$out"
slowest="$(echo "$out" | sed -n 's/slowest read \(.*\) s/\1/p')"
awk -v s="$slowest" 'BEGIN { exit !(s < 0.8) }' ||
    fail "a read waited for its prefetch ($slowest s)"
# Prefetches were made, beyond the 64K that was read at that point.
grep -E " Cache id=[0-9]+ offset=0x[1-9a-f][0-9a-f]* count=" "$tmp/log" ||
    fail "no prefetch reached the cache: $(cat "$tmp/log")"

# Serialized requests: the prefetch is made in the request's thread, so
# some read does wait for it, and nothing breaks.
out="$(run "$tmp/log2" --filter=noparallel)"
echo "serialized: $out"
slowest="$(echo "$out" | sed -n 's/slowest read \(.*\) s/\1/p')"
awk -v s="$slowest" 'BEGIN { exit !(s >= 0.9) }' ||
    fail "serialized: expected a read to wait for the prefetch ($slowest s)"
echo OK
