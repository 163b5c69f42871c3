#!/usr/bin/env bash
# ip: the rule words of nbdkit-ip-filter(1) beyond addresses: the all*
# spellings (allipv4, allipv6, allunix, allvsock) as well as any*, and
# pid:, uid:, gid: matched against the Unix socket peer's credentials
# (SO_PEERCRED).  For pid: the client is a Python process that starts
# the server itself, so it knows the pid the server will see.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh

verdict() {
    if bk "$@" --run 'nbdsh -u "$uri" -c "h.pread(512, 0)"' \
        >"$tmp/out" 2>&1; then
        echo ok
    else
        echo refused
    fi
}
check() {
    local want="$1"; shift
    local got
    got="$(verdict "$@")"
    [[ "$got" == "$want" ]] || { cat "$tmp/out"; fail "$*: expected $want, got $got"; }
    echo "$want: $*"
}

unix=(-U - --filter=ip memory 1M)
check refused "${unix[@]}" deny=allunix
check ok      "${unix[@]}" allow=allunix deny=all
check ok      "${unix[@]}" deny=allipv4,allipv6,allvsock
check refused "${unix[@]}" deny=allipv4,allunix
grep -q "client not permitted to connect because of source address restriction" \
    "$tmp/out" || fail "refusal lacks nbdkit's message: $(cat "$tmp/out")"
check ok      "${unix[@]}" allow=uid:"$(id -u)",gid:12345 deny=all
check ok      "${unix[@]}" allow=gid:"$(id -g)" deny=all
check refused "${unix[@]}" allow=uid:"$(( $(id -u) + 1 ))" deny=all
check ok      "${unix[@]}" deny=pid:1

port="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
tcp4=(-p "$port" -i 127.0.0.1 --filter=ip memory 1M)
check refused "${tcp4[@]}" deny=allipv4
check ok      "${tcp4[@]}" deny=allipv6,allunix,uid:"$(id -u)",pid:1

# pid: the client's own pid, allowed or denied.
nbdpy <<'PYEOF'
import os, subprocess, time, nbd
tmp, server = os.environ["tmp"], os.environ["BLOCKKIT"]
me = os.getpid()

def try_connect(*rules):
    sock = os.path.join(tmp, "pidsock")
    pidfile = sock + ".pid"
    for f in (sock, pidfile):
        if os.path.exists(f):
            os.unlink(f)
    p = subprocess.Popen([server, "-f", "-U", sock, "-P", pidfile,
                          "--filter=ip", "memory", "1M"] + list(rules),
                         stderr=subprocess.PIPE)
    try:
        for i in range(100):
            if os.path.exists(pidfile):
                break
            time.sleep(0.1)
        h = nbd.NBD()
        try:
            h.connect_unix(sock)
            h.pread(512, 0)
            return "ok"
        except nbd.Error:
            return "refused"
    finally:
        p.terminate()
        p.wait()

for rules, want in [(["allow=pid:%d" % me, "deny=all"], "ok"),
                    (["deny=pid:%d" % me], "refused"),
                    (["allow=pid:%d" % (me + 1), "deny=all"], "refused"),
                    (["deny=pid:%d" % (me + 1)], "ok")]:
    got = try_connect(*rules)
    print(want, rules)
    assert got == want, (rules, got)
PYEOF

# Bad words are refused at startup with the word named.
for bad in pid: pid:x uid:-1 allipv5 vsock-cid:; do
    expect_fail bk --filter=ip memory 1M deny="$bad" --run true 2>"$tmp/err"
    grep -qF "$bad" "$tmp/err" || fail "deny=$bad: unclear error: $(cat "$tmp/err")"
done
echo OK
