#!/usr/bin/env bash
# round-up and round-down, alone and after truncate=.
source "$abs_top_srcdir/tests/functions.sh"
requires nbdinfo
requires_nbdsh

img="$tmp/odd.img"
"$PYTHON" -c '
import sys
open(sys.argv[1], "wb").write(b"\xaa" * 1000)' "$img"

size() { bk -r -U - --filter=truncate file "$img" "$@" \
            --run 'nbdinfo --size "$uri"'; }
[[ "$(size round-up=512)" == 1024 ]] || fail "round-up=512"
[[ "$(size round-down=512)" == 512 ]] || fail "round-down=512"
[[ "$(size round-up=4k)" == 4096 ]] || fail "round-up=4k"
[[ "$(size round-down=4k)" == 0 ]] || fail "round-down=4k"
[[ "$(size round-up=1)" == 1000 ]] || fail "round-up=1"
[[ "$(size truncate=5000 round-up=1k)" == 5120 ]] || fail "truncate+round-up"
[[ "$(size truncate=5000 round-down=1k)" == 4096 ]] || fail "truncate+round-down"

# The rounded-up tail reads as zeroes after the real bytes.
bk -r -U - --filter=truncate file "$img" round-up=512 --run '
  nbdsh -u "$uri" -c "assert h.pread(1024, 0) == b\"\\xaa\" * 1000 + bytes(24)"' ||
    fail "rounded-up tail"

if bk -U - --filter=truncate file "$img" round-up=512 round-down=512 \
      --run true >"$tmp/out" 2>&1; then
    fail "round-up with round-down accepted"
fi
grep -q "round-up and round-down" "$tmp/out" || { cat "$tmp/out"; fail "error"; }
echo "$0: ok"
