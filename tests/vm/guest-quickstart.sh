#!/usr/bin/env bash
# The quick start's demonstration (README.md, ./quickstart): attach a
# 1 GiB memory disk as /dev/nbdN with nbdattach, format it (ext4), mount
# it, write a file, and say what was done and how to detach.
#
# ./quickstart runs it as root, either on the machine itself (its kernel
# has nbd) or, when the running kernel has no nbd, inside the test VM
# (tests/vm/run-guest: the distribution's kernel under qemu, the host root
# shared read-only, /mnt a tmpfs), where it also detaches at the end and
# shows that the device is gone.  It uses the *installed* nbdattach.
#
# Environment:
#   QS_NBDATTACH   nbdattach to use (default: the one on PATH)
#   QS_MNT         mount point (default /mnt/blockkit-demo)
#   QS_IN_VM       1: running in the test VM (load modules, detach at the end)
#   QS_SUDO        prefix for the commands printed for the user ("sudo " or "")
# Exit status 0 if everything worked; on failure, what was set up is undone.
set -euo pipefail
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

NA="${QS_NBDATTACH:-$(command -v nbdattach || true)}"
MNT="${QS_MNT:-/mnt/blockkit-demo}"
IN_VM="${QS_IN_VM:-0}"
SUDO="${QS_SUDO:-}"
NAME=blockkit-demo
dev=
mounted=0

step () { printf '\n--- %s\n' "$*"; }
# Shows a command, then runs it.
run () { printf '    # %s\n' "$*"; "$@"; }
indent () { sed 's/^/    /'; }
# nbdattach --list, without the devices nobody uses (the header, the
# connected ones, and $dev).
list () {
    printf '    # nbdattach --list   (connected devices)\n'
    "$NA" --list | awk -v d="${dev:-none}" 'NR == 1 || $4 == "yes" || $2 == d' | indent
}

[[ -n "$NA" && -x "$NA" ]] || {
    echo "quickstart demo: nbdattach not found (is it installed? PATH=$PATH)"; exit 1; }

wait_detached () {
    for _ in $(seq 1 100); do
        "$NA" --check "$1" || return 0
        sleep 0.2
    done
    echo "quickstart demo: $1 is still connected after 20 s"
    return 1
}

# Undo what this run set up, if it fails half way.
cleanup_on_error () {
    local status=$?
    trap - ERR EXIT
    if (( status != 0 )); then
        echo
        echo "quickstart demo: FAILED (exit status $status${failed_cmd:+, running: $failed_cmd});" \
             "undoing what was set up"
        if (( mounted )); then umount "$MNT" || umount -l "$MNT" || :; fi
        if [[ -n "$dev" ]] && "$NA" --check "$dev"; then
            "$NA" --detach "$dev" || :
            wait_detached "$dev" || :
        fi
    fi
    exit "$status"
}
failed_cmd=
trap 'failed_cmd=$BASH_COMMAND' ERR
trap cleanup_on_error EXIT

if [[ "$IN_VM" == 1 ]]; then
    step "Inside the VM: Linux $(uname -r), loading the nbd driver"
    run modprobe nbd
    modprobe ext4 2>/dev/null || :
    echo "    /sys/module/nbd: $([[ -d /sys/module/nbd ]] && echo present || echo absent)"
    echo "    nbdattach: $NA (from the host, shared over 9p)"
fi

# Idempotent: a demo left by an earlier run is taken down first.
if mountpoint -q "$MNT" 2>/dev/null; then
    old="$(findmnt -n -o SOURCE --mountpoint "$MNT" | tail -n 1)"
    [[ "$old" == /dev/nbd* ]] || {
        echo "quickstart demo: $MNT is in use ($old is mounted there): unmount it first"
        exit 1; }
    step "An earlier quick start demo is still mounted ($old on $MNT): removing it"
    run umount "$MNT"
    if "$NA" --check "$old"; then
        run "$NA" --detach "$old"
        wait_detached "$old"
    fi
fi
while "$NA" --check "$NAME" 2>/dev/null; do
    old="$("$NA" --list | awk -v n="$NAME" '$5 == n { print $2; exit }')"
    step "An earlier quick start demo device ($NAME${old:+, $old}) is still attached: detaching it"
    if [[ -n "$old" ]]; then
        for m in $(findmnt -n -o TARGET --source "$old" || true); do run umount "$m"; done
    fi
    run "$NA" --detach "$NAME"
    wait_detached "${old:-$NAME}"
done

step "Attaching a 1 GiB memory disk (the memory plugin: a sparse RAM disk) as /dev/nbdN"
printf '    # %s\n' "$NA -n $NAME memory 1G"
dev="$("$NA" -n "$NAME" memory 1G)"
echo "    $dev"
[[ "$dev" == /dev/nbd* && -b "$dev" ]] || { echo "unexpected device: '$dev'"; exit 1; }
nbd="${dev#/dev/}"
pid="$(cat "/sys/block/$nbd/pid" 2>/dev/null || echo '?')"
echo "    kernel: /sys/block/$nbd/size = $(cat "/sys/block/$nbd/size") sectors," \
     "backend = $(cat "/sys/block/$nbd/backend" 2>/dev/null || echo '?')," \
     "served by the nbdattach daemon, pid $pid"

step "Formatting it: ext4"
run mkfs.ext4 -q -F -L "$NAME" "$dev"

step "Mounting it on $MNT"
run mkdir -p "$MNT"
run mount "$dev" "$MNT"
mounted=1

step "Writing a file"
file="$MNT/hello.txt"
printf 'Hello from blockkit!\nWritten %s to %s, a 1 GiB memory disk served by nbdattach (pid %s).\n' \
    "$(date '+%F %T')" "$dev" "$pid" > "$file"
run sync "$file"
printf '    # cat %s\n' "$file"
indent < "$file"

step "What it looks like"
echo "    # df -h $MNT"
df -h "$MNT" | indent
list
dfline="$(df -h "$MNT" | tail -n 1)"

echo
echo "=== Done: a blockkit memory disk, formatted and mounted"
echo "    device:       $dev  (1 GiB memory disk, nbdattach daemon pid $pid)"
echo "    mount point:  $MNT"
echo "    file:         $file"
echo "    df -h:        $dfline"
echo "    to detach (the RAM disk's contents are discarded):"
echo "        ${SUDO}umount $MNT && ${SUDO}nbdattach --detach $dev"

if [[ "$IN_VM" == 1 ]]; then
    step "Detaching, as above (in the VM only: the VM is about to go away)"
    run umount "$MNT"
    mounted=0
    run "$NA" --detach "$dev"
    wait_detached "$dev"
    step "Gone:"
    if "$NA" --check "$dev"; then
        echo "    $dev is still connected"; exit 1
    fi
    echo "    # nbdattach --check $dev   -> exit status 1: not connected"
    echo "    /sys/block/$nbd/size = $(cat "/sys/block/$nbd/size") sectors"
    if [[ "$pid" != '?' ]]; then
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "    the daemon (pid $pid) is still running"; exit 1
        fi
    fi
    echo "    the nbdattach daemon (pid $pid) has exited"
    list
fi
