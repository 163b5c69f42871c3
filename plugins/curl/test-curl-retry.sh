#!/usr/bin/env bash
# The curl plugin when the web server goes away, with a real nginx:
#   - without the retry filter a read fails at once with EIO, and the
#     server's message names the URL and the connection failure; once
#     nginx is back, the same NBD connection reads again (the pooled
#     handles reconnect by themselves);
#   - under --filter=retry, nginx stopped in the middle of a run and
#     restarted 2 s later: the read in progress waits, then succeeds with
#     the right data, and the rest of the image reads back intact;
#   - timeout=: a server that accepts connections but never answers
#     (nginx SIGSTOPped) fails the read with EIO after about that long
#     instead of hanging it.
source "$abs_top_srcdir/tests/functions.sh"
source "$srcdir/curl-test-lib.sh"
requires_nbdsh

make_image "$www/disk.img" 2
start_nginx
url="http://127.0.0.1:$http_port/disk.img"

cat >"$tmp/lib.py" <<'EOF'
import os, time, nbd
tmp = os.environ["tmp"]
data = open(tmp + "/www/disk.img", "rb").read()
h = nbd.NBD()
h.connect_unix(os.environ["sock"])
def check(off, n):
    assert h.pread(n, off) == data[off:off + n], (off, n)
def handshake(mine, theirs):
    """Says MINE to the shell, then waits until it says THEIRS."""
    open(tmp + "/" + mine, "w").close()
    for _ in range(300):
        if os.path.exists(tmp + "/" + theirs):
            return
        time.sleep(0.05)
    raise SystemExit("the shell never said " + theirs)
EOF

# wait_for FILE: the python side's signal.
wait_for() {
    local i
    for i in $(seq 300); do [[ -e "$tmp/$1" ]] && return 0; sleep 0.05; done
    fail "python never said $1"
}

# No retry filter: EIO at once, then fine again.
start_server "$tmp/plain.sock" curl "$url"
sock="$tmp/plain.sock" nbdpy <<'EOF' &
import os
exec(open(os.environ["tmp"] + "/lib.py").read())
check(0, 65536)
handshake("p-stop", "p-stopped")
t = time.monotonic()
try:
    h.pread(65536, 65536)
    raise SystemExit("a read succeeded with nginx stopped")
except nbd.Error as e:
    assert e.errno == "EIO", e
assert time.monotonic() - t < 5, "the failure took %.1f s" % (time.monotonic() - t)
handshake("p-failed", "p-restarted")
check(65536, 65536)
check(1048576, 1048576)
EOF
py=$!
wait_for p-stop
stop_nginx
touch "$tmp/p-stopped"
wait_for p-failed
start_nginx
touch "$tmp/p-restarted"
wait "$py" || fail "without retry"
grep -q "curl: $url: reading 65536 bytes at offset 65536: .*Couldn't connect to server\|curl: $url: reading 65536 bytes at offset 65536: .*Connection refused" \
    "$tmp/server.log" || { cat "$tmp/server.log"; fail "no clear message for a stopped server"; }

# Under the retry filter: stopped mid-run, restarted 2 s later.
start_server "$tmp/retry.sock" --filter=retry curl "$url" \
    retries=20 retry-delay=0.5 retry-exponential=no
sock="$tmp/retry.sock" nbdpy <<'EOF' &
import os
exec(open(os.environ["tmp"] + "/lib.py").read())
for off in range(0, 524288, 65536):
    check(off, 65536)
handshake("r-stop", "r-stopped")
t = time.monotonic()
check(524288, 262144)           # waits out the restart
waited = time.monotonic() - t
assert waited >= 1.5, "the read did not wait for nginx (%.1f s)" % waited
for off in range(0, len(data), 262144):
    check(off, 262144)
print("the read across the restart waited %.1f s" % waited)
EOF
py=$!
wait_for r-stop
stop_nginx
touch "$tmp/r-stopped"
sleep 2
start_nginx
wait "$py" || { cat "$tmp/server.log"; fail "under the retry filter"; }

# timeout=: nginx accepts (the kernel does) but never answers.
start_server "$tmp/timeout.sock" curl "$url" timeout=2
stopped=("$nginx_pid" $(pgrep -P "$nginx_pid"))
on_exit "kill -CONT ${stopped[*]} 2>/dev/null"
sock="$tmp/timeout.sock" nbdpy <<'EOF' &
import os
exec(open(os.environ["tmp"] + "/lib.py").read())
check(0, 4096)
handshake("t-stop", "t-stopped")
t = time.monotonic()
try:
    h.pread(65536, 1048576)
    raise SystemExit("a read succeeded from a stopped nginx")
except nbd.Error as e:
    assert e.errno == "EIO", e
took = time.monotonic() - t
assert 1.5 <= took < 6, "timeout=2 took %.1f s" % took
print("timeout=2: EIO after %.1f s" % took)
EOF
py=$!
wait_for t-stop
kill -STOP "${stopped[@]}"
touch "$tmp/t-stopped"
wait "$py" || fail "timeout="
kill -CONT "${stopped[@]}"
grep -q "curl: $url: reading 65536 bytes at offset 1048576: .*[Tt]imeout\|timed out" \
    "$tmp/server.log" || { cat "$tmp/server.log"; fail "no timeout message"; }
exit 0
