#!/usr/bin/env bash
# The nbd plugin as a TLS client, towards real TLS servers on 127.0.0.1
# and Unix sockets: Debian's nbdkit --tls=require and blockkit --tls=require,
# with X.509 certificates made by certtool (server name checked, client
# certificates for --tls-verify-peer) and with PSK keys made by psktool.
# Data is verified byte for byte through the proxy; a wrong CA, a missing
# client certificate, a wrong key, and tls=off towards a TLS-only server
# are refused with a clear message in the log.
source "${srcdir:-$(dirname "$0")}/functions.sh"
is_blockkit || skip "the nbd plugin's messages are blockkit's"
requires nbdkit
requires nbdinfo
requires nbdcopy
requires certtool
requires psktool
requires_python

certs="$tmp/certs"
"$srcdir/make-tls-certs.sh" "$certs"
# What a client keeps: the CA (to check the server), its own certificate.
mkdir "$tmp/client" "$tmp/ca-only" "$tmp/wrong-ca" "$tmp/intruder"
cp "$certs/ca-cert.pem" "$certs/client-cert.pem" "$certs/client-key.pem" "$tmp/client/"
cp "$certs/ca-cert.pem" "$tmp/ca-only/"
cp "$certs/other/ca-cert.pem" "$tmp/wrong-ca/"
cp "$certs/ca-cert.pem" "$certs/other/client-cert.pem" \
   "$certs/other/client-key.pem" "$tmp/intruder/"
psktool -u alice -p "$tmp/wrong.psk" >/dev/null    # same user, other key

free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_remote NAME SERVER ARGS...: a TLS server on 127.0.0.1 (sets $port)
# or, for NAME ending in .sock, on a Unix socket.
start_remote() {
    local name="$1" server="$2"; shift 2
    local where pidfile="$tmp/$name.pid" i
    if [[ "$name" == *.sock ]]; then
        where=(-U "$tmp/$name")
    else
        port=$(free_port)
        where=(-p "$port" -i 127.0.0.1)
    fi
    rm -f "$pidfile"
    "$server" -f "${where[@]}" -P "$pidfile" "$@" >>"$tmp/remote.log" 2>&1 &
    _cleanup_pids+=("$!")
    for i in $(seq 100); do
        [[ -s "$pidfile" ]] && break
        sleep 0.1
    done
    [[ -s "$pidfile" ]] || { cat "$tmp/remote.log" >&2; fail "$server did not start: $*"; }
}

# through ARGS...: serve the nbd plugin with ARGS on a Unix socket, copy
# random data in and out through it, compare.
through() {
    local sock="$tmp/proxy.$RANDOM.sock"
    start_server "$sock" nbd "$@"
    head -c 8M /dev/urandom >"$tmp/in.img"
    nbdcopy --requests=16 "$tmp/in.img" "$(nbd_uri "$sock")"
    nbdcopy "$(nbd_uri "$sock")" "$tmp/out.img"
    cmp -n 8388608 "$tmp/in.img" "$tmp/out.img" || fail "data differs through: $*"
    stop_server "$server_pid"
}

# refused WHAT ARGS...: a client of the nbd plugin with ARGS gets an error
# (never a hang), and the log says WHAT (an extended regex).
refused() {
    local what="$1"; shift
    local sock="$tmp/proxy.$RANDOM.sock" start=$SECONDS
    : >"$tmp/server.log"
    start_server "$sock" nbd "$@"
    expect_fail nbdinfo --size "$(nbd_uri "$sock")" 2>/dev/null
    (( SECONDS - start < 20 )) || fail "refusal took $((SECONDS - start)) s: $*"
    grep -Eqi "$what" "$tmp/server.log" || {
        cat "$tmp/server.log" >&2; fail "no clear message ($what) for: $*"; }
    grep -E "cannot connect" "$tmp/server.log" | head -1
    stop_server "$server_pid"
}

n=0
for server in nbdkit "$BLOCKKIT"; do
    n=$((n + 1))
    echo "=== remote: $server --tls=require, X.509"
    start_remote x509 "$server" --tls=require --tls-certificates="$certs" memory 16M
    # The name in the server's certificate is localhost and 127.0.0.1.
    through hostname=localhost port="$port" tls=require tls-certificates="$tmp/ca-only"
    through hostname=127.0.0.1 port="$port" tls=require tls-certificates="$tmp/client"
    # tls= defaults to "on" when tls-certificates= is given.
    through hostname=localhost port="$port" tls-certificates="$tmp/ca-only"
    # The URI shortcut: nbds:// requires TLS.
    through "nbds://localhost:$port/" tls-certificates="$tmp/ca-only"
    size=$(bk -U - "nbds://localhost:$port/" tls-certificates="$tmp/ca-only" \
              --run 'nbdinfo --size "$uri"')
    [[ "$size" == 16777216 ]] || fail "nbds:// shortcut: size $size"

    echo "== refusals"
    refused "certificate verification.*not signed by the CA" hostname=localhost port="$port" \
        tls=require tls-certificates="$tmp/wrong-ca"
    refused "requires TLS|TLS|refused|handshake|server" hostname=localhost \
        port="$port" tls=off
    # tls-verify=false accepts any server (the documented risk).
    through hostname=localhost port="$port" tls=require \
        tls-certificates="$tmp/wrong-ca" tls-verify=false

    echo "=== remote: $server --tls=require --tls-verify-peer"
    start_remote verify "$server" --tls=require --tls-certificates="$certs" \
        --tls-verify-peer memory 16M
    through hostname=localhost port="$port" tls=require tls-certificates="$tmp/client"
    refused "cannot connect" hostname=localhost port="$port" tls=require \
        tls-certificates="$tmp/ca-only"
    refused "cannot connect" hostname=localhost port="$port" tls=require \
        tls-certificates="$tmp/intruder"

    echo "=== remote: $server --tls=require, PSK, on a Unix socket"
    start_remote psk$n.sock "$server" --tls=require --tls-psk="$certs/keys.psk" memory 16M
    through socket="$tmp/psk$n.sock" tls=require tls-psk="$certs/keys.psk" tls-username=alice
    through "nbds+unix:///?socket=$tmp/psk$n.sock" tls-psk="$certs/keys.psk" tls-username=alice
    refused "cannot connect" socket="$tmp/psk$n.sock" tls=require \
        tls-psk="$tmp/wrong.psk" tls-username=alice
done

echo "=== TLS on both sides: blockkit --tls=require serving the nbd plugin"
start_remote both "$BLOCKKIT" --tls=require --tls-certificates="$certs" memory 16M
start_server "$tmp/both.sock" --tls=require --tls-certificates="$certs" \
    nbd hostname=localhost port="$port" tls=require tls-certificates="$tmp/ca-only"
uri="nbds+unix:///?socket=$tmp/both.sock&tls-certificates=$tmp/ca-only"
head -c 8M /dev/urandom >"$tmp/in.img"
nbdcopy "$tmp/in.img" "$uri"
nbdcopy "$uri" "$tmp/out.img"
cmp -n 8388608 "$tmp/in.img" "$tmp/out.img" || fail "data differs, TLS on both sides"

echo "$0: ok"
