#!/usr/bin/env bash
# limit: with limit=1 a second client is refused while the first is
# connected and served once it has gone; limit=2 admits two; limit=0
# admits any number.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

# clients URI N: hold N connections at once, then try one more; prints
# "ok" or "refused" for the extra one, then checks it works after one of
# the N closes.
clients() {
    nbdpy "$1" "$2" <<'PYEOF'
import sys, nbd
uri, n = sys.argv[1], int(sys.argv[2])
held = []
for i in range(n):
    h = nbd.NBD(); h.connect_uri(uri); held.append(h)
    h.pwrite(b"%d" % i, 0)
extra = nbd.NBD()
try:
    extra.connect_uri(uri)
    extra.pread(1, 0)
    print("ok")
except nbd.Error as e:
    print("refused")
held.pop().shutdown()
again = nbd.NBD(); again.connect_uri(uri)
assert again.pread(1, 0) == b"%d" % (n - 1)
again.shutdown()
for h in held: h.shutdown()
PYEOF
}

start_server "$tmp/s1" --filter=limit memory 1M
r="$(clients "$(nbd_uri "$tmp/s1")" 1)"
[[ "$r" == refused ]] || fail "limit=1 (default): second client was $r"
grep -q "limit=1: too many clients" "$tmp/server.log" || fail "no clear error in the server log"

start_server "$tmp/s2" --filter=limit memory 1M limit=2
r="$(clients "$(nbd_uri "$tmp/s2")" 2)"
[[ "$r" == refused ]] || fail "limit=2: third client was $r"
start_server "$tmp/s2b" --filter=limit memory 1M limit=2
r="$(clients "$(nbd_uri "$tmp/s2b")" 1)"
[[ "$r" == ok ]] || fail "limit=2: second client was $r"

start_server "$tmp/s0" --filter=limit memory 1M limit=0
r="$(clients "$(nbd_uri "$tmp/s0")" 5)"
[[ "$r" == ok ]] || fail "limit=0: sixth client was $r"

# The server is still there and serving after refusing.
nbdsh -u "$(nbd_uri "$tmp/s1")" -c 'assert h.pread(1, 0) == b"0"'
