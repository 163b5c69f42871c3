#!/usr/bin/env bash
# exitwhen: the server exits within the poll interval of an event (file
# created, file deleted, pipe closed, script true); a connected client is
# served to the end first while new clients are refused.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

# gone_within SECS: wait for $server_pid to exit; fail after SECS.
gone_within() {
    local i
    for i in $(seq $(( $1 * 10 ))); do
        kill -0 "$server_pid" 2>/dev/null || return 0
        sleep 0.1
    done
    fail "server still running $1 s after the event"
}

# file-created, no client: exits within a poll interval or two.
start_server "$tmp/s1" --filter=exitwhen memory 1M \
    exitwhen=file-created:"$tmp/stop1" exitwhen-poll=0.2
sleep 1
server_alive "$server_pid"
nbdsh -u "$(nbd_uri "$tmp/s1")" -c 'h.pread(512, 0)'
server_alive "$server_pid"
touch "$tmp/stop1"
gone_within 3

# file-created while a client is connected: the client goes on being
# served, a newcomer is refused, and the exit follows the client's leaving.
start_server "$tmp/s2" --filter=exitwhen memory 1M \
    exitwhen=file-created:"$tmp/stop2" exitwhen-poll=0.2
nbdpy "$(nbd_uri "$tmp/s2")" "$tmp/stop2" "$server_pid" <<'PYEOF'
import os, sys, time, nbd
uri, stopfile, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
h = nbd.NBD(); h.connect_uri(uri)
h.pwrite(b"k" * 512, 0)
open(stopfile, "w").close()
time.sleep(1.5)                        # several poll intervals
os.kill(pid, 0)                        # server still there
assert h.pread(512, 0) == b"k" * 512   # and still serving us
late = nbd.NBD()
try:
    late.connect_uri(uri)
    raise SystemExit("a new client was admitted after the event")
except nbd.Error:
    pass
h.shutdown()
PYEOF
gone_within 3
grep -q "exitwhen: the server is exiting" "$tmp/server.log" || fail "no refusal message"

# file-deleted.
touch "$tmp/keep"
start_server "$tmp/s3" --filter=exitwhen memory 1M \
    exitwhen=file-deleted:"$tmp/keep" exitwhen-poll=0.2
sleep 0.5; server_alive "$server_pid"
rm "$tmp/keep"
gone_within 3

# script (true when it exits 0), given with another event that never
# happens: any one suffices.
start_server "$tmp/s4" --filter=exitwhen memory 1M \
    exitwhen=file-created:"$tmp/never" \
    exitwhen="script:test -e '$tmp/go'" exitwhen-poll=0.2
sleep 0.5; server_alive "$server_pid"
touch "$tmp/go"
gone_within 3

# pipe-closed: the server holds the read end of a FIFO on fd 3; the
# writer going away is the event.
mkfifo "$tmp/fifo"
sleep 60 >"$tmp/fifo" &
writer=$!
on_exit "kill $writer 2>/dev/null"
start_server "$tmp/s5" --filter=exitwhen memory 1M \
    exitwhen=pipe-closed:3 exitwhen-poll=0.2 3<"$tmp/fifo"
sleep 0.5; server_alive "$server_pid"
kill "$writer"
gone_within 3

# A client that arrives after the event but before the watcher's next
# poll (an hour away here) is refused too: connections check for
# themselves, with nbdkit's key spelling.
start_server "$tmp/s6" --filter=exitwhen memory 1M \
    exit-when-file-created="$tmp/stop6" exit-when-poll=3600
nbdpy "$(nbd_uri "$tmp/s6")" "$tmp/stop6" <<'PYEOF'
import sys, nbd
uri, stopfile = sys.argv[1], sys.argv[2]
h = nbd.NBD(); h.connect_uri(uri)
h.pwrite(b"e" * 512, 0)
open(stopfile, "w").close()
late = nbd.NBD()
try:
    late.connect_uri(uri)
    raise SystemExit("a client was admitted after the event, before a poll")
except nbd.Error:
    pass
assert h.pread(512, 0) == b"e" * 512
h.shutdown()
PYEOF
gone_within 5

expect_fail bk --filter=exitwhen memory 1M exitwhen=sometime --run true 2>"$tmp/err"
grep -q "exitwhen=sometime" "$tmp/err" || fail "error does not name exitwhen=sometime"
:
