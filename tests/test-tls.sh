#!/usr/bin/env bash
# TLS in the server, with real certificates (certtool), real PSK keys
# (psktool) and real clients (nbdinfo, nbdcopy, nbdsh with libnbd's TLS,
# and a raw python client using Python's ssl module for what libnbd will
# not do):
# - --tls=require: plaintext clients are refused and learn nothing (LIST
#   and INFO get NBD_REP_ERR_TLS_REQD, EXPORT_NAME is a disconnect);
#   TLS clients read and write, data verified.
# - state negotiated before STARTTLS is forgotten after it (structured
#   replies, meta contexts): CVE-2021-3716 in the established server.
# - --tls-verify-peer: no certificate, or one from another CA, is refused
#   with GnuTLS's reason in the log; the CA's client gets in and a plugin
#   sees nbdkit_is_tls() true.
# - --tls-psk: the right key gets in, a wrong one does not.
# - a client that stalls or sends garbage mid-handshake is dropped, and
#   the server goes on serving.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh
requires nbdinfo
requires nbdcopy
requires certtool
requires psktool
is_blockkit || skip "blockkit's own messages are checked"

certs="$tmp/certs"
"$srcdir/make-tls-certs.sh" "$certs"
# A client's view: only the CA (no client certificate).
mkdir "$tmp/ca-only" "$tmp/client" "$tmp/intruder"
cp "$certs/ca-cert.pem" "$tmp/ca-only/"
cp "$certs/ca-cert.pem" "$certs/client-cert.pem" "$certs/client-key.pem" "$tmp/client/"
cp "$certs/ca-cert.pem" "$tmp/intruder/"
cp "$certs/other/client-cert.pem" "$certs/other/client-key.pem" "$tmp/intruder/"

echo "== --tls=require: TLS clients served, data verified"
start_server "$tmp/req.sock" --tls=require --tls-certificates="$certs" memory 64M
req_pid=$server_pid
uri="nbds+unix:///?socket=$tmp/req.sock&tls-certificates=$tmp/ca-only"
head -c 16M /dev/urandom >"$tmp/data"
nbdcopy "$tmp/data" "$uri"
nbdcopy "$uri" "$tmp/back"
cmp -n 16777216 "$tmp/data" "$tmp/back" || fail "data read back over TLS differs"
nbdinfo "$uri" | grep -q 'uri: nbds+unix' || fail "nbdinfo did not use TLS"

echo "== --tls=require: a plaintext client is refused"
expect_fail nbdinfo --size "nbd+unix:///?socket=$tmp/req.sock" 2>"$tmp/plain.err"
grep -qi 'requires TLS' "$tmp/plain.err" || fail "plaintext refusal unclear: $(cat "$tmp/plain.err")"

echo "== qemu's own NBD client over TLS (it checks the certificate against the CA)"
requires qemu-io
qemu_tls() {  # qemu_tls CERT-DIR COMMAND: qemu-io on the export with TLS
    qemu-io --object "tls-creds-x509,id=tls0,dir=$1,endpoint=client" \
        --image-opts "driver=nbd,path=$tmp/req.sock,tls-creds=tls0,tls-hostname=localhost" \
        -c "$2"
}
qemu_tls "$tmp/ca-only" "write -P 0x5a 1M 64k" >/dev/null
qemu_tls "$tmp/ca-only" "read -P 0x5a 1M 64k" | grep -q "read 65536/65536" ||
    fail "qemu-io over TLS: pattern not read back"
mkdir "$tmp/wrong-ca"
cp "$certs/other/ca-cert.pem" "$tmp/wrong-ca/"
expect_fail qemu_tls "$tmp/wrong-ca" "read 0 512" 2>"$tmp/qemu-wrong.err"
grep -qi "issuer\|certificate" "$tmp/qemu-wrong.err" || fail "qemu, wrong CA: $(cat "$tmp/qemu-wrong.err")"
expect_fail qemu-io --image-opts "driver=nbd,path=$tmp/req.sock" -c "read 0 512" 2>"$tmp/qemu-plain.err"
grep -q "TLS is required" "$tmp/qemu-plain.err" || fail "qemu in plaintext: $(cat "$tmp/qemu-plain.err")"

echo "== raw: nothing is revealed before TLS; state before STARTTLS is forgotten"
start_server "$tmp/on.sock" --tls=on --tls-certificates="$certs" memory 1M
timeout 60 "$PYTHON" - "$tmp/req.sock" "$tmp/on.sock" "$certs/ca-cert.pem" <<'PYEOF'
import socket, ssl, struct, sys
REQ, ON, CA = sys.argv[1:4]
IHAVEOPT, REPLY_MAGIC = 0x49484156454F5054, 0x3e889045565a9
EXPORT_NAME, LIST, STARTTLS, INFO, GO, SR, SET_META = 1, 3, 5, 6, 7, 8, 10
ACK, SERVER, INFO_REP, META = 1, 2, 3, 4
ERR_INVALID, ERR_TLS_REQD = 0x80000003, 0x80000005
failures = []
def check(c, what):
    print(("ok: " if c else "FAIL: ") + what)
    if not c: failures.append(what)
def recvall(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d: raise EOFError
        b += d
    return b
def connect(path):
    s = socket.socket(socket.AF_UNIX); s.settimeout(20); s.connect(path)
    recvall(s, 18); s.sendall(struct.pack(">I", 3)); return s
def opt(s, o, data=b""):
    s.sendall(struct.pack(">QII", IHAVEOPT, o, len(data)) + data)
def replies(s, o):
    out = []
    while True:
        magic, ro, rtype, n = struct.unpack(">QIII", recvall(s, 20))
        assert magic == REPLY_MAGIC and ro == o
        out.append((rtype, recvall(s, n)))
        if rtype == ACK or rtype >= 0x80000000: return out
go_payload = struct.pack(">I", 0) + struct.pack(">H", 0)
meta_payload = struct.pack(">I", 0) + struct.pack(">I", 1) + \
    struct.pack(">I", 15) + b"base:allocation"

# require: LIST, INFO, SET_META_CONTEXT all refused, with no data.
s = connect(REQ)
for o, data in ((LIST, b""), (INFO, go_payload), (SR, b""), (SET_META, meta_payload)):
    opt(s, o, data)
    r = replies(s, o)
    check(len(r) == 1 and r[0][0] == ERR_TLS_REQD,
          "require: option %d before TLS -> ERR_TLS_REQD only (got %r)" % (o, [x[0] for x in r]))
opt(s, STARTTLS, b"x")
check(replies(s, STARTTLS)[0][0] == ERR_INVALID, "STARTTLS with a payload -> ERR_INVALID")
opt(s, EXPORT_NAME, b"")
try:
    d = s.recv(100)
    check(d == b"", "require: EXPORT_NAME before TLS -> disconnect (got %r)" % d)
except ConnectionResetError:
    check(True, "require: EXPORT_NAME before TLS -> disconnect")
s.close()

# on: negotiate SR + meta context in the clear, then STARTTLS, then GO.
s = connect(ON)
opt(s, SR); check(replies(s, SR)[-1][0] == ACK, "SR acked in the clear")
opt(s, SET_META, meta_payload)
r = replies(s, SET_META)
check(r[0][0] == META, "base:allocation negotiated in the clear")
opt(s, STARTTLS)
check(replies(s, STARTTLS)[-1][0] == ACK, "STARTTLS acked")
ctx = ssl.create_default_context(cafile=CA)
ctx.check_hostname = False
t = ctx.wrap_socket(s, server_hostname="localhost")
opt(t, GO, go_payload)
check(replies(t, GO)[-1][0] == ACK, "GO over TLS")
# READ: a simple reply (structured replies were forgotten).
t.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 0, 1, 0, 512))
magic, err, cookie = struct.unpack(">IIQ", recvall(t, 16))
check(magic == 0x67446698 and err == 0,
      "after STARTTLS replies are simple: SR was forgotten (magic 0x%x)" % magic)
recvall(t, 512)
# BLOCK_STATUS: invalid, the meta context was forgotten.
t.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 7, 2, 0, 512))
magic, err, cookie = struct.unpack(">IIQ", recvall(t, 16))
check(err == 22, "after STARTTLS block status is refused: meta context forgotten (err %d)" % err)
t.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 2, 3, 0, 0))
t.close()
sys.exit(1 if failures else 0)
PYEOF

echo "== --tls=on: plaintext and TLS both served; plugins see nbdkit_is_tls"
eval_plugin=/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-eval-plugin.so
if [[ -f "$eval_plugin" ]]; then
    start_server "$tmp/eval.sock" --tls=on --tls-certificates="$certs" "$eval_plugin" \
        get_size='echo 1M' open="echo \"\$4\" >>'$tmp/is_tls'; echo h" \
        pread='dd if=/dev/zero count=$3 iflag=count_bytes status=none'
    nbdinfo --size "nbd+unix:///?socket=$tmp/eval.sock" >/dev/null
    nbdinfo --size "nbds+unix:///?socket=$tmp/eval.sock&tls-certificates=$tmp/ca-only" >/dev/null
    [[ "$(tr '\n' ' ' <"$tmp/is_tls")" == "false true " ]] ||
        fail "open's tls argument: $(cat "$tmp/is_tls")"
else
    fail "Debian's eval plugin is missing (package nbdkit)"
fi

echo "== --tls-verify-peer"
start_server "$tmp/vp.sock" --tls=require --tls-certificates="$certs" \
    --tls-verify-peer memory 1M
vp="nbds+unix:///?socket=$tmp/vp.sock&tls-certificates="
[[ "$(nbdinfo --size "${vp}$tmp/client")" == 1048576 ]] || fail "the CA's client was refused"
expect_fail nbdinfo --size "${vp}$tmp/ca-only" 2>/dev/null
expect_fail nbdinfo --size "${vp}$tmp/intruder" 2>/dev/null
grep -q 'TLS handshake failed\|client certificate rejected' "$tmp/server.log" ||
    fail "no reason logged for the refused client certificates"

echo "== --tls-psk"
start_server "$tmp/psk.sock" --tls=require --tls-psk="$certs/keys.psk" memory 1M
[[ "$(nbdinfo --size "nbds+unix://alice@/?socket=$tmp/psk.sock&tls-psk-file=$certs/keys.psk")" == 1048576 ]] ||
    fail "PSK user alice refused"
psktool -u alice -p "$tmp/wrong.psk" >/dev/null
expect_fail nbdinfo --size "nbds+unix://alice@/?socket=$tmp/psk.sock&tls-psk-file=$tmp/wrong.psk" 2>/dev/null

echo "== a client that stalls or sends garbage mid-handshake"
start_server "$tmp/stall.sock" --timeout=2 --tls=require --tls-certificates="$certs" memory 1M
timeout 30 "$PYTHON" - "$tmp/stall.sock" <<'PYEOF'
import socket, struct, sys, time
IHAVEOPT = 0x49484156454F5054
def starttls(path):
    s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(path)
    s.recv(18); s.sendall(struct.pack(">I", 3))
    s.sendall(struct.pack(">QII", IHAVEOPT, 5, 0)); s.recv(20)
    return s
# Stall: no ClientHello at all.
s = starttls(sys.argv[1]); t0 = time.monotonic()
assert s.recv(100) == b"", "expected EOF"
took = time.monotonic() - t0
assert 1 <= took < 6, "dropped after %.1f s" % took
print("ok: stalled TLS handshake dropped after %.1f s" % took)
# Garbage instead of a ClientHello.
s = starttls(sys.argv[1]); s.sendall(b"\x16\x03\x01\xff\xff" + b"\x00" * 300)
try:
    while s.recv(100): pass
except ConnectionResetError:
    pass
print("ok: garbage handshake ended the connection")
PYEOF
nbdinfo --size "nbds+unix:///?socket=$tmp/stall.sock&tls-certificates=$tmp/ca-only" >/dev/null ||
    fail "server unusable after bad handshakes"
grep -q 'TLS handshake failed' "$tmp/server.log" || fail "handshake failure not logged"

echo "== --run's \$uri and \$tls; --oldstyle refuses TLS; missing certificates"
out="$(bk --tls=require --tls-certificates="$certs" -U - memory 1M --run 'echo "$tls $uri"')"
[[ "$out" == "2 nbds+unix://?socket="* ]] || fail "\$tls/\$uri: $out"
expect_fail bk --tls=on --oldstyle -U - memory 1M --run true 2>/dev/null
expect_fail bk --tls=require --tls-certificates="$tmp/nowhere" -U - memory 1M --run true 2>"$tmp/nocert.err"
grep -q 'no server certificate in' "$tmp/nocert.err" || fail "missing certificates: unclear error"
server_alive "$req_pid"
echo PASS
