#!/usr/bin/env bash
# Seed 000's fallback rules, through filters.  A real client
# (python3-libnbd) sends requests through test filters over
# test-layers-plugin.c; every layer logs the data calls it receives (the
# filters with the offsets they were given, the plugin with the offsets
# that reached it), and the test checks exactly which calls each request
# caused:
#   (a) an offset filter (with .zero, no .can_zero) over a plugin that
#       cannot zero: a zero at X reaches the filter's .zero and is written
#       as zeroes by the plugin layer at X+offset, exactly once;
#   (b) the same filter declaring can_zero NBDKIT_ZERO_EMULATE: the zero
#       becomes the filter's own pwrite at X (offset applied once, by
#       that pwrite), in 64K pieces for a large zero, FUA kept on the
#       last piece, and a fast zero fails at once;
#   (c) a filter sleeping D in zero and in pwrite, over a plugin that
#       cannot zero: one zero costs D, not 2D (also over (b));
#   (d) a filter whose zero fails with EOPNOTSUPP: the client gets EIO,
#       the server says why, and nothing runs below the filter;
#   (e) a filter declaring can_fua NBDKIT_FUA_EMULATE over a plugin with
#       native FUA: a FUA write, zero or trim reaches the plugin without
#       FUA, followed by a flush run at the filter's layer.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

libs="$builddir/.libs"
plugin="$libs/test-layers-plugin.so"
offset="$libs/test-fb-offset-filter.so"
offset_emu="$libs/test-fb-offset-emu-filter.so"
delay="$libs/test-fb-delay-filter.so"
eop="$libs/test-fb-eopnotsupp-filter.so"
fua="$libs/test-fb-fua-filter.so"
for f in "$plugin" "$offset" "$offset_emu" "$delay" "$eop" "$fua"; do
    [[ -f "$f" ]] || skip "$f not built (run via make check)"
done
is_blockkit || skip "the test layers are built against blockkit's filter API"

# The client: each scenario is a function, run as `client.py NAME`.  The
# layers write their lines before they return, so once a reply is in,
# every line the request caused is in the log.
cat >"$tmp/client.py" <<'EOF'
import os, sys, time
import nbd

LOG = os.environ["CALLS_LOG"]
pos = 0
failures = []

def new_lines():
    """The log lines written since the last call, without stamps."""
    global pos
    with open(LOG, "rb") as f:
        f.seek(pos)
        data = f.read()
    pos += len(data)
    return [l.split(" ", 1)[1] for l in data.decode().splitlines()]

def expect(what, lines):
    got = new_lines()
    if got != lines:
        failures.append("%s:\n  expected %r\n  got      %r" % (what, lines, got))

def check(what, cond):
    if not cond:
        failures.append(what)

def connect():
    h = nbd.NBD()
    h.connect_uri(os.environ["uri"])
    new_lines()
    return h

OFF = 65536                     # the offset filter's offset
DISK = 1024 * 1024              # the plugin's disk

def offset_pass():
    h = connect()
    size = h.get_size()
    check("export size", size == DISK - OFF)
    h.pwrite(b"\xff" * size, 0)
    new_lines()
    h.zero(4096, 8192)
    expect("zero over a plugin without zero", [
        "offset zero 4096 8192 fua=0",
        "plugin pwrite 4096 %d fua=0 data=zero #1" % (8192 + OFF)])
    data = h.pread(size, 0)
    check("zeroes exactly at 8192..12287 of the export",
          data == b"\xff" * 8192 + bytes(4096) + b"\xff" * (size - 12288))
    h.shutdown()

def offset_emulate():
    h = connect()
    size = h.get_size()
    h.pwrite(b"\xff" * size, 0)
    new_lines()
    h.zero(4096, 8192)
    expect("zero emulated by the filter's own pwrite", [
        "offset pwrite 4096 8192 fua=0",
        "plugin pwrite 4096 %d fua=0 data=zero #1" % (8192 + OFF)])
    h.zero(4096, 16384, nbd.CMD_FLAG_FUA)
    expect("FUA zero emulated by the filter's own pwrite", [
        "offset pwrite 4096 16384 fua=1",
        "plugin pwrite 4096 %d fua=1 data=zero #1" % (16384 + OFF)])
    # A large zero: 64K pieces, each offset once, FUA on the last only.
    big, start = 200000, 131072
    h.zero(big, start, nbd.CMD_FLAG_FUA)
    want = []
    o, left = start, big
    while left:
        n = min(left, 65536)
        f = int(n == left)
        want.append("offset pwrite %d %d fua=%d" % (n, o, f))
        want.append("plugin pwrite %d %d fua=%d data=zero #1" % (n, o + OFF, f))
        o += n
        left -= n
    expect("large zero emulated in pieces", want)
    # A zero emulated by writes is not fast: a fast zero fails at once.
    check("fast zero advertised (it fails fast)", h.can_fast_zero())
    try:
        h.zero(4096, 0, nbd.CMD_FLAG_FAST_ZERO)
        check("fast zero must fail", False)
    except nbd.Error as e:
        check("fast zero fails with ENOTSUP, not %s" % e.errno,
              e.errno in ("ENOTSUP", "EOPNOTSUPP"))
    expect("fast zero runs nothing", [])
    data = h.pread(size, 0)
    want = bytearray(b"\xff" * size)
    for o, n in ((8192, 4096), (16384, 4096), (start, big)):
        want[o:o + n] = bytes(n)
    check("zeroes exactly where the client asked", data == want)
    h.shutdown()

def timed(fn):
    t = time.monotonic()
    fn()
    return time.monotonic() - t

def delay_pass():
    h = connect()
    t = timed(lambda: h.pwrite(b"w" * 4096, 0))
    check("a write costs the delay (%.2fs)" % t, t >= 0.45)
    new_lines()
    t = timed(lambda: h.zero(4096, 0))
    check("a zero costs one delay, not two (%.2fs)" % t, 0.45 <= t < 0.9)
    expect("zero under the delay filter", [
        "delay zero 4096 0",
        "plugin pwrite 4096 0 fua=0 data=zero #1"])
    check("zeroed", h.pread(4096, 0) == bytes(4096))
    h.shutdown()

def delay_over_emulate():
    h = connect()
    t = timed(lambda: h.zero(4096, 0))
    check("a zero costs one delay, not two (%.2fs)" % t, 0.45 <= t < 0.9)
    expect("zero under delay, emulated by the offset filter", [
        "delay zero 4096 0",
        "offset pwrite 4096 0 fua=0",
        "plugin pwrite 4096 %d fua=0 data=zero #1" % OFF])
    h.shutdown()

def eopnotsupp():
    h = connect()
    h.pwrite(b"e" * 4096, 0)
    new_lines()
    try:
        h.zero(4096, 0)
        check("the zero must fail", False)
    except nbd.Error as e:
        check("the client gets EIO, not %s" % e.errno, e.errno == "EIO")
    expect("no fallback below the filter", ["eopnotsupp zero 4096 0"])
    check("data untouched", h.pread(4096, 0) == b"e" * 4096)
    h.shutdown()

def fua_emulate():
    h = connect()
    check("FUA advertised", h.can_fua())
    h.pwrite(b"f" * 512, 0, nbd.CMD_FLAG_FUA)
    expect("FUA write", [
        "fua pwrite 512 0 fua=0",
        "plugin pwrite 512 0 fua=0 data=nonzero #1",
        "fua flush",
        "plugin flush #1"])
    h.zero(512, 4096, nbd.CMD_FLAG_FUA)
    expect("FUA zero", [
        "fua zero 512 4096 fua=0",
        "plugin zero 512 4096 fua=0 #1",
        "fua flush",
        "plugin flush #1"])
    h.trim(512, 8192, nbd.CMD_FLAG_FUA)
    expect("FUA trim", [
        "fua trim 512 8192 fua=0",
        "plugin trim 512 8192 fua=0 #1",
        "fua flush",
        "plugin flush #1"])
    h.pwrite(b"g" * 512, 0)
    expect("write without FUA", [
        "fua pwrite 512 0 fua=0",
        "plugin pwrite 512 0 fua=0 data=nonzero #1"])
    h.flush()
    expect("client flush", ["fua flush", "plugin flush #1"])
    h.shutdown()

def fua_native():
    # The control: without the filter the plugin gets FUA itself.
    h = connect()
    h.pwrite(b"f" * 512, 0, nbd.CMD_FLAG_FUA)
    expect("FUA write, no filter", [
        "plugin pwrite 512 0 fua=1 data=nonzero #1"])
    h.shutdown()

globals()[sys.argv[1]]()
if failures:
    for f in failures:
        print("FAIL: %s: %s" % (sys.argv[1], f), file=sys.stderr)
    sys.exit(1)
EOF

# scenario NAME ARGS...: the server with ARGS, the client running NAME.
scenario() {
    local name="$1"; shift
    local log="$tmp/$name.log"
    rm -f "$log"
    CALLS_LOG="$log" \
    bk "$@" orderlog="$log" --run "$PYTHON $tmp/client.py $name" \
       2>"$tmp/$name.err" || {
        cat "$tmp/$name.err"
        fail "$name: $*"
    }
}

scenario offset_pass --filter="$offset" "$plugin" zero=no
scenario offset_emulate --filter="$offset_emu" "$plugin" zero=yes
scenario delay_pass --filter="$delay" "$plugin" zero=no fbdelay.delay=0.5
scenario delay_over_emulate --filter="$delay" --filter="$offset_emu" \
    "$plugin" zero=no fbdelay.delay=0.5
scenario eopnotsupp --filter="$eop" "$plugin" zero=yes
grep -q 'EOPNOTSUPP' "$tmp/eopnotsupp.err" ||
    fail "eopnotsupp: the server does not say why the zero failed: $(cat "$tmp/eopnotsupp.err")"
scenario fua_emulate --filter="$fua" "$plugin" fua=native zero=yes
scenario fua_native "$plugin" fua=native

echo "$0: OK"
