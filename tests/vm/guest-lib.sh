# What the guest scripts (guest-nbdattach.sh, guest-systemd-udev.sh,
# guest-systemd-boot.sh) share; sourced by them, inside the VM.

# check NAME FUNCTION [ARGS...]: runs FUNCTION in a subshell with errexit
# and pipefail, its output kept in /tmp/check-NAME.log, and prints
# "CHECK NAME [KERNEL]: PASS (UPTIME s)" or "CHECK NAME [KERNEL]: FAIL"
# (KERNEL: uname -r, the kernel matrix's column) and the end of the
# log: the lines the test-vm-*.sh scripts count.  A guest script that
# defines check_failed_more NAME gets it called after a failure, to show
# more (a journal, say).
#   GUEST_CHECKS="name ..."   run only these checks
#   GUEST_VERBOSE=1           show the log of passing checks too
# bash's <(...) names /dev/fd/N, which the chroot's devtmpfs lacks.
[[ -e /dev/fd ]] || ln -s /proc/self/fd /dev/fd

check () {
    local name="$1"; shift
    if [[ -n "${GUEST_CHECKS:-}" && " $GUEST_CHECKS " != *" $name "* ]]; then
        return 0
    fi
    # Not as an if's condition (nor with || or &&): there bash ignores
    # errexit in the whole subshell, set -e inside it included, and only
    # the function's last command would count.
    local rc opts="$-"
    set +e
    ( set -euo pipefail; "$@" ) > "/tmp/check-$name.log" 2>&1
    rc=$?
    [[ $opts != *e* ]] || set -e
    if (( rc == 0 )); then
        echo "CHECK $name [$(uname -r)]: PASS ($(cut -d' ' -f1 /proc/uptime) s)"
        [[ -z "${GUEST_VERBOSE:-}" ]] || sed 's/^/  | /' "/tmp/check-$name.log"
    else
        echo "CHECK $name [$(uname -r)]: FAIL"
        sed 's/^/  | /' "/tmp/check-$name.log" | tail -n 60
        if declare -F check_failed_more >/dev/null; then check_failed_more "$name"; fi
    fi
}

# wait_detached DEVICE: up to 20 s for nbdattach ($NA) to say DEVICE is
# no longer connected.
wait_detached () {
    local i
    for i in $(seq 1 100); do
        "$NA" --check "$1" || return 0
        sleep 0.2
    done
    echo "$1 still connected"; return 1
}
