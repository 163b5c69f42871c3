#!/usr/bin/env bash
# --run (captive mode): the environment it sets ($uri in nbdkit's form),
# its working directory, exit status propagation, -e export name, and
# that the server goes away when the command ends.
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

# The default export has no path in $uri, as nbdkit-captive(1) gives it;
# an export name and a socket path are percent-encoded, and the client
# gets back exactly the export name and socket asked for.
bk -U - memory 1M --run 'echo "$uri"; echo "$unixsocket"' >"$tmp/env"
sock="$(sed -n 2p "$tmp/env")"
[[ "$(sed -n 1p "$tmp/env")" == "nbd+unix://?socket=$sock" ]] ||
    fail "default export \$uri: $(sed -n 1p "$tmp/env")"
mkdir "$tmp/odd dir"
bk -U "$tmp/odd dir/s&o=ck" -e 'my export?/x' memory 1M --run '
    echo "$uri"
    nbdinfo --json "$uri" | grep -q "\"export-name\": \"my export?/x\"" && echo found
' >"$tmp/env"
[[ "$(sed -n 1p "$tmp/env")" == "nbd+unix:///my%20export%3F/x?socket=${tmp// /%20}/odd%20dir/s%26o%3Dck" ]] ||
    fail "encoded \$uri: $(sed -n 1p "$tmp/env")"
[[ "$(sed -n 2p "$tmp/env")" == found ]] || fail "encoded \$uri does not reach the export"

# The command runs in the directory the server was started in, and a
# relative -U is given to it as an absolute path.
mkdir "$tmp/wd"
(cd "$tmp/wd" && bk -U rel.sock memory 1M --run 'pwd; echo "$unixsocket"; nbdinfo --size "$uri"') >"$tmp/env"
[[ "$(cat "$tmp/env")" == "$tmp/wd"$'\n'"$tmp/wd/rel.sock"$'\n'1048576 ]] ||
    fail "--run working directory / relative -U: $(cat "$tmp/env")"

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
