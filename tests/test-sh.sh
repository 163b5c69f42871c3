#!/usr/bin/env bash
# The sh plugin with real clients: a disk kept in a file by a bash script
# (read, write, FUA, trim, zero with and without may_trim, flush, extents
# from the file's holes, per-connection handles in $tmpdir) checked
# against a model of what was written; errno names on stderr mapped to the
# client's errors; a missing zero method (exit 2) falling back to pwrite;
# can_* answered by exit 0/3 and by none/emulate/native; pread answering
# short; and a script that floods stderr with 1 MB while it is given a
# 4 MB write (and while it answers a read) must not deadlock.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh
requires nbdinfo
requires nbdcopy
requires fallocate --help

# ---------------------------------------------------------------------
# A file-backed disk.  Every call is logged to $LOG (the environment is
# passed through to the script), with the data methods' arguments.
cat >"$tmp/disk.sh" <<'EOF'
#!/usr/bin/env bash
f=$tmpdir/disk
echo "$*" >>"$LOG"
case "$1" in
  config)
    if [ "$2" = file ]; then ln -sf "$(realpath "$3")" "$f"
    else echo "EINVAL unknown parameter $2" >&2; exit 1; fi ;;
  config_complete) [ -L "$f" ] || { echo "file= is required" >&2; exit 1; } ;;
  thread_model) echo parallel ;;
  open) mktemp -d "$tmpdir/handle-XXXXXX" ;;
  close) rm -rf "$2" ;;
  get_size) [ -d "$2" ] || exit 1; stat -L -c %s "$f" ;;
  can_write|can_flush|can_trim|can_zero|can_extents) exit 0 ;;
  can_fua) echo native ;;
  pread) dd if="$f" skip=$4 count=$3 iflag=skip_bytes,count_bytes status=none ;;
  pwrite) dd of="$f" seek=$4 conv=notrunc oflag=seek_bytes status=none ;;
  trim) fallocate -p -o $4 -l $3 "$f" ;;
  zero)
    case ",$5," in
      *,may_trim,*) fallocate -p -o $4 -l $3 "$f" ;;
      *) fallocate -z -n -o $4 -l $3 "$f" ;;
    esac ;;
  flush) sync "$f" ;;
  extents)
    # Data and holes from SEEK_DATA/SEEK_HOLE, from the start of the disk.
    /usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
end = os.fstat(fd).st_size
o = 0
while o < end:
    try:
        d = os.lseek(fd, o, os.SEEK_DATA)
    except OSError:
        d = end
    if d > o:
        print(o, d - o, "hole,zero"); o = d; continue
    h = os.lseek(fd, o, os.SEEK_HOLE)
    print(o, h - o); o = h
' "$f" ;;
  *) exit 2 ;;
esac
EOF
chmod +x "$tmp/disk.sh"

export LOG="$tmp/log"
truncate -s 1M "$tmp/disk.img"
start_server "$tmp/sock" sh "$tmp/disk.sh" file="$tmp/disk.img"
uri="$(nbd_uri "$tmp/sock")"

nbdpy "$uri" "$tmp/disk.img" <<'PYEOF' || fail "file-backed disk"
import os, sys, nbd
uri, path = sys.argv[1], sys.argv[2]
h = nbd.NBD(); h.add_meta_context("base:allocation"); h.connect_uri(uri)
assert h.get_size() == 1 << 20
for f in ("can_flush", "can_fua", "can_trim", "can_zero", "can_meta_context"):
    fn = getattr(h, f)
    assert (fn("base:allocation") if f == "can_meta_context" else fn()), f
assert not h.is_read_only()
model = bytearray(1 << 20)
def w(off, data, flags=0):
    h.pwrite(data, off, flags); model[off:off+len(data)] = data
w(0, os.urandom(256 << 10))
w(300 << 10, os.urandom(100000), nbd.CMD_FLAG_FUA)
w(700 << 10, os.urandom(200 << 10))
h.flush()
assert h.pread(1 << 20, 0) == model, "read back"
h.trim(64 << 10, 128 << 10); model[128<<10:192<<10] = bytes(64 << 10)
h.zero(32 << 10, 700 << 10); model[700<<10:732<<10] = bytes(32 << 10)
h.zero(32 << 10, 800 << 10, nbd.CMD_FLAG_NO_HOLE)
model[800<<10:832<<10] = bytes(32 << 10)
assert h.pread(1 << 20, 0) == model, "read after trim/zero"
h.flush()
assert open(path, "rb").read() == model, "file contents"
ext = []
h.block_status(1 << 20, 0, lambda m, o, e, err: ext.extend(e))
# The trimmed 64K at 128K is a hole in the file, reported as hole+zero.
pos, holes = 0, []
for i in range(0, len(ext), 2):
    if ext[i+1] == 3: holes.append((pos, ext[i]))
    pos += ext[i]
assert pos == 1 << 20, ext
assert any(s <= 128 << 10 and s + l >= 192 << 10 for s, l in holes), holes
assert not any(s < 128 << 10 for s, l in holes), holes
print("ok: file-backed disk", holes)
PYEOF
# The method arguments: FUA as "fua", may_trim only without NO_HOLE,
# handles are per-connection directories under $tmpdir.
grep -Eq '^pwrite [^ ]*/handle-[A-Za-z0-9]{6} 100000 307200 fua$' "$LOG" ||
    fail "pwrite with fua: $(grep ^pwrite "$LOG")"
grep -Eq '^zero [^ ]+ 32768 716800 may_trim$' "$LOG" || fail "zero may_trim: $(grep ^zero "$LOG")"
grep -Eq '^zero [^ ]+ 32768 819200 ?$' "$LOG" || fail "zero no_hole: $(grep ^zero "$LOG")"
grep -Eq '^trim [^ ]+ 65536 131072 ?$' "$LOG" || fail "trim: $(grep ^trim "$LOG")"
grep -Eq '^flush [^ ]+$' "$LOG" || fail "flush"
grep -Eq '^extents [^ ]+ 1048576 0 ?$' "$LOG" || fail "extents: $(grep ^extents "$LOG")"
grep -q '^open false  false$' "$LOG" || fail "open's arguments: $(grep ^open "$LOG")"
grep -q '^load$' "$LOG" || fail "load not called"
# nbdcopy (several requests in flight, parallel thread model) sees the
# same bytes as the file.
nbdcopy "$uri" "$tmp/copy.img" || fail "nbdcopy"
cmp "$tmp/copy.img" "$tmp/disk.img" || fail "nbdcopy copy differs"
stop_server "$server_pid"
grep -q '^unload$' "$LOG" || fail "unload not called"
grep -q '^close ' "$LOG" || fail "close not called"
echo "ok: method arguments, nbdcopy, load/unload"

# ---------------------------------------------------------------------
# Errors: the errno name on stderr is the client's error, EIO otherwise.
cat >"$tmp/err.sh" <<'EOF'
#!/bin/sh
case "$1" in
  get_size) echo 1M ;;
  can_write|can_flush|can_trim|can_zero|can_cache) [ "$1" = can_cache ] && echo native; exit 0 ;;
  pread)
    case $4 in
      0) dd if=/dev/zero count=$3 iflag=count_bytes status=none ;;
      4096) head -c 100 /dev/zero ;;              # short
      8192) exit 1 ;;                             # no message
      12288) echo "something broke" >&2; exit 1 ;;
      16384) exit 4 ;;                            # reserved: an error
      20480) kill -9 $$ ;;
    esac ;;
  pwrite) cat >/dev/null; echo "ENOSPC Out of space" >&2; exit 1 ;;
  zero) echo "EROFS read-only store" >&2; exit 1 ;;
  trim) echo "eperm lowercase works too" >&2; exit 1 ;;
  flush) echo "EINVAL" >&2; exit 1 ;;
  cache) echo "ESHUTDOWN going away" >&2; exit 1 ;;
  *) exit 2 ;;
esac
EOF
chmod +x "$tmp/err.sh"
cat >"$tmp/err.py" <<'PYEOF'
import errno, sys, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
def expect(what, want, fn):
    try:
        fn()
    except nbd.Error as e:
        # libnbd gives the errno's name.
        assert e.errno == errno.errorcode[want], \
            "%s: got %s want %s" % (what, e.errno, errno.errorcode[want])
        print("ok:", what, e.errno); return
    raise AssertionError(what + ": no error")
assert h.pread(4096, 0) == bytes(4096)
expect("pread short", errno.EIO, lambda: h.pread(4096, 4096))
expect("pread exit 1 silent", errno.EIO, lambda: h.pread(4096, 8192))
expect("pread unknown message", errno.EIO, lambda: h.pread(4096, 12288))
expect("pread exit 4", errno.EIO, lambda: h.pread(4096, 16384))
expect("pread killed", errno.EIO, lambda: h.pread(4096, 20480))
expect("pwrite ENOSPC", errno.ENOSPC, lambda: h.pwrite(b"x" * 4096, 0))
expect("zero EROFS", errno.EPERM, lambda: h.zero(4096, 0))
expect("trim eperm", errno.EPERM, lambda: h.trim(4096, 0))
expect("flush EINVAL", errno.EINVAL, lambda: h.flush())
expect("cache ESHUTDOWN", errno.ESHUTDOWN, lambda: h.cache(4096, 0))
PYEOF
bk -U - sh "$tmp/err.sh" --run '"$PYTHON" "$tmp/err.py" "$uri"' >"$tmp/err.out" 2>&1 ||
    { cat "$tmp/err.out"; fail "error mapping"; }
cat "$tmp/err.out"
grep -q "err.sh: Out of space" "$tmp/err.out" || fail "message not logged"
grep -q "err.sh: something broke" "$tmp/err.out" || fail "unparsed message not logged"
grep -q "expecting 4096 bytes but received 100 bytes" "$tmp/err.out" || fail "short read message"
grep -q "terminated by signal 9" "$tmp/err.out" || fail "signal message"

# ---------------------------------------------------------------------
# Missing methods (exit 2) and can_* answers.  zero is missing although
# can_zero says yes: the server writes zeroes with pwrite instead.
cat >"$tmp/caps.sh" <<'EOF'
#!/bin/sh
echo "$@" >>"$LOG"
case "$1" in
  get_size) echo 64K ;;
  can_write|can_zero|can_flush) exit 0 ;;
  can_trim|can_extents) exit 3 ;;
  is_rotational|can_multi_conn) [ -n "$YES" ] && exit 0; exit 3 ;;
  can_fua) [ -n "$FUA" ] && echo "$FUA" && exit 0; exit 2 ;;
  can_cache) echo "$CACHE" ;;
  pread) dd if="$DISK" skip=$4 count=$3 iflag=skip_bytes,count_bytes status=none ;;
  pwrite) dd of="$DISK" seek=$4 conv=notrunc oflag=seek_bytes status=none ;;
  flush) ;;
  *) exit 2 ;;
esac
EOF
chmod +x "$tmp/caps.sh"
export DISK="$tmp/caps.img"
head -c 65536 /dev/urandom >"$DISK"
: >"$LOG"
CACHE=none bk -U - sh "$tmp/caps.sh" --run 'nbdinfo "$uri"; nbdsh -u "$uri" -c "h.zero(8192, 4096)"' >"$tmp/info" ||
    fail "caps.sh"
cmp -n 8192 -i 4096:0 "$DISK" /dev/zero || fail "zero fell back to pwrite but the bytes are not zero"
grep -Eq '^zero [^ ]* 8192 4096' "$LOG" || fail "zero was not tried first"
grep -Eq '^pwrite [^ ]* 8192 4096' "$LOG" || fail "no pwrite fallback: $(cat "$LOG")"
for l in "is_read_only: false" "can_zero: true" "can_trim: false" "can_flush: true" \
         "can_fua: true" "is_rotational: false" "can_multi_conn: false" "can_cache: false"; do
    grep -q "$l" "$tmp/info" || fail "expected '$l' in $(cat "$tmp/info")"
done
YES=1 FUA=none CACHE=native bk -U - sh "$tmp/caps.sh" --run 'nbdinfo "$uri"' >"$tmp/info" || fail "caps.sh 2"
for l in "can_fua: false" "is_rotational: true" "can_multi_conn: true" "can_cache: true"; do
    grep -q "$l" "$tmp/info" || fail "expected '$l' in $(cat "$tmp/info")"
done
FUA=native CACHE=emulate bk -U - sh "$tmp/caps.sh" --run 'nbdsh -u "$uri" -c "
h.pwrite(b\"a\" * 512, 0, nbd.CMD_FLAG_FUA); assert h.can_fua() and h.can_cache()"' || fail "native fua"
grep -Eq '^pwrite [^ ]* 512 0 fua$' "$LOG" || fail "native FUA not passed as 'fua'"
# can_write exit 3: read-only.
printf '#!/bin/sh\ncase "$1" in get_size) echo 1M;; can_write) exit 3;; pread) head -c $3 /dev/zero;; *) exit 2;; esac\n' >"$tmp/ro.sh"
chmod +x "$tmp/ro.sh"
bk -U - sh "$tmp/ro.sh" --run 'nbdinfo "$uri"' | grep -q "is_read_only: true" || fail "can_write exit 3"
echo "ok: missing methods and can_*"

# ---------------------------------------------------------------------
# A script that writes 1 MB on stderr before reading a 4 MB write (and
# another 1 MB after), and 1 MB while answering a read: the server drains
# stderr while it feeds stdin, so nothing waits on a full pipe.
cat >"$tmp/flood.sh" <<'EOF'
#!/bin/sh
case "$1" in
  get_size) echo 8M ;;
  can_write) exit 0 ;;
  pread) head -c 1048576 /dev/zero | tr '\0' e >&2; head -c $3 /dev/zero | tr '\0' r ;;
  pwrite) head -c 1048576 /dev/zero | tr '\0' e >&2
          cat >"$tmpdir/data"
          head -c 1048576 /dev/zero | tr '\0' f >&2
          [ "$(stat -c %s "$tmpdir/data")" = "$3" ] || { echo "EINVAL short stdin" >&2; exit 1; } ;;
  *) exit 2 ;;
esac
EOF
chmod +x "$tmp/flood.sh"
TEST_TIMEOUT=60 bk -U - sh "$tmp/flood.sh" --run 'nbdsh -u "$uri" -c "
h.pwrite(b\"w\" * (4 << 20), 0)
assert h.pread(4 << 20, 0) == b\"r\" * (4 << 20)"' || fail "stderr flood deadlocked or failed"
echo "ok: 1 MB of stderr during a 4 MB pwrite and a pread"

# ---------------------------------------------------------------------
# The command line: script= is the magic key, a second bare word goes to
# the key the script's magic_config_key names, --dump-plugin adds the
# script's lines, $tmpdir exists while the server runs and is removed at
# exit, a failing load stops the server, "-" is refused with -s.
cat >"$tmp/cli.sh" <<'EOF2'
#!/bin/sh
case "$1" in
  load) echo "$tmpdir" >"$TMPLOG"; [ -d "$tmpdir" ] || exit 1 ;;
  magic_config_key) echo size ;;
  config) [ "$2" = size ] || { echo "EINVAL unknown $2" >&2; exit 1; }
          echo "$3" >"$tmpdir/size" ;;
  thread_model) echo parallel ;;
  dump_plugin) echo "cli_sh=yes" ;;
  get_size) cat "$tmpdir/size" ;;
  pread) head -c $3 /dev/zero ;;
  *) exit 2 ;;
esac
EOF2
chmod +x "$tmp/cli.sh"
export TMPLOG="$tmp/tmpdir-name"
[[ "$(bk -U - sh "$tmp/cli.sh" 3M --run 'nbdinfo --size "$uri"')" == 3145728 ]] ||
    fail "magic_config_key: bare word not given to size"
[[ -s "$TMPLOG" && ! -e "$(cat "$TMPLOG")" ]] || fail "\$tmpdir $(cat "$TMPLOG") not removed at exit"
bk --dump-plugin sh "$tmp/cli.sh" >"$tmp/dump" || fail "--dump-plugin"
for l in max_known_status=3 cli_sh=yes thread_model=parallel magic_config_key=script; do
    grep -qx "$l" "$tmp/dump" || fail "--dump-plugin: no $l in $(cat "$tmp/dump")"
done
expect_fail bk -U - sh "$tmp/caps.sh" extra --run true 2>"$tmp/err"
grep -q "expecting key=value" "$tmp/err" || fail "second bare word: $(cat "$tmp/err")"
expect_fail bk -U - sh "$tmp/caps.sh" foo=bar --run true 2>"$tmp/err"
grep -q "does not need command line configuration" "$tmp/err" || fail "no config method: $(cat "$tmp/err")"
expect_fail bk -U - sh "$tmp/cli.sh" color=red --run true 2>"$tmp/err"
grep -q "unknown color" "$tmp/err" || fail "config error: $(cat "$tmp/err")"
printf '#!/bin/sh\n[ "$1" = load ] && { echo "EPERM not today" >&2; exit 1; }\nexit 2\n' >"$tmp/noload.sh"
chmod +x "$tmp/noload.sh"
expect_fail bk -U - sh "$tmp/noload.sh" --run true 2>"$tmp/err"
grep -q "not today" "$tmp/err" || fail "load error: $(cat "$tmp/err")"
expect_fail bk -U - sh "$tmp/nonexistent.sh" --run true 2>/dev/null
expect_fail bk -s sh - </dev/null 2>"$tmp/err"
grep -q "incompatible with -s" "$tmp/err" || fail "-s with an inline script: $(cat "$tmp/err")"
# An inline script may have a shebang for another interpreter.
[[ "$(bk -U - sh - --run 'nbdinfo --size "$uri"' <<'EOF2'
#!/usr/bin/python3
import sys
if sys.argv[1] == "get_size": print(12345 * 512)
elif sys.argv[1] == "pread": sys.stdout.buffer.write(b"\0" * int(sys.argv[3]))
else: sys.exit(2)
EOF2
)" == 6320640 ]] || fail "inline python script"
echo "ok: command line"
