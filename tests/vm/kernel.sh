# Which kernel the test VM boots (sourced by run-guest and
# run-guest-systemd).  Two kernels make the matrix:
#
#   VM_KERNEL=6.12 (the default)  Linux 6.12 from Debian's bookworm-backports,
#       the kernel of new machines: its nbd driver sends WRITE_ZEROES and it
#       has ublk.  The package (linux-image-6.12.*+deb12-amd64-unsigned) is
#       fetched with `apt-get download` and unpacked with `dpkg -x` into the
#       VM cache: never installed on the host, whose boot it would change.
#       Its modules are xz-compressed: mkinitrd decompresses the few the
#       initramfs needs, and the guest's own modprobe (kmod, built with xz)
#       loads the rest from the unpacked tree, which the init mounts over
#       the guest's /lib/modules (blockkit.modules=PATH on the command line).
#   VM_KERNEL=6.1 (or host)       the newest kernel in the host's /boot:
#       Debian 12's own, 6.1, here and in CI (quickstart uses "host": it
#       boots whatever the user's machine has).
#
# select_kernel PROGRAM CACHE: sets kernel (the vmlinuz), kver, modroot
# (the root of the tree holding lib/modules/KVER: / for the host's
# kernel) and modules_append (the kernel command line words that tell the
# init where the modules are); exits 77, naming what is missing, when the
# kernel cannot be had.

select_kernel () {
    local prog="$1" cache="$2" want="${VM_KERNEL:-6.12}"
    case "$want" in
        6.1|host) select_host_kernel "$prog" ;;
        6.12) select_backports_kernel "$prog" "$cache" 6.12 ;;
        *) echo "$prog: VM_KERNEL=$want: expected 6.12 or 6.1"; exit 2 ;;
    esac
}

select_host_kernel () {
    kernel="$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)"
    [[ -n "$kernel" && -r "$kernel" ]] || {
        echo "$1: no readable kernel in /boot (install linux-image-amd64)"; exit 77; }
    kver="${kernel#/boot/vmlinuz-}"
    modroot=/
    modules_append=
}

# The newest linux-image-SERIES.N+deb12-amd64-unsigned that apt knows,
# unpacked once into CACHE/kernels/KVER (under a lock: tests may boot at
# once).  depmod writes the module index the .deb leaves to its postinst.
select_backports_kernel () {
    local prog="$1" cache="$2" series="$3" pkg dir deb
    pkg="$(apt-cache search --names-only \
             "^linux-image-${series//./\\.}\\.[0-9]+\\+deb12-amd64-unsigned\$" \
             2>/dev/null | awk '{print $1}' | sort -V | tail -n 1)"
    if [[ -z "$pkg" ]]; then
        echo "$prog: no linux-image-$series.*+deb12-amd64-unsigned package known to apt:"
        echo "$prog: add Debian's bookworm-backports suite and run apt-get update (.ci/run does)"
        exit 77
    fi
    kver="${pkg#linux-image-}"
    kver="${kver%-unsigned}"
    dir="$cache/kernels/$kver"
    if [[ ! -e "$dir/.complete" ]]; then
        mkdir -p "$cache/kernels"
        exec 8>"$cache/kernels/lock"
        flock 8
        if [[ ! -e "$dir/.complete" ]]; then
            echo "$prog: fetching $pkg (once, into $dir)"
            rm -rf "$dir" "$dir.deb"
            mkdir -p "$dir.deb"
            # apt-get download writes into the current directory.
            if ! (cd "$dir.deb" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
               ! deb="$(ls "$dir.deb"/*.deb 2>/dev/null | head -n 1)" ||
               [[ -z "$deb" ]]; then
                echo "$prog: apt-get download $pkg failed"
                exit 77
            fi
            dpkg -x "$deb" "$dir" && depmod -b "$dir" "$kver" || {
                echo "$prog: cannot unpack $deb"; rm -rf "$dir"; exit 1; }
            rm -rf "$dir.deb"
            touch "$dir/.complete"
        fi
        exec 8>&-
    fi
    kernel="$dir/boot/vmlinuz-$kver"
    [[ -r "$kernel" ]] || { echo "$prog: $kernel missing"; exit 1; }
    modroot="$dir"
    modules_append="blockkit.modules=$dir/lib/modules"
}
