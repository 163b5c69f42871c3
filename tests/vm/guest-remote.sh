# Sourced by guest-nbdattach.sh, inside the VM: remote disks.  The remote
# server is blockkit itself, run in the guest on 127.0.0.1 with TLS
# required and client certificates checked (certtool certificates made
# here), serving a file; nbdattach reaches it through the nbd plugin.
# TCP rather than a Unix socket: libnbd (1.14) checks the server's
# certificate only against a host name, so over a Unix socket a wrong CA
# would go unnoticed.
#   remote-tls       attach over TLS, mkfs, mount, write, remount, verify
#   remote-restart   kill -9 the server during a verifying fio run, start
#                    it again 4 s later: fio finishes clean, fsck is clean
#   remote-down      the server down longer than the retry budget: I/O
#                    fails, the daemon lives, --check exits 2; the server
#                    back: I/O works and --check exits 0
#   remote-wrong-ca  a server certificate from another CA: a clear error
#                    at attach time
#   nbd-client-tls   the kernel's usual client, nbd-client, against
#                    blockkit --tls=require: attached with the client
#                    certificate, data written and read back
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BK="$B/server/blockkit"
CERTS=/tmp/remote-certs
REMOTE_IMG=/mnt/remote.img
REMOTE_PORT=10809
REMOTE_URI="nbds://localhost:$REMOTE_PORT/"

remote_setup () {
    [[ -d "$CERTS" ]] && return 0
    ip link set lo up
    "$SRC/tests/make-tls-certs.sh" "$CERTS"
    mkdir -p /tmp/client-tls /tmp/wrong-tls
    cp "$CERTS/ca-cert.pem" "$CERTS/client-cert.pem" "$CERTS/client-key.pem" /tmp/client-tls/
    # Trusts only another CA: the server's certificate will not verify.
    cp "$CERTS/other/ca-cert.pem" /tmp/wrong-tls/
    cp "$CERTS/client-cert.pem" "$CERTS/client-key.pem" /tmp/wrong-tls/
    truncate -s 256M "$REMOTE_IMG"
}

# The remote NBD server, in the background; its pid in /tmp/remote.pid.
remote_start () {
    rm -f /tmp/remote.pid
    "$BK" -f -i 127.0.0.1 -p "$REMOTE_PORT" -P /tmp/remote.pid --tls=require \
        --tls-certificates="$CERTS" --tls-verify-peer file "$REMOTE_IMG" \
        >>/tmp/remote-server.log 2>&1 &
    for i in $(seq 1 100); do [[ -s /tmp/remote.pid ]] && return 0; sleep 0.1; done
    echo "remote server did not start"; cat /tmp/remote-server.log; return 1
}
remote_stop () {
    local pid
    pid=$(cat /tmp/remote.pid)
    kill -9 "$pid"
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    echo "remote server $pid killed"
}

# attach ARGS...: nbdattach through the nbd plugin to the remote.
remote_attach () {
    "$NA" "$@" nbd uri="$REMOTE_URI" tls-certificates=/tmp/client-tls
}

remote_tls () {
    local dev
    remote_setup; remote_start
    dev=$(remote_attach -n remote1)
    echo "attached $dev over TLS"
    mkfs.ext4 -q "$dev"; mkdir -p /mnt/r1; mount "$dev" /mnt/r1
    head -c 5M /dev/urandom > /mnt/r1/data
    md5sum /mnt/r1/data > /tmp/r1.sum
    umount /mnt/r1; mount "$dev" /mnt/r1
    md5sum -c /tmp/r1.sum
    umount /mnt/r1
    detach "$dev"
    grep -q "TLS" /tmp/remote-server.log || true
    remote_stop
}
check remote-tls remote_tls

remote_restart () {
    local dev fiopid
    remote_setup; remote_start
    # The retry filter is added by nbdattach for the nbd plugin.
    dev=$(remote_attach -v -n remote2 2>/tmp/r2.err)
    grep -q "retry filter is added" /tmp/r2.err
    mkfs.ext4 -q "$dev"; mkdir -p /mnt/r2; mount "$dev" /mnt/r2
    fio --name=rr --directory=/mnt/r2 --ioengine=psync --rw=write --bs=64k \
        --size=48M --verify=crc32c --verify_fatal=1 --fsync=16 \
        >/tmp/fio-r2.log 2>&1 &
    fiopid=$!
    sleep 3
    remote_stop
    sleep 4
    remote_start
    echo "remote server restarted"
    wait "$fiopid" || { cat /tmp/fio-r2.log; return 1; }
    grep -E "err=" /tmp/fio-r2.log
    not grep -q "err= *[1-9]" /tmp/fio-r2.log
    umount /mnt/r2
    fsck.ext4 -fn "$dev"
    detach "$dev"
    remote_stop
}
check remote-restart remote_restart

remote_down () {
    local dev pid rc
    remote_setup; remote_start
    # The retry filter's keys go after the plugin (remote_attach puts its
    # arguments before it).
    dev=$("$NA" -n remote3 -P /tmp/r3.pid --filter=retry nbd uri="$REMOTE_URI" \
        tls-certificates=/tmp/client-tls retries=2 retry-delay=1 \
        retry-exponential=false)
    pid=$(cat /tmp/r3.pid)
    dd if=/dev/urandom of="$dev" bs=64k count=16 oflag=direct status=none
    "$NA" --check "$dev"
    remote_stop
    # Longer than the retry budget (about 2 s): reads fail, cleanly.
    if dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct 2>/tmp/r3.dd; then
        echo "read succeeded with the server down"; return 1
    fi
    cat /tmp/r3.dd
    kill -0 "$pid"
    echo "daemon $pid still alive"
    rc=0; "$NA" --check "$dev" 2>/tmp/r3.check || rc=$?
    cat /tmp/r3.check
    [[ $rc == 2 ]]
    grep -q "data source" /tmp/r3.check
    remote_start
    dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct status=none
    "$NA" --check "$dev"
    detach "$dev"
    remote_stop
}
check remote-down remote_down

remote_wrong_ca () {
    local out
    remote_setup; remote_start
    # In the foreground: a daemonizing nbdattach reports only "the chain
    # failed to open" and leaves the plugin's reason to syslog.
    if out=$(timeout 120 "$NA" -f -n remote4 nbd uri="$REMOTE_URI" \
                tls-certificates=/tmp/wrong-tls 2>&1); then
        echo "attached with the wrong CA: $out"; return 1
    fi
    echo "$out"
    grep -qiE "certificate|TLS" <<< "$out"
    remote_stop
}
check remote-wrong-ca remote_wrong_ca

nbd_client_tls () {
    local dev=/dev/nbd7
    remote_setup; remote_start
    # -certfile: Debian 12's nbd-client 3.24 lists -F in its help but its
    # getopt does not know it.
    nbd-client -N "" -A "$CERTS/ca-cert.pem" -certfile "$CERTS/client-cert.pem" \
        -K "$CERTS/client-key.pem" -H localhost -x 127.0.0.1 "$REMOTE_PORT" "$dev"
    head -c 1M /dev/urandom > /tmp/nc.data
    dd if=/tmp/nc.data of="$dev" bs=64k seek=16 oflag=direct status=none
    cmp <(dd if="$dev" bs=64k skip=16 count=16 iflag=direct status=none) /tmp/nc.data
    nbd-client -d "$dev"
    # Without TLS, nbd-client is refused by the server.
    if nbd-client -N "" 127.0.0.1 "$REMOTE_PORT" "$dev" 2>/tmp/nc.err; then
        nbd-client -d "$dev"; echo "plaintext nbd-client was served"; return 1
    fi
    cat /tmp/nc.err
    remote_stop
}
check nbd-client-tls nbd_client_tls
