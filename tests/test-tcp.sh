#!/usr/bin/env bash
# -p PORT -i ADDR: serve on TCP (loopback).
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires nbdinfo

ok=
for attempt in 1 2 3 4 5; do
    port="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    rc=0
    bk -p "$port" -i 127.0.0.1 memory 5M --run '
        test "$port" = "'"$port"'" || { echo "\$port=$port"; exit 2; }
        nbdinfo --size "$uri" && nbdinfo --size "nbd://127.0.0.1:'"$port"'/"
    ' >"$tmp/out" 2>"$tmp/err" || rc=$?
    if [[ $rc -eq 0 ]]; then ok=1; break; fi
    grep -qi 'in use' "$tmp/err" || { cat "$tmp/err" "$tmp/out"; fail "TCP run failed ($rc)"; }
done
[[ -n "$ok" ]] || fail "could not find a free port"
[[ "$(sort -u "$tmp/out")" == 5242880 ]] || fail "sizes over TCP: $(cat "$tmp/out")"

echo "$0: ok"
