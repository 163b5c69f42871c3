# Zeroing a device (issues 14 and 17): helpers and checks sourced by
# guest-nbdattach.sh (nbd devices) and guest-ublk.sh (ublk devices),
# inside the VM; sourcing defines functions only, each script runs the
# checks under its own names.  Linux 6.12's nbd driver sends
# NBD_CMD_WRITE_ZEROES when the server flags it (nbdattach does when the
# chain can zero), with NO_HOLE when the caller asked for the blocks to
# stay allocated (REQ_NOUNMAP: BLKZEROOUT, fallocate's zero range); 6.1's
# driver has no such command and the kernel writes zero pages instead.
# The ublk driver has had WRITE_ZEROES (with UBLK_IO_F_NOUNMAP) since it
# exists (6.0), and nbdattach gives ublk devices a write-zeroes limit when
# the chain can zero.  Whether a device takes zero requests is read from
# its queue (write_zeroes_max_bytes) and must match what its driver and
# kernel version can do (sends_zeroes).
#
# Each check zeroes 32 MiB at 8 MiB of a 64 MiB file of random data,
# through the file plugin under the stats filter (counts and bytes of
# zero and write requests) and the log filter (the flags of each zero
# request: trim=0 is NO_HOLE), and checks the range reads back as zeroes
# through the device and in the file, the rest is intact, and the file's
# allocation (du) matches the flag:
#   zero_blkdiscard  blkdiscard -z (BLKZEROOUT): NO_HOLE, blocks kept
#   zero_range       fallocate --zero-range, then fallocate -z: the same
#   zero_punch       fallocate --punch-hole: zero requests that may trim,
#                    the blocks freed (6.12); not supported on 6.1's nbd
#                    (the kernel refuses it: nothing may be written instead)
# The file lives on /mnt, a tmpfs, which has no FALLOC_FL_ZERO_RANGE: the
# file plugin zeroes with a hole punched and allocated again, so "blocks
# kept" is the plugin honouring NO_HOLE, not the filesystem's doing.
# Needs $NA and guest-lib.sh's wait_detached and wait_exited.
# ZERO_ATTACH: nbdattach options for the attach (guest-ublk.sh:
# --transport=ublk); none by default.

[[ -v ZERO_ATTACH ]] || ZERO_ATTACH=()
ZERO_IMG=/mnt/zero.img
ZERO_OFF=$((8 * 1024 * 1024))
ZERO_LEN=$((32 * 1024 * 1024))

# Whether the driver of the devices zero_run attaches sends WRITE_ZEROES
# on this kernel: ublk's always, nbd's from 6.12 on (by the version).
sends_zeroes () {
    local v
    [[ " ${ZERO_ATTACH[*]} " != *" --transport=ublk "* ]] || return 0
    v=$(uname -r | cut -d. -f1-2)
    [[ $(printf '%s\n6.12\n' "$v" | sort -V | head -n 1) == 6.12 ]]
}

# A field of the stats filter's line for OP ("zero", "write"): 2 is the
# count of requests, 6 their bytes; 0 if the op never came.
stats_field () {
    awk -v op="$1:" -v f="$2" '$1 == op { print $f; found = 1 }
                              END { if (!found) print 0 }' /tmp/zero.stats
}

# zero_run EXPECT COMMAND...: attaches the file (random data), runs
# COMMAND with the device as its last argument, detaches, and checks
# what the plugin saw.  EXPECT: "keep" (NO_HOLE: zero requests that may
# not trim, blocks kept), "punch" (zero requests that may trim, blocks
# freed) or "refused" (COMMAND must fail and change nothing).
zero_run () {
    local expect="$1" dev pid before after wzmax zeros zbytes wbytes rc wrong
    shift
    head -c $((64 * 1024 * 1024)) /dev/urandom > /tmp/zero.orig
    cp /tmp/zero.orig "$ZERO_IMG"
    rm -f /tmp/zero.stats /tmp/zero.log
    dev=$("$NA" "${ZERO_ATTACH[@]}" -P /tmp/zero.pid --filter=log --filter=stats \
              file "$ZERO_IMG" statsfile=/tmp/zero.stats logfile=/tmp/zero.log)
    pid=$(cat /tmp/zero.pid)
    wzmax=$(cat /sys/block/${dev#/dev/}/queue/write_zeroes_max_bytes)
    echo "kernel $(uname -r), $dev: write_zeroes_max_bytes=$wzmax"
    if sends_zeroes; then (( wzmax > 0 )); else (( wzmax == 0 )); fi
    before=$(du -k "$ZERO_IMG" | cut -f1)
    rc=0
    echo "+ $* $dev"
    "$@" "$dev" || rc=$?
    sync
    if [[ $expect == refused ]]; then
        (( rc != 0 ))
        cmp <(dd if="$dev" bs=1M iflag=direct status=none) /tmp/zero.orig
    else
        (( rc == 0 ))
        cmp <(dd if="$dev" bs=1M skip=8 count=32 iflag=direct status=none) \
            <(head -c $ZERO_LEN /dev/zero)
        cmp <(dd if="$dev" bs=1M count=8 iflag=direct status=none) \
            <(head -c $ZERO_OFF /tmp/zero.orig)
        cmp <(dd if="$dev" bs=1M skip=40 iflag=direct status=none) \
            <(tail -c $((24 * 1024 * 1024)) /tmp/zero.orig)
    fi
    "$NA" --detach "$dev"; wait_detached "$dev"
    wait_exited "$pid"
    after=$(du -k "$ZERO_IMG" | cut -f1)
    cat /tmp/zero.stats
    grep " Zero " /tmp/zero.log | head -n 5 || :
    zeros=$(stats_field zero 2); zbytes=$(stats_field zero 6)
    wbytes=$(stats_field write 6)
    echo "zero requests: $zeros ($zbytes bytes), writes: $wbytes bytes," \
         "allocated: ${before}K before, ${after}K after"
    [[ $expect == refused ]] || cmp <(tail -c +$((ZERO_OFF + 1)) "$ZERO_IMG" |
                                      head -c $ZERO_LEN) <(head -c $ZERO_LEN /dev/zero)
    if [[ $expect == refused ]]; then
        (( zeros == 0 && wbytes == 0 ))
    elif (( wzmax > 0 )); then
        # WRITE_ZEROES: the plugin saw zero requests for exactly the
        # range and no writes.
        (( zeros >= 1 && zbytes == ZERO_LEN && wbytes == 0 ))
        # (! PIPELINE would not stop the check: errexit ignores it.)
        if [[ $expect == keep ]]; then wrong="trim=1"; else wrong="trim=0"; fi
        if grep " Zero " /tmp/zero.log | grep -q "$wrong"; then
            echo "zero requests with $wrong"; return 1
        fi
    else
        # No WRITE_ZEROES: the kernel wrote zero pages.
        (( zeros == 0 && wbytes == ZERO_LEN ))
    fi
    case $expect in
        keep) (( after >= before - 1024 )) ;;
        punch) (( after <= before - 30 * 1024 )) ;;
        refused) (( after == before )) ;;
    esac
    rm -f "$ZERO_IMG"
}

zero_blkdiscard () {
    zero_run keep blkdiscard -z -o $ZERO_OFF -l $ZERO_LEN
}

zero_range () {
    zero_run keep fallocate --zero-range -o $ZERO_OFF -l $ZERO_LEN
    zero_run keep fallocate -z -o $ZERO_OFF -l $ZERO_LEN
}

zero_punch () {
    if sends_zeroes; then
        zero_run punch fallocate --punch-hole -o $ZERO_OFF -l $ZERO_LEN
    else
        zero_run refused fallocate --punch-hole -o $ZERO_OFF -l $ZERO_LEN
    fi
}
