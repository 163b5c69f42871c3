#!/usr/bin/env bash
# `nbdattach rbd` against a real kernel and a real Ceph cluster (issue
# 12): boots the test VM once (tests/vm/run-guest, the default kernel)
# and runs tests/vm/guest-rbd.sh there, which starts a one-node cluster
# inside the guest (the VM has no network to the host) and attaches its
# images as /dev/nbdN.  Ceph's programs are handed to the guest in one
# image to run from the guest's page cache (ceph-in-ram.sh says why).  The log shows
# each check ("CHECK NAME [KERNEL]: PASS|FAIL") and the cluster's start
# time under emulation ("CEPH-START-SECONDS=").
source "${abs_top_srcdir:-$srcdir/..}/tests/functions.sh"
source "$abs_top_srcdir/tests/vm/ceph-in-ram.sh"

requires qemu-system-x86_64
[[ $(id -u) -eq 0 ]] || skip "the guest's Ceph cluster is started as root"
for p in ceph-mon ceph-osd ceph rbd monmaptool ceph-authtool uuidgen; do
    requires "$p"
done
[[ -x "$abs_top_builddir/nbdattach/nbdattach" ]] || fail "nbdattach not built"
plugin="$abs_top_builddir/plugins/rbd/.libs/blockkit-rbd-plugin.so"
[[ -r "$plugin" ]] || skip "the rbd plugin is not built (librbd-dev missing at configure)"

ceph_ram_pack "$tmp/ceph-ram.img" "$abs_top_builddir/nbdattach/nbdattach" "$plugin" ||
    fail "cannot pack Ceph's programs for the guest"

cat > "$tmp/guest.sh" <<GUEST
export abs_top_builddir='$(guest_path "$abs_top_builddir")'
export abs_top_srcdir='$(guest_path "$abs_top_srcdir")'
export CEPH_RAM_IMG='$(guest_path "$tmp/ceph-ram.img")'
export GUEST_CHECKS='${GUEST_CHECKS:-}' GUEST_VERBOSE='${GUEST_VERBOSE:-}'
exec bash '$(guest_path "$abs_top_srcdir")/tests/vm/guest-rbd.sh'
GUEST

# Memory: the unpacked programs (~220 MiB), the OSD's objects (memstore,
# in RAM) and the guest's /tmp all live in the guest's RAM.
status=0
t0=$SECONDS
VM_MEM="${VM_MEM:-3072M}" VM_TIMEOUT="${VM_TIMEOUT:-1500}" \
    "$abs_top_srcdir/tests/vm/run-guest" "$tmp/guest.sh" > "$tmp/vm.log" 2>&1 ||
    status=$?
tr -d '\r' < "$tmp/vm.log" > "$tmp/vm.txt"
cat "$tmp/vm.txt"
echo "the VM ran for $((SECONDS - t0)) s"
(( status != 77 )) || skip "run-guest cannot boot this kernel (above)"

grep -q "^CEPH-START-SECONDS=" "$tmp/vm.txt" || fail "the Ceph cluster did not start in the guest"
grep -q "guest checks done" "$tmp/vm.txt" || fail "the guest did not finish its checks"
passed=$(grep -c "CHECK .*: PASS" "$tmp/vm.txt" || true)
failed=$(grep -c "CHECK .*: FAIL" "$tmp/vm.txt" || true)
echo "guest checks: $passed passed, $failed failed"
(( failed == 0 )) || fail "guest checks failed: $(grep "CHECK .*: FAIL" "$tmp/vm.txt" | tr '\n' ' ')"
(( passed >= 3 )) || fail "expected at least 3 guest checks to pass"
