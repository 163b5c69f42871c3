#!/usr/bin/env bash
# The plugin layer's fallbacks (seed 000), seen from both ends: a client
# (nbdsh / python3-libnbd) sends requests, and test-fallback-plugin.c
# (built by `make check`) logs every data callback the server makes.
#   - zero the plugin cannot do (can_zero false) or refuses (EOPNOTSUPP) is
#     emulated by writes of zeroes over exactly the original range, and
#     FAST_ZERO then fails with ENOTSUP at once;
#   - FUA on a plugin that can only flush is a write, then a flush;
#     native FUA reaches the plugin; no FUA (or no flush) is not advertised;
#   - trim the plugin lacks is not advertised, trim it refuses succeeds;
#   - cache is emulated by reads (can_cache = EMULATE), native cache is
#     passed on, no cache is not advertised;
#   - a version 1 plugin gets FUA by flush whatever its can_fua says.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh

plugin="$builddir/.libs/test-fallback-plugin.so"
plugin_v1="$builddir/.libs/test-fallback-v1-plugin.so"
[[ -f "$plugin" ]] || skip "$plugin not built (run via make check)"
[[ -f "$plugin_v1" ]] || skip "$plugin_v1 not built (run via make check)"

# Helpers shared by the client scripts below: run one request, collect
# the log lines it produced (the plugin writes them before it returns, so
# they are all there once the reply has arrived), and check them.
cat >"$tmp/fb.py" <<'PYEOF'
import errno, os, sys
import nbd

failures = []
# The points where the brief for blockkit goes beyond what the reference
# nbdkit (1.32) does are only checked against blockkit itself.
STRICT = os.environ.get("FB_STRICT") == "1"
LOG = None
_pos = 0
NAME = "?"

def connect(sock, log, name):
    global LOG, NAME, _pos
    LOG, NAME = log, name
    h = nbd.NBD()
    h.connect_unix(sock)
    _pos = os.path.getsize(LOG) if os.path.exists(LOG) else 0
    return h

def new_lines():
    global _pos
    with open(LOG, "rb") as f:
        f.seek(_pos)
        data = f.read()
    _pos += len(data)
    return data.decode().splitlines()

def check(cond, msg, lines=None):
    if not cond:
        if lines is not None:
            msg += "\n      log: %r" % (lines,)
        failures.append("%s: %s" % (NAME, msg))
    return cond

def op(what, fn):
    """Run fn(), return the log lines it produced (a failure if it fails)."""
    new_lines()
    try:
        fn()
    except nbd.Error as e:
        lines = new_lines()
        check(False, "%s: unexpected error %s" % (what, e), lines)
        return lines
    return new_lines()

def op_maybe(what, fn):
    """op() when STRICT; otherwise an error is tolerated."""
    if STRICT:
        return op(what, fn)
    new_lines()
    try:
        fn()
    except nbd.Error as e:
        print("%s: %s: %s (tolerated for this server)" % (NAME, what, e))
    return new_lines()

def op_fails(what, fn, errnums):
    """Run fn(), which must fail with one of errnums; return the log lines."""
    new_lines()
    try:
        fn()
        lines = new_lines()
        check(False, "%s: succeeded, expected %s" %
              (what, [errno.errorcode[e] for e in errnums]), lines)
        return lines
    except nbd.Error as e:
        lines = new_lines()
        check(e.errnum in errnums, "%s: failed with %s (%s), expected %s" %
              (what, e.errno, e.string,
               [errno.errorcode[e] for e in errnums]), lines)
        return lines

def parse(line):
    """'pwrite 4096 0 fua=0 data=zero' -> ('pwrite', 4096, 0, {...})"""
    w = line.split()
    kw = dict(x.split("=", 1) for x in w[3:])
    if len(w) >= 3:
        return w[0], int(w[1]), int(w[2]), kw
    return w[0], None, None, kw

def covers(what, lines, kind, count, offset, max_chunk=None, **kw):
    """The KIND lines are contiguous, in order, and cover exactly
    [offset, offset+count); each one's key=value fields match KW."""
    calls = [parse(l) for l in lines if l.split()[0] == kind]
    if not check(calls, "%s: no %s calls logged" % (what, kind), lines):
        return False
    pos = offset
    ok = True
    for (_, n, o, f) in calls:
        ok &= check(o == pos, "%s: %s at %d, expected %d" %
                    (what, kind, o, pos), lines)
        if max_chunk is not None:
            ok &= check(n <= max_chunk, "%s: %s of %d bytes (> %d)" %
                        (what, kind, n, max_chunk), lines)
        for k, v in kw.items():
            ok &= check(f.get(k) == str(v), "%s: %s with %s=%s, expected %s" %
                        (what, kind, k, f.get(k), v), lines)
        pos = o + n
    ok &= check(pos == offset + count,
                "%s: %s calls end at %d, expected %d" %
                (what, kind, pos, offset + count), lines)
    return ok

def none_of(what, lines, *kinds):
    bad = [l for l in lines if l.split()[0] in kinds]
    return check(not bad, "%s: unexpected %s" % (what, bad), lines)

def only(what, lines, *kinds):
    bad = [l for l in lines if l.split()[0] not in kinds]
    return check(not bad, "%s: unexpected %s" % (what, bad), lines)

def expect_data(h, what, offset, data):
    got = h.pread(len(data), offset)
    if got != data:
        i = next(i for i in range(len(data)) if got[i] != data[i])
        check(False, "%s: data differs at %d: %r, expected %r" %
              (what, offset + i, got[i], data[i]))

def done(h):
    h.shutdown()
    if failures:
        raise SystemExit("FAILURES:\n  " + "\n  ".join(failures))
    print("%s: ok" % NAME)
PYEOF
export PYTHONPATH="$tmp${PYTHONPATH:+:$PYTHONPATH}"
if is_blockkit; then export FB_STRICT=1; else export FB_STRICT=0; fi

# Every configuration runs even if an earlier one failed, so that one run
# reports every broken fallback.
rc=0

# fb_server NAME PLUGIN KEY=VALUE...: start a server with its own socket
# and log; sets $sock and $log.
fb_server() {
    local name="$1" plug="$2"; shift 2
    sock="$tmp/$name.sock"
    log="$tmp/$name.log"
    : >"$log"
    start_server "$sock" "$plug" log="$log" "$@"
}

# ---- (1) zero=none, (3) fua=emulate, (4) trim=no, (5) cache=emulate ----
fb_server a "$plugin" size=16M zero=none fua=emulate flush=yes \
          trim=no cache=emulate
nbdpy "$sock" "$log" <<'PYEOF' || rc=1
import sys, errno, nbd
from fb import *
h = connect(sys.argv[1], sys.argv[2], "zero=none fua=emulate trim=no cache=emulate")

check(h.can_zero(), "WRITE_ZEROES not advertised (it is emulated)")
# (nbdkit 1.32 does not advertise FAST_ZERO when can_zero is false.)
check(h.can_fast_zero() or not STRICT,
      "FAST_ZERO not advertised (emulated zero fails fast)")
check(h.can_fua(), "FUA not advertised (emulated by flush)")
check(h.can_flush(), "FLUSH not advertised")
check(not h.can_trim(), "TRIM advertised although the plugin cannot trim")
check(h.can_cache(), "CACHE not advertised (emulated by reads)")

h.pwrite(b"\xaa" * (1 << 20), 0)

# A 64K zero: pwrites of zeroes over exactly the range, nothing else.
lines = op("zero 64K", lambda: h.zero(65536, 12288))
only("zero 64K", lines, "pwrite")
covers("zero 64K", lines, "pwrite", 65536, 12288, fua=0, data="zero")
expect_data(h, "zero 64K", 12287, b"\xaa" + bytes(65536) + b"\xaa")

# An odd-sized zero larger than one chunk.
lines = op("zero 200000", lambda: h.zero(200000, 300001))
only("zero 200000", lines, "pwrite")
covers("zero 200000", lines, "pwrite", 200000, 300001, fua=0, data="zero")
expect_data(h, "zero 200000", 300000, b"\xaa" + bytes(200000) + b"\xaa")

# FAST_ZERO: ENOTSUP at once, nothing reaches the plugin, data unchanged.
if h.can_fast_zero():
    lines = op_fails("fast zero", lambda: h.zero(65536, 655360,
                                                 nbd.CMD_FLAG_FAST_ZERO),
                     [errno.ENOTSUP, errno.EOPNOTSUPP])
    check(lines == [], "fast zero: plugin was called", lines)
    expect_data(h, "fast zero", 655360, b"\xaa" * 65536)

# FUA zero: the writes, then one flush.
lines = op("FUA zero", lambda: h.zero(65536, 786432, nbd.CMD_FLAG_FUA))
only("FUA zero", lines, "pwrite", "flush")
covers("FUA zero", lines, "pwrite", 65536, 786432, data="zero")
check(lines and lines[-1] == "flush" and lines.count("flush") == 1,
      "FUA zero: expected one flush after the writes", lines)
expect_data(h, "FUA zero", 786432, bytes(65536))

# FUA write (emulated): pwrite without FUA, then flush.
lines = op("FUA write", lambda: h.pwrite(b"\x11" * 4096, 8192,
                                         nbd.CMD_FLAG_FUA))
check(lines == ["pwrite 4096 8192 fua=0 data=nonzero", "flush"],
      "FUA write: expected pwrite fua=0 then flush", lines)
lines = op("plain write", lambda: h.pwrite(b"\x22" * 4096, 16384))
check(lines == ["pwrite 4096 16384 fua=0 data=nonzero"],
      "plain write: expected one pwrite and no flush", lines)
lines = op("flush", lambda: h.flush())
check(lines == ["flush"], "flush: expected one flush", lines)
# (12288 onwards was zeroed above.)
expect_data(h, "writes", 8192, b"\x11" * 4096 + bytes(4096) + b"\x22" * 4096)

# Cache (emulated): reads covering the range, no cache call.
lines = op("cache", lambda: h.cache(300000, 4096))
only("cache", lines, "pread")
covers("cache", lines, "pread", 300000, 4096)
lines = op("cache 9M", lambda: h.cache(9 << 20, (1 << 20) + 512))
only("cache 9M", lines, "pread")
covers("cache 9M", lines, "pread", 9 << 20, (1 << 20) + 512)

lines = op("read", lambda: h.pread(512, 1000))
check(lines == ["pread 512 1000"], "read: expected one pread", lines)
done(h)
PYEOF
server_alive "$server_pid"

# ---- (2) zero=eopnotsupp, (3) fua=native, (4) trim=eopnotsupp,
#      (5) cache=native ----
fb_server b "$plugin" zero=eopnotsupp fua=native flush=yes \
          trim=eopnotsupp cache=native
nbdpy "$sock" "$log" <<'PYEOF' || rc=1
import sys, errno, nbd
from fb import *
h = connect(sys.argv[1], sys.argv[2],
            "zero=eopnotsupp fua=native trim=eopnotsupp cache=native")

check(h.can_zero(), "WRITE_ZEROES not advertised")
check(h.can_fua(), "FUA not advertised")
check(h.can_trim(), "TRIM not advertised")
check(h.can_cache(), "CACHE not advertised")

h.pwrite(b"\xaa" * (1 << 20), 0)

# One zero call, then writes of zeroes over the original range.
lines = op("zero 64K", lambda: h.zero(65536, 12288))
only("zero 64K", lines, "zero", "pwrite")
check(lines and lines[0].startswith("zero 65536 12288 ") and
      sum(1 for l in lines if l.startswith("zero ")) == 1,
      "zero 64K: expected one zero call first", lines)
covers("zero 64K", lines, "pwrite", 65536, 12288, fua=0, data="zero")
expect_data(h, "zero 64K", 12287, b"\xaa" + bytes(65536) + b"\xaa")

lines = op("zero 100000", lambda: h.zero(100000, 500001))
check(lines and lines[0].startswith("zero 100000 500001 "),
      "zero 100000: expected the zero call first", lines)
covers("zero 100000", lines, "pwrite", 100000, 500001, data="zero")
expect_data(h, "zero 100000", 500000, b"\xaa" + bytes(100000) + b"\xaa")

# A FUA zero that falls back: the data must still be durable, either
# every write with FUA or a flush after them.
lines = op("FUA zero", lambda: h.zero(65536, 786432, nbd.CMD_FLAG_FUA))
check(lines and lines[0].startswith("zero 65536 786432 fua=1"),
      "FUA zero: expected zero fua=1 first", lines)
covers("FUA zero", lines, "pwrite", 65536, 786432, data="zero")
pw = [parse(l) for l in lines if l.startswith("pwrite ")]
check(all(f["fua"] == "1" for (_, _, _, f) in pw) or
      (lines[-1] == "flush"),
      "FUA zero: fallback writes neither FUA nor followed by flush", lines)

# Native FUA reaches the plugin; no flush.
lines = op("FUA write", lambda: h.pwrite(b"\x11" * 4096, 8192,
                                         nbd.CMD_FLAG_FUA))
check(lines == ["pwrite 4096 8192 fua=1 data=nonzero"],
      "FUA write: expected pwrite fua=1 and no flush", lines)
expect_data(h, "FUA write", 8192, b"\x11" * 4096)

# Trim refused with EOPNOTSUPP: success for the client.  (nbdkit 1.32
# passes the error on.)
lines = op_maybe("trim", lambda: h.trim(65536, 131072))
check(lines == ["trim 65536 131072 fua=0"], "trim: expected one trim", lines)
lines = op_maybe("FUA trim", lambda: h.trim(4096, 262144, nbd.CMD_FLAG_FUA))
check(lines == ["trim 4096 262144 fua=1"],
      "FUA trim: expected one trim fua=1", lines)

# Native cache.
lines = op("cache", lambda: h.cache(300000, 4096))
check(lines == ["cache 300000 4096"], "cache: expected one cache call", lines)
done(h)
PYEOF
server_alive "$server_pid"

# ---- (3) fua=none, (5) cache=none, native zero and trim ----
fb_server c "$plugin" zero=native fua=none flush=yes trim=yes cache=none
nbdpy "$sock" "$log" <<'PYEOF' || rc=1
import sys, errno, nbd
from fb import *
h = connect(sys.argv[1], sys.argv[2], "zero=native fua=none cache=none")

check(not h.can_fua(), "FUA advertised although can_fua is NONE")
check(h.can_flush(), "FLUSH not advertised")
check(not h.can_cache(), "CACHE advertised although can_cache is NONE")
check(h.can_trim(), "TRIM not advertised")
check(h.can_zero(), "WRITE_ZEROES not advertised")

h.pwrite(b"\xaa" * (1 << 20), 0)
lines = op("write", lambda: h.pwrite(b"\x11" * 4096, 8192))
check(lines == ["pwrite 4096 8192 fua=0 data=nonzero"],
      "write: expected one pwrite", lines)
expect_data(h, "write", 8191, b"\xaa" + b"\x11" * 4096 + b"\xaa")
lines = op("zero", lambda: h.zero(65536, 12288))
check(lines == ["zero 65536 12288 fua=0 may_trim=1 fast=0"],
      "zero: expected one native zero", lines)
lines = op("zero NO_HOLE", lambda: h.zero(4096, 200000, nbd.CMD_FLAG_NO_HOLE))
check(lines == ["zero 4096 200000 fua=0 may_trim=0 fast=0"],
      "zero NO_HOLE: expected one native zero without may_trim", lines)
expect_data(h, "zero", 12287, b"\x11" + bytes(65536) + b"\xaa")
lines = op("trim", lambda: h.trim(65536, 131072))
check(lines == ["trim 65536 131072 fua=0"], "trim: expected one trim", lines)
expect_data(h, "trim", 131072, bytes(65536))
done(h)
PYEOF
server_alive "$server_pid"

# ---- (6) no flush: neither FLUSH nor (emulated) FUA is advertised ----
fb_server d "$plugin" flush=no fua=emulate zero=none
nbdpy "$sock" "$log" <<'PYEOF' || rc=1
import sys, errno, nbd
from fb import *
h = connect(sys.argv[1], sys.argv[2], "flush=no fua=emulate")

check(not h.can_flush(), "FLUSH advertised although can_flush is false")
# (nbdkit 1.32 advertises FUA there all the same.)
check(not h.can_fua() or not STRICT,
      "FUA advertised: it could only be emulated by flush")
lines = op("write", lambda: h.pwrite(b"\x11" * 4096, 8192))
check(lines == ["pwrite 4096 8192 fua=0 data=nonzero"],
      "write: expected one pwrite", lines)
lines = op("zero", lambda: h.zero(4096, 8192))
check(lines == ["pwrite 4096 8192 fua=0 data=zero"],
      "zero: expected one pwrite of zeroes", lines)
done(h)
PYEOF
server_alive "$server_pid"

# ---- native FUA without flush: an emulated FUA zero must not flush ----
# The plugin can do FUA natively but says it cannot flush, so nothing may
# call its flush; the zero fallback's writes carry the FUA instead.
fb_server e "$plugin" flush=no fua=native zero=none
nbdpy "$sock" "$log" <<'PYEOF' || rc=1
import sys, errno, nbd
from fb import *
h = connect(sys.argv[1], sys.argv[2], "flush=no fua=native zero=none")

check(not h.can_flush(), "FLUSH advertised although can_flush is false")
check(h.can_fua(), "FUA not advertised although can_fua is NATIVE")
lines = op("FUA write", lambda: h.pwrite(b"\x11" * 4096, 8192,
                                         nbd.CMD_FLAG_FUA))
check(lines == ["pwrite 4096 8192 fua=1 data=nonzero"],
      "FUA write: expected pwrite fua=1", lines)
lines = op("FUA zero", lambda: h.zero(65536, 12288, nbd.CMD_FLAG_FUA))
none_of("FUA zero", lines, "flush", "zero")
covers("FUA zero", lines, "pwrite", 65536, 12288, fua=1, data="zero")
done(h)
PYEOF
server_alive "$server_pid"

# ---- a version 1 plugin: FUA by flush always, its can_fua is ignored ----
fb_server v1 "$plugin_v1" fua=native flush=yes zero=native
nbdpy "$sock" "$log" <<'PYEOF' || rc=1
import sys, errno, nbd
from fb import *
h = connect(sys.argv[1], sys.argv[2], "v1 fua=native zero=native")

check(h.can_fua(), "FUA not advertised (emulated by flush)")
lines = op("FUA write", lambda: h.pwrite(b"\x11" * 4096, 8192,
                                         nbd.CMD_FLAG_FUA))
check(lines == ["pwrite 4096 8192 fua=0 data=nonzero", "flush"],
      "FUA write: expected pwrite then flush", lines)
lines = op("zero", lambda: h.zero(65536, 12288))
check(lines == ["zero 65536 12288 fua=0 may_trim=1 fast=0"],
      "zero: expected one v1 zero", lines)
lines = op("FUA zero", lambda: h.zero(4096, 0, nbd.CMD_FLAG_FUA))
check(lines == ["zero 4096 0 fua=0 may_trim=1 fast=0", "flush"],
      "FUA zero: expected zero then flush", lines)
if h.can_fast_zero():
    # A v1 zero cannot be told "fast": the request must fail at once.
    lines = op_fails("fast zero", lambda: h.zero(4096, 0,
                                                 nbd.CMD_FLAG_FAST_ZERO),
                     [errno.ENOTSUP, errno.EOPNOTSUPP])
    check(lines == [], "fast zero: plugin was called", lines)
lines = op("trim", lambda: h.trim(4096, 65536))
check(lines == ["trim 4096 65536 fua=0"], "trim: expected one trim", lines)
expect_data(h, "data", 0, bytes(8192) + b"\x11" * 4096)
done(h)
PYEOF
server_alive "$server_pid"

fb_server v1b "$plugin_v1" fua=none flush=no zero=none
nbdpy "$sock" "$log" <<'PYEOF' || rc=1
import sys, errno, nbd
from fb import *
h = connect(sys.argv[1], sys.argv[2], "v1 flush=no zero=none")
check(not h.can_flush(), "FLUSH advertised although can_flush is false")
check(not h.can_fua(), "FUA advertised without flush")
check(h.can_fast_zero(), "FAST_ZERO not advertised (emulated zero fails fast)")
lines = op("zero", lambda: h.zero(65536, 12288))
only("zero", lines, "pwrite")
covers("zero", lines, "pwrite", 65536, 12288, data="zero")
done(h)
PYEOF
server_alive "$server_pid"

if [[ $rc -ne 0 ]]; then
    cat "$tmp/server.log" >&2 || :
    fail "see the FAILURES above"
fi
echo "$0: ok"
