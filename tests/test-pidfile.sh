#!/usr/bin/env bash
# -P PIDFILE with -f and without (daemonized): the pidfile names the live
# server process, which serves clients and dies on SIGTERM.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires nbdinfo

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

echo "$0: ok"
