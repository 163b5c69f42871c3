#!/usr/bin/env bash
# cow-on-read copies what is read into the overlay, so it survives later
# changes to the file below; the /PATH form copies only while the file
# exists; cow-on-cache copies on CACHE requests.  Without either, reads
# follow the file below.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

img="$tmp/base.img"
export img B=65536
# A 1 MiB file of "old!".
fresh() {
    "$PYTHON" -c '
import sys
open(sys.argv[1], "wb").write(b"old!" * (1024 * 1024 // 4))' "$img"
}
fresh

# Overwrites part of the file behind the server's back.
change() {
    "$PYTHON" - "$img" "$1" "$2" <<'PYEOF'
import sys
off, n = int(sys.argv[2]), int(sys.argv[3])
with open(sys.argv[1], "r+b") as f:
    f.seek(off); f.write(b"NEW!" * (n // 4))
PYEOF
}

# --- cow-on-read=true ---
start_server "$tmp/sock1" --filter=cow file "$img" cow-on-read=true
export uri="$(nbd_uri "$tmp/sock1")"
nbdsh -u "$uri" -c '
B = 65536
# Read 1.5 blocks from the middle of block 1: blocks 1 and 2 are copied.
assert h.pread(B + B // 2, B + 100) == b"old!" * ((B + B // 2) // 4)'
change 0 $((4 * B))
nbdsh -u "$uri" -c '
B = 65536
assert h.pread(2 * B, B) == b"old!" * (2 * B // 4), "copied blocks changed"
assert h.pread(B, 0) == b"NEW!" * (B // 4), "block 0 was never read: it follows the file"
assert h.pread(B, 3 * B) == b"NEW!" * (B // 4), "block 3 was never read: it follows the file"
# A partial write into a copied block keeps the copied data.
h.pwrite(b"w" * 8, B + 8)
assert h.pread(24, B) == b"old!old!" + b"w" * 8 + b"old!old!"'
stop_server "$server_pid"

# --- cow-on-read=/PATH: only while the file exists ---
fresh
start_server "$tmp/sock2" --filter=cow file "$img" cow-on-read="$tmp/trigger"
export uri="$(nbd_uri "$tmp/sock2")"
nbdsh -u "$uri" -c 'h.pread(65536, 0)'           # trigger absent: not copied
touch "$tmp/trigger"
nbdsh -u "$uri" -c 'h.pread(65536, 65536)'       # trigger present: copied
rm "$tmp/trigger"
change 0 $((2 * B))
nbdsh -u "$uri" -c '
B = 65536
assert h.pread(B, 0) == b"NEW!" * (B // 4), "block read without the trigger was copied"
assert h.pread(B, B) == b"old!" * (B // 4), "block read with the trigger was not copied"'
stop_server "$server_pid"

# --- cow-on-cache ---
fresh
start_server "$tmp/sock3" --filter=cow file "$img" cow-on-cache=true
export uri="$(nbd_uri "$tmp/sock3")"
nbdsh -u "$uri" -c '
assert h.can_cache()
h.cache(2 * 65536, 4 * 65536)'
change 0 $((8 * B))
nbdsh -u "$uri" -c '
B = 65536
assert h.pread(2 * B, 4 * B) == b"old!" * (2 * B // 4), "cached blocks changed"
assert h.pread(B, 6 * B) == b"NEW!" * (B // 4), "uncached block did not follow the file"
# A plain read does not copy (cow-on-read is off) ...
assert h.pread(B, 7 * B) == b"NEW!" * (B // 4)'
fresh
nbdsh -u "$uri" -c '
B = 65536
# ... so the block still follows the file.
assert h.pread(B, 7 * B) == b"old!" * (B // 4), "plain read copied a block"'
echo OK
