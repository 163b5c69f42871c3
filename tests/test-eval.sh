#!/usr/bin/env bash
# The eval plugin: each method's shell code from the command line, run by
# /bin/sh with the method's arguments ($1 the method, as in sh); missing=
# for the methods not given (exit 2 by default); can_* answered from
# which methods exist unless given; parameters that are not methods go
# to config (an error without one); errors mapped from stderr; unload
# run and $tmpdir removed at exit; a writable disk with trim, zero and
# extents in $tmpdir read back with nbdcopy.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh
requires nbdinfo
requires nbdcopy

# Which methods ran, with their argument counts and $0.
export LOG="$tmp/log"
: >"$LOG"
bk -U - eval \
    get_size='echo 1M' \
    pread='dd if=/dev/zero count=$3 iflag=count_bytes status=none' \
    pwrite='echo "$0 $# $*" >>"$LOG"; cat >/dev/null' \
    missing='echo "missing $1" >>"$LOG"; exit 2' \
    --run 'nbdinfo "$uri"; nbdsh -u "$uri" -c "h.pwrite(b\"x\" * 512, 1024)"' \
    >"$tmp/info" || fail "eval with missing="
grep -Eq '^/.*/pwrite 5 pwrite  512 1024 $' "$LOG" ||
    fail "pwrite's \$0 and arguments: $(grep pwrite "$LOG")"
for m in config_complete thread_model open can_flush can_fua close unload; do
    grep -qx "missing $m" "$LOG" || fail "missing= not run for $m: $(cat "$LOG")"
done
grep -qx "missing can_write" "$LOG" && fail "can_write run although pwrite was given"
# pwrite given: writable without can_write; no flush: no FUA, no flush.
for l in "is_read_only: false" "can_flush: false" "can_fua: false" "can_trim: false" \
         "can_zero: true" "can_cache: false"; do
    grep -q "$l" "$tmp/info" || fail "expected '$l' in $(cat "$tmp/info")"
done
echo "ok: missing=, arguments, \$0"

# A writable disk kept in $tmpdir.  No can_* is given: they follow from
# the methods.  flush makes FUA emulated; cache makes can_cache native.
d='$tmpdir/disk'
disk_args=(
    config='[ "$2" = size ] && truncate -s "$3" '"$d"
    get_size='stat -c %s '"$d"
    pread='dd if='"$d"' skip=$4 count=$3 iflag=skip_bytes,count_bytes status=none'
    pwrite='dd of='"$d"' seek=$4 conv=notrunc oflag=seek_bytes status=none'
    trim='fallocate -p -o $4 -l $3 '"$d"
    zero='fallocate -p -o $4 -l $3 '"$d"
    flush='sync '"$d"
    cache='echo "cache $3 $4" >>"$LOG"'
    extents='echo 0 $(stat -c %s '"$d"')'
    size=2M
)
cat >"$tmp/disk.py" <<'PYEOF'
import os, sys, nbd
h = nbd.NBD(); h.add_meta_context("base:allocation"); h.connect_uri(sys.argv[1])
assert h.get_size() == 2 << 20
for f in ("can_flush", "can_fua", "can_trim", "can_zero", "can_cache"):
    assert getattr(h, f)(), f
assert not h.is_read_only()
assert not h.can_multi_conn() and not h.is_rotational()
model = bytearray(2 << 20)
data = os.urandom(300000)
h.pwrite(data, 4096, nbd.CMD_FLAG_FUA); model[4096:4096+len(data)] = data
h.trim(65536, 65536); model[65536:131072] = bytes(65536)
h.zero(8192, 200704); model[200704:208896] = bytes(8192)
h.cache(4096, 0)
h.flush()
assert h.pread(2 << 20, 0) == model
ext = []
h.block_status(2 << 20, 0, lambda m, o, e, err: ext.extend(e))
assert ext == [2 << 20, 0], ext
open(sys.argv[2], "wb").write(model)
PYEOF
: >"$LOG"
bk -U - eval "${disk_args[@]}" --run '"$PYTHON" "$tmp/disk.py" "$uri" "$tmp/model" &&
    nbdcopy "$uri" "$tmp/copy"' || fail "eval disk"
cmp "$tmp/model" "$tmp/copy" || fail "nbdcopy of the eval disk"
grep -qx "cache 4096 0" "$LOG" || fail "cache method not run"
echo "ok: eval disk, can_* from the methods given"

# A can_* given explicitly wins over the inferred answer.
bk -U - eval "${disk_args[@]}" can_write='exit 3' can_cache='echo none' \
    --run 'nbdinfo "$uri"' >"$tmp/info" || fail "explicit can_*"
grep -q "is_read_only: true" "$tmp/info" || fail "can_write='exit 3' ignored"
grep -q "can_cache: false" "$tmp/info" || fail "can_cache='echo none' ignored"

# Parameters that are not methods: to config, or an error without it.
expect_fail bk -U - eval get_size='echo 1M' pread=: colour=red --run true 2>"$tmp/err"
grep -q "callback 'colour' is unknown, and there is no 'config' callback" "$tmp/err" ||
    fail "unknown key: $(cat "$tmp/err")"
[[ "$(bk -U - eval config='echo "$3" >"$tmpdir/$2"' get_size='cat $tmpdir/sz' \
        pread='head -c $3 /dev/zero' sz=5120 --run 'nbdinfo --size "$uri"')" == 5120 ]] ||
    fail "config did not get sz=5120"

# Errors from the code, --dump-plugin, export lists, unload and $tmpdir.
bk -U - eval get_size='echo 1M' pread='echo "EROFS no reads" >&2; exit 1' \
    pwrite='echo "ENOSPC full" >&2; exit 1' \
    --run 'nbdsh -u "$uri" -c "
import errno
for f, want in ((lambda: h.pread(512, 0), \"EPERM\"), (lambda: h.pwrite(b\"a\" * 512, 0), \"ENOSPC\")):
    try:
        f(); assert False
    except nbd.Error as e:
        assert e.errno == want, (e.errno, want)
"' 2>/dev/null || fail "errors from eval code"
bk --dump-plugin eval dump_plugin='echo eval_dump=1' >"$tmp/dump" || fail "--dump-plugin"
grep -qx eval_dump=1 "$tmp/dump" && grep -qx max_known_status=3 "$tmp/dump" ||
    fail "--dump-plugin: $(cat "$tmp/dump")"
bk -U - eval get_size='echo 1M' pread='head -c $3 /dev/zero' \
    list_exports='echo INTERLEAVED; echo a; echo first; echo b; echo second' \
    default_export='echo b' open='echo "h-$3"' export_description='echo "desc of $2"' \
    unload='echo "$tmpdir" >"$LOG"' \
    --run 'nbdinfo --list --json "$uri"' >"$tmp/list" || fail "exports"
"$PYTHON" - "$tmp/list" <<'PYEOF' || fail "export list: $(cat "$tmp/list")"
import json, sys
e = json.load(open(sys.argv[1]))["exports"]
assert [(x["export-name"], x["description"]) for x in e] == [("a", "first"), ("b", "second")], e
PYEOF
[[ -s "$LOG" && ! -e "$(cat "$LOG")" ]] || fail "unload not run or \$tmpdir not removed"
echo "ok: config, errors, --dump-plugin, exports, unload"
