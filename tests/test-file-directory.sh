#!/usr/bin/env bash
# file plugin, directory mode: dir= and its other spelling directory=
# serve each file of a directory as an export, as nbdkit's file plugin
# does.  Where nbdkit 1.32 is installed, every export's bytes and the list
# of exports are compared with what nbdkit serves for the same directory
# (except the names starting with '.', which blockkit does not serve, on
# purpose: see blockkit-file-plugin(1)).
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires nbdinfo
requires nbdcopy

d="$tmp/dir"
mkdir "$d" "$d/subdir"
printf 'hello\n' >"$d/small"
head -c 100000 /dev/urandom >"$d/random"
truncate -s 1M "$d/sparse"
printf 'tail' | dd of="$d/sparse" bs=1 seek=$((512 * 1024)) conv=notrunc \
    status=none
ln -s random "$d/link"
ln -s nowhere "$d/dangling"
mkfifo "$d/fifo"
printf 'x' >"$d/.hidden"

# exports SERVER KEY: the sorted export names, one a line, without the
# names starting with '.'.
exports() {
    timeout -k 10 "$TEST_TIMEOUT" "$1" -U - file "$2=$d" \
        --run 'nbdinfo --list --json "$uri"' |
        "$PYTHON" -c '
import json, sys
names = [e["export-name"] for e in json.load(sys.stdin)["exports"]]
print("\n".join(sorted(n for n in names if not n.startswith("."))))'
}

want=$'link\nrandom\nsmall\nsparse'
for key in dir directory; do
    got="$(exports "$BLOCKKIT" "$key")"
    [[ "$got" == "$want" ]] || fail "$key=: exports are '$got', want '$want'"
    echo "ok: $key= lists the regular files and block devices"

    # Each export is the file's bytes.
    for f in small random sparse link; do
        bk -U - file "$key=$d" --run "nbdcopy \"nbd+unix:///$f?socket=\$unixsocket\" -" \
            >"$tmp/out" || fail "$key=: reading export $f"
        cmp "$tmp/out" "$d/$f" || fail "$key=: export $f is not the file"
    done
    echo "ok: $key= serves each file's bytes"
done

# The same through nbdkit, side by side.
if type -P nbdkit >/dev/null 2>&1; then
    for key in dir directory; do
        got="$(exports nbdkit "$key")"
        [[ "$got" == "$want" ]] ||
            fail "nbdkit $key= lists '$got', blockkit '$want'"
        for f in small random sparse link; do
            timeout -k 10 "$TEST_TIMEOUT" nbdkit -U - file "$key=$d" \
                --run "nbdcopy \"nbd+unix:///$f?socket=\$unixsocket\" -" \
                >"$tmp/ref" || fail "nbdkit $key=: reading export $f"
            bk -U - file "$key=$d" \
                --run "nbdcopy \"nbd+unix:///$f?socket=\$unixsocket\" -" \
                >"$tmp/out"
            cmp "$tmp/out" "$tmp/ref" || fail "$key=: export $f differs from nbdkit's"
        done
    done
    echo "ok: the same exports and bytes as nbdkit"
else
    echo "(nbdkit is not installed: no side by side comparison)"
fi

# dir= and directory= are one setting: the last one given wins.
mkdir "$tmp/other"
printf 'other' >"$tmp/other/only"
bk -U - file dir="$tmp/other" directory="$d" \
    --run 'nbdinfo --list "$uri"' >"$tmp/list" || fail "dir= then directory="
grep -q 'export="small"' "$tmp/list" && ! grep -q 'export="only"' "$tmp/list" ||
    fail "directory= given last did not win"
bk -U - file directory="$d" dir="$tmp/other" \
    --run 'nbdinfo --list "$uri"' >"$tmp/list" || fail "directory= then dir="
grep -q 'export="only"' "$tmp/list" && ! grep -q 'export="small"' "$tmp/list" ||
    fail "dir= given last did not win"
echo "ok: the last of dir= / directory= wins"

# Errors, as nbdkit has them: a file as the directory, both file= and
# directory=, a name with '/'.
expect_fail bk -U - file directory="$d/small" --run true >/dev/null 2>&1
expect_fail bk -U - file directory="$d" file="$d/small" --run true >/dev/null 2>&1
expect_fail bk -U - file directory="$d" \
    --run 'nbdinfo "nbd+unix:///subdir%2Fx?socket=$unixsocket"' >/dev/null 2>&1
expect_fail bk -U - file directory="$d" \
    --run 'nbdinfo "nbd+unix:///fifo?socket=$unixsocket"' >/dev/null 2>&1
echo "ok: errors"

# blockkit's help mentions the alias (nbdkit's does not).
if is_blockkit; then
    bk file --help | grep -q 'directory=' || fail "--help does not mention directory="
fi

echo "$0: ok"
