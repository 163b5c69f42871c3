# What mkinitrd.sh and mkinitrd-systemd.sh share (sourced by both): the
# checks, the kernel modules, and the first lines of the init.  A change
# here rebuilds both initramfs images (run-guest and run-guest-systemd
# compare its date with theirs).

# initrd_workdir KVER DIR... : checks the tools, makes a scratch tree with
# the given directories and static busybox in it, and prints its path.
initrd_workdir () {
    local kver="$1" work; shift
    [[ -x /bin/busybox ]] || { echo "mkinitrd: /bin/busybox missing (busybox-static)" >&2; return 1; }
    [[ -d "/lib/modules/$kver" ]] || { echo "mkinitrd: /lib/modules/$kver missing (linux-image-amd64)" >&2; return 1; }
    work="$(mktemp -d)"
    (cd "$work" && mkdir -p bin dev proc sys modules "$@")
    cp /bin/busybox "$work/bin/busybox"
    echo "$work"
}

# copy_modules KVER DIR MODULE... : the modules and every module they
# need, copied into DIR in the order modprobe would load them, which
# DIR/order lists.
copy_modules () {
    local kver="$1" dir="$2" m cmd path name; shift 2
    local modlist=()
    for m in "$@"; do
        while read -r cmd path _; do
            [[ "$cmd" == insmod ]] || continue
            name="$(basename "$path")"
            if [[ ! " ${modlist[*]:-} " =~ " $name " ]]; then
                cp "$path" "$dir/$name"
                modlist+=("$name")
            fi
        done < <(modprobe --show-depends -S "$kver" "$m" 2>/dev/null || true)
    done
    printf '%s\n' "${modlist[@]}" > "$dir/order"
}

# init_prologue: the start of every init: busybox's applets, /proc, /sys
# and /dev, the modules, and $script from the kernel command line
# (blockkit.script=PATH).
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
for arg in $(cat /proc/cmdline); do
    case "$arg" in blockkit.script=*) script="${arg#blockkit.script=}" ;; esac
done
INIT
}
