#!/usr/bin/env bash
# noparallel: four reads in flight on one connection, each delayed 0.2 s
# below the filter, overlap without it (well under 0.6 s) and run one by
# one with it (at least 0.8 s); serialize=connections makes a second
# client wait for the first to leave.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
sleepf="$builddir/.libs/test-sleep-filter.so"
[[ -f "$sleepf" ]] || fail "$sleepf not built (run make check)"

# elapsed [KEY=VALUE]: time 4 parallel 512-byte reads on one connection,
# with noparallel (given its key, or "-" for its default) or without.
elapsed() {
    local f=()
    case "${1:-}" in
        "") ;;
        -) f=(--filter=noparallel) ;;
        *) f=(--filter=noparallel "$1") ;;
    esac
    bk -U - "${f[@]:0:1}" --filter="$sleepf" memory 1M rsleep=200 "${f[@]:1}" \
        --run "$PYTHON - \"\$uri\"" <<'PYEOF'
import sys, time, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
t = time.monotonic()
bufs = [nbd.Buffer(512) for _ in range(4)]
for i, b in enumerate(bufs):
    h.aio_pread(b, i * 512)
while h.aio_in_flight() > 0:
    h.poll(-1)
print("%.3f" % (time.monotonic() - t))
h.shutdown()
PYEOF
}

t="$(elapsed)"; echo "without noparallel: $t s"
awk -v t="$t" 'BEGIN { exit !(t < 0.6) }' || fail "reads did not overlap without the filter ($t s)"
for m in requests all-requests; do
    t="$(elapsed serialize=$m)"; echo "serialize=$m: $t s"
    awk -v t="$t" 'BEGIN { exit !(t >= 0.79) }' || fail "serialize=$m: reads overlapped ($t s)"
done
t="$(elapsed -)"; echo "default: $t s"
awk -v t="$t" 'BEGIN { exit !(t >= 0.79) }' || fail "default: reads overlapped ($t s)"

# serialize=connections: the second client is not served while the first
# is connected.
bk -U - --filter=noparallel --filter="$sleepf" memory 1M rsleep=0 \
    serialize=connections --run "$PYTHON - \"\$uri\"" <<'PYEOF'
import sys, time, threading, nbd
uri = sys.argv[1]
a = nbd.NBD(); a.connect_uri(uri)
got = []
def second():
    b = nbd.NBD(); b.connect_uri(uri)
    got.append(time.monotonic())
    b.shutdown()
t = threading.Thread(target=second); t.start()
time.sleep(1.0)
assert not got, "second client served while the first was connected"
released = time.monotonic()
a.shutdown()
t.join(10)
assert got and got[0] >= released, "second client not served after the first left"
PYEOF

expect_fail bk --filter=noparallel memory 1M serialize=bogus --run true 2>"$tmp/err"
grep -q "serialize=bogus" "$tmp/err" || fail "error does not name serialize=bogus"
