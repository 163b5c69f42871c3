#!/usr/bin/env bash
# Options that scripts written for the established server pass, each
# checked for its real effect: -4/-6, --print-uri, --log=null,
# --no-meta-contexts, --mask-handshake, --short-options/--long-options,
# --swap, --vsock, --selinux-label, --keepalive, -v tracing with the
# nbdkit.backend.* debug flags, and the --dump-config compatibility keys.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh
requires nbdinfo
is_blockkit || skip "blockkit's own option set"

free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

echo "== --dump-config: blockkit's version, the established keys"
bk --dump-config >"$tmp/config"
grep -qx 'version_major=1' "$tmp/config" || fail "version_major"
grep -qx 'version_minor=32' "$tmp/config" || fail "version_minor"
grep -qx 'host_os=linux-gnu' "$tmp/config" || fail "host_os"
grep -q '^version=0\.' "$tmp/config" || fail "version is not blockkit's own"
bk --version | grep -q '^blockkit ' || fail "--version does not name blockkit"

echo "== --short-options / --long-options"
bk --short-options >"$tmp/short"
bk --long-options >"$tmp/long"
for o in -4 -6 -U -p -r -v; do grep -qx -- "$o" "$tmp/short" || fail "no $o"; done
for o in --print-uri --swap --vsock --keepalive --timeout --no-meta-contexts \
         --mask-handshake --selinux-label --ipv4-only --long-options; do
    grep -qx -- "$o" "$tmp/long" || fail "no $o in --long-options"
done

echo "== --print-uri: printed before the server goes into the background"
cd "$tmp"
uri="$(timeout 20 "$BLOCKKIT" --print-uri -U pu.sock -P pu.pid memory 1M)"
[[ "$uri" == "nbd+unix://?socket=$tmp/pu.sock" ]] || fail "--print-uri printed '$uri'"
_cleanup_pids+=("$(cat pu.pid)")
[[ "$(nbdinfo --size "$uri")" == 1048576 ]] || fail "the printed URI does not work"
kill "$(cat pu.pid)"

echo "== -4 and -6"
port=$(free_port)
out="$(bk -4 -p "$port" --print-uri memory 1M --run \
    'nbdinfo --size nbd://127.0.0.1:'"$port"'; ss -ltnH "sport = :'"$port"'"')"
grep -q 1048576 <<<"$out" || fail "-4: IPv4 client not served"
grep -q '\[::\]' <<<"$out" && fail "-4 listened on IPv6: $out"
if "$PYTHON" -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
    port=$(free_port)
    out="$(bk -6 -p "$port" memory 1M --run \
        'nbdinfo --size "nbd://[::1]:'"$port"'"; ss -ltnH "sport = :'"$port"'"')"
    grep -q 1048576 <<<"$out" || fail "-6: IPv6 client not served"
    grep -q '0\.0\.0\.0' <<<"$out" && fail "-6 listened on IPv4: $out"
else
    echo "note: this machine has no IPv6 loopback; -6 checked for its error only"
fi

echo "== --keepalive sets SO_KEEPALIVE on TCP clients"
# timers PORT [OPTIONS]: the kernel's timers on the server's side of an
# idle, connected client (ss shows "keepalive" only where SO_KEEPALIVE is).
timers() {
    local port="$1"; shift
    bk "$@" -p "$port" memory 1M --run '
      nbdsh -u nbd://127.0.0.1:'"$port"' -c "
import subprocess, time
time.sleep(0.5)
print(subprocess.run([\"ss\", \"-tnoH\", \"state\", \"established\",
                      \"sport = :'"$port"'\"], capture_output=True, text=True).stdout)
"'
}
timers "$(free_port)" --keepalive >"$tmp/ka"
grep -q 'timer:(keepalive' "$tmp/ka" ||
    { cat "$tmp/ka"; fail "--keepalive: no keepalive timer on the server's socket"; }
timers "$(free_port)" >"$tmp/noka"
grep -q 'keepalive' "$tmp/noka" && fail "keepalive on without --keepalive"

echo "== --log=null discards messages"
bk --log=null -U - memory 1M --run 'nbdinfo --size nbd+unix:///nosuchexport?socket=$unixsocket' \
    2>"$tmp/null.err" >/dev/null || :
grep -q 'blockkit' "$tmp/null.err" && fail "--log=null printed: $(cat "$tmp/null.err")"
expect_fail bk --log=bogus memory 1M

echo "== --no-meta-contexts"
bk -U - memory 1M --run 'nbdsh --base-allocation -u $uri -c "assert h.can_meta_context(\"base:allocation\")"'
bk -U - --no-meta-contexts memory 1M --run \
    'nbdsh --base-allocation -u $uri -c "assert not h.can_meta_context(\"base:allocation\")"'

echo "== --mask-handshake"
# Without NO_ZEROES offered, libnbd still connects (it reads the zeroes).
bk -U - --mask-handshake=1 memory 1M --run 'nbdinfo --size $uri' | grep -q 1048576 ||
    fail "--mask-handshake=1"
timeout 20 "$PYTHON" - <<'PYEOF' || fail "--mask-handshake=1: client flag not offered was accepted"
import os, socket, struct, subprocess, sys, time
d = os.environ["tmp"]
p = subprocess.Popen([os.environ["BLOCKKIT"], "-f", "-U", d + "/mask.sock",
                      "--mask-handshake=1", "memory", "1M"], stderr=subprocess.PIPE)
for _ in range(100):
    if os.path.exists(d + "/mask.sock"): break
    time.sleep(0.1)
s = socket.socket(socket.AF_UNIX); s.connect(d + "/mask.sock"); s.settimeout(10)
hs = s.recv(18)
gflags = struct.unpack(">H", hs[16:18])[0]
assert gflags == 1, gflags
s.sendall(struct.pack(">I", 3))      # NO_ZEROES was not offered
assert s.recv(100) == b""            # disconnected
p.terminate(); err = p.communicate()[1].decode()
assert "not offered" in err, err
PYEOF

echo "== -v traces every layer; nbdkit.backend.datapath=0 silences data calls"
bk -v -U - --filter=nozero memory 1M --run 'nbdsh -u $uri -c "h.pread(512, 4096)"' \
    2>"$tmp/v.err" >/dev/null
grep -q 'memory: pread count=512 offset=4096' "$tmp/v.err" || fail "no plugin pread trace"
grep -q 'nozero: pread count=512 offset=4096' "$tmp/v.err" || fail "no filter pread trace"
grep -q 'memory: can_write' "$tmp/v.err" || fail "no can_write trace"
bk -v -D nbdkit.backend.datapath=0 -U - memory 1M \
    --run 'nbdsh -u $uri -c "h.pread(512, 4096)"' 2>"$tmp/v0.err" >/dev/null
grep -q 'pread' "$tmp/v0.err" && fail "datapath=0 still traced pread"
grep -q 'memory: can_write' "$tmp/v0.err" || fail "datapath=0 hid the control path"
bk -v -D nbdkit.backend.controlpath=0 -U - memory 1M \
    --run 'nbdsh -u $uri -c "h.pread(512, 4096)"' 2>"$tmp/c0.err" >/dev/null
grep -q 'can_write' "$tmp/c0.err" && fail "controlpath=0 still traced can_write"
grep -q 'memory: pread' "$tmp/c0.err" || fail "controlpath=0 hid the data path"

echo "== .thread_model: the plugin first, then the filters from the inside out"
bk -v --filter=noparallel --filter=nozero -U - memory 1M --run true 2>"$tmp/tm.err"
order="$(sed -n 's/.*debug: \([a-z]*\): thread_model: .*/\1/p' "$tmp/tm.err" | tr '\n' ' ')"
[[ "$order" == "memory nozero noparallel " ]] || fail "thread_model order: $order"
grep -q 'using thread model: serialize_requests' "$tmp/tm.err" ||
    fail "noparallel's model did not win"

echo "== --swap locks the server in RAM"
if [[ $(id -u) -eq 0 ]]; then
    bk --swap -U - memory 1M --run 'grep VmLck /proc/$PPID/status' >"$tmp/lck"
    awk '/VmLck/ { exit !($2 > 0) }' "$tmp/lck" || fail "--swap: nothing locked: $(cat "$tmp/lck")"
else
    expect_fail bk --swap -U - memory 1M --run true
fi

echo "== --vsock"
expect_fail bk --vsock -U "$tmp/v.sock" memory 1M
if bk --vsock -p 1 -f memory 1M --run true 2>"$tmp/vsock.err"; then
    echo "ok: listened on AF_VSOCK"
else
    grep -q -- '--vsock' "$tmp/vsock.err" || fail "--vsock failed without saying why"
    echo "note: $(cat "$tmp/vsock.err")"
fi

echo "== --selinux-label"
if [[ -e /sys/fs/selinux/enforce ]]; then
    bk --selinux-label=system_u:object_r:svirt_socket_t:s0 -U - memory 1M --run true
else
    expect_fail bk --selinux-label=system_u:object_r:svirt_socket_t:s0 -U - memory 1M --run true 2>"$tmp/se.err"
    grep -q 'SELinux is not enabled' "$tmp/se.err" || fail "--selinux-label: unclear error"
fi
echo PASS
