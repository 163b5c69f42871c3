#!/usr/bin/env bash
# nbdattach against a real Linux kernel: boots a Debian kernel under qemu
# (tests/vm/run-guest; VM_KERNEL picks it, 6.12 by default) once and runs
# the checks of tests/vm/guest-nbdattach.sh there.  Each check's result is
# in the log under its own name and the kernel's ("CHECK NAME [KERNEL]:
# PASS|FAIL").  test-vm-nbdattach-6.1.sh runs a core subset on Debian
# 12's own kernel through this script: GUEST_CHECKS names the checks,
# VM_MIN_PASS how many must pass.
source "${abs_top_srcdir:-$srcdir/..}/tests/functions.sh"

requires qemu-system-x86_64
[[ -x "$abs_top_builddir/nbdattach/nbdattach" ]] || fail "nbdattach not built"
min_pass="${VM_MIN_PASS:-16}"

cat > "$tmp/guest.sh" <<GUEST
export abs_top_builddir='$(guest_path "$abs_top_builddir")'
export GUEST_CHECKS='${GUEST_CHECKS:-}'
exec bash '$(guest_path "$abs_top_srcdir")/tests/vm/guest-nbdattach.sh'
GUEST

status=0
VM_TIMEOUT=2700 boot_guest run-guest guest || status=$?
(( status != 77 )) || skip "run-guest cannot boot this kernel (above)"
guest_checks_result "$tmp/guest.txt" "$min_pass" || fail "see the guest's checks above"
