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
grep -qi ast "$tmp/ast" || fail "-D data.AST=1 printed no AST"
if grep -qi 'ast' "$tmp/plain"; then fail "AST printed without -D data.AST=1"; fi
(( $(wc -l <"$tmp/ast") > $(wc -l <"$tmp/plain") )) ||
    fail "-D data.AST=1 did not add output"

echo "$0: ok"
