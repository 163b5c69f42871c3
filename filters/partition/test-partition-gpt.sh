#!/usr/bin/env bash
# partition over a GPT disk image made with sfdisk (three partitions):
# data lands at each partition's offsets; a damaged primary header or
# entry array falls back to the backup; both damaged is refused.  And a
# GPT with 4096-byte sectors, detected or given.
source "$abs_top_srcdir/tests/functions.sh"
export PATH="$PATH:/usr/sbin:/sbin"
requires sfdisk
requires_nbdsh
requires nbdinfo

M=1048576
img="$tmp/gpt.img"
truncate -s 32M "$img"
sfdisk -q "$img" <<'SFEOF'
label: gpt
size=4M
size=8M
size=2M
SFEOF
sfdisk -d "$img"

"$PYTHON" "$srcdir/check-partitions.py" "$img" \
    timeout 60 "$BLOCKKIT" -U - --filter=partition file "$img" ||
    fail "GPT partitions"

psize() {
    bk "${@:2}" -U - --filter=partition file "$img" partition=$1 \
       --run 'nbdinfo --size "$uri"'
}
[[ "$(psize 3)" == $((2 * M)) ]] || fail "partition 3 size"
for n in 4 128 129; do
    if psize $n >"$tmp/out" 2>&1; then fail "partition=$n accepted"; fi
    grep -q "partition $n does not exist in this GPT" "$tmp/out" ||
        { cat "$tmp/out"; fail "error for partition=$n"; }
done

flip() {  # flip one byte of the image at offset $1
    "$PYTHON" - "$img" "$1" <<'PYEOF'
import sys
f = open(sys.argv[1], "r+b"); off = int(sys.argv[2])
f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0xff]))
PYEOF
}

# Damage the primary header (its disk GUID): the backup is used.
flip $((512 + 60))
psize 2 -v >"$tmp/size" 2>"$tmp/log" || { cat "$tmp/log"; fail "backup header"; }
[[ "$(cat "$tmp/size")" == $((8 * M)) ]] || fail "size via backup header"
grep -q "primary GPT header is damaged (header CRC32 mismatch" "$tmp/log" ||
    fail "no debug message about the backup header"
flip $((512 + 60))          # repaired
[[ "$(psize 2)" == $((8 * M)) ]] || fail "repaired primary"

# Damage the primary entry array (partition 1's name): backup again.
flip $((1024 + 60))
psize 1 -v >"$tmp/size" 2>"$tmp/log" || { cat "$tmp/log"; fail "backup array"; }
[[ "$(cat "$tmp/size")" == $((4 * M)) ]] || fail "size via backup array"
grep -q "partition array CRC32 mismatch" "$tmp/log" || fail "array message"

# Damage the backup header as well: refused, naming both problems.
flip $((32 * M - 512 + 60))
if psize 1 >"$tmp/out" 2>&1; then fail "doubly corrupt GPT accepted"; fi
cat "$tmp/out"
grep -q "corrupt GPT: primary header: partition array CRC32 mismatch; backup header: header CRC32 mismatch" "$tmp/out" ||
    fail "error for a doubly corrupt GPT"

# 4096-byte sectors: partitions at sectors 256 (1M) and 1024 (4M).
img4k="$tmp/gpt4k.img"
truncate -s 16M "$img4k"
"$PYTHON" "$srcdir/make-gpt-4k.py" "$img4k" $((16 * M)) 256:256 1024:512
for extra in "" partition-sectorsize=4k; do
    bk -U - --filter=partition file "$img4k" partition=2 $extra --run '
      nbdsh -u "$uri" -c "
assert h.get_size() == 2 * 1048576, h.get_size()
h.pwrite(b\"4k-sectors\" * 100, 0)
"' || fail "4K GPT ($extra)"
done
cmp -n 1000 -i $((4 * M)):0 "$img4k" \
    <("$PYTHON" -c 'import sys; sys.stdout.buffer.write(b"4k-sectors" * 100)') ||
    fail "4K GPT write did not land at 4M"
# Read as 512-byte sectors it is no GPT at all.
if bk -U - --filter=partition file "$img4k" partition=2 \
      partition-sectorsize=512 --run 'nbdinfo --size "$uri"' \
      >"$tmp/out" 2>&1; then
    fail "4K GPT accepted as 512"
fi
grep -q "corrupt GPT" "$tmp/out" || { cat "$tmp/out"; fail "4K as 512 error"; }
echo "$0: ok"
