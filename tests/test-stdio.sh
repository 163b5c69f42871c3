#!/usr/bin/env bash
# What the server does with stdin and stdout, as nbdkit does:
#
# - With -s they carry the protocol from the start, so nbdkit_stdio_safe()
#   is false even during .config: Debian's sh plugin refuses "script=-"
#   (an inline script on stdin) instead of reading the client's bytes as
#   its script, and serves a script given by path.
# - -s cannot be combined with socket activation (the client is on the
#   activated socket, and stdout may be the user's terminal).
# - Without -s, once configured, the server's own stdin and stdout are
#   /dev/null (a plugin printing later cannot corrupt a pipe, nor read a
#   terminal); the --run command still gets the original ones.
# - A server started with stdin, stdout or stderr closed still works
#   (the sh plugin asserts that its pipes are not on fds 0-2).
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh
requires nbdinfo

sh_plugin=
for d in /usr/lib/x86_64-linux-gnu/nbdkit/plugins /usr/lib/*/nbdkit/plugins /usr/lib64/nbdkit/plugins; do
    if [[ -f "$d/nbdkit-sh-plugin.so" ]]; then sh_plugin="$d/nbdkit-sh-plugin.so"; break; fi
done
[[ -n "$sh_plugin" ]] || skip "Debian's nbdkit sh plugin is not installed"
export sh_plugin

cat >"$tmp/disk.sh" <<'EOF'
#!/usr/bin/env bash
case "$1" in
    open) echo handle ;;
    get_size) echo 64K ;;
    pread) head -c "$3" /dev/zero | tr '\0' Z ;;
    *) exit 2 ;;
esac
EOF
chmod +x "$tmp/disk.sh"
export script="$tmp/disk.sh"

# -s: the sh plugin serves a script given by path (bare word and
# script=), and nothing goes wrong when the client goes away (the server
# closes the connection's fds, then the plugin runs the script's close
# and unload with new pipes: not on fds 0 and 1).
nbdpy <<'PYEOF'
import os, nbd
for form in (os.environ["script"], "script=" + os.environ["script"]):
    h = nbd.NBD()
    h.connect_command(["sh", "-c",
        'exec "$0" -s --exit-with-parent "$1" "$2" 2>>"$tmp/s.err"',
        os.environ["BLOCKKIT"], os.environ["sh_plugin"], form])
    assert h.get_size() == 65536, h.get_size()
    assert h.pread(3, 1000) == b"ZZZ"
    h.shutdown()
PYEOF
# The last server may still be unloading.
for i in $(seq 50); do pgrep -f -- "-s --exit-with-parent $sh_plugin" >/dev/null || break; sleep 0.1; done
if [[ -s "$tmp/s.err" ]]; then
    cat "$tmp/s.err"
    fail "sh plugin under -s wrote errors"
fi
echo "ok: sh plugin under -s"

# -s: stdin is the client's, so "script=-" must be refused during .config.
# (Had the plugin been told stdin was safe, it would read the script from
# stdin here and then serve it.)
rc=0
bk -s "$sh_plugin" - <"$tmp/disk.sh" >"$tmp/out" 2>"$tmp/err" || rc=$?
cat "$tmp/err"
[[ $rc -ne 0 ]] || fail "-s with script=- was accepted (stdin read during .config)"
grep -q -- "-s" "$tmp/err" || fail "no error about -s: $(cat "$tmp/err")"
# ... while without -s, during .config, stdin is the user's to give.
bk -U - "$sh_plugin" - --run 'nbdinfo --size "$uri"' <"$tmp/disk.sh" >"$tmp/out" ||
    fail "script=- without -s"
[[ "$(cat "$tmp/out")" == 65536 ]] || fail "script=- without -s: $(cat "$tmp/out")"
echo "ok: nbdkit_stdio_safe"

# -s with socket activation is refused, and writes nothing on stdout.
rc=0
nbdinfo --size -- [ "$BLOCKKIT" -s memory 1M ] >"$tmp/out" 2>"$tmp/err" || rc=$?
[[ $rc -ne 0 ]] || fail "-s with socket activation was accepted"
[[ ! -s "$tmp/out" ]] || fail "-s with socket activation wrote on stdout: $(head -c 64 "$tmp/out")"
grep -qi "socket activation" "$tmp/err" || fail "no error about socket activation: $(cat "$tmp/err")"
echo "ok: -s and socket activation"

# --run: the server's stdin and stdout are /dev/null, the command's are
# the originals (here: a pipe in, a file out).
echo "typed by the user" |
    bk -U - -P "$tmp/run.pid" memory 1M --run '
        pid="$(cat "$tmp/run.pid")"
        echo "server stdin: $(readlink "/proc/$pid/fd/0")"
        echo "server stdout: $(readlink "/proc/$pid/fd/1")"
        echo "command stdin: $(cat)"
    ' >"$tmp/out"
cat "$tmp/out"
grep -qx "server stdin: /dev/null" "$tmp/out" || fail "--run: server stdin is not /dev/null"
grep -qx "server stdout: /dev/null" "$tmp/out" || fail "--run: server stdout is not /dev/null"
grep -qx "command stdin: typed by the user" "$tmp/out" || fail "--run: command lost stdin"

# Foreground server (-f): the same once it is serving.
start_server "$tmp/fg.sock" memory 1M </dev/zero
for fd in 0 1; do
    [[ "$(readlink "/proc/$server_pid/fd/$fd")" == /dev/null ]] ||
        fail "-f: server fd $fd is $(readlink "/proc/$server_pid/fd/$fd")"
done
stop_server "$server_pid"
echo "ok: stdin and stdout after configuration"

# Started with stdin, stdout and stderr closed, the server and the sh
# plugin (whose pipes must not land on fds 0-2) still work; the size is
# reported through a file since stdout is closed.  (nbdkit 1.32 fails
# this one.)
is_blockkit || { echo "$0: ok"; exit 0; }
bk -U - "$sh_plugin" "$tmp/disk.sh" \
    --run 'nbdinfo --size "$uri" >"$tmp/size" 2>"$tmp/run.err"' <&- >&- 2>&- ||
    fail "server started with fds 0-2 closed: $(cat "$tmp/run.err" 2>/dev/null)"
[[ "$(cat "$tmp/size")" == 65536 ]] || fail "fds 0-2 closed: size $(cat "$tmp/size")"
echo "ok: closed standard fds"

echo "$0: ok"
