#!/usr/bin/env bash
# `nbdattach rbd` against a real kernel and a real Ceph cluster (issue
# 12): starts a one-node cluster on the host's 127.0.0.1 (ceph-host.sh
# says why there), boots the test VM once (tests/vm/run-guest, the
# default kernel) with a user-mode network to reach it, and runs
# tests/vm/guest-rbd.sh there, which attaches the cluster's images as
# /dev/nbdN.  Ceph's client programs are handed to the guest in one image
# to run from the guest's page cache (ceph-in-ram.sh says why).  The log
# shows each check ("CHECK NAME [KERNEL]: PASS|FAIL").
source "${abs_top_srcdir:-$srcdir/..}/tests/functions.sh"
source "$abs_top_srcdir/tests/vm/ceph-in-ram.sh"
source "$abs_top_srcdir/tests/vm/ceph-host.sh"

requires qemu-system-x86_64
[[ $(id -u) -eq 0 ]] || skip "the Ceph cluster is started as root"
for p in ceph-mon ceph-osd ceph rbd monmaptool ceph-authtool uuidgen; do
    requires "$p"
done
[[ -x "$abs_top_builddir/nbdattach/nbdattach" ]] || fail "nbdattach not built"
plugin="$abs_top_builddir/plugins/rbd/.libs/blockkit-rbd-plugin.so"
[[ -r "$plugin" ]] || skip "the rbd plugin is not built (librbd-dev missing at configure)"

ceph_ram_pack "$tmp/ceph-ram.img" "$abs_top_builddir/nbdattach/nbdattach" "$plugin" ||
    fail "cannot pack Ceph's programs for the guest"

ceph_host_start "$tmp/ceph" "$(guest_path "$tmp/ceph")" || fail "the Ceph cluster did not start"
on_exit 'ceph_host_stop "$tmp/ceph"'

cat > "$tmp/guest.sh" <<GUEST
export abs_top_builddir='$(guest_path "$abs_top_builddir")'
export abs_top_srcdir='$(guest_path "$abs_top_srcdir")'
export CEPH_RAM_IMG='$(guest_path "$tmp/ceph-ram.img")'
export CEPH_CONF='$(guest_path "$tmp/ceph/guest.conf")'
export GUEST_CHECKS='${GUEST_CHECKS:-}' GUEST_VERBOSE='${GUEST_VERBOSE:-}'
exec bash '$(guest_path "$abs_top_srcdir")/tests/vm/guest-rbd.sh'
GUEST

status=0
t0=$SECONDS
VM_NIC=user,model=virtio-net-pci VM_TIMEOUT="${VM_TIMEOUT:-1200}" \
    boot_guest run-guest guest || status=$?
echo "the VM ran for $((SECONDS - t0)) s"
(( status != 77 )) || skip "run-guest cannot boot this kernel (above)"
guest_checks_result "$tmp/guest.txt" "${VM_MIN_PASS:-5}" || fail "see the guest's checks above"
