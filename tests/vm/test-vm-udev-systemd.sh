#!/usr/bin/env bash
# The udev rules and the systemd units (issue 5) in a real kernel, under
# qemu, two boots:
#   1. tests/vm/run-guest (a chroot on the host root) with systemd-udevd
#      running: tests/vm/guest-systemd-udev.sh, the /dev/disk/by-blockkit
#      links on attach and detach, partitions included;
#   2. tests/vm/run-guest-systemd, systemd as the guest's init on an
#      overlay over the host root: tests/vm/guest-systemd-boot.sh,
#      nbdattach@demo.service, the example mount unit, a kill -9 that
#      systemd repairs with the mount and its data intact, clean stops,
#      an fstab line with the unit enabled.
# Each check's result is in the log under its own name
# ("CHECK NAME [KERNEL]: PASS|FAIL"; VM_KERNEL picks it, 6.12 by default).
source "${abs_top_srcdir:-$srcdir/..}/tests/functions.sh"

requires qemu-system-x86_64
[[ -x /lib/systemd/systemd-udevd ]] || skip "systemd-udevd is not installed (install udev)"
[[ -x /lib/systemd/systemd ]] || skip "systemd is not installed (install systemd)"
[[ -x "$abs_top_builddir/nbdattach/nbdattach" ]] || fail "nbdattach not built"
[[ -f "$abs_top_builddir/systemd/nbdattach@.service" ]] || fail "systemd/nbdattach@.service not built"


# boot NAME RUNNER GUEST-SCRIPT MIN-PASSES
boot () {
    local name="$1" runner="$2" script="$3" min="$4"
    cat > "$tmp/$name.sh" <<GUEST
export abs_top_builddir='$(guest_path "$abs_top_builddir")'
export abs_top_srcdir='$(guest_path "$abs_top_srcdir")'
exec bash '$(guest_path "$abs_top_srcdir")/tests/vm/$script'
GUEST
    echo "=== boot $name: $runner $script"
    VM_TIMEOUT=600 boot_guest "$runner" "$name" || :
    echo "=== boot $name:"
    guest_checks_result "$tmp/$name.txt" "$min"
}

status=0
boot udev run-guest guest-systemd-udev.sh 4 || status=1
boot systemd run-guest-systemd guest-systemd-boot.sh 6 || status=1
(( status == 0 )) || fail "see the boot logs above"
