#!/usr/bin/env bash
# nbdattach against a real Linux kernel: boots the distribution's kernel
# under qemu (tests/vm/run-guest) once and runs every check in
# tests/vm/guest-nbdattach.sh there.  Each check's result is in the log
# under its own name ("CHECK NAME: PASS|FAIL").
source "${abs_top_srcdir:-$srcdir/..}/tests/functions.sh"

requires qemu-system-x86_64
[[ -r "$(ls /boot/vmlinuz-* 2>/dev/null | tail -n 1)" ]] ||
    skip "no kernel in /boot (install linux-image-amd64)"
[[ -x "$abs_top_builddir/nbdattach/nbdattach" ]] || fail "nbdattach not built"

# The guest sees the host's /tmp as /run/host-tmp (its own /tmp is a
# tmpfs): a tree under /tmp must be named that way there.
guest_path () {
    case "$1" in /tmp/*) echo "/run/host-tmp/${1#/tmp/}" ;; *) echo "$1" ;; esac
}
cat > "$tmp/guest.sh" <<GUEST
export abs_top_builddir='$(guest_path "$abs_top_builddir")'
exec bash '$(guest_path "$abs_top_srcdir")/tests/vm/guest-nbdattach.sh'
GUEST

VM_TIMEOUT=1500 "$abs_top_srcdir/tests/vm/run-guest" "$tmp/guest.sh" \
    > "$tmp/vm.log" 2>&1 || true
tr -d '\r' < "$tmp/vm.log" > "$tmp/vm.txt"
cat "$tmp/vm.txt"

grep -q "guest checks done" "$tmp/vm.txt" || fail "the guest did not finish its checks"
passed=$(grep -c "CHECK .*: PASS" "$tmp/vm.txt" || true)
failed=$(grep -c "CHECK .*: FAIL" "$tmp/vm.txt" || true)
echo "guest checks: $passed passed, $failed failed"
(( passed >= 16 )) || fail "expected at least 16 guest checks to pass"
(( failed == 0 )) || fail "guest checks failed: $(grep "CHECK .*: FAIL" "$tmp/vm.txt" | tr '\n' ' ')"
