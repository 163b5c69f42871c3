#!/usr/bin/env bash
# The stats filter: after a known workload the summary, written when the
# server exits, has the right counts and bytes per operation;
# statsthreshold omits rare operations; statsappend keeps old summaries;
# statsdisconnect also writes one when a client disconnects.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

workload='
for i in range(10): h.pread(4096, i * 4096)
for i in range(5): h.pwrite(b"w" * 65536, i * 65536)
h.zero(131072, 0)
h.trim(4096, 0)
h.flush()
'
bk --filter=stats memory 1M statsfile="$tmp/stats" \
    --run "nbdsh -u \"\$uri\" -c '$workload'"
cat "$tmp/stats"
want() { grep -Eq "$1" "$tmp/stats" || fail "no line matching: $1"; }
want '^elapsed time: [0-9.]+ s, 18 requests$'
want '^read: 10 ops, 0 errors, 40960 bytes \(40\.0 KiB\), [0-9.]+ s, .* while busy, .* overall$'
want '^write: 5 ops, 0 errors, 327680 bytes \(320\.0 KiB\), '
want '^zero: 1 ops, 0 errors, 131072 bytes '
want '^trim: 1 ops, 0 errors, 4096 bytes '
want '^flush: 1 ops, 0 errors, 0 bytes, [0-9.]+ s$'
grep -Eq '^(extents|cache):' "$tmp/stats" && fail "unused operations listed"

# statsthreshold=20: only operations with >= 20% of the requests (read
# has 10/18, write 5/18 = 27.8%); statsappend adds a second summary.
bk --filter=stats memory 1M statsfile="$tmp/stats" statsthreshold=20 \
    statsappend=true --run "nbdsh -u \"\$uri\" -c '$workload'"
[[ $(grep -c '^elapsed time' "$tmp/stats") -eq 2 ]] || fail "statsappend"
tail -n 3 "$tmp/stats" | grep -q '^read: 10 ops' || fail "threshold: read"
tail -n 3 "$tmp/stats" | grep -q '^write: 5 ops' || fail "threshold: write"
tail -n 2 "$tmp/stats" | grep -Eq '^(zero|trim|flush):' &&
    fail "threshold: rare operations listed"

# Failed requests are counted as errors (error filter below).
bk --filter=stats --filter=error memory 1M statsfile="$tmp/stats" \
    error-pread-rate=1 --run 'nbdsh -u "$uri" -c "
for i in range(3):
    try:
        h.pread(512, 0)
    except nbd.Error:
        pass
"'
grep -q '^read: 3 ops, 3 errors, 1536 bytes' "$tmp/stats" ||
    fail "errors: $(cat "$tmp/stats")"

# statsdisconnect: the totals so far after each client; default stderr.
start_server "$tmp/sock" --filter=stats memory 1M statsdisconnect=true
pid=$server_pid
nbdsh -u "$(nbd_uri "$tmp/sock")" -c 'h.pread(512, 0)'
nbdsh -u "$(nbd_uri "$tmp/sock")" -c 'h.pread(512, 0)'
for i in $(seq 50); do
    grep -q '^read: 2 ops' "$tmp/server.log" && break
    sleep 0.1
done
grep -q '^read: 1 ops, 0 errors, 512 bytes' "$tmp/server.log" ||
    fail "no summary after the first client"
grep -q '^read: 2 ops, 0 errors, 1024 bytes' "$tmp/server.log" ||
    fail "no summary after the second client"
stop_server "$pid"
[[ $(grep -c '^elapsed time' "$tmp/server.log") -eq 3 ]] ||
    fail "no final summary on stderr: $(cat "$tmp/server.log")"

expect_fail bk --filter=stats memory 1M statsthreshold=120 --run true \
    2>"$tmp/err"
grep -q statsthreshold "$tmp/err" || fail "bad statsthreshold not reported"
echo OK
