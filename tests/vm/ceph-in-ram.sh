# Ceph's client programs in the test VM's RAM (sourced by test-vm-rbd.sh
# and bench/rbd-kernel on the host, and by guest-rbd.sh in the guest).
#
# Why: the guest reads the host's root over 9p, where under software
# emulation every file operation is a slow round trip and nothing stays
# cached between processes.  Measured in the guest (2 vCPUs, TCG, a
# loaded host): `ceph --version` about 60 s (mostly kernel time: page
# faults on librados and libceph-common), while reading the same 18 MB
# library with one `cat` took 1 s: the bytes are cheap, the operations
# are not.  So the host puts everything the guest's Ceph clients run
# from into one ext4 image, and the guest loop-mounts it and bind-mounts
# each piece over the original path: the programs then run unchanged,
# from the guest's page cache (`ceph --version` 60 s -> 21 s on the same
# loaded host).  The cluster itself runs on the host (ceph-host.sh).
#
#   ceph_ram_pack IMAGE [FILE...]   (host) the client programs, the
#       libraries they load and Ceph's plugin directory, plus FILEs (the
#       build's nbdattach and plugins, so that both sides of a comparison
#       load the same way).
#   ceph_ram_mount IMAGE            (guest) loop-mount it on
#       /run/ceph-ram and bind-mount; prints how long it took.

# The programs the rbd tests and benchmark run in the guest.
ceph_ram_programs=(rbd rbd-nbd fio)
# Directories taken whole (bound over as directories).
ceph_ram_dirs=(/usr/lib/x86_64-linux-gnu/ceph)

ceph_ram_pack () {
    local img="$1" p f list manifest stage objs=() d
    shift
    list="$(mktemp)" manifest="$(mktemp -d)"
    for p in "${ceph_ram_programs[@]}"; do
        # The guest's PATH, whatever the caller's is (a pyenv python3...).
        f="$(PATH=/usr/sbin:/usr/bin:/sbin:/bin type -P "$p")" || { echo "ceph_ram_pack: $p not installed" >&2; return 1; }
        objs+=("$(readlink -f "$f")")
    done
    objs+=("$@")
    # Ceph's own plugins load libraries too.
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
    stage="$(mktemp -d)"
    tar -cf - -C / -T "$list" | tar -xf - -C "$stage"
    cp "$manifest/ceph-ram-manifest" "$stage/"
    # An ext4 image, not an archive to unpack: unpacking 225 MiB into the
    # guest's tmpfs took 5-9 minutes under emulation, while a loop mount
    # reads only the pages that are used, and keeps them in the guest's
    # page cache for every later process.
    mkfs.ext4 -q -F -d "$stage" -O ^has_journal -m 0 "$img" \
        "$(( $(du -sm "$stage" | cut -f1) * 5 / 4 + 32 ))M" >/dev/null
    rm -rf "$list" "$list.files" "$manifest" "$stage"
}

ceph_ram_mount () {
    local img="$1" root=/run/ceph-ram t0=$SECONDS
    mkdir -p "$root"
    mount -o loop,ro "$img" "$root" || return 1
    # All the bind mounts from one process: each run of mount(8) loads
    # it and its libraries over 9p, a few seconds apiece here (80 of them
    # took 4 minutes).  165 is mount(2) on x86-64, 4096 MS_BIND.
    # A build under the host's /tmp (the FILEs of ceph_ram_pack) is at
    # /run/host-tmp here (guest_path in tests/functions.sh).
    perl -e '
        my ($root, $n) = (shift, 0);
        open my $m, "<", "$root/ceph-ram-manifest" or die "manifest: $!\n";
        while (<$m>) {
            chomp; my (undef, $path) = split / /, $_, 2;
            (my $target = $path) =~ s{^/tmp/}{/run/host-tmp/};
            next unless -e "$root$path";
            syscall (165, "$root$path", $target, 0, 4096, 0) == 0
                or die "bind $target: $!\n";
            $n++;
        }
        print "ceph-in-ram: $n files and directories bound from $root\n";
    ' "$root" || return 1
    echo "ceph-in-ram: mounted in $((SECONDS - t0)) s"
}
