#!/usr/bin/env bash
# --run (captive mode): the environment it sets, exit status propagation,
# -e export name, and that the server goes away when the command ends.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires nbdinfo

# The command sees $uri, $nbd, $unixsocket, $exportname, $port.
bk -U - -e myexport memory 1M --run '
    echo "uri=$uri"
    echo "nbd=$nbd"
    echo "unixsocket=$unixsocket"
    echo "exportname=$exportname"
    echo "port=${port-}"
' >"$tmp/env"
cat "$tmp/env"
sock="$(sed -n 's/^unixsocket=//p' "$tmp/env")"
[[ -n "$sock" ]] || fail "\$unixsocket not set"
grep -qx "uri=nbd+unix:///myexport?socket=$sock" "$tmp/env" || fail "bad \$uri"
grep -qx "nbd=nbd+unix:///myexport?socket=$sock" "$tmp/env" || fail "bad \$nbd"
grep -qx "exportname=myexport" "$tmp/env" || fail "bad \$exportname"
# -U - makes a private socket that is removed afterwards.
[[ ! -e "$sock" ]] || fail "temporary socket $sock left behind"

# Exit status of the command becomes the server's exit status.
for want in 0 1 3 42; do
    rc=0
    bk -U - memory 1M --run "exit $want" || rc=$?
    [[ $rc -eq $want ]] || fail "--run 'exit $want' gave exit status $rc"
done

# The command really talks to the server.
bk -U - memory 1M --run 'nbdinfo --size "$uri"' >"$tmp/size"
[[ "$(cat "$tmp/size")" == 1048576 ]] || fail "size through --run: $(cat "$tmp/size")"

# A failing client propagates.
rc=0
bk -U - memory 1M --run 'nbdinfo --size "nbd+unix:///?socket=/nonexistent"' 2>/dev/null || rc=$?
[[ $rc -ne 0 ]] || fail "failing --run command gave exit status 0"

# --run with a named socket (-U PATH).
bk -U "$tmp/named.sock" memory 1M --run 'test "$unixsocket" = "'"$tmp/named.sock"'" && nbdinfo --size "$uri"' >"$tmp/size"
[[ "$(cat "$tmp/size")" == 1048576 ]] || fail "named socket: $(cat "$tmp/size")"

# The server exits soon after the command does, even if a client is still
# connected to it (the command's own children are its business).
start=$SECONDS
bk -U - memory 1M --run 'true'
(( SECONDS - start < 20 )) || fail "server slow to exit after --run command"

echo "$0: ok"
