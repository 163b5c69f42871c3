#!/usr/bin/env bash
# The nbd plugin in front of real servers (Debian's nbdkit and blockkit
# itself, on Unix sockets): bytes copied through it byte for byte, the
# remote's map and every capability passed through, FUA/trim/zero/cache
# flags arriving at the remote, connections=N and shared=true under
# parallel nbdcopy and fio runs, the URI shortcut (blockkit and nbdattach),
# a remote killed under running clients giving errors within seconds, and
# the retry filter riding over a remote restart.
source "${srcdir:-$(dirname "$0")}/functions.sh"
is_blockkit || skip "the nbd plugin's extra keys are blockkit's"
requires nbdkit
requires nbdinfo
requires nbdcopy
requires_nbdsh

# start_nbdkit SOCKET ARGS...: Debian's nbdkit as the remote server.
start_nbdkit() {
    local sock="$1"; shift
    rm -f "$sock" "$sock.pid"
    nbdkit -f -U "$sock" -P "$sock.pid" "$@" >>"$tmp/nbdkit.log" 2>&1 &
    _cleanup_pids+=("$!")
    local i
    for i in $(seq 100); do
        [[ -s "$sock.pid" && -S "$sock" ]] && break
        sleep 0.1
    done
    [[ -s "$sock.pid" && -S "$sock" ]] || {
        cat "$tmp/nbdkit.log" >&2; fail "nbdkit did not start: $*"; }
    nbdkit_pid="$(cat "$sock.pid")"
}

# The capabilities and block sizes a client sees, as JSON without the
# URI (which names the socket) and the protocol line.
caps() {
    nbdinfo --json "$1" | "$PYTHON" -c '
import json, sys
d = json.load(sys.stdin)["exports"][0]
d.pop("uri", None)
print(json.dumps(d, indent=2, sort_keys=True))'
}

# ---- 1. Bytes: a random image with holes, in and out again, byte for byte.
echo "== data passthrough"
head -c 6M /dev/urandom >"$tmp/in.img"
truncate -s 16M "$tmp/in.img"
dd if=/dev/urandom of="$tmp/in.img" bs=1M seek=11 count=3 conv=notrunc status=none
start_nbdkit "$tmp/r1" memory 16M
start_server "$tmp/p1" nbd socket="$tmp/r1"
nbdcopy --requests=32 "$tmp/in.img" "$(nbd_uri "$tmp/p1")"
nbdcopy "$(nbd_uri "$tmp/p1")" "$tmp/out-proxy.img"
nbdcopy "$(nbd_uri "$tmp/r1")" "$tmp/out-remote.img"
cmp "$tmp/in.img" "$tmp/out-proxy.img" || fail "bytes read through the proxy differ"
cmp "$tmp/in.img" "$tmp/out-remote.img" || fail "bytes that reached the remote differ"
# qemu's own NBD client through the proxy, too.
if type -P qemu-img >/dev/null; then
    qemu-img convert -f raw -O raw "$(nbd_uri "$tmp/p1")" "$tmp/out-qemu.img"
    cmp "$tmp/in.img" "$tmp/out-qemu.img" || fail "qemu-img read different bytes"
fi

# ---- 2. The map: exactly the remote's own, both full and REQ_ONE.
echo "== extents"
nbdsh -u "$(nbd_uri "$tmp/p1")" -c '
h.zero(2 << 20, 7 << 20, nbd.CMD_FLAG_NO_HOLE)   # allocated zeroes
h.trim(1 << 20, 2 << 20)                          # a hole in the data
'
nbdinfo --map "$(nbd_uri "$tmp/p1")" >"$tmp/map-proxy"
nbdinfo --map "$(nbd_uri "$tmp/r1")" >"$tmp/map-remote"
cat "$tmp/map-proxy"
diff -u "$tmp/map-remote" "$tmp/map-proxy" || fail "the proxy's map differs"
[[ $(wc -l <"$tmp/map-proxy") -ge 3 ]] || fail "the map is too simple to tell"
nbdpy "$(nbd_uri "$tmp/p1")" "$(nbd_uri "$tmp/r1")" <<'PYEOF'
import sys, nbd
def first(uri):
    h = nbd.NBD(); h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    h.connect_uri(uri)
    got = []
    def cb(ctx, off, ents, err): got.extend(ents)
    h.block_status(4 << 20, (2 << 20) + 512, cb, nbd.CMD_FLAG_REQ_ONE)
    h.shutdown()
    return got[:2]
a, b = first(sys.argv[1]), first(sys.argv[2])
print("REQ_ONE", a, b)
assert a == b, (a, b)
PYEOF

# ---- 3. Capabilities, block sizes, description: the remote's.
echo "== capabilities"
n=0
for remote in "memory 8M" \
              "-r pattern 8M" \
              "null 8M" \
              "--filter=nozero --filter=nocache --filter=multi-conn memory 8M zeromode=none cachemode=none multi-conn-mode=disable" \
              "eval get_size='echo 8388608' pwrite='cat >/dev/null' pread='dd if=/dev/zero count=\$3 iflag=count_bytes status=none'" \
              "--filter=blocksize-policy --filter=exportname memory 8M blocksize-minimum=512 blocksize-preferred=8192 blocksize-maximum=1M exportdesc=fixed:the-description"
do
    n=$((n + 1))
    eval "start_nbdkit \"\$tmp/c$n\" $remote"
    start_server "$tmp/cp$n" nbd socket="$tmp/c$n"
    caps "$(nbd_uri "$tmp/c$n")" >"$tmp/caps-remote"
    caps "$(nbd_uri "$tmp/cp$n")" >"$tmp/caps-proxy"
    # A remote that states no block sizes: blockkit itself then states
    # its defaults (1, 4096, 64M), which is the server's business.
    if ! grep -q block_size_minimum "$tmp/caps-remote"; then
        "$PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("block_size_minimum", "block_size_preferred", "block_size_maximum"):
    d.pop(k, None)
print(json.dumps(d, indent=2, sort_keys=True))' "$tmp/caps-proxy" >"$tmp/caps-proxy2"
        mv "$tmp/caps-proxy2" "$tmp/caps-proxy"
    fi
    # A plugin cannot say "no zero" (the plugin API's can_zero false means
    # "emulate"): the server then zeroes with writes, as nbdkit's does.
    if grep -q '"can_zero": false' "$tmp/caps-remote" &&
       grep -q '"is_read_only": false' "$tmp/caps-remote"; then
        grep -q '"can_zero": true' "$tmp/caps-proxy" ||
            fail "zero is neither passed through nor emulated"
        sed -i 's/"can_zero": true/"can_zero": false/' "$tmp/caps-proxy"
        nbdsh -u "$(nbd_uri "$tmp/cp$n")" -c '
h.pwrite(b"\xff" * 8192, 0)
h.zero(4096, 2048)
assert h.pread(8192, 0) == b"\xff" * 2048 + bytes(4096) + b"\xff" * 2048'
    fi
    diff -u "$tmp/caps-remote" "$tmp/caps-proxy" ||
        fail "capabilities differ for remote: nbdkit $remote"
    echo "ok: $remote"
done
grep -q '"block_size_preferred": 8192' "$tmp/caps-proxy" ||
    fail "block sizes not passed through"
grep -q 'the-description' "$tmp/caps-proxy" ||
    fail "the export description was not passed through"

# ---- 4. Flags arrive at the remote: FUA, fast zero, may-trim, trim, cache,
# flush, REQ_ONE.  nbdkit's log filter records what it received.
echo "== flags"
start_nbdkit "$tmp/r4" --filter=log memory 8M logfile="$tmp/r4.log"
start_server "$tmp/p4" nbd socket="$tmp/r4"
nbdsh -u "$(nbd_uri "$tmp/p4")" -c '
h.pwrite(b"x" * 4096, 0, nbd.CMD_FLAG_FUA)
h.zero(65536, 65536, nbd.CMD_FLAG_FAST_ZERO)
h.zero(65536, 131072, nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FUA)
h.trim(4096, 8192, nbd.CMD_FLAG_FUA)
h.cache(4096, 0)
h.flush()
assert h.pread(4096, 0) == b"x" * 4096
'
nbdpy "$(nbd_uri "$tmp/p4")" <<'PYEOF'
import sys, nbd
h = nbd.NBD(); h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_uri(sys.argv[1])
h.block_status(65536, 0, lambda *a: 0, nbd.CMD_FLAG_REQ_ONE)
h.shutdown()
PYEOF
for want in "Write id=[0-9]* offset=0x0 count=0x1000 fua=1" \
            "Zero id=[0-9]* offset=0x10000 count=0x10000 trim=1 fua=0 fast=1" \
            "Zero id=[0-9]* offset=0x20000 count=0x10000 trim=0 fua=1 fast=0" \
            "Trim id=[0-9]* offset=0x2000 count=0x1000 fua=1" \
            "Cache id=[0-9]* offset=0x0 count=0x1000" \
            "Flush id=" \
            "Extents id=[0-9]* offset=0x0 count=0x10000 req_one=1"
do
    grep -q "$want" "$tmp/r4.log" || {
        cat "$tmp/r4.log"; fail "the remote did not receive: $want"; }
done
# A fast zero the remote cannot do fast fails with ENOTSUP, not EIO.
start_nbdkit "$tmp/r4c" --filter=nozero memory 8M zeromode=plugin fastzeromode=slow
start_server "$tmp/p4c" nbd socket="$tmp/r4c"
nbdsh -u "$(nbd_uri "$tmp/p4c")" -c '
assert h.can_fast_zero()
try:
    h.zero(4096, 0, nbd.CMD_FLAG_FAST_ZERO)
    raise SystemExit("a slow fast zero succeeded")
except nbd.Error as e:
    import errno
    assert e.errnum == errno.ENOTSUP, e
h.zero(4096, 0)
'

# ---- 5. connections=4: four remote connections per client, requests
# spread over them, data intact under a parallel nbdcopy and fio.
echo "== connections=4"
start_nbdkit "$tmp/r5" --filter=log memory 64M logfile="$tmp/r5.log"
start_server "$tmp/p5" nbd socket="$tmp/r5" connections=4
head -c 64M /dev/urandom >"$tmp/in5.img"
nbdcopy --connections=2 --requests=64 "$tmp/in5.img" "$(nbd_uri "$tmp/p5")"
nbdcopy --connections=2 "$(nbd_uri "$tmp/p5")" "$tmp/out5.img"
cmp "$tmp/in5.img" "$tmp/out5.img" || fail "connections=4: data differs"
# nbdcopy opens each of its connections (the first is also asked about
# the export first); each is four at the remote, all used.
conns=$(grep -c ' Connect ' "$tmp/r5.log")
(( conns % 4 == 0 && conns >= 8 )) ||
    fail "connections=4: the remote saw $conns connections"
used=$(grep -o '^[^ ]* [^ ]* connection=[0-9]* Write' "$tmp/r5.log" |
       awk '{print $3}' | sort -u | wc -l)
(( used >= 4 )) || fail "connections=4: writes used only $used connections"
if type -P fio >/dev/null && fio --enghelp=nbd >/dev/null 2>&1; then
    (cd "$tmp" && fio --name=c4 --ioengine=nbd --uri="$(nbd_uri "$tmp/p5")" \
        --rw=randwrite --size=16M --bs=4k --iodepth=32 --numjobs=2 \
        --offset_increment=16M --verify=crc32c --do_verify=1 \
        --verify_fatal=1 --group_reporting --output-format=json \
        --output="$tmp/fio5.json") || fail "fio through connections=4"
    "$PYTHON" -c 'import json, sys
sys.exit(json.load(open(sys.argv[1]))["jobs"][0]["error"] != 0)' "$tmp/fio5.json" ||
        fail "fio reported an error"
else
    echo "(fio's nbd engine is not available: nbdcopy only)"
fi
# A remote without multi-conn gets one connection per client: spreading a
# client over several would break its view of its own writes.
start_nbdkit "$tmp/r5b" --filter=log --filter=multi-conn memory 8M \
    multi-conn-mode=disable logfile="$tmp/r5b.log"
start_server "$tmp/p5b" nbd socket="$tmp/r5b" connections=4
nbdinfo --can multi-conn "$(nbd_uri "$tmp/p5b")" &&
    fail "multi-conn advertised although the remote has none"
[[ $(grep -c ' Connect ' "$tmp/r5b.log") -eq 1 ]] ||
    fail "connections=4 without the remote's multi-conn made several"

# Many requests in flight on ONE remote connection: the remote (a delay
# under its log) sees a read begin before the earlier ones have returned.
start_nbdkit "$tmp/r5c" --filter=log --filter=delay pattern 64M rdelay=20ms \
    logfile="$tmp/r5c.log"
start_server "$tmp/p5c" nbd socket="$tmp/r5c"
nbdcopy --connections=1 --requests=16 "$(nbd_uri "$tmp/p5c")" null:
"$PYTHON" - "$tmp/r5c.log" <<'PYEOF'
import re, sys
conns, out, most = set(), 0, 0
for line in open(sys.argv[1]):
    m = re.search(r"connection=(\d+) (\.\.\.)?Read id=", line)
    if not m:
        continue
    conns.add(m.group(1))
    out += -1 if m.group(2) else 1
    most = max(most, out)
print("reads in flight on one remote connection: at most", most)
assert len(conns) == 1, conns
assert most >= 8, most
PYEOF

# ---- 6. shared=true: one set of connections, made at startup, for all.
echo "== shared=true"
start_nbdkit "$tmp/r6" --filter=log memory 64M logfile="$tmp/r6.log"
start_server "$tmp/p6" nbd socket="$tmp/r6" shared=true connections=2
[[ $(grep -c ' Connect ' "$tmp/r6.log") -eq 2 ]] ||
    fail "shared=true connections=2: not 2 connections at startup"
head -c 32M /dev/urandom >"$tmp/a6.img"
head -c 32M /dev/urandom >"$tmp/b6.img"
# Two clients at once, each with several connections, disjoint halves.
nbdpy "$(nbd_uri "$tmp/p6")" "$tmp/a6.img" "$tmp/b6.img" <<'PYEOF'
import sys, threading, nbd
uri, a, b = sys.argv[1:4]
def put(path, off):
    h = nbd.NBD(); h.connect_uri(uri)
    data = open(path, "rb").read()
    for i in range(0, len(data), 1 << 20):
        h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(data[i:i + (1 << 20)])),
                     off + i)
        while h.aio_in_flight() > 16: h.poll(-1)
    while h.aio_in_flight() > 0: h.poll(-1)
    h.flush(); h.shutdown()
t = [threading.Thread(target=put, args=(a, 0)),
     threading.Thread(target=put, args=(b, 32 << 20))]
[x.start() for x in t]; [x.join() for x in t]
PYEOF
cat "$tmp/a6.img" "$tmp/b6.img" >"$tmp/ab6.img"
nbdcopy --connections=4 "$(nbd_uri "$tmp/p6")" "$tmp/out6.img"
cmp "$tmp/ab6.img" "$tmp/out6.img" || fail "shared=true: data differs"
nbdinfo --can multi-conn "$(nbd_uri "$tmp/p6")" ||
    fail "shared=true does not advertise multi-conn"
[[ $(grep -c ' Connect ' "$tmp/r6.log") -eq 2 ]] ||
    fail "shared=true: clients made new remote connections"

# ---- 7. The URI shortcut, with an export name, and its errors.
echo "== URI shortcut"
mkdir "$tmp/exports"
truncate -s 3M "$tmp/exports/three"
truncate -s 5M "$tmp/exports/five"
start_server "$tmp/r7" file dir="$tmp/exports"
size=$(bk -U - "nbd+unix:///five?socket=$tmp/r7" --run 'nbdinfo --size "$uri"')
[[ "$size" == 5242880 ]] || fail "URI shortcut: size $size"
size=$(bk -U - nbd "nbd+unix:///three?socket=$tmp/r7" --run 'nbdinfo --size "$uri"')
[[ "$size" == 3145728 ]] || fail "magic uri key: size $size"
size=$(bk -U - nbd socket="$tmp/r7" export=three --run 'nbdinfo --size "$uri"')
[[ "$size" == 3145728 ]] || fail "export=: size $size"
# dynamic-export=true: the client's export name and the remote's list.
start_server "$tmp/p7" nbd socket="$tmp/r7" dynamic-export=true
nbdinfo --list --json "$(nbd_uri "$tmp/p7")" | "$PYTHON" -c '
import json, sys
got = sorted((e["export-name"], e["export-size"])
             for e in json.load(sys.stdin)["exports"])
assert got == [("five", 5 << 20), ("three", 3 << 20)], got'
[[ $(nbdinfo --size "$(nbd_uri "$tmp/p7" three)") == 3145728 ]] ||
    fail "dynamic-export: three"
[[ $(nbdinfo --size "$(nbd_uri "$tmp/p7" five)") == 5242880 ]] ||
    fail "dynamic-export: five"
expect_fail nbdinfo --size "$(nbd_uri "$tmp/p7" nope)" 2>/dev/null
grep -q "export \"nope\":.*no export named" "$tmp/server.log" ||
    fail "dynamic-export: no message for a missing export"
# The URI's export is replaced by the client's.
size=$(bk -U - "nbd+unix:///three?socket=$tmp/r7" dynamic-export=true \
          --run 'nbdinfo --size "nbd+unix:///five?socket=$unixsocket"')
[[ "$size" == 5242880 ]] || fail "dynamic-export with a URI: $size"
bk "nbd+unix:///five?socket=$tmp/r7" --dump-plugin | grep -q '^libnbd_uri=1' ||
    fail "--dump-plugin through a URI"
# http(s):// picks the curl plugin (which fails here: no such host).
out=$(bk -U - "https://example.invalid/disk.img" 2>&1) && fail "https:// was accepted"
grep -q "curl: https://example.invalid/disk.img:" <<<"$out" || fail "https://: not the curl plugin: $out"
out=$(bk -U - "gopher://example.invalid/x" 2>&1) && fail "gopher:// was accepted"
grep -q 'unknown URI scheme "gopher"' <<<"$out" || fail "gopher://: $out"
out=$(bk -U - nbd uri=http://x/ 2>&1) && fail "uri=http:// was accepted"
grep -q "not an NBD URI" <<<"$out" || fail "uri=http://: $out"
out=$(bk -U - nbd socket=/x hostname=y 2>&1) && fail "two addresses accepted"
grep -q "give only one" <<<"$out" || fail "two addresses: $out"
out=$(bk -U - nbd export=x 2>&1) && fail "no address accepted"
grep -q "say where the NBD server is" <<<"$out" || fail "no address: $out"
out=$(bk -U - nbd "nbds+unix:///?socket=/x" tls=off 2>&1) && fail "nbds with tls=off"
grep -q "requires TLS" <<<"$out" || fail "nbds with tls=off: $out"
# nbdattach takes the same URI (its chain is loaded by the same code):
# the errors come before anything touches the kernel.
top_build="${abs_top_builddir:-$builddir/..}"
na="$top_build/nbdattach/nbdattach"
[[ -x "$na" ]] || fail "nbdattach not built"
out=$(BLOCKKIT_PLUGIN_PATH="$top_build/plugins" \
      BLOCKKIT_FILTER_PATH="$top_build/filters" timeout 20 "$na" \
      "https://example.invalid/x" 2>&1) && fail "nbdattach accepted https://"
grep -q "curl: https://example.invalid/x:" <<<"$out" || fail "nbdattach https://: $out"
out=$(BLOCKKIT_PLUGIN_PATH="$top_build/plugins" BLOCKKIT_FILTER_PATH="$top_build/filters" timeout 20 "$na" \
      "nbd+unix:///x?socket=$tmp/r7" tls=maybe 2>&1) &&
    fail "nbdattach accepted tls=maybe"
grep -q "tls=maybe: expected off, on or require" <<<"$out" ||
    fail "nbdattach: the nbd plugin did not get the URI: $out"
# A configuration file naming a URI as its plugin (checked, not attached).
cat >"$tmp/remote.conf" <<EOF
plugin = nbd+unix:///five?socket=$tmp/r7
connections = 2
EOF
out=$(BLOCKKIT_PLUGIN_PATH="$top_build/plugins" BLOCKKIT_FILTER_PATH="$top_build/filters" timeout 20 "$na" \
      --check-config "$tmp/remote.conf" 2>&1) ||
    fail "nbdattach --check-config with a URI plugin: $out"
echo "$out"
grep -q "nbd+unix:///five" <<<"$out" || fail "--check-config lost the URI"

# ---- 8. The remote dies (kill -9) under running clients: errors within
# seconds, never a hang.
echo "== dead remote"
start_nbdkit "$tmp/r8" --filter=delay pattern 1G rdelay=20ms
remote8=$nbdkit_pid
start_server "$tmp/p8" nbd socket="$tmp/r8"
proxy8=$server_pid
nbdcopy --requests=16 "$(nbd_uri "$tmp/p8")" null: 2>"$tmp/copy8.err" &
copy=$!
nbdpy "$(nbd_uri "$tmp/p8")" "$tmp/killed8" "$tmp/connected8" <<'PYEOF' &
import time, os, sys, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
h.pread(4096, 0)
open(sys.argv[3], "w").close()
while not os.path.exists(sys.argv[2]): time.sleep(0.05)
t = time.time()
try:
    for i in range(100):
        h.pread(4096, i * 4096)
    raise SystemExit("reads went on after the remote was killed")
except nbd.Error as e:
    took = time.time() - t
    print("nbdsh got", e.string, "after %.2f s" % took)
    assert took < 5, took
t = time.time()
for i in range(3):
    try:
        h.pread(512, 0); raise SystemExit("a read worked on a dead remote")
    except nbd.Error as e:
        pass
assert time.time() - t < 1, "later requests did not fail at once"
PYEOF
sh=$!
# The remote dies once the client is connected and has read (on a busy
# machine that can take more than a second).
for i in $(seq 1 300); do [[ -e "$tmp/connected8" ]] && break; sleep 0.1; done
[[ -e "$tmp/connected8" ]] || fail "the nbdsh client did not connect within 30 s"
sleep 0.5
kill -9 "$remote8"
start=$SECONDS
touch "$tmp/killed8"
wait "$copy" && fail "nbdcopy succeeded although the remote was killed"
(( SECONDS - start <= 10 )) || fail "nbdcopy took $((SECONDS - start)) s to fail"
wait "$sh" || fail "nbdsh under a killed remote (see above)"
echo "nbdcopy failed after $((SECONDS - start)) s: $(tail -1 "$tmp/copy8.err")"
server_alive "$proxy8"
grep -q "has ended" "$tmp/server.log" || fail "no clear message in the log"
# A new client gets a clean error too: the remote is not there.
expect_fail nbdinfo --size "$(nbd_uri "$tmp/p8")" 2>/dev/null
grep -q "cannot connect to socket $tmp/r8" "$tmp/server.log" ||
    fail "no message naming the unreachable remote"

# ---- 9. The retry filter reopens once the remote is back.
echo "== retry filter"
truncate -s 32M "$tmp/disk9"
start_server "$tmp/r9" file "$tmp/disk9"
remote9=$server_pid
# (The delay filter keeps the copy below running long enough to be hit.)
start_server "$tmp/p9" --filter=retry --filter=delay nbd socket="$tmp/r9" \
    retries=30 retry-delay=0.5 retry-exponential=no rdelay=40ms
head -c 32M /dev/urandom >"$tmp/in9.img"
nbdcopy "$tmp/in9.img" "$(nbd_uri "$tmp/p9")"
restart9() {
    sleep "$1"
    rm -f "$tmp/r9" "$tmp/r9.pid"
    "$BLOCKKIT" -f -U "$tmp/r9" -P "$tmp/r9.pid" file "$tmp/disk9" \
        >>"$tmp/server.log" 2>&1 &
    echo $! >"$tmp/r9.newpid"
}
# A client in the middle of reading: the remote is killed, then back
# after 1.5 s; every read succeeds with the right bytes.
nbdpy "$(nbd_uri "$tmp/p9")" "$tmp/in9.img" "$tmp/kill9" <<'PYEOF' &
import sys, time, os, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
data = open(sys.argv[2], "rb").read()
for i in range(0, 32 << 20, 1 << 20):
    assert h.pread(1 << 20, i) == data[i:i + (1 << 20)], i
    if i == 8 << 20:
        open(sys.argv[3], "w").close()       # the signal to kill
        time.sleep(0.5)
print("all reads correct across the restart")
PYEOF
sh=$!
for i in $(seq 100); do [[ -e "$tmp/kill9" ]] && break; sleep 0.1; done
kill -9 "$remote9"
restart9 1.5
wait "$sh" || fail "reads through the retry filter failed across a restart"
_cleanup_pids+=("$(cat "$tmp/r9.newpid")")
# And a whole nbdcopy across another kill and restart.
remote9=$(cat "$tmp/r9.newpid")
nbdcopy --requests=8 "$(nbd_uri "$tmp/p9")" "$tmp/out9.img" &
copy=$!
# Kill once the copy is under way (some data written out), not before it
# has connected: the retry filter retries requests, not the first open.
for i in $(seq 200); do
    [[ -f "$tmp/out9.img" && $(stat -c %b "$tmp/out9.img") -gt 0 ]] && break
    sleep 0.05
done
kill -9 "$remote9"
restart9 1
wait "$copy" || fail "nbdcopy through the retry filter failed across a restart"
_cleanup_pids+=("$(cat "$tmp/r9.newpid")")
cmp "$tmp/in9.img" "$tmp/out9.img" || fail "retry: data differs"
# Both kills really hit a connection in use (and the retry filter reopened).
lost=$(grep -c "to socket $tmp/r9 has ended" "$tmp/server.log" || :)
(( lost >= 2 )) || fail "the remote's death was noticed $lost times, not 2"

# ---- 10. A remote that stops answering: timeout= gives up on it; a
# remote that accepts but never speaks: connect-timeout=.
echo "== timeout= and connect-timeout="
start_nbdkit "$tmp/r10" memory 8M
remote10=$nbdkit_pid
on_exit "kill -CONT $remote10"
start_server "$tmp/p10" nbd socket="$tmp/r10" timeout=2
nbdpy "$(nbd_uri "$tmp/p10")" "$tmp/stop10" <<'PYEOF' &
import sys, os, time, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
h.pread(512, 0)
open(sys.argv[2], "w").close()
time.sleep(0.5)                       # the remote is stopped meanwhile
t = time.time()
try:
    h.pread(512, 0)
    raise SystemExit("a read from a stopped remote succeeded")
except nbd.Error as e:
    took = time.time() - t
    print("stopped remote: %s after %.1f s" % (e.string, took))
    assert 1.5 < took < 8, took
PYEOF
sh=$!
for i in $(seq 100); do [[ -e "$tmp/stop10" ]] && break; sleep 0.1; done
kill -STOP "$remote10"
wait "$sh" || fail "timeout= did not end the wait for a stopped remote"
kill -CONT "$remote10"
grep -q "no reply within timeout=2 s" "$tmp/server.log" || fail "no timeout message"
"$PYTHON" -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)
time.sleep(120)' "$tmp/mute" &
_cleanup_pids+=("$!")
for i in $(seq 50); do [[ -S "$tmp/mute" ]] && break; sleep 0.1; done
start=$SECONDS
out=$(bk -U - nbd socket="$tmp/mute" connect-timeout=1 \
      --run 'nbdinfo --size "$uri"' 2>&1) && fail "a mute remote was accepted"
(( SECONDS - start < 20 )) || fail "connect-timeout=1 took $((SECONDS - start)) s"
grep -q "no answer within connect-timeout=1 s" <<<"$out" || fail "mute remote: $out"

# ---- 11. command= (a server on stdin/stdout, shared) and retry= (the
# remote starts after the proxy).
echo "== command= and retry="
size=$(bk -U - nbd command=nbdkit arg=-s arg=--exit-with-parent arg=memory \
          arg=6M --run 'nbdinfo --size "$uri"; nbdinfo --size "$uri"')
[[ "$size" == $'6291456\n6291456' ]] || fail "command=: $size"
(sleep 1.5; nbdkit -f -U "$tmp/r11" -P "$tmp/r11.pid" memory 7M \
     >>"$tmp/nbdkit.log" 2>&1) &
on_exit 'kill $(cat "$tmp/r11.pid")'
start_server "$tmp/p11" nbd socket="$tmp/r11" shared=true retry=10
[[ $(nbdinfo --size "$(nbd_uri "$tmp/p11")") == 7340032 ]] || fail "retry="

echo "$0: ok"
