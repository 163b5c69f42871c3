#!/usr/bin/env bash
# partition: clear errors for a disk without a table, a partition past the
# end of the disk, overlapping partitions, and bad keys.
source "$abs_top_srcdir/tests/functions.sh"
export PATH="$PATH:/usr/sbin:/sbin"
requires sfdisk
requires nbdinfo

# expect_error IMAGE MESSAGE KEY=VALUE...: connecting must fail, and the
# server must say MESSAGE.
expect_error() {
    local img="$1" msg="$2"; shift 2
    if bk -U - --filter=partition file "$img" "$@" \
          --run 'nbdinfo --size "$uri"' >"$tmp/out" 2>&1; then
        cat "$tmp/out"; fail "$img $* accepted"
    fi
    grep -qF "$msg" "$tmp/out" || { cat "$tmp/out"; fail "$img $*: expected: $msg"; }
}

# No table at all; and a disk smaller than one sector.
truncate -s 1M "$tmp/blank.img"
expect_error "$tmp/blank.img" "no partition table: sector 0 has no MBR signature" partition=1
truncate -s 100 "$tmp/tiny.img"
expect_error "$tmp/tiny.img" "no partition table: the disk is only 100 bytes" partition=1

# A partition past the end: the image was cut short after partitioning.
truncate -s 64M "$tmp/cut.img"
sfdisk -q "$tmp/cut.img" <<'SFEOF'
label: dos
size=16M, type=83
size=40M, type=83
SFEOF
truncate -s 32M "$tmp/cut.img"
bk -U - --filter=partition file "$tmp/cut.img" partition=1 \
   --run 'nbdinfo --size "$uri"' >"$tmp/size" || fail "partition 1 of cut"
[[ "$(cat "$tmp/size")" == 16777216 ]] || fail "partition 1 of cut: size"
expect_error "$tmp/cut.img" "partition 2 (bytes 17825792-59768831) extends past the end of the disk (size 33554432)" partition=2

# Overlapping primaries (sfdisk will not make these: write the MBR).
truncate -s 8M "$tmp/overlap.img"
"$PYTHON" - "$tmp/overlap.img" <<'PYEOF'
import struct, sys
mbr = bytearray(512)
for i, (start, count) in enumerate([(2048, 4096), (4096, 4096)]):
    mbr[446 + 16 * i:462 + 16 * i] = struct.pack(
        "<B3sB3sII", 0, b"\0\0\0", 0x83, b"\0\0\0", start, count)
mbr[510:] = b"\x55\xaa"
f = open(sys.argv[1], "r+b"); f.write(mbr)
PYEOF
expect_error "$tmp/overlap.img" "partition 1 overlaps partition 2" partition=1
expect_error "$tmp/overlap.img" "partition 2 overlaps partition 1" partition=2

# Bad or missing keys are refused at startup.
for args in "" partition=0 partition=x "partition=1 partition-sectorsize=1000"; do
    if bk -U - --filter=partition file "$tmp/cut.img" $args --run true \
          >"$tmp/out" 2>&1; then
        fail "'$args' accepted"
    fi
    grep -q "partition" "$tmp/out" || { cat "$tmp/out"; fail "'$args' error"; }
done
bk -U - --filter=partition file "$tmp/cut.img" --run true >"$tmp/out" 2>&1 || :
grep -q "partition=N parameter is required" "$tmp/out" || fail "missing key"
echo "$0: ok"
