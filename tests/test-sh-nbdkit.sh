#!/usr/bin/env bash
# The same scripts under Debian's nbdkit with its own sh and eval plugins,
# under blockkit with those very plugin binaries (loaded by path), and
# under blockkit with plugins/sh and plugins/eval: each client sees the
# same export list, descriptions, sizes, block sizes and capabilities,
# the same bytes (nbdcopy) and the same map (nbdinfo --map), and a
# seeded sequence of writes, FUA writes, trims, zeroes, caches and
# flushes leaves the same bytes in each server's backing file.  The
# examples of nbdkit-sh-plugin(3) and nbdkit-eval-plugin(1) are run as
# they are printed there.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh
requires nbdinfo
requires nbdcopy
requires nbdkit --version
requires fallocate --help
is_blockkit || skip "compares blockkit with nbdkit (BLOCKKIT=$BLOCKKIT)"

dir=
for d in /usr/lib/x86_64-linux-gnu/nbdkit/plugins /usr/lib/*/nbdkit/plugins /usr/lib64/nbdkit/plugins; do
    if [[ -f "$d/nbdkit-sh-plugin.so" ]]; then dir="$d"; break; fi
done
[[ -n "$dir" && -f "$dir/nbdkit-eval-plugin.so" ]] ||
    skip "Debian's nbdkit sh and eval plugins are not installed"
NBDKIT="$(command -v nbdkit)"

# run_all NAME PLUGIN ARGS... -- RUN-COMMAND: run RUN-COMMAND (with $uri
# in it) under the three servers, output in $tmp/NAME.TAG.  PLUGIN is
# sh or eval; ARGS may use @TAG@, replaced by the server's tag.
run_all() {
    local name="$1" plugin="$2"; shift 2
    local args=() runcmd tag a
    while [[ "$1" != -- ]]; do args+=("$1"); shift; done
    shift; runcmd="$1"
    for tag in nbdkit debian blockkit; do
        local targs=()
        for a in "${args[@]}"; do targs+=("${a//@TAG@/$tag}"); done
        case $tag in
            nbdkit) set -- timeout -k 10 "$TEST_TIMEOUT" "$NBDKIT" -U - "$plugin" ;;
            debian) set -- bk -U - "$dir/nbdkit-$plugin-plugin.so" ;;
            blockkit) set -- bk -U - "$plugin" ;;
        esac
        "$@" "${targs[@]}" --run "$runcmd" >"$tmp/$name.$tag" 2>"$tmp/$name.$tag.err" ||
            { cat "$tmp/$name.$tag.err" >&2; fail "$name under $tag"; }
    done
    for tag in debian blockkit; do
        cmp -s "$tmp/$name.nbdkit" "$tmp/$name.$tag" || {
            diff -u "$tmp/$name.nbdkit" "$tmp/$name.$tag" >&2 || :
            fail "$name: $tag differs from nbdkit"
        }
    done
    echo "ok: $name (same under nbdkit, Debian's $plugin in blockkit, blockkit's $plugin)"
}

# ---------------------------------------------------------------------
# A file-backed disk with exports, descriptions, block sizes and every
# capability answered, extents from the file's holes.
cat >"$tmp/disk.sh" <<'EOF'
#!/usr/bin/env bash
f=$tmpdir/disk
case "$1" in
  config)
    [ "$2" = file ] || { echo "EINVAL unknown parameter $2" >&2; exit 1; }
    ln -sf "$(realpath "$3")" "$f" ;;
  thread_model) echo serialize_requests ;;
  list_exports) printf 'NAMES+DESCRIPTIONS\ndisk\nother\nthe main disk\nthe same disk\n' ;;
  default_export) printf 'INTERLEAVED\ndisk\nignored\n' ;;
  open) echo "handle-$2-$3" ;;
  export_description) echo "opened as $2" ;;
  get_size) stat -L -c %s "$f" ;;
  block_size) echo "512 4K 1M" ;;
  can_write|can_flush|can_trim|can_zero|can_extents|can_multi_conn) exit 0 ;;
  can_fast_zero|is_rotational) exit 3 ;;
  can_fua) echo native ;;
  can_cache) echo native ;;
  cache) [ "$3" -le 1048576 ] ;;
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
    /usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
end, o = os.fstat(fd).st_size, int(sys.argv[2])
while o < end:
    try: d = os.lseek(fd, o, os.SEEK_DATA)
    except OSError: d = end
    if d > o:
        print(o, d - o, "hole,zero"); o = d
    else:
        h = os.lseek(fd, o, os.SEEK_HOLE); print(o, h - o); o = h
    if sys.argv[3] == "req_one": break
' "$f" $4 "$5" ;;
  *) exit 2 ;;
esac
EOF
chmod +x "$tmp/disk.sh"

# The same starting image for each server: data, holes, zeroes.
truncate -s 4M "$tmp/base.img"
"$PYTHON" - "$tmp/base.img" <<'PYEOF'
import random, sys
r = random.Random(7)
with open(sys.argv[1], "r+b") as f:
    for off in (0, 512 << 10, 1 << 20, (3 << 20) + 4096):
        f.seek(off); f.write(r.randbytes(128 << 10))
    f.seek(2 << 20); f.write(bytes(64 << 10))
PYEOF
for t in nbdkit debian blockkit; do cp "$tmp/base.img" "$tmp/img.$t"; done

cat >"$tmp/info.py" <<'PYEOF'
import json, subprocess, sys
uri = sys.argv[1]
out = json.loads(subprocess.check_output(["nbdinfo", "--json", "--list", uri]))
keys = ["export-name", "description", "export-size", "is_rotational",
        "is_read_only", "can_cache", "can_fast_zero", "can_flush", "can_fua",
        "can_multi_conn", "can_trim", "can_zero", "block_size_minimum",
        "block_size_preferred", "block_size_maximum"]
for e in out["exports"]:
    print({k: e.get(k) for k in keys})
PYEOF
run_all info sh "$tmp/disk.sh" file="$tmp/img.@TAG@" -- \
    '"$PYTHON" "$tmp/info.py" "$uri"; nbdinfo --map "$uri"; nbdinfo --map --totals "$uri"'
grep -q "'export-name': 'other'" "$tmp/info.blockkit" || fail "export list: $(cat "$tmp/info.blockkit")"

cat >"$tmp/ops.py" <<'PYEOF'
import hashlib, random, sys, nbd
h = nbd.NBD(); h.add_meta_context("base:allocation"); h.set_export_name("disk")
h.connect_uri(sys.argv[1])
size = h.get_size()
r = random.Random(42)
for i in range(40):
    op = r.choice(["w", "wf", "trim", "zero", "zero_nohole", "cache", "flush"])
    off = r.randrange(0, size // 4096) * 4096
    n = min(r.choice([512, 4096, 65536, 200000, 1 << 20]), size - off)
    n -= n % 512
    if n == 0: continue
    if op == "w": h.pwrite(r.randbytes(n), off)
    elif op == "wf": h.pwrite(bytes([i]) * n, off, nbd.CMD_FLAG_FUA)
    elif op == "trim": h.trim(n, off)
    elif op == "zero": h.zero(n, off)
    elif op == "zero_nohole": h.zero(n, off, nbd.CMD_FLAG_NO_HOLE)
    elif op == "cache": h.cache(min(n, 1 << 20), off)
    else: h.flush()
    print(op, n, off)
h.flush()
# In 1M reads: the script's block_size says 1M at most.
print(hashlib.sha256(b"".join(h.pread(1 << 20, o)
                              for o in range(0, size, 1 << 20))).hexdigest())
ext = []
h.block_status(size, 0, lambda m, o, e, err: ext.extend(e))
print(ext)
one = []
h.block_status(size - 4096, 4096, lambda m, o, e, err: one.extend(e), nbd.CMD_FLAG_REQ_ONE)
print(one[:2])
PYEOF
run_all ops sh "$tmp/disk.sh" file="$tmp/img.@TAG@" -- \
    '"$PYTHON" "$tmp/ops.py" "$uri" && nbdcopy "$uri" - | md5sum'
for t in debian blockkit; do
    cmp "$tmp/img.nbdkit" "$tmp/img.$t" || fail "backing file after the same requests: $t differs"
done
echo "ok: backing files identical after the same requests"

# ---------------------------------------------------------------------
# nbdkit-sh-plugin(3), "Inline shell scripts", as printed there.
cat >"$tmp/inline" <<'EOF'
  case "$1" in
    get_size) echo 1M ;;
    pread) dd if=/dev/zero count=$3 iflag=count_bytes ;;
    *) exit 2 ;;
  esac
EOF
for t in nbdkit blockkit; do
    if [[ $t == nbdkit ]]; then s=("$NBDKIT"); else s=("$BLOCKKIT"); fi
    timeout -k 10 "$TEST_TIMEOUT" "${s[@]}" -U - sh - --run 'nbdinfo --size "$uri"; nbdcopy "$uri" - | md5sum' \
        <"$tmp/inline" >"$tmp/inline.$t" 2>/dev/null || fail "inline script under $t"
done
cmp "$tmp/inline.nbdkit" "$tmp/inline.blockkit" || fail "inline example differs"
grep -qx 1048576 "$tmp/inline.blockkit" || fail "inline example size"
echo "ok: nbdkit-sh-plugin(3) inline example"

# nbdkit-eval-plugin(1), the two EXAMPLES, as printed there.
run_all eval-zero eval get_size=' echo 64M ' \
    pread=' dd if=/dev/zero count=$3 iflag=count_bytes ' -- \
    'nbdinfo --size "$uri"; nbdinfo --map "$uri"; nbdsh -u "$uri" -c "import hashlib; print(hashlib.md5(h.pread(1 << 20, 63 << 20)).hexdigest())"'
for t in nbdkit debian blockkit; do cp "$tmp/base.img" "$tmp/eimg.$t"; done
cat >"$tmp/eval-ops.py" <<'PYEOF'
import hashlib, sys, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
print(h.get_size(), h.is_read_only(), h.can_flush(), h.can_trim(), h.can_zero())
h.pwrite(b"\x5a" * 70000, 12345)
h.zero(8192, 1 << 20)               # no zero method: written by pwrite
print(hashlib.sha256(h.pread(h.get_size(), 0)).hexdigest())
PYEOF
run_all eval-file eval \
  config='ln -sf "$(realpath "$3")" $tmpdir/file' \
  get_size='stat -Lc %s $tmpdir/file' \
  pread='dd if=$tmpdir/file skip=$4 count=$3 iflag=count_bytes,skip_bytes' \
  pwrite='dd of=$tmpdir/file seek=$4 conv=notrunc oflag=seek_bytes' \
  file="$tmp/eimg.@TAG@" -- '"$PYTHON" "$tmp/eval-ops.py" "$uri"'
for t in debian blockkit; do
    cmp "$tmp/eimg.nbdkit" "$tmp/eimg.$t" || fail "eval file example: $t's file differs"
done
echo "ok: nbdkit-eval-plugin(1) examples"
