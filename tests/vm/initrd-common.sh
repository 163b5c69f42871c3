# What mkinitrd.sh and mkinitrd-systemd.sh share (sourced by both): the
# checks, the kernel modules, and the first lines of the init.  A change
# here rebuilds both initramfs images (run-guest and run-guest-systemd
# compare its date with theirs).

# Both take KERNEL_VERSION OUTPUT [MODROOT]: MODROOT is the tree whose
# lib/modules/KERNEL_VERSION holds the kernel's modules (default /: the
# host's kernel; tests/vm/kernel.sh unpacks others elsewhere).
modroot="${3:-/}"

# initrd_workdir KVER DIR... : checks the tools, makes a scratch tree with
# the given directories and static busybox in it, and prints its path.
initrd_workdir () {
    local kver="$1" work; shift
    [[ -x /bin/busybox ]] || { echo "mkinitrd: /bin/busybox missing (busybox-static)" >&2; return 1; }
    [[ -d "$modroot/lib/modules/$kver" ]] || { echo "mkinitrd: $modroot/lib/modules/$kver missing (linux-image-amd64)" >&2; return 1; }
    work="$(mktemp -d)"
    (cd "$work" && mkdir -p bin dev proc sys modules "$@")
    cp /bin/busybox "$work/bin/busybox"
    echo "$work"
}

# copy_modules KVER DIR MODULE... : the modules and every module they
# need, copied into DIR in the order modprobe would load them, which
# DIR/order lists.  Compressed modules (6.12's are .ko.xz) are stored
# decompressed: busybox's insmod reads only plain ones.
copy_modules () {
    local kver="$1" dir="$2" m cmd path name; shift 2
    local modlist=()
    for m in "$@"; do
        while read -r cmd path _; do
            [[ "$cmd" == insmod ]] || continue
            name="$(basename "$path")"
            name="${name%.xz}"; name="${name%.zst}"
            if [[ ! " ${modlist[*]:-} " =~ " $name " ]]; then
                case "$path" in
                    *.xz) xz -dc "$path" > "$dir/$name" ;;
                    *.zst) zstd -qdc "$path" > "$dir/$name" ;;
                    *) cp "$path" "$dir/$name" ;;
                esac
                modlist+=("$name")
            fi
        done < <(modprobe -d "$modroot" --show-depends -S "$kver" "$m" 2>/dev/null || true)
    done
    printf '%s\n' "${modlist[@]}" > "$dir/order"
}

# init_prologue: the start of every init: busybox's applets, /proc, /sys
# and /dev, the modules, and from the kernel command line $script
# (blockkit.script=PATH) and $modules (blockkit.modules=PATH: a kernel
# not the host's has its modules there, a path on the host, which the
# init mounts over the guest's /lib/modules).
init_prologue () {
    cat <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r m; do insmod "/modules/$m" 2>/dev/null; done < /modules/order
script=
modules=
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        blockkit.script=*) script="${arg#blockkit.script=}" ;;
        blockkit.modules=*) modules="${arg#blockkit.modules=}" ;;
    esac
done
INIT
}
