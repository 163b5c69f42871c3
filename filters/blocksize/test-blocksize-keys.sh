#!/usr/bin/env bash
# blocksize keys: minblock/maxdata/maxlen tighten what goes down; the size
# is rounded down to whole blocks; bad values are refused clearly.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
requires nbdinfo

plugin="$builddir/.libs/test-strict-plugin.so"
[[ -f "$plugin" ]] || fail "test plugin $plugin not built"
export log="$tmp/log"

bk -U - --filter=blocksize "$plugin" log="$log" minblock=4096 maxdata=8K \
   maxlen=16K --run 'nbdsh -u "$uri" -c "
h.pwrite(b\"\\x01\" * 100000, 3)
h.zero(100000, 200003)
h.trim(100000, 400003)
assert h.pread(100000, 3) == b\"\\x01\" * 100000
assert h.pread(100000, 200003) == bytes(100000)
"' || fail "client with explicit keys"
cat "$log" | sort | uniq -c | sort -rn | head
awk '$1 == "pwrite" || $1 == "pread" { if ($2 > 8192) bad++ }
     $1 == "zero" || $1 == "trim" { if ($2 > 16384) bad++ }
     { if ($2 % 4096 || $3 % 4096) bad++ }
     END { exit bad > 0 }' "$log" ||
    fail "a request broke minblock=4096 maxdata=8K maxlen=16K"
grep -q "^zero 16384 " "$log" || fail "zero not split at maxlen"
grep -q "^trim 16384 " "$log" || fail "trim not split at maxlen"

# Over a plugin without limits, minblock alone: the size is rounded down
# to whole blocks, and the client still sees minimum 1.
size="$(bk -U - --filter=blocksize memory size=10000 minblock=4096 \
        --run 'nbdinfo --size "$uri"')"
[[ "$size" == 8192 ]] || fail "size not rounded down to minblock: $size"
bk -U - --filter=blocksize memory size=1M minblock=4096 --run '
  nbdsh -u "$uri" -c "
assert h.get_block_size(nbd.SIZE_MINIMUM) == 1
assert h.get_block_size(nbd.SIZE_PREFERRED) == 4096
h.pwrite(b\"abc\", 4095)
assert h.pread(5, 4094) == b\"\\0abc\\0\"
"' || fail "minblock over memory"

for args in minblock=3 minblock=128K maxdata=128M "minblock=512 maxdata=1000" \
            "minblock=512 maxlen=700" maxlen=x; do
    if bk -U - --filter=blocksize memory size=1M $args --run true \
          >"$tmp/out" 2>&1; then
        fail "'$args' accepted"
    fi
    grep -q "blocksize filter: \|could not parse\|$args" "$tmp/out" ||
        { cat "$tmp/out"; fail "no clear error for '$args'"; }
done
echo "$0: ok"
