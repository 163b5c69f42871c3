#!/usr/bin/env bash
# Parallel reads through the curl plugin:
#   - fio with its nbd engine, four jobs (four NBD connections) with
#     eight requests in flight each, random 64K reads of an image that
#     fio wrote with its crc32c verify headers, served by a real nginx:
#     every block's checksum and offset are verified, so a read answered
#     with another read's data, or from the wrong offset, fails;
#   - that requests really run in parallel: against a server that
#     answers each GET after 0.4 s, six reads in flight finish in two
#     rounds with connections=4 (the server sees 4 GETs at once) and
#     take six rounds with connections=1 (it never sees two).
source "$abs_top_srcdir/tests/functions.sh"
source "$srcdir/curl-test-lib.sh"
requires fio
requires_nbdsh
fio --enghelp=nbd >/dev/null 2>&1 || skip "fio has no nbd engine"

# fio's own verify pattern, written locally, then read through nginx.
job=(--size=8M --numjobs=4 --offset_increment=8M --bs=64k
     --verify=crc32c --randrepeat=1 --group_reporting)
fio --name=write --filename="$www/fio.img" --rw=randwrite \
    --ioengine=psync --do_verify=0 "${job[@]}" >"$tmp/fio-write.log" ||
    fail "fio could not write the image"
start_nginx
start_server "$tmp/sock" curl "http://127.0.0.1:$http_port/fio.img"
uri="$(nbd_uri "$tmp/sock")"
fio --name=verify --ioengine=nbd --uri="$uri" --rw=randread --iodepth=8 \
    "${job[@]}" >"$tmp/fio-read.log" 2>&1 ||
    { cat "$tmp/fio-read.log"; fail "fio verify through the curl plugin"; }
grep -q "err= 0" "$tmp/fio-read.log" || { cat "$tmp/fio-read.log"; fail "fio reported errors"; }
# Large sequential requests too (1M, each one Range request).
fio --name=seq --ioengine=nbd --uri="$uri" --rw=read --iodepth=4 \
    --bs=1M --size=32M --verify=crc32c --verify_interval=64k \
    --randrepeat=1 >"$tmp/fio-seq.log" 2>&1 ||
    { cat "$tmp/fio-seq.log"; fail "fio 1M reads"; }
gets=$(grep -c '^GET /fio.img HTTP/1.1|bytes=' "$tmp/nginx/access.log")
# 4 x 128 random reads and 32 sequential ones, plus the startup check.
(( gets >= 4 * 128 + 32 )) || fail "only $gets Range GETs reached nginx"
stop_server "$server_pid"

# Reads in flight really are on the wire at once.
make_image "$tmp/small.img" 1
start_pyserver slow slow "$tmp/small.img" 0.4
slow_url="http://127.0.0.1:$py_port/small.img"

# in_flight CONNECTIONS: sets $secs (for 6 reads) and $max (GETs at
# once).  Not in a subshell: a failure there would run the test's exit
# cleanup early.
in_flight() {
    local sock="$tmp/slow$1.sock" t0 t1
    start_server "$sock" curl "$slow_url" connections="$1"
    : >"$tmp/slow.log"
    t0=$(date +%s.%N)
    sock="$sock" nbdpy <<'EOF' || { cat "$tmp/server.log" "$tmp/slow.err" >&2; fail "aio reads"; }
import os, nbd
h = nbd.NBD()
h.connect_unix(os.environ["sock"])
data = open(os.environ["tmp"] + "/small.img", "rb").read()
bufs = [nbd.Buffer(4096) for _ in range(6)]
cookies = [h.aio_pread(bufs[i], i * 65536) for i in range(6)]
while h.aio_in_flight() > 0:
    h.poll(-1)
for c in cookies:
    assert h.aio_command_completed(c)   # raises if the read failed
for i in range(6):
    assert bufs[i].to_bytearray() == data[i * 65536:i * 65536 + 4096], i
EOF
    t1=$(date +%s.%N)
    stop_server "$server_pid"
    max=$("$PYTHON" -c 'import json, sys
print(max(json.loads(l)["in_flight"] for l in open(sys.argv[1])))' "$tmp/slow.log")
    secs=$(awk "BEGIN { print $t1 - $t0 }")
    echo "connections=$1: 6 reads in $secs s, at most $max GETs at once"
}
# What the server saw at once is the proof; the time only has to beat
# one at a time (2.4 s), so that a loaded CI machine does not fail it.
in_flight 4
[[ "$max" == 4 ]] || fail "connections=4: the server saw $max GETs at once"
awk "BEGIN { exit !($secs < 2.4) }" ||
    fail "connections=4: 6 reads of 0.4 s took $secs s"
in_flight 1
[[ "$max" == 1 ]] || fail "connections=1: the server saw $max GETs at once"
awk "BEGIN { exit !($secs >= 2.3) }" ||
    fail "connections=1: 6 reads of 0.4 s took only $secs s"
exit 0
