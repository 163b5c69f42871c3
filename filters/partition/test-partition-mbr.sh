#!/usr/bin/env bash
# partition over an MBR disk image made with sfdisk: two primary
# partitions and an extended one holding two logical partitions.  Each
# data partition gets its own writes, which must land at its offsets in
# the image and nowhere else; the extended container and missing numbers
# are refused clearly.
source "$abs_top_srcdir/tests/functions.sh"
export PATH="$PATH:/usr/sbin:/sbin"
requires sfdisk
requires_nbdsh
requires nbdinfo

img="$tmp/mbr.img"
truncate -s 64M "$img"
sfdisk -q "$img" <<'SFEOF'
label: dos
size=4M, type=83
size=8M, type=83
type=5
size=4M, type=83
size=6M, type=83
SFEOF
sfdisk -d "$img"

"$PYTHON" "$srcdir/check-partitions.py" "$img" \
    timeout 60 "$BLOCKKIT" -U - --filter=partition file "$img" ||
    fail "data partitions"

# Partition 3 is the extended container, 4 and 7 do not exist.
for n in 3 4 7; do
    if bk -U - --filter=partition file "$img" partition=$n \
          --run 'nbdinfo --size "$uri"' >"$tmp/out" 2>&1; then
        cat "$tmp/out"; fail "partition=$n accepted"
    fi
    cat "$tmp/out"
done
bk -U - --filter=partition file "$img" partition=3 \
   --run 'nbdinfo --size "$uri"' >"$tmp/out" 2>&1 || :
grep -q "partition 3 is an extended partition" "$tmp/out" || fail "extended"
bk -U - --filter=partition file "$img" partition=7 \
   --run 'nbdinfo --size "$uri"' >"$tmp/out" 2>&1 || :
grep -q "partition 7 does not exist in this MBR" "$tmp/out" || fail "7"

# Extents are shifted: partition 5 was written at its start only.
bk -U - --filter=partition file "$img" partition=5 \
   --run 'nbdinfo --map "$uri"' >"$tmp/map"
cat "$tmp/map"
read -r off len typ _ <"$tmp/map"
[[ "$off" == 0 && "$typ" == 0 ]] || fail "partition 5 does not start with data"
[[ "$(awk 'END {print $1 + $2}' "$tmp/map")" == $((4 * 1048576)) ]] ||
    fail "partition 5 map does not end at its size"
echo "$0: ok"
