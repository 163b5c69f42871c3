#!/usr/bin/env bash
# -P PIDFILE with -f and without (daemonized): the pidfile names the live
# server process, which serves clients and dies on SIGTERM; relative -P
# and -U paths name files in the directory the server was started in.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires nbdinfo
requires_nbdsh

# Foreground (-f) in the background of this shell.
start_server "$tmp/fg.sock" memory 1M
[[ -d "/proc/$server_pid" ]] || fail "pidfile pid $server_pid not running"
[[ "$(nbdinfo --size "$(nbd_uri "$tmp/fg.sock")")" == 1048576 ]] || fail "foreground server size"
stop_server "$server_pid"

# Daemonized (no -f): the command returns, the pidfile names the daemon.
timeout 30 "$BLOCKKIT" -U "$tmp/bg.sock" -P "$tmp/bg.pid" memory 2M
for i in $(seq 100); do [[ -s "$tmp/bg.pid" ]] && break; sleep 0.1; done
[[ -s "$tmp/bg.pid" ]] || fail "daemon wrote no pidfile"
pid="$(cat "$tmp/bg.pid")"
[[ "$pid" =~ ^[0-9]+$ ]] || fail "pidfile content: $pid"
_cleanup_pids+=("$pid")
kill -0 "$pid" || fail "daemon pid $pid not running"
for i in $(seq 100); do [[ -S "$tmp/bg.sock" ]] && break; sleep 0.1; done
[[ "$(nbdinfo --size "$(nbd_uri "$tmp/bg.sock")")" == 2097152 ]] || fail "daemon server size"
stop_server "$pid"
# The pidfile is left in place (as nbdkit does); the socket is removed.
[[ -f "$tmp/bg.pid" ]] || fail "pidfile removed at exit"
# (nbdkit 1.32 leaves a -U socket behind.)
if is_blockkit; then
    for i in $(seq 50); do [[ -e "$tmp/bg.sock" ]] || break; sleep 0.1; done
    [[ ! -e "$tmp/bg.sock" ]] || fail "socket $tmp/bg.sock left behind"
fi

# Relative -P and -U for a daemon, as a script would write them: the
# command returns once the pidfile is written and the socket listens (no
# waiting needed), both files are in the directory the command ran in,
# not in / (where the daemon moves to), and at exit the socket there is
# removed and the pidfile kept.
mkdir "$tmp/rel"
cd "$tmp/rel"
rm -f /pid.blockkit-test /sock.blockkit-test
timeout 30 "$BLOCKKIT" -P pid.blockkit-test -U sock.blockkit-test memory 3M ||
    fail "daemon with relative -P and -U failed to start"
[[ ! -e /pid.blockkit-test && ! -e /sock.blockkit-test ]] ||
    fail "relative -P/-U written under /"
[[ -s ./pid.blockkit-test ]] || fail "no ./pid.blockkit-test when the command returned"
pid="$(cat ./pid.blockkit-test)"
_cleanup_pids+=("$pid")
[[ -S ./sock.blockkit-test ]] || fail "no socket ./sock.blockkit-test when the command returned"
[[ "$(nbdinfo --size "nbd+unix:///?socket=sock.blockkit-test")" == 3145728 ]] ||
    fail "daemon with relative -U: size"
[[ "$(readlink "/proc/$pid/cwd")" == / ]] || fail "daemon did not change to /"
kill "$pid"
for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "daemon $pid did not exit on SIGTERM"
if is_blockkit; then
    [[ ! -e ./sock.blockkit-test ]] || fail "relative socket not removed at exit"
fi
[[ -s ./pid.blockkit-test ]] || fail "relative pidfile removed at exit"

# Paths in keys, and a plugin given as a relative path, for a daemon:
# plugins are loaded and configured before the daemon changes to /, so
# nbdkit_realpath/nbdkit_absolute_path in .config see the user's
# directory (file=, the log filter's logfile=).
if is_blockkit; then
    mkdir plugdir
    cp "${abs_top_builddir:-$srcdir/..}/plugins/file/.libs/blockkit-file-plugin.so" plugdir/ ||
        fail "the file plugin is not built"
    printf 'relative file' >disk.img
    truncate -s 1M disk.img
    timeout 30 "$BLOCKKIT" -P pid2 -U sock2 --filter=log ./plugdir/blockkit-file-plugin.so \
        file=disk.img logfile=log.txt ||
        fail "daemon with a relative plugin path and file="
    pid="$(cat pid2)"
    _cleanup_pids+=("$pid")
    [[ "$(nbdsh -u "nbd+unix:///?socket=sock2" -c 'print(h.pread(13, 0).decode())')" == "relative file" ]] ||
        fail "daemon with relative file=: wrong data"
    kill "$pid"
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    grep -q "Read" log.txt || fail "log filter's relative logfile= not written here: $(ls)"
fi
cd "$tmp"

# A daemon that fails after going into the background (here: it cannot
# write its pidfile) makes the command fail, since the command waits for
# the daemon to be ready instead of returning success at once.
# (nbdkit 1.32 returns success before the daemon is ready.)
if is_blockkit; then
    rc=0
    timeout 30 "$BLOCKKIT" -P "$tmp/nonexistent/pid" -U "$tmp/bad.sock" \
        memory 1M 2>/dev/null || rc=$?
    [[ $rc -ne 0 ]] || fail "daemon that cannot write its pidfile: exit status 0"
fi

echo "$0: ok"
