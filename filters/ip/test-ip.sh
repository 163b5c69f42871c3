#!/usr/bin/env bash
# ip: allow/deny by address over TCP (IPv4, and IPv6 where the host has
# it) and by uid/gid over a Unix socket; allow rules win over deny rules,
# and a client matching no rule is admitted.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

# verdict SERVER-ARGS... : "ok" if a client can read, "refused" if not.
verdict() {
    # $client_uri, if set, replaces the server's $uri (see IPv6 below).
    if bk "$@" --run 'nbdsh -u "${client_uri:-$uri}" -c "h.pread(512, 0)"' \
        >"$tmp/out" 2>&1; then
        echo ok
    else
        echo refused
    fi
}
free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
check() {
    local want="$1"; shift
    local got
    got="$(verdict "$@")"
    [[ "$got" == "$want" ]] || { cat "$tmp/out"; fail "$*: expected $want, got $got"; }
    echo "$want: $*"
}

tcp4=(-p "$(free_port)" -i 127.0.0.1 --filter=ip memory 1M)
check ok      "${tcp4[@]}"
check ok      "${tcp4[@]}" allow=127.0.0.1
check refused "${tcp4[@]}" deny=127.0.0.1
grep -q "127.0.0.1 refused" "$tmp/out" || fail "refusal does not name the client"
check refused "${tcp4[@]}" deny=127.0.0.0/8
check ok      "${tcp4[@]}" deny=10.0.0.0/8
check ok      "${tcp4[@]}" allow=127.0.0.1 deny=all
check refused "${tcp4[@]}" allow=10.1.2.3,192.168.0.0/16 deny=all
check refused "${tcp4[@]}" deny=anyipv4
check ok      "${tcp4[@]}" deny=anyipv6,anyunix
check ok      "${tcp4[@]}" deny=uid:0,gid:0

if "$PYTHON" -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
    port6="$(free_port)"
    tcp6=(-p "$port6" -i ::1 --filter=ip memory 1M)
    # The server's $uri does not bracket an IPv6 address; build our own.
    export client_uri="nbd://[::1]:$port6/"
    check ok      "${tcp6[@]}" allow=::1 deny=all
    check refused "${tcp6[@]}" deny=[::1]
    check refused "${tcp6[@]}" deny=::/0
    check ok      "${tcp6[@]}" deny=anyipv4
    check refused "${tcp6[@]}" deny=anyipv6
    unset client_uri
else
    echo "no IPv6 loopback here: IPv6 cases not run"
fi

unix=(-U - --filter=ip memory 1M)
check ok      "${unix[@]}" allow=uid:"$(id -u)" deny=all
check refused "${unix[@]}" deny=uid:"$(id -u)"
check ok      "${unix[@]}" deny=uid:"$(( $(id -u) + 1 ))"
check refused "${unix[@]}" deny=gid:"$(id -g)"
check refused "${unix[@]}" deny=anyunix
check ok      "${unix[@]}" deny=anyipv4,127.0.0.1

expect_fail bk --filter=ip memory 1M allow=300.1.2.3 --run true 2>"$tmp/err"
grep -q '300.1.2.3' "$tmp/err" || fail "bad rule: unclear error"
