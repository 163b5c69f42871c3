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
VM_TIMEOUT=2700 "$abs_top_srcdir/tests/vm/run-guest" "$tmp/guest.sh" \
    > "$tmp/vm.log" 2>&1 || status=$?
tr -d '\r' < "$tmp/vm.log" > "$tmp/vm.txt"
cat "$tmp/vm.txt"
(( status != 77 )) || skip "run-guest cannot boot this kernel (above)"

grep -q "guest checks done" "$tmp/vm.txt" || fail "the guest did not finish its checks"
passed=$(grep -c "CHECK .*: PASS" "$tmp/vm.txt" || true)
failed=$(grep -c "CHECK .*: FAIL" "$tmp/vm.txt" || true)
echo "guest checks: $passed passed, $failed failed"
(( passed >= min_pass )) || fail "expected at least $min_pass guest checks to pass"
(( failed == 0 )) || fail "guest checks failed: $(grep "CHECK .*: FAIL" "$tmp/vm.txt" | tr '\n' ' ')"
