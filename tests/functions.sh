# Shared helpers for blockkit's tests.  Sourced by every test script:
#
#   source "${srcdir:-$(dirname "$0")}/functions.sh"
#
# Each test runs in its own temporary directory ($tmp) which is removed,
# together with every server the test started, when the script exits.
#
# The server under test is $BLOCKKIT (default: `blockkit`, which `make check`
# finds first on PATH as the uninstalled wrapper in the top build dir).  Set
# BLOCKKIT=nbdkit to run the same tests against another implementation.

set -euo pipefail

: "${srcdir:=$(cd "$(dirname "$0")" && pwd)}"
: "${builddir:=$(pwd)}"
export srcdir builddir

# Resolve the server to an absolute path now, before PATH is changed below.
BLOCKKIT_NAME="${BLOCKKIT:-blockkit}"
if ! BLOCKKIT="$(command -v "$BLOCKKIT_NAME")"; then
    echo "$0: SKIP: server '$BLOCKKIT_NAME' not found on PATH"
    exit 77
fi
export BLOCKKIT
# True when testing the real product rather than a reference server.
is_blockkit() { [[ "$(basename "$BLOCKKIT")" != nbdkit* ]]; }

# Debian's python3-libnbd lives in /usr/lib/python3/dist-packages, which only
# /usr/bin/python3 sees (another python3 may come first on PATH).  nbdsh is a
# shell wrapper that runs `python3`, so /usr/bin must come first.
export PATH="/usr/bin:$PATH"
PYTHON=/usr/bin/python3
export PYTHON

# Never hang: every server and client run is bounded.
: "${TEST_TIMEOUT:=180}"
export TEST_TIMEOUT

tmp="$(mktemp -d "${TMPDIR:-/tmp}/blockkit-test.XXXXXX")"
export tmp
declare -a _cleanup_pids=()
declare -a _cleanup_cmds=()

_cleanup() {
    local rc=$?
    local cmd pid i
    for cmd in "${_cleanup_cmds[@]}"; do
        eval "$cmd" || :
    done
    for pid in "${_cleanup_pids[@]}"; do
        kill "$pid" 2>/dev/null || :
    done
    for pid in "${_cleanup_pids[@]}"; do
        for i in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || :
    done
    rm -rf "$tmp"
    exit $rc
}
trap _cleanup EXIT
trap 'exit 1' INT TERM

# on_exit 'shell command': run it when the test exits.
on_exit() { _cleanup_cmds+=("$1"); }

# In CI (CI=true) everything is installed, so nothing may be skipped: a
# skip there is a failure (set BLOCKKIT_ALLOW_SKIP=1 to override).
skip() {
    if [[ "${CI:-}" == true && -z "${BLOCKKIT_ALLOW_SKIP:-}" ]]; then
        echo "$0: FAIL: would skip in CI: $*" >&2
        exit 1
    fi
    echo "$0: SKIP: $*"
    exit 77
}
fail() { echo "$0: FAIL: $*" >&2; exit 1; }

# requires CMD [ARGS...]: skip the test unless CMD runs successfully
# (with ARGS) or, given no ARGS, exists on PATH.
requires() {
    if [[ $# -eq 1 ]]; then
        type -P "$1" >/dev/null 2>&1 || skip "'$1' is not installed"
    else
        "$@" >/dev/null 2>&1 </dev/null || skip "'$*' failed"
    fi
}
requires_nbdsh() {
    requires nbdsh
    "$PYTHON" -c 'import nbd' 2>/dev/null ||
        skip "python3-libnbd (import nbd) is not available to $PYTHON"
}
requires_python() { requires "$PYTHON" -c 'import sys'; }

# expect_fail CMD...: run CMD, which must exit non-zero.
expect_fail() {
    if "$@"; then fail "expected failure from: $*"; fi
}

# The clients, bounded too: a server that stops answering fails the test
# instead of hanging it.  (Inside --run commands the server's own timeout,
# from bk, bounds them.)
for _c in nbdinfo nbdsh nbdcopy qemu-io qemu-img fio; do
    eval "$_c() { timeout -k 10 \"\$TEST_TIMEOUT\" $_c \"\$@\"; }"
done
unset _c

# bk ARGS...: run the server in the foreground, bounded by the timeout.
bk() { timeout -k 10 "$TEST_TIMEOUT" "$BLOCKKIT" "$@"; }

# start_server SOCKET ARGS...: start the server in the background on a Unix
# socket with a pidfile, wait until it is ready, and arrange for it to be
# killed (by pid) when the test exits.  Sets $server_pid.  Extra server
# options go before the plugin in ARGS.
start_server() {
    local sock="$1"; shift
    local pidfile="$sock.pid"
    rm -f "$pidfile"
    "$BLOCKKIT" -f -U "$sock" -P "$pidfile" "$@" >>"$tmp/server.log" 2>&1 &
    local bgpid=$!
    _cleanup_pids+=("$bgpid")
    local i
    for i in $(seq 300); do
        if [[ -s "$pidfile" && -S "$sock" ]]; then break; fi
        if ! kill -0 "$bgpid" 2>/dev/null; then
            cat "$tmp/server.log" >&2 || :
            fail "server exited during startup: $*"
        fi
        sleep 0.1
    done
    [[ -s "$pidfile" && -S "$sock" ]] ||
        fail "server did not start within 30 s: $*"
    server_pid="$(cat "$pidfile")"
    [[ "$server_pid" == "$bgpid" ]] ||
        fail "pidfile says $server_pid, but the server (-f) is pid $bgpid"
    _cleanup_pids+=("$server_pid")
}

# stop_server PID: kill a server started with start_server, wait for it.
stop_server() {
    local pid="$1" i
    kill "$pid" 2>/dev/null || :
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    fail "server $pid did not exit within 10 s of SIGTERM"
}

# server_alive PID: fail unless the server is still running.
server_alive() {
    kill -0 "$1" 2>/dev/null || {
        cat "$tmp/server.log" >&2 || :
        fail "server (pid $1) is no longer running"
    }
}

# nbd_uri SOCKET [EXPORT]: the NBD URI of a Unix socket.
nbd_uri() { echo "nbd+unix:///${2:-}?socket=$1"; }

# nbdpy SCRIPT-ON-STDIN: run a python3-libnbd script (with `nbd` imported).
nbdpy() { timeout -k 10 "$TEST_TIMEOUT" "$PYTHON" - "$@"; }

# cmp_hex FILE OFFSET EXPECTED-HEX: compare bytes of a file with hex.
md5() { md5sum "$1" | cut -d' ' -f1; }

# The path under which the test VM (tests/vm/run-guest) sees a host path:
# the guest has a /tmp of its own and sees the host's /tmp as
# /run/host-tmp; everything else is at the same path, read-only.
guest_path() {
    case "$1" in /tmp/*) echo "/run/host-tmp/${1#/tmp/}" ;; *) echo "$1" ;; esac
}

# boot_guest RUNNER NAME: boots the test VM with tests/vm/RUNNER
# (run-guest or run-guest-systemd) to run the guest script $tmp/NAME.sh,
# and shows its console, also kept in $tmp/NAME.txt.  The status is the
# runner's (77: this kernel cannot be booted here).  VM_* variables in
# the environment pass through (run-guest lists them).
boot_guest() {
    local runner="$1" name="$2" status=0
    "$abs_top_srcdir/tests/vm/$runner" "$tmp/$name.sh" > "$tmp/$name.log" 2>&1 ||
        status=$?
    tr -d '\r' < "$tmp/$name.log" > "$tmp/$name.txt"
    cat "$tmp/$name.txt"
    return "$status"
}

# guest_checks_result TXT MIN: the verdict on a guest's console log (the
# "CHECK NAME [KERNEL]: PASS|FAIL" lines of tests/vm/guest-lib.sh's
# check): prints the counts, and returns 1 saying why when the guest did
# not finish its checks, a check failed, or fewer than MIN passed.
guest_checks_result() {
    local txt="$1" min="$2" passed failed
    grep -q "guest checks done" "$txt" ||
        { echo "the guest did not finish its checks"; return 1; }
    passed=$(grep -c "CHECK .*: PASS" "$txt" || true)
    failed=$(grep -c "CHECK .*: FAIL" "$txt" || true)
    echo "guest checks: $passed passed, $failed failed"
    (( failed == 0 )) ||
        { echo "guest checks failed: $(grep "CHECK .*: FAIL" "$txt" | tr '\n' ' ')"; return 1; }
    (( passed >= min )) ||
        { echo "expected at least $min guest checks to pass"; return 1; }
}
