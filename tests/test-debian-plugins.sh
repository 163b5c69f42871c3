#!/usr/bin/env bash
# The unchanged plugin binaries shipped in Debian's nbdkit package load into
# the server by path (ABI compatibility: every nbdkit_* symbol they use is
# exported by the server) and serve correct data.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh
requires nbdinfo

dir=
for d in /usr/lib/x86_64-linux-gnu/nbdkit/plugins /usr/lib/*/nbdkit/plugins /usr/lib64/nbdkit/plugins; do
    if [[ -f "$d/nbdkit-memory-plugin.so" ]]; then dir="$d"; break; fi
done
[[ -n "$dir" ]] || skip "Debian's nbdkit package (its plugins) is not installed"
p() { echo "$dir/nbdkit-$1-plugin.so"; }
for n in memory data pattern file null sparse-random; do
    [[ -f "$(p "$n")" ]] || fail "missing $(p "$n")"
    # --dump-plugin by path reads the plugin's own metadata.
    bk --dump-plugin "$(p "$n")" >"$tmp/dump" || fail "--dump-plugin $(p "$n")"
    grep -q "^name=$n\$" "$tmp/dump" || fail "--dump-plugin $n: $(cat "$tmp/dump")"
done

run_py() {
    local plugin="$1"; shift
    bk -U - "$(p "$plugin")" "$@" --run '"$PYTHON" "$tmp/check.py" "$uri"' ||
        fail "Debian $plugin plugin ($*)"
    echo "ok: Debian $plugin plugin $*"
}

# memory
cat >"$tmp/check.py" <<'PYEOF'
import os, sys, nbd
h = nbd.NBD(); h.add_meta_context("base:allocation"); h.connect_uri(sys.argv[1])
assert h.get_size() == 64 << 20
d = os.urandom(1 << 20)
h.pwrite(d, 5 << 20)
assert h.pread(1 << 20, 5 << 20) == d
h.zero(4096, 5 << 20)
assert h.pread(4096, 5 << 20) == bytes(4096)
h.trim(1 << 20, 20 << 20)
ext = []
h.block_status(1 << 20, 30 << 20, lambda m, o, e, err: ext.extend(e))
assert ext[1] & 1, ext
h.flush()
h.shutdown()
PYEOF
run_py memory size=64M

# data
cat >"$tmp/check.py" <<'PYEOF'
import sys, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
assert h.get_size() == 4096
assert h.pread(8, 0) == bytes([1, 2, 3]) + bytes(2) + b"\x55\xaa\x55"
h.shutdown()
PYEOF
run_py data data='1 2 3 @5 ( 0x55 0xAA )*2' size=4096

# pattern
cat >"$tmp/check.py" <<'PYEOF'
import sys, struct, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
assert h.get_size() == 1 << 30
for off in (0, 4096, 123456 * 8, (1 << 30) - 4096):
    got = h.pread(4096, off)
    assert got == b"".join(struct.pack(">Q", off + i) for i in range(0, 4096, 8)), off
h.shutdown()
PYEOF
run_py pattern size=1G

# file
head -c 8M /dev/urandom >"$tmp/disk.img"
sum="$(md5 "$tmp/disk.img")"
bk -U - "$(p file)" file="$tmp/disk.img" --run 'nbdcopy "$uri" "$tmp/copy.img"'
[[ "$(md5 "$tmp/copy.img")" == "$sum" ]] || fail "Debian file plugin: data differs"
bk -U - "$(p file)" file="$tmp/disk.img" --run 'nbdsh -u "$uri" -c "h.pwrite(b\"written by client\", 1000); h.flush()"'
[[ "$(dd if="$tmp/disk.img" bs=1 skip=1000 count=17 status=none)" == "written by client" ]] ||
    fail "Debian file plugin: write did not reach the file"
mkdir "$tmp/dir"; truncate -s 1M "$tmp/dir/x"; truncate -s 2M "$tmp/dir/y"
bk -U - "$(p file)" dir="$tmp/dir" --run 'nbdinfo --list --json "$uri"' >"$tmp/list.json"
"$PYTHON" -c '
import json, sys
e = json.load(open(sys.argv[1]))["exports"]
assert sorted((x["export-name"], x["export-size"]) for x in e) == [("x", 1 << 20), ("y", 2 << 20)], e
' "$tmp/list.json" || fail "Debian file plugin dir= listing"
echo "ok: Debian file plugin"

# null
cat >"$tmp/check.py" <<'PYEOF'
import sys, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
assert h.get_size() == 1 << 20
h.pwrite(b"x" * 512, 0)
assert h.pread(1 << 20, 0) == bytes(1 << 20)
h.shutdown()
PYEOF
run_py null size=1M

# sparse-random: the same seed gives the same disk, twice; and it is
# what Debian's nbdkit itself serves for that seed (if nbdkit is installed).
for i in 1 2; do
    bk -U - "$(p sparse-random)" size=64M seed=4242 --run 'nbdcopy "$uri" "$tmp/sr'"$i"'.img"'
done
cmp "$tmp/sr1.img" "$tmp/sr2.img" || fail "sparse-random not deterministic"
cmp -s -n $((64 << 20)) "$tmp/sr1.img" /dev/zero && fail "sparse-random disk is all zero"
if command -v nbdkit >/dev/null; then
    timeout 120 nbdkit -U - sparse-random size=64M seed=4242 --run 'nbdcopy "$uri" "$tmp/ref.img"'
    cmp "$tmp/sr1.img" "$tmp/ref.img" || fail "sparse-random differs from nbdkit's own"
fi
echo "ok: Debian sparse-random plugin"

echo "$0: ok"
