#!/usr/bin/env bash
# The kernel matrix's second column: a core subset of the nbdattach guest
# checks (ext4 with checksums, fio verify on four connections, kill -9
# and --reattach under fio verify, the ioctl path, and the clear error of
# --transport=ublk on a kernel without ublk) on Debian 12's own kernel,
# 6.1; test-vm-nbdattach.sh runs them all on 6.12.
export VM_KERNEL=6.1
export GUEST_CHECKS="fs-ext4 multi-conn reattach ioctl ublk-missing zero-blkdiscard zero-range reattach-expired"
export VM_MIN_PASS=8
source "${abs_top_srcdir:-$srcdir/..}/tests/vm/test-vm-nbdattach.sh"
