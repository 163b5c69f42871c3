# Sourced by run-guest and run-guest-systemd: runs qemu with the guest's
# serial console written to a file, shown live as it grows.
#
# Why not `-serial stdio` into a pipe: qemu makes its stdout non-blocking,
# and when the pipe was full for a moment on a busy host (the reader,
# tee, not scheduled) qemu's serial device waited for the pipe to become
# writable and never resumed: the guest's output stopped in the middle of
# a line, for good (the pipe empty, tee waiting to read), and the test
# ran into its timeout.  Seen twice in one afternoon with several VMs on
# 2 cores.  Writes to a regular file never have to wait.
#
#   qemu_with_console LOG TIMEOUT QEMU-ARGS...
#       shows the console on stdout (carriage returns dropped) and leaves
#       it in LOG; qemu's own messages follow it.
qemu_with_console () {
    local log="$1" secs="$2" qpid
    shift 2
    : > "$log"
    timeout "$secs" qemu-system-x86_64 "$@" -serial "file:$log" \
        </dev/null > "$log.qemu" 2>&1 &
    qpid=$!
    tail -n +1 -f --pid="$qpid" "$log" | tr -d '\r'
    wait "$qpid" || :
    tr -d '\r' < "$log.qemu"
    rm -f "$log.qemu"
}
