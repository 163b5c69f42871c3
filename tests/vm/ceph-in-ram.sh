# Ceph's programs in the test VM's RAM (sourced by test-vm-rbd.sh and
# bench/rbd-kernel on the host, and by guest-rbd.sh in the guest).
#
# Why: the guest reads the host's root over 9p, where under software
# emulation every file operation is a slow round trip and nothing stays
# cached between processes.  Measured in the guest (2 vCPUs, TCG, a
# loaded host): `python3 -c pass` 13 s, `python3 -c 'import rados'` and
# `ceph --version` about 60 s each (mostly kernel time: page faults on
# librados and libceph-common, and Python's hundreds of lookups), and
# tests/ceph/start-cluster, which runs the ceph CLI three times and
# starts two daemons, did not finish in 15 minutes.  Reading the same
# 18 MB library with one `cat` took 1 s: the bytes are cheap, the
# operations are not.  So the host packs everything Ceph runs from into
# one tar file, and the guest unpacks it into its tmpfs and bind-mounts
# each piece over the original path: the programs then run unchanged,
# from RAM.
#
#   ceph_ram_pack TAR [FILE...]   (host) Ceph's binaries, the libraries
#       they load, Ceph's plugin directory and Python's, plus FILEs (the
#       build's nbdattach and plugins, so that both sides of a comparison
#       run from RAM).
#   ceph_ram_mount TAR            (guest) unpack under /run/ceph-ram and
#       bind-mount; prints how long it took.

# The programs the rbd tests and benchmark run in the guest.
ceph_ram_programs=(ceph ceph-mon ceph-osd ceph-authtool monmaptool rbd rbd-nbd
                   rados python3 fio)
# Directories taken whole (bound over as directories).
ceph_ram_dirs=(/usr/lib/x86_64-linux-gnu/ceph /usr/lib/python3.11
               /usr/lib/python3/dist-packages)

ceph_ram_pack () {
    local tar="$1" p f list manifest objs=() d
    shift
    list="$(mktemp)" manifest="$(mktemp -d)"
    for p in "${ceph_ram_programs[@]}"; do
        # The guest's PATH, whatever the caller's is (a pyenv python3...).
        f="$(PATH=/usr/sbin:/usr/bin:/sbin:/bin type -P "$p")" || { echo "ceph_ram_pack: $p not installed" >&2; return 1; }
        objs+=("$(readlink -f "$f")")
    done
    objs+=("$@")
    # Python's extension modules for Ceph, and Ceph's own plugins, load
    # libraries too.
    objs+=(/usr/lib/python3/dist-packages/rados*.so /usr/lib/python3/dist-packages/rbd*.so)
    while IFS= read -r f; do objs+=("$f"); done \
        < <(find /usr/lib/x86_64-linux-gnu/ceph -name '*.so*' -type f)
    {
        for f in "${objs[@]}"; do
            readlink -f "$f"
            # Every library each of them loads (ldd's "=> /path" lines).
            ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' |
                xargs -r readlink -f
        done
    } | sort -u > "$list.files"
    # Files inside a directory taken whole are not bound twice.
    for d in "${ceph_ram_dirs[@]}"; do
        grep -v "^$d/" "$list.files" > "$list.tmp" || :
        mv "$list.tmp" "$list.files"
    done
    { for d in "${ceph_ram_dirs[@]}"; do echo "d $d"; done
      sed 's/^/f /' "$list.files"; } > "$manifest/ceph-ram-manifest"
    {
        sed 's|^/||' "$list.files"
        for d in "${ceph_ram_dirs[@]}"; do echo "${d#/}"; done
    } > "$list"
    # Never imported by Ceph's tools: Python's test suite and static-build
    # files, pip, setuptools, pygments (a third of the size).
    tar -cf "$tar" -C / --exclude=usr/lib/python3.11/test \
        --exclude='usr/lib/python3.11/config-*' \
        --exclude=usr/lib/python3/dist-packages/pip \
        --exclude=usr/lib/python3/dist-packages/setuptools \
        --exclude=usr/lib/python3/dist-packages/pygments -T "$list" \
        -C "$manifest" ceph-ram-manifest
    rm -rf "$list" "$list.files" "$manifest"
}

ceph_ram_mount () {
    local tar="$1" root=/run/ceph-ram t0=$SECONDS kind path
    mkdir -p "$root"
    # Read in 1 MiB pieces: tar's own 10 KiB reads are 10 KiB round trips
    # over 9p (225 MiB took 329 s that way).
    dd if="$tar" bs=1M status=none | tar -xf - -C "$root" || return 1
    while read -r kind path; do
        [[ -e "$root$path" ]] || continue
        mount --bind "$root$path" "$path" || return 1
    done < "$root/ceph-ram-manifest"
    echo "ceph-in-ram: $(du -sm "$root" | cut -f1) MiB unpacked and bound" \
         "in $((SECONDS - t0)) s"
}
