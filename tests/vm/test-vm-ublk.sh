#!/usr/bin/env bash
# nbdattach --transport=ublk against the real ublk driver: boots Linux
# 6.12 (tests/vm/run-guest; Debian 12's 6.1 has no ublk) once and runs
# tests/vm/guest-ublk.sh there: the chain's parameters, ext4, xfs and
# btrfs with checksums, discard and zeroes on a file (blkdiscard -z,
# fallocate --punch-hole: zero requests, never writes), a read-only chain, fio verify
# on four queues, SIGTERM, kill -9 and --reattach (user recovery) under
# fio verify, detach idle and mounted, --list, --check, errors, udev
# links.  The VM has four CPUs so that each of the four queues has one
# (blk-mq maps CPUs to queues).  The 6.1 error is checked by
# test-vm-nbdattach-6.1.sh (check ublk-missing).
source "${abs_top_srcdir:-$srcdir/..}/tests/functions.sh"

requires qemu-system-x86_64
[[ -x "$abs_top_builddir/nbdattach/nbdattach" ]] || fail "nbdattach not built"
[[ "${VM_KERNEL:-6.12}" == 6.12 ]] || skip "ublk needs the 6.12 kernel (VM_KERNEL=${VM_KERNEL})"
min_pass="${VM_MIN_PASS:-15}"

cat > "$tmp/guest.sh" <<GUEST
export abs_top_builddir='$(guest_path "$abs_top_builddir")'
export GUEST_CHECKS='${GUEST_CHECKS:-}' GUEST_VERBOSE='${GUEST_VERBOSE:-}'
exec bash '$(guest_path "$abs_top_srcdir")/tests/vm/guest-ublk.sh'
GUEST

status=0
VM_KERNEL=6.12 VM_CPUS="${VM_CPUS:-4}" VM_TIMEOUT=900 boot_guest run-guest guest ||
    status=$?
(( status != 77 )) || skip "run-guest cannot boot this kernel (above)"
guest_checks_result "$tmp/guest.txt" "$min_pass" || fail "see the guest's checks above"
