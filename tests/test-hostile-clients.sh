#!/usr/bin/env bash
# Denial-of-service attacks from a hostile client (hostile-client.py, a raw
# socket client) against a live server, each with what it may cost the
# server: a refused large write is skipped at full speed, a write of 4 GiB
# ends the connection at once, a client that pipelines huge reads and never
# reads replies holds bounded memory and its queued work is dropped when it
# goes, SIGTERM ends the server within 2 s whatever a client does, a client
# that stalls the handshake is dropped by --timeout, and running out of file
# descriptors neither spins nor floods the log; a large read or write
# stalled by its client holds none of the memory plugin's pages.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_python
is_blockkit || skip "checks blockkit's limits"

attack() { timeout -k 5 120 "$PYTHON" "$srcdir/hostile-client.py" "$@"; }
# value KEY: the number hostile-client.py reported for KEY (from $out).
value() { sed -n "s/^$1=//p" <<<"$out"; }
# check EXPR WHAT: a floating-point comparison of reported numbers.
check() {
    if "$PYTHON" -c "import sys; sys.exit(0 if ($1) else 1)"; then
        echo "ok: $2 ($1)"
    else
        echo "$out"; fail "$2 ($1)"
    fi
}

start_server "$tmp/sock" memory 256M
pid="$server_pid"

echo "== a refused 64 MiB write (past the end) is skipped at full speed"
out="$(attack "$tmp/sock" "$pid" refused-write 64)"
check "$(value error) == 28 and $(value framing_kept) == 1" "ENOSPC, framing kept"
check "$(value server_cpu) < 2.0 and $(value seconds) < 20" "skipped fast"

echo "== a write of 0xffffffff bytes ends the connection at once"
out="$(attack "$tmp/sock" "$pid" huge-write)"
check "0 <= $(value disconnect_seconds) < 5" "disconnected"
check "$(value server_cpu) < 1.0 and $(value usable_after) == 1" "cheap, server usable"
grep -q "write of 4294967295 bytes.*disconnecting" "$tmp/server.log" ||
    fail "no clear error for the 4 GiB write"

echo "== a zero-length write"
out="$(attack "$tmp/sock" "$pid" zero-length-write)"
check "$(value error) == 0 and $(value framing_kept) == 1" "answered, framing kept"

echo "== 64 MiB reads pipelined for 8 s, replies never read"
out="$(attack "$tmp/sock" "$pid" pipeline 8)"
check "$(value rss_mib) < 400" "memory bounded"
check "$(value cpu_after_close) < 1.0" "queued work dropped when the client went"
check "$(value usable_after) == 1" "server usable after"
server_alive "$pid"

echo "== large requests stalled mid-way hold none of the plugin's pages"
out="$(attack "$tmp/sock" "$pid" stalled-direct 3)"
check "$(value trim_error) == 0 and $(value trim_seconds) < 1.0" "a trim of the same bytes answered at once"
check "$(value zeroes_after) == 1 and $(value usable_after) == 1" "trimmed, server usable"
server_alive "$pid"

echo "== SIGTERM while a client pipelines and never reads"
attack "$tmp/sock" "$pid" pipeline 4 60 >"$tmp/held.out" &
attacker=$!
for i in $(seq 100); do grep -q rss_mib "$tmp/held.out" && break; sleep 0.1; done
grep -q rss_mib "$tmp/held.out" || fail "the attack did not start"
start=$(date +%s%N)
kill -TERM "$pid"
while kill -0 "$pid" 2>/dev/null; do
    (( $(date +%s%N) - start < 10000000000 )) || break
    sleep 0.05
done
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
kill "$attacker" 2>/dev/null || :
out="exit_ms=$elapsed_ms"
check "$elapsed_ms <= 2000" "server exited within 2 s of SIGTERM"

echo "== --timeout: a client that stalls or trickles the handshake is dropped"
start_server "$tmp/sock2" --timeout=2 memory 1M
out="$(attack "$tmp/sock2" "$server_pid" idle 10)"
check "1.5 <= $(value dropped_after) < 5" "idle client dropped"
out="$(attack "$tmp/sock2" "$server_pid" slowloris 10)"
check "1.5 <= $(value dropped_after) < 5" "one byte a second, dropped"
grep -q "did not finish the handshake within 2 seconds" "$tmp/server.log" ||
    fail "no message for the handshake timeout"

echo "== out of file descriptors: no spinning, one log line, recovery"
: >"$tmp/server.log"
start_server "$tmp/sock3" memory 1M
kill "$server_pid"; sleep 0.5
rm -f "$tmp/sock3"
prlimit --nofile=40 "$BLOCKKIT" -f -U "$tmp/sock3" memory 1M \
    2>"$tmp/exhaust.log" &
pid3=$!
_cleanup_pids+=("$pid3")
for i in $(seq 100); do [[ -S "$tmp/sock3" ]] && break; sleep 0.1; done
out="$(attack "$tmp/sock3" "$pid3" exhaust 60 5)"
check "$(value cpu_while_exhausted) < 0.5" "no spinning while out of descriptors"
check "$(value usable_after) == 1" "new connections served once fds free up"
log_bytes=$(wc -c <"$tmp/exhaust.log")
out="log_bytes=$log_bytes"; check "$log_bytes < 2048" "log not flooded"
grep -q "Too many open files" "$tmp/exhaust.log" || fail "fd exhaustion not logged"
echo PASS
