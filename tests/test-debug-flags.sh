#!/usr/bin/env bash
# -v and -D PLUGIN.FLAG=N: a plugin's debug flag changes what it prints.
source "${srcdir:-$(dirname "$0")}/functions.sh"

timeout 60 "$BLOCKKIT" -f -v -U - data data='1 2 3' --run true >"$tmp/plain" 2>&1
timeout 60 "$BLOCKKIT" -f -v -D data.AST=1 -U - data data='1 2 3' --run true >"$tmp/ast" 2>&1
# Without -v: quiet.
timeout 60 "$BLOCKKIT" -f -U - data data='1 2 3' --run true >"$tmp/quiet" 2>&1

echo "--- -v:"; cat "$tmp/plain"
echo "--- -v -D data.AST=1:"; cat "$tmp/ast"
[[ -s "$tmp/plain" ]] || fail "-v printed nothing"
[[ ! -s "$tmp/quiet" ]] || fail "without -v the server printed: $(cat "$tmp/quiet")"
# The flag must add debug lines that plain -v does not print (socket paths
# and pids aside), and they must come from the data plugin's parser: nbdkit
# prints its AST, blockkit its parsed expression.
norm() { sed -E 's/[0-9]+/N/g; s|/tmp/[^ ]*||g' "$1" | sort -u; }
comm -13 <(norm "$tmp/plain") <(norm "$tmp/ast") >"$tmp/extra"
echo "--- lines only with -D data.AST=1:"; cat "$tmp/extra"
[[ -s "$tmp/extra" ]] || fail "-D data.AST=1 added no output"
grep -Eqi 'ast|expr|byte|N N N|\\x' "$tmp/extra" ||
    fail "-D data.AST=1 output does not describe the parsed data"
(( $(wc -l <"$tmp/ast") > $(wc -l <"$tmp/plain") )) ||
    fail "-D data.AST=1 did not add output"
# An unknown debug flag is either ignored (as nbdkit does) or refused with
# a message naming it; never a crash.
rc=0
timeout 60 "$BLOCKKIT" -f -D data.NoSuchFlag=1 -U - data data='1 2 3' --run true \
    >"$tmp/unknown" 2>&1 || rc=$?
if [[ $rc -ne 0 ]]; then
    (( rc < 128 )) || fail "-D with an unknown flag: killed by signal $((rc - 128))"
    grep -q NoSuchFlag "$tmp/unknown" ||
        fail "-D with an unknown flag failed without naming it: $(cat "$tmp/unknown")"
fi

echo "$0: ok"
